// Fellegi–Sunter weights from labelled (or unlabelled, by EM) pairs, and the choice of grade
// thresholds. Pure functions over comparison-level vectors (`name.given=partial:nickname` …, one
// level per field, from compare.ts `comparisonLevels`); scripts/train-matching.ts feeds them the
// AIRA/MIIS files and writes learned-model.ts.
//
// For each field, m(level) = P(level | positive), u(level) = P(level | negative), each with add-α
// smoothing over the field's levels, and the weight is log2(m/u) (Splink's "match weight"). Fields
// are assumed independent given the class, as in Fellegi–Sunter; the thresholds are chosen on the
// totals afterwards, so the over-confidence that the assumption brings does not move the lines.
import type { MatchGrade } from './types.js';

/**
 * A learned model: log2-odds tables of two lines — `review` ("same person": Match or Possible
 * Match, against Not a Match) and `certain` (Match against the rest, among pairs the safety rules
 * allow to be certain) — optional smoothed full-pattern estimates, and the grade lines.
 */
export interface LearnedModel {
  prior: { certain: number; review: number };
  certain: Readonly<Record<string, number>>;
  review: Readonly<Record<string, number>>;
  /** Comparison pattern (levels joined by `|`) → [certain, review] log2 odds. */
  patterns?: Readonly<Record<string, readonly [number, number]>>;
  thresholds: { certain: number; probable: number; possible: number };
}

/** The two log2-odds totals of a pair's comparison levels. */
export function modelWeights(model: LearnedModel, levels: string[]): { certain: number; review: number } {
  const seen = model.patterns?.[levels.join('|')];
  if (seen) return { certain: seen[0], review: seen[1] };
  let certain = model.prior.certain;
  let review = model.prior.review;
  for (const l of levels) {
    certain += model.certain[l] ?? 0;
    review += model.review[l] ?? 0;
  }
  return { certain, review };
}

export interface WeightTable {
  /** log2 of the positive / negative odds in the training pairs. */
  prior: number;
  weights: Record<string, number>;
}

const fieldOf = (level: string): string => level.slice(0, level.indexOf('='));

/** m/u per level from pairs with a class weight in 0..1 (1 = positive, 0 = negative; soft for EM). */
export function weightsFrom(pairs: ReadonlyArray<{ levels: string[]; p: number; n?: number }>, alpha = 1): WeightTable {
  const pos = new Map<string, number>();
  const neg = new Map<string, number>();
  const levelsOfField = new Map<string, Set<string>>();
  let nPos = 0;
  let nNeg = 0;
  for (const { levels, p, n = 1 } of pairs) {
    nPos += p * n;
    nNeg += (1 - p) * n;
    for (const l of levels) {
      pos.set(l, (pos.get(l) ?? 0) + p * n);
      neg.set(l, (neg.get(l) ?? 0) + (1 - p) * n);
      const f = fieldOf(l);
      const set = levelsOfField.get(f) ?? new Set<string>();
      set.add(l);
      levelsOfField.set(f, set);
    }
  }
  const weights: Record<string, number> = {};
  for (const [f, set] of levelsOfField) {
    const k = set.size;
    for (const l of set) {
      const m = ((pos.get(l) ?? 0) + alpha) / (nPos + alpha * k);
      const u = ((neg.get(l) ?? 0) + alpha) / (nNeg + alpha * k);
      weights[l] = Math.round(Math.log2(m / u) * 1000) / 1000;
    }
    void f;
  }
  const prior = nPos > 0 && nNeg > 0 ? Math.log2(nPos / nNeg) : 0;
  return { prior: Math.round(prior * 1000) / 1000, weights };
}

/**
 * Unsupervised Fellegi–Sunter: EM over the level vectors without labels, starting from `start`
 * (a first guess of the positive probability per pair). Returns the weights of the last M step.
 */
