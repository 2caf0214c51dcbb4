import { describe, expect, it } from 'vitest';
import { canonicalUrl, expandValueSet } from './terminology.js';

describe('expandValueSet', () => {
  it('expands a whole-system include from the code system', () => {
    const exp = expandValueSet('http://hl7.org/fhir/ValueSet/immunization-status|4.0.1');
    expect(exp?.url).toBe('http://hl7.org/fhir/ValueSet/immunization-status');
    expect([...(exp?.bySystem.get('http://hl7.org/fhir/event-status') ?? [])].sort()).toEqual([
      'completed',
      'entered-in-error',
      'not-done',
    ]);
    expect(exp?.codes.has('in-progress')).toBe(false);
  });

  it('expands enumerated include.concept lists', () => {
    const exp = expandValueSet('http://hl7.org/fhir/ValueSet/units-of-time');
    expect([...(exp?.bySystem.get('http://unitsofmeasure.org') ?? [])].sort()).toEqual(['a', 'd', 'h', 'min', 'mo', 's', 'wk']);
  });

  it('unions several includes and systems, nested concepts included', () => {
    const exp = expandValueSet('http://hl7.org/fhir/ValueSet/event-timing');
    expect(exp?.bySystem.get('http://hl7.org/fhir/event-timing')?.has('MORN')).toBe(true);
    expect(exp?.bySystem.get('http://terminology.hl7.org/CodeSystem/v3-TimingEvent')?.has('AC')).toBe(true);
    // nested concept of event-timing (MORN > MORN.early)
    expect(exp?.codes.has('MORN.early')).toBe(true);
  });

  it('returns undefined for value sets it cannot enumerate or does not know', () => {
    expect(expandValueSet('http://hl7.org/fhir/ValueSet/mimetypes')).toBeUndefined();
    expect(expandValueSet('http://hl7.org/fhir/ValueSet/all-languages')).toBeUndefined();
    expect(expandValueSet('http://example.org/ValueSet/nope')).toBeUndefined();
  });

  it('caches expansions', () => {
    expect(expandValueSet('http://hl7.org/fhir/ValueSet/administrative-gender')).toBe(
      expandValueSet('http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1')
    );
  });

  it('strips versions from canonical URLs', () => {
    expect(canonicalUrl('http://x/ValueSet/a|4.0.1')).toBe('http://x/ValueSet/a');
    expect(canonicalUrl('http://x/ValueSet/a')).toBe('http://x/ValueSet/a');
  });
});
