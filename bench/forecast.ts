// npm run bench:forecast: the CDC CDSi engine's speed.
// 1. In process: forecasts per second and CPU per forecast for a child with 20 doses and an adult
//    with 40 (every vaccine group evaluated and forecast each time).
// 2. Over loopback HTTP: p50/p99 latency and CPU per request of GET /fhir/Patient/{id}/$immds-forecast
//    on a seeded embedded-store registry (server in this process; BENCH_SCALE scales the registry and
//    requests). BENCH_DATA_DIR=<a COPY of a seeded data dir> measures there instead of seeding
//    (e.g. `cp -a /work/data/full /tmp/x && BENCH_DATA_DIR=/tmp/x npm run bench:forecast`; the
//    server may write to it). BENCH_ONLY=http skips part 1, BENCH_ONLY=inproc part 2.
// Part 1 also runs 3,000 generated patients (src/forecast/golden-population.ts: children and adults
// with schedule-like histories and conditions) and reports the GC time the forecasts caused.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import inspector from 'node:inspector/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Immunization } from '@medplum/fhirtypes';
import { PerformanceObserver } from 'node:perf_hooks';
import jwt from 'jsonwebtoken';
import { generatedInputs } from '../src/forecast/golden-population.js';
import { defaultSupportingData, forecastFromFhir } from '../src/forecast/index.js';
import { startServer } from '../src/server.js';

const SCALE = Number(process.env.BENCH_SCALE ?? '1');

function dose(id: string, cvx: string, date: string): Immunization {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    patient: { reference: 'Patient/bench' },
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
    occurrenceDateTime: date,
  };
}

function addDays(iso: string, days: number): string {
  return new Date(Date.parse(iso) + days * 86_400_000).toISOString().slice(0, 10);
}

/** A routine childhood record: DTaP x5, IPV x4, Hib x4, PCV x4, HepB x3 = 20 doses. */
function childDoses(birth: string): Immunization[] {
  const plan: [string, number[]][] = [
    ['20', [61, 122, 183, 457, 1461]],
    ['10', [61, 122, 183, 1461]],
    ['49', [61, 122, 365, 457]],
    ['133', [61, 122, 183, 395]],
    ['08', [1, 61, 183]],
  ];
  return plan.flatMap(([cvx, days]) => days.map((d, i) => dose(`${cvx}-${i}`, cvx, addDays(birth, d))));
}

/** An adult: the childhood 20 plus MMR x2, VAR x2, HepA x2, HPV x3, MenACWY x2, Tdap, Td x2, flu x6 = 40. */
function adultDoses(birth: string): Immunization[] {
  const extra: [string, number[]][] = [
    ['03', [366, 1500]],
    ['21', [366, 1500]],
    ['83', [366, 600]],
    ['165', [4100, 4300, 4500]],
    ['114', [4100, 5900]],
    ['115', [4100]],
    ['113', [7800, 11450]],
    ['141', [9000, 9365, 9730, 10095, 10460, 10825]],
  ];
  return [...childDoses(birth), ...extra.flatMap(([cvx, days]) => days.map((d, i) => dose(`${cvx}-x${i}`, cvx, addDays(birth, d))))];
}

/** Total duration (ms) of the garbage collections while `run` runs (observer entries arrive asynchronously). */
async function gcDuringMs(run: () => void): Promise<number> {
  let total = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) total += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  run();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return total;
}

async function benchInProcess(label: string, birth: string, assessmentDate: string, immunizations: Immunization[], iterations: number): Promise<string> {
  const input = { assessmentDate, patient: { resourceType: 'Patient' as const, id: 'bench', birthDate: birth, gender: 'female' as const }, immunizations };
  for (let i = 0; i < Math.min(200, iterations); i++) forecastFromFhir(input); // warm up (JIT)
  const latencies: number[] = [];
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  const gcMs = await gcDuringMs(() => {
    for (let i = 0; i < iterations; i++) {
      const t = performance.now();
      forecastFromFhir(input);
      latencies.push(performance.now() - t);
    }
  });
  const wall = (performance.now() - wallStart - 50) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMsPer = (cpu.user + cpu.system) / 1000 / iterations;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  return `${label} (${immunizations.length} doses): ${Math.round(iterations / wall)} forecasts/s on one core, CPU ${cpuMsPer.toFixed(2)} ms per forecast, p99 ${p99.toFixed(2)} ms, GC ${(gcMs / iterations).toFixed(3)} ms per forecast`;
}

