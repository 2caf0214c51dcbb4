// npm run eval:matching [-- --dir DIR] [--summary] [--json] [--mistakes N] [--file NAME] [--category CAT]
//
// --json: only one JSON line per file, {"file", "counts": {label: {certain, probable, possible, none}}}
// for Match, Possible Match and Not a Match, so any labelled set in the AIRA format can be scored by
// a script.
//
// Runs comparePatients over the labelled AIRA / MIIS pair files (test/fixtures/patient-matching,
// provenance in its README.md) and prints, per file: how many Match / Possible Match / Not a Match
// pairs were decided right, the grade distribution, a per-category table, and the number of
// `certain` decisions on pairs labelled Not a Match (must be 0). Label mapping: see
// src/matching/evaluate.ts (Match ↔ certain; Possible Match ↔ probable; Not a Match ↔ possible|none).
//
// Tuning was done on AIRA-A (S-/D- pairs) only. Held out, never looked at while tuning: MIIS-B (a
// different generation of pairs), and the PM-/EE- tests of AIRA-B until session 12 (their name
// variants — a name cut short, first and family names swapped, other vowels, a digit typo — then
// informed the comparators, so they are no longer an unseen check). The other files relabel the
// AIRA-A pairs (same records, other labellers), so they are not independent checks.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePairFile, type LabelledPair } from '../src/matching/aira.js';
import { evaluatePairs, GRADES, matchAndNotMatchAccuracy, SCORED_LABELS, type Evaluation, type Tally } from '../src/matching/evaluate.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const dir = resolve(opt('--dir') ?? join(import.meta.dirname, '..', 'test', 'fixtures', 'patient-matching'));
const summaryOnly = args.includes('--summary');
const mistakes = Number(opt('--mistakes') ?? '0');
const onlyFile = opt('--file');
const onlyCategory = opt('--category');

const ROLE: Record<string, string> = {
  'AIRA-A.txt': 'development (tuned on)',
  'AIRA-B.txt': 'S/D = AIRA-A; PM/EE held out until session 12',
  'MIIS-B.txt': 'held out (other pairs)',
  'AIRA-B.txt PM+EE only': 'held out until session 12 (its name variants then informed the comparators)',
};

const pct = (r: number, n: number) => (n === 0 ? '   -  ' : `${((100 * r) / n).toFixed(1).padStart(5)}%`);
const cell = (t: Tally | undefined) => (t ? `${String(t.right).padStart(4)}/${String(t.n).padEnd(4)} ${pct(t.right, t.n)}` : '        -        ');

function printFile(name: string, e: Evaluation): void {
  console.log(`\n=== ${name}  [${ROLE[name] ?? 'relabelled AIRA-A pairs'}]`);
  console.log('label            pairs  right    %      | certain probable possible  none | lenient');
  for (const label of SCORED_LABELS) {
    const t = e.byLabel[label];
    if (!t) continue;
    const g = GRADES.map((x) => String(t.grades[x]).padStart(x.length)).join(' ');
    const lenient = label === 'Possible Match' ? `${t.lenientRight} ${pct(t.lenientRight, t.n)}` : '';
    console.log(`${label.padEnd(15)} ${String(t.n).padStart(6)} ${String(t.right).padStart(6)} ${pct(t.right, t.n)} | ${g} | ${lenient}`);
  }
  const acc = matchAndNotMatchAccuracy(e);
  console.log(`Match + Not a Match decided right: ${acc.right}/${acc.n} = ${acc.pct.toFixed(2)}%`);
  console.log(`certain decisions on Not a Match pairs: ${e.certainOnNotMatch}`);
  console.log(`blocking recall (Match + Possible Match pairs sharing a blocking key): ${e.blocking.found}/${e.blocking.of}`);
  if (summaryOnly) return;
  console.log(`\n${'category'.padEnd(34)} ${'Match'.padEnd(17)} ${'Possible Match'.padEnd(17)} ${'Not a Match'.padEnd(17)}`);
  for (const [cat, t] of [...e.byCategory.entries()].sort(([x], [y]) => x.localeCompare(y))) {
    console.log(`${cat.padEnd(34)} ${cell(t['Match'])} ${cell(t['Possible Match'])} ${cell(t['Not a Match'])}`);
  }
}

