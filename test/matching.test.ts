// Newborn records over HTTP (CONTRACT.md "Matching and newborn records"): a placeholder name
// reconciled with the legal name on create and in transactions, twins kept apart, $match,
// the review list, $merge, and the hospital's later update by MRN.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, mergeParameters, startTestServer, type TestServer } from './helpers/server.js';

const MMN = 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName';
const MRN_SYSTEM = 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14';
const DUPLICATE_OF = 'https://iis-fhir-server.org/fhir/StructureDefinition/possible-duplicate-of';
const REVIEW_LIST = 'Patient?_tag=https://iis-fhir-server.org/fhir/CodeSystem/match-review|possible-duplicate';

let seq = 0;
function household() {
  seq++;
  return {
    birthDate: `2026-0${1 + (seq % 8)}-1${seq % 10}`,
    gender: 'male',
    address: [{ line: [`${100 + seq} Maple Street`], city: 'Springfield', state: 'IL', postalCode: '62701' }],
    telecom: [{ system: 'phone', value: `217-555-${String(1000 + seq).padStart(4, '0')}` }],
    extension: [{ url: MMN, valueString: 'Johnson' }],
  };
}

describe('newborn matching over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  const hospitalRecord = (h: ReturnType<typeof household>, mrn: string, given = 'Baby Boy') => ({
    resourceType: 'Patient',
    identifier: [{ system: MRN_SYSTEM, value: mrn, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } }],
    name: [{ family: 'Smith', given: [given] }],
    ...h,
  });
  const legalRecord = (h: ReturnType<typeof household>, given = 'Liam') => ({
    resourceType: 'Patient',
    name: [{ use: 'official', family: 'Smith', given: [given] }],
    ...h,
  });

  it('a legal-name record of a placeholder newborn updates the existing child (200, merged-into-existing)', async () => {
    const h = household();
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    expect(hospital.status).toBe(201);
    const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${hospital.body.id}`, { occurrenceDateTime: h.birthDate }) });
    expect(dose.status).toBe(201);

    const clinic = await server.fhir('POST', 'Patient', { body: legalRecord(h), headers: { prefer: 'return=representation' } });
    expect(clinic.status, clinic.text).toBe(200);
    expect(clinic.body.id).toBe(hospital.body.id);
    expect(clinic.headers.get('location')).toContain(`/Patient/${hospital.body.id}/_history/2`);
    const names = clinic.body.name.map((n: any) => `${n.use}:${n.given.join(' ')} ${n.family}`);
    expect(names).toEqual(expect.arrayContaining(['official:Liam Smith', 'old:Baby Boy Smith']));
    expect(clinic.body.identifier.map((i: any) => i.value)).toContain(`MRN-${seq}`);

    const oo = await server.fhir('POST', 'Patient', { body: legalRecord(h), headers: { prefer: 'return=OperationOutcome' } });
    expect(oo.status).toBe(200);
    expect(oo.body.issue.some((i: any) => i.details?.coding?.[0]?.code === 'merged-into-existing')).toBe(true);

    const all = await server.fhir('GET', `Patient?birthdate=${h.birthDate}&family=Smith`);
    expect(all.body.entry).toHaveLength(1);
  });

  it('a create that certainly matches and brings nothing new answers the stored version and writes none', async () => {
    const h = household();
    await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    const merged = await server.fhir('POST', 'Patient', { body: legalRecord(h), headers: { prefer: 'return=representation' } });
    expect(merged.status, merged.text).toBe(200);
    const id = merged.body.id as string;
    expect(merged.body.meta.versionId).toBe('2');
    // The same child again: merged-into-existing as before, but the record is as stored already.
    const again = await server.fhir('POST', 'Patient', { body: legalRecord(h), headers: { prefer: 'return=representation' } });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual(merged.body);
    expect(again.headers.get('etag')).toBe('W/"2"');
    expect(again.headers.get('location')).toContain(`/Patient/${id}/_history/2`);
    const oo = await server.fhir('POST', 'Patient', { body: legalRecord(h), headers: { prefer: 'return=OperationOutcome' } });
    expect(oo.status).toBe(200);
    expect(oo.body.issue.some((i: any) => i.details?.coding?.[0]?.code === 'merged-into-existing')).toBe(true);
    const history = await server.fhir('GET', `Patient/${id}/_history`);
    expect(history.body.entry.map((e: any) => e.resource.meta.versionId)).toEqual(['2', '1']);
    // Something new for the record (a second phone) is written as before.
    const phone = await server.fhir('POST', 'Patient', {
      body: { ...legalRecord(h), telecom: [...h.telecom, { system: 'phone', value: '217-555-0000' }] },
      headers: { prefer: 'return=representation' },
    });
    expect(phone.status, phone.text).toBe(200);
    expect(phone.body.meta.versionId).toBe('3');
  });

  it('in a transaction, the Immunizations of a merged Patient point at the surviving record', async () => {
    const h = household();
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    const urn = 'urn:uuid:6b0f6f1e-1b8a-4d55-8a3e-3f3c0d0e0a11';
    const res = await server.fhir('POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: urn, resource: legalRecord(h), request: { method: 'POST', url: 'Patient' } },
          { resource: immunization(urn, { occurrenceDateTime: h.birthDate, vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] } }), request: { method: 'POST', url: 'Immunization' } },
        ],
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect(res.body.entry[0].resource.id).toBe(hospital.body.id);
    expect(res.body.entry[1].resource.patient.reference).toBe(`Patient/${hospital.body.id}`);
  });

  it('a transaction creating one child twice is a 400 naming both entries, and stores nothing; twins in one transaction are two children', async () => {
    const h = household();
    const twice = await server.fhir('POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:0c3f1d2a-5b6e-4f70-8a91-b2c3d4e5f601', resource: legalRecord(h, 'Mila'), request: { method: 'POST', url: 'Patient' } },
          { fullUrl: 'urn:uuid:0c3f1d2a-5b6e-4f70-8a91-b2c3d4e5f602', resource: legalRecord(h, 'Mila'), request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    expect(twice.status, twice.text).toBe(400);
    expect(twice.body.issue[0].diagnostics).toContain('Bundle.entry[0] and Bundle.entry[1] create the same child');
    expect((await server.fhir('GET', `Patient?birthdate=${h.birthDate}`)).body.total).toBe(0);

    const twins = await server.fhir('POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { ...legalRecord(h, 'Noah'), multipleBirthInteger: 1 }, request: { method: 'POST', url: 'Patient' } },
          { resource: { ...legalRecord(h, 'Owen'), multipleBirthInteger: 2 }, request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    expect(twins.status, twins.text).toBe(200);
    expect(twins.body.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '201 Created']);
  });

  it('twins stay two children, and a later legal name does not merge them', async () => {
    const h = household();
    const a = await server.fhir('POST', 'Patient', { body: { ...hospitalRecord(h, `MRN-A-${seq}`, 'Baby Boy A'), multipleBirthInteger: 1 } });
    const b = await server.fhir('POST', 'Patient', { body: { ...hospitalRecord(h, `MRN-B-${seq}`, 'Baby Boy B'), multipleBirthInteger: 2 } });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body.id).not.toBe(a.body.id);
    const namedTwins = [
      await server.fhir('POST', 'Patient', { body: { ...legalRecord(h, 'Noah'), multipleBirthInteger: 1 } }),
      await server.fhir('POST', 'Patient', { body: { ...legalRecord(h, 'Owen'), multipleBirthInteger: 2 } }),
    ];
    const ids = new Set([a.body.id, b.body.id, ...namedTwins.map((r) => r.body.id)]);
    // Whatever each legal record joined, the two children never became one record.
    const records = await server.fhir('GET', `Patient?birthdate=${h.birthDate}&_count=50`);
    const byId = new Map(records.body.entry.map((e: any) => [e.resource.id, e.resource]));
    expect(byId.has(a.body.id) && byId.has(b.body.id)).toBe(true);
    const orders = [...ids].map((id) => (byId.get(id) as any)?.multipleBirthInteger);
    expect(orders.filter((o) => o === 1).length).toBeGreaterThanOrEqual(1);
    expect(orders.filter((o) => o === 2).length).toBeGreaterThanOrEqual(1);
    const aRecord = byId.get(a.body.id) as any;
    expect(aRecord.name.map((n: any) => n.given.join(' '))).not.toContain('Owen');
  });

  it('$match lists candidates best first with a score and a match grade; onlyCertainMatches filters', async () => {
    const h = household();
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    const params = (onlyCertain: boolean) => ({
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: legalRecord(h) },
        { name: 'onlyCertainMatches', valueBoolean: onlyCertain },
        { name: 'count', valueInteger: 5 },
      ],
    });
    const res = await server.fhir('POST', 'Patient/$match', { body: params(false) });
    expect(res.status, res.text).toBe(200);
    expect(res.body.type).toBe('searchset');
    const first = res.body.entry[0];
    expect(first.resource.id).toBe(hospital.body.id);
    expect(first.search.score).toBeGreaterThan(0.8);
    const grade = first.search.extension.find((e: any) => e.url === 'http://hl7.org/fhir/StructureDefinition/match-grade');
    expect(grade.valueCode).toBe('certain');
    const scores = res.body.entry.map((e: any) => e.search.score);
    expect([...scores].sort((x: number, y: number) => y - x)).toEqual(scores);
    const only = await server.fhir('POST', 'Patient/$match', { body: params(true) });
    expect(only.body.entry.every((e: any) => e.search.extension[0].valueCode === 'certain')).toBe(true);
    const bad = await server.fhir('POST', 'Patient/$match', { body: { resourceType: 'Parameters', parameter: [] } });
    expect(bad.status).toBe(400);
    // No candidate: total 0 and no entry element (FHIR JSON has no empty arrays).
    const nobody = { resourceType: 'Patient', name: [{ family: 'Nobodyknown', given: ['Zed'] }], birthDate: '1901-02-03', gender: 'male' };
    const none = await server.fhir('POST', 'Patient/$match', { body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: nobody }] } });
    expect(none.status, none.text).toBe(200);
    expect(none.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 0 });
    expect(none.body).not.toHaveProperty('entry');
  });

  it('a probable match is stored as a new record tagged for review; $merge combines them', async () => {
    const h = household();
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${hospital.body.id}`, { occurrenceDateTime: h.birthDate }) });
    // Only the placeholder surname and birth date link them: probable, not certain.
    const other = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Smith', given: ['Liam'] }], birthDate: h.birthDate, gender: 'male' },
    });
    expect(other.status, other.text).toBe(201);
    expect(other.body.id).not.toBe(hospital.body.id);
    expect(other.body.meta.tag.map((t: any) => t.code)).toContain('possible-duplicate');
    const review = await server.fhir('GET', 'Patient?_tag=https://iis-fhir-server.org/fhir/CodeSystem/match-review|possible-duplicate');
    expect(review.body.entry.map((e: any) => e.resource.id)).toContain(other.body.id);

    const mergeBody = (preview: boolean) => mergeParameters(hospital.body.id, other.body.id, preview);
    const preview = await server.fhir('POST', 'Patient/$merge', { body: mergeBody(true) });
    expect(preview.status, preview.text).toBe(200);
    expect((await server.fhir('GET', `Immunization/${dose.body.id}`)).body.patient.reference).toBe(`Patient/${hospital.body.id}`);

    const merged = await server.fhir('POST', 'Patient/$merge', { body: mergeBody(false) });
    expect(merged.status, merged.text).toBe(200);
    const result = merged.body.parameter.find((p: any) => p.name === 'result').resource;
    expect(result.link).toEqual([{ other: { reference: `Patient/${hospital.body.id}` }, type: 'replaces' }]);
    const moved = await server.fhir('GET', `Immunization/${dose.body.id}`);
    expect(moved.body.patient.reference).toBe(`Patient/${other.body.id}`);
    expect(moved.body.meta.versionId).toBe('2');
    const source = await server.fhir('GET', `Patient/${hospital.body.id}`);
    expect(source.body.active).toBe(false);
    expect(source.body.link[0]).toEqual({ other: { reference: `Patient/${other.body.id}` }, type: 'replaced-by' });
    const again = await server.fhir('POST', 'Patient/$merge', { body: mergeBody(false) });
    expect(again.status).toBe(422);
    // The merge settled this pair's review: the target named only the source, so it leaves the list.
    expect(result.meta.tag ?? []).not.toContainEqual(expect.objectContaining({ code: 'possible-duplicate' }));
    expect(result.extension ?? []).not.toContainEqual(expect.objectContaining({ url: DUPLICATE_OF }));
    const after = await server.fhir('GET', `${REVIEW_LIST}&active:not=false&_count=100`);
    expect((after.body.entry ?? []).map((e: any) => e.resource.id)).not.toContain(other.body.id);
    // The merged-away record cannot take anything back: no second, crossed merge.
    const crossed = await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(other.body.id, hospital.body.id, true) });
    expect(crossed.status, crossed.text).toBe(422);
    expect(crossed.body.issue[0].diagnostics).toBe(
      `target-patient Patient/${hospital.body.id} was already merged into Patient/${other.body.id}: merge into that record instead`
    );
    expect((await server.fhir('GET', `Patient/${other.body.id}`)).body.active).not.toBe(false);
    expect((await server.fhir('GET', `Immunization/${dose.body.id}`)).body.patient.reference).toBe(`Patient/${other.body.id}`);
  });

  it('$merge settles only the merged pair: a record naming another candidate stays under review, with its other tags and labels', async () => {
    const h = household();
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    const other = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Smith', given: ['Liam'] }], birthDate: h.birthDate, gender: 'male' } });
    expect(other.body.meta.tag.map((t: any) => t.code)).toContain('possible-duplicate');
    const second = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Okonkwo', given: ['Ada'] }], birthDate: '2019-02-03', gender: 'female' } });
    expect(second.status, second.text).toBe(201);
    const rosterTag = { system: 'urn:example:tags', code: 'school-roster' };
    const restricted = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };
    // A second candidate named on the record, and a tag and a label of someone else's.
    const named = await server.fhir('PUT', `Patient/${other.body.id}`, {
      body: {
        ...other.body,
        meta: { tag: [...other.body.meta.tag, rosterTag], security: [restricted] },
        extension: [...other.body.extension, { url: DUPLICATE_OF, valueReference: { reference: `Patient/${second.body.id}` } }],
      },
    });
    expect(named.status, named.text).toBe(200);
    const merge = (source: string) => server.fhir('POST', 'Patient/$merge', { body: mergeParameters(source, other.body.id) });
    const reviewIds = async () => ((await server.fhir('GET', `${REVIEW_LIST}&active:not=false&_count=100`)).body.entry ?? []).map((e: any) => e.resource.id);

    const first = await merge(hospital.body.id);
    expect(first.status, first.text).toBe(200);
    const afterFirst = (await server.fhir('GET', `Patient/${other.body.id}`)).body;
    expect(afterFirst.meta.tag.map((t: any) => t.code)).toEqual(['possible-duplicate', 'school-roster']);
    expect(afterFirst.meta.security).toEqual([restricted]);
    expect(afterFirst.extension.filter((e: any) => e.url === DUPLICATE_OF).map((e: any) => e.valueReference.reference)).toEqual([`Patient/${second.body.id}`]);
    expect(await reviewIds()).toContain(other.body.id);

    const last = await merge(second.body.id);
    expect(last.status, last.text).toBe(200);
    const afterLast = (await server.fhir('GET', `Patient/${other.body.id}`)).body;
    expect(afterLast.meta.tag).toEqual([rosterTag]);
    expect(afterLast.meta.security).toEqual([restricted]);
    expect(afterLast.extension ?? []).not.toContainEqual(expect.objectContaining({ url: DUPLICATE_OF }));
    expect(await reviewIds()).not.toContain(other.body.id);
  });

  it('$merge of the record under review into the older one: the merged-away record leaves the review list too', async () => {
    const h = household();
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    const other = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Smith', given: ['Liam'] }], birthDate: h.birthDate, gender: 'male' } });
    expect(other.body.meta.tag.map((t: any) => t.code)).toContain('possible-duplicate');
    const merged = await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(other.body.id, hospital.body.id) });
    expect(merged.status, merged.text).toBe(200);
    const source = (await server.fhir('GET', `Patient/${other.body.id}`)).body;
    expect(source.active).toBe(false);
    expect(source.meta.tag ?? []).not.toContainEqual(expect.objectContaining({ code: 'possible-duplicate' }));
    expect(source.extension ?? []).not.toContainEqual(expect.objectContaining({ url: DUPLICATE_OF }));
    // The plain review list (no active filter), as the README gives it.
    const list = await server.fhir('GET', `${REVIEW_LIST}&_count=1000`);
    expect((list.body.entry ?? []).map((e: any) => e.resource.id)).not.toContain(other.body.id);
    // Its history still shows it was under review.
    const first = await server.fhir('GET', `Patient/${other.body.id}/_history/1`);
    expect(first.body.meta.tag.map((t: any) => t.code)).toContain('possible-duplicate');
  });

  it('$merge refuses an inactive target (422) and a record merged into itself (400), and moves nothing', async () => {
    const h = household();
    const source = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${source.body.id}`, { occurrenceDateTime: h.birthDate }) });
    const target = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Idowu', given: ['Tobi'] }], birthDate: '2018-05-06', gender: 'male' } });
    const inactive = await server.fhir('PUT', `Patient/${target.body.id}`, { body: { ...target.body, active: false } });
    expect(inactive.status, inactive.text).toBe(200);
    const res = await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(source.body.id, target.body.id) });
    expect(res.status, res.text).toBe(422);
    expect(res.body.issue[0].diagnostics).toBe(`target-patient Patient/${target.body.id} is inactive (active: false): a merge needs an active target`);
    expect((await server.fhir('GET', `Immunization/${dose.body.id}`)).body.patient.reference).toBe(`Patient/${source.body.id}`);
    expect((await server.fhir('GET', `Patient/${source.body.id}`)).body.meta.versionId).toBe('1');
    const onItself = await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(source.body.id, source.body.id) });
    expect(onItself.status, onItself.text).toBe(400);
    expect(onItself.body.issue[0].diagnostics).toBe('source-patient and target-patient are the same record');
  });

  it('$merge by identifier (source-patient-identifier, target-patient-identifier): one live record each, or a 422 that says why', async () => {
    const h = household();
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-ID-${seq}`) });
    const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${hospital.body.id}`, { occurrenceDateTime: h.birthDate }) });
    const CLINIC = 'urn:oid:2.16.840.1.113883.3.9999.8';
    const clinic = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', identifier: [{ system: CLINIC, value: `CL|${seq},a` }], name: [{ family: 'Smith', given: ['Liam'] }], birthDate: h.birthDate, gender: 'male' },
    });
    expect(clinic.status, clinic.text).toBe(201);
    const byIdentifiers = (source: object[], target: object[], preview?: boolean) => ({
      resourceType: 'Parameters',
      parameter: [
        ...source.map((i) => ({ name: 'source-patient-identifier', valueIdentifier: i })),
        ...target.map((i) => ({ name: 'target-patient-identifier', valueIdentifier: i })),
        ...(preview === undefined ? [] : [{ name: 'preview', valueBoolean: preview }]),
      ],
    });
    const mrn = { system: MRN_SYSTEM, value: `MRN-ID-${seq}` };
    // (the clinic's value holds the search escapes' characters | and , on purpose)
    const clinicId = { system: CLINIC, value: `CL|${seq},a` };

    // Nothing carries it; a reference whose record lacks the identifier given with it.
    const none = await server.fhir('POST', 'Patient/$merge', { body: byIdentifiers([{ system: MRN_SYSTEM, value: 'NO-SUCH-MRN' }], [clinicId]) });
    expect(none.status, none.text).toBe(422);
    expect(none.body.issue[0].diagnostics).toBe(`source-patient-identifier ${MRN_SYSTEM}|NO-SUCH-MRN matches no Patient`);
    const lacking = await server.fhir('POST', 'Patient/$merge', {
      body: { resourceType: 'Parameters', parameter: [
        { name: 'source-patient', valueReference: { reference: `Patient/${hospital.body.id}` } },
        { name: 'source-patient-identifier', valueIdentifier: clinicId },
        { name: 'target-patient-identifier', valueIdentifier: clinicId },
      ] },
    });
    expect(lacking.status, lacking.text).toBe(422);
    expect(lacking.body.issue[0].diagnostics).toMatch(/does not carry the identifier/);
    const noValue = await server.fhir('POST', 'Patient/$merge', { body: byIdentifiers([{ system: MRN_SYSTEM }], [clinicId]) });
    expect(noValue.status, noValue.text).toBe(400);
    const neither = await server.fhir('POST', 'Patient/$merge', { body: byIdentifiers([], [clinicId]) });
    expect(neither.status, neither.text).toBe(400);
    expect((await server.fhir('GET', `Immunization/${dose.body.id}`)).body.patient.reference).toBe(`Patient/${hospital.body.id}`);

    const merged = await server.fhir('POST', 'Patient/$merge', { body: byIdentifiers([mrn], [clinicId]) });
    expect(merged.status, merged.text).toBe(200);
    expect((await server.fhir('GET', `Immunization/${dose.body.id}`)).body.patient.reference).toBe(`Patient/${clinic.body.id}`);
    expect((await server.fhir('GET', `Patient/${hospital.body.id}`)).body.link[0]).toEqual({ other: { reference: `Patient/${clinic.body.id}` }, type: 'replaced-by' });
    // The target now carries the hospital's MRN too; the merged-away record is no candidate, so the
    // MRN names the live record: merging it into itself is refused.
    const again = await server.fhir('POST', 'Patient/$merge', { body: byIdentifiers([mrn], [clinicId], true) });
    expect(again.status, again.text).toBe(400);
    expect(again.body.issue[0].diagnostics).toBe('source-patient and target-patient are the same record');

    // Two live records share an identifier: ambiguous, named in the message.
    const shared = { system: 'urn:oid:2.16.840.1.113883.3.9999.9', value: `SHARED-${seq}` };
    const twin = async (given: string) =>
      server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', identifier: [shared], name: [{ family: 'Abara', given: [given] }], birthDate: '2017-03-04', gender: 'female' } });
    const [a, b] = [await twin('Ada'), await twin('Obi')];
    expect([a.status, b.status]).toEqual([201, 201]);
    const ambiguous = await server.fhir('POST', 'Patient/$merge', { body: byIdentifiers([shared], [clinicId], true) });
    expect(ambiguous.status, ambiguous.text).toBe(422);
    expect(ambiguous.body.issue[0].diagnostics).toContain('matches more than one Patient');
    expect(ambiguous.body.issue[0].diagnostics).toContain(`Patient/${a.body.id}`);
    expect(ambiguous.body.issue[0].diagnostics).toContain(`Patient/${b.body.id}`);
  });

  it('a create that certainly matches a record under review updates it and keeps it under review', async () => {
    const h = household();
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, `MRN-${seq}`) });
    expect(hospital.status).toBe(201);
    // The clinic's record: the placeholder surname and birth date link it to the hospital's (probable),
    // its own MRN and phone make a later copy of it a certain match of it alone.
    const clinicRecord = {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.9999.7', value: `CL-${seq}`, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } }],
      name: [{ family: 'Smith', given: ['Liam'] }],
      birthDate: h.birthDate,
      gender: 'male',
      telecom: [{ system: 'phone', value: `312-555-${String(7000 + seq).padStart(4, '0')}` }],
    };
    const tagged = await server.fhir('POST', 'Patient', { body: clinicRecord });
    expect(tagged.status, tagged.text).toBe(201);
    expect(tagged.body.meta.tag.map((t: any) => t.code)).toContain('possible-duplicate');
    const restricted = [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }];
    const labelled = await server.fhir('PUT', `Patient/${tagged.body.id}`, { body: { ...tagged.body, meta: { tag: tagged.body.meta.tag, security: restricted } } });
    expect(labelled.status, labelled.text).toBe(200);

    const again = await server.fhir('POST', 'Patient', {
      body: { ...clinicRecord, address: [{ line: ['7 Lake Shore Drive'], city: 'Chicago', state: 'IL', postalCode: '60601' }] },
      headers: { prefer: 'return=representation' },
    });
    expect(again.status, again.text).toBe(200);
    expect(again.body.id).toBe(tagged.body.id);
    expect(again.body.meta.versionId).toBe('3');
    expect(again.body.address.map((a: any) => a.city)).toContain('Chicago');
    expect(again.body.meta.tag).toEqual(tagged.body.meta.tag);
    expect(again.body.meta.security).toEqual(restricted);
    const review = await server.fhir('GET', 'Patient?_tag=https://iis-fhir-server.org/fhir/CodeSystem/match-review|possible-duplicate&active:not=false&_count=100');
    expect(review.body.entry.map((e: any) => e.resource.id)).toContain(tagged.body.id);
    expect((await server.fhir('GET', `Patient/${hospital.body.id}`)).body.meta.versionId).toBe('1');
  });

  it("the hospital's later conditional update by MRN keeps the legal name official", async () => {
    const h = household();
    const mrn = `MRN-${seq}`;
    const hospital = await server.fhir('POST', 'Patient', { body: hospitalRecord(h, mrn) });
    await server.fhir('POST', 'Patient', { body: legalRecord(h) });
    const update = await server.fhir('PUT', `Patient?identifier=${MRN_SYSTEM}|${mrn}`, { body: hospitalRecord(h, mrn) });
    expect(update.status, update.text).toBe(200);
    expect(update.body.id).toBe(hospital.body.id);
    const official = update.body.name.find((n: any) => n.use === 'official');
    expect(official.given).toEqual(['Liam']);
    expect(update.body.name.some((n: any) => n.use === 'old' && n.given[0] === 'Baby Boy')).toBe(true);
  });
});
