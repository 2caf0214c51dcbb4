// Field comparators. Each looks at one kind of evidence in two Features and answers an outcome
// (agree / partial / conflict / missing), a log-likelihood-style weight (how much more likely the
// observation is for the same person than for two different people) and a detail for reviewers.
// Weights are hand-set from how discriminating and how stable each field is (see WEIGHTS), then
// checked on the AIRA development set (scripts/eval-matching.ts).
import type { AddressFeature, BirthFeature, CoreFeatures, Features, IdFeature, IdKind } from './features.js';
import { isNickname } from './nicknames.js';
import { jw, soundsAlike, squash, withinOneEdit } from './strings.js';
import type { FieldOutcome } from './types.js';

export interface FieldResult {
  field: string;
  outcome: FieldOutcome;
  weight: number;
  detail: string;
  /** Finer kind of partial/agree, used by the grading rules (e.g. 'typo', 'compound', 'swap'). */
  kind?: string;
}

export const WEIGHTS = {
  first: { agree: 4, partial: 2.5, initial: 1, conflict: -5 },
  middle: { agree: 1.5, partial: 0.8, initial: 0.5, conflict: -1 },
  family: { agree: 4, partial: 2.5, phonetic: 2, crossMaiden: 2, conflict: -4, conflictNewborn: -1.5 },
  suffix: { agree: 0.5, conflict: -3 },
  birthDate: { agree: 5, partial: 2, digit: 1.5, yearOnly: 1, month: 1, conflict: -6 },
  sex: { agree: 0.5, conflict: -5 },
  ssn: { agree: 7, partial: 2.5, conflict: -4 },
  medicaid: { agree: 5, partial: 1.5, conflict: -1.5 },
  mrn: { agree: 5, conflict: -0.5 },
  other: { agree: 4, conflict: -1 },
  phone: { agree: 2.5, partial: 1.5, conflict: -0.5 },
  address: { agree: 3, partial: 1.5, area: 0.5, conflict: -1 },
  mothersMaidenName: { agree: 2.5, partial: 1.5, conflict: -1.5 },
  guardian: { agree: 1.5, partial: 0.5, conflict: -0.5 },
  multipleBirth: { agree: 0.5, conflict: -1, orderConflict: -3 },
} as const;

const show = (values: string[]): string => values.map((v) => `'${v}'`).join('/');

function missing(field: string, detail: string): FieldResult {
  return { field, outcome: 'missing', weight: 0, detail };
}

export type NameRelation = 'exact' | 'nickname' | 'compound' | 'typo' | 'phonetic' | 'prefix' | 'initial' | 'none';

/**
 * How two single name keys relate: exact, a variant (typo, nickname, compound, phonetic), or not.
 * Runs for every name pair of every candidate: no splitting or squashing of names without spaces,
 * and no Jaro-Winkler for short names that do not sound alike (only "phonetic" could follow).
 */
export function nameRelation(a: string, b: string): NameRelation {
  if (a === b) return 'exact';
  const spaced = a.includes(' ') || b.includes(' ');
  const sa = spaced ? squash(a) : a;
  const sb = spaced ? squash(b) : b;
  if (sa === sb) return 'exact';
  if (a.length === 1 || b.length === 1) return a[0] === b[0] ? 'initial' : 'none';
  if (isNickname(a, b)) return 'nickname';
  if (spaced) {
    const ta = a.split(' ');
    const tb = b.split(' ');
    if (ta.every((t) => tb.includes(t)) || tb.every((t) => ta.includes(t))) return 'compound';
  }
  const short = Math.min(sa.length, sb.length) < 4;
  if (!short && withinOneEdit(sa, sb)) return 'typo';
  const sim = short && !soundsAlike(sa, sb) ? 0 : jw(sa, sb);
  if (!short && sim >= 0.92) return 'typo';
  if (sim >= 0.8 && soundsAlike(sa, sb)) return 'phonetic';
  return truncated(sa, sb) ? 'prefix' : 'none';
}

