// Builds the clinic web app (web/ → web/dist) with Vite, precompresses its JS and CSS for the
// server, and prints the gzipped JavaScript size against the 300 KB budget.
//   npm run build:web              always build
//   tsx scripts/build-web.ts --if-stale   build only when web/ changed since the last build (prestart)
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const WEB = path.join(ROOT, 'web');
const DIST = path.join(WEB, 'dist');
export const JS_BUDGET_BYTES = 300 * 1024;

export interface WebBuild {
  built: boolean;
  ms: number;
  jsGzipBytes: number;
  cssGzipBytes: number;
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function builtAt(): number | undefined {
  try {
    return statSync(path.join(DIST, 'index.html')).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Gzipped sizes of the built assets; writes the .gz files the server sends. */
export function measureAndCompress(): { jsGzipBytes: number; cssGzipBytes: number } {
  let jsGzipBytes = 0;
  let cssGzipBytes = 0;
  const assets = path.join(DIST, 'assets');
  for (const name of readdirSync(assets)) {
    if (!/\.(js|css)$/.test(name)) continue;
    const gz = gzipSync(readFileSync(path.join(assets, name)), { level: 9 });
    writeFileSync(path.join(assets, `${name}.gz`), gz);
    if (name.endsWith('.js')) jsGzipBytes += gz.length;
    else cssGzipBytes += gz.length;
  }
  return { jsGzipBytes, cssGzipBytes };
}

export async function buildWebApp(options: { ifStale?: boolean; quiet?: boolean } = {}): Promise<WebBuild> {
  const started = performance.now();
  const at = builtAt();
  if (options.ifStale && at !== undefined && at >= newestSource(WEB)) {
    return { built: false, ms: 0, ...measureAndCompress() };
  }
  const { build } = await import('vite');
  await build({ configFile: path.join(WEB, 'vite.config.ts'), mode: 'production', logLevel: options.quiet ? 'silent' : 'warn' });
  const sizes = measureAndCompress();
  return { built: true, ms: Math.round(performance.now() - started), ...sizes };
}

export function describeBuild(result: WebBuild): string {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const verdict = result.jsGzipBytes <= JS_BUDGET_BYTES ? 'within' : 'OVER';
  return (
    `web app ${result.built ? `built in ${result.ms} ms` : 'up to date'}: JavaScript ${kb(result.jsGzipBytes)} gzipped ` +
    `(${verdict} the ${kb(JS_BUDGET_BYTES)} budget), CSS ${kb(result.cssGzipBytes)} gzipped`
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  buildWebApp({ ifStale: process.argv.includes('--if-stale') }).then(
    (result) => {
      process.stdout.write(`${describeBuild(result)}\n`);
      if (result.jsGzipBytes > JS_BUDGET_BYTES) process.exitCode = 1;
    },
    (err: unknown) => {
      process.stderr.write(`web app build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    }
  );
}
