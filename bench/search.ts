// Search and $match latency on a seeded registry (issue 3 and 5 figures):
//   npm run seed -- --data-dir ./data-bench         (100k Patients, 1M Immunizations)
//   npm run bench:search -- --data-dir ./data-bench  (or MONGODB_URL=… for MongoDB)
// Starts the server on that data in a child process and prints p50/p99 per query shape.
// Requests are sent one at a time (closed loop, concurrency 1) unless --concurrency N says otherwise;
// latencies at N > 1 include waiting behind the other requests in the server.
//   --only "patient's Imm,family"   only the shapes whose names contain one of these (comma-separated)
//   --requests N                    requests measured per shape (default 2000: a p99 of 200 requests is
//                                   the second-slowest one, moved by a single scheduling hiccup)
//   --warmup N                      requests per shape sent (and not counted) before measuring (default 100)
//   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   extra node flags for the server
//   BENCH_SERVER_STDOUT=1                                            the server's stdout here (e.g. with "--trace-gc")
//   --gc                            also line the requests up with the server's GC pauses (bench/gc-observer.cjs):
//                                   per shape the scavenges and their pauses, the share of requests that overlapped
//                                   a pause, and the p99 of the requests that met none (what is left is scheduling)
//   --alloc                         also sample every allocation of the server during each shape's measured requests
//                                   (bench/heap-sampler.cjs): bytes allocated per request and the functions that
//                                   allocate most (the sampling costs time: take latencies from a run without it).
//                                   BENCH_ALLOC_KEEP=DIR keeps the profiles (.heapprofile, for Chrome DevTools)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { cpuSnapshot } from './cpu.js';
import { serverEntry } from './server-entry.js';
import { waitReady } from './wait-ready.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECRET = 'bench-secret';
const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: './data-bench' },
    'mongodb-url': { type: 'string' },
    requests: { type: 'string', default: '2000' },
    'heap-mb': { type: 'string', default: '6144' },
    concurrency: { type: 'string', default: '1' },
    only: { type: 'string' },
    warmup: { type: 'string', default: '100' },
    gc: { type: 'boolean', default: false },
    alloc: { type: 'boolean', default: false },
  },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Math.max(1, Number(values.concurrency));
