// A Condition made from a dose's OBX 59784-9 / 30945-0 follows that dose (observation-conditions.ts):
// the dose deleted (VXU RXA-21 D, FHIR DELETE, a transaction entry) or resent without the OBX →
// the Condition is entered in error in the same commit, and the forecast changes with it; Conditions
// recorded otherwise, or still reported by another dose, are untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hl7Message } from '@medplum/core';
import { mergeParameters, startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { controlId, hl7Date, order, pid, vxu, yearsAgo } from './test-messages.js';
import { postHl7v2 } from './test-http.js';

let server: TestServer;

const CDSI = 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html';
const SNOMED = 'http://snomed.info/sct';
const VER = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';
const IMMUNITY_EXT = 'https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity';
const OBSERVATION_KEY = 'https://iis-fhir-server.org/fhir/sid/hl7v2-observation';
const authority = (ns: string) => `https://iis-fhir-server.org/fhir/sid/hl7v2-authority/${ns}`;
const iso = (d: string) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
const msa = (msg: Hl7Message) => msg.getSegment('MSA')?.getField(1).toString();
const cdsiCodes = (condition: any): string[] => condition.code.coding.filter((c: any) => c.system === CDSI).map((c: any) => c.code);
const verification = (condition: any): string => condition.verificationStatus.coding[0].code;

async function patientId(mrn: string): Promise<string> {
  const res = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(`${authority('MYEHR')}|${mrn}`)}`);
  expect(res.body.entry, res.text).toHaveLength(1);
  return res.body.entry[0].resource.id;
}
async function search(url: string): Promise<any[]> {
  const res = await server.fhir('GET', url);
  expect(res.status, res.text).toBe(200);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}
async function statusOf(patient: string, group: string): Promise<string> {
  const res = await server.fhir('GET', `Patient/${patient}/$immds-forecast`);
  expect(res.status, res.text).toBe(200);
  const recommendation = res.body.parameter.find((p: any) => p.name === 'recommendation').resource.recommendation;
  return recommendation.find((r: any) => r.vaccineCode[0].text === group).forecastStatus.coding[0].code;
}

/** An MMR dose and a "no vaccine administered" record (ORC-3 `<mrn>-2`) reporting varicella history and, unless left out, an MMR allergy. */
function observedVxu(mrn: string, family: string, options: { action?: string; immunity?: boolean; allergy?: boolean } = {}): string {
  const recorded = hl7Date(30);
  const obx = [
    ...(options.immunity === false ? [] : [`OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F|||${recorded}`]),
    ...(options.allergy === false ? [] : [`OBX|2|CE|30945-0^Vaccination contraindication^LN|2|219096004^Allergy to measles vaccine^SCT||||||F|||${recorded}`]),
  ];
  return vxu({
    controlId: controlId('FOLLOW'),
    pid: pid({ mrn, family, given: 'Flora', birth: yearsAgo(4, mrn.length + family.length), sex: 'F' }),
    orders: [
      order({ filler: `${mrn}-1`, cvx: '03', date: hl7Date(900) }),
      order({ filler: `${mrn}-2`, cvx: '998', date: recorded, completion: 'NA', action: options.action ?? 'A', obx }),
    ],
  });
}

describe.each(testMongoUrl() ? (['embedded', 'mongodb'] as const) : (['embedded'] as const))('a Condition made from an OBX follows its dose (%s)', (kind) => {
  let transactions = true;
  beforeAll(async () => {
    server = await startTestServer(kind);
    transactions = server.store.supportsTransactions;
    if (!transactions) {
      console.log(`[observation-conditions: ${kind}] the VXU cases are SKIPPED: without multi-document transactions every VXU is refused (AR) by design; the FHIR cases run (their follow-up is written right after the dose)`);
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it('VXU RXA-21 D: the dose deleted → its Conditions entered in error (history kept), and varicella is due again', async (ctx) => {
    if (!transactions) ctx.skip();
    const stored = await postHl7v2(server, observedVxu('FOL-1', 'Delamare'));
    expect(msa(stored.msg), stored.text).toBe('AA');
    const id = await patientId('FOL-1');
    expect(await statusOf(id, 'Varicella')).toBe('immune');
    expect(await statusOf(id, 'MMR')).toBe('contraindicated');

    const { msg, text } = await postHl7v2(server, observedVxu('FOL-1', 'Delamare', { action: 'D' }));
    expect(msa(msg), text).toBe('AA');
    expect((await search(`Immunization?patient=Patient/${id}`)).map((d) => d.vaccineCode.coding[0].code)).toEqual(['03']);
    const conditions = await search(`Condition?patient=Patient/${id}`);
    expect(conditions.map(cdsiCodes).sort()).toEqual([['024'], ['091']]);
    for (const condition of conditions) {
      expect(verification(condition)).toBe('entered-in-error');
      expect(condition.clinicalStatus).toBeUndefined(); // R4 con-5
      expect(condition.note.at(-1).text).toMatch(/^Entered in error by the registry: Immunization\/[^ ]+, whose HL7 v2 observation it was recorded from, was deleted\.$/);
      const history = await server.fhir('GET', `Condition/${condition.id}/_history`);
      expect(history.body.entry.map((e: any) => verification(e.resource))).toEqual(['entered-in-error', 'confirmed']);
    }
    expect(await statusOf(id, 'Varicella')).not.toBe('immune');
    expect(await statusOf(id, 'MMR')).not.toBe('contraindicated');
    // The same deletion again changes nothing more.
    await postHl7v2(server, observedVxu('FOL-1', 'Delamare', { action: 'D' }));
    for (const condition of await search(`Condition?patient=Patient/${id}`)) {
      expect((await server.fhir('GET', `Condition/${condition.id}/_history`)).body.entry).toHaveLength(2);
    }
  });

  it('VXU resend without one OBX: that Condition entered in error, the other stays; sent again with it: a new Condition counts', async (ctx) => {
    if (!transactions) ctx.skip();
    await postHl7v2(server, observedVxu('FOL-2', 'Resent'));
    const id = await patientId('FOL-2');
    const { msg, text } = await postHl7v2(server, observedVxu('FOL-2', 'Resent', { immunity: false }));
    expect(msa(msg), text).toBe('AA');
    const byCode = new Map((await search(`Condition?patient=Patient/${id}`)).map((c) => [cdsiCodes(c)[0], c]));
    expect(verification(byCode.get('024'))).toBe('entered-in-error');
    expect(byCode.get('024').note.at(-1).text).toMatch(/was resent without this observation\.$/);
    expect(verification(byCode.get('091'))).toBe('confirmed');
    expect(await statusOf(id, 'Varicella')).not.toBe('immune');
    expect(await statusOf(id, 'MMR')).toBe('contraindicated');
    expect(byCode.get('024').identifier[0].system).toBe('https://iis-fhir-server.org/fhir/sid/hl7v2-observation-withdrawn');
    // The same message again (the OBX still absent) writes nothing more.
    await postHl7v2(server, observedVxu('FOL-2', 'Resent', { immunity: false }));
    expect((await server.fhir('GET', `Condition/${byCode.get('024').id}/_history`)).body.entry).toHaveLength(2);
    // The submitter reports the history again: a new Condition, and it counts.
    expect(msa((await postHl7v2(server, observedVxu('FOL-2', 'Resent'))).msg)).toBe('AA');
    const immunity = (await search(`Condition?patient=Patient/${id}`)).filter((c) => cdsiCodes(c).includes('024'));
    expect(immunity.map(verification).sort()).toEqual(['confirmed', 'entered-in-error']);
    expect(await statusOf(id, 'Varicella')).toBe('immune');
  });

  /** A dose stored with the OBX as its extension and the Condition made from it, over FHIR (as a VXU or the backfill leaves them). */
  async function doseWithCondition(patient: string, key: string): Promise<{ dose: string; condition: string }> {
    const dose = await server.fhir('POST', 'Immunization', {
      body: {
        resourceType: 'Immunization',
        status: 'completed',
        identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: key }],
        vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '998' }] },
        patient: { reference: `Patient/${patient}` },
        occurrenceDateTime: iso(hl7Date(30)),
        extension: [{ url: IMMUNITY_EXT, valueCodeableConcept: { coding: [{ system: SNOMED, code: '38907003', display: 'Varicella infection' }] } }],
      },
    });
    expect(dose.status, dose.text).toBe(201);
    const condition = await server.fhir('POST', 'Condition', {
      body: {
        resourceType: 'Condition',
        identifier: [{ system: OBSERVATION_KEY, value: `key-${key}` }],
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        verificationStatus: { coding: [{ system: VER, code: 'confirmed' }] },
        code: { coding: [{ system: CDSI, code: '024' }, { system: SNOMED, code: '38907003', display: 'Varicella infection' }] },
        subject: { reference: `Patient/${patient}` },
        onsetDateTime: iso(hl7Date(30)),
        evidence: [{ detail: [{ reference: `Immunization/${dose.body.id}` }] }],
      },
    });
    expect(condition.status, condition.text).toBe(201);
    return { dose: dose.body.id, condition: condition.body.id };
  }

  it('FHIR DELETE of the dose: only its own OBX Condition goes; one recorded over FHIR and one another dose reports stay (and keep counting)', async () => {
    const patient = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Fhirdelete', given: ['Flora'] }], birthDate: iso(yearsAgo(4, 77)), gender: 'female' } });
    expect(patient.status, patient.text).toBe(201);
    const id = patient.body.id;
    const first = await doseWithCondition(id, `${kind}-first`);
    const second = await doseWithCondition(id, `${kind}-second`);
    // A clinician's own record of the same history, naming the first dose as its evidence.
    const clinician = await server.fhir('POST', 'Condition', {
      body: {
        resourceType: 'Condition',
        verificationStatus: { coding: [{ system: VER, code: 'confirmed' }] },
        code: { coding: [{ system: CDSI, code: '024' }] },
        subject: { reference: `Patient/${id}` },
        evidence: [{ detail: [{ reference: `Immunization/${first.dose}` }] }],
      },
    });
    expect(clinician.status, clinician.text).toBe(201);

    expect((await server.fhir('DELETE', `Immunization/${first.dose}`)).status).toBe(204);
    expect(verification((await server.fhir('GET', `Condition/${first.condition}`)).body)).toBe('entered-in-error');
    expect(verification((await server.fhir('GET', `Condition/${second.condition}`)).body)).toBe('confirmed');
    expect((await server.fhir('GET', `Condition/${clinician.body.id}`)).body.meta.versionId).toBe('1');
    expect(await statusOf(id, 'Varicella')).toBe('immune');

    // The clinician's record gone too, and the second dose marked entered in error over FHIR: nothing reports it any more.
    expect((await server.fhir('DELETE', `Condition/${clinician.body.id}`)).status).toBe(204);
    const dose = (await server.fhir('GET', `Immunization/${second.dose}`)).body;
    expect((await server.fhir('PUT', `Immunization/${second.dose}`, { body: { ...dose, status: 'entered-in-error' } })).status).toBe(200);
    expect(verification((await server.fhir('GET', `Condition/${second.condition}`)).body)).toBe('entered-in-error');
    expect(await statusOf(id, 'Varicella')).not.toBe('immune');
  });

  it('a transaction deleting the dose retires the Condition in its own commit; a failing one changes neither', async (ctx) => {
    if (!transactions) ctx.skip();
    const patient = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Bundled', given: ['Flora'] }], birthDate: iso(yearsAgo(4, 88)), gender: 'female' } });
    const { dose, condition } = await doseWithCondition(patient.body.id, `${kind}-bundled`);
    const failing = await server.fhir('POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'DELETE', url: `Immunization/${dose}` } },
          { resource: { resourceType: 'Patient', birthDate: 'not a date' }, request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    expect(failing.status, failing.text).toBeGreaterThanOrEqual(400);
    expect((await server.fhir('GET', `Immunization/${dose}`)).status).toBe(200);
    expect(verification((await server.fhir('GET', `Condition/${condition}`)).body)).toBe('confirmed');

    const ok = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: `Immunization/${dose}` } }] } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.entry).toHaveLength(1);
    expect(verification((await server.fhir('GET', `Condition/${condition}`)).body)).toBe('entered-in-error');
  });

  it('$merge moves the dose and its Condition together: the Condition stays asserted', async (ctx) => {
    if (!transactions) ctx.skip();
    await postHl7v2(server, observedVxu('FOL-3', 'Mergesource'));
    const source = await patientId('FOL-3');
    const target = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Mergetarget', given: ['Flora'] }], birthDate: iso(yearsAgo(4, 99)), gender: 'female' } });
    const merged = await server.fhir('POST', 'Patient/$merge', {
      body: mergeParameters(source, target.body.id),
    });
    expect(merged.status, merged.text).toBe(200);
    const conditions = await search(`Condition?patient=Patient/${target.body.id}`);
    expect(conditions.map(verification)).toEqual(['confirmed', 'confirmed']);
    expect(await statusOf(target.body.id, 'Varicella')).toBe('immune');
  });
});
