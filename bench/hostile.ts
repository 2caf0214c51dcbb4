// npm run bench:hostile: hostile requests (malformed JSON, 64 KB–1 MB strings, deep and wide
// arrays, gzip bombs, long query strings, odd ids, bad tokens, broken HTTP) at a fixed concurrency
// against a server in a child process on loopback. Prints the count of 5xx, crashes, requests over
// 2 s, p99 latency, the worst event-loop stall seen by a /healthz probe, peak server RSS, and
// whether the seeded data is unchanged.
//   HOSTILE_REQUESTS=10000 HOSTILE_CONCURRENCY=8 npm run bench:hostile
//   HOSTILE_SEED=7            another deterministic request mix
//   HOSTILE_HEAP_SNAPSHOT=1   start the server with --heapsnapshot-near-heap-limit (files in its cwd)
//   HOSTILE_SERVER_ARGS="--max-old-space-size=4096"   extra node flags for the server
//   HOSTILE_KINDS=big-string,bundle   only these kinds of request
//   HOSTILE_LOOP_MONITOR=1    also print the server's own event-loop delay and GC pauses (perf_hooks)
//   HOSTILE_LIVE_HEAP=1       with HOSTILE_LOOP_MONITOR: a full GC in the server every 8 s, printing
//                             the heap left after it (live data: a leak grows it; garbage not yet
//                             collected does not). The forced GCs change the run: not for timings.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateRawSync, gzipSync } from 'node:zlib';
import jwt from 'jsonwebtoken';
import { waitReady } from './wait-ready.js';
import { prng } from './prng.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECRET = 'hostile-bench-secret';
const TOTAL = Number(process.env.HOSTILE_REQUESTS ?? '10000');
const CONCURRENCY = Number(process.env.HOSTILE_CONCURRENCY ?? '8');
const SEED = Number(process.env.HOSTILE_SEED ?? '1');
const SLOW_MS = 2000;
const REQUEST_TIMEOUT_MS = 60_000;

