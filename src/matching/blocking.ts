// Blocking: the few index lookups that fetch candidates for a comparison, so matching never scans
// every patient. Each stored Patient carries `m.keys` (matchingIndex), a multikey array of short
// strings; blockingQueries turns an incoming Patient into equality / $in filters on that one path,
// each answered by one index (embedded store: hash index on `m.keys`; MongoDB: `{ 'm.keys': 1 }`).
//
// Keys (name parts are Double Metaphone codes, dates YYYYMMDD):
//   d:<birth date>                    exact birth date
//   fm:<surname code>:<YYYYMM>        birth day mistyped; queried for the date's month and the
//                                     months of its variants day/month swapped and ± 1 day
//   fd:<surname code>:<MMDD>          birth year mistyped (or ± 1): queried for the date's MMDD
//   fg:<surname code>:<given code>    birth date badly wrong
//   mm:<maiden name code>:<YYYYMM>    mother's maiden name (newborn under another surname)
//   ph:<10 digits>                    phone
//   ad:<ZIP5>:<house number>:<street code>
//   id:<kind>:<system>|<value>        SSN, Medicaid, MRN and other identifiers (normalised)
// Compound / hyphenated surnames give one code per part, so Smith-Jones meets Smith and Jones.
// The search index (`s.*`, src/search) holds none of the phonetic or compound keys, hence `m`.
import type { Patient } from '@medplum/fhirtypes';
import type { Filter } from '../store/store.js';
import { features, type Features } from './features.js';
import { phoneticCodes } from './strings.js';

/** Bumped when the key scheme changes: stored `m.v` older than this needs re-indexing. */
export const MATCHING_INDEX_VERSION = 1;
/** Stored-document path of the blocking keys. */
export const MATCH_KEYS_PATH = 'm.keys';
/** Suggested per-query limit: a block bigger than this is a common name, not a lead. */
export const BLOCK_LIMIT = 200;

export interface MatchingIndex {
  v: number;
  keys: string[];
}

/** Extra fields to store under `m` beside the search index `s` on every Patient write. */
export function matchingIndex(patient: Patient): MatchingIndex {
  const keys = new Set<string>();
  for (const group of keyGroups(features(patient), false)) for (const k of group.keys) keys.add(k);
  return { v: MATCHING_INDEX_VERSION, keys: [...keys].sort() };
}

export interface BlockingOptions {
  /** Path of the keys in stored documents (default `m.keys`). */
  path?: string;
}

/**
 * One filter per key family (birth date, surname+date, surname+given, maiden name, phone,
 * address, identifiers), each an equality or `$in` on the keys path so an index answers it. Run
 * each with a limit (BLOCK_LIMIT) and union the results by id; add `_id: { $ne: input.id }`
 * and status conditions as needed. Empty when the input has nothing to block on.
 */
export function blockingQueries(input: Patient, options: BlockingOptions = {}): Filter[] {
  const { exact, tolerant } = blockingStages(input, options);
  return [...exact, ...tolerant];
}

/** Key families every certain match shares with its input: the exact birth date, phone, address, identifiers. */
const EXACT_GROUPS = new Set(['birthDate', 'phone', 'address', 'identifier']);

/**
 * blockingQueries split in two stages. `exact`: the families a certain match always shares with
 * its input (certain needs the same birth date, or an identifier when one record has none; twins
 * and duplicates that could make it ambiguous share the birth date too). `tolerant`: surname with
 * neighbouring dates, surname + given name, mother's maiden name, for typos. When the exact
 * stage already yields a certain match, the tolerant stage cannot change that decision.
 */
export function blockingStages(input: Patient, options: BlockingOptions = {}): { exact: Filter[]; tolerant: Filter[] } {
  const path = options.path ?? MATCH_KEYS_PATH;
  const exact: Filter[] = [];
  const tolerant: Filter[] = [];
  for (const group of keyGroups(features(input), true)) {
    if (group.keys.length === 0) continue;
    (EXACT_GROUPS.has(group.name) ? exact : tolerant).push({ [path]: group.keys.length === 1 ? group.keys[0] : { $in: group.keys } });
  }
  return { exact, tolerant };
}

