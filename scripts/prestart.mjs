// Runs before every `npm start`: compiles the server to dist/ when src/ changed
// (build-server.mjs) and builds the web app when web/ changed since web/dist was built
// (build-web.ts, through tsx, only then). Plain JavaScript, checks by file times: when nothing
// changed it costs a few tens of milliseconds, not a TypeScript tool start.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServer } from './build-server.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const WEB = path.join(ROOT, 'web');

/** Same rule as build-web.ts --if-stale: any file under web/ (but dist, node_modules) newer than web/dist/index.html. */
function webIsStale() {
  const built = path.join(WEB, 'dist', 'index.html');
  if (!existsSync(built)) return true;
  const at = statSync(built).mtimeMs;
  const newer = (dir) =>
    readdirSync(dir, { withFileTypes: true }).some((e) => {
      if (e.name === 'dist' || e.name === 'node_modules') return false;
      const full = path.join(dir, e.name);
      return e.isDirectory() ? newer(full) : statSync(full).mtimeMs > at;
    });
  return newer(WEB);
}

const server = await buildServer({ ifStale: true });
if (server.built) process.stdout.write(`server compiled to dist/ in ${server.ms} ms (${server.files} files)\n`);
if (webIsStale()) {
  const r = spawnSync('npx', ['tsx', path.join('scripts', 'build-web.ts'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