/** The generated population of the golden-output check, each patient forecast once per round. */
async function benchPopulation(patients: number, rounds: number): Promise<string> {
  const inputs = generatedInputs(defaultSupportingData(), patients).map((g) => g.input);
  for (const input of inputs.slice(0, 500)) forecastFromFhir(input); // warm up (JIT)
  const doses = inputs.reduce((n, i) => n + i.immunizations.length, 0);
  const cpuStart = process.cpuUsage();
  const gcMs = await gcDuringMs(() => {
    for (let r = 0; r < rounds; r++) for (const input of inputs) forecastFromFhir(input);
  });
  const cpu = process.cpuUsage(cpuStart);
  const forecasts = patients * rounds;
  return `generated population (${patients} patients, ${(doses / patients).toFixed(1)} doses on average, ${rounds} rounds): CPU ${((cpu.user + cpu.system) / 1000 / forecasts).toFixed(2)} ms per forecast, GC ${(gcMs / forecasts).toFixed(3)} ms per forecast`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
    srv.on('error', reject);
  });
}

async function benchHttp(): Promise<string[]> {
  const givenDataDir = process.env.BENCH_DATA_DIR;
  const dataDir = givenDataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'iis-bench-forecast-')));
  const secret = 'bench-forecast-secret';
  const port = await freePort();
  const server = await startServer({
    port,
    publicBaseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    bodyLimitBytes: 16 * 1024 * 1024,
    logLevel: 'silent',
    authJwtSecret: secret,
  } as Parameters<typeof startServer>[0]);
  const token = jwt.sign({ scope: 'system/*.cruds', sub: 'bench' }, secret, { algorithm: 'HS256', expiresIn: 3600 });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' };
  try {
    const patients = givenDataDir ? 0 : Math.max(20, Math.round(300 * SCALE));
    const ids: string[] = givenDataDir ? await patientsWithDoses(server.baseUrl, headers, Math.max(50, Math.round(500 * SCALE))) : [];
    for (let p = 0; p < patients; p += 10) {
      // One transaction per 10 children, each with 20 doses.
      const entry = [];
      for (let k = 0; k < 10 && p + k < patients; k++) {
        const birth = addDays('2019-01-01', (p + k) % 700);
        const fullUrl = `urn:uuid:${crypto.randomUUID()}`;
        entry.push({
          fullUrl,
          resource: { resourceType: 'Patient', name: [{ family: `Bench${p + k}`, given: ['Kid'] }], gender: 'female', birthDate: birth },
          request: { method: 'POST', url: 'Patient' },
        });
        for (const imm of childDoses(birth)) {
          const { id: _id, ...body } = imm;
          entry.push({ resource: { ...body, patient: { reference: fullUrl }, primarySource: false }, request: { method: 'POST', url: 'Immunization' } });
        }
      }
      const res = await fetch(`${server.baseUrl}`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) });
      const bundle = (await res.json()) as { entry?: { response: { status: string; location?: string } }[] };
      if (!res.ok || !bundle.entry) throw new Error(`seeding answered ${res.status}: ${JSON.stringify(bundle).slice(0, 300)}`);
      for (const e of bundle.entry) {
        const m = /(?:^|\/)Patient\/([^/]+)/.exec(e.response.location ?? '');
        if (m && e.response.status.startsWith('201')) ids.push(m[1]!);
      }
    }
    const requests = Math.max(50, Math.round(1000 * SCALE));
    // A clinic user: organization-scoped, so data sharing filters every read (the usual caller).
    const clinicToken = jwt.sign({ scope: 'user/*.rs', sub: 'bench-clinic', organization: 'Organization/bench-clinic' }, secret, { algorithm: 'HS256', expiresIn: 3600 });
    const clinic = { authorization: `Bearer ${clinicToken}` };
    const where = (doses: number) =>
      givenDataDir ? `${givenDataDir} (${ids.length} patients with doses, ${(doses / requests).toFixed(1)} evaluated doses on average)` : `${ids.length} seeded children with 20 doses`;
    const forecastUrl = (id: string) => `${server.baseUrl}/Patient/${id}/$immds-forecast?assessmentDate=2025-11-10`;
    const lines: string[] = [];
    const first = await measure(ids, requests, forecastUrl, headers, process.env.BENCH_PROFILE);
    lines.push(`GET Patient/{id}/$immds-forecast as public health, ${where(first.doses)}, ${requests} sequential requests: ${first.summary}`);
    // Patients who do not share their data with the clinic answer 403: measure the others.
    const shared: string[] = [];
    for (const id of ids) if ((await fetch(`${server.baseUrl}/Patient/${id}`, { headers: clinic })).status === 200) shared.push(id);
    const asClinic = await measure(shared, requests, forecastUrl, clinic);
    lines.push(`GET Patient/{id}/$immds-forecast as a clinic user (data sharing applied; ${ids.length - shared.length} of ${ids.length} patients hidden): ${asClinic.summary}`);
    const read = await measure(ids, requests, (id) => `${server.baseUrl}/Patient/${id}`, headers);
    lines.push(`baseline GET Patient/{id} (same server, same patients): ${read.summary}`);
    return lines;
  } finally {
    await server.close();
    if (!givenDataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

/** Sequential GETs of url(id) over the ids after a warm-up; latency quantiles and CPU per request. */
async function measure(
  ids: string[],
  requests: number,
  url: (id: string) => string,
  headers: Record<string, string>,
  profileTo?: string,
): Promise<{ summary: string; doses: number }> {
  // Warm up the JIT, and the store's pages of these patients (a registry serves from its page
  // cache; a first read of a cold 5 GB file measures the disk instead).
  for (const id of ids) await (await fetch(url(id), { headers })).arrayBuffer();
  const latencies: number[] = [];
  let doses = 0;
  const profiler = profileTo ? await startProfile() : undefined;
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    const id = ids[i % ids.length]!;
    const t = performance.now();
    const res = await fetch(url(id), { headers });
    const answer = (await res.json()) as { parameter?: { name: string; resource?: { immunizationEvent?: { reference?: string } } }[] };
    if (res.status !== 200) throw new Error(`${url(id)} answered ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
    latencies.push(performance.now() - t);
    doses += new Set((answer.parameter ?? []).filter((p) => p.name === 'evaluation').map((p) => p.resource?.immunizationEvent?.reference)).size;
  }
  const cpu = process.cpuUsage(cpuStart);
  if (profiler) await profiler.stop(profileTo!);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.floor(latencies.length * q)]!.toFixed(1);
  const cpuMs = ((cpu.user + cpu.system) / 1000 / requests).toFixed(2);
  return {
    summary: `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms; CPU (server and client, one process) ${cpuMs} ms per request`,
    doses,
  };
}

/** BENCH_PROFILE=<file.cpuprofile>: a CPU profile of the measured requests only (not seeding). */
async function startProfile(): Promise<{ stop: (file: string) => Promise<void> }> {
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    stop: async (file) => {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** Patients of a seeded registry that have doses: the patients of the first Immunizations. */
async function patientsWithDoses(baseUrl: string, headers: Record<string, string>, count: number): Promise<string[]> {
  const ids = new Set<string>();
  let url: string | undefined = `${baseUrl}/Immunization?_count=1000&_elements=patient`;
  while (url && ids.size < count) {
    const res = await fetch(url, { headers });
    const bundle = (await res.json()) as { entry?: { resource?: { patient?: { reference?: string } } }[]; link?: { relation: string; url: string }[] };
    if (!res.ok) throw new Error(`Immunization search answered ${res.status}`);
    for (const e of bundle.entry ?? []) {
      const m = /Patient\/([^/]+)$/.exec(e.resource?.patient?.reference ?? '');
      if (m) ids.add(m[1]!);
    }
    url = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return [...ids].slice(0, count);
}

async function main(): Promise<void> {
  const loadStart = performance.now();
  forecastFromFhir({ assessmentDate: '2025-01-01', patient: { resourceType: 'Patient', birthDate: '2020-01-01' }, immunizations: [] });
  console.log(`supporting data parsed and first forecast: ${(performance.now() - loadStart).toFixed(0)} ms`);
  const n = Math.max(200, Math.round(3000 * SCALE));
  if (process.env.BENCH_ONLY !== 'http') {
    console.log(await benchInProcess('child', '2019-03-15', '2025-11-10', childDoses('2019-03-15'), n));
    console.log(await benchInProcess('adult', '1990-03-15', '2025-11-10', adultDoses('1990-03-15'), n));
    console.log(await benchPopulation(Math.max(300, Math.round(3000 * SCALE)), 2));
  }
  if (process.env.BENCH_ONLY !== 'inproc') for (const line of await benchHttp()) console.log(line);
}

await main();
