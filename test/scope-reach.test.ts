// Scopes on the types a request reaches besides the one it names (CONTRACT.md "Auth": 403 for a
// token whose scopes do not allow the interaction): chains, _has, a conditional request's
// criteria, a transaction's conditional reference, and $everything's compartment types (left
// out). Without this a token holding only Patient rights read Immunizations through
// `Patient/1/$everything` and learned lot numbers through `_has`. (_include/_revinclude leave out
// unreadable types: src/interactions/search-scopes.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, startTestServer, type TestServer } from './helpers/server.js';

describe('scopes on the types a search reaches', () => {
  let server: TestServer;
  let patientId: string;
  let doseId: string;
  const as = (scope: string, extra: Record<string, unknown> = {}) => ({ authorization: `Bearer ${server.token({ scope, ...extra })}` });
  const types = (bundle: any): string[] => (bundle.entry ?? []).map((e: any) => e.resource.resourceType);

  beforeAll(async () => {
    server = await startTestServer('embedded');
    patientId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Reachfam', given: ['Ann'] }] }) })).body.id;
    doseId = (await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${patientId}`, { lotNumber: 'REACHLOT' }) })).body.id;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('403 for chains and _has into a type the token may not search, in a batch entry too', async () => {
    const patientOnly = as('user/Patient.rs');
    const immunizationOnly = as('user/Immunization.rs');
    for (const [path, headers, type] of [
      ['Patient?_has:Immunization:patient:lot-number=REACHLOT', patientOnly, 'Immunization'],
      ['Patient?_has:Immunization:patient:lot-number=REACHLOT&_summary=count', patientOnly, 'Immunization'],
      ['Immunization?patient.family=Reachfam', immunizationOnly, 'Patient'],
      ['Immunization?patient:Patient.identifier=x', immunizationOnly, 'Patient'],
    ] as const) {
      const res = await server.fhir('GET', path, { headers });
      expect(res.status, path).toBe(403);
      expect(res.body.issue[0].diagnostics, path).toContain(type);
      const batch = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: path } }] }, headers });
      expect(batch.body.entry[0].response.status, path).toBe('403 Forbidden');
    }
  });

  it('the same searches work with search rights on both types, patient/ scopes inside their compartment included', async () => {
    expect((await server.fhir('GET', 'Immunization?patient.family=Reachfam', { headers: as('user/Immunization.rs user/Patient.s') })).body.total).toBe(1);
    expect((await server.fhir('GET', 'Patient?_has:Immunization:patient:lot-number=REACHLOT', { headers: as('user/Patient.rs user/Immunization.s') })).body.total).toBe(1);
    const own = await server.fhir('GET', 'Patient?_has:Immunization:patient:lot-number=REACHLOT&_revinclude=Immunization:patient', {
      headers: as('patient/Patient.rs patient/Immunization.rs', { patient: patientId }),
    });
    expect(types(own.body)).toEqual(['Patient', 'Immunization']);
  });

  it('a patient/ right does not stretch a user/ search beyond the compartment (chains, _has, includes)', async () => {
    const mixed = as('user/Patient.rs patient/Immunization.rs', { patient: 'someone-else' });
    expect((await server.fhir('GET', 'Patient?_has:Immunization:patient:lot-number=REACHLOT', { headers: mixed })).status).toBe(403);
    const included = await server.fhir('GET', `Patient?_id=${patientId}&_revinclude=Immunization:patient`, { headers: mixed });
    expect(included.status).toBe(200);
    expect(types(included.body)).toEqual(['Patient', 'OperationOutcome']);
    expect(included.text).not.toContain('REACHLOT');
  });

  it('a bulk export _typeFilter needs search rights on what its chains and _has reach', async () => {
    const typeFilter = encodeURIComponent('Patient?_has:Immunization:patient:lot-number=REACHLOT');
    const kickoff = (scope: string) =>
      server.fhir('GET', `Patient/$export?_type=Patient&_typeFilter=${typeFilter}`, { headers: { ...as(scope), prefer: 'respond-async' } });
    const refused = await kickoff('system/Patient.rs');
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].diagnostics).toContain('Immunization');
    expect((await kickoff('system/Patient.rs system/Immunization.s')).status).toBe(202);
  });

  it('$everything leaves out the compartment types the token may not read, and 403 when _type names one', async () => {
    const everything = await server.fhir('GET', `Patient/${patientId}/$everything`, { headers: as('user/Patient.rs') });
    expect(everything.status).toBe(200);
    expect(types(everything.body)).toEqual(['Patient']);
    const own = await server.fhir('GET', `Patient/${patientId}/$everything`, { headers: as('patient/Patient.rs', { patient: patientId }) });
    expect(types(own.body)).toEqual(['Patient']);
    const listed = await server.fhir('GET', `Patient/${patientId}/$everything?_type=Patient,Immunization`, { headers: as('user/Patient.rs') });
    expect(listed.status).toBe(403);
    const full = await server.fhir('GET', `Patient/${patientId}/$everything`, { headers: as('user/Patient.rs user/Immunization.rs') });
    expect(types(full.body)).toEqual(['Patient', 'Immunization']);
  });

  it('a conditional request and a conditional reference need search rights on what they search', async () => {
    const immunizationWriter = as('user/Immunization.cruds');
    const conditional = await server.fhir('POST', 'Immunization', {
      body: immunization(`Patient/${patientId}`),
      headers: { ...immunizationWriter, 'if-none-exist': 'patient.family=Reachfam' },
    });
    expect(conditional.status).toBe(403);
    const transaction = await server.fhir('POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'POST', url: 'Immunization' }, resource: immunization('Patient?name=Reachfam') }],
      },
      headers: immunizationWriter,
    });
    expect(transaction.status).toBe(403);
    expect(transaction.text).toContain('Patient');
    const allowed = await server.fhir('POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'POST', url: 'Immunization' }, resource: immunization('Patient?name=Reachfam') }],
      },
      headers: as('user/Immunization.cruds user/Patient.rs'),
    });
    expect(allowed.status, allowed.text).toBe(200);
  });
});
