// Golden outputs: the engine's whole answer (every ImmunizationEvaluation and the
// ImmunizationRecommendation, as JSON text, key order included) for every CDC test case and for
// 3,000 generated patients (golden-population.ts) must stay exactly what it was when these digests
// were recorded. Speed work must not change a byte; a deliberate change of the logic or of the
// supporting data changes them: check the differences with `scripts/forecast-golden.ts` (record
// before the change, check after), then put the new digests here, saying why in the commit.
import { describe, expect, it } from 'vitest';
import { cdcCaseInputs, generatedInputs, outputsDigest, outputText } from './golden-population.js';
import { defaultSupportingData, forecastFromFhir } from './index.js';

const DIGESTS = {
  cdcCases: '3b6d4ffddef5f0c91c669ef6c9ae339c2d0ba82b4d545793f8c4f844b9e504bb',
  generated3000: '346abffffa3faf85826ae409dd2234ec3b8e851f1d1ab8e56fc73d9306fb4d0a',
} as const;

describe('CDSi engine golden outputs', () => {
  it('every CDC test case answers exactly as recorded', () => {
    const inputs = cdcCaseInputs();
    expect(inputs.length).toBe(759 + 253);
    expect(outputsDigest(inputs.map(({ input }) => outputText(forecastFromFhir, input)))).toBe(DIGESTS.cdcCases);
  }, 60_000);

  it('3,000 generated children and adults answer exactly as recorded', () => {
    const inputs = generatedInputs(defaultSupportingData(), 3000);
    const outputs = inputs.map(({ input }) => outputText(forecastFromFhir, input));
    // The population reaches the engine's branches, not just its happy path.
    const all = outputs.join('\n');
    for (const reached of ['Interval: Too Soon', 'Live Virus Conflict', 'Sub-standard dose', 'Expired vaccine', 'Inadvertent Vaccine', 'Series Already Complete', '"agedOut"', '"immune"', '"contraindicated"', '"complete"', '"notComplete"']) {
      expect(all).toContain(reached);
    }
    expect(outputsDigest(outputs)).toBe(DIGESTS.generated3000);
  }, 120_000);
});
