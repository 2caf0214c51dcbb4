// comparePatients: field comparators → summed weight → grade by rules → banded score.
//
// Grade rules, in order:
//  1. certain needs the core identity to agree exactly — first name, family name, birth date, no
//     sex conflict — plus corroboration (weight ≥ CORROBORATION from the other fields), no
//     conflicting full middle names or suffixes, no test-patient name, and the calibrated line
//     (issue 12, measured on the AIRA/MIIS labels): an identifier, or the same phone, or the same
//     house in exactly the same ZIP or city; or the same house written with a typo, or no address
//     to compare at all, together with one further fact (full middle name, guardian, mother's
//     maiden name). A changed or typo'd address with nothing else is left to a reviewer, and so is
//     an identifier contradicted by another address with no other fact in common (a number shared
//     in a family or reused looks like that). Relaxed
//     paths, each needing an identifier or two household facts (address, phone, mother's maiden
//     name) to agree:
//       - a newborn placeholder first name (Baby Boy Smith → Liam Smith), unless the two records
//         carry different MRNs of one assigner (two newborns of one birth);
//       - a family name that became hyphenated or compound (Jones → Jones-Smith): only with the
//         same MRN of one assigner (SSNs, Medicaid numbers and households are shared in families);
//       - a newborn registered under the mother's maiden name (Baby Girl Lopez → Sofia Martinez,
//         mother's maiden name Lopez): only with an identifier (the hospital MRN).
//  2. otherwise the total weight decides probable / possible / none (THRESHOLDS).
//  3. caps, whatever the weight:
//     - twins: same (or nearly same) birth date with different birth orders, or different first
//       names → none (possible when an identifier agrees; probable when only the birth order
//       differs but the first names are the same, which is a data error to review, or when the
//       full middle names agree — or the middle initial fits and an identifier and a household
//       fact agree — and no birth order conflicts: a changed first name);
//     - different sex: none, unless the first names agree, or a newborn placeholder fits the
//       legal record in all else (surname, birth date, an identifier or two household facts, no
//       birth order against it: the sex recorded wrong at birth) — probable, for review;
//     - a newborn placeholder carrying a birth order (Baby Girl B) against a record without one
//       cannot be certain: which twin it is stays open.
//  4. a different family name with the same first name, birth date and phone (a married name) is
//     at least probable, unless the SSN, Medicaid number or mother's maiden name differs (a
//     marriage keeps those: a relative sharing the phone).
// A different SSN lowers the weight but does not forbid certain: children often carry a
// parent's SSN by mistake (AIRA SSN_SHARED scenario).
import type { Patient } from '@medplum/fhirtypes';
import {
  WEIGHTS,
  compareAddress,
  compareBirthDate,
  compareFamily,
  compareFirst,
  compareGuardians,
  compareIdentifiers,
  compareMiddle,
  compareMothersMaidenName,
  compareMultipleBirth,
  comparePhone,
  compareSex,
  compareSuffix,
  type FieldResult,
} from './comparators.js';
import { features, hasTestName, type CoreFeatures, type Features } from './features.js';
import { GRADE_ORDER, type MatchDecision, type MatchGrade, type MatchReason } from './types.js';


export function comparePatients(a: Patient, b: Patient): MatchDecision {
  return compareFeatures(features(a), features(b));
}

/** The field comparisons of one pair, by name. */
export interface FieldSet {
  first: FieldResult;
  middle: FieldResult;
  family: FieldResult;
  suffix: FieldResult;
  birth: FieldResult;
  sex: FieldResult;
  ssn: FieldResult;
  medicaid: FieldResult;
  mrn: FieldResult;
  otherId: FieldResult;
  phone: FieldResult;
  address: FieldResult;
  maiden: FieldResult;
  guardians: FieldResult;
  multiple: FieldResult;
}

/** The fields compared from the core features alone: all but identifiers, phone and address. */
export type CoreFieldSet = Pick<FieldSet, 'first' | 'middle' | 'family' | 'suffix' | 'birth' | 'sex' | 'maiden' | 'guardians' | 'multiple'>;

