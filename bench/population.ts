// npm run bench:population: reminder/recall and coverage on seeded registries (issue 14 goals:
// a 10,000-patient practice's reminder/recall CSV, first byte < 1 s and whole CSV < 10 s; coverage
// of 100,000 children (childhood-combined-7, summary) < 60 s with server RSS < 600 MB).
// Each registry is seeded with scripts/seed.ts (children 0–18 years, the CDC schedule for their
// age, one organization giving every dose) into a fresh embedded store, then served by a server in
// a child process (so the server's RSS is its own) and queried over loopback.
//   BENCH_POPULATION_SCALE=0.1 npm run bench:population   smaller registries for a quick look
//   POPULATION_WORKERS=0|N                                 forecasts in the request thread or N workers
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECRET = 'bench-secret';
const SCALE = Number(process.env.BENCH_POPULATION_SCALE ?? '1');
const TOKEN = jwt.sign({ scope: 'system/*.rs' }, SECRET, { algorithm: 'HS256', expiresIn: 7200 });
const SEED = '42';
const TODAY = new Date().toISOString().slice(0, 10);
/** Doses per patient: enough for the whole CDC schedule up to each child's age (the seed caps each patient at this many). */
const DOSES = Number(process.env.BENCH_POPULATION_DOSES ?? '25');
const CHILDREN_SCALE = Number(process.env.BENCH_POPULATION_CHILDREN_SCALE ?? String(SCALE));

/** scripts/seed.ts's id of its first organization (uuidOf('org-0') with the default seed). */
function firstOrganizationId(): string {
  const h = createHash('sha1').update(`${SEED}:org-0`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

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
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 1200) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base: `http://127.0.0.1:${port}/fhir`,
    pid: child.pid as number,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    },
  };
}

async function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024);
}

/** GET a CSV: time to the first body byte, to the end, and the number of data rows. */
async function csv(url: string): Promise<{ firstByte: number; total: number; rows: number; patients: number }> {
  const t = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let firstByte = 0;
  let text = '';
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (firstByte === 0) firstByte = performance.now() - t;
    text += decoder.decode(value, { stream: true });
  }
  const lines = text.trim().split('\r\n').slice(1);
  return { firstByte, total: performance.now() - t, rows: lines.length, patients: new Set(lines.map((l) => l.slice(0, l.indexOf(',')))).size };
}

async function json(url: string): Promise<{ ms: number; body: any }> {
  const t = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
  return { ms: performance.now() - t, body };
}

/** One tiny $immds-forecast: the server parses CDC's supporting data on its first forecast. */
async function warmUp(base: string): Promise<{ ms: number }> {
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
  return { ms: performance.now() - t };
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const workers = process.env.POPULATION_WORKERS ?? 'default';
  console.log(`population bench: scale ${SCALE}, POPULATION_WORKERS=${workers}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const org = `Organization/${firstOrganizationId()}`;

  const parts = (process.env.BENCH_POPULATION_PARTS ?? 'reminder,coverage').split(',');
  // 1. Reminder/recall of one practice.
  if (parts.includes('reminder')) await reminderBench(org);
  if (parts.includes('coverage')) await coverageBench();
}

async function reminderBench(org: string): Promise<void> {
  const practice = Math.round(10_000 * SCALE);
  const seeded = await seed(practice, practice * DOSES);
  console.log(`\nreminder/recall: practice of ${practice.toLocaleString('en-US')} patients, ${(practice * DOSES).toLocaleString('en-US')} doses (seeded in ${seeded.seconds.toFixed(0)} s)`);
  const server = await serve(seeded.dir);
  try {
    // The first forecast of a process parses CDC's supporting data: measured apart.
    const warm = await warmUp(server.base);
    console.log(`  first request after start (parses the CDSi supporting data): ${s(warm.ms)}`);
    for (const [label, query] of [
      ['MMR due or overdue', '&vaccineGroup=MMR'],
      ['every vaccine group', ''],
    ] as const) {
      const r = await csv(`${server.base}/$reminder-recall?organization=${org}&asOf=${TODAY}${query}&_format=text/csv`);
      console.log(`  CSV, ${label}: first byte ${s(r.firstByte)}, whole CSV ${s(r.total)} (${r.patients.toLocaleString('en-US')} patients, ${r.rows.toLocaleString('en-US')} rows)`);
    }
    const page = await json(`${server.base}/$reminder-recall?organization=${org}&asOf=${TODAY}&vaccineGroup=MMR&_count=50`);
    console.log(`  JSON first page of 50 (MMR): ${s(page.ms)}`);
    console.log(`  server RSS ${await rssMb(server.pid, 'VmRSS')} MB, peak ${await rssMb(server.pid, 'VmHWM')} MB`);
  } finally {
    await server.stop();
    await rm(seeded.dir, { recursive: true, force: true });
  }

}

async function coverageBench(): Promise<void> {
  // 2. Coverage of a registry of children, with forecasts in the request thread and on the pool.
  const children = Math.round(100_000 * CHILDREN_SCALE);
  const registry = await seed(children, children * DOSES);
  console.log(`\ncoverage: registry of ${children.toLocaleString('en-US')} children (0–18 years), ${(children * DOSES).toLocaleString('en-US')} doses (seeded in ${registry.seconds.toFixed(0)} s)`);
  try {
    for (const workers of ['0', process.env.POPULATION_WORKERS ?? '2']) {
      const server = await serve(registry.dir, { POPULATION_WORKERS: workers });
      try {
        const before = await rssMb(server.pid, 'VmRSS');
        await warmUp(server.base);
        for (const measure of ['childhood-combined-7', 'adolescent-tdap']) {
          const r = await json(`${server.base}/Measure/${measure}/$evaluate-measure?periodEnd=${TODAY}`);
          const counts = Object.fromEntries(r.body.group[0].population.map((p: any) => [p.code.coding[0].code, p.count]));
          console.log(
            `  POPULATION_WORKERS=${workers}: ${measure} (summary, whole registry): ${s(r.ms)}; initial population ${counts['initial-population'].toLocaleString('en-US')}, numerator ${counts.numerator.toLocaleString('en-US')}, score ${r.body.group[0].measureScore?.value}`
          );
        }
        console.log(`  POPULATION_WORKERS=${workers}: server RSS before ${before} MB, peak ${await rssMb(server.pid, 'VmHWM')} MB`);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await rm(registry.dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
