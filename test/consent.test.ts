// Data sharing by Consent (CONTRACT.md "Data sharing") and patient/ compartment confinement, on
// every read path: read, vread, search, _include, _revinclude, history, batch entries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, mergeParameters, patient, sharingConsent, startTestServer, type TestServer } from './helpers/server.js';

const consent = sharingConsent;

describe('data sharing and patient compartments', () => {
  let server: TestServer;
  const ids: Record<string, string> = {};
  const imm: Record<string, string> = {};
  const as = (claims: Record<string, unknown>) => ({ authorization: `Bearer ${server.token(claims)}` });
  const orgC = () => as({ scope: 'user/*.cruds', organization: 'Organization/C' });

  beforeAll(async () => {
    server = await startTestServer('embedded');
    for (const name of ['yes', 'no', 'unknown', 'noExempt']) {
      const res = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: `Share${name}`, given: ['Kid'] }] }) });
      ids[name] = res.body.id;
      const i = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${res.body.id}`) });
      imm[name] = i.body.id;
    }
    const post = async (body: unknown) => {
      const res = await server.fhir('POST', 'Consent', { body });
      expect(res.status, res.text).toBe(201);
    };
    await post(consent(ids.no, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }));
    await post(consent(ids.unknown, { status: 'proposed', provision: { type: 'deny' } }));
    await post(
      consent(ids.noExempt, {
        provision: { type: 'deny', provision: [{ type: 'permit', actor: [{ role: { text: 'custodian' }, reference: { reference: 'Organization/B' } }] }] },
      })
    );
  });
  afterAll(async () => {
    await server?.close();
  });

  it('public health sees everything', async () => {
    for (const id of Object.values(ids)) expect((await server.fhir('GET', `Patient/${id}`)).status).toBe(200);
  });

  it('"No": another organization gets 403 data-sharing-restricted on read, vread and the Immunization', async () => {
    for (const path of [`Patient/${ids.no}`, `Patient/${ids.no}/_history/1`, `Immunization/${imm.no}`, `Patient/${ids.no}/_history`]) {
      const res = await server.fhir('GET', path, { headers: orgC() });
      expect(res.status, path).toBe(403);
      expect(res.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
    }
    // The refusal of a dose, a Consent or an unknown-status dose does not say whose it is.
    const consents = (await server.fhir('GET', `Consent?patient=Patient/${ids.no}`)).body.entry.map((e: any) => e.resource.id);
    for (const path of [`Immunization/${imm.no}`, `Consent/${consents[0]}`, `Immunization/${imm.unknown}`]) {
      const res = await server.fhir('GET', path, { headers: orgC() });
      expect(res.status, path).toBe(403);
      expect(res.text, path).not.toContain(ids.no);
      expect(res.text, path).not.toContain(ids.unknown);
      expect(res.body.issue[0].diagnostics, path).toContain(path);
    }
    expect((await server.fhir('GET', `Patient/${ids.yes}`, { headers: orgC() })).status).toBe(200);
  });

  it('"No": the Consent organization and a nested permit actor still see the patient', async () => {
    expect((await server.fhir('GET', `Patient/${ids.no}`, { headers: as({ scope: 'user/*.rs', organization: 'Organization/A' }) })).status).toBe(200);
    expect((await server.fhir('GET', `Patient/${ids.noExempt}`, { headers: as({ scope: 'user/*.rs', organization: 'Organization/B' }) })).status).toBe(200);
    expect((await server.fhir('GET', `Patient/${ids.noExempt}`, { headers: orgC() })).status).toBe(403);
  });

  it('searches, _include, _revinclude and history leave hidden patients out', async () => {
    const patients = await server.fhir('GET', 'Patient?family:contains=Share&_revinclude=Immunization:patient', { headers: orgC() });
    expect(patients.status).toBe(200);
    const seen = patients.body.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);
    expect(seen).toContain(`Patient/${ids.yes}`);
    expect(seen).toContain(`Immunization/${imm.yes}`);
    for (const hidden of ['no', 'unknown', 'noExempt']) {
      expect(seen).not.toContain(`Patient/${ids[hidden]}`);
      expect(seen).not.toContain(`Immunization/${imm[hidden]}`);
    }
    const imms = await server.fhir('GET', `Immunization?_include=Immunization:patient&_count=100`, { headers: orgC() });
    const immSeen = imms.body.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);
    expect(immSeen).toContain(`Immunization/${imm.yes}`);
    expect(immSeen).not.toContain(`Immunization/${imm.no}`);
    expect(immSeen).not.toContain(`Patient/${ids.no}`);
    const history = await server.fhir('GET', 'Patient/_history?_count=1000', { headers: orgC() });
    const historySeen = history.body.entry.map((e: any) => e.resource?.id);
    expect(historySeen).toContain(ids.yes);
    expect(historySeen).not.toContain(ids.no);
    expect(history.body.total).toBeUndefined();
    const all = await server.fhir('GET', 'Patient?family:contains=Share', {});
    expect(all.body.entry).toHaveLength(4);
  });

  it('$everything: the compartment for those who may see it, 403 for a hidden patient', async () => {
    const all = await server.fhir('GET', `Patient/${ids.yes}/$everything`, { headers: orgC() });
    expect(all.status, all.text).toBe(200);
    const seen = all.body.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);
    expect(seen).toEqual(expect.arrayContaining([`Patient/${ids.yes}`, `Immunization/${imm.yes}`]));
    const hidden = await server.fhir('GET', `Patient/${ids.no}/$everything`, { headers: orgC() });
    expect(hidden.status).toBe(403);
    expect(hidden.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
    const publicHealth = await server.fhir('GET', `Patient/${ids.no}/$everything?_type=Immunization`);
    expect(publicHealth.body.entry.map((e: any) => e.resource.id)).toEqual([imm.no]);
  });

  it('batch entries are checked like requests', async () => {
    const res = await server.fhir('POST', '', {
      body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${ids.no}` } }, { request: { method: 'GET', url: `Patient/${ids.yes}` } }] },
      headers: orgC(),
    });
    expect(res.body.entry[0].response.status).toBe('403 Forbidden');
    expect(res.body.entry[1].response.status).toBe('200 OK');
  });

  it('"Unknown": 403 data-sharing-unknown until the organization records Yes; the change stays in history', async () => {
    const before = await server.fhir('GET', `Patient/${ids.unknown}`, { headers: orgC() });
    expect(before.status).toBe(403);
    expect(before.body.issue[0].details.coding[0].code).toBe('data-sharing-unknown');
    const recorded = await server.fhir('POST', 'Consent', {
      body: consent(ids.unknown, { provision: { type: 'permit' }, dateTime: '2025-06-01T00:00:00Z' }),
      headers: orgC(),
    });
    expect(recorded.status).toBe(201);
    expect((await server.fhir('GET', `Patient/${ids.unknown}`, { headers: orgC() })).status).toBe(200);
    const consents = await server.fhir('GET', `Consent?patient=Patient/${ids.unknown}`);
    expect(consents.body.entry).toHaveLength(2);
  });

  it('an objection and its withdrawal: the newest Consent decides', async () => {
    const target = (await server.fhir('POST', 'Patient', { body: patient() })).body.id;
    const objection = await server.fhir('POST', 'Consent', { body: consent(target, { provision: { type: 'deny' }, dateTime: '2025-01-01T00:00:00Z' }) });
    expect((await server.fhir('GET', `Patient/${target}`, { headers: orgC() })).status).toBe(403);
    const withdrawn = await server.fhir('PUT', `Consent/${objection.body.id}`, {
      body: { ...objection.body, status: 'inactive' },
    });
    expect(withdrawn.status).toBe(200);
    expect((await server.fhir('GET', `Patient/${target}`, { headers: orgC() })).status).toBe(200);
    const history = await server.fhir('GET', `Consent/${objection.body.id}/_history`);
    expect(history.body.entry.map((e: any) => e.resource.status)).toEqual(['inactive', 'active']);
  });

  it('a Consent naming its patient by an absolute or versioned reference decides as well; an absolute permit actor stays exempt', async () => {
    for (const form of ['absolute', 'versioned'] as const) {
      const target = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: `Ref${form}`, given: ['Kid'] }] }) })).body.id;
      const dose = (await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${target}`) })).body.id;
      const reference = form === 'absolute' ? `${server.baseUrl}/Patient/${target}` : `Patient/${target}/_history/1`;
      const objection = await server.fhir('POST', 'Consent', {
        body: consent(target, {
          patient: { reference },
          provision: {
            type: 'deny',
            provision: [{ type: 'permit', actor: [{ role: { text: 'custodian' }, reference: { reference: `${server.baseUrl}/Organization/B` } }] }],
          },
        }),
      });
      expect(objection.status, objection.text).toBe(201);
      for (const path of [`Patient/${target}`, `Immunization/${dose}`]) {
        const res = await server.fhir('GET', path, { headers: orgC() });
        expect(res.status, `${form} ${path}`).toBe(403);
        expect(res.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
      }
      const search = await server.fhir('GET', `Patient?family=Ref${form}&_revinclude=Immunization:patient`, { headers: orgC() });
      expect(search.body.entry ?? [], form).toEqual([]);
      const exempt = as({ scope: 'user/*.rs', organization: 'Organization/B' });
      expect((await server.fhir('GET', `Patient/${target}`, { headers: exempt })).status, form).toBe(200);
    }
  });

  it('"No": a version past the last, a deleted record and its deletion say nothing either (403, left out of history)', async () => {
    const target = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Gonehidden', given: ['Kid'] }] }) })).body.id;
    const dose = (await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${target}`) })).body.id;
    expect((await server.fhir('POST', 'Consent', { body: consent(target, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }) })).status).toBe(201);
    for (const path of [`Patient/${target}/_history/2`, `Patient/${target}/_history/99`, `Immunization/${dose}/_history/2`]) {
      const res = await server.fhir('GET', path, { headers: orgC() });
      expect(res.status, path).toBe(403);
      expect(res.body.issue[0].details.coding[0].code, path).toBe('data-sharing-restricted');
    }
    expect((await server.fhir('DELETE', `Immunization/${dose}`)).status).toBe(204);
    expect((await server.fhir('DELETE', `Patient/${target}`)).status).toBe(204);
    for (const path of [`Patient/${target}`, `Patient/${target}/_history`, `Patient/${target}/_history/2`, `Immunization/${dose}`, `Immunization/${dose}/_history/2`]) {
      const res = await server.fhir('GET', path, { headers: orgC() });
      expect(res.status, path).toBe(403);
      expect(res.headers.get('etag'), path).toBeNull();
    }
    for (const path of ['Patient/_history?_count=1000', 'Immunization/_history?_count=1000', '_history?_count=1000']) {
      const history = await server.fhir('GET', path, { headers: orgC() });
      expect(history.status, path).toBe(200);
      expect(JSON.stringify(history.body), path).not.toContain(target);
      expect(JSON.stringify(history.body), path).not.toContain(dose);
    }
    const recreate = await server.fhir('PUT', `Patient/${target}`, { body: patient({ id: target }), headers: orgC() });
    expect(recreate.status).toBe(403);
    // Public health and the Consent's organization still see the deletions.
    expect((await server.fhir('GET', `Patient/${target}`)).status).toBe(410);
    expect((await server.fhir('GET', `Patient/${target}`, { headers: as({ scope: 'user/*.rs', organization: 'Organization/A' }) })).status).toBe(410);
    const own = await server.fhir('GET', 'Immunization/_history?_count=1000', { headers: as({ scope: 'user/*.rs', organization: 'Organization/A' }) });
    expect(JSON.stringify(own.body)).toContain(dose);
  });

  it('"No": after $merge the choice on the merged-away source counts for the target too, so neither shows', async () => {
    const family = `Mergehidden${Date.now()}`;
    const source = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family, given: ['Kid'] }], birthDate: '2022-02-02' }) })).body.id;
    const target = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: `${family}x`, given: ['Kid'] }], birthDate: '2022-02-02' }) })).body.id;
    const dose = (await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${source}`, { occurrenceDateTime: '2022-04-01' }) })).body.id;
    const objection = await server.fhir('POST', 'Consent', { body: consent(source, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }) });
    expect(objection.status).toBe(201);
    const merged = await server.fhir('POST', 'Patient/$merge', {
      body: mergeParameters(source, target),
    });
    expect(merged.status, merged.text).toBe(200);
    for (const path of [`Patient/${source}`, `Patient/${source}/_history/1`, `Patient/${target}`, `Immunization/${dose}`]) {
      const res = await server.fhir('GET', path, { headers: orgC() });
      expect(res.status, path).toBe(403);
      expect(res.body.issue[0].details.coding[0].code, path).toBe('data-sharing-restricted');
    }
    const search = await server.fhir('GET', `Patient?family=${family}`, { headers: orgC() });
    expect(search.body.entry ?? []).toEqual([]);
    // The choice stays, unchanged (version 1), on the record it names: the person's records share it.
    const kept = await server.fhir('GET', `Consent/${objection.body.id}`);
    expect([kept.body.patient.reference, kept.body.meta.versionId]).toEqual([`Patient/${source}`, '1']);
    expect((await server.fhir('GET', `Consent?patient=Patient/${target}`)).body.entry ?? []).toEqual([]);
    expect((await server.fhir('GET', `Patient/${source}`, { headers: as({ scope: 'user/*.rs', organization: 'Organization/A' }) })).status).toBe(200);
  });

  it('"No": a Group shows another organization its other members only, and keeps the hidden ones when that organization writes it', async () => {
    const group = await server.fhir('POST', 'Group', {
      body: { resourceType: 'Group', type: 'person', actual: true, quantity: 2, member: [{ entity: { reference: `Patient/${ids.no}` } }, { entity: { reference: `Patient/${ids.yes}` } }] },
    });
    expect(group.status, group.text).toBe(201);
    const id = group.body.id;
    for (const path of [`Group/${id}`, `Group/${id}/_history/1`, `Group?_id=${id}`, `Group/${id}/_history`, 'Group/_history']) {
      const res = await server.fhir('GET', path, { headers: orgC() });
      expect(res.status, path).toBe(200);
      expect(res.text, path).not.toContain(ids.no);
      expect(res.text, path).toContain(ids.yes);
    }
    // Asking which Groups a hidden child is in finds none; asking about a visible one still works.
    expect((await server.fhir('GET', `Group?member=Patient/${ids.no}`, { headers: orgC() })).body.entry ?? []).toEqual([]);
    expect((await server.fhir('GET', `Group?member=Patient/${ids.no}&_summary=count`, { headers: orgC() })).body.total).toBe(0);
    expect((await server.fhir('GET', `Group?member=${ids.no}`, { headers: orgC() })).body.entry ?? []).toEqual([]);
    expect((await server.fhir('GET', `Group?member=Patient/${ids.yes}`, { headers: orgC() })).body.total).toBe(1);
    expect((await server.fhir('GET', `Group?member=Patient/${ids.no}`)).body.total).toBe(1);
    const seen = (await server.fhir('GET', `Group/${id}`, { headers: orgC() })).body;
    expect(seen.quantity).toBe(1);
    expect(seen.meta.tag.map((t: any) => t.code)).toContain('SUBSETTED');
    // Organization C renames the Group it sees, then patches it: the hidden member stays.
    const renamed = await server.fhir('PUT', `Group/${id}`, { body: { ...seen, name: 'Renamed' }, headers: orgC() });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.text).not.toContain(ids.no);
    const patched = await server.fhir('PATCH', `Group/${id}`, {
      raw: JSON.stringify([{ op: 'add', path: '/member/-', value: { entity: { reference: `Patient/${ids.noExempt}` } } }]),
      headers: { ...orgC(), 'content-type': 'application/json-patch+json' },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.text).not.toContain(ids.no + '"');
    const stored = (await server.fhir('GET', `Group/${id}`)).body;
    expect(stored.name).toBe('Renamed');
    expect(stored.member.map((m: any) => m.entity.reference).sort()).toEqual([`Patient/${ids.no}`, `Patient/${ids.noExempt}`, `Patient/${ids.yes}`].sort());
    expect(stored.quantity).toBe(2);
    expect((stored.meta.tag ?? []).map((t: any) => t.code)).not.toContain('SUBSETTED');
  });

  it('an organization claim that names no facility is refused (401), never taken for public health', async () => {
    for (const organization of ['', 7, null, ['Organization/C'], { reference: 'Organization/C' }]) {
      const res = await server.fhir('GET', `Patient/${ids.no}`, { headers: as({ scope: 'user/*.cruds', organization }) });
      expect(res.status, JSON.stringify(organization)).toBe(401);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.text).not.toContain('Shareno');
    }
  });

  it('patient/ tokens are confined to their compartment on read, search and writes', async () => {
    const mine = as({ scope: 'patient/*.rs patient/Immunization.c', patient: ids.yes });
    expect((await server.fhir('GET', `Patient/${ids.yes}`, { headers: mine })).status).toBe(200);
    expect((await server.fhir('GET', `Immunization/${imm.yes}`, { headers: mine })).status).toBe(200);
    expect((await server.fhir('GET', `Patient/${ids.no}`, { headers: mine })).status).toBe(403);
    expect((await server.fhir('GET', `Immunization/${imm.noExempt}`, { headers: mine })).status).toBe(403);
    const search = await server.fhir('GET', 'Immunization?_count=1000', { headers: mine });
    expect(search.body.entry.map((e: any) => e.resource.id)).toEqual([imm.yes]);
    const patients = await server.fhir('GET', 'Patient?_count=1000', { headers: mine });
    expect(patients.body.entry.map((e: any) => e.resource.id)).toEqual([ids.yes]);
    const foreign = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${ids.no}`), headers: mine });
    expect(foreign.status).toBe(403);
    const own = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${ids.yes}`), headers: mine });
    expect(own.status).toBe(201);
    const noClaim = as({ scope: 'patient/*.rs' });
    expect((await server.fhir('GET', `Patient/${ids.yes}`, { headers: noClaim })).status).toBe(403);
  });
});

// CONTRACT.md defines a data-sharing Consent by scope, category, patient, status and provision.type;
// FHIR R4's ppc-1 also wants policy or policyRule. A clinic's Consent with only the contract's
// fields must still record the family's decision (the server adds the policyRule and says so).
describe('a data-sharing Consent with only the contract\'s fields', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });
  const orgC = () => ({ authorization: `Bearer ${server.token({ scope: 'user/*.cruds', organization: 'Organization/C' })}` });
  const bare = (patientId: string, fields: Record<string, unknown>) => {
    const body = consent(patientId, fields);
    delete body.policyRule;
    return body;
  };

  it('is stored with policyRule OPTOUT for deny (an information issue says so) and hides the child', async () => {
    const kid = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Bareconsent', given: ['Nora'] }] }) });
    const res = await server.fhir('POST', 'Consent', {
      body: bare(kid.body.id, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }),
      headers: { prefer: 'return=OperationOutcome' },
    });
    expect(res.status, res.text).toBe(201);
    const added = res.body.issue.find((i: any) => i.expression?.[0] === 'Consent.policyRule');
    expect(added?.severity).toBe('information');
    const stored = await server.fhir('GET', (res.headers.get('location') ?? '').replace(/^.*\/fhir\//, '').replace(/\/_history\/.*$/, ''));
    expect(stored.body.policyRule.coding[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' });
    const read = await server.fhir('GET', `Patient/${kid.body.id}`, { headers: orgC() });
    expect(read.status).toBe(403);
    expect(read.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
  });

  it('gets OPTIN for permit and for a proposed Consent without provision (Unknown), in a transaction too', async () => {
    const kid = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Bareconsent', given: ['Otto'] }] }) });
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'POST', url: 'Consent' }, resource: bare(kid.body.id, { status: 'proposed', provision: undefined }) }],
    };
    const tx = await server.fhir('POST', '', { body: bundle });
    expect(tx.status, tx.text).toBe(200);
    expect(tx.body.entry[0].response.status).toMatch(/^201/);
    const read = await server.fhir('GET', `Patient/${kid.body.id}`, { headers: orgC() });
    expect(read.body.issue?.[0]?.details?.coding?.[0]?.code).toBe('data-sharing-unknown');
    const yes = await server.fhir('POST', 'Consent', { body: bare(kid.body.id, { dateTime: '2025-06-01T00:00:00Z', provision: { type: 'permit' } }) });
    expect(yes.status, yes.text).toBe(201);
    expect(yes.body.policyRule.coding[0].code).toBe('OPTIN');
    expect((await server.fhir('GET', `Patient/${kid.body.id}`, { headers: orgC() })).status).toBe(200);
  });

  it('leaves other Consents to FHIR: no policy on a treatment Consent is still a 422 (ppc-1)', async () => {
    const kid = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Bareconsent', given: ['Ida'] }] }) });
    const body = bare(kid.body.id, { scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' }] } });
    const res = await server.fhir('POST', 'Consent', { body });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toContain('ppc-1');
  });

  it('keeps a policyRule the client sent, and odd shapes are a 4xx, not a crash', async () => {
    const kid = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Bareconsent', given: ['Uma'] }] }) });
    const own = consent(kid.body.id, { policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTINR' }] } });
    const kept = await server.fhir('POST', 'Consent', { body: own });
    expect(kept.status, kept.text).toBe(201);
    expect(kept.body.policyRule.coding[0].code).toBe('OPTINR');
    for (const odd of [{ scope: 'patient-privacy' }, { scope: { coding: 'x' } }, { category: { coding: [] } }, { provision: 'deny' }, { category: [null] }]) {
      const res = await server.fhir('POST', 'Consent', { body: bare(kid.body.id, odd) });
      expect(res.status, JSON.stringify(odd)).toBeGreaterThanOrEqual(400);
      expect(res.status, JSON.stringify(odd)).toBeLessThan(500);
    }
  });
});

describe('data-sharing Consents over HTTP: patient, future dateTime, nested deny', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });
  const org = (id: string) => ({ authorization: `Bearer ${server.token({ scope: 'user/*.cruds', organization: `Organization/${id}` })}` });
  const newKid = async (given: string) => (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Consentprobe', given: [given] }] }) })).body.id as string;

  it('refuses a Consent whose patient is unknown, not a Patient, contained or missing (422 at Consent.patient)', async () => {
    const kid = await newKid('Ana');
    const contained = consent(kid, { patient: { reference: '#p' }, contained: [patient({ id: 'p' })], provision: { type: 'deny' } });
    for (const body of [
      consent('no-such-child', { provision: { type: 'deny' } }),
      consent(kid, { patient: { reference: `Group/${kid}` }, provision: { type: 'deny' } }),
      contained,
      consent(kid, { patient: { display: 'Ana' }, provision: { type: 'deny' } }),
    ]) {
      const res = await server.fhir('POST', 'Consent', { body });
      expect(res.status, JSON.stringify(body.patient)).toBe(422);
      expect(res.body.issue.some((i: any) => i.severity === 'error' && i.expression?.[0] === 'Consent.patient'), res.text).toBe(true);
    }
    expect((await server.fhir('POST', 'Consent', { body: consent(kid, { provision: { type: 'deny' } }) })).status).toBe(201);
  });

  it('refuses an Immunization whose patient is contained (patient-unknown)', async () => {
    const body = { ...immunization('#c'), contained: [patient({ id: 'c' })] };
    const res = await server.fhir('POST', 'Immunization', { body });
    expect(res.status, res.text).toBe(422);
    expect(res.body.issue.map((i: any) => i.details?.coding?.[0]?.code)).toContain('patient-unknown');
  });

  it('a Consent dated in the future does not outrank the family withdrawing it later', async () => {
    const kid = await newKid('Bea');
    const future = await server.fhir('POST', 'Consent', { body: consent(kid, { dateTime: '2099-01-01', provision: { type: 'deny' } }), headers: { prefer: 'return=OperationOutcome' } });
    expect(future.status).toBe(201);
    expect(future.body.issue.find((i: any) => i.expression?.[0] === 'Consent.dateTime')?.severity).toBe('warning');
    expect((await server.fhir('GET', `Patient/${kid}`, { headers: org('C') })).status).toBe(403);
    const now = new Date().toISOString();
    expect((await server.fhir('POST', 'Consent', { body: consent(kid, { dateTime: now, provision: { type: 'permit' } }) })).status).toBe(201);
    expect((await server.fhir('GET', `Patient/${kid}`, { headers: org('C') })).status).toBe(200);
  });

  it('a deny nested in a permit hides the child from that organization only; an ended deny hides nobody', async () => {
    const kid = await newKid('Cleo');
    const nested = { type: 'permit', provision: [{ type: 'deny', actor: [{ role: { text: 'custodian' }, reference: { reference: 'Organization/C' } }] }] };
    expect((await server.fhir('POST', 'Consent', { body: consent(kid, { provision: nested }) })).status).toBe(201);
    const refused = await server.fhir('GET', `Patient/${kid}`, { headers: org('C') });
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
    const search = await server.fhir('GET', `Patient?family=Consentprobe&given=Cleo`, { headers: org('C') });
    expect(search.body.entry ?? []).toHaveLength(0);
    expect((await server.fhir('GET', `Patient/${kid}`, { headers: org('D') })).status).toBe(200);

    const other = await newKid('Dora');
    const ended = { type: 'deny', period: { start: '2020-01-01', end: '2020-12-31' } };
    expect((await server.fhir('POST', 'Consent', { body: consent(other, { dateTime: '2020-01-01T00:00:00Z', provision: ended }) })).status).toBe(201);
    expect((await server.fhir('GET', `Patient/${other}`, { headers: org('C') })).status).toBe(200);
  });
});