export function compareCoreFields(fa: CoreFeatures, fb: CoreFeatures): CoreFieldSet {
  const first = compareFirst(fa, fb);
  return {
    first,
    middle: compareMiddle(fa, fb, first.kind === 'swap'),
    family: compareFamily(fa, fb),
    suffix: compareSuffix(fa, fb),
    birth: compareBirthDate(fa, fb),
    sex: compareSex(fa, fb),
    maiden: compareMothersMaidenName(fa, fb),
    guardians: compareGuardians(fa, fb),
    multiple: compareMultipleBirth(fa, fb),
  };
}

/** Every field of a pair; `core`: the core fields when already compared (rank.ts's screen). */
export function compareFields(fa: Features, fb: Features, core: CoreFieldSet = compareCoreFields(fa, fb)): FieldSet {
  // In this order: the reasons of a decision list the fields so.
  return {
    first: core.first,
    middle: core.middle,
    family: core.family,
    suffix: core.suffix,
    birth: core.birth,
    sex: core.sex,
    ssn: compareIdentifiers(fa, fb, 'ssn'),
    medicaid: compareIdentifiers(fa, fb, 'medicaid'),
    mrn: compareIdentifiers(fa, fb, 'mrn'),
    otherId: compareIdentifiers(fa, fb, 'other'),
    phone: comparePhone(fa, fb),
    address: compareAddress(fa, fb),
    maiden: core.maiden,
    guardians: core.guardians,
    multiple: core.multiple,
  };
}

/** What the hard rules say about a pair, whatever the evidence weighs. */
export interface RuleVerdict {
  /** Why the pair may not be certain (empty: the learned line decides). */
  blockers: string[];
  /** The highest grade the pair may get (twins, other sex). */
  cap: MatchGrade;
  /** The lowest grade the pair gets (a married name: review). */
  floor: MatchGrade;
  notes: MatchReason[];
}

/**
 * The hard safety rules, kept outside the learned weights: certain needs the core identity (first
 * name, family name, birth date exactly, no other sex, no conflicting middle name or suffix), with
 * the newborn and hyphenated-surname paths; twins and another sex cap the grade; a multiple-birth
 * placeholder without the birth order on the other record, or two MRNs of one hospital on a
 * placeholder, is never certain.
 */
