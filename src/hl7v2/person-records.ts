// The records of one child in the registry: the one a message names and every record joined to it
// by a replaced-by / replaces link (a $merge; chains a → b → c), in either direction. The child's
// data-sharing status is the person's (src/consent/sharing-index.ts), so what a message reads or
// withdraws of it (QBP's PD1-12, VXU's PD1-12 "") looks at the Consents of all of them.
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { sameRecordLinksOf } from '../consent/sharing-index.js';
import { isFhirError } from '../fhir/outcome.js';
import type { FhirRunner } from './fhir-runner.js';

/** Records of one child looked at, at most (a merge chain is short). */
const MAX_PERSON_RECORDS = 20;

/** The ids of the child's records, `patient`'s first, as the caller may read them. */
export async function personRecords(run: FhirRunner, patient: Patient): Promise<string[]> {
  const known = new Map<string, Patient>([[patient.id as string, patient]]);
  const queue = [patient.id as string];
  while (queue.length > 0 && known.size < MAX_PERSON_RECORDS) {
    const id = queue.shift() as string;
    const response = await run({ method: 'GET', url: `Patient?link=Patient/${id}&_count=100` });
    const linking = ((response.body as Bundle | undefined)?.entry ?? [])
      .map((e) => e.resource as Patient)
      .filter((p) => p?.resourceType === 'Patient' && sameRecordLinksOf(p).includes(`Patient/${id}`));
    const neighbours = new Map<string, Patient | undefined>(sameRecordLinksOf(known.get(id)).map((ref) => [ref.slice('Patient/'.length), undefined]));
    for (const p of linking) neighbours.set(p.id as string, p);
    for (const [other, found] of neighbours) {
      if (known.has(other) || known.size >= MAX_PERSON_RECORDS) continue;
      let record = found;
      if (!record) {
        // A linked record deleted (410) or gone (404) is no record of the child any more.
        try {
          record = (await run({ method: 'GET', url: `Patient/${other}` })).body as Patient;
        } catch (err) {
          if (isFhirError(err)) continue;
          throw err;
        }
      }
      known.set(other, record);
      queue.push(other);
    }
  }
  return [...known.keys()];
}
