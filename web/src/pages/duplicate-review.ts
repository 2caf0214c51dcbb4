// The review of a possible duplicate as data: which records a tagged Patient names as resembling it,
// and what the record becomes when a reviewer decides one of them is a different child (twins,
// siblings, look-alikes). Pure functions, so the exact PUT body is tested without a browser.
import type { Patient } from '../fhir-types';

export const REVIEW_SYSTEM = 'https://iis-fhir-server.org/fhir/CodeSystem/match-review';
export const REVIEW_CODE = 'possible-duplicate';
/** The review list's search value (`_tag=system|code`). */
export const REVIEW_TAG = `${REVIEW_SYSTEM}|${REVIEW_CODE}`;
export const DUPLICATE_OF = 'https://iis-fhir-server.org/fhir/StructureDefinition/possible-duplicate-of';

type Extension = NonNullable<Patient['extension']>[number];

/** The Patient id a possible-duplicate-of extension names ("Patient/7", a full URL, or with _history). */
function namedId(extension: Extension): string {
  const reference = extension.valueReference?.reference ?? '';
  const match = /(?:^|\/)Patient\/([^/]+)(?:\/_history\/[^/]+)?$/.exec(reference);
  return match ? match[1] : '';
}

/** The ids of the records this one was stored as a possible duplicate of, in the record's order. */
export function duplicateOf(patient: Patient): string[] {
  return (patient.extension ?? []).filter((x) => x.url === DUPLICATE_OF).map(namedId).filter(Boolean);
}

export function underReview(patient: Patient): boolean {
  return (patient.meta?.tag ?? []).some((t) => t.system === REVIEW_SYSTEM && t.code === REVIEW_CODE);
}

/**
 * The record after "Not the same child" for the pair (patient, otherId): the possible-duplicate-of
 * extension naming otherId goes; the review tag goes only when no possible-duplicate-of remains
 * (the record may still resemble another one). Every other extension, tag and security label, and
 * the rest of the record, stay exactly as they were.
 */
export function notTheSameChild(patient: Patient, otherId: string): Patient {
  const extension = (patient.extension ?? []).filter((x) => !(x.url === DUPLICATE_OF && namedId(x) === otherId));
  const stillResembles = extension.some((x) => x.url === DUPLICATE_OF);
  const next: Patient = { ...patient };
  if (extension.length > 0) next.extension = extension;
  else delete next.extension;
  if (!stillResembles && patient.meta?.tag) {
    const meta = { ...patient.meta };
    const tag = patient.meta.tag.filter((t) => !(t.system === REVIEW_SYSTEM && t.code === REVIEW_CODE));
    if (tag.length > 0) meta.tag = tag;
    else delete meta.tag;
    next.meta = meta;
  }
  return next;
}