export function safetyRules(fa: Features, fb: Features, f: FieldSet): RuleVerdict {
  const { first, middle, family, suffix, birth, sex, ssn, medicaid, mrn, otherId, phone, address, maiden, multiple } = f;
  const notes: MatchReason[] = [];
  const blockers: string[] = [];
  const idAgree = ssn.outcome === 'agree' || medicaid.outcome === 'agree' || mrn.outcome === 'agree' || otherId.outcome === 'agree';
  const householdAgree = (address.outcome === 'agree' ? 1 : 0) + (phone.outcome === 'agree' ? 1 : 0) + (maiden.outcome === 'agree' ? 1 : 0);
  const strong = idAgree || householdAgree >= 2;

  // A birth date missing on one record (not a different one) is no obstacle when an identifier
  // agrees: the labelled pairs like that (AART-TM pairs of MIIS-F1/F2, 39 labels) are all Match.
  if (birth.outcome !== 'agree' && !(birth.outcome === 'missing' && idAgree)) blockers.push('birth dates are not identical');
  if (sex.outcome === 'conflict') blockers.push('sex differs');
  const newbornPath = first.outcome === 'missing' && (fa.placeholder || fb.placeholder);
  // Two MRNs of one hospital: two newborns of one birth (unmarked twins), not one child twice.
  const hospitalMrnsDiffer = mrn.outcome === 'conflict' && !idAgree;
  if (first.outcome !== 'agree') {
    if (newbornPath && strong && sex.outcome === 'agree' && !hospitalMrnsDiffer) {
      notes.push(note('decision', 'partial', 'newborn placeholder: certain only because an identifier or two household facts agree', 0));
    } else {
      blockers.push(newbornPath ? (hospitalMrnsDiffer ? 'placeholder name with two different MRNs of one assigner (two newborns?)' : 'placeholder first name without an identifier or two household facts agreeing') : 'first names are not identical');
    }
  }
  if (family.outcome !== 'agree') {
    // A changed (hyphenated, compound) surname: certain only on the same MRN of one assigner. SSNs
    // and Medicaid numbers are shared within families (a parent's number on a child's record), and
    // household facts are shared by siblings, so neither proves the renamed child is this one.
    const compoundOk = family.kind === 'compound' && mrn.outcome === 'agree';
    // A newborn under the mother's surname needs an identifier (hospital MRN) to be certain.
    const newbornOk = newbornPath && (family.outcome === 'missing' || (family.kind === 'mother' && idAgree));
    if (!compoundOk && !newbornOk) blockers.push('family names are not identical');
    else if (compoundOk) notes.push(note('decision', 'partial', 'hyphenated family name: certain only because the same MRN of one assigner agrees', 0));
  }
  if (middle.outcome === 'conflict') blockers.push('middle names differ');
  if (suffix.outcome === 'conflict') blockers.push('suffixes differ');
  // Placeholder with a birth order (Baby Girl B) against a record that has none: which twin?
  if (orderOpen(fa, fb) || orderOpen(fb, fa)) blockers.push('a newborn of a multiple birth without the birth order on the other record');

  // ---- caps
  let cap: MatchGrade = 'certain';
  // Twins share the birth date (or nearly: a typo in it); a birth weeks apart in one month is not a twin's.
  const sameBirth = birth.outcome === 'agree' || (birth.outcome === 'partial' && birth.kind !== 'month');
  const realFirstsAgree = first.outcome === 'agree';
  if (sameBirth && multiple.kind === 'order') {
    cap = lower(cap, realFirstsAgree ? 'probable' : 'none', notes, 'twins',
      realFirstsAgree ? 'different birth orders with the same birth date: twins are never merged (same first name: review)' : 'twins: same birth date, different birth orders; never merged');
  }
  // A first name changed (adoption, a name chosen later) keeps the middle name; twins rarely share
  // one. Same full middle name and no birth-order conflict: a reviewer decides. A middle name that
  // only fits (an initial) is enough when an identifier and a household fact also agree: twins
  // have numbers of their own.
  const middleFits = middle.outcome === 'agree' || (middle.outcome === 'partial' && idAgree && householdAgree >= 1);
  // A multiple birth whose birth order is known on one record only, the same household, a
  // different first name and nothing that tells two children apart (no other middle name, SSN or
  // Medicaid number): the twin, or this child renamed. Issue 12's reviewers send that to review.
  // (A birth order at all says a multiple birth: FHIR's multipleBirthInteger is the order within one.)
  const saysMultiple = (x: Features) => x.multiple === true || x.order !== undefined;
  const birthOrderOpen = (saysMultiple(fa) || saysMultiple(fb)) && fa.multiple !== false && fb.multiple !== false && (fa.order === undefined || fb.order === undefined);
  const twinOrRenamed =
    birthOrderOpen && householdAgree >= 1 && middle.outcome !== 'conflict' && ssn.outcome !== 'conflict' && medicaid.outcome !== 'conflict' && multiple.outcome !== 'conflict';
  const renamed = first.outcome === 'conflict' && (middleFits || twinOrRenamed) && multiple.kind !== 'order' && sex.outcome !== 'conflict';
  // A first name cut short (Thor / Thorfinn) beside two different middle names is a twin's name.
  const differentFirst = first.outcome === 'conflict' || (first.kind === 'prefix' && middle.outcome === 'conflict');
  if (sameBirth && differentFirst) {
    cap = lower(cap, renamed ? 'probable' : idAgree ? 'possible' : 'none', notes, 'twins',
      renamed
        ? middleFits
          ? 'different first names but the same middle name and birth date: a changed first name or a twin, review'
          : 'a multiple birth with the birth order on one record only, a different first name and nothing else telling two children apart: a twin or a changed first name, review'
        : 'twins or siblings: same birth date, different first names; never merged');
  }
  // A newborn placeholder of the other sex against a legal record, everything else the child's
  // (surname, birth date, an identifier or two household facts, no birth order against it): the
  // sex is often recorded wrong at birth, and the other child of a boy/girl pair has a placeholder
  // of its own that the legal record matches certainly. Never a merge; a reviewer decides, so no
  // duplicate is left unseen. (Two placeholders of the other sex are a boy and a girl: none.)
  const placeholderSexSlip =
    sex.outcome === 'conflict' && newbornPath && fa.placeholder !== fb.placeholder && strong && !hospitalMrnsDiffer &&
    family.outcome === 'agree' && birth.outcome === 'agree' && multiple.outcome !== 'conflict';
  if (sex.outcome === 'conflict') {
    cap = lower(cap, realFirstsAgree || placeholderSexSlip ? 'probable' : idAgree ? 'possible' : 'none', notes, 'decision',
      placeholderSexSlip ? 'different sex on a newborn placeholder that otherwise fits: the sex recorded wrong, or the other child of a boy/girl pair; review' : 'different sex');
  }
  // A married or otherwise changed surname: first name, birth date and the phone still agree. (A
  // shared MRN or address is not enough: siblings and cousins share those.) A marriage keeps the
  // person's SSN, Medicaid number and mother's maiden name: one of those differing says another
  // person who shares the phone (a relative), so no review is forced.
  let floor: MatchGrade = placeholderSexSlip ? 'probable' : 'none';
  const keptFactDiffers = ssn.outcome === 'conflict' || medicaid.outcome === 'conflict' || maiden.outcome === 'conflict';
  if (family.outcome === 'conflict' && first.outcome === 'agree' && birth.outcome === 'agree' && sex.outcome !== 'conflict' && phone.outcome === 'agree' && !keptFactDiffers) {
    floor = 'probable';
    notes.push(note('decision', 'partial', 'family name differs (marriage, adoption?) but first name, birth date and phone agree: review', 0));
  }
  return { blockers, cap, floor, notes };
}

