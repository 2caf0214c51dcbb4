// runTask's coverage numerator counts a dose by the day the CDSi engine dated it: an Immunization
// stored with occurrenceString "YYYY-MM-DD" (valid FHIR, accepted on write) was valid for CDSi but
// never counted, as the numerator read occurrenceDateTime only.
import type { Immunization, Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { addMonths } from './dates.js';
import { FULL_CHILDHOOD_SERIES as FULL } from './test-series.js';
import { parseMeasure, shippedMeasures } from './measure-definition.js';
import { runTask, type PopulationTask } from './patient-task.js';

const BIRTH = '2024-03-01';

describe('coverage numerator', () => {
  const def = parseMeasure(shippedMeasures().get('childhood-combined-7')!);
  const task: PopulationTask = { kind: 'measure', periodEnd: '2026-06-15', numerator: def.numerator, vaccineGroups: def.vaccineGroups };
  const patient: Patient = { resourceType: 'Patient', id: 'p', birthDate: BIRTH, gender: 'female' };
  const doses = (date: (day: string) => Partial<Immunization>): Immunization[] =>
    FULL.map(([cvx, months], i) => ({
      resourceType: 'Immunization',
      id: `d${i}`,
      status: 'completed',
      patient: { reference: 'Patient/p' },
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
      ...date(addMonths(BIRTH, months)),
    }) as Immunization);

  it('counts doses dated by occurrenceDateTime or by an occurrenceString holding a date alike', () => {
    expect(runTask(task, { patient, immunizations: doses((day) => ({ occurrenceDateTime: day })) })).toBe(true);
    expect(runTask(task, { patient, immunizations: doses((day) => ({ occurrenceString: day })) })).toBe(true);
    // A dose after the second birthday still does not count.
    const late = doses((day) => ({ occurrenceString: day }));
    late[18] = { ...late[18]!, occurrenceString: '2026-03-05' };
    expect(runTask(task, { patient, immunizations: late })).toBe(false);
  });
});
