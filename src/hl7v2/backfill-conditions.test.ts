// The backfill of Conditions from doses stored with OBX 59784-9 / 30945-0 as extensions only
// (backfill-conditions.ts): the Conditions a VXU makes, in pages, resumable, idempotent, audited, and
// the forecast of every fixture patient the same before and after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { BACKFILL_TYPE, backfillObservationConditions, readBackfillProgress, recordBackfillNotNeeded } from './backfill-conditions.js';
import { controlId, hl7Date, order, pid, vxu, yearsAgo } from './test-messages.js';
import { postHl7v2 } from './test-http.js';

let server: TestServer;

const CDSI = 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html';
const SNOMED = 'http://snomed.info/sct';
const IMMUNITY = 'https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity';
const CONTRAINDICATION = 'https://iis-fhir-server.org/fhir/StructureDefinition/contraindication';
const OBSERVATION_KEY = 'https://iis-fhir-server.org/fhir/sid/hl7v2-observation';
const ASSESSED = new Date().toISOString().slice(0, 10);
const iso = (d: string) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
const varicellaHistory = { coding: [{ system: SNOMED, code: '38907003', display: 'Varicella infection' }] };
const mmrAllergy = { coding: [{ system: SNOMED, code: '219096004', display: 'Allergy to measles vaccine' }] };
const cdsiCodes = (condition: any): string[] => condition.code.coding.filter((c: any) => c.system === CDSI).map((c: any) => c.code);

async function search(url: string): Promise<any[]> {
  const res = await server.fhir('GET', url);
  expect(res.status, res.text).toBe(200);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}

async function child(family: string, days: number): Promise<string> {
  const res = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family, given: ['Bella'] }], birthDate: iso(yearsAgo(4, days)), gender: 'female' } });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** A dose stored over FHIR the way records were before OBX became Conditions: the observation only as its extension. */
async function dose(patient: string, options: { cvx?: string; daysAgo: number; key?: string; status?: string; observations?: Array<[string, unknown]> }): Promise<string> {
  const res = await server.fhir('POST', 'Immunization', {
    body: {
      resourceType: 'Immunization',
      status: options.status ?? (options.cvx && options.cvx !== '998' ? 'completed' : 'not-done'),
      ...(options.key ? { identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: options.key }] } : {}),
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: options.cvx ?? '998' }] },
      patient: { reference: `Patient/${patient}` },
      occurrenceDateTime: iso(hl7Date(options.daysAgo)),
      ...(options.observations ? { extension: options.observations.map(([url, valueCodeableConcept]) => ({ url, valueCodeableConcept })) } : {}),
    },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function forecast(patient: string): Promise<unknown> {
  const res = await server.fhir('GET', `Patient/${patient}/$immds-forecast?assessmentDate=${ASSESSED}`);
  expect(res.status, res.text).toBe(200);
  return res.body.parameter.map((p: any) => {
    const { id: _id, ...rest } = p.resource;
    return { name: p.name, resource: rest };
  });
}

/** Forgets any earlier run (the server ran one at start, on an empty store): the records above are then "stored before". */
async function forgetEarlierRuns(): Promise<void> {
  const current = await server.store.read(BACKFILL_TYPE, 'v1');
  if (current && !current.deleted) await server.store.write({ resourceType: BACKFILL_TYPE, id: 'v1', ifVersion: current.versionId });
}

const run = (options: { pageSize?: number; maxPages?: number } = {}) =>
  backfillObservationConditions({ store: server.store, audit: (event) => server.audit.recordAccess(event), clientId: 'iis-test', ...options });

