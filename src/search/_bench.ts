import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { MongoStore } from '../store/mongo/mongo-store.js';
import type { Store } from '../store/store.js';
import { searchBundle } from './execute.js';
import { extractSearchIndex } from './extract.js';
import { EMBEDDED_INDEXES, MONGO_INDEXES } from './indexes.js';
import { parseSearch } from './parse.js';
import { compileCriteria } from './compile.js';
import { TestStore } from './test-store.js';

const NP = Number(process.env.NP ?? 5000), NI = NP * 3;
const fam = ['Smith', 'Jones', 'García', 'Nguyễn', 'Müller', "O'Brien", 'Lee', 'Brown'];
const given = ['José', 'Anna', 'Zoë', 'Liam', 'Noah', 'Emma'];
function patient(i: number): Resource {
  return { resourceType: 'Patient', id: `p${i}`, name: [{ family: fam[i % 8] + (i % 97), given: [given[i % 6]] }], gender: i % 2 ? 'male' : 'female',
    birthDate: `20${String(10 + (i % 14)).padStart(2, '0')}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`,
    identifier: [{ system: 'urn:mrn', value: `MRN${i}` }] } as Resource;
}
function imm(i: number): Resource {
  return { resourceType: 'Immunization', id: `i${i}`, status: 'completed', vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: String(i % 40).padStart(2, '0') }] },
    patient: { reference: `Patient/p${i % NP}` }, occurrenceDateTime: `2023-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}T10:00:00Z`, lotNumber: `L${i}` } as Resource;
}
const base = 'http://localhost:8080/fhir';
async function time<T>(label: string, fn: () => Promise<T>, n = 5): Promise<T> {
  let r!: T; await fn(); const t = performance.now();
  for (let i = 0; i < n; i++) r = await fn();
  console.log(`${label}: ${((performance.now() - t) / n).toFixed(1)} ms`); return r;
}
async function deep(store: Store, type: string, params: Array<[string, string]>, pages: number) {
  let b = await searchBundle(store, { resourceType: type, params, baseUrl: base });
  for (let i = 0; i < pages; i++) { const next = b.link?.find(l => l.relation === 'next')?.url; if (!next) break; b = await searchBundle(store, { resourceType: type, params: [...new URL(next).searchParams.entries()] as any, baseUrl: base }); }
  return b.link?.find(l => l.relation === 'next')?.url;
}
async function run(name: string, store: Store) {
  console.log(`--- ${name} (${NP} patients, ${NI} immunizations)`);
  const t = performance.now();
  for (let i = 0; i < NP; i++) { const r = patient(i); await store.write({ resourceType: 'Patient', id: r.id!, resource: r, index: extractSearchIndex(r) }); }
  for (let i = 0; i < NI; i++) { const r = imm(i); await store.write({ resourceType: 'Immunization', id: r.id!, resource: r, index: extractSearchIndex(r) }); }
  console.log(`load ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const q = async (type: string, params: Array<[string, string]>) => searchBundle(store, { resourceType: type, params, baseUrl: base });
  await time('Immunization?patient=p42', () => q('Immunization', [['patient', 'p42']]));
  await time('Patient?identifier=urn:mrn|MRN77', () => q('Patient', [['identifier', 'urn:mrn|MRN77']]));
  await time('Patient?family=smith1&birthdate=ge2015 (_count=20)', () => q('Patient', [['family', 'smith1'], ['birthdate', 'ge2015']]));
  await time('Immunization?vaccine-code=08&date=2023-03 ', () => q('Immunization', [['vaccine-code', '08'], ['date', '2023-03']]));
  await time('Immunization?patient.identifier=urn:mrn|MRN77', () => q('Immunization', [['patient.identifier', 'urn:mrn|MRN77']]));
  await time('Patient?_id=p5&_revinclude=Immunization:patient', () => q('Patient', [['_id', 'p5'], ['_revinclude', 'Immunization:patient']]));
  const first = await time('Immunization?_sort=-date&_count=20 page 1', () => q('Immunization', [['_sort', '-date'], ['_count', '20']]), 3);
  const url = await deep(store, 'Immunization', [['_sort', '-date'], ['_count', '20'], ['_total', 'none']], 100);
  if (url) await time('Immunization?_sort=-date&_count=20 page 101', () => q('Immunization', [...new URL(url).searchParams.entries()] as any), 3);
  const url2 = await deep(store, 'Immunization', [['_count', '20'], ['_total', 'none']], 100);
  await time('Immunization?_count=20 (by _id) page 1', () => q('Immunization', [['_count', '20'], ['_total', 'none']]), 3);
  if (url2) await time('Immunization?_count=20 (by _id) page 101', () => q('Immunization', [...new URL(url2).searchParams.entries()] as any), 3);
  void first;
}
// compile figures
{
  const s = new TestStore();
  const qs: Array<Array<[string, string]>> = [[['family', 'smith'], ['birthdate', 'ge2015'], ['gender', 'male']], [['identifier', 'urn:mrn|X'], ['_sort', '-birthdate'], ['_count', '50']], [['name', 'josé,anna'], ['address-city', 'montréal'], ['_include', 'Patient:organization']]];
  for (const p of qs) { for (let i = 0; i < 2000; i++) await compileCriteria('Patient', parseSearch(p, { resourceType: 'Patient' }).criteria.get('Patient')!, { store: s });
    const n = 20000; const t = performance.now(); for (let i = 0; i < n; i++) await compileCriteria('Patient', parseSearch(p, { resourceType: 'Patient' }).criteria.get('Patient')!, { store: s });
    console.log(`parse+compile ${p.map(x => x.join('=')).join('&')}: ${((performance.now() - t) / n * 1000).toFixed(1)} µs`); }
}
if (process.env.ONLY !== 'mongo') {
  const dir = await mkdtemp(join(tmpdir(), 'iis-bench-'));
  const e = new EmbeddedStore({ dataDir: dir, indexes: EMBEDDED_INDEXES }); await e.init();
  await run('embedded', e); await e.close(); await rm(dir, { recursive: true, force: true });
}
if (process.env.TEST_MONGODB_URL) {
  const m = new MongoStore({ url: process.env.TEST_MONGODB_URL + 'iis_search_bench', indexes: MONGO_INDEXES }); await m.init();
  await run('ferretdb', m); await m.close();
}