const WARMUP = Math.max(0, Number(values.warmup));
const ALLOC = values.alloc === true;
const ONLY = values.only ? values.only.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : undefined;
const wanted = (name: string) => !ONLY || ONLY.some((part) => name.toLowerCase().includes(part));
const TOKEN = jwt.sign({ scope: 'system/*.cruds' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json' };

interface Sample {
  id: string;
  family: string;
  birthDate: string;
  given: string;
  gender?: string;
}

async function main(): Promise<void> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const env: Record<string, string> = { PORT: String(port), AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', DATA_DIR: path.resolve(values['data-dir'] as string) };
  if (values['mongodb-url'] ?? process.env.MONGODB_URL) env.MONGODB_URL = (values['mongodb-url'] ?? process.env.MONGODB_URL) as string;
  const started = Date.now();
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const gcDir = values.gc ? await mkdtemp(path.join(tmpdir(), 'bench-gc-')) : undefined;
  if (gcDir) {
    nodeArgs.unshift('--require', path.join(ROOT, 'bench', 'gc-observer.cjs'));
    env.GC_OBSERVER_OUT = path.join(gcDir, 'pauses.json');
  }
  const allocDir = values.alloc ? await mkdtemp(path.join(tmpdir(), 'bench-alloc-')) : undefined;
  if (allocDir) {
    nodeArgs.unshift('--require', path.join(ROOT, 'bench', 'heap-sampler.cjs'));
    env.HEAP_SAMPLER_OUT = allocOut = path.join(allocDir, 'profile');
  }
  const child = spawn(process.execPath, [`--max-old-space-size=${values['heap-mb']}`, ...nodeArgs, ...serverEntry()], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', process.env.BENCH_SERVER_STDOUT ? 'inherit' : 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}/fhir`;
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`);
    console.log(`store: ${env.MONGODB_URL ? 'mongodb' : `embedded (${env.DATA_DIR})`}; server ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const pid = child.pid as number;
    serverPid = pid;
    const atStart = await memory(pid);
    console.log(`server memory after start: RSS ${atStart.rss} MB (anonymous ${atStart.anon} MB, mapped files ${atStart.file} MB)`);
    // Peak of the anonymous part (heap, buffers): file-backed pages of a memory-mapped store are page cache.
    let peakAnon = atStart.anon;
    const sampler = setInterval(() => {
      memory(pid).then((m) => (peakAnon = Math.max(peakAnon, m.anon)), () => undefined);
    }, 100);
    const total = await json(`${base}/Immunization?_summary=count`);
    const patients = await json(`${base}/Patient?_summary=count`);
    console.log(`data: ${patients.total} Patients, ${total.total} Immunizations`);
    if (!total.total) {
      console.log('no data: run `npm run seed` first');
      return;
    }
    const samples: Sample[] = (await json(`${base}/Patient?_count=1000`)).entry.map((e: any) => ({
      id: e.resource.id,
      family: e.resource.name?.[0]?.family,
      given: e.resource.name?.[0]?.given?.[0],
      birthDate: e.resource.birthDate,
      gender: e.resource.gender,
    }));
    const pick = (i: number) => samples[(i * 7919) % samples.length];
    const months = ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12'];
    const codes = ['08', '20', '10', '03', '21', '83', '133', '116', '141', '62'];
    const shapes: Array<[string, (i: number) => Promise<unknown>]> = [
      ["a patient's Immunizations", (i) => json(`${base}/Immunization?patient=Patient/${pick(i).id}`)],
      ['family + birthdate', (i) => json(`${base}/Patient?family=${encodeURIComponent(pick(i).family)}&birthdate=${pick(i).birthDate}`)],
      [
        'vaccine-code + date range',
        (i) => json(`${base}/Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|${codes[i % codes.length]}&date=ge2022-${months[i % 12]}-01&date=lt2022-${months[i % 12]}-08`),
      ],
      [
        'vaccine-code + date range + _include=Immunization:patient',
        (i) => json(`${base}/Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|${codes[i % codes.length]}&date=ge2022-${months[i % 12]}-01&date=lt2022-${months[i % 12]}-08&_include=Immunization:patient`),
      ],
      ["a patient's Immunizations + _include=Immunization:patient", (i) => json(`${base}/Immunization?patient=Patient/${pick(i).id}&_include=Immunization:patient`)],
      [
        'Patient/$match (a perturbed existing patient)',
        (i) => {
          const p = pick(i);
          return json(`${base}/Patient/$match`, {
            resourceType: 'Parameters',
            parameter: [{ name: 'resource', resource: { resourceType: 'Patient', name: [{ family: p.family, given: [p.given] }], birthDate: p.birthDate, gender: p.gender } }],
          });
        },
      ],
    ];
    console.log(`closed loop, concurrency ${CONCURRENCY}${WARMUP ? `, ${WARMUP} warm-up requests per shape` : ''}`);
    for (const [name, run] of shapes) if (wanted(name)) report(name, await measure(REQUESTS, run, name));

    // Deep page: follow next links 50 pages into a large result, then time fetching that page again.
    if (wanted('deep page')) {
      let page = await json(`${base}/Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|08&_count=20`);
      for (let i = 0; i < 50 && page.link?.find((l: any) => l.relation === 'next'); i++) {
        page = await json(page.link.find((l: any) => l.relation === 'next').url.replace(/^https?:\/\/[^/]+\/fhir/, base));
      }
      const self = page.link.find((l: any) => l.relation === 'self').url.replace(/^https?:\/\/[^/]+\/fhir/, base);
      report('deep page (page 51 of vaccine-code=08, 20 per page)', await measure(Math.min(REQUESTS, 50), () => json(self), 'deep page'));
    }
    if (wanted('_total')) {
      report('_total=accurate over all Immunizations (_summary=count)', await measure(Math.min(REQUESTS, 20), () => json(`${base}/Immunization?_summary=count&_total=accurate`), '_total'));
    }
    clearInterval(sampler);
    console.log(`server peak RSS: ${await peakRssMb(pid)} MB (including mapped file pages); peak anonymous RSS during the bench ${peakAnon} MB`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
  if (gcDir) {
    const pauses = JSON.parse(await readFile(env.GC_OBSERVER_OUT, 'utf8')) as Array<[number, number, number]>;
    console.log('GC pauses of the server during each shape (scavenges; requests overlapping any pause; p99 of the others):');
    for (const { name, requests } of timeline) reportGc(name, requests, pauses);
    await rm(gcDir, { recursive: true, force: true });
  }
  if (allocDir) await rm(allocDir, { recursive: true, force: true });
}

/** Starts (first call) or stops and writes (second call) the server's allocation sampling. */
async function toggleAllocSampling(): Promise<void> {
  if (serverPid === undefined) return;
  process.kill(serverPid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 100)); // the signal is handled on the server's next turn
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

let allocProfiles = 0;
let allocOut = '';

/** Reads the profile of the last sampled shape and prints bytes per request and the top allocating functions. */
async function reportAlloc(name: string, n: number): Promise<void> {
  allocProfiles += 1;
  const file = `${allocOut}.${allocProfiles}.json`;
  let profile: { head: HeapNode } | undefined;
  for (let i = 0; i < 100 && !profile; i++) {
    try {
      profile = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!profile) return console.log(`  ${name}: no allocation profile`);
  if (process.env.BENCH_ALLOC_KEEP) await writeFile(path.join(process.env.BENCH_ALLOC_KEEP, `${allocProfiles}-${name.replace(/[^a-z0-9]+/gi, '-')}.heapprofile`), JSON.stringify(profile));
  const bySelf = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    total += node.selfSize;
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(src|dist|node_modules)\//, '$1/')}:${lineNumber + 1}`;
      bySelf.set(key, (bySelf.get(key) ?? 0) + node.selfSize);
    }
    node.children.forEach(walk);
  };
  walk(profile.head);
  console.log(`${name}: allocated per request (sampled): ${(total / n / 1024).toFixed(1)} KB; most (self, KB per request):`);
  for (const [key, bytes] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`    ${(bytes / n / 1024).toFixed(1).padStart(7)}  ${key}`);
}

/** Each measured shape's requests: wall-clock start (ms since the epoch) and duration (ms). */
const timeline: Array<{ name: string; requests: Array<[number, number]> }> = [];

function reportGc(name: string, requests: Array<[number, number]>, pauses: Array<[number, number, number]>): void {
  if (requests.length === 0) return;
  const from = requests[0][0];
  const to = Math.max(...requests.map(([t, d]) => t + d));
  const during = pauses.filter(([t, d]) => t < to && t + d > from);
  const scavenges = during.filter(([, , kind]) => kind === 1).map(([, d]) => d).sort((a, b) => a - b);
  const overlaps = ([t, d]: [number, number]) => during.some(([gt, gd]) => gt < t + d && gt + gd > t);
  const clear = requests.filter((r) => !overlaps(r)).map(([, d]) => d).sort((a, b) => a - b);
  const hit = requests.length - clear.length;
  const pct = (a: number[], p: number) => (a.length ? a[Math.min(a.length - 1, Math.floor(p * a.length))].toFixed(1) : '-');
  console.log(
    `  ${name.padEnd(60)} scavenges ${String(scavenges.length).padStart(4)} (pause p50 ${pct(scavenges, 0.5)} / max ${pct(scavenges, 1)} ms), other pauses ${during.length - scavenges.length}; requests overlapping a pause ${hit} (${((100 * hit) / requests.length).toFixed(1)} %); p99 of the others ${pct(clear, 0.99)} ms`
  );
}

/** The server's process id, for its CPU time per query (set once it runs). */
let serverPid: number | undefined;

/** CPU time (user + system) of the server so far, in ms: all threads, and the request thread alone. */
async function serverCpuMs(): Promise<{ process: number; requestThread: number }> {
  if (serverPid === undefined) return { process: 0, requestThread: 0 };
  const { process, requestThread } = await cpuSnapshot(serverPid);
  return { process: process / 1000, requestThread: requestThread / 1000 };
}

interface Measured {
  sorted: number[];
  /** The server's CPU (all threads) per request, ms. */
  cpuMs: number;
  /** The server's request thread's CPU per request, ms. */
  threadMs: number;
  /** This bench process's own CPU per request (it shares the cores with the server), ms. */
  clientCpuMs: number;
}

async function measure(n: number, run: (i: number) => Promise<unknown>, name: string): Promise<Measured> {
  for (let i = 0; i < WARMUP; i++) await run(n + i);
  const times: number[] = [];
  const requests: Array<[number, number]> = [];
  timeline.push({ name, requests });
  if (ALLOC) await toggleAllocSampling();
  const cpu0 = await serverCpuMs();
  const own0 = process.cpuUsage();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const t = performance.now();
      await run(i);
      const ms = performance.now() - t;
      times.push(ms);
      requests.push([performance.timeOrigin + t, ms]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker));
  const own = process.cpuUsage(own0);
  const cpu1 = await serverCpuMs();
  if (ALLOC) {
    await toggleAllocSampling();
    await reportAlloc(name, n);
  }
  return {
    sorted: times.sort((a, b) => a - b),
    cpuMs: (cpu1.process - cpu0.process) / n,
    threadMs: (cpu1.requestThread - cpu0.requestThread) / n,
    clientCpuMs: (own.user + own.system) / 1000 / n,
  };
}

function report(name: string, { sorted, cpuMs, threadMs, clientCpuMs }: Measured): void {
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  console.log(
    `${name.padEnd(62)} p50 ${pct(50).toFixed(1).padStart(7)} ms   p99 ${pct(99).toFixed(1).padStart(7)} ms   server CPU ${cpuMs.toFixed(2).padStart(5)} ms/query (request thread ${threadMs.toFixed(2)})   bench CPU ${clientCpuMs.toFixed(1)} ms   (n=${sorted.length})`
  );
}

async function json(url: string, body?: unknown): Promise<any> {
  const res = await fetch(url, body ? { method: 'POST', headers: HEADERS, body: JSON.stringify(body) } : { headers: HEADERS });
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status} for ${url}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}


/** VmRSS split into its anonymous part and its file-backed part (memory-mapped store pages), MB. */
async function memory(pid: number): Promise<{ rss: number; anon: number; file: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), anon: Math.round(kb('RssAnon') / 1024), file: Math.round(kb('RssFile') / 1024) };
}

async function peakRssMb(pid: number): Promise<string> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return (Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024).toFixed(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
