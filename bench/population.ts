// npm run bench:population: reminder/recall and coverage on a seeded registry (issue 14 goals:
// a 10,000-patient practice's reminder/recall CSV, first byte < 1 s and whole CSV < 10 s; coverage
// of 100,000 children (childhood-combined-7, summary) < 60 s with server RSS < 600 MB).
// The registry is served by a server in a child process (so its RSS and CPU are its own) and
// queried over loopback. Either an existing data dir (a COPY: the server locks and may write it),
// or fresh registries seeded by scripts/seed.ts (children 0–18 years, the CDC schedule for their age).
//   npm run bench:population -- --data-dir /work/data/my-copy [--organization Organization/ID]
//   npm run bench:population -- --practice 10000 --children 100000 [--doses 10]
//   options: --as-organization (the practice's own token: data sharing applies; default public health)
//            --parts reminder,coverage,async (async: both runs as Bulk-style jobs; data-dir only)   --workers 0,1   --groups MMR (reminder query; '' = every group)
//   the compiled server (`npm start`'s dist/server.js) by default; BENCH_SOURCES=1: tsx on the sources
// Prints per run: wall time, the server's CPU time (all threads; load on a shared machine inflates
// wall time, hardly CPU time), first byte / first data row for CSVs, and server RSS (now and peak).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';
import { serverEntry } from './server-entry.js';
import { waitReady } from './wait-ready.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECRET = 'bench-secret';
const SEED = '42';
const TODAY = new Date().toISOString().slice(0, 10);

const { values: args } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    organization: { type: 'string' },
    practice: { type: 'string', default: process.env.BENCH_POPULATION_PRACTICE ?? '10000' },
    children: { type: 'string', default: process.env.BENCH_POPULATION_CHILDREN ?? '100000' },
    doses: { type: 'string', default: process.env.BENCH_POPULATION_DOSES ?? '10' },
    parts: { type: 'string', default: process.env.BENCH_POPULATION_PARTS ?? 'reminder,coverage' },
    workers: { type: 'string', default: process.env.POPULATION_WORKERS ?? '0,1' },
    groups: { type: 'string', default: 'MMR' },
    measures: { type: 'string', default: 'childhood-combined-7' },
    'as-organization': { type: 'boolean', default: false },
  },
});
const ORG = args.organization ?? `Organization/${firstOrganizationId()}`;
/** Public health (system/*.rs), or with --as-organization the practice's own user token (its data-sharing filter applies). */
const TOKEN = args['as-organization']
  ? jwt.sign({ sub: 'bench', scope: 'user/Patient.rs user/Immunization.rs user/Measure.rs', organization: ORG }, SECRET, { algorithm: 'HS256', expiresIn: 7200 })
  : jwt.sign({ scope: 'system/*.rs' }, SECRET, { algorithm: 'HS256', expiresIn: 7200 });
const PARTS = args.parts.split(',');
const WORKERS = args.workers.split(',').filter((w) => w !== '');