const sign = (claims: Record<string, unknown>): string =>
  jwt.sign({ sub: 'hostile', ...claims }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const SYSTEM = sign({ scope: 'system/*.cruds' });
const CLINIC = sign({ scope: 'user/*.cruds', organization: 'Organization/clinic-b' });


interface HostileRequest {
  kind: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Sent as raw bytes over a socket (broken HTTP). */
  rawSocket?: Buffer;
}

interface Outcome {
  kind: string;
  /** Method and path, for reports of failures. */
  what?: string;
  status: number;
  ms: number;
  error?: string;
}

async function main(): Promise<void> {
  const bombs = buildBombs();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-hostile-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const nodeArgs = [...(process.env.HOSTILE_SERVER_ARGS?.split(/\s+/).filter(Boolean) ?? [])];
  if (process.env.HOSTILE_HEAP_SNAPSHOT) {
    // Heap snapshots are written when the heap nears its limit, into a directory kept after the run.
    const snapshots = path.join(os.tmpdir(), 'iis-hostile-snapshots');
    await mkdir(snapshots, { recursive: true });
    nodeArgs.push('--heapsnapshot-near-heap-limit=1', `--diagnostic-dir=${snapshots}`);
    console.log(`heap snapshots (if the heap nears its limit) go to ${snapshots}`);
  }
  if (process.env.HOSTILE_LOOP_MONITOR) {
    // The server's own event-loop delay (perf_hooks), free of this machine's scheduling of the
    // probe process: a preload prints the histogram when the server exits.
    const monitor = path.join(dataDir, 'loop-monitor.mjs');
    writeFileSync(
      monitor,
      `import { monitorEventLoopDelay, PerformanceObserver, constants } from 'node:perf_hooks';
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
let over100 = 0, last = performance.now();
// GC pauses by kind (the pause of each collection, as perf_hooks reports it).
const kinds = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks' };
let gc = {}, live = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const g = (gc[kinds[e.detail?.kind] ?? 'other'] ??= { count: 0, totalMs: 0, maxMs: 0, over50Ms: 0 });
    g.count++; g.totalMs += e.duration; g.maxMs = Math.max(g.maxMs, e.duration); if (e.duration > 50) g.over50Ms++;
  }
}).observe({ entryTypes: ['gc'] });
// With --expose-gc (HOSTILE_LIVE_HEAP): the heap left after a full GC every 8 s, in MB.
if (globalThis.gc) setInterval(() => { globalThis.gc(); live.push(Math.round(process.memoryUsage().heapUsed / 1048576)); }, 8000).unref();
// Reset when the hostile requests start (after start-up and seeding).
process.on('SIGUSR2', () => { h.reset(); over100 = 0; gc = {}; live = []; });
setInterval(() => { const now = performance.now(); if (now - last > 150) over100++; last = now; }, 50).unref();
process.on('exit', () => process.stderr.write('LOOPMON ' + JSON.stringify({ maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, p999Ms: h.percentile(99.9) / 1e6, ticksLateOver100Ms: over100, gc, live }) + '\\n'));
`
    );
    nodeArgs.push('--import', pathToFileURL(monitor).href);
    if (process.env.HOSTILE_LIVE_HEAP) nodeArgs.push('--expose-gc');
  }
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited: { code: number | null; signal: string | null } | undefined;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const origin = `http://127.0.0.1:${port}`;
  const base = `${origin}/fhir`;
  try {
    await waitReady(`${origin}/readyz`);
    const seeded = await seed(base);
    const before = await snapshot(base, seeded);
    const baselineRss = rssMb(child.pid!);
    if (process.env.HOSTILE_LOOP_MONITOR) child.kill('SIGUSR2');
    console.log(`seeded ${seeded.length} resources; server RSS ${baselineRss} MB; sending ${TOTAL} hostile requests at concurrency ${CONCURRENCY} (seed ${SEED})`);

    let peakRss = baselineRss;
    const rssTimer = setInterval(() => {
      if (!exited) peakRss = Math.max(peakRss, rssMb(child.pid!));
    }, 100);
    // A probe of /healthz every 50 ms from a process of its own (so the client's work building
    // hostile bodies does not count): its worst latency bounds how long the server's event loop
    // was held (plus scheduling delays of this shared machine).
    const probeChild = spawn(
      process.execPath,
      [
        '-e',
        `let worst = 0, slow = 0, stop = false;
         process.on('SIGTERM', () => { stop = true; });
         (async () => {
           while (!stop) {
             const t0 = performance.now();
             try { await (await fetch(${JSON.stringify(`${origin}/healthz`)})).arrayBuffer(); } catch {}
             const ms = performance.now() - t0;
             worst = Math.max(worst, ms);
             if (ms > 100) slow++;
             await new Promise((r) => setTimeout(r, 50));
           }
           process.stdout.write(JSON.stringify({ worst, slow }));
         })();`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    );
    let probeOutput = '';
    probeChild.stdout?.on('data', (d: Buffer) => (probeOutput += d.toString()));
    const probe = new Promise<{ worst: number; slow: number }>((resolve) =>
      probeChild.on('exit', () => {
        try {
          resolve(JSON.parse(probeOutput) as { worst: number; slow: number });
        } catch {
          resolve({ worst: NaN, slow: NaN });
        }
      })
    );

    const random = prng(SEED);
    const factory = hostileFactory(random, seeded, bombs);
    const outcomes: Outcome[] = [];
    let next = 0;
    const started = performance.now();
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (next < TOTAL && !exited) {
        const i = next++;
        const req = factory(i);
        outcomes.push(await send(origin, port, req));
        if ((i + 1) % 1000 === 0) console.log(`  ${i + 1} sent, ${((performance.now() - started) / 1000).toFixed(1)} s, RSS ${rssMb(child.pid!)} MB`);
      }
    });
    await Promise.all(workers);
    const seconds = (performance.now() - started) / 1000;
    probeChild.kill('SIGTERM');
    const { worst: worstProbe, slow: slowProbes } = await probe;
    clearInterval(rssTimer);
    peakRss = Math.max(peakRss, exited ? 0 : peakRssMb(child.pid!));

    const after = exited ? undefined : await snapshot(base, seeded);
    const unchanged = after !== undefined && after === before;
    const fivexx = outcomes.filter((o) => o.status >= 500);
    const failed = outcomes.filter((o) => o.status === 0);
    const slow = outcomes.filter((o) => o.ms > SLOW_MS);
    const latencies = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
    const byStatus = new Map<number, number>();
    for (const o of outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);

    console.log('\n## hostile load');
    console.log(`requests sent: ${outcomes.length} in ${seconds.toFixed(1)} s (${(outcomes.length / seconds).toFixed(0)}/s), concurrency ${CONCURRENCY}`);
    console.log(`status counts: ${[...byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s || 'no answer'}: ${n}`).join(', ')}`);
    console.log(`5xx: ${fivexx.length}${summarise(fivexx)}`);
    console.log(`no answer (connection error/timeout): ${failed.length}${summarise(failed)}`);
    for (const f of failed.slice(0, 3)) console.log(`  no answer: ${f.kind} ${f.what ?? ''} ${f.error ?? ''}`.slice(0, 300));
    console.log(`crashes: ${exited ? `1 (exit code ${exited.code}, signal ${exited.signal})` : 0}`);
    console.log(`requests over ${SLOW_MS} ms: ${slow.length}${summarise(slow)}`);
    console.log(`latency p50 ${p(0.5).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms, max ${p(1).toFixed(1)} ms`);
    console.log(`/healthz probe every 50 ms from another process: worst ${worstProbe.toFixed(1)} ms, ${slowProbes} probes over 100 ms`);
    console.log(`peak server RSS: ${peakRss} MB (after seeding ${baselineRss} MB)`);
    console.log(`seeded data unchanged: ${unchanged ? 'yes' : 'NO'}`);
    if (process.env.HOSTILE_BY_KIND) {
      const kinds = new Map<string, number[]>();
      for (const o of outcomes) kinds.set(o.kind, [...(kinds.get(o.kind) ?? []), o.ms]);
      for (const [kind, list] of [...kinds].sort()) {
        list.sort((a, b) => a - b);
        console.log(`  ${kind}: ${list.length} requests, p50 ${list[Math.floor(list.length / 2)].toFixed(0)} ms, max ${list[list.length - 1].toFixed(0)} ms`);
      }
    }
    if (exited) console.log(`server stderr tail:\n${stderr}`);
    const slowest = [...outcomes].sort((a, b) => b.ms - a.ms).slice(0, 5);
    console.log(`slowest: ${slowest.map((o) => `${o.kind} ${o.status} ${o.ms.toFixed(0)} ms`).join('; ')}`);
    process.exitCode = fivexx.length || failed.length || exited || slow.length || !unchanged ? 1 : 0;
  } finally {
    if (!exited) child.kill('SIGTERM');
    // A graceful stop (and a --cpu-prof profile written on exit) gets up to 20 s.
    for (let i = 0; i < 200 && !exited; i++) await sleep(100);
    if (!exited) child.kill('SIGKILL');
    await sleep(300); // stderr may trail the exit event
    const loop = /LOOPMON (\{.*\})/.exec(stderr)?.[1];
    if (loop) {
      type Pauses = { count: number; totalMs: number; maxMs: number; over50Ms: number };
      const m = JSON.parse(loop) as { maxMs: number; p99Ms: number; p999Ms: number; ticksLateOver100Ms: number; gc: Record<string, Pauses>; live: number[] };
      console.log(`server event-loop delay during the hostile requests (perf_hooks): max ${m.maxMs.toFixed(0)} ms, p99 ${m.p99Ms.toFixed(1)} ms, p99.9 ${m.p999Ms.toFixed(1)} ms; 50 ms timer late by over 100 ms ${m.ticksLateOver100Ms} times`);
      const pauses = Object.entries(m.gc).map(([kind, g]) => `${kind} ${g.count} (${g.totalMs.toFixed(0)} ms in all, max ${g.maxMs.toFixed(0)} ms, ${g.over50Ms} over 50 ms)`);
      console.log(`server GC pauses during the hostile requests: ${pauses.join('; ')}`);
      if (m.live.length > 0) console.log(`server heap after a full GC every 8 s (live data), MB: ${m.live.join(', ')}`);
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

function summarise(list: Outcome[]): string {
  if (list.length === 0) return '';
  const kinds = new Map<string, number>();
  for (const o of list) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
  return ` (${[...kinds].map(([k, n]) => `${k}: ${n}`).join(', ')})`;
}

async function send(origin: string, port: number, req: HostileRequest): Promise<Outcome> {
  const t0 = performance.now();
  if (req.rawSocket) {
    const status = await rawExchange(port, req.rawSocket);
    return { kind: req.kind, status, ms: performance.now() - t0 };
  }
  try {
    const res = await fetch(`${origin}${req.path}`, {
      method: req.method,
      headers: req.headers,
      body: typeof req.body === 'string' || req.body === undefined ? req.body : new Uint8Array(req.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await res.arrayBuffer();
    return { kind: req.kind, status: res.status, ms: performance.now() - t0 };
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return { kind: req.kind, what: `${req.method} ${req.path.slice(0, 120)}`, status: 0, ms: performance.now() - t0, error: `${String(err)}${cause ? ` (${String(cause)})` : ''}` };
  }
}

/** Writes bytes to a fresh connection and reads the status line of whatever comes back. */
function rawExchange(port: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const done = (status: number) => {
      socket.destroy();
      resolve(status);
    };
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => done(0));
    socket.on('connect', () => socket.end(bytes));
    socket.on('data', (d) => {
      data += d.toString('latin1');
    });
    socket.on('error', () => done(parseStatus(data)));
    socket.on('close', () => done(parseStatus(data)));
  });
}

function parseStatus(text: string): number {
  // A closed connection without an answer is the parser's right for garbage; count it as a 400.
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : 400;
}

// ---------------------------------------------------------------------------------------------
// Seeded data and its fingerprint

interface Seeded {
  type: string;
  id: string;
}

async function seed(base: string): Promise<Seeded[]> {
  const seeded: Seeded[] = [];
  for (let i = 0; i < 20; i++) {
    const patient = await request(base, 'POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: `HOSTILE-${i}` }],
      name: [{ family: ['Okafor', 'Lindqvist', 'Nguyen', 'Garcia'][i % 4], given: [`Child${i}`] }],
      gender: i % 2 ? 'male' : 'female',
      birthDate: `2021-0${1 + (i % 9)}-1${i % 10}`,
    });
    seeded.push({ type: 'Patient', id: patient.id });
    for (const cvx of ['08', '20', '10']) {
      const imm = await request(base, 'POST', 'Immunization', {
        resourceType: 'Immunization',
        status: 'completed',
        vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
        patient: { reference: `Patient/${patient.id}` },
        occurrenceDateTime: '2022-03-04',
        primarySource: true,
        lotNumber: `LOT${i}${cvx}`,
      });
      seeded.push({ type: 'Immunization', id: imm.id });
    }
  }
  return seeded;
}

/** A hash of every seeded resource as read back, and of the counts of each type. */
async function snapshot(base: string, seeded: Seeded[]): Promise<string> {
  const hash = createHash('sha256');
  for (const { type, id } of seeded) {
    const res = await fetch(`${base}/${type}/${id}`, { headers: { authorization: `Bearer ${SYSTEM}` } });
    hash.update(`${res.status}:${await res.text()}\n`);
  }
  for (const type of ['Patient', 'Immunization']) {
    const res = await fetch(`${base}/${type}?identifier:missing=false&_summary=count`, { headers: { authorization: `Bearer ${SYSTEM}` } });
    hash.update(`${type}:${res.status}\n`);
  }
  return hash.digest('hex');
}

async function request(base: string, method: string, url: string, body: unknown): Promise<{ id: string }> {
  const res = await fetch(`${base}/${url}`, {
    method,
    headers: { authorization: `Bearer ${SYSTEM}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string };
}

