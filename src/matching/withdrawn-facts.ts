// Facts a submitter withdrew from a patient's record: HL7 v2's null `""` ("delete the value the
// receiver holds", v2.5.1 section 2.5.3) in a PID/PD1/NK1 field. They are removed from the stored
// record before the message's own values are merged into it, on both ways a message reaches a
// record: the record its PID-3 names (an update), and the one a certain match finds for a create
// (newborn reconciliation, src/matching/ingest.ts). An element the message leaves empty is "no
// information": the stored value stays.
import type { ContactPoint, Patient } from '@medplum/fhirtypes';

/** Top-level Patient elements a message may withdraw (never name, birthDate or identifier: those identify the patient). */
export type WithdrawableElement =
  | 'gender'
  | 'address'
  | 'contact'
  | 'multipleBirthBoolean'
  | 'multipleBirthInteger'
  | 'deceasedBoolean'
  | 'deceasedDateTime';

export interface WithdrawnFacts {
  elements: WithdrawableElement[];
  /** Extensions removed by url (mother's maiden name, race, ethnicity, publicity code, registry status…). */
  extensions: string[];
  /** Telecoms removed by where the message carries them: `work` (PID-14 business phone) or `other` (PID-13: home, mobile, e-mail…). */
  telecoms: Array<'work' | 'other'>;
}

export function noWithdrawnFacts(): WithdrawnFacts {
  return { elements: [], extensions: [], telecoms: [] };
}

export function withdrawsAnything(facts: WithdrawnFacts | undefined): facts is WithdrawnFacts {
  return !!facts && (facts.elements.length > 0 || facts.extensions.length > 0 || facts.telecoms.length > 0);
}

/** The record without the withdrawn facts (a copy; the record itself is left as it is). */
export function withoutWithdrawnFacts(patient: Patient, facts: WithdrawnFacts | undefined): Patient {
  if (!withdrawsAnything(facts)) return patient;
  const out: Patient = { ...patient };
  for (const element of facts.elements) delete out[element];
  if (facts.extensions.length > 0 && out.extension) {
    const kept = out.extension.filter((e) => !facts.extensions.includes(e.url));
    if (kept.length > 0) out.extension = kept;
    else delete out.extension;
  }
  if (facts.telecoms.length > 0 && out.telecom) {
    const place = (t: ContactPoint): 'work' | 'other' => (t.use === 'work' ? 'work' : 'other');
    const kept = out.telecom.filter((t) => !facts.telecoms.includes(place(t)));
    if (kept.length > 0) out.telecom = kept;
    else delete out.telecom;
  }
  return out;
}

/**
 * A Patient create's request marked with the facts its sender withdrew, for the certain match that
 * turns the create into an update of an existing record. A Symbol key, set only by code (the HL7 v2
 * path): a client's JSON cannot carry it, so a FHIR create merges as ever.
 */
const WITHDRAWN_FACTS: unique symbol = Symbol('withdrawnFacts');

export function markWithdrawnFacts<T extends object>(request: T, facts: WithdrawnFacts): T {
  if (withdrawsAnything(facts)) (request as { [WITHDRAWN_FACTS]?: WithdrawnFacts })[WITHDRAWN_FACTS] = facts;
  return request;
}

export function withdrawnFactsOf(request: object): WithdrawnFacts | undefined {
  return (request as { [WITHDRAWN_FACTS]?: WithdrawnFacts })[WITHDRAWN_FACTS];
}
