// Scores the engine against labelled pairs. Label mapping (what counts as "decided right"):
//   Match          ↔ certain           (the IIS would merge automatically)
//   Possible Match ↔ probable          (stored apart and listed for human review);
//                    `lenient` also accepts possible
//   Not a Match    ↔ possible or none  (a new record, nobody asked to review it; possible only
//                                       means $match shows it as a weak candidate)
//   Not Sure       → not scored
// The labels are read here only, after the decision: comparePatients never sees them.
import { blockingKeysMatch } from './blocking.js';
import { comparePatients } from './compare.js';
import { toPatient, type LabelledPair, type PairLabel } from './aira.js';
import type { MatchGrade } from './types.js';

export const GRADES: MatchGrade[] = ['certain', 'probable', 'possible', 'none'];
export const SCORED_LABELS: Exclude<PairLabel, 'Not Sure'>[] = ['Match', 'Possible Match', 'Not a Match'];

export function isRight(label: PairLabel, grade: MatchGrade, lenient = false): boolean | undefined {
  switch (label) {
    case 'Match':
      return grade === 'certain';
    case 'Possible Match':
      return grade === 'probable' || (lenient && grade === 'possible');
    case 'Not a Match':
      return grade === 'possible' || grade === 'none';
    default:
      return undefined;
  }
}

export interface Tally {
  n: number;
  right: number;
  lenientRight: number;
  grades: Record<MatchGrade, number>;
}

const emptyTally = (): Tally => ({ n: 0, right: 0, lenientRight: 0, grades: { certain: 0, probable: 0, possible: 0, none: 0 } });

export interface PairOutcome {
  pair: LabelledPair;
  grade: MatchGrade;
  score: number;
  right: boolean | undefined;
  /** The two records share at least one blocking key (candidate retrieval would find B from A). */
  blocked: boolean;
}

export interface Evaluation {
  byLabel: Record<string, Tally>;
  /** category → label → tally */
  byCategory: Map<string, Record<string, Tally>>;
  certainOnNotMatch: number;
  outcomes: PairOutcome[];
  /** Match / Possible Match pairs whose records share a blocking key, of all such pairs. */
  blocking: { found: number; of: number };
}

export function evaluatePairs(pairs: LabelledPair[]): Evaluation {
  const byLabel: Record<string, Tally> = {};
  const byCategory = new Map<string, Record<string, Tally>>();
  const outcomes: PairOutcome[] = [];
  let certainOnNotMatch = 0;
  const blocking = { found: 0, of: 0 };
  for (const pair of pairs) {
    const a = toPatient(pair.a, `${pair.id}-A`);
    const b = toPatient(pair.b, `${pair.id}-B`);
    const d = comparePatients(a, b);
    const right = isRight(pair.expect, d.grade);
    const blocked = blockingKeysMatch(b, a);
    outcomes.push({ pair, grade: d.grade, score: d.score, right, blocked });
    if (pair.expect === 'Match' || pair.expect === 'Possible Match') {
      blocking.of++;
      if (blocked) blocking.found++;
    }
    if (pair.expect === 'Not a Match' && d.grade === 'certain') certainOnNotMatch++;
    if (right === undefined) continue;
    const cat = byCategory.get(pair.category) ?? {};
    byCategory.set(pair.category, cat);
    for (const t of [(byLabel[pair.expect] ??= emptyTally()), (cat[pair.expect] ??= emptyTally())]) {
      t.n++;
      if (right) t.right++;
      if (isRight(pair.expect, d.grade, true)) t.lenientRight++;
      t.grades[d.grade]++;
    }
  }
  return { byLabel, byCategory, certainOnNotMatch, outcomes, blocking };
}

/** Share of Match and Not-a-Match pairs decided right (the headline goal: ≥ 97 %). */
export function matchAndNotMatchAccuracy(e: Evaluation): { right: number; n: number; pct: number } {
  const m = e.byLabel['Match'] ?? emptyTally();
  const x = e.byLabel['Not a Match'] ?? emptyTally();
  const n = m.n + x.n;
  const right = m.right + x.right;
  return { right, n, pct: n === 0 ? 100 : (100 * right) / n };
}
