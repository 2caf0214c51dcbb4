// CDC's own CDSi test cases through the $immds-forecast handler: the pass rates must not fall
// below what the engine reaches today (raise the floors as the engine improves).
import { describe, expect, it } from 'vitest';
import { CASE_FILES, loadCases, runCase, tally } from './cdc-test-cases.js';
import { defaultSupportingData } from './supporting-data.js';

const FLOORS = {
  healthy: { fullyRight: 758, evaluationsRight: 759, forecastsRight: 758 },
  conditions: { fullyRight: 243, evaluationsRight: 252, forecastsRight: 243 },
} as const;

describe('CDC CDSi test cases', () => {
  const data = defaultSupportingData();
  for (const [label, file] of Object.entries(CASE_FILES) as [keyof typeof FLOORS, URL][]) {
    it(`${label}: pass rates do not regress`, () => {
      const cases = loadCases(file);
      const { overall } = tally(cases.map((c) => runCase(c, data)));
      expect(overall.cases).toBe(label === 'healthy' ? 759 : 253);
      expect(overall.fullyRight).toBeGreaterThanOrEqual(FLOORS[label].fullyRight);
      expect(overall.evaluationsRight).toBeGreaterThanOrEqual(FLOORS[label].evaluationsRight);
      expect(overall.forecastsRight).toBeGreaterThanOrEqual(FLOORS[label].forecastsRight);
    }, 60_000);
  }
});
