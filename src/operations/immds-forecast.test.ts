// $immds-forecast over HTTP: the POST with the history in Parameters, the GET on a stored patient
// under the same scope and data-sharing rules as a read, and clear 4xx answers to bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, sharingConsent, startTestServer, type TestServer } from '../../test/helpers/server.js';

type Rec = { vaccineCode: { text: string }[]; forecastStatus: { coding: { code: string }[] }; doseNumberPositiveInt?: number; dateCriterion?: { code: { coding: { code: string }[] }; value: string }[] };

const group = (body: any, name: string): Rec =>
  body.parameter.find((p: any) => p.name === 'recommendation').resource.recommendation.find((r: Rec) => r.vaccineCode[0].text === name);
const date = (r: Rec, loinc: string) => r.dateCriterion?.find((d) => d.code.coding[0].code === loinc)?.value;

describe('$immds-forecast', () => {
  let server: TestServer;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer('embedded');
    for (const name of ['shared', 'restricted']) {
      const p = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: `Forecast${name}`, given: ['Kid'] }], birthDate: '2025-01-10' }) });
      expect(p.status, p.text).toBe(201);
      ids[name] = p.body.id;
      for (const day of ['2025-01-11', '2025-03-10']) {
        const i = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${p.body.id}`, { occurrenceDateTime: day }) });
        expect(i.status, i.text).toBe(201);
      }
    }
    const c = await server.fhir('POST', 'Consent', { body: sharingConsent(ids.restricted!, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }) });
    expect(c.status, c.text).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('POST: evaluates the given history and forecasts each vaccine group', async () => {
    const res = await server.fhir('POST', '$immds-forecast', {
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'assessmentDate', valueDate: '2025-11-10' },
          { name: 'patient', resource: { resourceType: 'Patient', id: 'x', birthDate: '2025-09-06', gender: 'female' } },
          { name: 'immunization', resource: { resourceType: 'Immunization', id: 'd1', status: 'completed', patient: { reference: 'Patient/x' }, vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '107' }] }, occurrenceDateTime: '2025-10-15' } },
          { name: 'immunization', resource: { resourceType: 'Immunization', id: 'd2', status: 'completed', patient: { reference: 'Patient/x' }, vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '107' }] }, occurrenceDateTime: '2025-11-10' } },
        ],
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.resourceType).toBe('Parameters');
    const second = res.body.parameter.filter((p: any) => p.name === 'evaluation' && p.resource.immunizationEvent.reference === 'Immunization/d2');
    expect(second).toHaveLength(3);
    expect(second[0].resource.doseStatusReason[0].text).toBe('Age: Too Young');
    const dtap = group(res.body, 'DTaP/Tdap/Td');
    expect(dtap.forecastStatus.coding[0].code).toBe('notComplete');
    expect(dtap.doseNumberPositiveInt).toBe(2);
    expect(date(dtap, '30981-5')).toBe('2025-12-08');
    expect(date(dtap, '30980-7')).toBe('2026-01-06');
    expect(date(dtap, '59778-1')).toBe('2026-03-05');
  });

  it('POST: bad input is a 400 OperationOutcome naming every problem', async () => {
    const res = await server.fhir('POST', '$immds-forecast', {
      body: { resourceType: 'Parameters', parameter: [{ name: 'assessmentDate', valueDate: 'soon' }, { name: 'immunization', resource: { resourceType: 'Patient' } }] },
    });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const text = res.body.issue.map((i: any) => i.diagnostics ?? i.details?.text).join(' ');
    expect(text).toMatch(/assessmentDate/);
    expect(text).toMatch(/patient/);
    expect((await server.fhir('POST', '$immds-forecast', { body: { resourceType: 'Patient' } })).status).toBe(400);
    expect((await server.fhir('GET', '$immds-forecast')).status).toBe(400);
    expect((await server.fhir('POST', '$immds-forecast', { body: { resourceType: 'Parameters', parameter: {} } })).status).toBe(400);
    expect((await server.fhir('POST', '$immds-forecast', { body: { resourceType: 'Parameters', parameter: [null] } })).status).toBe(400);
    // Misshapen parts of the given resources count for nothing: never a 500.
    const odd = await server.fhir('POST', '$immds-forecast', {
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'assessmentDate', valueDate: '2025-11-10' },
          { name: 'patient', resource: { resourceType: 'Patient', birthDate: '2025-01-06', extension: {} } },
          { name: 'immunization', resource: { resourceType: 'Immunization', id: 'a', vaccineCode: { coding: [{ code: '20' }] }, occurrenceDateTime: '2025-03-10', extension: 'x' } },
          { name: 'condition', resource: { resourceType: 'Condition', code: { coding: {} } } },
        ],
      },
    });
    expect(odd.status, odd.text).toBe(200);
    expect((await server.fhir('POST', '$immds-forecast', { body: { resourceType: 'Parameters', parameter: [{ name: 'assessmentDate', valueDate: '2025-11-10' }, { name: 'patient', resource: { resourceType: 'Patient', birthDate: '2025-01-06' } }, { name: 'immunization', resource: { resourceType: 'Immunization', vaccineCode: { coding: {} }, occurrenceDateTime: '2025-03-10' } }] } })).status).toBe(400);
  });

  it('GET on a stored patient: the record\'s doses, at the assessment date asked for', async () => {
    const res = await server.fhir('GET', `Patient/${ids.shared}/$immds-forecast?assessmentDate=2025-06-01`);
    expect(res.status, res.text).toBe(200);
    const evaluations = res.body.parameter.filter((p: any) => p.name === 'evaluation');
    expect(evaluations.map((p: any) => p.resource.doseStatus.coding[0].code)).toEqual(['valid', 'valid']);
    const hepb = group(res.body, 'HepB');
    expect(hepb.forecastStatus.coding[0].code).toBe('notComplete');
    expect(hepb.doseNumberPositiveInt).toBe(3);
    expect((await server.fhir('GET', `Patient/${ids.shared}/$immds-forecast?assessmentDate=2025-13-01`)).status).toBe(400);
    expect((await server.fhir('GET', `Patient/does-not-exist/$immds-forecast`)).status).toBe(404);
  });

  it('GET follows data sharing and scopes like a read', async () => {
    const orgC = { authorization: `Bearer ${server.token({ scope: 'user/*.rs', organization: 'Organization/C' })}` };
    const restricted = await server.fhir('GET', `Patient/${ids.restricted}/$immds-forecast`, { headers: orgC });
    expect(restricted.status).toBe(403);
    expect(restricted.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
    expect((await server.fhir('GET', `Patient/${ids.shared}/$immds-forecast`, { headers: orgC })).status).toBe(200);
    const noImmunizationScope = { authorization: `Bearer ${server.token({ scope: 'user/Patient.rs' })}` };
    expect((await server.fhir('GET', `Patient/${ids.shared}/$immds-forecast`, { headers: noImmunizationScope })).status).toBe(403);
  });
});
