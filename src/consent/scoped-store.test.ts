// The caller-scoped store view against a real store: what an organization caller, a patient/
// token and public health see on every read path, and what they may write.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '../fhir/request.js';
import { isFhirError } from '../fhir/outcome.js';
import { extractSearchIndex } from '../search/extract.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import type { ResourceRecord } from '../store/store.js';
import { accessPolicyFor, PUBLIC_HEALTH } from './access.js';
import { ScopedStore, withinAccess } from './scoped-store.js';
import { SharingIndex } from './sharing-index.js';

const caller = (claims: Partial<Caller>): Caller => ({ scopes: [], scope: '', ...claims });

describe('ScopedStore', () => {
  let dir: string;
  let store: EmbeddedStore;
  let sharing: SharingIndex;
  const put = async (resource: Resource) =>
    store.write({ resourceType: resource.resourceType, id: resource.id as string, resource, ifVersion: 'any', index: extractSearchIndex(resource) });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-scoped-'));
    store = new EmbeddedStore({ dataDir: dir });
    await store.init();
    sharing = new SharingIndex(store);
    for (const id of ['open', 'hidden']) {
      await put({ resourceType: 'Patient', id, birthDate: '2020-01-01' });
      await put({ resourceType: 'Immunization', id: `imm-${id}`, status: 'completed', vaccineCode: { text: 'x' }, patient: { reference: `Patient/${id}` }, occurrenceDateTime: '2020-02-01' });
    }
    // Several versions of the hidden patient, so history has something to leave out.
    for (let i = 0; i < 3; i++) await put({ resourceType: 'Patient', id: 'hidden', birthDate: `2020-01-0${i + 2}` });
    await put({
      resourceType: 'Consent',
      id: 'objection',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: 'Patient/hidden' },
      provision: { type: 'deny' },
      organization: [{ reference: 'Organization/A' }],
    } as Resource);
  });
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const viewFor = async (claims: Partial<Caller>, confinedToPatient?: string) =>
    new ScopedStore(store, await accessPolicyFor(caller(claims), confinedToPatient, sharing));

  const refusal = async (p: Promise<unknown>): Promise<string | undefined> => {
    try {
      await p;
      return undefined;
    } catch (err) {
      if (!isFhirError(err)) throw err;
      return `${err.status} ${err.outcome.issue?.[0]?.details?.coding?.[0]?.code ?? ''}`.trim();
    }
  };
  const ids = (records: ResourceRecord[]) => records.map((r) => `${r.resourceType}/${r.id}`).sort();

  it('public health gets an explicit unrestricted policy and sees everything', async () => {
    const view = await viewFor({});
    expect(view.policy).toBe(PUBLIC_HEALTH);
    expect(view.policy.kind).toBe('public-health');
    expect((await view.read('Patient', 'hidden'))?.id).toBe('hidden');
    expect(await view.count('Patient', {})).toBe(2);
    expect(await view.historyCount({ resourceType: 'Patient' })).toBe(5);
  });

  it('an organization caller: read and vread refuse a No patient, search/count/scan leave it out', async () => {
    const view = await viewFor({ organization: 'Organization/C' });
    expect(view.policy.kind).toBe('organization');
    expect(await refusal(view.read('Patient', 'hidden'))).toBe('403 data-sharing-restricted');
    expect(await refusal(view.vread('Patient', 'hidden', 1))).toBe('403 data-sharing-restricted');
    expect(await refusal(view.read('Immunization', 'imm-hidden'))).toBe('403 data-sharing-restricted');
    expect((await view.read('Patient', 'open'))?.id).toBe('open');
    expect(ids(await view.search('Patient', { filter: {}, limit: 10 }))).toEqual(['Patient/open']);
    // Records as JSON text (the matching engine's candidate reads) are checked the same way.
    expect(ids(await view.search('Patient', { filter: {}, limit: 10, raw: true }))).toEqual(['Patient/open']);
    const raw = await view.search('Patient', { filter: { _id: { $in: ['open', 'hidden'] } }, limit: 10, raw: true });
    expect(ids(raw)).toEqual(['Patient/open']);
    // Parsed for the check once, and handed on parsed.
    expect(raw[0].resource?.id).toBe('open');
    expect(ids(await view.search('Immunization', { filter: { 's.patient': 'Patient/hidden' }, limit: 10 }))).toEqual([]);
    expect(await view.count('Immunization', {})).toBe(1);
    const scanned: ResourceRecord[] = [];
    for await (const r of view.scan('Patient', {})) scanned.push(r);
    expect(ids(scanned)).toEqual(['Patient/open']);
    // The refused read is remembered for the AuditEvent.
    expect(view.touched.map((r) => r.id)).toContain('hidden');
  });

  it("one visible patient's records are searched without the policy's filter; a hidden one's still are not found", async () => {
    const view = await viewFor({ organization: 'Organization/C' });
    expect(ids(await view.search('Immunization', { filter: { 's.patient': 'Patient/open' }, limit: 10 }))).toEqual(['Immunization/imm-open']);
    expect(ids(await view.search('Immunization', { filter: { 's.patient': 'Patient/hidden' }, limit: 10 }))).toEqual([]);
    const nin = { 's.patient': { $nin: ['Patient/hidden'] } };
    expect(withinAccess({ 's.patient': 'Patient/open' }, nin)).toBe(true);
    expect(withinAccess({ 's.patient': 'Patient/open', 's.date.lo': { $gte: 1 } }, nin)).toBe(true);
    expect(withinAccess({ 's.patient': 'Patient/hidden' }, nin)).toBe(false);
    expect(withinAccess({ 's.patient': { $in: ['Patient/open'] } }, nin)).toBe(true);
    expect(withinAccess({ 's.patient': { $in: ['Patient/open', 'Patient/hidden'] } }, nin)).toBe(false);
    expect(withinAccess({ 's.patient': { $in: [] } }, nin)).toBe(false);
    expect(withinAccess({ 's.patient': { $in: ['Patient/open'], $ne: 'x' } }, nin)).toBe(false);
    expect(withinAccess({ $or: [{ 's.patient': 'Patient/open' }] }, nin)).toBe(false);
    expect(withinAccess({ 's.patient': 'Patient/p1' }, { 's.patient': 'Patient/p1' })).toBe(true);
    expect(withinAccess({ 's.patient': 'Patient/p2' }, { 's.patient': 'Patient/p1' })).toBe(false);
    expect(withinAccess({ _id: 'x' }, { _id: { $in: [] } })).toBe(false);
  });

  it('a scan of visible patients\' records skips the policy filter; one naming a hidden patient keeps it', async () => {
    const view = await viewFor({ organization: 'Organization/C' });
    const scanned = async (filter: Record<string, unknown>) => {
      const out: string[] = [];
      for await (const r of view.scan('Immunization', filter)) out.push(`Immunization/${r.id}`);
      return out.sort();
    };
    expect(await scanned({ 's.patient': { $in: ['Patient/open'] } })).toEqual(['Immunization/imm-open']);
    expect(await scanned({ 's.patient': { $in: ['Patient/open', 'Patient/hidden'] } })).toEqual(['Immunization/imm-open']);
    expect(await scanned({ 's.patient': 'Patient/hidden' })).toEqual([]);
  });

  it('a scan that skips the policy filter still checks each record (an index value that disagrees with the content)', async () => {
    // Content of the hidden patient indexed under the visible one: only the per-record check catches it.
    await store.write({
      resourceType: 'Immunization',
      id: 'mis-indexed',
      resource: { resourceType: 'Immunization', id: 'mis-indexed', status: 'completed', vaccineCode: { text: 'x' }, patient: { reference: 'Patient/hidden' }, occurrenceDateTime: '2020-02-01' },
      index: { patient: 'Patient/open' },
    });
    try {
      const view = await viewFor({ organization: 'Organization/C' });
      const out: string[] = [];
      for await (const r of view.scan('Immunization', { 's.patient': 'Patient/open' })) out.push(r.id);
      expect(out).toEqual(['imm-open']);
      // The same with raw records (stored JSON as text, or as bytes as bulk export asks): parsed for the check.
      for (const options of [{ raw: true }, { raw: true, rawBytes: true }]) {
        const raw: string[] = [];
        for await (const r of view.scan('Immunization', { 's.patient': { $in: ['Patient/open'] } }, options)) raw.push(r.id);
        expect(raw).toEqual(['imm-open']);
      }
    } finally {
      await store.write({ resourceType: 'Immunization', id: 'mis-indexed' });
    }
  });

  it('the Consent organization still sees the patient', async () => {
    const view = await viewFor({ organization: 'Organization/A' });
    expect((await view.read('Patient', 'hidden'))?.id).toBe('hidden');
  });

  it('history leaves hidden versions out, fills its pages, and gives no count', async () => {
    const view = await viewFor({ organization: 'Organization/C' });
    const page = await view.history({ resourceType: 'Patient', count: 1 });
    expect(ids(page)).toEqual(['Patient/open']);
    expect(await view.history({ resourceType: 'Patient', id: 'hidden', count: 10 })).toEqual([]);
    expect(await view.historyCount({ resourceType: 'Patient' })).toBeUndefined();
  });

  it('a patient/ token reads only its compartment and writes only inside it', async () => {
    const view = await viewFor({ patient: 'open' }, 'open');
    expect(view.policy.kind).toBe('patient-compartment');
    expect(ids(await view.search('Immunization', { filter: {}, limit: 10 }))).toEqual(['Immunization/imm-open']);
    expect(await refusal(view.read('Patient', 'hidden'))).toBe('403');
    const foreign = { resourceType: 'Immunization', status: 'completed', vaccineCode: { text: 'x' }, patient: { reference: 'Patient/hidden' } } as Resource;
    expect(await refusal(view.write({ resourceType: 'Immunization', id: 'w1', resource: foreign, ifVersion: 'absent' }))).toBe('403');
    const own = { ...foreign, patient: { reference: 'Patient/open' } } as Resource;
    expect((await view.write({ resourceType: 'Immunization', id: 'w2', resource: own, ifVersion: 'absent', index: extractSearchIndex(own) })).id).toBe('w2');
  });

  it("a patient/ token acting for an organization sees nothing of a patient hidden from that organization (an app launched before the objection)", async () => {
    const view = await viewFor({ patient: 'hidden', organization: 'Organization/C' }, 'hidden');
    expect(await refusal(view.read('Patient', 'hidden'))).toBe('403 data-sharing-restricted');
    expect(await view.search('Immunization', { filter: {}, limit: 10 })).toEqual([]);
    expect(await view.count('Immunization', {})).toBe(0);
    expect(await view.count('Patient', {})).toBe(0);
    // The Consent organization's app, and a token without an organization, keep the compartment.
    const own = await viewFor({ patient: 'hidden', organization: 'Organization/A' }, 'hidden');
    expect(ids(await own.search('Immunization', { filter: {}, limit: 10 }))).toEqual(['Immunization/imm-hidden']);
    const noOrganization = await viewFor({ patient: 'hidden' }, 'hidden');
    expect((await noOrganization.read('Patient', 'hidden'))?.id).toBe('hidden');
  });

  it("a visible Patient naming the hidden one is shown without that reference and keeps it when written back, without a second read", async () => {
    const ext = 'https://iis-fhir-server.org/fhir/StructureDefinition/possible-duplicate-of';
    await put({ resourceType: 'Patient', id: 'flagged', birthDate: '2020-01-01', extension: [{ url: ext, valueReference: { reference: 'Patient/hidden' } }] } as Resource);
    let reads = 0;
    const counting = new Proxy(store, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        return property === 'read' ? (...args: unknown[]) => (reads++, value.apply(target, args)) : value.bind(target);
      },
    });
    const view = new ScopedStore(counting, await accessPolicyFor(caller({ organization: 'Organization/C' }), undefined, sharing));
    const seen = (await view.read('Patient', 'flagged'))?.resource as Resource & { extension?: unknown[] };
    expect(JSON.stringify(seen)).not.toContain('Patient/hidden');
    const written = { ...seen, gender: 'female' } as Resource;
    const before = reads;
    await view.write({ resourceType: 'Patient', id: 'flagged', resource: written, ifVersion: 'any', index: extractSearchIndex(written) });
    expect(reads - before).toBe(0);
    expect(JSON.stringify((await store.read('Patient', 'flagged'))?.resource)).toContain('Patient/hidden');
    // A write of a Patient this view never read looks the stored version up.
    const blind = new ScopedStore(counting, view.policy);
    const blindBefore = reads;
    await blind.write({ resourceType: 'Patient', id: 'flagged', resource: { resourceType: 'Patient', id: 'flagged', birthDate: '2020-01-01' }, ifVersion: 'any' });
    expect(reads - blindBefore).toBe(1);
    expect(JSON.stringify((await store.read('Patient', 'flagged'))?.resource)).toContain('Patient/hidden');
    await store.write({ resourceType: 'Patient', id: 'flagged', ifVersion: 'any' });
  });

  it('an organization may record the data-sharing choice of a patient it cannot see, and nothing else about it; committed writes are observed', async () => {
    const seen: string[] = [];
    const view = new ScopedStore(store, await accessPolicyFor(caller({ organization: 'Organization/C' }), undefined, sharing), (records) =>
      seen.push(...records.map((r) => r.id))
    );
    const choice = {
      resourceType: 'Consent',
      status: 'proposed',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: 'Patient/hidden' },
    } as Resource;
    await view.write({ resourceType: 'Consent', id: 'c2', resource: choice, ifVersion: 'absent' });
    expect(seen).toEqual(['c2']);
    const about: Resource[] = [
      { resourceType: 'Condition', subject: { reference: 'Patient/hidden' } } as Resource,
      { resourceType: 'Immunization', patient: { reference: 'Patient/hidden' } } as Resource,
      // A Consent that is not the data-sharing choice (a treatment consent) is a record about the child.
      { resourceType: 'Consent', status: 'active', patient: { reference: 'Patient/hidden' } } as Resource,
    ];
    for (const resource of about) {
      const refusal = await view.transact([{ resourceType: resource.resourceType, id: 'x1', resource, ifVersion: 'absent' }]).catch((err: unknown) => err);
      expect(isFhirError(refusal) && refusal.status, resource.resourceType).toBe(403);
      expect(isFhirError(refusal) && refusal.outcome.issue?.[0].details?.coding?.[0].code, resource.resourceType).toBe('data-sharing-restricted');
    }
    expect(seen).toEqual(['c2']);
  });

  it('no unscoped store can be reached from the view, not even through a cast', () => {
    const view = new ScopedStore(store, PUBLIC_HEALTH);
    const values = Object.values(view as unknown as Record<string, unknown>);
    expect(values).not.toContain(store);
    expect((view as unknown as { base?: unknown }).base).toBeUndefined();
  });
});
