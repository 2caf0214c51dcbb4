// What the matcher reads from a FHIR Patient, in normal form: name keys (placeholders set apart),
// birth date parts, sex, typed identifiers, phone digits, street lines, mother's maiden name,
// guardians, multiple-birth facts. Computed once per Patient object (WeakMap cache): callers must
// not mutate a Patient between comparisons. Two parts: the core (names, birth date, sex, mother's
// maiden name, guardians, multiple birth: what the screen of rank.ts compares) and the rest
// (identifiers, phones, addresses), extracted only for the candidates that pass the screen.
import type { HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import { isTestHumanName, placeholderInfo } from './newborn.js';
import { alnum, digits, nameKey, streetKey } from './strings.js';

export const MOTHERS_MAIDEN_NAME_URL = 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName';
export const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
export const IDENTIFIER_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0203';

export type IdKind = 'ssn' | 'medicaid' | 'mrn' | 'other';

export interface IdFeature {
  kind: IdKind;
  /** Normalised system ('' when absent). */
  system: string;
  value: string;
}

export interface AddressFeature {
  /** Street line in normal form (`52 williamson cir`). */
  line: string;
  /** Leading house number ('' when none). */
  number: string;
  /** Line without the house number. */
  street: string;
  city: string;
  /** Up to 5 ZIP digits. */
  zip: string;
}

export interface BirthFeature {
  y: number;
  m?: number;
  d?: number;
  /** YYYYMMDD when complete. */
  key?: string;
}

export interface CoreFeatures {
  /** First given names of real (non-placeholder) names, aliases included. */
  firsts: string[];
  /** Further given names of real names. */
  middles: string[];
  /** Family names (placeholder names contribute the surname they carry). */
  families: string[];
  suffixes: string[];
  /** Only placeholder names (or none at all with a placeholder present): the first name is unknown. */
  placeholder: boolean;
  placeholderText?: string;
  birth?: BirthFeature;
  sex?: 'male' | 'female';
  /** True when the sex comes only from a placeholder (Baby Boy). */
  sexFromPlaceholder: boolean;
  mothersMaidenName: string;
  guardians: Array<{ first: string; family: string }>;
  /** Part of a multiple birth: true, false (explicitly single), or unknown. */
  multiple?: boolean;
  order?: number;
  /** The names as given, for the (lazy, rarely needed) test-name check. */
  rawNames: HumanName[];
}

export interface Features extends CoreFeatures {
  ids: IdFeature[];
  phones: string[];
  addresses: AddressFeature[];
}

const testNames = new WeakMap<Features, boolean>();

/** Does any name of the patient look like test data? Computed on first use (only certain decisions ask). */
export function hasTestName(f: Features): boolean {
  let v = testNames.get(f);
  if (v === undefined) {
    v = f.rawNames.some(isTestHumanName);
    testNames.set(f, v);
  }
  return v;
}

const coreCache = new WeakMap<Patient, CoreFeatures>();
const cache = new WeakMap<Patient, Features>();

/** Names, birth date, sex, mother's maiden name, guardians and multiple birth of a Patient. */
export function coreFeatures(patient: Patient): CoreFeatures {
  let f = coreCache.get(patient);
  if (!f) {
    f = extractCore(patient);
    coreCache.set(patient, f);
  }
  return f;
}

export function features(patient: Patient): Features {
  let f = cache.get(patient);
  if (!f) {
    f = extractRest(patient, coreFeatures(patient));
    cache.set(patient, f);
  }
  return f;
}

/**
 * `copy`'s features are `original`'s (the same objects, computed now if need be). Only for a copy
 * that differs from the original in nothing the features read: the same name, birthDate, gender,
 * identifier, telecom, address, contact and multipleBirth[x], and the same mother's-maiden-name
 * extensions in the same order (markForReview: the copy's meta tags and possible-duplicate
 * extensions differ). The copy's blocking keys (stored with it) then need no features of their own.
 */
export function shareFeatures(copy: Patient, original: Patient): void {
  coreCache.set(copy, coreFeatures(original));
  cache.set(copy, features(original));
}

/**
 * Not cached: for callers that keep what they compute for as long as they need it (rank.ts keeps
 * a call's candidates in its own Map). The module's WeakMaps cost the garbage collector dearly
 * when tens of fresh records per call pass through them (ephemeron tables: ~1.3 MB promoted per
 * young-generation collection in process, against ~0.3 MB without).
 */
export function computeCoreFeatures(patient: Patient): CoreFeatures {
  return extractCore(patient);
}

/** Not cached (see computeCoreFeatures): the full features from the core ones already computed. */
export function computeFeatures(patient: Patient, core: CoreFeatures): Features {
  return extractRest(patient, core);
}

const SUFFIXES = new Map<string, string>([
  ['jr', 'jr'], ['junior', 'jr'], ['sr', 'sr'], ['senior', 'sr'], ['ii', 'ii'], ['2nd', 'ii'], ['iii', 'iii'], ['3rd', 'iii'],
  ['iv', 'iv'], ['4th', 'iv'], ['v', 'v'],
]);

function pushUnique(out: string[], v: string): void {
  if (v !== '' && !out.includes(v)) out.push(v);
}

function extractCore(p: Patient): CoreFeatures {
  // Every field present from the start (optional ones undefined), in one order: one object shape
  // for all records, so the comparators' property reads stay monomorphic.
  const f: CoreFeatures = {
    firsts: [],
    middles: [],
    families: [],
    suffixes: [],
    placeholder: false,
    placeholderText: undefined,
    birth: undefined,
    sex: undefined,
    sexFromPlaceholder: false,
    mothersMaidenName: '',
    guardians: [],
    multiple: undefined,
    order: undefined,
    rawNames: [],
  };
  let sawPlaceholder = false;
  let placeholderSex: 'male' | 'female' | undefined;
  let placeholderOrder: number | undefined;
  let placeholderMultiple = false;
  for (const raw of p.name ?? []) {
    const name = normaliseTextOnly(raw);
    f.rawNames.push(name);
    const ph = placeholderInfo(name);
    if (ph.placeholder) {
      sawPlaceholder = true;
      f.placeholderText ??= [...(name.given ?? []), name.family ?? ''].join(' ').trim();
      pushUnique(f.families, ph.family);
      placeholderSex ??= ph.sexHint;
      placeholderOrder ??= ph.order;
      placeholderMultiple ||= ph.multiple;
      continue;
    }
    // A suffix typed into the given names (`John Jr`, an alias `II`) is not a name.
    const rawGiven = (name.given ?? []) as Array<string | null | undefined>;
    // A first name recorded as absent (`given: [null, "Ann"]` with a data-absent-reason in `_given`):
    // the remaining given names are middle names, not a first name.
    const firstAbsent = rawGiven.length > 1 && nameKey(rawGiven[0] ?? undefined) === '';
    const given = rawGiven.map((g) => nameKey(g ?? undefined)).filter((g) => g !== '' && !(g.length > 1 && SUFFIXES.has(g)));
    if (given.length > 0 && !firstAbsent) pushUnique(f.firsts, given[0]);
    if (name.use !== 'nickname') for (const g of firstAbsent ? given : given.slice(1)) pushUnique(f.middles, g);
    pushUnique(f.families, nameKey(name.family));
    for (const s of name.suffix ?? []) {
      const key = SUFFIXES.get(s.toLowerCase().replace(/[^a-z0-9]/g, ''));
      if (key) pushUnique(f.suffixes, key);
    }
  }
  f.placeholder = sawPlaceholder && f.firsts.length === 0;

  const birth = parseBirthDate(p.birthDate);
  if (birth) f.birth = birth;
  if (p.gender === 'male' || p.gender === 'female') f.sex = p.gender;
  else if (placeholderSex) {
    f.sex = placeholderSex;
    f.sexFromPlaceholder = true;
  }

  for (const ext of p.extension ?? []) {
    if (ext.url === MOTHERS_MAIDEN_NAME_URL && typeof ext.valueString === 'string') {
      f.mothersMaidenName ||= nameKey(ext.valueString);
    }
  }
  for (const c of p.contact ?? []) {
    if (!c.name) continue;
    if (c.name.use === 'maiden' && !f.mothersMaidenName && isMother(c.relationship)) {
      f.mothersMaidenName = nameKey(c.name.family);
      continue;
    }
    const first = nameKey(c.name.given?.[0]);
    const family = nameKey(c.name.family);
    if (first !== '' || family !== '') f.guardians.push({ first, family });
  }

  if (p.multipleBirthBoolean !== undefined) f.multiple = p.multipleBirthBoolean;
  if (typeof p.multipleBirthInteger === 'number' && p.multipleBirthInteger >= 1) {
    f.order = p.multipleBirthInteger;
    if (p.multipleBirthInteger > 1) f.multiple = true;
  }
  if (f.order === undefined && placeholderOrder !== undefined) f.order = placeholderOrder;
  if (placeholderMultiple && f.multiple === undefined) f.multiple = true;
  return f;
}

/** The core plus identifiers, phones and addresses. */
function extractRest(p: Patient, core: CoreFeatures): Features {
  // Field by field, not a spread: the same shape for every record (see extractCore).
  const f: Features = {
    firsts: core.firsts,
    middles: core.middles,
    families: core.families,
    suffixes: core.suffixes,
    placeholder: core.placeholder,
    placeholderText: core.placeholderText,
    birth: core.birth,
    sex: core.sex,
    sexFromPlaceholder: core.sexFromPlaceholder,
    mothersMaidenName: core.mothersMaidenName,
    guardians: core.guardians,
    multiple: core.multiple,
    order: core.order,
    rawNames: core.rawNames,
    ids: [],
    phones: [],
    addresses: [],
  };
  for (const id of p.identifier ?? []) {
    const feature = identifierFeature(id);
    if (feature && !f.ids.some((x) => x.kind === feature.kind && x.system === feature.system && x.value === feature.value)) {
      f.ids.push(feature);
    }
  }
  for (const t of p.telecom ?? []) {
    if (t.system !== undefined && t.system !== 'phone' && t.system !== 'sms') continue;
    const phone = phoneKey(t.value);
    if (phone) pushUnique(f.phones, phone);
  }
  for (const a of p.address ?? []) {
    const line = streetKey(a.line?.[0]);
    const m = /^(\d+[a-z]?)\s+(.*)$/.exec(line);
    const zip = digits(a.postalCode).slice(0, 5);
    const city = nameKey(a.city);
    if (line === '' && zip === '' && city === '') continue;
    f.addresses.push({ line, number: m ? m[1] : '', street: m ? m[2] : line, city, zip });
  }
  return f;
}

/** A name given only as `text` ("Baby Boy Smith", "Smith, John A") is split into given/family. */
function normaliseTextOnly(name: HumanName): HumanName {
  if (name.family || (name.given && name.given.length > 0) || !name.text) return name;
  const text = name.text.trim();
  const comma = text.indexOf(',');
  if (comma > 0) {
    const given = text.slice(comma + 1).trim().split(/\s+/).filter(Boolean);
    return { ...name, family: text.slice(0, comma).trim(), given };
  }
  const words = text.split(/\s+/).filter(Boolean);
  if (words.length < 2) return { ...name, given: words };
  return { ...name, family: words[words.length - 1], given: words.slice(0, -1) };
}

function isMother(relationship: Array<{ coding?: Array<{ code?: string }> }> | undefined): boolean {
  return (relationship ?? []).some((r) => (r.coding ?? []).some((c) => c.code === 'MTH' || c.code === 'MOTHER'));
}

export function parseBirthDate(value: string | undefined): BirthFeature | undefined {
  if (!value) return undefined;
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(value);
  if (!m) return undefined;
  const b: BirthFeature = { y: Number(m[1]) };
  if (m[2]) b.m = Number(m[2]);
  if (m[3]) {
    b.d = Number(m[3]);
    b.key = `${m[1]}${m[2]}${m[3]}`;
  }
  return b;
}

/** Ten phone digits (a leading US country code dropped), or '' for junk / too short. */
export function phoneKey(value: string | undefined): string {
  let d = digits(value);
  if (d.length === 11 && d.startsWith('1')) d = d.slice(1);
  if (d.length < 7 || /^(\d)\1+$/.test(d)) return '';
  return d;
}

function normSystem(system: string | undefined): string {
  return (system ?? '').trim().replace(/\/+$/, '').toLowerCase();
}

const JUNK_SSN = new Set(['123456789', '987654321', '078051120']);

/**
 * An identifier families share (SSN: children carry a parent's by mistake; Medicaid: case numbers):
 * it corroborates a match but does not by itself name one person's record.
 */
export function sharedInFamilies(id: Identifier): boolean {
  const kind = identifierFeature(id)?.kind;
  return kind === 'ssn' || kind === 'medicaid';
}

function identifierFeature(id: Identifier): IdFeature | undefined {
  const system = normSystem(id.system);
  const typeCodes = (id.type?.coding ?? []).map((c) => c.code?.toUpperCase());
  let kind: IdKind = 'other';
  if (system === SSN_SYSTEM || typeCodes.includes('SS')) kind = 'ssn';
  else if (typeCodes.includes('MA') || system.includes('medicaid')) kind = 'medicaid';
  else if (typeCodes.includes('MR')) kind = 'mrn';
  if (kind === 'ssn') {
    const v = digits(id.value);
    if (v.length !== 9 || /^(\d)\1+$/.test(v) || v.startsWith('000') || JUNK_SSN.has(v)) return undefined;
    return { kind, system: SSN_SYSTEM, value: v };
  }
  const v = alnum(id.value);
  if (v === '' || /^(.)\1+$/.test(v)) return undefined;
  return { kind, system, value: v };
}
