// npm run bench:transaction-ab: an A/B of two compiled servers (two dist/ directories, e.g. this
// worktree's and one of another commit built in its own worktree) for the same 100-Immunization
// transaction Bundles, BOTH IN THIS PROCESS, in alternated rounds. Separate `bench/run.ts` runs of
// one build differ by 15 % and more in CPU per Immunization on the shared machine (measured: the same
// build twice in adjacent minutes, 226 vs 266 and 346 vs 299 µs on the request thread); here both
// servers share one process, one heap and the same seconds, so the per-round pairs show small
// effects. CPU per Immunization is the process's (both servers' threads and this client, whose
// share is the same for both) and the main thread's (request thread and client, from /proc, 10 ms
// ticks). Each server writes into its own new data directory (or BENCH_AB_DATA's two copies of a
// registry) after 200 Patient creates.
//   BENCH_AB_DISTS    two dist directories, comma-separated (A, then B; default this worktree's twice)
//   BENCH_AB_DATA     two data directories, comma-separated (written to; default new temp dirs, removed)
//   BENCH_AB_ROUNDS   rounds (default 12); BENCH_AB_BUNDLES Bundles per server per round (20)
//   BENCH_AB_WARMUP   Bundles per server before the rounds (default 60)
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import jwt from 'jsonwebtoken';
import { benchImmunization } from './ingest-data.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECRET = 'bench-ab-secret';
const DISTS = (process.env.BENCH_AB_DISTS ?? `${path.join(ROOT, 'dist')},${path.join(ROOT, 'dist')}`).split(',');
const DATA = process.env.BENCH_AB_DATA?.split(',');
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? '12');
const BUNDLES = Number(process.env.BENCH_AB_BUNDLES ?? '20');
const WARM_UP = Number(process.env.BENCH_AB_WARMUP ?? '60');
const CONCURRENCY = 2;
const TOKEN = jwt.sign({ scope: 'system/*.cruds' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json' };

interface Side {
  name: string;
  base: string;
  patientIds: string[];
  close: () => Promise<void>;
}

/** CPU ticks (10 ms) of this process's main thread, from /proc. */
function mainThreadTicks(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function start(name: string, dist: string, dataDir: string): Promise<Side> {
  const { startServer } = (await import(pathToFileURL(path.join(dist, 'server.js')).href)) as typeof import('../src/server.js');
  const server = await startServer({ port: 0, publicBaseUrl: 'http://127.0.0.1:0', dataDir, bodyLimitBytes: 8 << 20, logLevel: 'warn', authJwtSecret: SECRET });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const base = `http://127.0.0.1:${port}/fhir`;
  const patientIds: string[] = [];
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${base}/Patient`, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({
        resourceType: 'Patient',
        identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: `ab-${name}-${i}-${Date.now()}` }],
        name: [{ family: ['Smith', 'García', 'Nguyen', 'Okafor'][i % 4], given: [['Ava', 'Liam', 'Noah'][i % 3]] }],
        gender: i % 2 ? 'female' : 'male',
        birthDate: `20${10 + (i % 14)}-0${1 + (i % 9)}-1${i % 9}`,
      }),
    });
    if (res.status !== 201) throw new Error(`${name}: Patient create answered ${res.status}: ${await res.text()}`);
    patientIds.push(((await res.json()) as { id: string }).id);
  }
  return { name, base, patientIds, close: () => server.close() };
}

async function postBundles(side: Side, count: number): Promise<void> {
  let left = count;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left > 0) {
        left--;
        const bundle = {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: Array.from({ length: 100 }, () => ({ resource: benchImmunization(side.patientIds), request: { method: 'POST', url: 'Immunization' } })),
        };
        const res = await fetch(side.base, { method: 'POST', headers: HEADERS, body: JSON.stringify(bundle) });
        const body = (await res.json()) as { entry?: Array<{ response: { status: string } }> };
        if (res.status !== 200 || !body.entry?.every((e) => e.response.status.startsWith('201'))) {
          throw new Error(`${side.name}: transaction answered ${res.status}: ${JSON.stringify(body).slice(0, 400)}`);
        }
      }
    })
  );
}

async function round(side: Side): Promise<{ process: number; main: number }> {
  const immunizations = BUNDLES * 100;
  const cpu = process.cpuUsage();
  const ticks = mainThreadTicks();
  await postBundles(side, BUNDLES);
  const used = process.cpuUsage(cpu);
  return { process: (used.user + used.system) / immunizations, main: ((mainThreadTicks() - ticks) * 10_000) / immunizations };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

async function main(): Promise<void> {
  const made: string[] = [];
  const dataDirs = DATA ?? [];
  if (!DATA) for (let i = 0; i < 2; i++) made.push(await mkdtemp(path.join(os.tmpdir(), 'iis-bench-tx-ab-')));
  const sides: Side[] = [];
  try {
    sides.push(await start('A', DISTS[0], DATA ? dataDirs[0] : made[0]));
    sides.push(await start('B', DISTS[1], DATA ? dataDirs[1] : made[1]));
    const [a, b] = sides;
    for (let i = 0; i < WARM_UP; i += 10) for (const side of sides) await postBundles(side, Math.min(10, WARM_UP - i));
    console.log(
      `load average at the start: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}; A = ${DISTS[0]}, B = ${DISTS[1]}; ` +
        `${ROUNDS} rounds of ${BUNDLES} Bundles (100 Immunizations each) per server, ${CONCURRENCY} concurrent`
    );
    const pairs: Array<{ a: { process: number; main: number }; b: { process: number; main: number } }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which server goes first, so neither always meets the other's garbage.
      const first = r % 2 === 0 ? a : b;
      const x = await round(first);
      const y = await round(first === a ? b : a);
      const pair = first === a ? { a: x, b: y } : { a: y, b: x };
      pairs.push(pair);
      console.log(`round ${r + 1}: A ${pair.a.process.toFixed(0)} / ${pair.a.main.toFixed(0)} µs, B ${pair.b.process.toFixed(0)} / ${pair.b.main.toFixed(0)} µs per Immunization (process / main thread)`);
    }
    for (const k of ['process', 'main'] as const) {
      const d = pairs.map((p) => p.b[k] - p.a[k]);
      console.log(
        `${k}: A median ${median(pairs.map((p) => p.a[k])).toFixed(0)} µs, B median ${median(pairs.map((p) => p.b[k])).toFixed(0)} µs; ` +
          `B − A per pair: mean ${mean(d).toFixed(0)} µs, median ${median(d).toFixed(0)} µs, B cheaper in ${d.filter((v) => v < 0).length} of ${d.length} pairs`
      );
    }
  } finally {
    for (const side of sides) await side.close();
    for (const dir of made) await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