function printMistakes(e: Evaluation): void {
  let shown = 0;
  for (const o of e.outcomes) {
    if (o.right !== false || o.pair.expect === 'Possible Match' || shown >= mistakes) continue;
    if (onlyCategory && o.pair.category !== onlyCategory) continue;
    shown++;
    console.log(`  ${o.pair.test}: expected ${o.pair.expect}, got ${o.grade} (${o.score})`);
  }
}

const jsonOnly = args.includes('--json');

function countsOf(e: Evaluation): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const label of SCORED_LABELS) counts[label] = { ...(e.byLabel[label]?.grades ?? { certain: 0, probable: 0, possible: 0, none: 0 }) };
  return counts;
}

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .filter((f) => !onlyFile || f === onlyFile)
  .sort((a, b) => (ROLE[b] ? 1 : 0) - (ROLE[a] ? 1 : 0) || a.localeCompare(b));
if (jsonOnly) {
  for (const file of files) {
    const e = evaluatePairs(parsePairFile(readFileSync(join(dir, file), 'utf8')));
    console.log(JSON.stringify({ file, counts: countsOf(e) }));
  }
  process.exit(0);
}
const summary: Array<[string, Evaluation]> = [];
let totalCertainOnNot = 0;
console.log('Label mapping: Match ↔ certain · Possible Match ↔ probable (lenient: probable|possible) · Not a Match ↔ possible|none');
for (const file of files) {
  const pairs: LabelledPair[] = parsePairFile(readFileSync(join(dir, file), 'utf8'));
  const e = evaluatePairs(pairs);
  printFile(file, e);
  if (mistakes > 0) printMistakes(e);
  summary.push([file, e]);
  totalCertainOnNot += e.certainOnNotMatch;
  if (file === 'AIRA-B.txt') {
    const heldOut = evaluatePairs(pairs.filter((p) => p.kind === 'PM' || p.kind === 'EE'));
    printFile('AIRA-B.txt PM+EE only', heldOut);
    if (mistakes > 0) printMistakes(heldOut);
    summary.push(['AIRA-B PM+EE (seen s12)', heldOut]);
  }
}

console.log('\n=== Summary');
console.log(`${'file'.padEnd(26)} ${'Match'.padStart(15)} ${'Possible'.padStart(15)} ${'Not a Match'.padStart(15)} ${'Match+Not'.padStart(9)} certain-on-Not PM-certain PM-review`);
for (const [file, e] of summary) {
  const c = (l: string) => {
    const t = e.byLabel[l];
    return t ? `${t.right}/${t.n} ${pct(t.right, t.n)}`.padStart(15) : '-'.padStart(15);
  };
  const acc = matchAndNotMatchAccuracy(e);
  const pm = e.byLabel['Possible Match'];
  const pmShare = (g: 'certain' | 'probable') => (pm && pm.n > 0 ? `${((100 * pm.grades[g]) / pm.n).toFixed(1)}%` : '-');
  console.log(
    `${file.padEnd(26)} ${c('Match')} ${c('Possible Match')} ${c('Not a Match')} ${(acc.pct.toFixed(2) + '%').padStart(9)} ${String(e.certainOnNotMatch).padStart(14)} ${pmShare('certain').padStart(10)} ${pmShare('probable').padStart(9)}`
  );
}
const airaCertainOnNot = summary.filter(([f]) => f === 'AIRA-A.txt' || f === 'AIRA-B.txt').reduce((n, [, e]) => n + e.certainOnNotMatch, 0);
console.log(`certain decisions on Not a Match pairs: AIRA files ${airaCertainOnNot}, all files ${totalCertainOnNot}`);
