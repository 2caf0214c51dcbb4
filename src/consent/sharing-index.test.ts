// The restricted-patient map follows provision periods without any write: a deny whose period
// begins later hides the child from that moment, and one that ends stops hiding it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Consent } from '@medplum/fhirtypes';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { extractSearchIndex } from '../search/extract.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { SharingIndex } from './sharing-index.js';

let dir: string;
let store: EmbeddedStore;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'iis-sharing-index-'));
  store = new EmbeddedStore({ dataDir: dir });
  await store.init();
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

it('rebuilds when a provision period begins or ends, with no Consent written in between', async () => {
  const start = new Date(Date.now() + 60_000);
  const end = new Date(start.getTime() + 60_000);
  const consent: Consent = {
    resourceType: 'Consent',
    id: 'timed',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/timed' },
    provision: { type: 'deny', period: { start: start.toISOString(), end: end.toISOString() } },
  };
  await store.write({ resourceType: 'Consent', id: 'timed', resource: consent, ifVersion: 'any', index: extractSearchIndex(consent) });
  const sharing = new SharingIndex(store);
  expect((await sharing.sharingOf('Patient/timed')).status).toBe('yes');
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date(start.getTime() + 1));
  expect((await sharing.sharingOf('Patient/timed')).status).toBe('no');
  vi.setSystemTime(new Date(end.getTime() + 2));
  expect((await sharing.sharingOf('Patient/timed')).status).toBe('yes');
});
