// Who no population run is about (patient-task.ts outOfPopulation), over HTTP: a patient who had
// died by the run's date gets no reminder and is in no coverage population, nor is a record no
// longer in use (active false: a merged duplicate, whose doses moved to the surviving record).
// A patient who died after the run's date is still in it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, startTestServer, type TestServer } from '../../test/helpers/server.js';
import { addMonths } from './dates.js';
import { FULL_CHILDHOOD_SERIES as FULL } from './test-series.js';
import { outOfPopulation } from './patient-task.js';

const AS_OF = '2026-06-15';
const PRACTICE = 'Organization/practice-out';
const BIRTH = '2024-03-01'; // 27 months on AS_OF: in childhood-combined-7's 24-35 months


describe('population runs leave out the dead and records no longer in use', () => {
  let server: TestServer;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer('embedded');
    const children: Record<string, Record<string, unknown>> = {
      living: {},
      covered: {},
      deceased: { deceasedBoolean: true },
      diedBefore: { deceasedDateTime: '2025-01-10T08:00:00Z' },
      diedInYear: { deceasedDateTime: '2026' },
      diedAfter: { deceasedDateTime: '2026-08-01' },
      merged: { active: false },
    };
    for (const [label, fields] of Object.entries(children)) {
      const res = await server.fhir('POST', 'Patient', {
        body: { resourceType: 'Patient', name: [{ family: `Out${label}`, given: ['Kid'] }], gender: 'female', birthDate: BIRTH, managingOrganization: { reference: PRACTICE }, ...fields },
      });
      expect(res.status, res.text).toBe(201);
      ids[label] = res.body.id;
    }
    for (const label of ['covered', 'diedAfter']) {
      for (const [cvx, months] of FULL) {
        const dose = immunization(`Patient/${ids[label]}`, { vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] }, occurrenceDateTime: addMonths(BIRTH, months) });
        const res = await server.fhir('POST', 'Immunization', { body: dose });
        expect(res.status, res.text).toBe(201);
      }
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it('outOfPopulation: inactive, deceased, or died on or before the date (at any precision)', () => {
    expect(outOfPopulation({ resourceType: 'Patient' }, AS_OF)).toBe(false);
    expect(outOfPopulation({ resourceType: 'Patient', active: true, deceasedBoolean: false }, AS_OF)).toBe(false);
    expect(outOfPopulation({ resourceType: 'Patient', active: false }, AS_OF)).toBe(true);
    expect(outOfPopulation({ resourceType: 'Patient', deceasedBoolean: true }, AS_OF)).toBe(true);
    expect(outOfPopulation({ resourceType: 'Patient', deceasedDateTime: AS_OF }, AS_OF)).toBe(true);
    expect(outOfPopulation({ resourceType: 'Patient', deceasedDateTime: '2026-06-16' }, AS_OF)).toBe(false);
    expect(outOfPopulation({ resourceType: 'Patient', deceasedDateTime: '2026-06' }, AS_OF)).toBe(true);
  });

  it('reminder/recall: no reminder for a patient who had died or a record no longer in use (JSON and CSV)', async () => {
    const listed = async (asOf: string) => {
      const res = await server.fhir('GET', `$reminder-recall?organization=${PRACTICE}&asOf=${asOf}&vaccineGroup=MMR,DTaP/Tdap/Td`);
      expect(res.status, res.text).toBe(200);
      return (res.body.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id).sort();
    };
    expect(await listed(AS_OF)).toEqual([ids.living].sort());
    // Before the death, the child was due like any other (diedAfter's doses are all on time then).
    expect(await listed('2024-12-01')).toEqual([ids.living, ids.diedBefore, ids.diedInYear].sort());
    const csv = await server.fhir('GET', `$reminder-recall?organization=${PRACTICE}&asOf=${AS_OF}&vaccineGroup=MMR&_format=text/csv`);
    expect(csv.status).toBe(200);
    const rowIds = csv.text.trim().split('\r\n').slice(1).map((row) => row.split(',')[0]);
    expect(rowIds).toEqual([ids.living]);
  });

  it('coverage: the dead (by periodEnd) and inactive records are in no population', async () => {
    const res = await server.fhir('GET', `Measure/childhood-combined-7/$evaluate-measure?periodEnd=${AS_OF}&subject=${PRACTICE}&reportType=subject-list`);
    expect(res.status, res.text).toBe(200);
    const counts = Object.fromEntries(res.body.group[0].population.map((p: any) => [p.code.coding[0].code, p.count]));
    // living (no doses), covered (full series) and diedAfter (full series, died after periodEnd).
    expect(counts).toEqual({ 'initial-population': 3, denominator: 3, numerator: 2 });
    expect(res.body.group[0].measureScore.value).toBe(0.6667);
    const initial = res.body.contained.find((c: any) => c.id === 'initial-population').entry.map((e: any) => e.item.reference).sort();
    expect(initial).toEqual([ids.living, ids.covered, ids.diedAfter].map((id) => `Patient/${id}`).sort());
  });
});
