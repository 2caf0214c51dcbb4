// Entry of a structural-validation worker thread: registers tsx's TypeScript loader in this thread
// (loader hooks of the main thread do not reach worker threads), then runs structural-worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./structural-worker.ts');