/** Comparison level of one field result (`name.given=partial:nickname`), the unit the learned weights are keyed by. */
export function levelOf(r: FieldResult): string {
  return `${r.field}=${r.outcome}${r.kind ? `:${r.kind}` : ''}`;
}

export function comparisonLevels(f: FieldSet): string[] {
  return Object.values(f).map(levelOf);
}

/** Weight thresholds of the grades (sum of field weights). */
export const THRESHOLDS = { certain: 12, probable: 9, possible: 5 } as const;
/** Weight the non-core fields must add for a certain decision. */
export const CORROBORATION = 1.5;

const CORE_FIELDS = new Set(['name.given', 'name.family', 'birthDate', 'gender']);

/**
 * The calibrated line for certain (issue 12), on top of the safety rules: besides name, birth date
 * and sex, corroboration worth CORROBORATION from the other fields, and an identifier or a contact
 * fact that agrees exactly (the same phone, the same street line in the same ZIP or city); the same
 * house written with a typo, or no address to compare, counts with one further fact (full middle
 * name, guardian, mother's maiden name). A changed or mistyped address with only middle name,
 * guardian or maiden name to go on is what reviewers send to review, so it stays probable.
 */
export function calibrationBlockers(fa: Features, fb: Features, f: FieldSet): string[] {
  const { first, middle, ssn, medicaid, mrn, otherId, phone, address, maiden, guardians } = f;
  let corroboration = 0;
  for (const r of Object.values(f)) if (!CORE_FIELDS.has(r.field)) corroboration += r.weight;
  corroboration = round(corroboration);
  const idAgree = ssn.outcome === 'agree' || medicaid.outcome === 'agree' || mrn.outcome === 'agree' || otherId.outcome === 'agree';
  const householdAgree = (address.outcome === 'agree' ? 1 : 0) + (phone.outcome === 'agree' ? 1 : 0) + (maiden.outcome === 'agree' ? 1 : 0);
  const newbornStrong = first.outcome === 'missing' && (fa.placeholder || fb.placeholder) && (idAgree || householdAgree >= 2);
  const contactAnchor = phone.outcome === 'agree' || (address.outcome === 'agree' && address.kind === 'exact');
  const sameHouse = address.outcome === 'agree' || (address.outcome === 'partial' && address.weight >= WEIGHTS.address.partial);
  const further = [maiden, guardians, middle].filter((r) => r.outcome === 'agree').length;
  // No contact data to compare (one record has no address, the phones do not differ).
  const nothingToCompare = address.outcome === 'missing' && phone.outcome !== 'conflict';
  const corroborated = contactAnchor || ((sameHouse || nothingToCompare) && further >= 1);
  if (corroboration < CORROBORATION && !newbornStrong) return [`too little besides name, birth date and sex (${corroboration} < ${CORROBORATION})`];
  // An identifier contradicted by another address, with no other fact in common (phone, middle
  // name, guardian, mother's maiden name): numbers are shared within families and MRNs are reused,
  // so this is what a borrowed number looks like as often as a move. A reviewer decides.
  const onlyTheNumber = idAgree && address.outcome === 'conflict' && !contactAnchor && further === 0;
  if (onlyTheNumber && !newbornStrong) return ['an identifier agrees but the address differs and nothing else corroborates (a shared or reused number?)'];
  if (!idAgree && !corroborated && !newbornStrong) return ['no identifier, phone or exact street address agrees (middle name, guardian, maiden name alone are left to a reviewer)'];
  return [];
}

