// npm run bench:export (also run by npm run bench): bulk export throughput on each store.
// Seeds a data set once (scripts/seed.ts; kept and reused), starts the server in a child process,
// runs a system-level export (kick-off → poll → manifest → download every file) over loopback and
// prints resources/s, MB/s of NDJSON and the server's peak RSS (VmHWM) during the export.
//   BENCH_EXPORT_PATIENTS=100000 BENCH_EXPORT_IMMUNIZATIONS=1000000   data set size (defaults)
//   BENCH_EXPORT_DIR=/tmp/iis-bench-export                           where data sets are kept
//   BENCH_MONGODB_URL=mongodb://127.0.0.1:27017/                      also measure MongoDB
//   BENCH_EXPORT_MONGO_PATIENTS / _IMMUNIZATIONS                      its size (default: the same;
//                                                                      2,000 / 20,000 on FerretDB)
//   BENCH_HEAP_MB=8192                                                 heap for seed and server
//   BENCH_EXPORT_STORES=embedded,mongodb                              which stores to measure
//   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"        extra node flags for the server
//   BENCH_EXPORT_QUERY=organizeOutputBy=Patient                        kick-off parameters (default none)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import jwt from 'jsonwebtoken';
import { MongoClient } from 'mongodb';
import { serverEntry } from './server-entry.js';
import { waitReady } from './wait-ready.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECRET = 'bench-secret';
const TOKEN = jwt.sign({ sub: 'bench', scope: 'system/*.rs' }, SECRET, { algorithm: 'HS256', expiresIn: 24 * 3600 });
const PATIENTS = Number(process.env.BENCH_EXPORT_PATIENTS ?? 100_000);
const IMMUNIZATIONS = Number(process.env.BENCH_EXPORT_IMMUNIZATIONS ?? 1_000_000);
let MONGO_PATIENTS = Number(process.env.BENCH_EXPORT_MONGO_PATIENTS ?? PATIENTS);
let MONGO_IMMUNIZATIONS = Number(process.env.BENCH_EXPORT_MONGO_IMMUNIZATIONS ?? IMMUNIZATIONS);
const CACHE = process.env.BENCH_EXPORT_DIR ?? path.join(os.tmpdir(), 'iis-bench-export');
const HEAP = process.env.BENCH_HEAP_MB ?? '8192';
const STORES = (process.env.BENCH_EXPORT_STORES ?? 'embedded,mongodb').split(',');
const DOWNLOADS_IN_PARALLEL = 4;

interface Result {
  store: string;
  lines: string[];
}

async function main(): Promise<void> {
  const results: Result[] = [];
  if (STORES.includes('embedded')) results.push(await benchEmbedded());
  const mongo = process.env.BENCH_MONGODB_URL;
  if (STORES.includes('mongodb')) {
    if (mongo) results.push(await benchMongo(mongo));
    else console.log('\nexport bench on MongoDB skipped: set BENCH_MONGODB_URL (e.g. a FerretDB from scripts/ferretdb.sh) to measure it');
  }
  for (const r of results) {
    console.log(`\n## bulk export, ${r.store}`);
    for (const line of r.lines) console.log(line);
  }
}

async function benchEmbedded(): Promise<Result> {
  const dir = path.join(CACHE, `embedded-${PATIENTS}-${IMMUNIZATIONS}`);
  const marker = path.join(dir, 'bench-seeded.json');
  if (!existsSync(marker)) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await seed(['--data-dir', dir, '--patients', String(PATIENTS), '--immunizations', String(IMMUNIZATIONS)]);
    await writeFile(marker, JSON.stringify({ patients: PATIENTS, immunizations: IMMUNIZATIONS, at: new Date().toISOString() }));
  } else {
    console.log(`[embedded] reusing the data set in ${dir}`);
  }
  return runExport(`embedded store (${PATIENTS.toLocaleString('en-US')} patients, ${IMMUNIZATIONS.toLocaleString('en-US')} immunizations)`, { DATA_DIR: dir });
}