/** scripts/seed.ts's id of its first organization (uuidOf('org-0') with the default seed). */
function firstOrganizationId(): string {
  const h = createHash('sha1').update(`${SEED}:org-0`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function run(cmd: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

/** A fresh registry whose every dose was given by one organization (so its practice is every patient). */
async function seed(patients: number, immunizations: number): Promise<{ dir: string; seconds: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-population-'));
  const t = performance.now();
  await run(process.execPath, [
    '--max-old-space-size=4096', '--import', 'tsx', 'scripts/seed.ts', '--patients', String(patients), '--immunizations', String(immunizations),
    '--organizations', '1', '--consents-percent', '0', '--data-dir', dir, '--seed', SEED, '--quiet',
  ]);
  return { dir, seconds: (performance.now() - t) / 1000 };
}

interface Server {
  base: string;
  pid: number;
  stop(): Promise<void>;
}

async function serve(dataDir: string, extraEnv: Record<string, string> = {}): Promise<Server> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child: ChildProcess = spawn(process.execPath, serverEntry(), {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  };
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`, { child });
  } catch (err) {
    await stop();
    throw err;
  }
  return { base: `http://127.0.0.1:${port}/fhir`, pid: child.pid as number, stop };
}

async function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024);
}

/**
 * Samples the server's memory every 100 ms while fn runs: peak RSS split into anonymous memory (the
 * heaps, buffers: what the process holds) and file pages (LMDB's memory map of store.mdb: page cache
 * the kernel can drop at any time, shared with every reader of the file).
 */
async function sampled<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; peak: { rss: number; anon: number; file: number } }> {
  const peak = { rss: 0, anon: 0, file: 0 };
  const sample = async () => {
    const [anon, file] = [await rssMb(pid, 'RssAnon'), await rssMb(pid, 'RssFile')];
    peak.anon = Math.max(peak.anon, anon);
    peak.file = Math.max(peak.file, file);
    peak.rss = Math.max(peak.rss, anon + file);
  };
  const timer = setInterval(() => void sample().catch(() => undefined), 100);
  try {
    const result = await fn();
    await sample();
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

const mem = (p: { rss: number; anon: number; file: number }) => `peak RSS ${p.rss} MB (anonymous ${p.anon} MB + LMDB file pages ${p.file} MB)`;

/** The process's CPU time so far (user + system, every thread), in ms. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** GET a CSV: time to the first body byte, to the first data row, to the end, and the rows. */
async function csv(url: string): Promise<{ firstByte: number; firstRow: number; total: number; rows: number; patients: number }> {
  const t = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let firstByte = 0;
  let firstRow = 0;
  let text = '';
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (firstByte === 0) firstByte = performance.now() - t;
    text += decoder.decode(value, { stream: true });
    if (firstRow === 0 && text.split('\r\n').length > 2) firstRow = performance.now() - t;
  }
  const lines = text.trim().split('\r\n').slice(1).filter((l) => l !== '');
  return { firstByte, firstRow, total: performance.now() - t, rows: lines.length, patients: new Set(lines.map((l) => l.slice(0, l.indexOf(',')))).size };
}

async function json(url: string): Promise<{ ms: number; body: any }> {
  const t = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
  return { ms: performance.now() - t, body };
}

/** One tiny $immds-forecast: the server parses CDC's supporting data on its first forecast. */
async function warmUp(base: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(`${base}/$immds-forecast`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'Parameters',
      parameter: [
        { name: 'assessmentDate', valueDate: TODAY },
        { name: 'patient', resource: { resourceType: 'Patient', birthDate: '2024-01-01', gender: 'female' } },
      ],
    }),
  });
  await res.text();
  if (res.status !== 200) throw new Error(`warm-up: ${res.status}`);
  return performance.now() - t;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const n = (x: number) => x.toLocaleString('en-US');

async function withServer(dir: string, workers: string, fn: (server: Server) => Promise<void>): Promise<void> {
  const server = await serve(dir, { POPULATION_WORKERS: workers });
  try {
    const warm = await warmUp(server.base);
    // The population worker threads start with the first run: an empty one, then time to load the CDSi data.
    await csv(`${server.base}/$reminder-recall?organization=Organization/bench-warm-up&_format=text/csv`);
    if (workers !== '0') await new Promise((r) => setTimeout(r, 10_000));
    console.log(`  POPULATION_WORKERS=${workers}: server ready, RSS ${await rssMb(server.pid, 'VmRSS')} MB; first forecast (parses the CDSi data) ${s(warm)}; worker threads started`);
    await fn(server);
    console.log(`  POPULATION_WORKERS=${workers}: server RSS now ${await rssMb(server.pid, 'VmRSS')} MB, peak ${await rssMb(server.pid, 'VmHWM')} MB`);
  } finally {
    await server.stop();
  }
}

async function reminderRuns(dir: string, org: string): Promise<void> {
  for (const workers of WORKERS) {
    await withServer(dir, workers, async (server) => {
      const queries: Array<[string, string]> = [[args.groups === '' ? 'every vaccine group' : `${args.groups} due or overdue`, args.groups === '' ? '' : `&vaccineGroup=${args.groups}`]];
      for (const [label, query] of queries) {
        const cpu = await cpuMs(server.pid);
        const { result: r, peak } = await sampled(server.pid, () => csv(`${server.base}/$reminder-recall?organization=${org}&asOf=${TODAY}${query}&_format=text/csv`));
        const used = (await cpuMs(server.pid)) - cpu;
        console.log(
          `  POPULATION_WORKERS=${workers}: CSV, ${label}: first byte ${s(r.firstByte)}, first row ${s(r.firstRow)}, whole CSV ${s(r.total)}, server CPU ${s(used)} (${n(r.patients)} patients, ${n(r.rows)} rows); ${mem(peak)}`
        );
      }
      const cpu = await cpuMs(server.pid);
      const page = await json(`${server.base}/$reminder-recall?organization=${org}&asOf=${TODAY}&vaccineGroup=MMR&_count=50`);
      console.log(`  POPULATION_WORKERS=${workers}: JSON first page of 50 (MMR): ${s(page.ms)}, server CPU ${s((await cpuMs(server.pid)) - cpu)}`);
    });
  }
}

