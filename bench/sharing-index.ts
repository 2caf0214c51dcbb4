// The data-sharing index's cost per request, in process (no HTTP): SharingIndex.restricted(), which
// every organization caller's request runs, on a new embedded store with 2,000 patients (200 of
// them merged away: replaced-by links), 2,000 data-sharing Consents; with no write between two
// requests, and with a Patient written (no link change) before each. See src/consent/README.md.
//   npx tsx bench/sharing-index.ts [--requests 5000]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Consent, Patient } from '@medplum/fhirtypes';
import { SharingIndex } from '../src/consent/sharing-index.js';
import { extractSearchIndex } from '../src/search/extract.js';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '5000' } } });
const requests = Number(values.requests);
const dir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-sharing-'));
const store = new EmbeddedStore({ dataDir: dir });
await store.init();
const put = (r: Patient | Consent) => store.write({ resourceType: r.resourceType, id: r.id as string, resource: r, ifVersion: 'any', index: extractSearchIndex(r) });
for (let i = 0; i < 2000; i++) {
  await put({ resourceType: 'Patient', id: `p${i}`, birthDate: '2020-01-01', ...(i < 200 ? { active: false, link: [{ type: 'replaced-by', other: { reference: `Patient/q${i}` } }] } : {}) });
  await put({
    resourceType: 'Consent',
    id: `c${i}`,
    status: 'active',
    dateTime: '2024-01-01',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${i % 2 ? 'p' : 'q'}${i}` },
    provision: { type: i % 3 ? 'permit' : 'deny' },
  });
}
const sharing = new SharingIndex(store);
await sharing.restricted();
let started = process.hrtime.bigint();
for (let i = 0; i < requests; i++) await sharing.restricted();
const idle = Number(process.hrtime.bigint() - started) / requests / 1000;
const writes = Math.min(requests, 500);
let spent = 0n;
for (let i = 0; i < writes; i++) {
  await put({ resourceType: 'Patient', id: `w${i % 50}`, birthDate: '2021-01-01', gender: i % 2 ? 'male' : 'female' });
  started = process.hrtime.bigint();
  await sharing.restricted();
  spent += process.hrtime.bigint() - started;
}
console.log(`restricted(): ${idle.toFixed(1)} µs with no write between two requests; ${(Number(spent) / writes / 1000).toFixed(1)} µs on the first request after a Patient write; ${(await sharing.restricted()).size} records restricted`);
await store.close();
await rm(dir, { recursive: true, force: true });
