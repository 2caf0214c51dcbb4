// How a bench starts the server: by default the compiled server `npm start` runs (dist/server.js,
// built first when stale): the production set-up, with its trimmed definitions (less memory, faster
// start), so that what `npm run bench` prints is what a registry runs. BENCH_SOURCES=1 runs the
// TypeScript sources through tsx instead (no build step; ~10 % more request-thread CPU per VXU, from
// tsx's name-keeping wrappers: measured in session 11). BENCH_DIST=1, which selected the compiled
// server before session 11, is still accepted and changes nothing.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * The V8 flags `npm start` gives the server (package.json "start"; the Dockerfile's CMD too), so
 * that a bench measures what is run. See README "Embedded store on LMDB", session 6 (lead).
 */
export const SERVER_NODE_FLAGS = ['--no-allocation-site-pretenuring', '--initial-old-space-size=256'];

/** Node arguments that run the server (after any of the bench's own node flags). */
export function serverEntry(): string[] {
  if (process.env.BENCH_SOURCES === '1') return [...SERVER_NODE_FLAGS, '--import', 'tsx', 'src/server.ts'];
  execFileSync(process.execPath, ['scripts/build-server.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  return [...SERVER_NODE_FLAGS, 'dist/server.js'];
}