// ---------------------------------------------------------------------------------------------
// The hostile request mix

interface Bombs {
  gzipBomb: Buffer;
  jsonBomb: Buffer;
  deflateBomb: Buffer;
}

/**
 * Built once, before any request: compressing them takes seconds, and a pause that long between
 * requests would let the server close the client's idle keep-alive sockets under it.
 */
function buildBombs(): Bombs {
  return {
    gzipBomb: gzipSync(Buffer.alloc(256 * 1024 * 1024, 0x20), { level: 9 }),
    jsonBomb: gzipSync(Buffer.from(`{"resourceType":"Patient","name":[${Array(300_000).fill('{"given":["a"]}').join(',')}]}`), { level: 9 }),
    deflateBomb: deflateRawSync(Buffer.alloc(64 * 1024 * 1024, 0x5b)),
  };
}

function hostileFactory(random: () => number, seeded: Seeded[], bombs: Bombs): (i: number) => HostileRequest {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const seededPatient = () => pick(seeded.filter((s) => s.type === 'Patient')).id;
  const bigString = () => 'x'.repeat(int(64 * 1024, 1024 * 1024));
  const json = { 'content-type': 'application/fhir+json' };
  const auth = (token = SYSTEM) => ({ authorization: `Bearer ${token}` });
  const { gzipBomb, jsonBomb, deflateBomb } = bombs;
  const deep = (n: number, open: string, close: string, inner = '1') => open.repeat(n) + inner + close.repeat(n);
  const deepExtension = (n: number) => {
    let ext = '{"url":"http://x/e","valueString":"v"}';
    for (let k = 0; k < n; k++) ext = `{"url":"http://x/e${k}","extension":[${ext}]}`;
    return `{"resourceType":"Patient","extension":[${ext}]}`;
  };

  const makers: Array<[number, () => HostileRequest]> = [
    // malformed JSON
    [6, () => ({ kind: 'malformed-json', method: 'POST', path: '/fhir/Patient', headers: { ...auth(), ...json }, body: pick(['{', '{"resourceType":"Patient",', '{"resourceType":"Patient"}}', "{'a':1}", '{"a":NaN}', '\uFEFF{}', '[1,2', 'null', '"str"', '{"resourceType":"Patient","name":[{"family":"\\ud800"}]}', '{"resourceType":"Patient","birthDate":"2020-02-30"}', '{"resourceType":"Patient","id":"a","id":"b"}']) }),
    ],
    // big strings in elements
    [8, () => ({ kind: 'big-string', method: 'POST', path: `/fhir/${pick(['Patient', 'Immunization'])}`, headers: { ...auth(), ...json }, body: JSON.stringify(pick([
      () => ({ resourceType: 'Patient', name: [{ family: bigString() }] }),
      () => ({ resourceType: 'Patient', extension: [{ url: 'http://x/e', valueString: bigString() }] }),
      () => ({ resourceType: 'Patient', identifier: [{ system: 'urn:x', value: bigString() }], name: [{ family: 'A' }] }),
      () => ({ resourceType: 'Immunization', status: 'completed', vaccineCode: { text: bigString() }, patient: { reference: `Patient/${seededPatient()}` }, occurrenceString: bigString() }),
      () => ({ resourceType: bigString() }),
      () => ({ resourceType: 'Patient', [bigString().slice(0, 70000)]: 1 }),
    ])()) }),
    ],
    // deep arrays and objects
    [6, () => ({ kind: 'deep-json', method: 'POST', path: pick(['/fhir/Patient', '/fhir', '/fhir/Patient/$validate', '/fhir/Patient/$match']), headers: { ...auth(), ...json }, body: pick([
      () => deep(int(1000, 100_000), '[', ']'),
      () => `{"resourceType":"Patient","extension":${deep(int(100, 20_000), '[', ']')}}`,
      () => deep(int(1000, 50_000), '{"a":', '}'),
      () => deepExtension(int(50, 2000)),
    ])() }),
    ],
    // wide arrays
    [5, () => ({ kind: 'wide-json', method: 'POST', path: pick(['/fhir/Patient', '/fhir/Patient/$validate']), headers: { ...auth(), ...json }, body: pick([
      () => `{"resourceType":"Patient","name":[{"given":[${Array(int(10_000, 200_000)).fill('"a"').join(',')}]}]}`,
      () => `{"resourceType":"Patient","identifier":[${Array(int(5000, 60_000)).fill('{"system":"urn:x","value":"1"}').join(',')}]}`,
      () => `{"resourceType":"Patient","extension":[${Array(int(5000, 50_000)).fill('{"url":"http://x","valueDateTime":"2019-02-29"}').join(',')}]}`,
    ])() }),
    ],
    // Bundles: many entries, nested, big
    [5, () => ({ kind: 'bundle', method: 'POST', path: '/fhir', headers: { ...auth(), ...json }, body: pick([
      () => JSON.stringify({ resourceType: 'Bundle', type: pick(['batch', 'transaction']), entry: Array.from({ length: int(1000, 20_000) }, () => ({ request: { method: 'GET', url: `Patient?name=${'a'.repeat(int(1, 200))}&_include=*` } })) }),
      () => JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: int(10, 200) }, () => ({ request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'x'.repeat(int(1000, 60_000)) }], birthDate: '2019-02-29' } })) }),
      () => JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: '/' }, resource: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: '/' }, resource: { resourceType: 'Bundle', type: 'batch' } }] } }] }),
      () => JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: int(100, 3000) }, (_, k) => ({ fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(k).padStart(12, '0')}`, request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${k}&_has:Immunization:patient:status=completed` }, resource: { resourceType: 'Patient', name: [{ family: 'T' }], birthDate: '2021-02-29' } })) }),
    ])() }),
    ],
    // compression bombs
    [4, () => pick([
      () => ({ kind: 'gzip-bomb', method: 'POST', path: '/fhir/Patient', headers: { ...auth(), ...json, 'content-encoding': 'gzip' }, body: gzipBomb }),
      () => ({ kind: 'gzip-json-bomb', method: 'POST', path: pick(['/fhir/Patient', '/fhir/Patient/$validate']), headers: { ...auth(), ...json, 'content-encoding': 'gzip' }, body: jsonBomb }),
      () => ({ kind: 'deflate-bomb', method: 'POST', path: '/fhir', headers: { ...auth(), ...json, 'content-encoding': 'deflate' }, body: deflateBomb }),
      () => ({ kind: 'bad-encoding', method: 'POST', path: '/fhir/Patient', headers: { ...auth(), ...json, 'content-encoding': pick(['br', 'gzip', 'identity, gzip', 'x-evil']) }, body: '{"resourceType":"Patient"}' }),
    ])(),
    ],
    // long and many query parameters, hostile search expressions
    [14, () => ({ kind: 'query', method: 'GET', path: `/fhir/${pick([
      () => `Patient?name=${'a'.repeat(int(1000, 15_000))}`,
      () => `Patient?${Array.from({ length: int(200, 1500) }, (_, k) => `name=${k}`).join('&')}`,
      () => `Patient?${Array.from({ length: int(100, 1000) }, () => '_include=*&_revinclude=*').join('&')}`,
      () => `Immunization?${'patient:Patient.link:Patient.'.repeat(int(5, 200))}name=a`,
      () => `Patient?${'_has:Immunization:patient:'.repeat(int(3, 300))}status=completed`,
      () => `Patient?_count=${pick(['999999999', '-1', '1e9', 'abc', '0', '100000'])}`,
      () => `Patient?name:${pick(['regex', 'exact', 'contains', 'text', 'in'])}=${encodeURIComponent('(a+)+$'.repeat(int(1, 500)))}`,
      () => `Patient?birthdate=${pick(['2020-02-30', 'ge2019-02-29', '9999999-01-01', 'lt', 'eq2020-13-01T25:61:61Z'])}`,
      () => `Immunization?_sort=${Array(int(10, 2000)).fill('-date').join(',')}`,
      () => `Patient?_elements=${Array(int(10, 3000)).fill('name').join(',')}`,
      () => `Immunization?_include=Immunization:patient&_include:iterate=Patient:link&_revinclude:iterate=Immunization:patient&_count=1000`,
      () => `Patient?_id=${Array(int(100, 3000)).fill('a').map((a, k) => a + k).join(',')}`,
      () => `Patient?${'%'.repeat(int(1, 3000))}=1`,
      () => `Patient?name=${'%00%EF%BF%BF%ED%A0%80'.repeat(int(1, 600))}`,
      () => `Patient?_summary=count&_total=accurate&_count=0&identifier=${'|'.repeat(int(1, 5000))}`,
      () => `_history?_count=100000&_since=${pick(['2020-02-30', 'x', '0000-01-01T00:00:00Z'])}`,
      () => `Patient?_has:Immunization:patient:_has:Immunization:patient:status=completed&_include:iterate=*&_revinclude:iterate=*`,
    ])()}`, headers: auth(pick([SYSTEM, CLINIC])) }),
    ],
    // POST _search with odd bodies
    [3, () => ({ kind: 'post-search', method: 'POST', path: pick(['/fhir/Patient/_search', '/fhir/_search']), headers: { ...auth(), 'content-type': pick(['application/x-www-form-urlencoded', 'application/json', 'text/plain', '']) }, body: pick(['42', '[1,2]', 'name=a&'.repeat(int(1, 20_000)), `name=${'a'.repeat(int(1000, 500_000))}`, '%%%', '_count=99999999']) }),
    ],
    // odd ids and paths
    [10, () => ({ kind: 'odd-id', method: pick(['GET', 'PUT', 'DELETE', 'PATCH']), path: `/fhir/${pick([
      () => `Patient/${'a'.repeat(int(65, 5000))}`,
      () => `Patient/${encodeURIComponent(pick(['..', '../../etc/passwd', '%00', 'ü', '\u0000', '$', ' ', 'a b', '😀', '__proto__', 'constructor', 'prototype']))}`,
      () => `Patient/__proto__/_history/${pick(['0', '-1', '999999999999999999999', 'abc', '1e3'])}`,
      () => `Patient/${seededPatient()}/_history/${pick(['0', '-1', '99999999999999999999', 'x'])}`,
      () => `${pick(['__proto__', 'constructor', 'Patient%2FPatient', 'patient', 'PATIENT', 'Bundle', 'AuditEvent', 'Binary'])}/1`,
      () => `Patient/${seededPatient()}/${pick(['$everything?_count=99999999', '$health-cards-issue', '$export', '$x', '_history/1/extra'])}`,
      () => `${'a/'.repeat(int(10, 2000))}`,
    ])()}`, headers: { ...auth(), ...json }, body: undefined as string | undefined }),
    ],
    // writes to seeded resources that must be refused (invalid bodies, mismatched ids, bad patches)
    [8, () => {
      const id = seededPatient();
      return pick([
        () => ({ kind: 'bad-update', method: 'PUT', path: `/fhir/Patient/${id}`, headers: { ...auth(), ...json }, body: JSON.stringify({ resourceType: 'Patient', id, birthDate: pick(['2020-02-30', '2019-02-29', '2021-13-01', '2021-00-10']) }) }),
        () => ({ kind: 'bad-update', method: 'PUT', path: `/fhir/Patient/${id}`, headers: { ...auth(), ...json }, body: `{"resourceType":"Patient","id":"${id}","gender":"male","gender":"female"}` }),
        () => ({ kind: 'bad-update', method: 'PUT', path: `/fhir/Patient/${id}`, headers: { ...auth(), ...json }, body: JSON.stringify({ resourceType: 'Patient', id: 'other', name: [{ family: 'X' }] }) }),
        () => ({ kind: 'bad-update', method: 'PUT', path: `/fhir/Patient/${id}`, headers: { ...auth(), ...json }, body: JSON.stringify({ resourceType: 'Patient', id, name: [{ family: bigString() }] }) }),
        () => ({ kind: 'bad-update', method: 'PUT', path: `/fhir/Patient/${id}`, headers: { ...auth(CLINIC), ...json }, body: JSON.stringify({ resourceType: 'Patient', id, extension: [{ url: 'http://x', valueDateTime: '2019-02-29T10:00:00Z' }] }) }),
        () => ({ kind: 'bad-patch', method: 'PATCH', path: `/fhir/Patient/${id}`, headers: { ...auth(), 'content-type': 'application/json-patch+json' }, body: JSON.stringify(pick([
          () => [{ op: 'replace', path: '/birthDate', value: '2019-02-29' }],
          () => [{ op: 'add', path: '/extension', value: [{ url: 'http://x', valueInstant: '2019-02-29T00:00:00Z' }] }],
          () => Array.from({ length: int(1000, 100_000) }, () => ({ op: 'test', path: '/id', value: id })).concat([{ op: 'replace', path: '/gender', value: 'bogus' }]),
          () => [{ op: 'replace', path: `/${'a/'.repeat(int(10, 5000))}b`, value: 1 }],
          () => [{ op: 'add', path: '/name/0/given/-', value: bigString() }],
          () => [{ op: 'add', path: '/__proto__/polluted', value: true }],
          () => [{ op: 'move', from: '/name', path: '/name/0' }],
          () => ({ op: 'replace' }),
        ])()) }),
        () => ({ kind: 'bad-delete', method: 'DELETE', path: `/fhir/Patient?${pick(['', 'bogus=1', '_id=' + id + '&zzz=1', 'name:regex=.*'])}`, headers: auth() }),
        () => ({ kind: 'bad-update', method: 'PUT', path: `/fhir/Patient?identifier=HOSTILE-${int(0, 19)}`, headers: { ...auth(), ...json }, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'X' }], birthDate: '2020-02-30' }) }),
      ])();
    }],
    // operations with hostile parameters
    [5, () => ({ kind: 'operation', method: 'POST', path: `/fhir/${pick(['Patient/$match', 'Patient/$validate', '$export', 'Patient/$merge', `Patient/${seededPatient()}/$everything`, 'CodeSystem/$lookup', 'ConceptMap/$translate'])}`, headers: { ...auth(), ...json, prefer: 'respond-async' }, body: JSON.stringify(pick([
      () => ({ resourceType: 'Parameters', parameter: Array.from({ length: int(100, 20_000) }, () => ({ name: 'resource', resource: { resourceType: 'Patient', name: [{ family: 'A' }] } })) }),
      () => ({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient', name: [{ family: 'x'.repeat(int(1000, 60_000)), given: Array(int(100, 5000)).fill('a') }], birthDate: '2020-02-30' } }] }),
      () => ({ resourceType: 'Parameters', parameter: [{ name: '_typeFilter', valueString: `Patient?${'name=a&'.repeat(int(100, 5000))}` }] }),
      () => ({ resourceType: 'Parameters', parameter: [{ name: 'source-patient', valueReference: { reference: `Patient/${seededPatient()}` } }, { name: 'target-patient', valueReference: { reference: 'Patient/' + 'z'.repeat(70) } }] }),
      () => ({ resourceType: 'Parameters', parameter: [{ name: 'code', valueCode: 'x'.repeat(int(1000, 100_000)) }, { name: 'system', valueUri: 'http://hl7.org/fhir/sid/cvx' }] }),
      () => 42,
    ])()) }),
    ],
    // tokens and headers
    [8, () => pick([
      () => ({ kind: 'bad-token', method: 'GET', path: `/fhir/Patient/${seededPatient()}`, headers: { authorization: pick(['Bearer', 'Bearer ', 'Basic YTpi', `Bearer ${'a'.repeat(int(100, 8000))}`, `Bearer ${jwt.sign({ scope: 'system/*.cruds' }, 'wrong', { algorithm: 'HS256' })}`, `Bearer eyJhbGciOiJub25lIn0.${Buffer.from('{"scope":"system/*.cruds","exp":9999999999}').toString('base64url')}.`, `Bearer ${'x.'.repeat(3000)}`]) } }),
      () => ({ kind: 'huge-header', method: 'GET', path: '/fhir/Patient', headers: { ...auth(), 'x-filler': 'a'.repeat(int(17_000, 60_000)) } }),
      () => ({ kind: 'many-headers', method: 'GET', path: '/fhir/Patient', headers: Object.fromEntries([...Array(int(100, 3000)).keys()].map((k) => [`x-h${k}`, 'v']).concat([['authorization', `Bearer ${SYSTEM}`]])) }),
      () => ({ kind: 'odd-headers', method: 'PUT', path: `/fhir/Patient/${seededPatient()}`, headers: { ...auth(), ...json, 'if-match': pick(['W/"abc"', 'W/"99999999999999999999"', '*'.repeat(5000)]), prefer: 'return=' + 'x'.repeat(5000), 'if-none-exist': 'identifier=' + '|'.repeat(5000) }, body: '{"resourceType":"Patient","birthDate":"2020-02-30"}' }),
      () => ({ kind: 'odd-headers', method: 'GET', path: '/fhir/Patient', headers: { ...auth(), accept: pick(['application/xml', 'x'.repeat(8000), '*/*;q=0']), 'if-modified-since': 'garbage' } }),
    ])(),
    ],
    // broken HTTP straight on the socket
    [2, () => ({ kind: 'broken-http', method: 'RAW', path: '', rawSocket: Buffer.from(pick([
      'GARBAGE\r\n\r\n',
      'GET /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      `GET /fhir/Patient?${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'GET / HTTP/9.9\r\n\r\n',
      'POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n',
    ]), 'latin1') }),
    ],
  ];
  // HOSTILE_KINDS=big-string,bundle keeps only those kinds (to find which input costs what).
  const only = process.env.HOSTILE_KINDS?.split(',').filter(Boolean);
  if (only) {
    const kept = makers.filter(([, make]) => {
      for (let i = 0; i < 20; i++) if (only.includes(make().kind)) return true;
      return false;
    });
    makers.splice(0, makers.length, ...kept);
  }
  const weights = makers.reduce((sum, [w]) => sum + w, 0);
  return () => {
    let r = random() * weights;
    for (const [w, make] of makers) {
      r -= w;
      if (r < 0) return make();
    }
    return makers[0][1]();
  };
}

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

function peakRssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}



function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
