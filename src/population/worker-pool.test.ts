// The forecast pool answers exactly what the request thread answers, in order, and a patient CDSi
// cannot forecast stays undefined.
import { afterAll, expect, it } from 'vitest';
import type { Immunization } from '@medplum/fhirtypes';
import { inThreadRunner } from './forecast-runner.js';
import { ForecastPool } from './worker-pool.js';

const pool = new ForecastPool(1);
afterAll(() => pool.close());

const dose = (id: string, cvx: string, date: string): Immunization => ({
  resourceType: 'Immunization', id, status: 'completed', patient: { reference: 'Patient/p' },
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] }, occurrenceDateTime: date,
});

it('worker threads give the request thread’s forecasts, in order', async () => {
  const inputs = [
    { assessmentDate: '2026-06-30', patient: { resourceType: 'Patient' as const, id: 'a', birthDate: '2024-03-10', gender: 'female' as const }, immunizations: [dose('1', '03', '2025-03-10')] },
    { assessmentDate: '2026-06-30', patient: { resourceType: 'Patient' as const, id: 'b', birthDate: '2025-01-01' }, immunizations: [] },
    { assessmentDate: '2026-06-30', patient: { resourceType: 'Patient' as const, id: 'c' }, immunizations: [] }, // no birth date
  ];
  const groups = ['MMR', 'HepB'];
  const expected = await inThreadRunner(inputs, groups);
  const got = await pool.runner(inputs, groups);
  expect(got).toEqual(expected);
  expect(got[2]).toBeUndefined();
  expect(got[0]?.recommendation.recommendation?.map((r) => r.vaccineCode?.[0]?.text)).toEqual(['HepB', 'MMR']);
}, 60_000);
