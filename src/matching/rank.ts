// rankCandidates: decisions for one incoming Patient against the candidates blocking fetched,
// best first. Set-level rules on top of the pairwise decisions, reasoning about the family:
//  - more than one certain candidate: none of them is certain (the input could be either record —
//    twins, or duplicates already in the registry); all become probable for review;
//  - a certain match with a newborn placeholder that rests on household facts only (no shared
//    identifier, no birth order in common) is lowered to probable when a sibling of the input is
//    registered (same birth date, a different first name) that could itself be the child behind
//    the placeholder: the birth may have been multiple and the placeholder either child. A sibling
//    that certainly is not the placeholder's child — the other sex, a conflicting birth order,
//    another mother or household — leaves the match certain, so the second child's legal record
//    reaches its own placeholder once the first child's has merged into its own.
import type { Patient } from '@medplum/fhirtypes';
import { comparePatients } from './compare.js';
import { features } from './features.js';
import { GRADE_ORDER, type MatchDecision, type RankedCandidate } from './types.js';

export interface RankOptions {
  /** Keep candidates graded `none` (default false: only certain, probable and possible). */
  includeNone?: boolean;
}

/** A record merged into another (`link` replaced-by) is not a match target any more. */
function isReplaced(p: Patient): boolean {
  return (p.link ?? []).some((l) => l.type === 'replaced-by');
}

function toProbable(d: MatchDecision, why: string): MatchDecision {
  return {
    ...d,
    grade: 'probable',
    score: Math.min(d.score, 0.799),
    reasons: [...d.reasons, { field: 'decision', outcome: 'conflict', detail: why, weight: 0 }],
  };
}

const outcomeOf = (d: MatchDecision, field: string) => d.reasons.find((r) => r.field === field)?.outcome;

const HOUSEHOLD_FIELDS = ['address', 'telecom.phone', 'mothersMaidenName'];

/**
 * Is the sibling certainly not the child behind the placeholder record? The other sex, a
 * conflicting birth order, another mother (maiden name), or another household (no address, phone
 * or maiden name in common and at least one of them different).
 */
export function certainlyAnotherChild(placeholderRecord: Patient, sibling: Patient): boolean {
  const d = comparePatients(placeholderRecord, sibling);
  if (outcomeOf(d, 'gender') === 'conflict') return true;
  if (outcomeOf(d, 'multipleBirth') === 'conflict') return true;
  if (outcomeOf(d, 'mothersMaidenName') === 'conflict') return true;
  const household = HOUSEHOLD_FIELDS.map((f) => outcomeOf(d, f));
  return !household.includes('agree') && household.includes('conflict');
}

export function rankCandidates(input: Patient, candidates: Patient[], options: RankOptions = {}): RankedCandidate[] {
  const seen = new Set<string>();
  const all: RankedCandidate[] = [];
  for (const patient of candidates) {
    if (patient.id !== undefined) {
      if (patient.id === input.id || seen.has(patient.id)) continue;
      seen.add(patient.id);
    }
    if (isReplaced(patient)) continue;
    all.push({ patient, decision: comparePatients(input, patient) });
  }

  const certain = all.filter((r) => r.decision.grade === 'certain');
  if (certain.length > 1) {
    for (const r of certain) {
      r.decision = toProbable(r.decision, `${certain.length} records match certainly: ambiguous (twins or existing duplicates), review instead of merging`);
    }
  } else if (certain.length === 1) {
    const r = certain[0];
    const placeholder = features(input).placeholder || features(r.patient).placeholder;
    // An identifier or the same birth order tells the children apart; household facts do not.
    const idAgree = r.decision.reasons.some((x) => (x.field.startsWith('identifier.') || x.field === 'multipleBirth') && x.outcome === 'agree');
    const placeholderRecord = features(r.patient).placeholder ? r.patient : input;
    const twin = placeholder && !idAgree
      ? all.find(
          (o) =>
            o !== r &&
            outcomeOf(o.decision, 'birthDate') === 'agree' &&
            o.decision.reasons.some((x) => x.field === 'twins') &&
            !certainlyAnotherChild(placeholderRecord, o.patient)
        )
      : undefined;
    if (twin) {
      r.decision = toProbable(r.decision, `a twin with the same birth date is registered (${twin.patient.id ?? 'unsaved'}): the newborn placeholder may be either child`);
    }
  }

  const ranked = options.includeNone ? all : all.filter((r) => r.decision.grade !== 'none');
  ranked.sort(
    (x, y) =>
      GRADE_ORDER[y.decision.grade] - GRADE_ORDER[x.decision.grade] ||
      y.decision.score - x.decision.score ||
      (x.patient.id ?? '').localeCompare(y.patient.id ?? '')
  );
  return ranked;
}
