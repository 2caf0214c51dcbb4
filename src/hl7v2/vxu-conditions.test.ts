// VXU OBX 59784-9 (evidence of immunity) and 30945-0 (contraindication) → Conditions of the patient
// (CDSi observation code + the coding as sent), stored in the message's transaction; a resend
// stores none twice; data sharing hides them like the rest of the record; the forecast of a record
// stored the old way (the OBX only as the dose's extension) and the new way is the same; and a
// Condition recorded over FHIR comes back in a QBP answer as the IG reports an observation.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Hl7Message } from '@medplum/core';
import { startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { controlId, hl7Date, msh, order, pid, vxu, yearsAgo } from './test-messages.js';
import { postHl7v2 } from './test-http.js';

// Both stores (the MongoDB tier when TEST_MONGODB_URL names a replica set): the same answers.
let server: TestServer;

const CDSI = 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html';
const SNOMED = 'http://snomed.info/sct';
const authority = (ns: string) => `https://iis-fhir-server.org/fhir/sid/hl7v2-authority/${ns}`;
const iso = (d: string) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;

const post = (message: string, token?: string) => postHl7v2(server, message, token);
const msa = (msg: Hl7Message) => msg.getSegment('MSA')?.getField(1).toString();
const errs = (msg: Hl7Message) =>
  msg.getAllSegments('ERR').map((e) => ({ location: e.getField(2).toString(), hl7: e.getComponent(3, 1), severity: e.getField(4).toString(), app: e.getComponent(5, 1), text: e.getField(8).toString() }));

async function patientId(mrn: string): Promise<string> {
  const res = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(`${authority('MYEHR')}|${mrn}`)}`);
  expect(res.body.entry, res.text).toHaveLength(1);
  return res.body.entry[0].resource.id;
}
async function search(url: string, token?: string): Promise<any[]> {
  const res = await server.fhir('GET', url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  expect(res.status, res.text).toBe(200);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}
const cdsiCodes = (condition: any): string[] => condition.code.coding.filter((c: any) => c.system === CDSI).map((c: any) => c.code);

/** A child with an MMR dose and a "no vaccine administered" record reporting varicella history and an MMR allergy. */
/** Each test's child is born on another day (the old / new pair on the same one: the forecast depends on it). */
const BIRTH_DAYS: Record<string, number> = { 'COND-1': 1, 'COND-2': 2, 'COND-3': 3, 'COND-OLD': 40, 'COND-NEW': 40, 'COND-5': 5 };
const birthOf = (mrn: string) => yearsAgo(4, BIRTH_DAYS[mrn] ?? 0);

function observedVxu(mrn: string, family: string, options: { pd1?: string; immunity?: string; filler?: boolean } = {}): string {
  const recorded = hl7Date(30);
  return vxu({
    controlId: controlId('COND'),
    pid: pid({ mrn, family, given: mrn === 'COND-NEW' ? 'Dora' : 'Cora', birth: birthOf(mrn), sex: 'F' }),
    ...(options.pd1 ? { pd1: options.pd1 } : {}),
    orders: [
      order({ ...(options.filler === false ? {} : { filler: `${mrn}-1` }), cvx: '03', date: hl7Date(900) }),
      order({
        ...(options.filler === false ? {} : { filler: `${mrn}-2` }),
        cvx: '998',
        date: recorded,
        completion: 'NA',
        obx: [
          `OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|${options.immunity ?? '38907003^Varicella infection^SCT'}||||||F|||${recorded}`,
          `OBX|2|CE|30945-0^Vaccination contraindication^LN|2|219096004^Allergy to measles vaccine^SCT||||||F|||${recorded}`,
        ],
      }),
    ],
  });
}

type Rec = { vaccineCode: { text: string }[]; forecastStatus: { coding: { code: string }[] } };
const statusOf = (body: any, group: string): string =>
  body.parameter.find((p: any) => p.name === 'recommendation').resource.recommendation.find((r: Rec) => r.vaccineCode[0].text === group).forecastStatus.coding[0].code;

describe.each(testMongoUrl() ? (['embedded', 'mongodb'] as const) : (['embedded'] as const))('VXU OBX 59784-9 / 30945-0 → Condition (%s)', (kind) => {
  // A MongoDB without multi-document transactions (FerretDB 1.x, a standalone server) answers every
  // VXU AR and stores nothing (vxu.test.ts, "VXU on MongoDB"): nothing here to compare on it.
  let noTransactions = false;
  beforeAll(async () => {
    server = await startTestServer(kind);
    noTransactions = !server.store.supportsTransactions;
    if (noTransactions) console.log(`[vxu-conditions: ${kind}] SKIPPED: this deployment has no multi-document transactions, so every VXU is refused (AR) by design`);
  });
  beforeEach((ctx) => {
    if (noTransactions) ctx.skip();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('records each as a Condition of the patient (CDSi code + the coding sent, onset, facility), and a resend stores none twice', async () => {
    const message = observedVxu('COND-1', 'Condor');
    const token = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-a' });
    const first = await post(message, token);
    expect(msa(first.msg), first.text).toBe('AA');
    const id = await patientId('COND-1');
    const conditions = await search(`Condition?patient=Patient/${id}`);
    expect(conditions.map(cdsiCodes).sort()).toEqual([['024'], ['091']]);
    const immunity = conditions.find((c) => cdsiCodes(c).includes('024'));
    expect(immunity.code.coding).toContainEqual({ system: SNOMED, code: '38907003', display: 'Varicella infection' });
    expect(immunity.clinicalStatus.coding[0].code).toBe('active');
    expect(immunity.verificationStatus.coding[0].code).toBe('confirmed');
    expect(immunity.onsetDateTime).toBe(iso(hl7Date(30)));
    expect(immunity.subject.reference).toBe(`Patient/${id}`);
    expect(immunity.extension).toContainEqual({ url: 'https://iis-fhir-server.org/fhir/StructureDefinition/recording-organization', valueReference: { reference: 'Organization/clinic-a' } });
    // It names the dose it came with, which keeps the OBX as before.
    const doses = await search(`Immunization?patient=Patient/${id}`);
    const noVaccine = doses.find((d) => d.vaccineCode.coding[0].code === '998');
    expect(immunity.evidence[0].detail[0].reference).toBe(`Immunization/${noVaccine.id}`);
    expect(noVaccine.extension.map((e: any) => e.url)).toEqual(
      expect.arrayContaining(['https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity', 'https://iis-fhir-server.org/fhir/StructureDefinition/contraindication'])
    );

    // The same message resent (a new MSH-10).
    const again = await post(observedVxu('COND-1', 'Condor'), token);
    expect(msa(again.msg), again.text).toBe('AA');
    expect(await search(`Condition?patient=Patient/${id}`)).toHaveLength(2);
    expect(await search(`Immunization?patient=Patient/${id}`)).toHaveLength(2);

    // The forecast reads them once: immune to varicella, MMR contraindicated.
    const forecast = await server.fhir('GET', `Patient/${id}/$immds-forecast`);
    expect(statusOf(forecast.body, 'Varicella')).toBe('immune');
    expect(statusOf(forecast.body, 'MMR')).toBe('contraindicated');

    // A clinician marks the allergy entered in error: a resend does not reopen it, and the forecast
    // no longer counts it — not even through the dose's extension, which is the same evidence.
    const allergy = conditions.find((c) => cdsiCodes(c).includes('091'));
    const { clinicalStatus: _, ...rest } = allergy;
    const marked = await server.fhir('PUT', `Condition/${allergy.id}`, {
      body: { ...rest, verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'entered-in-error' }] } },
    });
    expect(marked.status, marked.text).toBe(200);
    await post(observedVxu('COND-1', 'Condor'), token);
    const reread = await server.fhir('GET', `Condition/${allergy.id}`);
    expect(reread.body.verificationStatus.coding[0].code).toBe('entered-in-error');
    const after = await server.fhir('GET', `Patient/${id}/$immds-forecast`);
    expect(statusOf(after.body, 'MMR')).not.toBe('contraindicated');
    expect(statusOf(after.body, 'Varicella')).toBe('immune');
  });

  it('VXC20 ("allergy to a previous dose of this vaccine") on a DTaP dose is the DTaP allergies; with no vaccine (RXA 998), any vaccine component', async () => {
    const mrn = 'COND-VXC20';
    const recorded = hl7Date(30);
    const allergy = `OBX|1|CE|30945-0^Vaccination contraindication^LN|1|VXC20^Allergy to previous dose of this vaccine^CDCPHINVS||||||F|||${recorded}`;
    const message = vxu({
      controlId: controlId('COND'),
      pid: pid({ mrn, family: 'Vexsee', given: 'Vera', birth: yearsAgo(4, 7), sex: 'F' }),
      orders: [order({ filler: `${mrn}-1`, cvx: '20', date: hl7Date(1200), obx: [allergy] })],
    });
    const { msg, text } = await post(message);
    expect(msa(msg), text).toBe('AA');
    const id = await patientId(mrn);
    const conditions = await search(`Condition?patient=Patient/${id}`);
    expect(conditions.map(cdsiCodes)).toEqual([['086', '087', '088']]);
    const forecast = await server.fhir('GET', `Patient/${id}/$immds-forecast`);
    expect(statusOf(forecast.body, 'DTaP/Tdap/Td')).toBe('contraindicated');
    expect(statusOf(forecast.body, 'MMR')).not.toBe('contraindicated');

    const unknownVaccine = vxu({
      controlId: controlId('COND'),
      pid: pid({ mrn: `${mrn}-2`, family: 'Vexsee', given: 'Vanna', birth: yearsAgo(4, 8), sex: 'F' }),
      orders: [order({ filler: `${mrn}-2-1`, cvx: '998', date: recorded, completion: 'NA', obx: [allergy] })],
    });
    expect(msa((await post(unknownVaccine)).msg)).toBe('AA');
    const other = await patientId(`${mrn}-2`);
    expect((await search(`Condition?patient=Patient/${other}`)).map(cdsiCodes)).toEqual([['080']]);
    const cautious = await server.fhir('GET', `Patient/${other}/$immds-forecast`);
    expect(statusOf(cautious.body, 'MMR')).toBe('contraindicated');
  });

  it('a value that maps to no CDSi observation stays on the dose only, with an information ERR', async () => {
    const { msg, text } = await post(observedVxu('COND-2', 'Unmapped', { immunity: '123456789^Something else^SCT' }));
    expect(msa(msg), text).toBe('AA');
    expect(errs(msg)).toContainEqual(expect.objectContaining({ location: 'OBX^1^5^1', hl7: '103', severity: 'I', app: '5' }));
    const id = await patientId('COND-2');
    expect((await search(`Condition?patient=Patient/${id}`)).map(cdsiCodes)).toEqual([['091']]);
    const noVaccine = (await search(`Immunization?patient=Patient/${id}`)).find((d) => d.vaccineCode.coding[0].code === '998');
    expect(noVaccine.extension).toContainEqual({
      url: 'https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity',
      valueCodeableConcept: { coding: [{ system: SNOMED, code: '123456789', display: 'Something else' }] },
    });
  });

  it('data sharing No: another facility sees none of the Conditions', async () => {
    const owner = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-a' });
    const { msg, text } = await post(observedVxu('COND-3', 'Private', { pd1: `PD1|||||||||||01^No reminder/recall^HL70215|Y|${hl7Date(1)}` }), owner);
    expect(msa(msg), text).toBe('AA');
    const id = await patientId('COND-3');
    const own = await search(`Condition?patient=Patient/${id}`, owner);
    expect(own).toHaveLength(2);
    const other = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-b' });
    expect(await search(`Condition?patient=Patient/${id}`, other)).toHaveLength(0);
    expect(await search(`Condition?code=${encodeURIComponent(`${CDSI}|024`)}`, other)).not.toContainEqual(expect.objectContaining({ id: own[0].id }));
    const read = await server.fhir('GET', `Condition/${own[0].id}`, { headers: { authorization: `Bearer ${other}` } });
    expect(read.status, read.text).toBe(403);
  });

  it('the same VXU stored the old way (OBX only as extensions) and the new way forecasts the same, in $immds-forecast and in the Z42', async () => {
    // "Before": what the server stored until now is this message's Patient and doses without the
    // Conditions; deleting them leaves exactly that record (the doses are written the same).
    await post(observedVxu('COND-OLD', 'Sameold', { filler: false }));
    await post(observedVxu('COND-NEW', 'Samenew', { filler: false }));
    const oldId = await patientId('COND-OLD');
    const newId = await patientId('COND-NEW');
    for (const c of await search(`Condition?patient=Patient/${oldId}`)) expect((await server.fhir('DELETE', `Condition/${c.id}`)).status).toBe(204);
    expect(await search(`Condition?patient=Patient/${oldId}`)).toHaveLength(0);
    expect(await search(`Condition?patient=Patient/${newId}`)).toHaveLength(2);
    const strip = (imm: any) => {
      const { id: _i, meta: _m, patient: _p, identifier: _d, ...rest } = imm;
      return rest;
    };
    const dosesOf = async (id: string) => (await search(`Immunization?patient=Patient/${id}`)).map(strip).sort((a, b) => a.occurrenceDateTime.localeCompare(b.occurrenceDateTime));
    expect(await dosesOf(newId)).toEqual(await dosesOf(oldId));

    const answer = async (id: string) => {
      const res = await server.fhir('GET', `Patient/${id}/$immds-forecast?assessmentDate=${iso(hl7Date(0))}`);
      expect(res.status, res.text).toBe(200);
      const recommendation = res.body.parameter.find((p: any) => p.name === 'recommendation').resource.recommendation;
      const evaluations = res.body.parameter.filter((p: any) => p.name === 'evaluation').map((p: any) => {
        const { id: _i, patient: _p, immunizationEvent: _e, ...rest } = p.resource;
        return rest;
      });
      return { recommendation, evaluations };
    };
    const before = await answer(oldId);
    expect(await answer(newId)).toEqual(before);
    expect(before.recommendation.find((r: Rec) => r.vaccineCode[0].text === 'Varicella').forecastStatus.coding[0].code).toBe('immune');
    expect(before.recommendation.find((r: Rec) => r.vaccineCode[0].text === 'MMR').forecastStatus.coding[0].code).toBe('contraindicated');

    const z42 = async (mrn: string, family: string) => {
      const { msg, text } = await post(qbp(mrn, family, 'Z44', mrn === 'COND-NEW' ? 'Dora' : 'Cora'));
      expect(msg.getSegment('MSH')?.getComponent(21, 1), text).toBe('Z42');
      return text.split('\r').filter((s) => /^(RXA|RXR|OBX)\|/.test(s));
    };
    expect(await z42('COND-NEW', 'Samenew')).toEqual(await z42('COND-OLD', 'Sameold'));
  });

  it('QBP: a Condition recorded over FHIR comes back as ORC + RXA 998 + OBX (Z32 and Z42)', async () => {
    await post(vxu({ controlId: controlId('COND'), pid: pid({ mrn: 'COND-5', family: 'Fhirside', given: 'Cora', birth: birthOf('COND-5'), sex: 'F' }), orders: [order({ filler: 'COND-5-1', cvx: '03', date: hl7Date(900) })] }));
    const id = await patientId('COND-5');
    const before = await post(qbp('COND-5', 'Fhirside', 'Z44'));
    expect(before.text).not.toContain('59784-9');
    const created = await server.fhir('POST', 'Condition', {
      body: {
        resourceType: 'Condition',
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
        code: { coding: [{ system: CDSI, code: '024' }] },
        subject: { reference: `Patient/${id}` },
        onsetDateTime: iso(hl7Date(60)),
      },
    });
    expect(created.status, created.text).toBe(201);
    const date = hl7Date(60);
    for (const profile of ['Z34', 'Z44']) {
      const { text } = await post(qbp('COND-5', 'Fhirside', profile));
      const segments = text.split('\r');
      const at = segments.findIndex((s) => s.startsWith('OBX|1|CE|59784-9'));
      expect(at, text).toBeGreaterThan(1);
      expect(segments[at]).toBe(`OBX|1|CE|59784-9^Patient immunity^LN|1|38907003^Healthcare provider verified history of or diagnosis of Varicella^SCT^024^Healthcare provider verified history of or diagnosis of Varicella^CDSI||||||F|||${date}`);
      expect(segments[at - 1]).toBe(`RXA|0|1|${date}|${date}|998^No vaccine administered^CVX|999||||||||||||||NA`);
      expect(segments[at - 2]).toBe('ORC|RE||9999^CDC');
    }
    const { text } = await post(qbp('COND-5', 'Fhirside', 'Z44'));
    expect(text).toMatch(/OBX\|\d+\|CE\|59783-1\^Status in immunization series\^LN\|\d+\|immune\^/);
    // Entered in error: no longer reported.
    const { clinicalStatus: _, ...rest } = created.body;
    await server.fhir('PUT', `Condition/${created.body.id}`, {
      body: { ...rest, verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'entered-in-error' }] } },
    });
    expect((await post(qbp('COND-5', 'Fhirside', 'Z34'))).text).not.toContain('59784-9');
  });
});

function qbp(mrn: string, family: string, profile: string, given = 'Cora'): string {
  const name = profile === 'Z44' ? 'Request Evaluated History and Forecast' : 'Request Immunization History';
  return [
    msh({ type: 'QBP^Q11^QBP_Q11', profile: `${profile}^CDCPHINVS`, controlId: controlId('Q') }),
    `QPD|${profile}^${name}^CDCPHINVS|TAG1|${mrn}^^^MYEHR^MR|${family}^${given}^^^^^L||${birthOf(mrn)}|F`,
    'RCP|I|10^RD&Records&HL70126',
  ].join('\r');
}
