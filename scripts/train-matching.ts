// npm run train:matching [-- --dir DIR] [--naive] [--em] [--penalty X] [--pattern-prior K]
//
// Learned weights against the hand weights, measured the way unseen labelled sets would score
// them. Learns Fellegi–Sunter weights from the labelled AIRA/MIIS pair files and checks them held
// out: leave one file out — train on the other files, choose the thresholds on them, score the
// file left out — and, stricter, leave its pairs out as well (train only on pairs the file does not
// contain). Prints, per held-out file, the learned figures beside the engine's (hand weights and
// rules, compare.ts). The engine keeps whichever measures better held out: today the hand line
// (figures in src/matching/README.md "Learned weights"); nothing here changes the engine.
//
// Training: per comparison level, m/u of "same person" (Match or Possible Match) against Not a
// Match (the review line), and of Match against the rest among the pairs the hard safety rules
// allow to be certain (the certain line); labelled counts with add-one smoothing (estimate from
// labels, as Splink's estimate_m_from_label_column). `--em` estimates the review table by EM on
// the pairs without their labels instead (for comparison). Thresholds: scanned on the training
// files for the best mean Match + Not-a-Match accuracy under the Possible-Match limits, with a
// heavy penalty per certain decision on a Not-a-Match pair (fellegi-sunter.ts `objective`).
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePairFile, toPatient } from '../src/matching/aira.js';
import { compareFeatures, compareFields, comparisonLevels, gradeFrom, safetyRules, type RuleVerdict } from '../src/matching/compare.js';
import { features, hasTestName } from '../src/matching/features.js';
import {
  cutPoints,
  emWeights,
  objective,
  addTo,
  modelWeights,
  type LearnedModel,
  setCertainPenalty,
  scoreFile,
  totalWeight,
  weightsFrom,
  type FileScore,
  type ScoredLabel,
  type WeightTable,
} from '../src/matching/fellegi-sunter.js';
import type { MatchGrade } from '../src/matching/types.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const dir = resolve(opt('--dir') ?? join(import.meta.dirname, '..', 'test', 'fixtures', 'patient-matching'));
const useEm = args.includes('--em');
if (opt('--penalty')) setCertainPenalty(Number(opt('--penalty')));

interface PairData {
  key: string;
  levels: string[];
  verdict: RuleVerdict;
  testName: boolean;
  /** The engine's decision today (hand weights and rules). */
  hand: MatchGrade;
  /** labels per file index */
  labels: Array<[number, ScoredLabel]>;
}

const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
const pairs = new Map<string, PairData>();
files.forEach((file, fi) => {
  for (const p of parsePairFile(readFileSync(join(dir, file), 'utf8'))) {
    if (p.expect === 'Not Sure') continue;
    const key = JSON.stringify([p.a, p.b]);
    let d = pairs.get(key);
    if (!d) {
      const fa = features(toPatient(p.a, 'a'));
      const fb = features(toPatient(p.b, 'b'));
      const f = compareFields(fa, fb);
      d = { key, levels: comparisonLevels(f), verdict: safetyRules(fa, fb, f), testName: hasTestName(fa) || hasTestName(fb), hand: compareFeatures(fa, fb).grade, labels: [] };
      pairs.set(key, d);
    }
    d.labels.push([fi, p.expect]);
  }
});
const all = [...pairs.values()];

const LABELS: ScoredLabel[] = ['Match', 'Possible Match', 'Not a Match'];
type Counts = [number, number, number]; // Match, Possible Match, Not a Match

/** Pattern smoothing: a full pattern's own counts weigh against PATTERN_PRIOR pairs of the naive estimate. */
const PATTERN_PRIOR = Number(opt('--pattern-prior') ?? '4');
const usePatterns = !args.includes('--naive');

const logOdds = (pos: number, neg: number, prior: number, k: number): number => {
  const q = 1 / (1 + 2 ** -prior);
  return Math.round(Math.log2((pos + k * q) / (neg + k * (1 - q))) * 1000) / 1000;
};