async function coverageRuns(dir: string): Promise<void> {
  for (const workers of WORKERS) {
    await withServer(dir, workers, async (server) => {
      for (const measure of args.measures.split(',')) {
        const cpu = await cpuMs(server.pid);
        const { result: r, peak } = await sampled(server.pid, () => json(`${server.base}/Measure/${measure}/$evaluate-measure?periodEnd=${TODAY}`));
        const used = (await cpuMs(server.pid)) - cpu;
        const counts = Object.fromEntries(r.body.group[0].population.map((p: any) => [p.code.coding[0].code, p.count]));
        console.log(
          `  POPULATION_WORKERS=${workers}: ${measure} (summary, whole registry): ${s(r.ms)}, server CPU ${s(used)}; initial population ${n(counts['initial-population'])}, numerator ${n(counts.numerator)}, score ${r.body.group[0].measureScore?.value}; ${mem(peak)}`
        );
      }
    });
  }
}

/** A run as an asynchronous job: kick-off → poll → manifest → every file downloaded. */
async function asyncRun(url: string): Promise<{ ms: number; polls: number; files: Array<{ type: string; lines: number }> }> {
  const t = performance.now();
  const kick = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}`, prefer: 'respond-async' } });
  await kick.text();
  if (kick.status !== 202) throw new Error(`${url}: kick-off answered ${kick.status}`);
  const status = kick.headers.get('content-location') as string;
  let polls = 0;
  for (;;) {
    polls++;
    const res = await fetch(status, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    if (res.status === 202) {
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    if (res.status !== 200) throw new Error(`job ended with ${res.status}: ${text}`);
    const manifest = JSON.parse(text) as { output: Array<{ type: string; url: string }> };
    const files = [];
    for (const f of manifest.output) {
      const body = await (await fetch(f.url, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      files.push({ type: f.type, lines: body.split('\n').filter(Boolean).length });
    }
    return { ms: performance.now() - t, polls, files };
  }
}

async function asyncRuns(dir: string, org: string): Promise<void> {
  for (const workers of WORKERS) {
    await withServer(dir, workers, async (server) => {
      for (const [label, url] of [
        ['childhood-combined-7, whole registry', `${server.base}/Measure/childhood-combined-7/$evaluate-measure?periodEnd=${TODAY}`],
        [`reminder/recall of ${org}, MMR`, `${server.base}/$reminder-recall?organization=${org}&asOf=${TODAY}&vaccineGroup=MMR`],
      ]) {
        const cpu = await cpuMs(server.pid);
        const { result: r, peak } = await sampled(server.pid, () => asyncRun(url));
        const files = r.files.map((f) => `${f.type} ${n(f.lines)}`).join(', ');
        console.log(`  POPULATION_WORKERS=${workers}: async ${label}: kick-off to last file ${s(r.ms)} (${r.polls} polls), server CPU ${s((await cpuMs(server.pid)) - cpu)}; files: ${files}; ${mem(peak)}`);
      }
    });
  }
}

async function main(): Promise<void> {
  console.log(`population bench: workers ${WORKERS.join(' and ')}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const org = ORG;
  if (args['data-dir']) {
    const dir = path.resolve(args['data-dir']);
    console.log(`data dir ${dir} (served as is: pass a copy), practice ${org}, caller: ${args['as-organization'] ? 'the practice (its data-sharing filter)' : 'public health'}`);
    if (PARTS.includes('reminder')) {
      console.log('\nreminder/recall of the practice');
      await reminderRuns(dir, org);
    }
    if (PARTS.includes('coverage')) {
      console.log('\ncoverage of the whole registry');
      await coverageRuns(dir);
    }
    if (PARTS.includes('async')) {
      console.log('\nasynchronous runs (Prefer: respond-async, polled like $export)');
      await asyncRuns(dir, org);
    }
    return;
  }
  const doses = Number(args.doses);
  if (PARTS.includes('reminder')) {
    const practice = Number(args.practice);
    const seeded = await seed(practice, practice * doses);
    console.log(`\nreminder/recall: practice of ${n(practice)} patients, ${n(practice * doses)} doses (seeded in ${seeded.seconds.toFixed(0)} s)`);
    try {
      await reminderRuns(seeded.dir, org);
    } finally {
      await rm(seeded.dir, { recursive: true, force: true });
    }
  }
  if (PARTS.includes('coverage')) {
    const children = Number(args.children);
    const seeded = await seed(children, children * doses);
    console.log(`\ncoverage: registry of ${n(children)} children (0–18 years), ${n(children * doses)} doses (seeded in ${seeded.seconds.toFixed(0)} s)`);
    try {
      await coverageRuns(seeded.dir);
    } finally {
      await rm(seeded.dir, { recursive: true, force: true });
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
