// comparePatients: field comparators → summed weight → grade by rules → banded score.
//
// Grade rules, in order:
//  1. certain needs the core identity to agree exactly — first name, family name, birth date, no
//     sex conflict — plus corroboration (weight ≥ CORROBORATION from the other fields: address,
//     phone, identifiers, mother's maiden name, middle name, guardian), no conflicting full middle
//     names or suffixes, and no test-patient name. Relaxed paths, each needing an identifier or
//     two household facts (address, phone, mother's maiden name) to agree:
//       - a newborn placeholder first name (Baby Boy Smith → Liam Smith);
//       - a family name that became hyphenated or compound (Jones → Jones-Smith);
//       - a newborn registered under the mother's maiden name (Baby Girl Lopez → Sofia Martinez,
//         mother's maiden name Lopez): only with an identifier (the hospital MRN).
//  2. otherwise the total weight decides probable / possible / none (THRESHOLDS).
//  3. caps, whatever the weight:
//     - twins: same (or nearly same) birth date with different birth orders, or different first
//       names → none (possible when an identifier agrees; probable when only the birth order
//       differs but the first names are the same, which is a data error to review);
//     - different sex: none, unless the first names agree (probable, for review);
//     - a newborn placeholder carrying a birth order (Baby Girl B) against a record without one
//       cannot be certain: which twin it is stays open.
// A different SSN lowers the weight but does not forbid certain: children often carry a
// parent's SSN by mistake (AIRA SSN_SHARED scenario).
import type { Patient } from '@medplum/fhirtypes';
import {
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

  // ---- certain eligibility
  let eligible = birth.outcome === 'agree' && sex.outcome !== 'conflict';
  const blockers: string[] = [];
  if (birth.outcome !== 'agree') blockers.push('birth dates are not identical');
  if (sex.outcome === 'conflict') blockers.push('sex differs');
  const newbornPath = first.outcome === 'missing' && (fa.placeholder || fb.placeholder);
  if (first.outcome !== 'agree') {
    if (newbornPath && strong && sex.outcome === 'agree') {
      notes.push(note('decision', 'partial', 'newborn placeholder: certain only because an identifier or two household facts agree', 0));
    } else {
      eligible = false;
      blockers.push(newbornPath ? 'placeholder first name without an identifier or two household facts agreeing' : 'first names are not identical');
    }
  }
  if (family.outcome !== 'agree') {
    const compoundOk = family.kind === 'compound' && strong;
    // A newborn under the mother's surname needs an identifier (hospital MRN) to be certain.
    const newbornOk = newbornPath && (family.outcome === 'missing' || (family.kind === 'mother' && idAgree));
    if (!compoundOk && !newbornOk) {
      eligible = false;
      blockers.push('family names are not identical');
    } else if (compoundOk) {
      notes.push(note('decision', 'partial', 'hyphenated family name: certain only because an identifier or two household facts agree', 0));
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
  if (sameBirth && first.outcome === 'conflict') {
    cap = lower(cap, idAgree ? 'possible' : 'none', notes, 'twins', 'twins or siblings: same birth date, different first names; never merged');
  }
  if (sex.outcome === 'conflict') {
    cap = lower(cap, realFirstsAgree ? 'probable' : idAgree ? 'possible' : 'none', notes, 'decision', 'different sex');
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
