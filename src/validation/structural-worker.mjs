// Entry of a structural-validation worker thread. Compiled (dist/, `npm start`) it runs
// structural-worker.js; from the sources it registers tsx's TypeScript loader in this thread
// (loader hooks of the main thread do not reach worker threads), then runs structural-worker.ts.
import { existsSync } from 'node:fs';

const compiled = new URL('./structural-worker.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./structural-worker.ts');
}
