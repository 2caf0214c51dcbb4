// The worker pool answers exactly what the request thread answers, in order, for both kinds of
// population task, with the doses sent as JSON text; a patient CDSi cannot forecast stays undefined.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Immunization } from '@medplum/fhirtypes';
import { inThreadRunner } from './forecast-runner.js';
import type { PatientInput, PopulationTask } from './patient-task.js';
import { ForecastPool } from './worker-pool.js';

const pool = new ForecastPool(1);
beforeAll(() => pool.whenReady(), 60_000);
afterAll(() => pool.close());

const dose = (id: string, cvx: string, date: string): Immunization => ({
  resourceType: 'Immunization', id, status: 'completed', patient: { reference: 'Patient/p' },
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] }, occurrenceDateTime: date,
});

const inputs: PatientInput[] = [
  { patient: { resourceType: 'Patient', id: 'a', birthDate: '2024-03-10', gender: 'female' }, immunizations: JSON.stringify([dose('1', '03', '2025-03-10')]) },
  { patient: { resourceType: 'Patient', id: 'b', birthDate: '2025-01-01' }, immunizations: '[]' },
  { patient: { resourceType: 'Patient', id: 'c' }, immunizations: '[]' }, // no birth date
  { patient: { resourceType: 'Patient', id: 'd', birthDate: '2019-05-01' }, immunizations: [dose('2', '03', '2020-05-02'), dose('3', '03', '2023-06-01')] },
];

it('worker threads give the request thread’s due lists, in order', async () => {
  const task: PopulationTask = { kind: 'due', asOf: '2026-06-30', groups: ['MMR', 'HepB'] };
  const expected = await inThreadRunner(task, inputs);
  const got = await pool.runner(task, inputs);
  expect(got).toEqual(expected);
  expect(got[2]).toBeUndefined();
  const groupsDue = (i: number) => (got[i] as Exclude<(typeof got)[0], boolean | undefined>).items.map((x) => x.vaccineGroup);
  expect(groupsDue(0)).toEqual(['HepB']); // one MMR dose at 12 months: the second is not due before 4 years
  expect(groupsDue(1)).toEqual(['HepB', 'MMR']);
  expect(groupsDue(3)).toEqual(['HepB']); // two valid MMR doses: MMR complete
  const b = got[1] as Exclude<(typeof got)[0], boolean | undefined>;
  expect(b.recommendation.recommendation?.map((r) => r.vaccineCode?.[0]?.text)).toEqual(['HepB', 'MMR']);
}, 60_000);

it('worker threads give the request thread’s numerator answers', async () => {
  const task: PopulationTask = { kind: 'measure', periodEnd: '2026-06-30', numerator: { kind: 'valid', counts: [{ antigen: 'Measles', min: 2 }] }, vaccineGroups: ['MMR'] };
  const expected = await inThreadRunner(task, inputs);
  expect(await pool.runner(task, inputs)).toEqual(expected);
  expect(expected).toEqual([false, false, undefined, true]);
}, 60_000);