/**
 * One name cut short of the other, three letters or more (Fran / Francesca, Lac / Lacey): a
 * diminutive or a field truncated on entry. Two letters (Je / Jemma) say too little.
 */
function truncated(a: string, b: string): boolean {
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  return short.length >= 3 && long.length > short.length && long.startsWith(short);
}

const RELATION_RANK = { exact: 5, nickname: 4, compound: 4, typo: 4, phonetic: 3, prefix: 3, initial: 2, none: 0 } as const;

function bestRelation(as: string[], bs: string[]): { rel: keyof typeof RELATION_RANK; a: string; b: string } {
  let best: { rel: keyof typeof RELATION_RANK; a: string; b: string } = { rel: 'none', a: as[0] ?? '', b: bs[0] ?? '' };
  for (const a of as) {
    for (const b of bs) {
      const rel = nameRelation(a, b);
      if (RELATION_RANK[rel] > RELATION_RANK[best.rel]) best = { rel, a, b };
      if (rel === 'exact') return best;
    }
  }
  return best;
}

/** First given name, with placeholders as missing and first/middle swaps recognised. */
export function compareFirst(fa: CoreFeatures, fb: CoreFeatures): FieldResult {
  const field = 'name.given';
  const w = WEIGHTS.first;
  if (fa.firsts.length === 0 || fb.firsts.length === 0) {
    // A first name recorded as a middle name on the other side (FIRST_NAME_MATCHES_MIDDLE).
    const swapped =
      (fa.firsts.length === 0 && fb.firsts.some((x) => fa.middles.includes(x))) ||
      (fb.firsts.length === 0 && fa.firsts.some((x) => fb.middles.includes(x)));
    if (swapped) {
      return { field, outcome: 'partial', weight: w.partial, detail: 'first name recorded as a middle name on the other record', kind: 'swap' };
    }
    // A first name recorded as absent, middle names only, against a different first name.
    const absentSide = fa.firsts.length === 0 ? fa : fb;
    const other = absentSide === fa ? fb : fa;
    if (!absentSide.placeholder && absentSide.middles.length > 0 && other.firsts.length > 0 && bestRelation(absentSide.middles, other.firsts).rel === 'none') {
      return { field, outcome: 'conflict', weight: w.conflict, detail: `no first name; middle ${show(absentSide.middles)} vs first ${show(other.firsts)}`, kind: 'different' };
    }
    const ph = fa.placeholder ? fa.placeholderText : fb.placeholder ? fb.placeholderText : undefined;
    if (ph !== undefined) {
      return missing(field, `placeholder newborn name '${ph}': first name not known yet (missing, not a mismatch)`);
    }
    return missing(field, 'first name missing on one record');
  }
  const best = bestRelation(fa.firsts, fb.firsts);
  const pair = `'${best.a}' ~ '${best.b}'`;
  switch (best.rel) {
    case 'exact':
      if (squash(best.a).length === 1) return { field, outcome: 'partial', weight: w.initial, detail: `same initial only ${pair}`, kind: 'initial' };
      return { field, outcome: 'agree', weight: w.agree, detail: `same first name '${best.a}'`, kind: 'exact' };
    case 'nickname':
      return { field, outcome: 'partial', weight: w.partial, detail: `nickname ${pair}`, kind: 'nickname' };
    case 'compound':
      return { field, outcome: 'partial', weight: w.partial, detail: `one first name contains the other ${pair}`, kind: 'compound' };
    case 'typo':
      return { field, outcome: 'partial', weight: w.partial, detail: `spelling variant ${pair}`, kind: 'typo' };
    case 'phonetic':
      return { field, outcome: 'partial', weight: w.partial - 0.5, detail: `sounds alike ${pair}`, kind: 'phonetic' };
    case 'prefix':
      return { field, outcome: 'partial', weight: w.partial - 0.5, detail: `one first name is the other cut short ${pair}`, kind: 'prefix' };
    default:
  }
  // First and family names written in each other's place (a form filled in the wrong order).
  if (namesSwapped(fa, fb)) return { field, outcome: 'partial', weight: w.partial, detail: `first and family names swapped ${pair}`, kind: 'swapFamily' };
  // First and middle names swapped between the records.
  const swap = fa.firsts.some((x) => fb.middles.includes(x)) || fb.firsts.some((x) => fa.middles.includes(x));
  if (swap) return { field, outcome: 'partial', weight: w.partial, detail: `first and middle names swapped ${pair}`, kind: 'swap' };
  if (best.rel === 'initial') return { field, outcome: 'partial', weight: w.initial, detail: `initial only ${pair}`, kind: 'initial' };
  return { field, outcome: 'conflict', weight: w.conflict, detail: `different first names ${show(fa.firsts)} vs ${show(fb.firsts)}`, kind: 'different' };
}