export function compareFeatures(fa: Features, fb: Features, core?: CoreFieldSet): MatchDecision {
  const f = compareFields(fa, fb, core);
  const fields = Object.values(f);
  const verdict = safetyRules(fa, fb, f);
  const blockers = [...verdict.blockers, ...calibrationBlockers(fa, fb, f)];
  let total = 0;
  for (const r of fields) total += r.weight;
  const weight = round(total);
  const notes = [...verdict.notes];
  const testName = blockers.length === 0 && weight >= THRESHOLDS.certain && hasTestName(fa) && hasTestName(fb);
  if (testName) blockers.push('a test-patient name');
  const grade = gradeFrom({ ...verdict, blockers }, weight, weight, THRESHOLDS);
  if (grade !== 'certain' && weight >= THRESHOLDS.probable && blockers.length > 0) {
    notes.push(note('decision', 'partial', `not certain: ${blockers.join('; ')}`, 0));
  }
  const reasons: MatchReason[] = [...fields.map((r) => ({ field: r.field, outcome: r.outcome, detail: r.detail, weight: r.weight })), ...notes];
  return { grade, score: bandScore(grade, weight), weight, reasons };
}

/** Grade thresholds: certain, probable and possible lines on their totals. */
export interface GradeLines {
  certain: number;
  probable: number;
  possible: number;
}

/**
 * The grade from two totals (hand weights: both are the weight sum; scripts/train-matching.ts
 * passes learned ones) and the rules: certain when the certain total reaches its line and nothing
 * blocks it (a blocked pair that reaches the line goes to review); otherwise the review total
 * decides probable / possible / none; then the floor (a married name) and the cap (twins, another
 * sex).
 */
export function gradeFrom(verdict: Pick<RuleVerdict, 'blockers' | 'cap' | 'floor'>, certainWeight: number, reviewWeight: number, t: GradeLines, testName = false): MatchGrade {
  let grade: MatchGrade = reviewWeight >= t.probable ? 'probable' : reviewWeight >= t.possible ? 'possible' : 'none';
  if (certainWeight >= t.certain) grade = verdict.blockers.length === 0 && !testName ? 'certain' : GRADE_ORDER[grade] < GRADE_ORDER.probable ? 'probable' : grade;
  if (GRADE_ORDER[grade] < GRADE_ORDER[verdict.floor]) grade = verdict.floor;
  if (GRADE_ORDER[verdict.cap] < GRADE_ORDER[grade]) grade = verdict.cap;
  return grade;
}


function orderOpen(x: Features, y: Features): boolean {
  return x.placeholder && (x.order !== undefined || x.multiple === true) && y.order === undefined;
}

function lower(cap: MatchGrade, to: MatchGrade, notes: MatchReason[], field: string, why: string): MatchGrade {
  notes.push(note(field, 'conflict', why, 0));
  return GRADE_ORDER[to] < GRADE_ORDER[cap] ? to : cap;
}

function note(field: string, outcome: MatchReason['outcome'], detail: string, weight: number): MatchReason {
  return { field, outcome, detail, weight };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

// Score bands per grade, and the weights mapped onto each band's ends.
const BANDS: Record<MatchGrade, { lo: number; hi: number; wlo: number; whi: number }> = {
  none: { lo: 0, hi: 0.25, wlo: -15, whi: THRESHOLDS.possible },
  possible: { lo: 0.25, hi: 0.5, wlo: THRESHOLDS.possible - 10, whi: THRESHOLDS.probable },
  probable: { lo: 0.5, hi: 0.8, wlo: THRESHOLDS.probable - 10, whi: 25 },
  certain: { lo: 0.8, hi: 1, wlo: THRESHOLDS.certain, whi: 35 },
};

/** Grade band plus the position of the weight inside it (clamped), rounded to 3 decimals. */
function bandScore(grade: MatchGrade, weight: number): number {
  const b = BANDS[grade];
  const t = Math.min(1, Math.max(0, (weight - b.wlo) / (b.whi - b.wlo)));
  const s = b.lo + t * (b.hi - b.lo - 0.001);
  return Math.round(s * 1000) / 1000;
}
