// How a bench starts the server: from the sources through tsx (default), or, with BENCH_DIST=1, the
// compiled server `npm start` runs (dist/server.js, built first when stale): the production set-up,
// with its trimmed definitions (less memory, faster start).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * Node's flags for the server, as `npm start` gives them (package.json "start"; keep both the same):
 * a young generation of up to 32 MB per semi-space instead of V8's 16 MB, so request garbage dies
 * in fewer scavenges (README "Write path speed": ~5 % less CPU per write, +10–40 MB RSS).
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=32'];

/** Node arguments that run the server (after any of the bench's own node flags). */
export function serverEntry(): string[] {
  // A size given in BENCH_SERVER_NODE_ARGS (comparisons) is left alone: the last flag would win.
  const flags = (process.env.BENCH_SERVER_NODE_ARGS ?? '').includes('--max-semi-space-size') ? [] : SERVER_NODE_FLAGS;
  if (!process.env.BENCH_DIST) return [...flags, '--import', 'tsx', 'src/server.ts'];
  execFileSync(process.execPath, ['scripts/build-server.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  return [...flags, 'dist/server.js'];
}