async function benchMongo(base: string): Promise<Result> {
  if (process.env.BENCH_EXPORT_MONGO_PATIENTS === undefined && (await isFerretDb(base))) {
    // FerretDB reads about a thousand documents a second: a million would take hours to seed and export.
    MONGO_PATIENTS = 2000;
    MONGO_IMMUNIZATIONS = 20000;
    console.log('[mongodb] FerretDB: using 2,000 patients / 20,000 immunizations (set BENCH_EXPORT_MONGO_PATIENTS / _IMMUNIZATIONS to override)');
  }
  const url = new URL(base);
  url.pathname = `/iis_bench_export_${MONGO_PATIENTS}_${MONGO_IMMUNIZATIONS}`;
  const client = new MongoClient(url.toString(), { serverSelectionTimeoutMS: 5000 });
  let seeded = false;
  try {
    seeded = (await client.db().collection('bench_seeded').countDocuments({})) > 0;
    if (!seeded) await client.db().dropDatabase();
  } finally {
    await client.close();
  }
  if (!seeded) {
    await seed(['--mongodb-url', url.toString(), '--patients', String(MONGO_PATIENTS), '--immunizations', String(MONGO_IMMUNIZATIONS)]);
    const c = new MongoClient(url.toString());
    try {
      await c.db().collection('bench_seeded').insertOne({ at: new Date() });
    } finally {
      await c.close();
    }
  } else {
    console.log(`[mongodb] reusing the data set in ${url}`);
  }
  const ceiling = await rawScanRate(url.toString());
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-export-mongo-'));
  try {
    const result = await runExport(`MongoDB ${url.host} (${MONGO_PATIENTS.toLocaleString('en-US')} patients, ${MONGO_IMMUNIZATIONS.toLocaleString('en-US')} immunizations)`, { DATA_DIR: dataDir, MONGODB_URL: url.toString() });
    result.lines.push(`the database's own ceiling: a plain driver find() over Immunization reads ${ceiling.toLocaleString('en-US')} documents/s`);
    console.log(`[MongoDB] ${result.lines[result.lines.length - 1]}`);
    return result;
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

function seed(args: string[]): Promise<void> {
  console.log(`seeding: scripts/seed.ts ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP}`, '--import', 'tsx', 'scripts/seed.ts', ...args], { cwd: ROOT, stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`seed exited with ${code}`))));
  });
}