export function compareMiddle(fa: CoreFeatures, fb: CoreFeatures, firstSwapped: boolean): FieldResult {
  const field = 'name.middle';
  const w = WEIGHTS.middle;
  if (firstSwapped) return { field, outcome: 'partial', weight: 0, detail: 'middle name swapped with the first name', kind: 'swap' };
  if (fa.middles.length === 0 || fb.middles.length === 0) return missing(field, 'middle name missing on one record');
  const best = bestRelation(fa.middles, fb.middles);
  if (best.rel === 'exact') {
    return best.a.length === 1
      ? { field, outcome: 'partial', weight: w.initial, detail: `same middle initial '${best.a}'`, kind: 'initial' }
      : { field, outcome: 'agree', weight: w.agree, detail: `same middle name '${best.a}'` };
  }
  if (best.rel === 'initial') return { field, outcome: 'partial', weight: w.initial, detail: `middle initial fits '${best.a}' ~ '${best.b}'`, kind: 'initial' };
  if (best.rel !== 'none') return { field, outcome: 'partial', weight: w.partial, detail: `middle name variant '${best.a}' ~ '${best.b}'`, kind: 'variant' };
  return { field, outcome: 'conflict', weight: w.conflict, detail: `different middle names ${show(fa.middles)} vs ${show(fb.middles)}` };
}

/** Family name: exact, hyphenated/compound, typo, phonetic; a newborn's surname may be the mother's. */
export function compareFamily(fa: CoreFeatures, fb: CoreFeatures): FieldResult {
  const field = 'name.family';
  const w = WEIGHTS.family;
  if (fa.families.length === 0 || fb.families.length === 0) return missing(field, 'family name missing on one record');
  const best = bestRelation(fa.families, fb.families);
  const pair = `'${best.a}' ~ '${best.b}'`;
  switch (best.rel) {
    case 'exact':
      return { field, outcome: 'agree', weight: w.agree, detail: `same family name '${best.a}'`, kind: 'exact' };
    case 'compound':
      return { field, outcome: 'partial', weight: w.partial, detail: `hyphenated or compound family name ${pair}`, kind: 'compound' };
    case 'typo':
      return { field, outcome: 'partial', weight: w.partial, detail: `spelling variant ${pair}`, kind: 'typo' };
    case 'phonetic':
      return { field, outcome: 'partial', weight: w.phonetic, detail: `sounds alike ${pair}`, kind: 'phonetic' };
    case 'prefix':
      return { field, outcome: 'partial', weight: w.phonetic, detail: `one family name is the other cut short ${pair}`, kind: 'prefix' };
    default:
  }
  if (namesSwapped(fa, fb)) return { field, outcome: 'partial', weight: w.partial, detail: `first and family names swapped ${pair}`, kind: 'swapFirst' };
  const newborn = fa.placeholder || fb.placeholder;
  // A newborn registered under the mother's (maiden) surname, the legal name under the father's.
  const crossA = fa.placeholder && fb.mothersMaidenName !== '' && fa.families.includes(fb.mothersMaidenName);
  const crossB = fb.placeholder && fa.mothersMaidenName !== '' && fb.families.includes(fa.mothersMaidenName);
  if (crossA || crossB || guardianFamily(fa, fb) || guardianFamily(fb, fa)) {
    return { field, outcome: 'partial', weight: w.crossMaiden, detail: `newborn placeholder surname is the mother's name on the other record (${pair})`, kind: 'mother' };
  }
  return {
    field,
    outcome: 'conflict',
    weight: newborn ? w.conflictNewborn : w.conflict,
    detail: `different family names ${show(fa.families)} vs ${show(fb.families)}${newborn ? ' (newborn placeholder: a weaker conflict)' : ''}`,
    kind: 'different',
  };
}

