// Candidate retrieval for matching: one store query per blocking-key family (each indexed and
// capped), united by id, then ranked by the engine. Never scans all patients.
import type { Patient } from '@medplum/fhirtypes';
import type { Filter, StoreReader } from '../store/store.js';
import { BLOCK_LIMIT, blockingStages, matchingIndex } from './blocking.js';
import { CandidateRanker } from './rank.js';
import type { RankedCandidate } from './types.js';

/** Where the blocking keys live in the stored document (written with the search values). */
export const STORED_MATCH_KEYS = 's._m';

/** The blocking keys to store with a Patient (under the search index, as `_m`). */
export function matchKeysOf(patient: Patient): string[] {
  return matchingIndex(patient).keys;
}

/**
 * Ranked candidates for an input Patient, best first, grade none left out. accessFilter (the
 * caller's data-sharing and compartment restrictions) is ANDed onto every query. Two stages
 * (blocking.ts `blockingStages`): the exact key families first; when they yield exactly one
 * certain match (the common re-registration), the tolerant families (typo'd dates and names) are
 * not fetched, since they cannot change that decision — they would only add weaker candidates.
 */
export async function findMatches(
  store: StoreReader,
  input: Patient,
  options: { accessFilter?: Filter; excludeId?: string } = {}
): Promise<RankedCandidate[]> {
  const { exact, tolerant } = blockingStages(input, { path: STORED_MATCH_KEYS });
  if (exact.length + tolerant.length === 0) return [];
  const byId = new Map<string, Patient>();
  // One ranker for both stages: a candidate of the exact stage is not compared again in the second.
  const ranker = new CandidateRanker(input);
  const fetch = async (queries: Filter[]) => {
    const results = await Promise.all(
      queries.map((filter) =>
        store.search('Patient', {
          filter: options.accessFilter ? { $and: [filter, options.accessFilter] } : filter,
          limit: BLOCK_LIMIT,
        })
      )
    );
    for (const records of results) {
      for (const record of records) {
        // A record found again (by another key family or stage) keeps its first copy, whose
        // features are already computed.
        if (record.resource && record.id !== options.excludeId && !byId.has(record.id)) byId.set(record.id, record.resource as Patient);
      }
    }
  };
  if (exact.length > 0) {
    await fetch(exact);
    const ranked = ranker.rank([...byId.values()]);
    if (ranked.filter((r) => r.decision.grade === 'certain').length === 1 || tolerant.length === 0) return ranked;
  }
  await fetch(tolerant);
  return ranker.rank([...byId.values()]);
}
