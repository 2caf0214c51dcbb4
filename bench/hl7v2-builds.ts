// npm run bench:hl7v2-builds: two builds of the server (two worktrees, each with its dist/ built by
// `npm run -s prestart`) side by side, answering the same VXU^V04 SOAP messages in alternated
// rounds, so both see the same machine load; prints each server's request-thread and process CPU
// per message per round and the medians. On a shared machine a change of ~0.1 ms per VXU is lost in
// the noise of separate bench:hl7v2 runs (their CPU per message moves by 0.3–0.5 ms with what else
// runs); taken in the same seconds, the two servers' figures move together.
//   BENCH_BUILDS="/work/wt/base,/work/wt/head" (required: the trees whose dist/server.js to run)
//   BENCH_BUILDS_ROUNDS (default 8), BENCH_BUILDS_MESSAGES per round (default 300),
//   BENCH_BUILDS_CONCURRENCY (default 8), BENCH_HL7_WARMUP (default 2,000, each server).
// Both servers get the same messages in the same order (bench/vxu-messages.ts; BENCH_HL7_BIRTH_DAYS
// as in bench:hl7v2), each on its own empty embedded store; round r sends messages to A then B on
// even rounds, B then A on odd ones.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cpuSnapshot } from './cpu.js';
import { SERVER_NODE_FLAGS } from './server-entry.js';
import { waitReady } from './wait-ready.js';
import { envelope, nextMessage, SECRET, soapAgent } from './vxu-messages.js';

const BUILDS = (process.env.BENCH_BUILDS ?? '').split(',').filter(Boolean);
const ROUNDS = Number(process.env.BENCH_BUILDS_ROUNDS ?? '8');
const PER_ROUND = Number(process.env.BENCH_BUILDS_MESSAGES ?? '300');
const CONCURRENCY = Number(process.env.BENCH_BUILDS_CONCURRENCY ?? '8');
const WARM_UP = Number(process.env.BENCH_HL7_WARMUP ?? '2000');

const agent = soapAgent(256);

function post(port: number, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, path: '/soap', method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8', 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = /MSA\|(A[AER])\|/.exec(text)?.[1];
          if (res.statusCode !== 200 || (code !== 'AA' && code !== 'AE')) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 500)}`));
          else resolve(text);
        });
        res.on('error', reject);
      }
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends messages[from, to) with CONCURRENCY clients. */
async function send(port: number, messages: Buffer[], from: number, to: number): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < to) {
        const i = next;
        next += 1;
        await post(port, messages[i]);
      }
    })
  );
}

interface Server {
  tree: string;
  child: ChildProcess;
  port: number;
  dataDir: string;
  thread: number[];
  process: number[];
}

async function start(tree: string): Promise<Server> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-builds-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, 'dist/server.js'], {
    cwd: tree,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitReady(`http://127.0.0.1:${port}/readyz`, { child });
  return { tree, child, port, dataDir, thread: [], process: [] };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  if (BUILDS.length !== 2) throw new Error('BENCH_BUILDS must name two trees, comma-separated');
  const messages = Array.from({ length: WARM_UP + ROUNDS * PER_ROUND }, () => Buffer.from(envelope(nextMessage()), 'utf8'));
  const servers: Server[] = [];
  try {
    for (const tree of BUILDS) servers.push(await start(tree));
    console.log(`load average at the start: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
    for (const s of servers) await send(s.port, messages, 0, WARM_UP);
    for (let r = 0; r < ROUNDS; r++) {
      const from = WARM_UP + r * PER_ROUND;
      for (const s of r % 2 === 0 ? servers : [...servers].reverse()) {
        const before = await cpuSnapshot(s.child.pid as number);
        await send(s.port, messages, from, from + PER_ROUND);
        const after = await cpuSnapshot(s.child.pid as number);
        s.thread.push((after.requestThread - before.requestThread) / PER_ROUND);
        s.process.push((after.process - before.process) / PER_ROUND);
      }
      console.log(`round ${r + 1}: ${servers.map((s) => `${path.basename(s.tree)} ${Math.round(s.thread[r])} / ${Math.round(s.process[r])} µs`).join(', ')} (request thread / process per message)`);
    }
    const [a, b] = servers;
    const diffs = a.thread.map((t, i) => b.thread[i] - t);
    console.log(
      `medians: ${servers.map((s) => `${path.basename(s.tree)} ${Math.round(median(s.thread))} / ${Math.round(median(s.process))} µs`).join(', ')}; ` +
        `${path.basename(b.tree)} − ${path.basename(a.tree)} per round (request thread): median ${Math.round(median(diffs))} µs, lower in ${diffs.filter((d) => d < 0).length} of ${diffs.length}`
    );
    console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} on ${os.availableParallelism()} cores`);
  } finally {
    agent.destroy();
    for (const s of servers) {
      s.child.kill('SIGTERM');
      await new Promise((r) => s.child.once('exit', r));
      await rm(s.dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
