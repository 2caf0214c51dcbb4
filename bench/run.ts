// npm run bench: core throughput, latency and memory on each store, over loopback HTTP against a
// server in a child process (so client work does not count against the server's memory).
//   npm run bench                       embedded store, and MongoDB when BENCH_MONGODB_URL is set
//   BENCH_SCALE=0.2 npm run bench       fewer operations for a quick look (BENCH_SCALE=3: a longer,
//                                       steadier write measure: 120 Bundles per phase, 6,000 Patients)
//   BENCH_DATA_DIR=DIR                   the embedded store writes into DIR (a copy of a seeded registry)
//   BENCH_ONLY=transaction              only that phase (create|batch|transaction|read; creates needed run anyway)
//   BENCH_WARMUP_BUNDLES=30             Bundles posted before each Bundle phase's measure (printed apart;
//                                       1: measure a just-started server, JIT compilation included)
//   BENCH_IO=1                           also the bytes the server wrote to storage per operation
//   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   profiles the server; each timed
//                                       Bundle phase then also prints its window on the monotonic clock
//                                       (µs, the clock of the profile's timestamps), for
//                                       bench/profile-window.ts to read only those samples
//   BENCH_SERVER_NODE_ARGS="--require bench/gc-observer.cjs" GC_OBSERVER_OUT=FILE   the server's GC
//                                       pauses (bench/gc-window.ts: those of the timed Bundles)
//   BENCH_SERVER_NODE_ARGS="--require bench/heap-sampler.cjs" HEAP_SAMPLER_OUT=PREFIX   samples what
//                                       the server allocates during each timed Bundle phase
//                                       (PREFIX.<n>.json; bench/heap-window.ts reads it)
// Each phase also prints the server's CPU time per operation (from /proc), steadier than wall
// time on a shared machine.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { cpuPer, cpuSnapshot } from './cpu.js';
import { benchImmunization } from './ingest-data.js';
import { serverEntry } from './server-entry.js';
import { waitReady } from './wait-ready.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECRET = 'bench-secret';
const SCALE = Number(process.env.BENCH_SCALE ?? '1');
const ONLY = process.env.BENCH_ONLY;
/** Bundles posted (per kind) before the measured ones; BENCH_WARMUP_BUNDLES=1 measures a just-started server. */
const WARMUP_BUNDLES = Math.max(1, Number(process.env.BENCH_WARMUP_BUNDLES ?? '30'));
const wanted = (phase: string) => !ONLY || ONLY.split(',').includes(phase);
const TOKEN = jwt.sign({ scope: 'system/*.cruds' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json' };

interface Figures {
  store: string;
  lines: string[];
}

async function main(): Promise<void> {
  const stores: Array<{ name: string; env: Record<string, string> }> = [{ name: 'embedded', env: {} }];
  const mongo = process.env.BENCH_MONGODB_URL;
  if (mongo) {
    const url = new URL(mongo);
    url.pathname = `/iis_bench_${randomUUID().slice(0, 8)}`;
    stores.push({ name: `mongodb (${url.host})`, env: { MONGODB_URL: url.toString() } });
  } else {
    console.log('MongoDB skipped: set BENCH_MONGODB_URL (e.g. a FerretDB from scripts/ferretdb.sh) to measure it\n');
  }
  const results: Figures[] = [];
  for (const store of stores) results.push(await benchStore(store.name, store.env));
  for (const r of results) {
    console.log(`\n## ${r.store}`);
    for (const line of r.lines) console.log(line);
  }
}

async function benchStore(name: string, env: Record<string, string>): Promise<Figures> {
  // BENCH_DATA_DIR: write into that data directory (pass a copy: it is written to and kept), e.g. a
  // seeded registry; otherwise a new empty one in the temp directory, removed at the end.
  const given = process.env.BENCH_DATA_DIR;
  const dataDir = given ? path.resolve(given) : await mkdtemp(path.join(os.tmpdir(), 'iis-bench-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...serverEntry()], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}/fhir`;
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`);
  } catch (err) {
    child.kill('SIGTERM');
    if (!given) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    console.log(`[${name}] ${line}`);
  };
  try {
    const pid = child.pid as number;
    const n = wanted('create') ? Math.round(2000 * SCALE) : 200;
    const patientIds: string[] = [];
    let cpu = await cpuSnapshot(pid);
    const single = await timed(n, 16, async () => {
      const res = await post(`${base}/Patient`, patientBody());
      patientIds.push(((await res.json()) as { id: string }).id);
      expectStatus(res, 201);
    });
    say(`single create (Patient, 16 concurrent): ${rate(n, single.seconds)}/s, p50 ${single.p50.toFixed(1)} ms, p99 ${single.p99.toFixed(1)} ms, ${await cpuPer(pid, cpu, n, 'create')}`);

    for (const type of ['batch', 'transaction'] as const) {
      if (!wanted(type)) continue;
      const bundles = Math.max(2, Math.round(40 * SCALE));
      let refused = false;
      const postBundle = async () => {
        const res = await post(base, bundleOf(type, patientIds));
        if (type === 'transaction' && res.status === 400) {
          refused = true;
          await res.text();
          return;
        }
        expectStatus(res, 200);
        const body = (await res.json()) as { entry: Array<{ response: { status: string } }> };
        if (!body.entry.every((e) => e.response.status.startsWith('201'))) throw new Error(`${type} entry failed`);
      };
      // Warm-up, reported on its own line: a server just started runs its write path in V8's lower
      // tiers while the optimizing compiler works on other threads (~30 % of the process's CPU over
      // the first ~3,000 entries, measured), so without it the figure measures compiling, not writing.
      const warmupBundles = WARMUP_BUNDLES;
      cpu = await cpuSnapshot(pid);
      const warmup = await timed(warmupBundles, 2, postBundle);
      if (!refused && warmupBundles > 1) {
        say(
          `${type} warm-up, the first ${warmupBundles} Bundles: ${rate(warmupBundles * 100, warmup.seconds)} resources/s, ` +
            `${await cpuPer(pid, cpu, warmupBundles * 100, 'resource')}`
        );
      }
      cpu = await cpuSnapshot(pid);
      const clientCpu = process.cpuUsage();
      const windowStart = process.hrtime.bigint() / 1000n;
      const wallStart = Date.now();
      if (process.env.HEAP_SAMPLER_OUT) child.kill('SIGUSR2'); // bench/heap-sampler.cjs: start sampling
      const bundleRun = await timed(refused ? 0 : bundles, 2, postBundle);
      if (process.env.HEAP_SAMPLER_OUT) child.kill('SIGUSR2'); // … stop, and write HEAP_SAMPLER_OUT.<n>.json
      const windowEnd = process.hrtime.bigint() / 1000n;
      const wallEnd = Date.now();
      if (refused) say(`${type} Bundles: refused by this deployment (no multi-document transactions)`);
      else {
        // The bench client shares the machine's cores with the server: its CPU is printed too.
        const client = process.cpuUsage(clientCpu);
        say(
          `${type} Bundles of 100 Immunizations (2 concurrent): ${rate(bundles * 100, bundleRun.seconds)} resources/s, ` +
            `p50 ${bundleRun.p50.toFixed(0)} ms, p99 ${bundleRun.p99.toFixed(0)} ms per Bundle, ${await cpuPer(pid, cpu, bundles * 100, 'resource')}; ` +
            `bench client ${Math.round((client.user + client.system) / (bundles * 100))} µs CPU per resource`
        );
        if (nodeArgs.some((a) => a.startsWith('--cpu-prof'))) say(`${type} Bundles profile window (monotonic µs): ${windowStart} ${windowEnd}`);
        if (process.env.GC_OBSERVER_OUT) say(`${type} Bundles GC window (epoch ms): ${wallStart} ${wallEnd}`);
      }
    }

    if (!wanted('read')) {
      say(`server peak RSS: ${await peakRssMb(pid)} MB`);
      return { store: name, lines };
    }
    const reads = Math.round(5000 * SCALE);
    cpu = await cpuSnapshot(pid);
    const readRun = await timed(reads, 16, async (i) => {
      const res = await fetch(`${base}/Patient/${patientIds[i % patientIds.length]}`, { headers: HEADERS });
      expectStatus(res, 200);
      await res.arrayBuffer();
    });
    say(`read (16 concurrent): ${rate(reads, readRun.seconds)}/s, p50 ${readRun.p50.toFixed(2)} ms, p99 ${readRun.p99.toFixed(2)} ms, ${await cpuPer(pid, cpu, reads, 'read')}`);
    say(`server peak RSS: ${await peakRssMb(child.pid as number)} MB`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    if (!given) await rm(dataDir, { recursive: true, force: true });
    if (env.MONGODB_URL) await dropDatabase(env.MONGODB_URL);
  }
  return { store: name, lines };
}

function patientBody(): unknown {
  const given = ['Ava', 'Liam', 'Noah', 'Emma', 'Mia', 'Lucas'][Math.floor(Math.random() * 6)];
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: randomUUID() }],
    name: [{ family: ['Smith', 'García', 'Nguyen', 'Okafor'][Math.floor(Math.random() * 4)], given: [given] }],
    gender: Math.random() < 0.5 ? 'female' : 'male',
    birthDate: `20${10 + Math.floor(Math.random() * 14)}-0${1 + Math.floor(Math.random() * 9)}-1${Math.floor(Math.random() * 9)}`,
  };
}

function bundleOf(type: 'batch' | 'transaction', patientIds: string[]): unknown {
  return {
    resourceType: 'Bundle',
    type,
    entry: Array.from({ length: 100 }, () => ({
      resource: benchImmunization(patientIds),
      request: { method: 'POST', url: 'Immunization' },
    })),
  };
}

async function timed(total: number, concurrency: number, task: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        await task(i);
        latencies.push(performance.now() - t);
      }
    })
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { seconds, p50: pct(50), p99: pct(99) };
}

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(body) });
const rate = (n: number, seconds: number) => Math.round(n / seconds).toLocaleString('en-US');

function expectStatus(res: Response, status: number): void {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status} for ${res.url}`);
}

async function peakRssMb(pid: number): Promise<string> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return (kb / 1024).toFixed(0);
}

async function dropDatabase(url: string): Promise<void> {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.db().dropDatabase();
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
