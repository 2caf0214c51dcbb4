// The search shapes of bench/search.ts run in process against the embedded store (search module +
// store, no HTTP, no server): what the store and its planner cost, apart from the HTTP pipeline.
// Prints the store's open time, then per shape p50 / p99 wall time and the mean CPU time per query
// (CPU time is the steadier figure on a machine shared with other work).
//   npm run bench:store-search -- --data-dir ./data-bench [--requests 200]
// The data directory must not be open in a running server (DATA_DIR is locked).
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { embeddedIndexes, embeddedUncounted } from '../src/app/open-store.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { searchBundle } from '../src/search/execute.js';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.js';

const { values } = parseArgs({
  options: { 'data-dir': { type: 'string', default: './data-bench' }, requests: { type: 'string', default: '200' } },
});
const REQUESTS = Number(values.requests);
const BASE = 'http://localhost/fhir';

async function main(): Promise<void> {
  loadDefinitions();
  const t0 = performance.now();
  const store = new EmbeddedStore({ dataDir: path.resolve(values['data-dir'] as string), indexes: embeddedIndexes(), uncounted: embeddedUncounted });
  await store.init();
  console.log(`store opened in ${(performance.now() - t0).toFixed(0)} ms; heap ${Math.round(process.memoryUsage().heapUsed / 1048576)} MB`);
  try {
    const search = (resourceType: string, query: string) =>
      searchBundle(store, { resourceType, params: [...new URLSearchParams(query)], baseUrl: BASE });
    const patients = (await search('Patient', '_count=1000')).entry?.map((e) => e.resource as Patient) ?? [];
    console.log(`data: ${await store.count('Patient', {})} Patients, ${await store.count('Immunization', {})} Immunizations`);
    const pick = (i: number) => patients[(i * 7919) % patients.length];
    const months = ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12'];
    const codes = ['08', '20', '10', '03', '21', '83', '133', '116', '141', '62'];
    const shapes: Array<[string, (i: number) => Promise<unknown>]> = [
      ["a patient's Immunizations", (i) => search('Immunization', `patient=Patient/${pick(i).id}`)],
      ['family + birthdate', (i) => search('Patient', `family=${encodeURIComponent(pick(i).name?.[0]?.family ?? '')}&birthdate=${pick(i).birthDate}`)],
      [
        'vaccine-code + date range',
        (i) => search('Immunization', `vaccine-code=http://hl7.org/fhir/sid/cvx|${codes[i % codes.length]}&date=ge2022-${months[i % 12]}-01&date=lt2022-${months[i % 12]}-08`),
      ],
      [
        'vaccine-code + date range + _include=Immunization:patient',
        (i) =>
          search('Immunization', `vaccine-code=http://hl7.org/fhir/sid/cvx|${codes[i % codes.length]}&date=ge2022-${months[i % 12]}-01&date=lt2022-${months[i % 12]}-08&_include=Immunization:patient`),
      ],
      ['Patients sorted by family, birthdate (first page)', () => search('Patient', '_sort=family,birthdate')],
    ];
    // lastScanned: candidates the store evaluated for the query's main search (the planner's work).
    const scanned = (run: (i: number) => Promise<unknown>) => async (i: number) => {
      await run(i);
      return store.lastScanned;
    };
    for (const [name, run] of shapes) report(name, await measure(REQUESTS, scanned(run)));

    // Page 51 of vaccine-code=08 by following next links, then that page again.
    let page: Bundle = await search('Immunization', 'vaccine-code=http://hl7.org/fhir/sid/cvx|08&_count=20');
    const query = (b: Bundle, rel: string) => {
      const url = b.link?.find((l) => l.relation === rel)?.url;
      return url ? new URL(url).search.slice(1) : undefined;
    };
    for (let i = 0; i < 50 && query(page, 'next'); i++) page = await search('Immunization', query(page, 'next') as string);
    const self = query(page, 'self') as string;
    report('deep page (page 51 of vaccine-code=08, 20 per page)', await measure(Math.min(REQUESTS, 50), () => search('Immunization', self)));
    report('_total=accurate over all Immunizations (_summary=count)', await measure(Math.min(REQUESTS, 20), () => search('Immunization', '_summary=count&_total=accurate')));
    report('_total=accurate of vaccine-code=08 (_summary=count)', await measure(Math.min(REQUESTS, 20), () => search('Immunization', 'vaccine-code=08&_summary=count&_total=accurate')));
    console.log(`process memory: heap ${Math.round(process.memoryUsage().heapUsed / 1048576)} MB, RSS ${Math.round(process.memoryUsage().rss / 1048576)} MB`);
  } finally {
    await store.close();
  }
}

interface Measured {
  wall: number[];
  cpuMs: number;
  /** Mean store.lastScanned of the queries (when the run returns it). */
  scanned?: number;
}

async function measure(n: number, run: (i: number) => Promise<unknown>): Promise<Measured> {
  const wall: number[] = [];
  let scanned = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const result = await run(i);
    wall.push(performance.now() - t);
    if (typeof result === 'number') scanned += result;
  }
  const c = process.cpuUsage(c0);
  return { wall: wall.sort((a, b) => a - b), cpuMs: (c.user + c.system) / 1000 / n, ...(scanned > 0 ? { scanned: scanned / n } : {}) };
}

function report(name: string, m: Measured): void {
  const pct = (p: number) => m.wall[Math.min(m.wall.length - 1, Math.floor((p / 100) * m.wall.length))];
  console.log(
    `${name.padEnd(58)} p50 ${pct(50).toFixed(1).padStart(7)} ms   p99 ${pct(99).toFixed(1).padStart(7)} ms   CPU ${m.cpuMs.toFixed(1).padStart(6)} ms/query   (n=${m.wall.length}${m.scanned !== undefined ? `, ${Math.round(m.scanned)} candidates` : ''})`
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
