// npm run -s eval:matching:ceiling [-- --dir DIR]
//
// How far the labels of the AIRA / MIIS pair files let any matcher go (issue 12). The files label
// the same generated pairs (and the same generator recipes) by different reviewers, and they
// disagree; a matcher gives one grade per pair, so where one file says Match and another says
// Possible Match or Not a Match, at most one of them can be satisfied. Prints, per file:
//
//  1. disagreements with the other files on the same pair (this file's label vs the other files'
//     majority label), by kind;
//  2. an upper bound on "Match + Not a Match right" for ANY decision that gives one grade per unit
//     while every file keeps 0 certain on Not a Match and ≤ 3 % of its Possible Match pairs
//     certain. Units: the distinct pair (same records); the generator recipe (scenario and record
//     quality, `S:DOB_OFF_BY_1:IDEAL-GOODA`: the same kind of evidence, generated the same way).
//     The bound relaxes the joint problem (one other file's budget at a time, exact knapsack, the
//     minimum over files), so the true ceiling is at or below it;
//  3. this file's certain-on-Not-a-Match pairs and certain-on-Possible-Match pairs that the other
//     files label Match (what "fixing" them costs the others).
// The engine's own decisions are used only in 3. Labels are read, never fed to the matcher.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePairFile, toPatient, type LabelledPair, type PairLabel } from '../src/matching/aira.js';
import { comparePatients } from '../src/matching/compare.js';
import type { MatchGrade } from '../src/matching/types.js';

type Label = Exclude<PairLabel, 'Not Sure'>;
const args = process.argv.slice(2);
const dirArg = args.indexOf('--dir');
const dir = resolve(dirArg >= 0 ? args[dirArg + 1] : join(import.meta.dirname, '..', 'test', 'fixtures', 'patient-matching'));
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
const name = (f: string) => f.replace(/\.txt$/, '');

interface Unit {
  pair: LabelledPair;
  /** file → labels (a pair can occur twice in one file) */
  labels: Map<string, Label[]>;
  recipe: string;
}
const byPair = new Map<string, Unit>();
for (const file of files) {
  for (const p of parsePairFile(readFileSync(join(dir, file), 'utf8'))) {
    if (p.expect === 'Not Sure') continue;
    const key = JSON.stringify([p.a, p.b]);
    const parts = p.test.split(':');
    const recipe = /^[SD]-\d+$/.test(parts[0]) ? `${parts[0][0]}:${parts.slice(1).join(':')}` : p.test;
    const u = byPair.get(key) ?? { pair: p, labels: new Map(), recipe };
    u.labels.set(name(file), [...(u.labels.get(name(file)) ?? []), p.expect]);
    byPair.set(key, u);
  }
}
const units = [...byPair.values()];
const FILES = files.map(name);
const grades = new Map<Unit, MatchGrade>(units.map((u) => [u, comparePatients(toPatient(u.pair.a, 'A'), toPatient(u.pair.b, 'B')).grade]));

const count = (u: Iterable<Unit>, f: string, label: Label) => {
  let n = 0;
  for (const x of u) for (const l of x.labels.get(f) ?? []) if (l === label) n++;
  return n;
};