describe.each(testMongoUrl() ? (['embedded', 'mongodb'] as const) : (['embedded'] as const))('backfill of OBX Conditions (%s)', (kind) => {
  let transactions = true;
  beforeAll(async () => {
    server = await startTestServer(kind);
    transactions = server.store.supportsTransactions;
    if (!transactions) console.log(`[backfill-conditions: ${kind}] the VXU case is SKIPPED: without multi-document transactions every VXU is refused (AR) by design; the backfill itself runs (each Condition written after a fresh check of its dose)`);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('makes the Conditions from the fixture set in resumable pages, changes no forecast, audits, and a second run makes none', async () => {
    const patients: Record<string, string> = {};
    // Evidence of immunity and a contraindication on a "no vaccine administered" record, beside an MMR dose.
    patients.both = await child('Bothobs', 11);
    await dose(patients.both, { cvx: '03', daysAgo: 900 });
    const bothRecord = await dose(patients.both, { daysAgo: 30, key: `${kind}-both`, observations: [[IMMUNITY, varicellaHistory], [CONTRAINDICATION, mmrAllergy]] });
    // The same history reported by two doses: one Condition each, the earlier date counting.
    patients.twice = await child('Twiceobs', 12);
    await dose(patients.twice, { daysAgo: 400, observations: [[IMMUNITY, varicellaHistory]] });
    await dose(patients.twice, { daysAgo: 40, observations: [[IMMUNITY, varicellaHistory]] });
    // A value no CDSi observation has: stays on the dose only.
    patients.unmapped = await child('Unmappedobs', 13);
    await dose(patients.unmapped, { daysAgo: 50, observations: [[IMMUNITY, { coding: [{ system: SNOMED, code: '123456789' }] }]] });
    // A dose entered in error: its observation counts for nothing, before and after.
    patients.withdrawn = await child('Withdrawnobs', 14);
    await dose(patients.withdrawn, { daysAgo: 60, status: 'entered-in-error', observations: [[IMMUNITY, varicellaHistory]] });
    // A contraindication a clinician recorded earlier, reported again later with a dose.
    patients.clinician = await child('Clinicianobs', 15);
    const recorded = await server.fhir('POST', 'Condition', {
      body: { resourceType: 'Condition', code: { coding: [{ system: CDSI, code: '091' }] }, subject: { reference: `Patient/${patients.clinician}` }, onsetDateTime: iso(hl7Date(700)) },
    });
    expect(recorded.status, recorded.text).toBe(201);
    await dose(patients.clinician, { daysAgo: 70, observations: [[CONTRAINDICATION, mmrAllergy]] });
    // Doses alone.
    patients.plain = await child('Plainobs', 16);
    for (const days of [1000, 900, 800]) await dose(patients.plain, { cvx: '20', daysAgo: days });

    const before = new Map<string, unknown>();
    for (const [name, id] of Object.entries(patients)) before.set(name, await forecast(id));
    expect(JSON.stringify(before.get('both'))).toContain('"code":"immune"');

    await forgetEarlierRuns();
    // Two pages of three doses, then the run stops; the next run resumes after the last saved id.
    const partial = await run({ pageSize: 3, maxPages: 2 });
    expect(partial).toMatchObject({ done: false, examined: 6 });
    expect(partial.after).not.toBe('');
    const finished = await run({ pageSize: 3 });
    expect(finished.done).toBe(true);
    expect(finished.examined).toBe(10);
    expect(finished.made).toBe(5);

    const made = (await search('Condition?identifier=' + encodeURIComponent(`${OBSERVATION_KEY}|`) + '&_count=100')).filter((c) =>
      Object.values(patients).includes(c.subject.reference.split('/')[1])
    );
    const conditionsOf = async (name: string) => (await search(`Condition?patient=Patient/${patients[name]}`)).filter((c) => c.identifier?.[0]?.system === OBSERVATION_KEY);
    expect((await conditionsOf('both')).map(cdsiCodes).sort()).toEqual([['024'], ['091']]);
    const immunity = (await conditionsOf('both')).find((c) => cdsiCodes(c).includes('024'));
    expect(immunity).toMatchObject({
      clinicalStatus: { coding: [{ code: 'active' }] },
      verificationStatus: { coding: [{ code: 'confirmed' }] },
      onsetDateTime: iso(hl7Date(30)),
      evidence: [{ detail: [{ reference: `Immunization/${bothRecord}` }] }],
    });
    expect(immunity.code.coding).toContainEqual(varicellaHistory.coding[0]);
    expect(await conditionsOf('twice')).toHaveLength(2);
    expect(await conditionsOf('unmapped')).toHaveLength(0);
    expect(await conditionsOf('withdrawn')).toHaveLength(0);
    expect(await conditionsOf('clinician')).toHaveLength(1);
    expect(made.length).toBeGreaterThanOrEqual(5);

    for (const [name, id] of Object.entries(patients)) expect(await forecast(id), name).toEqual(before.get(name));

    // Audited as a system change naming the patients.
    await server.audit.flush(5000);
    const events = await search(`AuditEvent?entity=Patient/${patients.both}&_count=50`);
    const backfills = events.filter((e) => e.agent?.some((a: any) => JSON.stringify(a).includes('system:observation-conditions-backfill')));
    expect(backfills, JSON.stringify(events.map((e) => e.agent))).toHaveLength(1);
    expect(backfills[0].outcomeDesc).toMatch(/Condition\(s\) made from the HL7 v2 observations/);

    // Done: nothing more; and run again from scratch (a progress record lost): no Condition twice.
    expect(await run()).toEqual(finished);
    await forgetEarlierRuns();
    expect((await run({ pageSize: 4 })).made).toBe(0);
    expect(await conditionsOf('twice')).toHaveLength(2);
    expect((await readBackfillProgress(server.store))?.done).toBe(true);
  });

  it('recordBackfillNotNeeded (a generated data set): done at once, and a run then looks at no dose', async () => {
    await forgetEarlierRuns();
    const kid = await child('Seeded', 201);
    const given = await dose(kid, { daysAgo: 40, observations: [[IMMUNITY, varicellaHistory]] });
    const recorded = await recordBackfillNotNeeded(server.store);
    expect(recorded).toMatchObject({ done: true, examined: 0, made: 0 });
    expect(await readBackfillProgress(server.store)).toMatchObject({ done: true, examined: 0 });
    expect(await run()).toMatchObject({ done: true, examined: 0, made: 0 });
    expect(await search(`Condition?patient=Patient/${kid}`)).toEqual([]);
    // Leave the store as the other tests expect it: no dose of this test for their runs to find.
    expect((await server.fhir('DELETE', `Immunization/${given}`)).status).toBeLessThan(300);
    await forgetEarlierRuns();
  });

  it('a VXU record stored before: the same Condition identifiers a VXU makes, so a resend stores none twice', async (ctx) => {
    if (!transactions) ctx.skip();
    const message = () =>
      vxu({
        controlId: controlId('BACK'),
        pid: pid({ mrn: 'BACK-1', family: 'Backfilled', given: 'Bella', birth: yearsAgo(4, 21), sex: 'F' }),
        orders: [order({ filler: 'BACK-1-2', cvx: '998', date: hl7Date(30), completion: 'NA', obx: [`OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F|||${hl7Date(30)}`] })],
      });
    expect((await postHl7v2(server, message())).status).toBe(200);
    const patient = (await search(`Patient?family=Backfilled`))[0].id;
    const fromVxu = await search(`Condition?patient=Patient/${patient}`);
    expect(fromVxu).toHaveLength(1);
    // Stored "the old way": the dose without its Condition.
    expect((await server.fhir('DELETE', `Condition/${fromVxu[0].id}`)).status).toBe(204);
    await forgetEarlierRuns();
    expect((await run()).made).toBe(1);
    const backfilled = await search(`Condition?patient=Patient/${patient}`);
    expect(backfilled.map((c) => c.identifier)).toEqual(fromVxu.map((c) => c.identifier));
    expect((await postHl7v2(server, message())).status).toBe(200);
    expect(await search(`Condition?patient=Patient/${patient}`)).toHaveLength(1);
  });
});

describe('the server runs the backfill at start', () => {
  it('a data directory written before OBX became Conditions: the Condition appears, the progress record says done, and a restart does not run it again', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { createStore } = await import('../app/open-store.js');
    const { indexFor } = await import('../interactions/write-support.js');
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-backfill-start-'));
    const before = await createStore({ dataDir } as never);
    await before.init();
    const dose = {
      resourceType: 'Immunization' as const,
      id: 'stored-before',
      status: 'not-done' as const,
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '998' }] },
      patient: { reference: 'Patient/stored-child' },
      occurrenceDateTime: '2024-05-01',
      extension: [{ url: IMMUNITY, valueCodeableConcept: varicellaHistory }],
    };
    await before.write({ resourceType: 'Immunization', id: dose.id, resource: dose, ifVersion: 'absent', index: indexFor(dose) });
    await before.close();
    let started = await startTestServer('embedded', { dataDir });
    try {
      let found: any[] = [];
      for (let i = 0; i < 100 && found.length === 0; i++) {
        const res = await started.fhir('GET', 'Condition?patient=Patient/stored-child');
        found = (res.body.entry ?? []).map((e: any) => e.resource);
        if (found.length === 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(found.map(cdsiCodes)).toEqual([['024']]);
      expect(found[0].evidence[0].detail[0].reference).toBe('Immunization/stored-before');
      expect(found[0].identifier[0]).toMatchObject({ system: OBSERVATION_KEY });
      for (let i = 0; i < 100 && !(await readBackfillProgress(started.store))?.done; i++) await new Promise((r) => setTimeout(r, 50));
      const done = await readBackfillProgress(started.store);
      expect(done).toMatchObject({ done: true, examined: 1, made: 1 });
      await started.close();
      started = await startTestServer('embedded', { dataDir });
      await new Promise((r) => setTimeout(r, 200));
      expect(await readBackfillProgress(started.store)).toEqual(done);
    } finally {
      await started.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
