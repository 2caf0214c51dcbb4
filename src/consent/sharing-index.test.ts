// The restricted-patient map follows provision periods without any write: a deny whose period
// begins later hides the child from that moment, and one that ends stops hiding it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Consent, Patient } from '@medplum/fhirtypes';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
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

describe('the records of one person (merged away: replaced-by / replaces links) share one status', () => {
  const consent = (id: string, patient: string, type: 'deny' | 'permit', dateTime: string, status: Consent['status'] = 'active'): Consent => ({
    resourceType: 'Consent',
    id,
    status,
    dateTime,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: patient },
    provision: { type },
    organization: [{ reference: 'Organization/A' }],
  });
  const put = async (resource: Consent | Patient) =>
    store.write({ resourceType: resource.resourceType, id: resource.id as string, resource, ifVersion: 'any', index: extractSearchIndex(resource) });
  /** `source` merged into `target` as $merge leaves them (the link forms given, both by default). */
  const merge = async (source: string, target: string, sides: 'both' | 'source' | 'target' = 'both', reference = (id: string) => `Patient/${id}`) => {
    await put({ resourceType: 'Patient', id: source, active: false, ...(sides !== 'target' ? { link: [{ type: 'replaced-by', other: { reference: reference(target) } }] } : {}) });
    await put({ resourceType: 'Patient', id: target, ...(sides !== 'source' ? { link: [{ type: 'replaces', other: { reference: reference(source) } }] } : {}) });
  };
  const statusOf = async (sharing: SharingIndex, ...ids: string[]) => Promise.all(ids.map(async (id) => (await sharing.sharingOf(`Patient/${id}`)).status));

  it('a No recorded on the survivor after the merge hides the merged-away record, by either link alone', async () => {
    const sharing = new SharingIndex(store);
    await put({ resourceType: 'Patient', id: 'm1-src' });
    await put({ resourceType: 'Patient', id: 'm1-tgt' });
    expect(await statusOf(sharing, 'm1-src', 'm1-tgt')).toEqual(['yes', 'yes']);
    await merge('m1-src', 'm1-tgt');
    await put(consent('m1-no', 'Patient/m1-tgt', 'deny', '2025-01-02'));
    expect(await statusOf(sharing, 'm1-src', 'm1-tgt')).toEqual(['no', 'no']);
    // The replaced-by link alone (the survivor rewritten without its replaces link) still joins them…
    await merge('m1-src', 'm1-tgt', 'source');
    expect(await statusOf(sharing, 'm1-src', 'm1-tgt')).toEqual(['no', 'no']);
    // …and so does the survivor's replaces link alone, in an absolute reference.
    await merge('m1-src', 'm1-tgt', 'target', (id) => `http://example.org/fhir/Patient/${id}`);
    expect(await statusOf(sharing, 'm1-src', 'm1-tgt')).toEqual(['no', 'no']);
    // No link any more (both records rewritten without one): the records are two people again.
    await put({ resourceType: 'Patient', id: 'm1-src' });
    await put({ resourceType: 'Patient', id: 'm1-tgt' });
    expect(await statusOf(sharing, 'm1-src', 'm1-tgt')).toEqual(['yes', 'no']);
  });

  it('a Consent on a merged-away record counts for the survivor, and the newest over all the records decides (chain a → b → c)', async () => {
    const sharing = new SharingIndex(store);
    await merge('c1-a', 'c1-b');
    await merge('c1-b', 'c1-c');
    // b was merged into c: its link to a (replaces) and to c (replaced-by).
    await put({ resourceType: 'Patient', id: 'c1-b', active: false, link: [{ type: 'replaces', other: { reference: 'Patient/c1-a' } }, { type: 'replaced-by', other: { reference: 'Patient/c1-c' } }] });
    await put({ resourceType: 'Patient', id: 'c1-d' });
    await put(consent('c1-yes', 'Patient/c1-c', 'permit', '2025-01-01'));
    expect(await statusOf(sharing, 'c1-a', 'c1-b', 'c1-c', 'c1-d')).toEqual(['yes', 'yes', 'yes', 'yes']);
    await put(consent('c1-no', 'Patient/c1-a', 'deny', '2025-02-01'));
    expect(await statusOf(sharing, 'c1-a', 'c1-b', 'c1-c', 'c1-d')).toEqual(['no', 'no', 'no', 'yes']);
    expect((await sharing.sharingOf('Patient/c1-c')).decidedBy).toBe('c1-no');
    await put(consent('c1-unknown', 'Patient/c1-b', 'deny', '2025-03-01', 'proposed'));
    expect(await statusOf(sharing, 'c1-a', 'c1-b', 'c1-c')).toEqual(['unknown', 'unknown', 'unknown']);
    await put(consent('c1-yes-again', 'Patient/c1-c', 'permit', '2025-04-01'));
    expect(await statusOf(sharing, 'c1-a', 'c1-b', 'c1-c')).toEqual(['yes', 'yes', 'yes']);
    // An older decision recorded later does not outrank the newest (dateTime decides first).
    await put(consent('c1-late-old', 'Patient/c1-a', 'deny', '2024-12-01'));
    expect(await statusOf(sharing, 'c1-a', 'c1-b', 'c1-c')).toEqual(['yes', 'yes', 'yes']);
  });

  it('a Patient written without a link change keeps the computed map (no recomputation on every patient write)', async () => {
    const sharing = new SharingIndex(store);
    await merge('k1-src', 'k1-tgt');
    await put(consent('k1-no', 'Patient/k1-tgt', 'deny', '2025-01-02'));
    const before = await sharing.restricted();
    await put({ resourceType: 'Patient', id: 'k1-other', birthDate: '2020-01-01' });
    await put({ resourceType: 'Patient', id: 'k1-tgt', birthDate: '2020-01-01', link: [{ type: 'replaces', other: { reference: 'Patient/k1-src' } }] });
    expect(await sharing.restricted()).toBe(before);
    expect(before.get('Patient/k1-src')?.status).toBe('no');
  });

  it('a fresh index (another server process) reads the links already stored', async () => {
    expect(await statusOf(new SharingIndex(store), 'c1-a', 'c1-b', 'c1-c', 'm1-src', 'k1-src')).toEqual(['yes', 'yes', 'yes', 'yes', 'no']);
  });
});

