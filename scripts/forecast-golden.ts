// Golden outputs of the CDSi engine, to prove a change (of speed, of structure) changes no answer:
//   npx tsx scripts/forecast-golden.ts record /tmp/golden.jsonl [--patients 20000]   (before)
//   npx tsx scripts/forecast-golden.ts check  /tmp/golden.jsonl [--patients 20000]   (after)
// Every CDC test case and a generated population (src/forecast/golden-population.ts) go through
// forecastFromFhir; `check` compares each whole output (JSON text) with the recorded one, prints
// the first differences and exits 1 when any differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { cdcCaseInputs, generatedInputs, outputText, outputsDigest } from '../src/forecast/golden-population.js';
import { defaultSupportingData, forecastFromFhir } from '../src/forecast/index.js';

const [mode, file] = process.argv.slice(2);
const patientsFlag = process.argv.indexOf('--patients');
const patients = patientsFlag > 0 ? Number(process.argv[patientsFlag + 1]) : 20_000;
if ((mode !== 'record' && mode !== 'check') || !file || !Number.isInteger(patients)) {
  console.error('usage: tsx scripts/forecast-golden.ts record|check FILE [--patients N]');
  process.exit(2);
}

const inputs = [...cdcCaseInputs(), ...generatedInputs(defaultSupportingData(), patients)];
const started = performance.now();
const outputs = inputs.map(({ input }) => outputText(forecastFromFhir, input));
const seconds = (performance.now() - started) / 1000;
console.log(`${inputs.length} inputs forecast in ${seconds.toFixed(1)} s; digest ${outputsDigest(outputs)}`);

if (mode === 'record') {
  writeFileSync(file, outputs.map((output, i) => JSON.stringify({ label: inputs[i]!.label, output })).join('\n') + '\n');
  console.log(`recorded to ${file}`);
} else {
  const recorded = readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as { label: string; output: string });
  let differing = 0;
  if (recorded.length !== outputs.length) console.log(`recorded ${recorded.length} outputs, now ${outputs.length}`);
  for (let i = 0; i < Math.min(recorded.length, outputs.length); i++) {
    if (recorded[i]!.output === outputs[i]) continue;
    if (++differing <= 5) {
      const before = recorded[i]!.output;
      const after = outputs[i]!;
      let at = 0;
      while (at < before.length && before[at] === after[at]) at++;
      console.log(`${inputs[i]!.label}: differs at character ${at}\n  before …${before.slice(Math.max(0, at - 150), at + 150)}\n  after  …${after.slice(Math.max(0, at - 150), at + 150)}`);
    }
  }
  console.log(differing === 0 && recorded.length === outputs.length ? 'all outputs identical' : `${differing} outputs differ`);
  process.exit(differing === 0 && recorded.length === outputs.length ? 0 : 1);
}
