// comparePatients: field comparators → summed weight → grade by rules → banded score.
//
// Grade rules, in order:
//  1. certain needs the core identity to agree exactly — first name, family name, birth date, no
//     sex conflict — plus corroboration (weight ≥ CORROBORATION from the other fields), no
//     conflicting full middle names or suffixes, no test-patient name, and the calibrated line
//     (issue 12, measured on the AIRA/MIIS labels): an identifier, or the same phone, or the same
//     house in exactly the same ZIP or city; or the same house written with a typo, or no address
//     to compare at all, together with one further fact (full middle name, guardian, mother's
//     maiden name). A changed or typo'd address with nothing else is left to a reviewer. Relaxed
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
//       full middle names agree and no birth order conflicts: a changed first name);
//     - different sex: none, unless the first names agree (probable, for review);
//     - a newborn placeholder carrying a birth order (Baby Girl B) against a record without one
//       cannot be certain: which twin it is stays open.
//  4. a different family name with the same first name, birth date and phone (a married name) is
//     at least probable.
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
import { features, hasTestName, type Features } from './features.js';
import { GRADE_ORDER, type MatchDecision, type MatchGrade, type MatchReason } from './types.js';

/** Weight thresholds of the grades (sum of field weights). */
export const THRESHOLDS = { certain: 12, probable: 9, possible: 5 } as const;
/** Weight the non-core fields must add for a certain decision. */
export const CORROBORATION = 1.5;

const CORE_FIELDS = new Set(['name.given', 'name.family', 'birthDate', 'gender']);

export function comparePatients(a: Patient, b: Patient): MatchDecision {
  return compareFeatures(features(a), features(b));
}