it('knows whether a Consent or a Patient was written since it last looked without reading either one', async () => {
  // Nearly every FHIR and HL7 v2 request of an organization asks; a VXU has just written a Patient.
  const reads: string[] = [];
  const counting = Object.create(store) as EmbeddedStore;
  for (const method of ['read', 'vread', 'history', 'search'] as const) {
    counting[method] = ((...args: unknown[]) => {
      reads.push(method);
      return (store[method] as (...a: unknown[]) => unknown).apply(store, args);
    }) as never;
  }
  const sharing = new SharingIndex(counting);
  await sharing.restricted();
  reads.length = 0;
  const before = await sharing.restricted();
  expect(await sharing.restricted()).toBe(before);
  expect(reads).toEqual([]);
  // A Patient written since: its version, read once to see whether it changed a link.
  await store.write({ resourceType: 'Patient', id: 'stamp-only', resource: { resourceType: 'Patient', id: 'stamp-only' }, ifVersion: 'any' });
  expect(await sharing.restricted()).toBe(before);
  expect(reads).toEqual(['history']);
});

it('does not parse a Patient version whose stored text names no link (the links are read from the ones that do)', async () => {
  const sharing = new SharingIndex(store);
  await sharing.restricted();
  const parse = vi.spyOn(JSON, 'parse');
  try {
    await store.write({ resourceType: 'Patient', id: 'unlinked-version', resource: { resourceType: 'Patient', id: 'unlinked-version', name: [{ family: 'Link' }] }, ifVersion: 'any' });
    parse.mockClear();
    await sharing.restricted();
    expect(parse.mock.calls.filter(([text]) => String(text).includes('unlinked-version'))).toEqual([]);
    // A version that has one is parsed and its link counts.
    await store.write({ resourceType: 'Patient', id: 'unlinked-version', resource: { resourceType: 'Patient', id: 'unlinked-version', link: [{ type: 'replaced-by', other: { reference: 'Patient/linked-survivor' } }] }, ifVersion: 'any' });
    const no: Consent = {
      resourceType: 'Consent',
      id: 'linked-no',
      status: 'active',
      dateTime: '2025-01-01',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: 'Patient/linked-survivor' },
      provision: { type: 'deny' },
    };
    await store.write({ resourceType: 'Consent', id: 'linked-no', resource: no, ifVersion: 'any', index: extractSearchIndex(no) });
    expect((await sharing.sharingOf('Patient/unlinked-version')).status).toBe('no');
  } finally {
    parse.mockRestore();
  }
});
