// A child registered at an organization that does not share its data (Consent No, or Unknown) is
// hidden from every other organization, so their matching cannot find it: clinic B's VXU or FHIR
// create of that same child stores a second record. The registry must still learn of the likely
// duplicate, and clinic B must learn nothing of the hidden child (no id, no name, not even that it
// exists). So the review mark goes on the HIDDEN record, which B can never read, search or list:
// it gets the possible-duplicate tag and a possible-duplicate-of extension naming B's new record
// (a record every organization may see). Public health finds it on the review list
// (Patient?_tag=…|possible-duplicate) and combines the two with Patient/$merge; B's new record and
// every answer B gets are exactly as if the hidden child did not exist.
//
// A follow-up of Patient creates (RuleRegistry.registerFollowUp): written in the same store
// transaction as the create, against the version of the hidden record it read.
import type { Extension, Patient } from '@medplum/fhirtypes';
import { POSSIBLE_DUPLICATE_EXTENSION, REVIEW_TAG } from '../matching/ingest.js';
import type { FollowUp, FollowUpWrite } from '../validation/business-rules.js';

/** RuleRegistry follow-up of Patient writes (registered by src/server.ts). */
export const markDuplicatesHiddenFromCreator: FollowUp = async (change, ctx) => {
  // A create only: an update (a certain match merged into a visible record included) adds no child.
  if (change.previous || !change.next) return [];
  const created = change.next as Patient;
  const writes: FollowUpWrite[] = [];
  for (const current of await ctx.probableMatchesHiddenFromCaller(created)) {
    const marked = withReviewMark(current.resource as Patient, change.id);
    if (marked) writes.push({ current, resource: marked });
  }
  return writes;
};

/** The hidden record tagged for review as a possible duplicate of Patient/<newId>; undefined when it already is. */
function withReviewMark(hidden: Patient, newId: string): Patient | undefined {
  const reference = `Patient/${newId}`;
  const extensions = hidden.extension ?? [];
  const named = extensions.some((e) => e.url === POSSIBLE_DUPLICATE_EXTENSION && e.valueReference?.reference === reference);
  const tagged = (hidden.meta?.tag ?? []).some((t) => t.system === REVIEW_TAG.system && t.code === REVIEW_TAG.code);
  if (named && tagged) return undefined;
  const mark: Extension = {
    url: POSSIBLE_DUPLICATE_EXTENSION,
    valueReference: { reference, display: 'probable match registered by an organization this record is not shared with' },
  };
  return {
    ...hidden,
    meta: { ...hidden.meta, tag: tagged ? hidden.meta?.tag : [...(hidden.meta?.tag ?? []), REVIEW_TAG] },
    extension: named ? extensions : [...extensions, mark],
  };
}
