import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoInstant, isoNow } from './instant.js';

describe('isoInstant', () => {
  const reference = (ms: number): string | RangeError => {
    try {
      return new Date(ms).toISOString();
    } catch (err) {
      return err as RangeError;
    }
  };
  const DAY = 86_400_000;
  const anyTime = fc.integer({ min: -8.64e15 - 10, max: 8.64e15 + 10 });
  const nearDay = fc.tuple(fc.integer({ min: -2_000, max: 2_932_896 }), fc.integer({ min: -2, max: 2 })).map(([d, ms]) => d * DAY + ms);
  const nearEdges = fc.tuple(fc.constantFrom(0, 253_402_300_799_999, 253_402_300_800_000, 8.64e15, -8.64e15), fc.integer({ min: -3, max: 3 })).map(([e, ms]) => e + ms);
  const odd = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, -0, 0.5, -0.5, 1e3 + 0.999));
  const ms = fc.oneof(anyTime, nearDay, nearEdges, odd, fc.integer({ min: Date.now() - 1e10, max: Date.now() + 1e10 }));

  it('gives what new Date(ms).toISOString() gives, in any order of calls', () => {
    fc.assert(
      fc.property(fc.array(ms, { minLength: 1, maxLength: 12 }), (values) => {
        for (const value of values) {
          const expected = reference(value);
          if (expected instanceof RangeError) expect(() => isoInstant(value)).toThrow(RangeError);
          else expect(isoInstant(value)).toBe(expected);
        }
      }),
      { numRuns: 3_000 }
    );
  });

  it('isoNow is the current instant', () => {
    const before = Date.now();
    const now = Date.parse(isoNow());
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});
