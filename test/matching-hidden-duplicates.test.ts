// A child hidden from an organization by data sharing (No, or Unknown) registered again by that
// organization, over FHIR and HL7 v2: the second record is stored (the organization cannot be told
// of the hidden one), and the hidden record goes on public health's review list naming it, while
// nothing the organization gets back names, counts or hints at the hidden child.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlId, order, pid, vxu } from '../src/hl7v2/test-messages.js';
import { mergeParameters, sharingConsent, startTestServer, testMongoUrl, type StoreKind, type TestServer } from './helpers/server.js';

const DUPLICATE_OF = 'https://iis-fhir-server.org/fhir/StructureDefinition/possible-duplicate-of';
const REVIEW_LIST = 'Patient?_tag=https://iis-fhir-server.org/fhir/CodeSystem/match-review|possible-duplicate&_count=100';
const KINDS: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];

describe.each(KINDS)('a child hidden from the registering organization (%s store)', (kind) => {
  let server: TestServer;
  const as = (organization: string) => ({ authorization: `Bearer ${server.token({ scope: 'user/*.cruds', organization })}` });
  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(async () => {
    await server?.close();
  });

  const child = (mrn: string, family: string, birthDate: string) => ({
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: mrn }],
    name: [{ family, given: ['Zofia', 'Anna'] }],
    gender: 'female',
    birthDate,
    address: [{ line: ['12 Elm Street'], city: 'Springfield', state: 'IL', postalCode: '62701' }],
    telecom: [{ system: 'phone', value: '217-555-0101' }],
  });

  /** Clinic A registers the child and records its objection (No), or leaves its status Unknown. */
  async function hiddenChild(body: Record<string, unknown>, status: 'no' | 'unknown'): Promise<string> {
    const created = await server.fhir('POST', 'Patient', { body, headers: as('Organization/A') });
    expect(created.status, created.text).toBe(201);
    const consent =
      status === 'no'
        ? sharingConsent(created.body.id, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] })
        : sharingConsent(created.body.id, { status: 'proposed', provision: { type: 'deny' } });
    expect((await server.fhir('POST', 'Consent', { body: consent })).status).toBe(201);
    expect((await server.fhir('GET', `Patient/${created.body.id}`, { headers: as('Organization/B') })).status).toBe(403);
    return created.body.id;
  }

  async function reviewEntry(id: string): Promise<any> {
    const list = await server.fhir('GET', REVIEW_LIST);
    expect(list.status, list.text).toBe(200);
    return (list.body.entry ?? []).map((e: any) => e.resource).find((p: any) => p.id === id);
  }

  it('a FHIR create by clinic B: a new record for B, the hidden record under review naming it, nothing of it told to B', async () => {
    const body = child(`MRN-${randomUUID()}`, 'Kowalczyk', '2026-03-04');
    const hiddenId = await hiddenChild(body, 'no');

    const created = await server.fhir('POST', 'Patient', { body, headers: { ...as('Organization/B'), prefer: 'return=representation' } });
    expect(created.status, created.text).toBe(201);
    const newId = created.body.id;
    expect(newId).not.toBe(hiddenId);
    expect(created.text).not.toContain(hiddenId);
    expect(created.body.meta.tag).toBeUndefined();
    expect(created.body.extension).toBeUndefined();

    // Public health's review list: the hidden record, naming B's record as its possible duplicate.
    const hidden = await reviewEntry(hiddenId);
    expect(hidden, 'the hidden record is on the review list').toBeDefined();
    expect(hidden.extension.filter((e: any) => e.url === DUPLICATE_OF).map((e: any) => e.valueReference.reference)).toEqual([`Patient/${newId}`]);

    // Clinic B: its record, its searches, its review list and its history say nothing of the hidden child.
    for (const path of [`Patient/${newId}`, `Patient?identifier=${encodeURIComponent(body.identifier[0].value)}`, REVIEW_LIST, `Patient/${newId}/_history`, 'Patient/_history']) {
      const res = await server.fhir('GET', path, { headers: as('Organization/B') });
      expect(res.status, path).toBe(200);
      expect(res.text, path).not.toContain(hiddenId);
      // (the review list's own query is in its links: the entries are what must not show the mark)
      const shown = JSON.stringify(res.body.resourceType === 'Bundle' ? (res.body.entry ?? []) : res.body);
      expect(shown, path).not.toContain('possible-duplicate');
    }
    expect((await server.fhir('GET', `Patient/${hiddenId}`, { headers: as('Organization/B') })).status).toBe(403);

    // The same child sent again by B is B's record (its own certain match), and no second mark.
    const again = await server.fhir('POST', 'Patient', { body, headers: as('Organization/B') });
    expect(again.status, again.text).toBe(200);
    expect(again.text).not.toContain(hiddenId);
    const still = await reviewEntry(hiddenId);
    expect(still.extension.filter((e: any) => e.url === DUPLICATE_OF)).toHaveLength(1);

    // The reviewer merges B's record into the hidden one: B's merged-away record, which names its
    // target (replaced-by), takes the child's choice with it — B is refused it, as the child.
    const merged = await server.fhir('POST', 'Patient/$merge', {
      body: mergeParameters(newId, hiddenId),
    });
    expect(merged.status, merged.text).toBe(200);
    const source = await server.fhir('GET', `Patient/${newId}`);
    expect(source.body.link).toEqual([{ other: { reference: `Patient/${hiddenId}` }, type: 'replaced-by' }]);
    for (const path of [`Patient/${newId}`, `Patient/${newId}/_history/2`]) {
      const res = await server.fhir('GET', path, { headers: as('Organization/B') });
      expect(res.status, path).toBe(403);
      expect(res.text, path).not.toContain(hiddenId);
    }
    const search = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(body.identifier[0].value)}`, { headers: as('Organization/B') });
    expect(search.body.total).toBe(0);
    // Clinic A, whose child it is, still sees both records.
    expect((await server.fhir('GET', `Patient/${newId}`, { headers: as('Organization/A') })).status).toBe(200);
  });

  it('a VXU from clinic B for a child whose sharing status is Unknown: the hidden record is put under review, the ACK names nothing of it', async () => {
    // A VXU is a transaction: a store without multi-document transactions (FerretDB, MongoDB
    // without a replica set) refuses every VXU by design (README), so there is nothing to check.
    if (!server.store.supportsTransactions) {
      console.log(`[matching-hidden-duplicates: ${kind}] the VXU case is SKIPPED: this deployment has no multi-document transactions, so every VXU is refused (AR) by design`);
      return;
    }
    const mrn = `V${Date.now() % 1_000_000_000}`;
    const body = child(mrn, 'Nowakowska', '2026-02-11');
    const hiddenId = await hiddenChild(
      { ...body, identifier: [{ system: 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/CLINICA', value: mrn }] },
      'unknown'
    );

    const message = vxu({
      controlId: controlId('HID'),
      pid: pid({ mrn, authority: 'CLINICB', family: 'Nowakowska', given: 'Zofia', middle: 'Anna', birth: '20260211', sex: 'F' }),
      orders: [order({ date: '20260212' })],
    });
    const res = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', ...as('Organization/B') }, body: message });
    const ack = await res.text();
    expect(res.status, ack).toBe(200);
    expect(ack).toMatch(/MSA\|A[AE]\|/);
    expect(ack).not.toContain(hiddenId);

    const hidden = await reviewEntry(hiddenId);
    expect(hidden, 'the hidden record is on the review list').toBeDefined();
    const named = hidden.extension.filter((e: any) => e.url === DUPLICATE_OF).map((e: any) => e.valueReference.reference);
    expect(named).toHaveLength(1);
    expect(named[0]).not.toBe(`Patient/${hiddenId}`);
    const vxuRecord = await server.fhir('GET', named[0], { headers: as('Organization/B') });
    expect(vxuRecord.status, vxuRecord.text).toBe(200);
    expect(vxuRecord.body.name[0].family).toBe('Nowakowska');
    expect(vxuRecord.text).not.toContain(hiddenId);
  });

  it('after clinic B registered the hidden child again under the same record number, clinic A\'s next VXU still goes to the record its No protects', async () => {
    if (!server.store.supportsTransactions) {
      console.log(`[matching-hidden-duplicates: ${kind}] the owner's VXU case is SKIPPED: this deployment has no multi-document transactions, so every VXU is refused (AR) by design`);
      return;
    }
    const mrn = `W${Date.now() % 1_000_000_000}`;
    const hiddenId = await hiddenChild(
      { ...child(mrn, 'Kowalczyk', '2026-03-12'), identifier: [{ system: 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/CLINICA', value: mrn }] },
      'no'
    );
    const send = async (organization: string, date: string, cvx: string) => {
      const message = vxu({
        controlId: controlId('OWN'),
        pid: pid({ mrn, authority: 'CLINICA', family: 'Kowalczyk', given: 'Zofia', middle: 'Anna', birth: '20260312', sex: 'F' }),
        orders: [order({ date, cvx, filler: `${mrn}-${cvx}` })],
      });
      const res = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', ...as(organization) }, body: message });
      const ack = await res.text();
      expect(ack, ack).toMatch(/MSA\|A[AE]\|/);
    };
    await send('Organization/B', '20260401', '20');
    const records = (await server.fhir('GET', `Patient?identifier=https://iis-fhir-server.org/fhir/sid/hl7v2-authority/CLINICA|${mrn}`)).body.entry.map((e: any) => e.resource.id);
    expect(records).toHaveLength(2);
    const newId = records.find((id: string) => id !== hiddenId);
    await send('Organization/A', '20260501', '10');
    const dosesOf = async (id: string) => ((await server.fhir('GET', `Immunization?patient=Patient/${id}`)).body.entry ?? []).map((e: any) => e.resource.vaccineCode.coding[0].code);
    expect(await dosesOf(hiddenId)).toContain('10');
    expect(await dosesOf(newId)).toEqual(['20']);
    expect((await server.fhir('GET', `Immunization?vaccine-code=10&patient=Patient/${hiddenId}`, { headers: as('Organization/B') })).body.entry ?? []).toEqual([]);
  });

  it('a different child of the same birth date registered by clinic B leaves the hidden record alone', async () => {
    const hiddenId = await hiddenChild(child(`MRN-${randomUUID()}`, 'Wiśniewska', '2026-01-20'), 'no');
    const other = {
      ...child(`MRN-${randomUUID()}`, 'Okonkwo', '2026-01-20'),
      name: [{ family: 'Okonkwo', given: ['Chidi'] }],
      gender: 'male',
      address: [{ line: ['9 Oak Road'], city: 'Peoria', state: 'IL', postalCode: '61602' }],
      telecom: [{ system: 'phone', value: '309-555-0199' }],
    };
    expect((await server.fhir('POST', 'Patient', { body: other, headers: as('Organization/B') })).status).toBe(201);
    expect(await reviewEntry(hiddenId)).toBeUndefined();
  });
});
