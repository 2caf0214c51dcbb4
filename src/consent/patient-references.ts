// A Patient an organization may see can name a child hidden from it: matching put a
// possible-duplicate-of extension (with the score) on a record that looked like an earlier one,
// before that earlier child's family said No; a client linked two records (`link` seealso / refer).
// Shown as stored, the visible record would give that organization the hidden child's id, the fact
// that it exists and that it is probably the same child. The caller-scoped store shows such a
// caller each Patient without those references, and when that caller writes the Patient back (PUT,
// PATCH, a $merge settling a review of what it saw) it puts them back, so the registry's review of
// the pair is kept rather than lost. (Records joined by replaced-by / replaces share one status,
// so those links never name a hidden record of a visible one; they are treated alike all the same.)
import type { Extension, Patient, PatientLink, Resource } from '@medplum/fhirtypes';
import { POSSIBLE_DUPLICATE_EXTENSION, REVIEW_TAG } from '../matching/ingest.js';
import type { ResourceRecord } from '../store/store.js';
import type { AccessPolicy } from './access.js';
import { localReference } from './data-sharing.js';

/**
 * Whether Patients need this treatment for the caller: callers acting for an organization that
 * hides someone from them, with or without a patient context (an app a clinician launched).
 */
export function hidesPatientReferences(policy: AccessPolicy): boolean {
  return (policy.hiddenPatients?.length ?? 0) > 0;
}

/** The hidden patients of a policy as a set, made once per policy (one per request). */
const hiddenSets = new WeakMap<AccessPolicy, Set<string>>();

function hiddenPatient(reference: string | undefined, policy: AccessPolicy): boolean {
  const patient = localReference('Patient', reference);
  if (patient === undefined) return false;
  let hidden = hiddenSets.get(policy);
  if (!hidden) hiddenSets.set(policy, (hidden = new Set(policy.hiddenPatients ?? [])));
  return hidden.has(patient);
}

const hiddenDuplicate = (policy: AccessPolicy) => (e: Extension) =>
  e.url === POSSIBLE_DUPLICATE_EXTENSION && hiddenPatient(e.valueReference?.reference, policy);
const hiddenLink = (policy: AccessPolicy) => (l: PatientLink) => hiddenPatient(l.other?.reference, policy);

/** The record as the caller may see it: a Patient without references to hidden patients (a copy), else unchanged. */
export function withoutHiddenPatientReferences(record: ResourceRecord, policy: AccessPolicy): ResourceRecord {
  if (record.resourceType !== 'Patient') return record;
  // Most records name no other patient: a raw record is parsed only when its text could.
  let patient = record.resource as Patient | undefined;
  if (!patient) {
    if (!mayNameOtherPatients(record)) return record;
    const text = storedText(record);
    if (text === undefined) return record;
    patient = JSON.parse(text) as Patient;
  }
  const isHiddenDuplicate = hiddenDuplicate(policy);
  const isHiddenLink = hiddenLink(policy);
  if (!patient.extension?.some(isHiddenDuplicate) && !patient.link?.some(isHiddenLink)) return record;
  const shown: Patient = { ...patient };
  const extension = patient.extension?.filter((e) => !isHiddenDuplicate(e));
  if (extension && extension.length > 0) shown.extension = extension;
  else delete shown.extension;
  const link = patient.link?.filter((l) => !isHiddenLink(l));
  if (link && link.length > 0) shown.link = link;
  else delete shown.link;
  // The stored JSON is the whole Patient: a response must not copy it.
  const { json: _json, jsonBytes: _bytes, ...rest } = record;
  return { ...rest, resource: shown };
}

/**
 * The Patient a restricted caller writes, with the stored version's references to patients it could
 * not see put back (and the review tag, when a possible-duplicate-of is put back and the stored
 * version was under review). Undefined when nothing changes.
 */
export function withHiddenPatientReferencesKept(written: Resource, stored: Resource | undefined, policy: AccessPolicy): Patient | undefined {
  if (written.resourceType !== 'Patient' || stored?.resourceType !== 'Patient') return undefined;
  const patient = written as Patient;
  const before = stored as Patient;
  // A record being merged away leaves the review list ($merge takes its marks off: it can no longer
  // be merged), so none is put back on it; its links are.
  const mergedAway = patient.link?.some((l) => l.type === 'replaced-by') ?? false;
  const presentExtensions = new Set((patient.extension ?? []).filter((e) => e.url === POSSIBLE_DUPLICATE_EXTENSION).map((e) => e.valueReference?.reference));
  const duplicates = (mergedAway ? [] : (before.extension ?? [])).filter(hiddenDuplicate(policy)).filter((e) => !presentExtensions.has(e.valueReference?.reference));
  const presentLinks = new Set((patient.link ?? []).map((l) => l.other?.reference));
  const links = (before.link ?? []).filter(hiddenLink(policy)).filter((l) => !presentLinks.has(l.other?.reference));
  if (duplicates.length === 0 && links.length === 0) return undefined;
  const kept: Patient = { ...patient };
  if (duplicates.length > 0) {
    kept.extension = [...(patient.extension ?? []), ...duplicates];
    const underReview = (p: Patient) => p.meta?.tag?.some((t) => t.system === REVIEW_TAG.system && t.code === REVIEW_TAG.code) ?? false;
    if (underReview(before) && !underReview(patient)) kept.meta = { ...patient.meta, tag: [...(patient.meta?.tag ?? []), REVIEW_TAG] };
  }
  if (links.length > 0) kept.link = [...(patient.link ?? []), ...links];
  return kept;
}

/** Whether a raw record's stored JSON could hold such a reference (searched as bytes: an export's Patients are not decoded for it). */
function mayNameOtherPatients(record: ResourceRecord): boolean {
  if (record.json !== undefined) return record.json.includes(POSSIBLE_DUPLICATE_EXTENSION) || record.json.includes('"link"');
  const bytes = record.jsonBytes;
  if (!bytes) return false;
  const stored = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return stored.includes(POSSIBLE_DUPLICATE_EXTENSION) || stored.includes('"link"');
}

function storedText(record: ResourceRecord): string | undefined {
  const bytes = record.jsonBytes;
  return record.json ?? (bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : undefined);
}
