// Entry of a forecast worker thread. Compiled (dist/, `npm start`): forecast-worker.js sits beside
// this file and is loaded as it is. From the sources (tsx: tests, dev): registers tsx's TypeScript
// loader in this thread (loader hooks of the main thread do not reach worker threads), then runs
// forecast-worker.ts.
import { existsSync } from 'node:fs';

const compiled = new URL('./forecast-worker.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./forecast-worker.ts');
}
