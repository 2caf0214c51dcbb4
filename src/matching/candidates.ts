// Candidate retrieval for matching: one store query per blocking-key family (each indexed and
// capped), united by id, then ranked by the engine. Never scans all patients.
import type { Patient } from '@medplum/fhirtypes';
import type { Filter, StoreReader } from '../store/store.js';
import { BLOCK_LIMIT, blockingStages, matchingIndex } from './blocking.js';
import type { CoreFeatures, Features } from './features.js';
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
    /**
     * Counts added to (bench/match.ts, bench/vxu-engine.ts): records the blocking searches returned,
     * those parsed, and those whose features were known from an earlier call (left out unparsed by
     * the screen, or parsed).
     */
    counts?: { read: number; parsed: number; known?: number };
    /**
     * The caller only reads the answer's Patients, never changes them (decideIngest: their ids): a
     * listed candidate the cache holds is handed out as the cache's own object instead of a fresh
     * parse of its text, and a listed one parsed in this call stays in the cache with its parse.
     * Same candidates, decisions and order as without.
     */
    shared?: boolean;
  } = {}
): Promise<RankedCandidate[]> {
  const { exact, tolerant } = blockingStages(input, { path: STORED_MATCH_KEYS });
  if (exact.length + tolerant.length === 0) return [];
  const byId = new Map<string, Patient>();
  // One ranker for both stages: a candidate of the exact stage is not compared again in the second.
  const ranker = new CandidateRanker(input);
  const peek = ranker.screensByBirthDate;
  // Records met in earlier calls (knownCandidates): the cache's own Patient objects, used by the
  // ranker but never handed out (a listed one is parsed again for the answer, unless `shared`), by their text.
  const borrowed = new Map<Patient, { id: string; json: string }>();
  // Records parsed in this call: kept in knownCandidates afterwards (their Patient object only if
  // it is not handed out in the answer).
  const parsed: Array<{ id: string; json: string; patient: Patient }> = [];
  const parse = (json: string): Patient => {
    if (options.counts) options.counts.parsed++;
    return JSON.parse(json) as Patient;
  };
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
          // Met before (the same stored text): its features are known, and the screen may leave it
          // out on them, unparsed; its birth date was read from the text once.
          const known = knownCandidates.peek(record.id, json);
          const birth = peek ? (known ? knownBirthDate(known) : storedBirthDate(json)) : undefined;
          if (birth !== undefined && ranker.certainlyNoneByBirthDate(birth.birthDate)) continue;
          if (known) {
            knownCandidates.touch(record.id, known);
            if (options.counts) options.counts.known = (options.counts.known ?? 0) + 1;
            const screened = ranker.screenCore(known.core);
            if (screened === 'none') continue;
            if (known.patient) {
              patient = known.patient;
              borrowed.set(patient, { id: record.id, json });
            } else {
              patient = parse(json);
              parsed.push({ id: record.id, json, patient });
            }
            ranker.adopt(patient, known.core, known.full, screened);
          } else {
            patient = parse(json);
            parsed.push({ id: record.id, json, patient });
          }
        }
        if (patient) byId.set(record.id, patient);
      }
    }
  };
  /** The answer: what this call computed is kept for the next calls; borrowed records are handed out as fresh copies. */
  const answer = (ranked: RankedCandidate[]): RankedCandidate[] => {
    const listed = new Set(ranked.map((r) => r.patient));
    for (const { id, json, patient } of parsed) {
      const { core, full } = ranker.featuresKnown(patient);
      if (core) knownCandidates.set(id, json, core, full, listed.has(patient) && !options.shared ? undefined : patient);
    }
    for (const [patient, { id, json }] of borrowed) {
      const { core, full } = ranker.featuresKnown(patient);
      if (core) knownCandidates.set(id, json, core, full, patient);
    }
    return borrowed.size === 0 || options.shared ? ranked : ranked.map((r) => (borrowed.has(r.patient) ? { ...r, patient: parse(borrowed.get(r.patient)!.json) } : r));
  };
  if (exact.length > 0) {
    await fetch(exact);
    const ranked = ranker.rank([...byId.values()]);
    if (ranked.filter((r) => r.decision.grade === 'certain').length === 1 || tolerant.length === 0) return answer(ranked);
  }
  await fetch(tolerant);
  return answer(ranker.rank([...byId.values()]));
}

/**
 * The features of stored candidates met in earlier calls, by record id, each with the stored JSON
 * text it was computed from: an entry is used only for the same text (the same version of the same
 * record, whatever store it came from), so it gives exactly what parsing that text again would.
 * Features are a pure function of the Patient. Bounded: the least recently used entry goes first.
 * The parsed Patient is kept too while no answer has handed it out (see KnownCandidate.patient).
 * In bench/hl7v2.ts's open loop, about two in three of the records a VXU's blocking keys meet were
 * met by an earlier VXU (other children of the same mother's maiden name and birth months, of the
 * same surname code): most of them the screen leaves out unparsed.
 */
export class KnownCandidates {
  private readonly entries = new Map<string, KnownCandidate>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(id: string, json: string): KnownCandidate | undefined {
    const entry = this.peek(id, json);
    if (entry !== undefined) this.touch(id, entry);
    return entry;
  }

  /** The entry for this text, left where it is in the order of use (see `touch`). */
  peek(id: string, json: string): KnownCandidate | undefined {
    const entry = this.entries.get(id);
    return entry === undefined || entry.json !== json ? undefined : entry;
  }

  /** Marks a peeked entry used: most recently used last. */
  touch(id: string, entry: KnownCandidate): void {
    this.entries.delete(id);
    this.entries.set(id, entry);
  }

  set(id: string, json: string, core: CoreFeatures, full: Features | undefined, patient: Patient | undefined): void {
    this.entries.delete(id);
    this.entries.set(id, { json, core, full, patient, birth: UNREAD });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }
}

interface KnownCandidate {
  /** The stored JSON text the rest was computed from. */
  json: string;
  core: CoreFeatures;
  /** Undefined until a call compared the record in full. */
  full: Features | undefined;
  /**
   * The text parsed, when no call handed this object out (findMatches hands out fresh copies of
   * it) or only `shared` calls did (their callers only read it): nobody changes it.
   */
  patient: Patient | undefined;
  /** `storedBirthDate(json)`, read when first needed (UNREAD until then). */
  birth: ReturnType<typeof storedBirthDate> | typeof UNREAD;
}

const UNREAD = Symbol('unread');

/** `storedBirthDate` of an entry's text, read once per entry. */
function knownBirthDate(entry: KnownCandidate): ReturnType<typeof storedBirthDate> {
  if (entry.birth === UNREAD) entry.birth = storedBirthDate(entry.json);
  return entry.birth;
}

/** Candidates' features across findMatches calls (see KnownCandidates). */
export const knownCandidates = new KnownCandidates(1024);

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
