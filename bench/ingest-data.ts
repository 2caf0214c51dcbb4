// The Immunization the ingest benches write (over HTTP in bench/run.ts, into the store alone in
// bench/store-write.ts): one shape for both, so their per-Immunization costs compare.
import type { Immunization } from '@medplum/fhirtypes';

const CVX = ['08', '20', '10', '03', '21', '83', '133', '116', '115', '62', '141', '208'];

/** A completed dose of a random common vaccine for one of `patientIds`, with no id. */
export function benchImmunization(patientIds: string[]): Immunization {
  return {
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: CVX[Math.floor(Math.random() * CVX.length)] }] },
    patient: { reference: `Patient/${patientIds[Math.floor(Math.random() * patientIds.length)]}` },
    occurrenceDateTime: '2024-03-1' + Math.floor(Math.random() * 9),
    primarySource: true,
    lotNumber: `L${Math.floor(Math.random() * 1e6)}`,
  };
}