// ---- 1. disagreements on the same pair
console.log('1. This file\'s label against the other files\' majority label on the same pair');
for (const f of FILES) {
  const kinds = new Map<string, number>();
  let shared = 0;
  for (const u of units) {
    const own = u.labels.get(f)?.[0];
    if (!own) continue;
    const votes = new Map<Label, number>();
    for (const [g, ls] of u.labels) if (g !== f) for (const l of ls) votes.set(l, (votes.get(l) ?? 0) + 1);
    if (votes.size === 0) continue;
    shared++;
    const majority = [...votes.entries()].sort((a, b) => b[1] - a[1])[0][0];
    if (majority !== own) kinds.set(`${own} / others ${majority}`, (kinds.get(`${own} / others ${majority}`) ?? 0) + 1);
  }
  const text = [...kinds.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`).join('; ');
  console.log(`  ${f.padEnd(22)} pairs shared with other files ${String(shared).padStart(5)}; disagreeing: ${text || 'none'}`);
}

// ---- 2. ceiling per unit
function ceiling(groupOf: (u: Unit) => string): Map<string, { bound: number; binding: string }> {
  const groups = new Map<string, Unit[]>();
  for (const u of units) groups.set(groupOf(u), [...(groups.get(groupOf(u)) ?? []), u]);
  const anyNotMatch = new Set([...groups.entries()].filter(([, us]) => FILES.some((f) => count(us, f, 'Not a Match') > 0)).map(([k]) => k));
  const out = new Map<string, { bound: number; binding: string }>();
  for (const f of FILES) {
    const matchNot = count(units, f, 'Match') + count(units, f, 'Not a Match');
    const base = count(units, f, 'Not a Match'); // everything not certain: Not a Match right
    let best = Infinity;
    let binding = '';
    for (const g of FILES) {
      const budget = Math.floor(0.03 * count(units, g, 'Possible Match'));
      let free = 0;
      const items: Array<[number, number]> = [];
      for (const [k, us] of groups) {
        if (anyNotMatch.has(k)) continue; // certain there would be certain on some file's Not a Match
        const m = count(us, f, 'Match');
        if (m === 0) continue;
        const cost = count(us, g, 'Possible Match');
        if (cost === 0) free += m;
        else if (cost <= budget) items.push([m, cost]);
      }
      const dp = new Array<number>(budget + 1).fill(0);
      for (const [m, c] of items) for (let b = budget; b >= c; b--) dp[b] = Math.max(dp[b], dp[b - c] + m);
      const v = (100 * (base + free + dp[budget])) / matchNot;
      if (v < best) [best, binding] = [v, g];
    }
    out.set(f, { bound: best, binding });
  }
  return out;
}
console.log('\n2. Upper bound on Match + Not a Match right, every file keeping 0 certain on Not a Match and ≤ 3 % Possible Match certain');
const perPair = ceiling((u) => JSON.stringify([u.pair.a, u.pair.b]));
const perRecipe = ceiling((u) => u.recipe);
console.log(`  ${'file'.padEnd(22)} ${'one grade per pair'.padEnd(34)} one grade per generator recipe (scenario + record quality)`);
for (const f of FILES) {
  const a = perPair.get(f)!;
  const b = perRecipe.get(f)!;
  console.log(`  ${f.padEnd(22)} ${`${a.bound.toFixed(2)} % (binding: ${a.binding})`.padEnd(34)} ${b.bound.toFixed(2)} % (binding: ${b.binding})`);
}

const recipes = new Map<string, Unit[]>();
for (const u of units) recipes.set(u.recipe, [...(recipes.get(u.recipe) ?? []), u]);

// ---- 3. the engine's certain decisions that the goals count against this file
console.log('\n3. Engine certain on this file\'s Not a Match / Possible Match pairs, and how the other files label those pairs');
for (const f of FILES) {
  for (const label of ['Not a Match', 'Possible Match'] as const) {
    let n = 0;
    let otherMatch = 0;
    let otherAll = 0;
    let unshared = 0;
    let recipeMatch = 0;
    let recipeAll = 0;
    for (const u of units) {
      const k = count([u], f, label);
      if (k === 0 || grades.get(u) !== 'certain') continue;
      n += k;
      const others = FILES.filter((g) => g !== f && u.labels.has(g));
      if (others.length === 0) {
        unshared += k;
        // the same generator recipe in the other files
        for (const v of recipes.get(u.recipe) ?? []) {
          for (const [g, ls] of v.labels) {
            if (g === f) continue;
            recipeAll += ls.length;
            recipeMatch += ls.filter((l) => l === 'Match').length;
          }
        }
      } else {
        otherAll += others.length;
        otherMatch += others.filter((g) => u.labels.get(g)!.includes('Match')).length;
      }
    }
    if (n === 0) continue;
    const sharedText = n > unshared ? `; on the ${n - unshared} shared, the other files say Match ${otherMatch} times of ${otherAll}` : '';
    const recipeText = unshared > 0 ? `; ${unshared} only in this file, whose recipes the other files label Match ${recipeMatch} times of ${recipeAll}` : '';
    console.log(`  ${f.padEnd(22)} certain on ${label}: ${n}${sharedText}${recipeText}`);
  }
}
