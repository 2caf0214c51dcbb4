// Stored-patient forecasts read the observations the registry holds for the patient: Conditions
// written over FHIR (read through the caller-scoped store, so data sharing applies), and an HL7 v2
// VXU reporting evidence of immunity (OBX 59784-9 on an RXA 998 "no vaccine administered") is
// stored by src/hl7v2 as an extension on the Immunization; GET Patient/{id}/$immds-forecast must
// then answer as the POST form given the same observation as a Condition.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlId, hl7Date, order, pid, vxu, yearsAgo } from '../src/hl7v2/test-messages.js';
import { patient, sharingConsent, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer('embedded');
});
afterAll(async () => {
  await server?.close();
});

type Rec = { vaccineCode: { text: string }[]; forecastStatus: { coding: { code: string }[] } };
const statusOf = (body: any, group: string): string =>
  body.parameter
    .find((p: any) => p.name === 'recommendation')
    .resource.recommendation.find((r: Rec) => r.vaccineCode[0].text === group).forecastStatus.coding[0].code;

describe('stored observations in Patient/{id}/$immds-forecast', () => {
  it('evidence of immunity reported by HL7 v2 (OBX 59784-9) makes the vaccine group immune', async () => {
    const birth = yearsAgo(6);
    const message = vxu({
      controlId: controlId('OBS'),
      pid: pid({ mrn: 'OBS-1', family: 'Observed', given: 'Vera', birth, sex: 'F' }),
      orders: [
        order({ cvx: '20', date: hl7Date(2000) }),
        order({
          cvx: '998',
          date: hl7Date(30),
          completion: 'NA',
          obx: [`OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F|||${hl7Date(30)}`],
        }),
      ],
    });
    const res = await fetch(`${server.url}/hl7v2`, {
      method: 'POST',
      headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${server.token()}` },
      body: message,
    });
    const ack = await res.text();
    expect(ack, ack).toMatch(/MSA\|A[AE]/);

    const found = await server.fhir('GET', 'Patient?family=Observed&given=Vera');
    expect(found.status, found.text).toBe(200);
    const id = found.body.entry[0].resource.id as string;
    const stored = await server.fhir('GET', `Patient/${id}/$immds-forecast`);
    expect(stored.status, stored.text).toBe(200);
    expect(statusOf(stored.body, 'Varicella')).toBe('immune');
    expect(statusOf(stored.body, 'MMR')).not.toBe('immune');

    // The POST form with the same observation as a Condition agrees.
    const iso = (d: string) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
    const posted = await server.fhir('POST', '$immds-forecast', {
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'assessmentDate', valueDate: new Date().toISOString().slice(0, 10) },
          { name: 'patient', resource: { resourceType: 'Patient', id: 'x', birthDate: iso(birth), gender: 'female' } },
          {
            name: 'condition',
            resource: { resourceType: 'Condition', subject: { reference: 'Patient/x' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '38907003' }] } },
          },
        ],
      },
    });
    expect(posted.status, posted.text).toBe(200);
    expect(statusOf(posted.body, 'Varicella')).toBe('immune');
  });

  it('a stored Condition counts like the POST form\'s condition input, under data sharing and scopes', async () => {
    const p = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Conditioned', given: ['Cal'] }], birthDate: '2015-01-06' }) });
    expect(p.status, p.text).toBe(201);
    const id = p.body.id as string;
    const before = await server.fhir('GET', `Patient/${id}/$immds-forecast?assessmentDate=2025-11-10`);
    expect(statusOf(before.body, 'Varicella')).toBe('notComplete');
    const c = await server.fhir('POST', 'Condition', {
      body: {
        resourceType: 'Condition',
        subject: { reference: `Patient/${id}` },
        code: { coding: [{ system: 'http://snomed.info/sct', code: '38907003', display: 'Varicella' }] },
      },
    });
    expect(c.status, c.text).toBe(201);
    const after = await server.fhir('GET', `Patient/${id}/$immds-forecast?assessmentDate=2025-11-10`);
    expect(after.status, after.text).toBe(200);
    expect(statusOf(after.body, 'Varicella')).toBe('immune');
    // A token that may not read Conditions still gets a forecast, from the doses alone.
    const noConditions = { authorization: `Bearer ${server.token({ scope: 'system/Patient.rs system/Immunization.rs' })}` };
    const narrow = await server.fhir('GET', `Patient/${id}/$immds-forecast?assessmentDate=2025-11-10`, { headers: noConditions });
    expect(narrow.status, narrow.text).toBe(200);
    expect(statusOf(narrow.body, 'Varicella')).toBe('notComplete');

    // Data sharing: once the patient says No to Organization/A, a caller of another organization
    // sees neither the patient's forecast nor the Condition.
    const consent = await server.fhir('POST', 'Consent', { body: sharingConsent(id, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }) });
    expect(consent.status, consent.text).toBe(201);
    const orgC = { authorization: `Bearer ${server.token({ scope: 'user/*.rs', organization: 'Organization/C' })}` };
    expect((await server.fhir('GET', `Patient/${id}/$immds-forecast`, { headers: orgC })).status).toBe(403);
    expect((await server.fhir('GET', `Condition/${c.body.id}`, { headers: orgC })).status).toBe(403);
    const searched = await server.fhir('GET', `Condition?patient=Patient/${id}`, { headers: orgC });
    expect(searched.status, searched.text).toBe(200);
    expect(searched.body.entry ?? []).toHaveLength(0);
  });
});
