// npm run eval:cdsi [-- --quiet]: CDC's CDSi test cases through $immds-forecast, with pass rates
// per vaccine group and overall and every failing case with what differed.
import { CASE_FILES, loadCases, runCase, tally, type Tally } from '../src/forecast/cdc-test-cases.js';
import { defaultSupportingData } from '../src/forecast/supporting-data.js';

const quiet = process.argv.includes('--quiet');
const data = defaultSupportingData();
const pct = (n: number, d: number) => `${((100 * n) / Math.max(d, 1)).toFixed(1)} %`;
const line = (name: string, t: Tally) =>
  `${name.padEnd(24)} ${String(t.cases).padStart(4)}  evaluations ${String(t.evaluationsRight).padStart(4)} (${pct(t.evaluationsRight, t.cases).padStart(7)})  forecasts ${String(t.forecastsRight).padStart(4)} (${pct(t.forecastsRight, t.cases).padStart(7)})  fully right ${String(t.fullyRight).padStart(4)} (${pct(t.fullyRight, t.cases).padStart(7)})`;

for (const [label, file] of Object.entries(CASE_FILES)) {
  const cases = loadCases(file);
  const started = performance.now();
  const results = cases.map((c) => runCase(c, data));
  const ms = performance.now() - started;
  const { overall, byGroup } = tally(results);
  console.log(`\n== ${label} (${file.pathname.split('/').pop()}): ${cases.length} cases in ${ms.toFixed(0)} ms`);
  for (const [group, t] of [...byGroup.entries()].sort(([a], [b]) => a.localeCompare(b))) console.log(line(group, t));
  console.log(line('OVERALL', overall));
  if (!quiet) {
    for (const r of results) {
      if (r.evaluationsRight && r.forecastRight) continue;
      console.log(`  FAIL ${r.id} [${r.vaccineGroup}] ${r.differences.join('; ')}`);
    }
  }
}
