import { readFileSync } from 'node:fs';
import type { CodeSystem } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { IIS_RULES } from './rule-catalog.js';

describe('rule catalogue', () => {
  const cs = JSON.parse(readFileSync(new URL('../../profiles/CodeSystem-iis-rule.json', import.meta.url), 'utf8')) as CodeSystem;
  const published = new Map((cs.concept ?? []).map((c) => [c.code, c.property?.find((p) => p.code === 'default-severity')?.valueCode]));

  it('every rule is published in profiles/CodeSystem-iis-rule.json with its default severity', () => {
    for (const rule of IIS_RULES) expect([rule.code, published.get(rule.code)]).toEqual([rule.code, rule.severity]);
  });

  it("CONTRACT.md's rule codes keep the contract's severities", () => {
    const contract: Record<string, string> = {
      'vaccination-date-in-future': 'error',
      'vaccination-before-birth': 'error',
      'vaccination-after-death': 'error',
      'birthdate-in-future': 'error',
      'birthdate-missing': 'error',
      'birthdate-implausible': 'error',
      'name-missing': 'error',
      'patient-unknown': 'error',
      'vaccine-code-unknown': 'error',
      'ndc-cvx-mismatch': 'error',
      'vaccine-code-inactive-for-date': 'warning',
      'lot-number-missing': 'warning',
      'lot-expired': 'warning',
      'placeholder-name': 'information',
      'test-patient-name': 'warning',
      'multiple-birth-order-missing': 'warning',
    };
    const ours = Object.fromEntries(IIS_RULES.map((r) => [r.code, r.severity]));
    for (const [code, severity] of Object.entries(contract)) expect([code, ours[code]]).toEqual([code, severity]);
  });
});
