// token(): a PID-3 / ORC-3 identifier as a FHIR search token, each part escaped. The escape is
// skipped for parts without a character to escape: the same text as escaping every part
// (fast-check over strings rich in the four characters).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { token } from './identifiers.js';

const reference = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/,/g, '\\,').replace(/\$/g, '\\$');

describe('token', () => {
  it('escapes \\ | , $ in system and value, as the escape of every part does', () => {
    const part = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('\\', '|', ',', '$', 'a', '1', ' ') }));
    fc.assert(
      fc.property(fc.option(part, { nil: undefined }), fc.option(part, { nil: undefined }), (system, value) => {
        expect(token({ system, value })).toBe(`${reference(system ?? '')}|${reference(value ?? '')}`);
      }),
      { numRuns: 1000 }
    );
    expect(token({ system: 'urn:x|y', value: 'a,b$c\\d' })).toBe('urn:x\\|y|a\\,b\\$c\\\\d');
  });
});
