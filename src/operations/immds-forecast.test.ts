// $immds-forecast over HTTP: the POST with the history in Parameters, the GET on a stored patient
// under the same scope and data-sharing rules as a read, and clear 4xx answers to bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outParameterProblems } from '../../test/helpers/operation-definition.js';
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
    expect(outParameterProblems(res.body, 'immds-forecast')).toEqual([]);
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
          { name: 'condition', resource: { resourceType: 'Condition', code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code: '042' }] }, evidence: 'x' } },
        ],
      },
    });
    expect(odd.status, odd.text).toBe(200);
    expect((await server.fhir('POST', '$immds-forecast', { body: { resourceType: 'Parameters', parameter: [{ name: 'assessmentDate', valueDate: '2025-11-10' }, { name: 'patient', resource: { resourceType: 'Patient', birthDate: '2025-01-06' } }, { name: 'immunization', resource: { resourceType: 'Immunization', vaccineCode: { coding: {} }, occurrenceDateTime: '2025-03-10' } }] } })).status).toBe(400);
  });

  const forecastInput = (parts: { assessmentDate?: string; patient?: object; immunizations?: object[]; conditions?: object[]; extra?: object[] }) => ({
    resourceType: 'Parameters',
    parameter: [
      { name: 'assessmentDate', valueDate: parts.assessmentDate ?? '2025-11-10' },
      { name: 'patient', resource: parts.patient ?? { resourceType: 'Patient', id: 'x', birthDate: '2025-09-06', gender: 'female' } },
      ...(parts.immunizations ?? []).map((resource) => ({ name: 'immunization', resource })),
      ...(parts.conditions ?? []).map((resource) => ({ name: 'condition', resource })),
      ...(parts.extra ?? []),
    ],
  });
  const dose = (id: string | undefined, cvx: string, occurrenceDateTime: string) => ({
    resourceType: 'Immunization',
    ...(id === undefined ? {} : { id }),
    status: 'completed',
    patient: { reference: 'Patient/x' },
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
    occurrenceDateTime,
  });
  const problems = (res: { body: any }) => res.body.issue.map((i: any) => i.diagnostics ?? i.details?.text).join(' ');
  const ruleCodes = (res: { body: any }) => res.body.issue.map((i: any) => i.details?.coding?.[0]?.code);

  it('POST: input the forecast would silently mis-read is a 400 naming it (ImmDS cardinalities, dose ids, real dates, CDSi conditions)', async () => {
    // Doses without ids (or sharing one): the evaluations' immunizationEvent could not name them.
    const noIds = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ immunizations: [dose(undefined, '107', '2025-10-15'), dose(undefined, '107', '2025-11-01')] }) });
    expect(noIds.status, noIds.text).toBe(400);
    expect(problems(noIds)).toMatch(/immunization 1: an Immunization needs an id.*immunization 2: an Immunization needs an id/);
    const sameId = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ immunizations: [dose('d1', '107', '2025-10-15'), dose('d1', '107', '2025-11-01')] }) });
    expect(sameId.status, sameId.text).toBe(400);
    expect(problems(sameId)).toMatch(/two immunizations have the id "d1"/);
    // A date the calendar lacks would drop the dose unseen.
    const noSuchDay = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ immunizations: [dose('d1', '107', '2025-09-31')] }) });
    expect(noSuchDay.status, noSuchDay.text).toBe(400);
    expect(problems(noSuchDay)).toMatch(/immunization d1: occurrenceDateTime must hold a full, real date/);
    // assessmentDate and patient are 1..1: a second one is not silently preferred.
    const twoPatients = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ extra: [{ name: 'patient', resource: { resourceType: 'Patient', birthDate: '2020-01-01' } }] }) });
    expect(twoPatients.status, twoPatients.text).toBe(400);
    expect(problems(twoPatients)).toMatch(/patient is given more than once/);
    const twoDates = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ extra: [{ name: 'assessmentDate', valueDate: '2026-01-01' }] }) });
    expect(twoDates.status, twoDates.text).toBe(400);
    expect(problems(twoDates)).toMatch(/assessmentDate is given more than once/);
    const unborn = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ assessmentDate: '2025-01-01' }) });
    expect(unborn.status, unborn.text).toBe(400);
    expect(problems(unborn)).toMatch(/birthDate 2025-09-06 is after the assessmentDate 2025-01-01/);
    // A code in the CDSi observation system that is no CDSi observation would change nothing unseen.
    const unknownCdsi = await server.fhir('POST', '$immds-forecast', {
      body: forecastInput({ conditions: [{ resourceType: 'Condition', id: 'c1', code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code: '999' }] } }] }),
    });
    expect(unknownCdsi.status, unknownCdsi.text).toBe(400);
    expect(problems(unknownCdsi)).toMatch(/condition c1: .*cdsi.html\|999 is no CDSi observation code/);
    // Conditions of other systems that map to no observation (a whole problem list) are left out: the
    // forecast is the one without them.
    const plain = await server.fhir('POST', '$immds-forecast', { body: forecastInput({}) });
    expect(plain.status, plain.text).toBe(200);
    const unrelated = [
      { resourceType: 'Condition', id: 'asthma', code: { coding: [{ system: 'http://snomed.info/sct', code: '195967001' }] } },
      { resourceType: 'Condition', id: 'otitis', code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'H66.90' }] } },
      { resourceType: 'Condition', id: 'uncoded', code: { text: 'ear infection' } },
    ];
    const withUnrelated = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ conditions: unrelated }) });
    expect(withUnrelated.status, withUnrelated.text).toBe(200);
    expect(withUnrelated.body).toEqual(plain.body);
    // SNOMED 91930004 (allergy to eggs) is mapped by the supporting data: accepted.
    const mapped = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ conditions: [{ resourceType: 'Condition', code: { coding: [{ system: 'http://snomed.info/sct', code: '91930004' }] } }] }) });
    expect(mapped.status, mapped.text).toBe(200);
  });

  it('POST: a dose in the future or before birth, a birth in the future or an unknown CVX is a 422 with the rule code', async () => {
    const future = await server.fhir('POST', '$immds-forecast', {
      body: forecastInput({ assessmentDate: '2099-01-01', immunizations: [dose('d1', '107', '2025-10-15'), dose('planned', '107', '2098-01-01')] }),
    });
    expect(future.status, future.text).toBe(422);
    expect(ruleCodes(future)).toEqual(['vaccination-date-in-future']);
    expect(problems(future)).toMatch(/immunization planned: occurrenceDateTime 2098-01-01 is in the future/);
    const beforeBirth = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ immunizations: [dose('d0', '107', '2025-09-05T23:30:00-05:00')] }) });
    expect(beforeBirth.status, beforeBirth.text).toBe(422);
    expect(ruleCodes(beforeBirth)).toEqual(['vaccination-before-birth']);
    const unbornPatient = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ assessmentDate: '2099-01-01', patient: { resourceType: 'Patient', birthDate: '2098-06-01' } }) });
    expect(unbornPatient.status, unbornPatient.text).toBe(422);
    expect(ruleCodes(unbornPatient)).toEqual(['birthdate-in-future']);
    const unknownCvx = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ immunizations: [dose('d1', '9999', '2025-10-15'), dose('d2', 'abc', '2025-10-15')] }) });
    expect(unknownCvx.status, unknownCvx.text).toBe(422);
    expect(ruleCodes(unknownCvx)).toEqual(['vaccine-code-unknown', 'vaccine-code-unknown']);
    expect(problems(unknownCvx)).toMatch(/immunization d1: CVX "9999" is not in the CDC CVX code set/);
    // CVX codes that are no CDSi vaccine (998: no vaccine administered) are real codes: accepted, counted for nothing.
    const noVaccine = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ immunizations: [dose('d1', '998', '2025-10-15')] }) });
    expect(noVaccine.status, noVaccine.text).toBe(200);
    // A dose given late on the birth day in a zone behind UTC is on the birth day, not before it.
    const birthDay = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ immunizations: [dose('hepb', '08', '2025-09-06T23:30:00-05:00')] }) });
    expect(birthDay.status, birthDay.text).toBe(200);
    const hepb = birthDay.body.parameter.find((p: any) => p.name === 'evaluation' && p.resource.targetDisease.text === 'HepB').resource;
    expect(hepb.doseStatus.coding[0].code).toBe('valid');
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

  it('a dose coded by NDC only, or with the CVX table\'s OID, counts (stored and POSTed): it was stored and then forecast as not given', async () => {
    const p = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Forecastcodes', given: ['Kid'] }], birthDate: '2025-06-01' }) });
    expect(p.status, p.text).toBe(201);
    // Engerix-B pediatric (NDC 58160-0820-43 → CVX 08) at birth; the second HepB dose as CVX under urn:oid:2.16.840.1.113883.12.292.
    const byNdc = { vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '58160-0820-43' }] }, occurrenceDateTime: '2025-06-01' };
    const byOid = { vaccineCode: { coding: [{ system: 'urn:oid:2.16.840.1.113883.12.292', code: '08' }] }, occurrenceDateTime: '2025-07-15' };
    for (const fields of [byNdc, byOid]) {
      const i = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${p.body.id}`, fields) });
      expect(i.status, i.text).toBe(201);
    }
    const stored = await server.fhir('GET', `Patient/${p.body.id}/$immds-forecast?assessmentDate=2025-09-01`);
    expect(stored.status, stored.text).toBe(200);
    const hepbEvaluations = stored.body.parameter.filter((x: any) => x.name === 'evaluation' && x.resource.targetDisease.text === 'HepB');
    expect(hepbEvaluations.map((x: any) => x.resource.doseStatus.coding[0].code)).toEqual(['valid', 'valid']);
    expect(group(stored.body, 'HepB').doseNumberPositiveInt).toBe(3);
    const posted = await server.fhir('POST', '$immds-forecast', {
      body: forecastInput({ assessmentDate: '2025-09-01', patient: { resourceType: 'Patient', id: 'x', birthDate: '2025-06-01' }, immunizations: [{ ...dose('n1', '08', '2025-06-01'), ...byNdc }, { ...dose('o1', '08', '2025-07-15'), ...byOid }] }),
    });
    expect(posted.status, posted.text).toBe(200);
    expect(group(posted.body, 'HepB').doseNumberPositiveInt).toBe(3);
    // An NDC the code set does not know gives no CVX: refused, not dropped unseen.
    const unknownNdc = await server.fhir('POST', '$immds-forecast', { body: forecastInput({ immunizations: [{ ...dose('n2', '08', '2025-10-01'), vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '00000-0000-00' }] } }] }) });
    expect(unknownNdc.status, unknownNdc.text).toBe(422);
    expect(ruleCodes(unknownNdc)).toEqual(['vaccine-code-unknown']);
  });

  it('stored patient: assessmentDate given once, in the query or a POSTed Parameters, never before birth', async () => {
    const twice = await server.fhir('GET', `Patient/${ids.shared}/$immds-forecast?assessmentDate=2025-06-01&assessmentDate=2025-02-01`);
    expect(twice.status, twice.text).toBe(400);
    expect(problems(twice)).toMatch(/assessmentDate is given more than once/);
    const beforeBirth = await server.fhir('GET', `Patient/${ids.shared}/$immds-forecast?assessmentDate=2024-12-31`);
    expect(beforeBirth.status, beforeBirth.text).toBe(400);
    expect(problems(beforeBirth)).toMatch(/before Patient\/.*'s birthDate 2025-01-10/);
    // An operation POSTed carries its parameters in the body: the same answer as the GET.
    const posted = await server.fhir('POST', `Patient/${ids.shared}/$immds-forecast`, { body: { resourceType: 'Parameters', parameter: [{ name: 'assessmentDate', valueDate: '2025-06-01' }] } });
    const got = await server.fhir('GET', `Patient/${ids.shared}/$immds-forecast?assessmentDate=2025-06-01`);
    expect(posted.status, posted.text).toBe(200);
    expect(posted.body).toEqual(got.body);
    const badPosted = await server.fhir('POST', `Patient/${ids.shared}/$immds-forecast`, { body: { resourceType: 'Parameters', parameter: [{ name: 'assessmentDate', valueString: 'soon' }] } });
    expect(badPosted.status, badPosted.text).toBe(400);
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
