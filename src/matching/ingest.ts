// What happens when a Patient arrives (create, transaction entry): a certain match updates the
// existing record instead of storing a duplicate; probable matches are stored as new records
// tagged for review, with the candidates named; anything else is a plain new record.
import type { Extension, HumanName, Patient } from '@medplum/fhirtypes';
import type { StoreReader } from '../store/store.js';
import type { ResourceRecord } from '../store/store.js';
import { findMatches } from './candidates.js';
import { shareFeatures } from './features.js';
import { mergeInto, mergeNames } from './merge-records.js';
import { placeholderInfo } from './newborn.js';
import type { RankedCandidate } from './types.js';

export const REVIEW_TAG = { system: 'https://iis-fhir-server.org/fhir/CodeSystem/match-review', code: 'possible-duplicate', display: 'Possible duplicate: review and $merge' };
export const POSSIBLE_DUPLICATE_EXTENSION = 'https://iis-fhir-server.org/fhir/StructureDefinition/possible-duplicate-of';
const MAX_REVIEW_CANDIDATES = 5;

export type IngestDecision =
  | { kind: 'merge'; existing: ResourceRecord; merged: Patient; candidate: RankedCandidate }
  | { kind: 'new'; patient: Patient; probable: RankedCandidate[] };

export async function decideIngest(store: StoreReader, incoming: Patient): Promise<IngestDecision> {
  // The decision's candidates are only read (their ids, grades and scores): the cache's own parses.
  const ranked = await findMatches(store, incoming, { shared: true });
  const certain = ranked.filter((c) => c.decision.grade === 'certain');
  if (certain.length === 1) {
    const existing = await store.read('Patient', certain[0].patient.id as string);
    if (existing?.resource && !existing.deleted) {
      return { kind: 'merge', existing, merged: mergeInto(existing.resource as Patient, incoming), candidate: certain[0] };
    }
  }
  const probable = ranked.filter((c) => c.decision.grade === 'probable' || c.decision.grade === 'certain');
  if (probable.length === 0) return { kind: 'new', patient: incoming, probable };
  return { kind: 'new', patient: markForReview(incoming, probable), probable };
}

/** Tags a new record as a possible duplicate of its probable matches (the review list). */
export function markForReview(patient: Patient, probable: RankedCandidate[]): Patient {
  const extension: Extension[] = probable.slice(0, MAX_REVIEW_CANDIDATES).map((c) => ({
    url: POSSIBLE_DUPLICATE_EXTENSION,
    valueReference: { reference: `Patient/${c.patient.id}`, display: `${c.decision.grade} match, score ${c.decision.score.toFixed(2)}` },
  }));
  const marked: Patient = {
    ...patient,
    meta: { ...patient.meta, tag: [...(patient.meta?.tag ?? []).filter((t) => t.code !== REVIEW_TAG.code), REVIEW_TAG] },
    extension: [...(patient.extension ?? []).filter((e) => e.url !== POSSIBLE_DUPLICATE_EXTENSION), ...extension],
  };
  // Only meta and the possible-duplicate extensions differ (the mother's maiden name keeps its
  // place among the extensions): the record's matching features, and so its blocking keys, are
  // the incoming one's, already computed for the blocking searches.
  shareFeatures(marked, patient);
  return marked;
}

/**
 * An update that brings only placeholder names (a hospital resending "Baby Boy Smith" by its MRN)
 * must not displace the legal name the record already has: names are merged instead.
 */
export function preserveLegalName(current: Patient, incoming: Patient): Patient {
  const legal = (names: HumanName[] | undefined) => (names ?? []).filter((n) => !placeholderInfo(n).placeholder && n.use !== 'old');
  if (legal(incoming.name).length > 0 || legal(current.name).length === 0) return incoming;
  return { ...incoming, name: mergeNames(current.name ?? [], incoming.name ?? []) };
}

/** Lock name serialising Patient ingests that could match each other (same birth date). */
export function ingestLockKey(patient: Patient): string {
  return `patient-ingest:${patient.birthDate ?? 'unknown'}`;
}