function train(use: (fi: number, d: PairData) => boolean): LearnedModel {
  const used = new Map<PairData, { counts: Counts; files: Array<[number, ScoredLabel]> }>();
  for (const d of all) {
    const files = d.labels.filter(([fi]) => use(fi, d));
    if (files.length === 0) continue;
    const counts: Counts = [0, 0, 0];
    for (const [, label] of files) counts[LABELS.indexOf(label)]++;
    used.set(d, { counts, files });
  }
  const entries = [...used];
  const review: WeightTable = useEm
    ? emWeights(entries.map(([d]) => ({ levels: d.levels })), (levels) => (levels.includes('name.given=agree:exact') && levels.includes('birthDate=agree:exact') ? 0.9 : 0.1))
    : weightsFrom(entries.flatMap(([d, { counts: c }]) => [{ levels: d.levels, p: 1, n: c[0] + c[1] }, { levels: d.levels, p: 0, n: c[2] }]));
  const unblocked = entries.filter(([d]) => d.verdict.blockers.length === 0);
  const certain = weightsFrom(unblocked.flatMap(([d, { counts: c }]) => [{ levels: d.levels, p: 1, n: c[0] }, { levels: d.levels, p: 0, n: c[1] + c[2] }]));
  // Full comparison patterns seen in training: their own label counts, smoothed towards the naive
  // (independent-fields) estimate, capture what the naive sum cannot (reviewers' lines are
  // conjunctions: "same name AND same birth date AND an identifier").
  const patterns: Record<string, [number, number]> = {};
  if (usePatterns) {
    const agg = new Map<string, { levels: string[]; c: Counts; cu: Counts }>();
    for (const [d, { counts }] of entries) {
      const k = d.levels.join('|');
      const a = agg.get(k) ?? { levels: d.levels, c: [0, 0, 0], cu: [0, 0, 0] };
      for (let i = 0; i < 3; i++) {
        a.c[i] += counts[i];
        if (d.verdict.blockers.length === 0) a.cu[i] += counts[i];
      }
      agg.set(k, a);
    }
    for (const [k, a] of agg) {
      const cPrior = totalWeight(certain, a.levels);
      const rPrior = totalWeight(review, a.levels);
      patterns[k] = [logOdds(a.cu[0], a.cu[1] + a.cu[2], cPrior, PATTERN_PRIOR), logOdds(a.c[0] + a.c[1], a.c[2], rPrior, PATTERN_PRIOR)];
    }
  }
  const model: LearnedModel = { prior: { certain: certain.prior, review: review.prior }, certain: certain.weights, review: review.weights, patterns, thresholds: { certain: Infinity, probable: 0, possible: -5 } };
  const cw = new Map<PairData, number>();
  const rw = new Map<PairData, number>();
  for (const [d] of entries) {
    const w = modelWeights(model, d.levels);
    cw.set(d, w.certain);
    rw.set(d, w.review);
  }
  const trainFiles = [...new Set(entries.flatMap(([, u]) => u.files.map(([fi]) => fi)))];
  const score = (t: LearnedModel['thresholds']): number => {
    const tallies = new Map<number, FileScore>(trainFiles.map((fi) => [fi, { right: 0, n: 0, certainOnNotMatch: 0, pmCertain: 0, pmReview: 0, pm: 0 }]));
    for (const [d, u] of entries) {
      const grade = gradeFrom(d.verdict, cw.get(d)!, rw.get(d)!, t, d.testName);
      for (const [fi, label] of u.files) addTo(tallies.get(fi)!, label, grade);
    }
    return objective([...tallies.values()]);
  };
  const sample = (values: number[]) => {
    const c = cutPoints(values);
    const step = Math.max(1, Math.floor(c.length / 200));
    return c.filter((_, i) => i % step === 0);
  };
  const rCuts = sample([...rw.values()]);
  const cCuts = sample([...cw.values()]);
  let t = { certain: Infinity, probable: 0, possible: -5 };
  for (let round = 0; round < 2; round++) {
    let best = -Infinity;
    for (const probable of rCuts) {
      const s = score({ ...t, probable });
      if (s > best) [best, t] = [s, { ...t, probable }];
    }
    best = -Infinity;
    for (const c of cCuts) {
      const s = score({ ...t, certain: c });
      if (s > best) [best, t] = [s, { ...t, certain: c }];
    }
  }
  t.possible = Math.round((t.probable - 5) * 1000) / 1000;
  return { ...model, thresholds: t };
}

function evaluate(model: LearnedModel, fi: number): FileScore {
  const rows: Array<{ label: ScoredLabel; grade: MatchGrade }> = [];
  for (const d of all) {
    for (const [f, label] of d.labels) {
      if (f !== fi) continue;
      const w = modelWeights(model, d.levels);
      rows.push({ label, grade: gradeFrom(d.verdict, w.certain, w.review, model.thresholds, d.testName) });
    }
  }
  return scoreFile(rows);
}

function evaluateHand(fi: number): FileScore {
  const rows: Array<{ label: ScoredLabel; grade: MatchGrade }> = [];
  for (const d of all) for (const [f, label] of d.labels) if (f === fi) rows.push({ label, grade: d.hand });
  return scoreFile(rows);
}

const pct = (a: number, b: number) => (b === 0 ? '   -  ' : `${((100 * a) / b).toFixed(2)}%`);
const fig = (s: FileScore) =>
  `${pct(s.right, s.n).padStart(8)} ${String(s.certainOnNotMatch).padStart(3)} ${pct(s.pmCertain, s.pm).padStart(7)} ${pct(s.pmReview, s.pm).padStart(7)}`;
const head = `${'held-out file'.padEnd(24)} | learned: M+N  cNaM PM-cert  PM-rev | hand: M+N   cNaM PM-cert  PM-rev`;
console.log(`${pairs.size} distinct pairs in ${files.length} files; learned = ${useEm ? 'review weights by EM without labels' : 'm/u from labels'}${usePatterns ? `, seen patterns smoothed (prior ${PATTERN_PRIOR})` : ', fields independent'}`);
console.log('\nLeave one file out (train on the other files; its pairs recur there with other labellers\' labels):');
console.log(head);
for (let fi = 0; fi < files.length; fi++) {
  const model = train((f) => f !== fi);
  console.log(`${files[fi].padEnd(24)} |       ${fig(evaluate(model, fi))} |    ${fig(evaluateHand(fi))}`);
}
console.log('\nLeave the file and all its pairs out (train only on pairs the file does not contain):');
console.log(head);
for (let fi = 0; fi < files.length; fi++) {
  const inFile = (d: PairData) => d.labels.some(([f]) => f === fi);
  const model = train((f, d) => f !== fi && !inFile(d));
  console.log(`${files[fi].padEnd(24)} |       ${fig(evaluate(model, fi))} |    ${fig(evaluateHand(fi))}`);
}