/**
 * Each record's first name is the other's family name (Tierra Henderson / Henderson Tierra): the
 * same two names in the wrong fields. Twins never differ that way, so it is a variant for a
 * reviewer, not a different first name.
 */
function namesSwapped(fa: CoreFeatures, fb: CoreFeatures): boolean {
  return fa.firsts.some((x) => fb.families.includes(x)) && fb.firsts.some((x) => fa.families.includes(x));
}

/** A newborn placeholder whose surname is a guardian's surname on the other record. */
function guardianFamily(x: CoreFeatures, y: CoreFeatures): boolean {
  return x.placeholder && y.guardians.some((g) => g.family !== '' && x.families.includes(g.family));
}

export function compareSuffix(fa: CoreFeatures, fb: CoreFeatures): FieldResult {
  const field = 'name.suffix';
  if (fa.suffixes.length === 0 || fb.suffixes.length === 0) return missing(field, 'suffix missing on one record');
  if (fa.suffixes.some((s) => fb.suffixes.includes(s))) {
    return { field, outcome: 'agree', weight: WEIGHTS.suffix.agree, detail: `same suffix ${show(fa.suffixes)}` };
  }
  return { field, outcome: 'conflict', weight: WEIGHTS.suffix.conflict, detail: `different suffixes ${show(fa.suffixes)} vs ${show(fb.suffixes)}` };
}

function dayNumber(b: BirthFeature): number {
  return Date.UTC(b.y, (b.m ?? 1) - 1, b.d ?? 1) / 86_400_000;
}

const iso = (b: BirthFeature): string =>
  [String(b.y).padStart(4, '0'), b.m === undefined ? undefined : String(b.m).padStart(2, '0'), b.d === undefined ? undefined : String(b.d).padStart(2, '0')]
    .filter((x) => x !== undefined)
    .join('-');

