// How a bench starts the server: from the sources through tsx (default), or, with BENCH_DIST=1, the
// compiled server `npm start` runs (dist/server.js, built first when stale): the production set-up,
// with its trimmed definitions (less memory, faster start).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * The V8 flags `npm start` gives the server (package.json "start"; the Dockerfile's CMD too), so
 * that a bench measures what is run. See README "Embedded store on LMDB", session 6 (lead).
 */
export const SERVER_NODE_FLAGS = ['--no-allocation-site-pretenuring'];

/** Node arguments that run the server (after any of the bench's own node flags). */
export function serverEntry(): string[] {
  if (!process.env.BENCH_DIST) return [...SERVER_NODE_FLAGS, '--import', 'tsx', 'src/server.ts'];
  execFileSync(process.execPath, ['scripts/build-server.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  return [...SERVER_NODE_FLAGS, 'dist/server.js'];
}
