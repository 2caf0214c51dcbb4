// npm run bench:hl7v2: VXU^V04 messages through the CDC SOAP service (POST /soap,
// submitSingleMessage) against a server in a child process on the embedded store, over loopback.
//   1. closed loop: BENCH_HL7_CONCURRENCY (default 16) clients as fast as they go → messages/s;
//   2. open loop: messages sent at BENCH_HL7_RATE per second (default 300) for BENCH_HL7_SECONDS
//      (default 10) → the rate achieved and p50/p99 latency at that rate (the goal: ≥ 300/s, p99 ≤ 50 ms).
// BENCH_HL7_PATH (default /soap) is the URL path posted to: `/soap?via=express` is answered by the
// express route instead of the SOAP fast lane (the same answers), for an A/B of the lane.
// BENCH_HL7_BIRTH_DAYS (default 3000): the birth-date cycle of the messages (bench/vxu-messages.ts).
// With the default, most open-loop messages meet a probable match and no closed-loop one does; a
// cycle longer than the run gives both loops the same work per message.
// With BENCH_SERVER_NODE_ARGS="--cpu-prof ..." each loop's window on the monotonic clock is printed,
// for bench/profile-window.ts (--window, or --diff of the two loops in one profile).
// BENCH_SERVER_NODE_ARGS="--require ./bench/heap-sampler.cjs" HEAP_SAMPLER_OUT=PREFIX samples what the
// server allocates during the open loop (PREFIX.1.json; `npx tsx bench/heap-window.ts PREFIX.1.json N`).
// BENCH_HL7_TRACE=FILE ends the run with the breakdown of the open loop's slowest 1 % against its
// middle (bench/latency-breakdown.ts), from the server's LATENCY_TRACE recorder (src/latency-trace.ts).
// Both run after a warm-up of BENCH_HL7_WARMUP messages (default 2,000, whatever BENCH_SCALE): the
// figures are a running server's, not its first seconds'. With a few hundred messages of warm-up,
// V8 was still optimising the request path during the timed loops: its compiler threads took
// ~2 ms of CPU per message after 400 messages (perf, all threads), ~0.4 ms after 2,500.
// Each message is a new child with one dose, or (one in five) a further dose for a child already sent,
// so matching, the data-quality rules, the transaction and the audit trail all run as in production.
// The client is kept lean on purpose, since it shares the machine's cores with the server: every
// SOAP envelope is built before the clock starts, requests go over a keep-alive node:http agent
// (cheaper than fetch), and a reply is checked with a regular expression for its MSA-1 (a full
// XML parse of one reply is done at start, to check the envelope's shape). A real pharmacy's
// load is the server's problem, not the client's; the client's CPU per message is printed too.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { cpuPer, cpuSnapshot } from './cpu.js';
import { breakdown, type ClientRequest } from './latency-breakdown.js';
import { serverEntry } from './server-entry.js';
import { waitReady } from './wait-ready.js';
import { envelope, nextMessage, SECRET, soapAgent } from './vxu-messages.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SCALE = Number(process.env.BENCH_SCALE ?? '1');
const CONCURRENCY = Number(process.env.BENCH_HL7_CONCURRENCY ?? '16');
const RATE = Number(process.env.BENCH_HL7_RATE ?? '300');
const SECONDS = Number(process.env.BENCH_HL7_SECONDS ?? '10') * SCALE;
const WARM_UP = Math.max(2, Number(process.env.BENCH_HL7_WARMUP ?? '2000'));
// BENCH_HL7_TRACE=FILE: the server records where each request's time goes (LATENCY_TRACE, see
// src/latency-trace.ts) and the run ends with the breakdown of the open loop's slowest 1 %
// (bench/latency-breakdown.ts); FILE keeps the server's trace, FILE.client.json the client's side.
const TRACE = process.env.BENCH_HL7_TRACE;
const parser = new XMLParser({ removeNSPrefix: true, htmlEntities: true, parseTagValue: false });

/** Envelopes built ahead of the timed loops (see the header). */
const prepared: Buffer[] = [];
function prepare(count: number): void {
  for (let i = 0; i < count; i++) prepared.push(Buffer.from(envelope(nextMessage()), 'utf8'));
}

const agent = soapAgent(1024);

function post(url: URL, body: Buffer, requestId?: string): Promise<{ status: number; text: string }> {
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/soap+xml; charset=utf-8', 'content-length': body.length };
  if (requestId) headers['x-request-id'] = requestId;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      }
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The SOAP reply's ACK, read with the XML parser (once, to check the reply's shape). */
function ackOf(text: string): string {
  return String((parser.parse(text) as { Envelope: { Body: { submitSingleMessageResponse: { return: string } } } }).Envelope.Body.submitSingleMessageResponse.return);
}

async function submit(url: URL, parse = false, requestId?: string): Promise<string> {
  const body = prepared.pop();
  if (!body) throw new Error('no prepared message left');
  const { status, text } = await post(url, body, requestId);
  if (status !== 200) throw new Error(`HTTP ${status}: ${text.slice(0, 300)}`);
  const code = /MSA\|(A[AER])\|/.exec(parse ? ackOf(text) : text)?.[1];
  if (code !== 'AA' && code !== 'AE') throw new Error(`not accepted: ${text.slice(0, 2000).replace(/&#13;/g, '\n')}`);
  return code;
}

function clientCpuPer(since: NodeJS.CpuUsage, operations: number): string {
  const used = process.cpuUsage(since);
  return `${Math.round((used.user + used.system) / operations).toLocaleString('en-US')} µs CPU per message`;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function closedLoop(url: URL, total: number, concurrency: number) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        const t = performance.now();
        await submit(url);
        latencies.push(performance.now() - t);
      }
    })
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { rate: total / seconds, p50: pct(latencies, 50), p99: pct(latencies, 99) };
}