async function runExport(label: string, env: Record<string, string>): Promise<Result> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const started = performance.now();
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean); // e.g. --cpu-prof
  const child = spawn(process.execPath, [`--max-old-space-size=${HEAP}`, ...extra, ...serverEntry()], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((r) => child.on('exit', r));
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    console.log(`[${label.split(' ')[0]}] ${line}`);
  };
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitReady(`${base}/readyz`, { child, timeoutMs: 1_800_000 });
    say(`server ready in ${((performance.now() - started) / 1000).toFixed(1)} s (loading the data set)`);
    const pid = child.pid as number;
    const baseline = await memory(pid);
    // Peak RSS from here on: Linux resets VmHWM to the current RSS on "5" in clear_refs.
    await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
    let sampled = 0;
    let sampledAnon = baseline.anon;
    const sampler = setInterval(() => {
      memory(pid).then((m) => {
        sampled = Math.max(sampled, m.rss);
        sampledAnon = Math.max(sampledAnon, m.anon);
      }, () => undefined);
    }, 100);

    const cpu0 = await cpuMs(pid);
    const t0 = performance.now();
    const query = process.env.BENCH_EXPORT_QUERY ? `?${process.env.BENCH_EXPORT_QUERY}` : '';
    const kick = await fetch(`${base}/fhir/$export${query}`, { headers: { authorization: `Bearer ${TOKEN}`, prefer: 'respond-async', accept: 'application/fhir+json' } });
    if (kick.status !== 202) throw new Error(`kick-off answered ${kick.status}: ${await kick.text()}`);
    const statusUrl = kick.headers.get('content-location') as string;
    let manifest: { output: Array<{ type?: string; url: string; count: number }> } | undefined;
    while (!manifest) {
      const res = await fetch(statusUrl, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (res.status === 200) manifest = (await res.json()) as typeof manifest;
      else if (res.status === 202) {
        // Retry-After, but at most 1 s, so the figure is not rounded up by a long wait.
        const wait = Math.min(1000, Number(res.headers.get('retry-after') ?? 1) * 1000);
        await res.arrayBuffer().then(() => new Promise((r) => setTimeout(r, wait)));
      }
      else if (res.status === 429) {
        // Polled before the Retry-After (the 1 s cap above): wait the seconds the server names.
        const wait = Number(res.headers.get('retry-after') ?? 1) * 1000;
        await res.arrayBuffer().then(() => new Promise((r) => setTimeout(r, wait)));
      }
      else throw new Error(`status answered ${res.status}: ${await res.text()}`);
    }
    const t1 = performance.now();
    const exportCpuMs = (await cpuMs(pid)) - cpu0;
    const files = manifest.output;
    const resources = files.reduce((n, f) => n + f.count, 0);
    let ndjsonBytes = 0;
    let wireBytes = 0;
    let lineCount = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: DOWNLOADS_IN_PARALLEL }, async () => {
        while (next < files.length) {
          const f = files[next++];
          const d = await downloadCounting(f.url);
          ndjsonBytes += d.bytes;
          wireBytes += d.wire;
          lineCount += d.lines;
        }
      })
    );
    const t2 = performance.now();
    clearInterval(sampler);
    const after = await memory(pid);
    if (lineCount !== resources) throw new Error(`downloaded ${lineCount} lines, the manifest counts ${resources}`);
    const exportS = (t1 - t0) / 1000;
    const downloadS = (t2 - t1) / 1000;
    const totalS = (t2 - t0) / 1000;
    const mb = ndjsonBytes / 1048576;
    const byType = new Map<string, number>();
    // Organized output (organizeOutputBy) has no type per file: its lines count headers too.
    for (const f of files) byType.set(f.type ?? 'patient-block lines', (byType.get(f.type ?? 'patient-block lines') ?? 0) + f.count);
    say(`exported ${resources.toLocaleString('en-US')} resources (${[...byType].map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`).join(', ')}) in ${files.length} files, ${mb.toFixed(0)} MB of NDJSON (${(wireBytes / 1048576).toFixed(0)} MB gzip)`);
    say(`kick-off → manifest: ${exportS.toFixed(1)} s = ${rate(resources, exportS)} resources/s, ${(mb / exportS).toFixed(1)} MB/s`);
    say(`  server CPU (all threads, gzip included) kick-off → manifest: ${(exportCpuMs / 1000).toFixed(1)} s = ${rate(resources, exportCpuMs / 1000)} resources per CPU second`);
    say(`download (gzip, ${DOWNLOADS_IN_PARALLEL} in parallel): ${downloadS.toFixed(1)} s = ${rate(resources, downloadS)} resources/s, ${(mb / downloadS).toFixed(1)} MB/s`);
    say(`end to end (kick-off → last byte): ${totalS.toFixed(1)} s = ${rate(resources, totalS)} resources/s, ${(mb / totalS).toFixed(1)} MB/s`);
    say(`server RSS: ${baseline.rss} MB before the export, peak during export ${Math.max(after.hwm, sampled)} MB (+${Math.max(after.hwm, sampled) - baseline.rss} MB)`);
    say(`server anonymous RSS (without mapped file pages, i.e. page cache of a memory-mapped store): ${baseline.anon} MB before, peak ${sampledAnon} MB during the export`);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return { store: label, lines };
}

const rate = (n: number, s: number) => Math.round(n / s).toLocaleString('en-US');

async function isFerretDb(url: string): Promise<boolean> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
  try {
    const info = await client.db().admin().command({ buildInfo: 1 });
    return typeof info.ferretdbVersion === 'string';
  } finally {
    await client.close();
  }
}

/** Documents/s of a bare cursor over the Immunization collection (no server, no NDJSON): the store's ceiling. */
async function rawScanRate(url: string): Promise<number> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
  try {
    const t = performance.now();
    let n = 0;
    for await (const _ of client.db().collection('Immunization').find({ deleted: false }, { projection: { s: 0 }, batchSize: 1000 })) n++;
    return Math.round(n / ((performance.now() - t) / 1000));
  } finally {
    await client.close();
  }
}

/** CPU time (user + system, all threads) of a process so far, in ms. */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * (1000 / 100);
}

async function memory(pid: number): Promise<{ rss: number; hwm: number; anon: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), hwm: Math.round(kb('VmHWM') / 1024), anon: Math.round(kb('RssAnon') / 1024) };
}

/** Downloads one file with gzip, inflating it as it arrives to count NDJSON bytes and lines. */
function downloadCounting(url: string): Promise<{ bytes: number; wire: number; lines: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${TOKEN}`, 'accept-encoding': 'gzip' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`download answered ${res.statusCode}`));
        res.resume();
        return;
      }
      let wire = 0;
      let bytes = 0;
      let lines = 0;
      res.on('data', (c: Buffer) => (wire += c.length));
      const body = res.headers['content-encoding'] === 'gzip' ? res.pipe(createGunzip()) : res;
      body.on('data', (c: Buffer) => {
        bytes += c.length;
        for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lines++;
      });
      body.on('end', () => resolve({ bytes, wire, lines }));
      body.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}


main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