/** Birth date: exact; day/month swapped, year off by one, one day apart, one digit wrong. */
export function compareBirthDate(fa: Pick<CoreFeatures, 'birth'>, fb: Pick<CoreFeatures, 'birth'>): FieldResult {
  const field = 'birthDate';
  const w = WEIGHTS.birthDate;
  const a = fa.birth;
  const b = fb.birth;
  if (!a || !b) return missing(field, 'birth date missing on one record');
  const pair = `${iso(a)} vs ${iso(b)}`;
  if (a.key === undefined || b.key === undefined) {
    // Reduced precision: compare what both have.
    const same = a.y === b.y && (a.m === undefined || b.m === undefined || a.m === b.m);
    return same
      ? { field, outcome: 'partial', weight: w.yearOnly, detail: `birth dates agree to their precision (${pair})`, kind: 'precision' }
      : { field, outcome: 'conflict', weight: w.conflict, detail: `different birth dates ${pair}`, kind: 'different' };
  }
  if (a.key === b.key) return { field, outcome: 'agree', weight: w.agree, detail: `same birth date ${iso(a)}`, kind: 'exact' };
  if (a.y === b.y && a.m === b.d && a.d === b.m) {
    return { field, outcome: 'partial', weight: w.partial, detail: `day and month swapped (${pair})`, kind: 'swap' };
  }
  if (a.m === b.m && a.d === b.d && Math.abs(a.y - b.y) === 1) {
    return { field, outcome: 'partial', weight: w.partial, detail: `year off by one (${pair})`, kind: 'year' };
  }
  if (Math.abs(dayNumber(a) - dayNumber(b)) <= 1) {
    return { field, outcome: 'partial', weight: w.partial, detail: `one day apart (${pair})`, kind: 'day' };
  }
  if (withinOneEdit(a.key, b.key)) {
    return { field, outcome: 'partial', weight: w.digit, detail: `one digit differs (${pair})`, kind: 'digit' };
  }
  // Same year and month, another day: a birth day recorded wrong (the AIRA DOB_VALUE_SWAPPED
  // scenario, which reviewers send to review). Two children of one name born weeks apart are
  // rarer than a wrong day, but it is too weak for certain (safety rules want the exact date).
  if (a.y === b.y && a.m === b.m) {
    return { field, outcome: 'partial', weight: w.month, detail: `same birth month, another day (${pair})`, kind: 'month' };
  }
  return { field, outcome: 'conflict', weight: w.conflict, detail: `different birth dates ${pair}`, kind: 'different' };
}

export function compareSex(fa: CoreFeatures, fb: CoreFeatures): FieldResult {
  const field = 'gender';
  if (!fa.sex || !fb.sex) return missing(field, 'sex missing on one record');
  const from = fa.sexFromPlaceholder || fb.sexFromPlaceholder ? ' (from the placeholder name)' : '';
  if (fa.sex === fb.sex) return { field, outcome: 'agree', weight: WEIGHTS.sex.agree, detail: `same sex ${fa.sex}${from}` };
  return { field, outcome: 'conflict', weight: WEIGHTS.sex.conflict, detail: `different sex ${fa.sex} vs ${fb.sex}${from}` };
}

function systemNote(x: IdFeature): string {
  return x.system && x.kind !== 'ssn' ? ` (${x.system})` : '';
}

const ID_LABEL: Record<IdKind, string> = { ssn: 'SSN', medicaid: 'Medicaid number', mrn: 'MRN', other: 'identifier' };

/**
 * Identifiers of one kind. SSNs compare whatever their system; Medicaid numbers, MRNs and others
 * only within one system (an MRN from another facility says nothing).
 */
export function compareIdentifiers(fa: Features, fb: Features, kind: IdKind): FieldResult {
  const field = `identifier.${kind}`;
  const label = ID_LABEL[kind];
  const as = fa.ids.filter((i) => i.kind === kind);
  const bs = fb.ids.filter((i) => i.kind === kind);
  let agree: IdFeature | undefined;
  let typo: [IdFeature, IdFeature] | undefined;
  let conflict: [IdFeature, IdFeature] | undefined;
  for (const x of as) {
    for (const y of bs) {
      if (kind !== 'ssn' && x.system !== y.system) continue;
      if (x.value === y.value) agree ??= x;
      else if ((kind === 'ssn' || kind === 'medicaid') && x.value.length >= 6 && withinOneEdit(x.value, y.value)) typo ??= [x, y];
      else conflict ??= [x, y];
    }
  }
  if (agree) {
    const w = kind === 'ssn' ? WEIGHTS.ssn.agree : kind === 'medicaid' ? WEIGHTS.medicaid.agree : kind === 'mrn' ? WEIGHTS.mrn.agree : WEIGHTS.other.agree;
    return { field, outcome: 'agree', weight: w, detail: `same ${label}${systemNote(agree)}` };
  }
  if (typo) {
    const w = kind === 'ssn' ? WEIGHTS.ssn.partial : WEIGHTS.medicaid.partial;
    return { field, outcome: 'partial', weight: w, detail: `${label} differs by one digit or transposition` };
  }
  if (conflict) {
    const w = kind === 'ssn' ? WEIGHTS.ssn.conflict : kind === 'medicaid' ? WEIGHTS.medicaid.conflict : kind === 'mrn' ? WEIGHTS.mrn.conflict : WEIGHTS.other.conflict;
    return { field, outcome: 'conflict', weight: w, detail: `different ${label}${systemNote(conflict[0])}` };
  }
  if (as.length > 0 && bs.length > 0) return missing(field, `${label}s from different assigners`);
  return missing(field, `${label} missing on one record`);
}