/** Sends at a fixed rate regardless of answers (an open loop: queueing shows up as latency). */
async function openLoop(url: URL, rate: number, seconds: number) {
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  const started = performance.now();
  const inFlight: Array<Promise<void>> = [];
  // An open loop past the server's capacity ends in refused or timed-out connections: count them
  // (they are the figure) rather than abort the run.
  let failed = 0;
  // Why the first few failed (a refused connection, a timeout, or an answer other than AA/AE), so a
  // failure is explained rather than only counted.
  const reasons: string[] = [];
  // With BENCH_HL7_TRACE: each request's id, send time (epoch ms) and latency, for the breakdown.
  const traced: ClientRequest[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t = performance.now();
    const id = TRACE ? `open-${i}` : undefined;
    inFlight.push(
      submit(url, false, id).then(
        () => {
          const ms = performance.now() - t;
          latencies.push(ms);
          if (id) traced.push({ id, sent: performance.timeOrigin + t, ms });
        },
        (err: unknown) => {
          failed += 1;
          if (reasons.length < 3) reasons.push(err instanceof Error ? err.message : String(err));
        }
      )
    );
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { traced, sent: total, failed, reasons, rate: latencies.length / elapsed, p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies[latencies.length - 1] };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-hl7-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...serverEntry()], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', ...(TRACE ? { LATENCY_TRACE: path.resolve(TRACE) } : {}) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = new URL(`http://127.0.0.1:${port}${process.env.BENCH_HL7_PATH ?? '/soap'}`);
  let traced: ClientRequest[] = [];
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`, { child }); // a server that could not start (a port taken) fails the run at once
    const warmUp = WARM_UP;
    const closedCount = Math.round(3000 * SCALE);
    const openCount = Math.round(RATE * SECONDS);
    // Built in reverse sending order (submit pops): warm-up first, then closed, then open loop.
    prepare(warmUp + closedCount + openCount);
    prepared.reverse();
    await submit(url, true); // one reply read as XML: the envelope's shape is what the regex assumes
    const pid = child.pid as number;
    const warmCpu = await cpuSnapshot(pid);
    const warm = await closedLoop(url, warmUp - 1, 8); // warm-up: JIT, code sets, rules (see the header)
    console.log(
      `warm-up (not in the figures below): ${(warmUp - 1).toLocaleString('en-US')} messages, 8 concurrent: ${warm.rate.toFixed(0)} messages/s, p99 ${warm.p99.toFixed(1)} ms, ${await cpuPer(pid, warmCpu, warmUp - 1, 'message')}`
    );
    console.log(`after ${warmUp.toLocaleString('en-US')} warm-up messages; load average (1/5/15 min) at the start: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
    const profiled = nodeArgs.some((a) => a.startsWith('--cpu-prof'));
    const monotonicUs = () => process.hrtime.bigint() / 1000n;
    let cpu = await cpuSnapshot(pid);
    let client = process.cpuUsage();
    let windowStart = monotonicUs();
    const closed = await closedLoop(url, closedCount, CONCURRENCY);
    if (profiled) console.log(`closed loop profile window (monotonic µs, for bench/profile-window.ts --window): ${windowStart} ${monotonicUs()}`);
    const closedCpu = await cpuPer(pid, cpu, closedCount, 'message');
    console.log(
      `VXU via SOAP, closed loop (${CONCURRENCY} concurrent): ${closed.rate.toFixed(0)} messages/s, p50 ${closed.p50.toFixed(1)} ms, p99 ${closed.p99.toFixed(1)} ms, ${closedCpu}; client ${clientCpuPer(client, closedCount)}`
    );
    cpu = await cpuSnapshot(pid);
    client = process.cpuUsage();
    windowStart = monotonicUs();
    if (process.env.HEAP_SAMPLER_OUT) child.kill('SIGUSR2'); // bench/heap-sampler.cjs: start sampling
    const open = await openLoop(url, RATE, SECONDS);
    traced = open.traced;
    if (process.env.HEAP_SAMPLER_OUT) child.kill('SIGUSR2'); // … stop, and write HEAP_SAMPLER_OUT.1.json
    if (profiled) console.log(`open loop profile window (monotonic µs): ${windowStart} ${monotonicUs()}`);
    const openCpu = await cpuPer(pid, cpu, open.sent, 'message');
    console.log(
      `VXU via SOAP, open loop at ${RATE}/s for ${SECONDS}s: ${open.sent} sent, ${open.failed} failed (connection refused/timed out or not accepted), ${open.rate.toFixed(0)} messages/s achieved, p50 ${open.p50.toFixed(1)} ms, p99 ${open.p99.toFixed(1)} ms, max ${open.max.toFixed(1)} ms, ${openCpu}; client ${clientCpuPer(client, open.sent)}`
    );
    console.log(`load average (1/5/15 min) at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} on ${os.availableParallelism()} cores (figures taken under load are not the idle ones)`);
    for (const reason of open.reasons) console.log(`  a failed message: ${reason.slice(0, 600)}`);
    console.log(`goal (≥ 300/s, p99 ≤ 50 ms at 300/s): ${closed.rate >= 300 && open.failed === 0 && open.rate >= RATE * 0.97 && open.p99 <= 50 ? 'met' : 'NOT met'}`);
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
  if (TRACE) {
    // The server wrote its trace as it exited (above).
    await writeFile(`${path.resolve(TRACE)}.client.json`, JSON.stringify(traced));
    console.log(breakdown(JSON.parse(await readFile(path.resolve(TRACE), 'utf8')), traced));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