export function compareFeatures(fa: Features, fb: Features): MatchDecision {
  const first = compareFirst(fa, fb);
  const family = compareFamily(fa, fb);
  const birth = compareBirthDate(fa, fb);
  const sex = compareSex(fa, fb);
  const middle = compareMiddle(fa, fb, first.kind === 'swap');
  const suffix = compareSuffix(fa, fb);
  const ssn = compareIdentifiers(fa, fb, 'ssn');
  const medicaid = compareIdentifiers(fa, fb, 'medicaid');
  const mrn = compareIdentifiers(fa, fb, 'mrn');
  const otherId = compareIdentifiers(fa, fb, 'other');
  const phone = comparePhone(fa, fb);
  const address = compareAddress(fa, fb);
  const maiden = compareMothersMaidenName(fa, fb);
  const guardians = compareGuardians(fa, fb);
  const multiple = compareMultipleBirth(fa, fb);
  const fields: FieldResult[] = [first, middle, family, suffix, birth, sex, ssn, medicaid, mrn, otherId, phone, address, maiden, guardians, multiple];
  let total = 0;
  let other = 0;
  for (const r of fields) {
    total += r.weight;
    if (!CORE_FIELDS.has(r.field)) other += r.weight;
  }
  const weight = round(total);
  const corroboration = round(other);
  const notes: MatchReason[] = [];

  const idAgree = ssn.outcome === 'agree' || medicaid.outcome === 'agree' || mrn.outcome === 'agree' || otherId.outcome === 'agree';
  const householdAgree = (address.outcome === 'agree' ? 1 : 0) + (phone.outcome === 'agree' ? 1 : 0) + (maiden.outcome === 'agree' ? 1 : 0);
  const strong = idAgree || householdAgree >= 2;
  // The calibrated line for certain: besides name, birth date and sex, an identifier or a contact
  // fact that agrees exactly (the same phone, the same street line in the same ZIP or city). An
  // address with a typo, a changed or missing address with only middle name, guardian or mother's
  // maiden name to go on is what reviewers send to review (AIRA labels), so it stays probable.
  const contactAnchor = phone.outcome === 'agree' || (address.outcome === 'agree' && address.kind === 'exact');
  // The same house with a typo in its place (ZIP, city) counts when a further fact agrees as well.
  const sameHouse = address.outcome === 'agree' || (address.outcome === 'partial' && address.weight >= WEIGHTS.address.partial);
  const further = [maiden, guardians, middle].filter((r) => r.outcome === 'agree').length;
  // No contact data to compare (one record has no address, the phones do not differ): one further
  // fact — a full middle name, the guardian, the mother's maiden name — is the corroboration.
  const nothingToCompare = address.outcome === 'missing' && phone.outcome !== 'conflict';
  const corroborated = contactAnchor || ((sameHouse || nothingToCompare) && further >= 1);

  // ---- certain eligibility
  let eligible = birth.outcome === 'agree' && sex.outcome !== 'conflict';
  const blockers: string[] = [];
  if (birth.outcome !== 'agree') blockers.push('birth dates are not identical');
  if (sex.outcome === 'conflict') blockers.push('sex differs');
  const newbornPath = first.outcome === 'missing' && (fa.placeholder || fb.placeholder);
  // Two MRNs of one hospital: two newborns of one birth (unmarked twins), not one child twice.
  const hospitalMrnsDiffer = mrn.outcome === 'conflict' && !idAgree;
  if (first.outcome !== 'agree') {
    if (newbornPath && strong && sex.outcome === 'agree' && !hospitalMrnsDiffer) {
      notes.push(note('decision', 'partial', 'newborn placeholder: certain only because an identifier or two household facts agree', 0));
    } else {
      eligible = false;
      blockers.push(newbornPath ? (hospitalMrnsDiffer ? 'placeholder name with two different MRNs of one assigner (two newborns?)' : 'placeholder first name without an identifier or two household facts agreeing') : 'first names are not identical');
    }
  }
  if (family.outcome !== 'agree') {
    // A changed (hyphenated, compound) surname: certain only on the same MRN of one assigner. SSNs
    // and Medicaid numbers are shared within families (a parent's number on a child's record), and
    // household facts are shared by siblings, so neither proves the renamed child is this one.
    const mrnAgree = mrn.outcome === 'agree';
    const compoundOk = family.kind === 'compound' && mrnAgree;
    // A newborn under the mother's surname needs an identifier (hospital MRN) to be certain.
    const newbornOk = newbornPath && (family.outcome === 'missing' || (family.kind === 'mother' && idAgree));
    if (!compoundOk && !newbornOk) {
      eligible = false;
      blockers.push('family names are not identical');
    } else if (compoundOk) {
      notes.push(note('decision', 'partial', 'hyphenated family name: certain only because the same MRN of one assigner agrees', 0));
    }
  }
  if (middle.outcome === 'conflict') {
    eligible = false;
    blockers.push('middle names differ');
  }
  if (suffix.outcome === 'conflict') {
    eligible = false;
    blockers.push('suffixes differ');
  }
  if (corroboration < CORROBORATION && !(newbornPath && strong)) {
    eligible = false;
    blockers.push(`too little besides name, birth date and sex (${corroboration} < ${CORROBORATION})`);
  } else if (!idAgree && !corroborated && !(newbornPath && strong)) {
    eligible = false;
    blockers.push('no identifier, phone or exact street address agrees (middle name, guardian, maiden name alone are left to a reviewer)');
  }
  // Placeholder with a birth order (Baby Girl B) against a record that has none: which twin?
  if (orderOpen(fa, fb) || orderOpen(fb, fa)) {
    eligible = false;
    blockers.push('a newborn of a multiple birth without the birth order on the other record');
  }

  if (eligible && weight >= THRESHOLDS.certain && (hasTestName(fa) || hasTestName(fb))) {
    eligible = false;
    blockers.push('a test-patient name');
  }
  let grade: MatchGrade =
    eligible && weight >= THRESHOLDS.certain ? 'certain' : weight >= THRESHOLDS.probable ? 'probable' : weight >= THRESHOLDS.possible ? 'possible' : 'none';
  if (grade !== 'certain' && weight >= THRESHOLDS.probable && blockers.length > 0) {
    notes.push(note('decision', 'partial', `not certain: ${blockers.join('; ')}`, 0));
  }

  // ---- caps
  let cap: MatchGrade = 'certain';
  const sameBirth = birth.outcome === 'agree' || birth.outcome === 'partial';
  const realFirstsAgree = first.outcome === 'agree';
  if (sameBirth && multiple.kind === 'order') {
    cap = lower(cap, realFirstsAgree ? 'probable' : 'none', notes, 'twins',
      realFirstsAgree ? 'different birth orders with the same birth date: twins are never merged (same first name: review)' : 'twins: same birth date, different birth orders; never merged');
  }
  // A first name changed (adoption, a name chosen later) keeps the middle name; twins rarely share
  // one. Same full middle name and no birth-order conflict: a reviewer decides.
  const renamed = first.outcome === 'conflict' && middle.outcome === 'agree' && multiple.kind !== 'order' && sex.outcome !== 'conflict';
  if (sameBirth && first.outcome === 'conflict') {
    cap = lower(cap, renamed ? 'probable' : idAgree ? 'possible' : 'none', notes, 'twins',
      renamed ? 'different first names but the same middle name and birth date: a changed first name or a twin, review' : 'twins or siblings: same birth date, different first names; never merged');
  }
  if (sex.outcome === 'conflict') {
    cap = lower(cap, realFirstsAgree ? 'probable' : idAgree ? 'possible' : 'none', notes, 'decision', 'different sex');
  }
  // A married or otherwise changed surname: first name, birth date and the phone still agree. (A
  // shared MRN or address is not enough: siblings and cousins share those.)
  if (
    GRADE_ORDER[grade] < GRADE_ORDER.probable &&
    family.outcome === 'conflict' && first.outcome === 'agree' && birth.outcome === 'agree' && sex.outcome !== 'conflict' &&
    phone.outcome === 'agree'
  ) {
    grade = 'probable';
    notes.push(note('decision', 'partial', 'family name differs (marriage, adoption?) but first name, birth date and phone agree: review', 0));
  }
  if (GRADE_ORDER[cap] < GRADE_ORDER[grade]) grade = cap;

  const reasons: MatchReason[] = [
    ...fields.map((r) => ({ field: r.field, outcome: r.outcome, detail: r.detail, weight: r.weight })),
    ...notes,
  ];
  return { grade, score: bandScore(grade, weight), weight, reasons };
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