export function comparePhone(fa: Features, fb: Features): FieldResult {
  const field = 'telecom.phone';
  if (fa.phones.length === 0 || fb.phones.length === 0) return missing(field, 'phone missing on one record');
  let partial = false;
  for (const a of fa.phones) {
    for (const b of fb.phones) {
      if (a === b) return { field, outcome: 'agree', weight: WEIGHTS.phone.agree, detail: 'same phone number' };
      if (a.slice(-7) === b.slice(-7)) partial = true;
    }
  }
  if (partial) return { field, outcome: 'partial', weight: WEIGHTS.phone.partial, detail: 'same local number, different area code' };
  return { field, outcome: 'conflict', weight: WEIGHTS.phone.conflict, detail: 'different phone numbers' };
}

function addressRelation(a: AddressFeature, b: AddressFeature): 'agree' | 'partial' | 'area' | 'conflict' | 'unknown' {
  const zipSame = a.zip !== '' && a.zip === b.zip;
  const zipClose = zipSame || (a.zip !== '' && b.zip !== '' && withinOneEdit(a.zip, b.zip));
  const citySame = a.city !== '' && (a.city === b.city || (Math.min(a.city.length, b.city.length) >= 4 && jw(a.city, b.city) >= 0.9));
  const placeOk = zipClose || citySame || a.zip === '' || b.zip === '';
  if (a.line !== '' && b.line !== '') {
    const numberSame = a.number === b.number;
    // Only looked at together with the same house number (Jaro-Winkler is the costly part).
    const streetClose = numberSame && (a.street === b.street || withinOneEdit(a.street, b.street) || jw(a.street, b.street) >= 0.92);
    if (a.line === b.line && placeOk) return 'agree';
    if (numberSame && streetClose && placeOk) return a.number !== '' && (zipSame || citySame) ? 'agree' : 'partial';
    if (a.line === b.line || (numberSame && streetClose) || (withinOneEdit(a.number, b.number) && a.street === b.street && (zipSame || citySame))) {
      return 'partial';
    }
    return 'conflict';
  }
  if (zipSame && (citySame || a.city === '' || b.city === '')) return 'area';
  if (zipSame || citySame) return 'area';
  return a.zip !== '' && b.zip !== '' ? 'conflict' : 'unknown';
}

/** Home address: street line (typos and abbreviations tolerated) with ZIP or city. */
export function compareAddress(fa: Features, fb: Features): FieldResult {
  const field = 'address';
  if (fa.addresses.length === 0 || fb.addresses.length === 0) return missing(field, 'address missing on one record');
  const rank = { agree: 4, partial: 3, area: 2, conflict: 1, unknown: 0 } as const;
  let best: keyof typeof rank = 'unknown';
  let exact = false;
  for (const a of fa.addresses) for (const b of fb.addresses) {
    const r = addressRelation(a, b);
    if (rank[r] > rank[best]) best = r;
    if (r === 'agree' && ((a.zip !== '' && a.zip === b.zip) || (a.city !== '' && a.city === b.city))) exact = true;
  }
  const w = WEIGHTS.address;
  switch (best) {
    case 'agree':
      // `exact`: the same house (street spelling variants allowed) in exactly the same ZIP or city;
      // otherwise the place itself carries a typo, which reviewers do not take as proof.
      return exact
        ? { field, outcome: 'agree', weight: w.agree, detail: 'same street address', kind: 'exact' }
        : { field, outcome: 'agree', weight: w.agree, detail: 'same street address (spelled differently)', kind: 'variant' };
    case 'partial':
      return { field, outcome: 'partial', weight: w.partial, detail: 'street address differs by a typo', kind: 'typo' };
    case 'area':
      return { field, outcome: 'partial', weight: w.area, detail: 'same ZIP code or city only', kind: 'area' };
    case 'conflict':
      return { field, outcome: 'conflict', weight: w.conflict, detail: 'different addresses' };
    default:
      return missing(field, 'addresses not comparable');
  }
}