export function emWeights(pairs: ReadonlyArray<{ levels: string[] }>, start: (levels: string[]) => number, iterations = 30, alpha = 1): WeightTable {
  let soft = pairs.map((x) => ({ levels: x.levels, p: start(x.levels) }));
  let table = weightsFrom(soft, alpha);
  for (let i = 0; i < iterations; i++) {
    soft = soft.map((x) => ({ levels: x.levels, p: posterior(table, x.levels) }));
    table = weightsFrom(soft, alpha);
  }
  return table;
}

export function totalWeight(table: WeightTable, levels: string[]): number {
  let w = table.prior;
  for (const l of levels) w += table.weights[l] ?? 0;
  return w;
}

function posterior(table: WeightTable, levels: string[]): number {
  const w = totalWeight(table, levels);
  return 1 / (1 + 2 ** -w);
}

export type ScoredLabel = 'Match' | 'Possible Match' | 'Not a Match';

/** What one file's labels say about a grading (the goals of issue 12). */
export interface FileScore {
  /** Match and Not-a-Match pairs decided right (certain / possible or none). */
  right: number;
  n: number;
  certainOnNotMatch: number;
  pmCertain: number;
  pmReview: number;
  pm: number;
}

export function scoreFile(rows: ReadonlyArray<{ label: ScoredLabel; grade: MatchGrade }>): FileScore {
  const s: FileScore = { right: 0, n: 0, certainOnNotMatch: 0, pmCertain: 0, pmReview: 0, pm: 0 };
  for (const { label, grade } of rows) addTo(s, label, grade);
  return s;
}

export function addTo(s: FileScore, label: ScoredLabel, grade: MatchGrade): void {
  if (label === 'Possible Match') {
    s.pm++;
    if (grade === 'certain') s.pmCertain++;
    if (grade === 'probable') s.pmReview++;
  } else {
    s.n++;
    if (label === 'Match' ? grade === 'certain' : grade === 'possible' || grade === 'none') s.right++;
    if (label === 'Not a Match' && grade === 'certain') s.certainOnNotMatch++;
  }
}

/** Goals a threshold must keep on every training file (issue 12), with a safety margin. */
export const THRESHOLD_LIMITS = { pmCertain: 0.025, pmReview: 0.85 } as const;

/**
 * Objective of a grading over several files: the mean share of Match and Not-a-Match pairs right,
 * minus heavy penalties for a `certain` on a Not-a-Match pair and for breaking the Possible-Match
 * limits on any file. Higher is better.
 */
/** Penalty per certain decision on a Not-a-Match pair, in shares of one file's accuracy. */
export let CERTAIN_ON_NOT_MATCH_PENALTY = 0.02;
export function setCertainPenalty(x: number): void {
  CERTAIN_ON_NOT_MATCH_PENALTY = x;
}

export function objective(scores: FileScore[]): number {
  let acc = 0;
  let penalty = 0;
  for (const s of scores) {
    acc += s.n === 0 ? 1 : s.right / s.n;
    penalty += s.certainOnNotMatch * CERTAIN_ON_NOT_MATCH_PENALTY;
    if (s.pm > 0) {
      penalty += Math.max(0, s.pmCertain / s.pm - THRESHOLD_LIMITS.pmCertain) * 2;
      penalty += Math.max(0, THRESHOLD_LIMITS.pmReview - s.pmReview / s.pm) * 2;
    }
  }
  return (acc - penalty) / Math.max(1, scores.length);
}

/** Candidate cut points: midpoints between consecutive distinct values (and just below the lowest). */
export function cutPoints(values: number[]): number[] {
  const v = [...new Set(values.map((x) => Math.round(x * 1000) / 1000))].sort((a, b) => a - b);
  const out = v.length ? [v[0] - 0.001] : [];
  for (let i = 1; i < v.length; i++) out.push(Math.round(((v[i - 1] + v[i]) / 2) * 1000) / 1000);
  if (v.length) out.push(v[v.length - 1] + 0.001);
  return out;
}