/** Would blockingQueries(input) retrieve stored (from its matchingIndex)? For evaluation. */
export function blockingKeysMatch(input: Patient, stored: Patient): boolean {
  const keys = new Set(matchingIndex(stored).keys);
  for (const group of keyGroups(features(input), true)) for (const k of group.keys) if (keys.has(k)) return true;
  return false;
}

interface KeyGroup {
  name: string;
  keys: string[];
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** YYYYMMDD of a calendar date, undefined when y/m/d is not one (the reference: Date.UTC, see ymd). */
function ymdByDate(y: number, m: number, d: number): string | undefined {
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return undefined;
  return `${pad(y, 4)}${pad(m)}${pad(d)}`;
}

/** The date `days` days after a YYYYMMDD key (the reference: Date.UTC, see addDays). */
function addDaysByDate(key: string, days: number): string {
  const t = Date.UTC(Number(key.slice(0, 4)), Number(key.slice(4, 6)) - 1, Number(key.slice(6, 8))) + days * 86_400_000;
  const d = new Date(t);
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
}

// The same answers without Date objects for the dates blocking meets (years 100–9999, valid
// months and days: JS dates are proleptic Gregorian); anything else (a month 13, a year Date.UTC
// reads as 19xx) goes to the Date reference. blocking-dates.test.ts compares both.
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(y: number, m: number): number {
  return m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : MONTH_DAYS[m - 1];
}

function plainDate(y: number, m: number, d: number): boolean {
  return Number.isInteger(y) && Number.isInteger(m) && Number.isInteger(d) && y >= 100 && y <= 9999 && m >= 1 && m <= 12;
}

const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const four = (n: number): string => (n < 1000 ? `0${n}` : `${n}`); // n ≥ 100

export function ymd(y: number, m: number, d: number): string | undefined {
  if (!plainDate(y, m, d)) return ymdByDate(y, m, d);
  if (d < 1 || d > daysInMonth(y, m)) return undefined;
  return `${four(y)}${two(m)}${two(d)}`;
}

/** One day before or after a YYYYMMDD key (days ±1; other offsets go to the Date reference). */
export function addDays(key: string, days: number): string {
  const y = Number(key.slice(0, 4));
  const m = Number(key.slice(4, 6));
  const d = Number(key.slice(6, 8));
  if ((days !== 1 && days !== -1) || !plainDate(y, m, d) || d < 1 || d > daysInMonth(y, m)) return addDaysByDate(key, days);
  let ny = y;
  let nm = m;
  let nd = d + days;
  if (nd < 1) {
    nm -= 1;
    if (nm < 1) {
      nm = 12;
      ny -= 1;
    }
    nd = daysInMonth(ny, nm);
  } else if (nd > daysInMonth(y, m)) {
    nd = 1;
    nm += 1;
    if (nm > 12) {
      nm = 1;
      ny += 1;
    }
  }
  return `${ny >= 10000 ? `${ny}` : ny < 100 ? pad(ny, 4) : four(ny)}${two(nm)}${two(nd)}`;
}

/** The Date-based references of ymd and addDays, for the tests. */
export const DATE_REFERENCE = { ymd: ymdByDate, addDays: addDaysByDate };

/**
 * Key groups of a patient. `query` adds the tolerant variants (swapped / neighbouring birth
 * dates) that are looked up but never stored, so the index stays small.
 */
function keyGroups(f: Features, query: boolean): KeyGroup[] {
  const groups: KeyGroup[] = [];
  const { surnameCodes, givenCodes, maidenCodes, streetCodes } = codesOf(f);
  const b = f.birth;

  // The exact birth date alone is a block; its tolerant variants (day/month swapped, year ± 1,
  // ± 1 day) are only looked up together with the surname, which keeps the blocks small.
  const dates: string[] = [];
  // The variants whose month a surname + month key looks up: all but year ± 1 (below).
  const monthDates: string[] = [];
  if (b?.key) {
    dates.push(b.key);
    monthDates.push(b.key);
    if (query && b.m !== undefined && b.d !== undefined) {
      const swapped = b.d <= 12 && b.d !== b.m ? ymd(b.y, b.d, b.m) : undefined;
      for (const v of [swapped, addDays(b.key, -1), addDays(b.key, 1)]) if (v && !monthDates.includes(v)) monthDates.push(v);
      for (const v of [...monthDates, ymd(b.y - 1, b.m, b.d), ymd(b.y + 1, b.m, b.d)]) {
        if (v && !dates.includes(v)) dates.push(v);
      }
    }
  }
  if (b?.key) {
    groups.push({ name: 'birthDate', keys: [`d:${b.key}`] });
    // Each date typo the comparator recognises (compareBirthDate's partial kinds) is found with the
    // surname: another day of the same month, one day apart, day and month swapped — the month of
    // the date or of its variant (fm); a mistyped or neighbouring year — the same day of year (fd).
    // Not looked up: the months of year ± 1 and the days of year of the other variants. A record
    // found only by those has two parts of its birth date wrong (year and day, or year and day of
    // year), which the comparator calls a different birth date: they found such records by
    // coincidence, and cost a third of the candidates read per $match (measured on 100k Patients:
    // the same $match answers on 2,656 inputs with typos of every kind, ~30 % fewer records read).
    const months = unique(monthDates.map((d) => d.slice(0, 6)));
    const days = [b.key.slice(4, 8)];
    groups.push({ name: 'surnameMonth', keys: surnameCodes.flatMap((c) => months.map((m) => `fm:${c}:${m}`)) });
    groups.push({ name: 'surnameDay', keys: surnameCodes.flatMap((c) => days.map((d) => `fd:${c}:${d}`)) });
  }
  groups.push({ name: 'surnameGiven', keys: surnameCodes.flatMap((s) => givenCodes.map((g) => `fg:${s}:${g}`)) });
  if (f.mothersMaidenName && b?.key) {
    const months = [b.key.slice(0, 6)];
    if (query) for (const d of dates.slice(1)) if (!months.includes(d.slice(0, 6))) months.push(d.slice(0, 6));
    groups.push({ name: 'maidenName', keys: maidenCodes.flatMap((c) => months.map((m) => `mm:${c}:${m}`)) });
  }
  groups.push({ name: 'phone', keys: f.phones.filter((p) => p.length === 10).map((p) => `ph:${p}`) });
  groups.push({ name: 'address', keys: streetCodes.slice() }); // a copy: the cached list stays as it is
  groups.push({ name: 'identifier', keys: f.ids.map((i) => `id:${i.kind}:${i.kind === 'ssn' ? '' : i.system}|${i.value}`) });
  return groups;
}

interface Codes {
  surnameCodes: string[];
  givenCodes: string[];
  maidenCodes: string[];
  /** The address keys (ZIP, house number and the street's first word's code). */
  streetCodes: string[];
}

/**
 * The phonetic codes of a record's names and streets, once per Features object (they are
 * immutable): a new Patient's keys are computed twice, to look it up (blockingStages) and to store
 * them (matchingIndex of the same record, or of markForReview's copy, which shares its features).
 */
const codesCache = new WeakMap<Features, Codes>();

function codesOf(f: Features): Codes {
  let codes = codesCache.get(f);
  if (codes === undefined) {
    codes = {
      surnameCodes: unique(f.families.flatMap(phoneticCodes)),
      givenCodes: unique(f.firsts.flatMap((g) => phoneticCodes(g).slice(0, 2))),
      maidenCodes: f.mothersMaidenName ? phoneticCodes(f.mothersMaidenName) : [],
      streetCodes: unique(
        f.addresses
          .filter((a) => a.zip.length === 5 && a.number !== '' && a.street !== '')
          .map((a) => `ad:${a.zip}:${a.number}:${phoneticCodes(a.street.split(' ')[0])[0] ?? a.street.split(' ')[0]}`)
      ),
    };
    codesCache.set(f, codes);
  }
  return codes;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
