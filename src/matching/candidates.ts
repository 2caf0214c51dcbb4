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
  options: {
    accessFilter?: Filter;
    excludeId?: string;
    /** Counts added to (bench/match.ts): records the blocking searches returned, and those parsed. */
    counts?: { read: number; parsed: number };
  } = {}
): Promise<RankedCandidate[]> {
  const { exact, tolerant } = blockingStages(input, { path: STORED_MATCH_KEYS });
  if (exact.length + tolerant.length === 0) return [];
  const byId = new Map<string, Patient>();
  // One ranker for both stages: a candidate of the exact stage is not compared again in the second.
  const ranker = new CandidateRanker(input);
  const peek = ranker.screensByBirthDate;
  const fetch = async (queries: Filter[]) => {
    const results = await Promise.all(
      queries.map((filter) =>
        store.search('Patient', {
          filter: options.accessFilter ? { $and: [filter, options.accessFilter] } : filter,
          limit: BLOCK_LIMIT,
          // The stored JSON where the store can give it: most candidates are told apart by their
          // birth date alone, looked up in the text, and are never parsed.
          raw: true,
        })
      )
    );
    for (const records of results) {
      if (options.counts) options.counts.read += records.length;
      for (const record of records) {
        // A record found again (by another key family or stage) keeps its first copy, whose
        // features are already computed.
        if (record.id === options.excludeId || byId.has(record.id)) continue;
        let patient = record.resource as Patient | undefined;
        const json = patient ? undefined : (record.json ?? textOf(record.jsonBytes));
        if (json !== undefined) {
          const birth = peek ? storedBirthDate(json) : undefined;
          if (birth !== undefined && ranker.certainlyNoneByBirthDate(birth.birthDate)) continue;
          patient = JSON.parse(json) as Patient;
          if (options.counts) options.counts.parsed++;
        }
        if (patient) byId.set(record.id, patient);
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

/** A raw record's JSON given as UTF-8 bytes (store.ts allows either form). */
function textOf(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

const BIRTH_DATE_KEY = '"birthDate":"';

/**
 * A stored Patient's `birthDate` read from its JSON text without parsing it: `{ birthDate }`
 * (undefined when the Patient has none), or undefined when the text does not tell for certain
 * (contained resources, which may carry their own birthDate; the key more than once; an escape in
 * the value; anything but a string value; a key not at the top level).
 */
export function storedBirthDate(json: string): { birthDate: string | undefined } | undefined {
  if (json.includes('"contained"')) return undefined;
  const at = json.indexOf(BIRTH_DATE_KEY);
  if (at === -1) return json.includes('"birthDate"') ? undefined : { birthDate: undefined };
  if (json.indexOf(BIRTH_DATE_KEY, at + 1) !== -1) return undefined;
  const start = at + BIRTH_DATE_KEY.length;
  const end = json.indexOf('"', start);
  if (end === -1) return undefined;
  const value = json.slice(start, end);
  if (value.includes('\\') || depthAt(json, at) !== 1) return undefined;
  return { birthDate: value };
}

/** How many objects and arrays are open at `position` of a JSON text (strings skipped). */
function depthAt(json: string, position: number): number {
  let depth = 0;
  for (let i = 0; i < position; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, escapes included.
      for (i++; i < position && json.charCodeAt(i) !== 0x22; i++) if (json.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return depth;
}