export function compareMothersMaidenName(fa: CoreFeatures, fb: CoreFeatures): FieldResult {
  const field = 'mothersMaidenName';
  const a = fa.mothersMaidenName;
  const b = fb.mothersMaidenName;
  if (a === '' || b === '') return missing(field, "mother's maiden name missing on one record");
  const rel = nameRelation(a, b);
  const w = WEIGHTS.mothersMaidenName;
  if (rel === 'exact') return { field, outcome: 'agree', weight: w.agree, detail: `same mother's maiden name '${a}'` };
  if (rel === 'typo' || rel === 'compound' || rel === 'phonetic') {
    return { field, outcome: 'partial', weight: w.partial, detail: `mother's maiden name variant '${a}' ~ '${b}'` };
  }
  return { field, outcome: 'conflict', weight: w.conflict, detail: `different mother's maiden names '${a}' vs '${b}'` };
}

function similar(x: string, y: string): boolean | undefined {
  return x === '' || y === '' ? undefined : nameRelation(x, y) !== 'none';
}

export function compareGuardians(fa: CoreFeatures, fb: CoreFeatures): FieldResult {
  const field = 'contact.name';
  if (fa.guardians.length === 0 || fb.guardians.length === 0) return missing(field, 'guardian missing on one record');
  const rank = { agree: 3, partial: 2, conflict: 1, unknown: 0 } as const;
  let best: keyof typeof rank = 'unknown';
  for (const a of fa.guardians) {
    for (const b of fb.guardians) {
      const first = similar(a.first, b.first);
      const family = similar(a.family, b.family);
      const r: keyof typeof rank =
        first === true && family !== false ? 'agree' : first === true || family === true ? 'partial' : first === false || family === false ? 'conflict' : 'unknown';
      if (rank[r] > rank[best]) best = r;
    }
  }
  const w = WEIGHTS.guardian;
  if (best === 'agree') return { field, outcome: 'agree', weight: w.agree, detail: 'same guardian' };
  if (best === 'partial') return { field, outcome: 'partial', weight: w.partial, detail: 'guardian partly the same' };
  if (best === 'conflict') return { field, outcome: 'conflict', weight: w.conflict, detail: 'different guardians' };
  return missing(field, 'guardians not comparable');
}

export function compareMultipleBirth(fa: CoreFeatures, fb: CoreFeatures): FieldResult {
  const field = 'multipleBirth';
  const w = WEIGHTS.multipleBirth;
  if (fa.order !== undefined && fb.order !== undefined) {
    if (fa.order === fb.order) {
      return fa.multiple || fb.multiple
        ? { field, outcome: 'agree', weight: w.agree, detail: `same birth order ${fa.order}` }
        : missing(field, 'birth order 1 on both (single birth)');
    }
    return { field, outcome: 'conflict', weight: w.orderConflict, detail: `different birth order ${fa.order} vs ${fb.order}`, kind: 'order' };
  }
  if (fa.multiple !== undefined && fb.multiple !== undefined && fa.multiple !== fb.multiple) {
    return { field, outcome: 'conflict', weight: w.conflict, detail: 'one record says multiple birth, the other single birth', kind: 'flag' };
  }
  return missing(field, 'birth order missing on one record');
}
