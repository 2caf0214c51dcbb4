// npm run bench:hl7v2-ab: an A/B of two URL paths for the same VXU^V04 SOAP messages on ONE compiled
// server in this process (dist/, built when stale), in alternated rounds: by default `/soap` (the
// fast lane) against `/soap?via=express` (the express route; the same answers). Separate bench runs
// differ by more than a few hundred µs per message on the shared machine (each server has its own
// JIT and heap history, and the load moves between runs); here both paths share one server, one
// heap and the same minutes, so the per-round pairs show small effects. CPU per message is the
// process's (server and this client together, the client's share the same for both paths) and
// the main thread's (server request thread and client, from /proc, 10 ms ticks).
//   BENCH_AB_PATHS   two paths, comma-separated (default `/soap?via=express,/soap`: A, then B)
//   BENCH_AB_ROUNDS  rounds (default 12); BENCH_AB_MESSAGES messages per path per round (300)
//   BENCH_AB_WARMUP  messages per path before the rounds (default 1,600)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envelope, nextMessage, SECRET, soapAgent } from './vxu-messages.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const [PATH_A, PATH_B] = (process.env.BENCH_AB_PATHS ?? '/soap?via=express,/soap').split(',');
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? '12');
const MESSAGES = Number(process.env.BENCH_AB_MESSAGES ?? '300');
const WARM_UP = Number(process.env.BENCH_AB_WARMUP ?? '1600');
const CONCURRENCY = 8;

const agent = soapAgent(CONCURRENCY * 2);

function post(port: number, urlPath: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/soap+xml; charset=utf-8', 'content-length': body.length };
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: 'POST', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (/MSA\|A[AE]/.test(text)) resolve();
        else reject(new Error(`not accepted: ${text.slice(0, 400)}`));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** CPU ticks (10 ms) of this process's main thread, from /proc. */
function mainThreadTicks(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function round(port: number, urlPath: string, count: number): Promise<{ process: number; main: number }> {
  const queue = Array.from({ length: count }, () => Buffer.from(envelope(nextMessage()), 'utf8'));
  const cpu = process.cpuUsage();
  const ticks = mainThreadTicks();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let body = queue.pop(); body; body = queue.pop()) await post(port, urlPath, body);
    })
  );
  const used = process.cpuUsage(cpu);
  return { process: (used.user + used.system) / count, main: ((mainThreadTicks() - ticks) * 10_000) / count };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  execFileSync(process.execPath, ['scripts/build-server.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  const { startServer } = (await import(pathToFileURL(path.join(ROOT, 'dist/server.js')).href)) as typeof import('../src/server.js');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-hl7-ab-'));
  const server = await startServer({ port: 0, publicBaseUrl: 'http://127.0.0.1:0', dataDir, bodyLimitBytes: 1 << 20, logLevel: 'warn', authJwtSecret: SECRET });
  try {
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    for (const urlPath of [PATH_A, PATH_B]) await round(port, urlPath, WARM_UP);
    console.log(`load average at the start: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}; A = ${PATH_A}, B = ${PATH_B}; ${ROUNDS} rounds of ${MESSAGES} messages per path, ${CONCURRENCY} concurrent`);
    const pairs: Array<{ a: { process: number; main: number }; b: { process: number; main: number } }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which path goes first, so neither always meets the other's garbage.
      const first = r % 2 === 0 ? PATH_A : PATH_B;
      const x = await round(port, first, MESSAGES);
      const y = await round(port, first === PATH_A ? PATH_B : PATH_A, MESSAGES);
      const pair = first === PATH_A ? { a: x, b: y } : { a: y, b: x };
      pairs.push(pair);
      console.log(`round ${r + 1}: A ${pair.a.process.toFixed(0)} / ${pair.a.main.toFixed(0)} µs, B ${pair.b.process.toFixed(0)} / ${pair.b.main.toFixed(0)} µs per message (process / main thread)`);
    }
    const diff = (k: 'process' | 'main') => pairs.map((p) => p.b[k] - p.a[k]);
    const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
    for (const k of ['process', 'main'] as const) {
      const d = diff(k);
      console.log(
        `${k}: A median ${median(pairs.map((p) => p.a[k])).toFixed(0)} µs, B median ${median(pairs.map((p) => p.b[k])).toFixed(0)} µs; B − A per pair: mean ${mean(d).toFixed(0)} µs, B cheaper in ${d.filter((v) => v < 0).length} of ${d.length} pairs`
      );
    }
  } finally {
    agent.destroy();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
