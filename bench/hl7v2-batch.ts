// npm run bench:hl7v2-batch: VXU^V04 messages/s through POST /hl7v2 as one batch file of
// BENCH_BATCH_MESSAGES (default 1,000) against the same number sent one message per request — one at
// a time (what a batch did inside until session 13) and BENCH_BATCH_CONCURRENCY (default 16) at a
// time — on a server in a child process (HL7V2_BATCH_CONCURRENCY passed on: the file's messages run
// at once, src/hl7v2/batch-schedule.ts; 1 runs them one after the other as before) with an empty
// embedded store, over loopback. Each message is a new child with one dose, or one in five a
// further dose (bench/vxu-messages.ts), so matching, the rules, the transaction and the audit all run.
// After a warm-up of BENCH_BATCH_WARMUP single messages (default 1,000), BENCH_BATCH_ROUNDS rounds
// (default 2) of the three ways, their order turned each round (the store grows as they go).
// BENCH_BATCH_BESIDE=1 adds a fourth: the file while single messages are sent one at a time beside
// it (their latency meanwhile); BENCH_BATCH_ONLY_BESIDE=1 with it runs that way alone.
// No 1M data set: the store starts empty.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { cpuPer, cpuSnapshot } from './cpu.js';
import { serverEntry } from './server-entry.js';
import { nextMessage, SECRET } from './vxu-messages.js';
import { waitReady } from './wait-ready.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MESSAGES = Number(process.env.BENCH_BATCH_MESSAGES ?? '1000');
const CONCURRENCY = Number(process.env.BENCH_BATCH_CONCURRENCY ?? '16');
const WARM_UP = Number(process.env.BENCH_BATCH_WARMUP ?? '1000');
const ROUNDS = Number(process.env.BENCH_BATCH_ROUNDS ?? '2');
const TOKEN = jwt.sign({ scope: 'user/*.cruds', organization: 'Organization/bench-pharmacy' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${TOKEN}` }, body });
  return { status: res.status, text: await res.text() };
}

/** The answers in a batch answer that say AA or AE (each MSA follows its MSH, after a CR). */
function accepted(text: string): number {
  return (text.match(/\rMSA\|A[AE]\|/g) ?? []).length;
}

async function singles(url: string, messages: string[], concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < messages.length) {
        const message = messages[next++];
        const { status, text } = await post(url, message);
        if (status !== 200 || !/\rMSA\|A[AE]\|/.test(text)) throw new Error(`not accepted (HTTP ${status}): ${text.slice(0, 600)}`);
      }
    })
  );
  return (performance.now() - started) / 1000;
}

async function batch(url: string, messages: string[]): Promise<number> {
  const now = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const body = [`FHS|^~\\&|BenchRx|PHARM-BENCH|IIS|IIS|${now}||||BENCH-FILE`, `BHS|^~\\&|BenchRx|PHARM-BENCH|IIS|IIS|${now}||||BENCH-BATCH`, ...messages, `BTS|${messages.length}`, 'FTS|1'].join('\r');
  const started = performance.now();
  const { status, text } = await post(url, body);
  const seconds = (performance.now() - started) / 1000;
  if (status !== 200) throw new Error(`batch refused (HTTP ${status}): ${text.slice(0, 1000)}`);
  const answered = accepted(text);
  if (answered !== messages.length) throw new Error(`${answered} of ${messages.length} accepted: ${text.slice(0, 1000)}`);
  return seconds;
}

/**
 * The file while another sender sends single messages one at a time beside it (BENCH_BATCH_BESIDE=1):
 * the file's rate, and the single messages' count and latency meanwhile (what a file does to a
 * registry's other senders: each of its messages takes a turn at the message gate like theirs).
 */
async function batchBeside(url: string, messages: string[], take: (n: number) => string[]): Promise<{ seconds: number; note: string }> {
  let done = false;
  const latencies: number[] = [];
  const beside = (async () => {
    while (!done) {
      const [message] = take(1);
      const started = performance.now();
      const { status, text } = await post(url, message);
      if (status !== 200 || !/\rMSA\|A[AE]\|/.test(text)) throw new Error(`not accepted (HTTP ${status}): ${text.slice(0, 600)}`);
      latencies.push(performance.now() - started);
    }
  })();
  const seconds = await batch(url, messages).finally(() => (done = true));
  await beside;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(1) ?? '-';
  return { seconds, note: `; beside it ${latencies.length} single messages (their CPU is in the figures per message above), latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms` };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-hl7-batch-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, serverEntry(), {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', HL7V2_MAX_BATCH_MESSAGES: String(Math.max(MESSAGES, 1000)) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}/hl7v2`;
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`, { child });
    const pid = child.pid as number;
    const take = (n: number) => Array.from({ length: n }, () => nextMessage());
    await singles(url, take(WARM_UP), 8);
    console.log(`server: HL7V2_BATCH_CONCURRENCY ${process.env.HL7V2_BATCH_CONCURRENCY || '(default)'}`);
    console.log(`warm-up: ${WARM_UP.toLocaleString('en-US')} single messages, 8 at a time; load average (1/5/15 min) ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} on ${os.availableParallelism()} cores`);
    const ways: Array<[string, (messages: string[]) => Promise<number>]> = [
      [`one batch file of ${MESSAGES.toLocaleString('en-US')}`, (m) => batch(url, m)],
      ['single messages, 1 at a time', (m) => singles(url, m, 1)],
      [`single messages, ${CONCURRENCY} at a time`, (m) => singles(url, m, CONCURRENCY)],
    ];
    const besideWay: Array<[string, (messages: string[]) => Promise<{ seconds: number; note: string }>]> = [
      [`one batch file of ${MESSAGES.toLocaleString('en-US')}, single messages 1 at a time beside it`, (m) => batchBeside(url, m, take)],
    ];
    const timed: Array<[string, (messages: string[]) => Promise<{ seconds: number; note: string }>]> = [
      ...(process.env.BENCH_BATCH_BESIDE === '1' ? besideWay : []),
      ...(process.env.BENCH_BATCH_ONLY_BESIDE === '1' ? [] : ways.map(([name, run]): [string, (m: string[]) => Promise<{ seconds: number; note: string }>] => [name, async (m) => ({ seconds: await run(m), note: '' })])),
    ];
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? timed : [...timed].reverse();
      for (const [name, run] of order) {
        const messages = take(MESSAGES);
        const cpu = await cpuSnapshot(pid);
        const { seconds, note } = await run(messages);
        console.log(`round ${round}, ${name}: ${(MESSAGES / seconds).toFixed(0)} messages/s (${seconds.toFixed(2)} s), ${await cpuPer(pid, cpu, MESSAGES, 'message')}${note}`);
      }
    }
    console.log(`load average (1/5/15 min) at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
