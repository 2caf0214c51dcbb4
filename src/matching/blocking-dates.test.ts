// blocking.ts computes the blocking keys' neighbouring dates without Date objects: the same
// strings as the Date.UTC reference for every input, valid or not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays, DATE_REFERENCE, ymd } from './blocking.js';

const key = (y: number, m: number, d: number) => `${String(y).padStart(4, '0')}${String(m).padStart(2, '0')}${String(d).padStart(2, '0')}`;

describe('blocking dates without Date', () => {
  it('ymd equals the Date reference (valid and invalid dates, years Date.UTC reads as 19xx)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_001 }), fc.integer({ min: -1, max: 14 }), fc.integer({ min: -1, max: 33 }), (y, m, d) => {
        expect(ymd(y, m, d)).toBe(DATE_REFERENCE.ymd(y, m, d));
      }),
      { numRuns: 20_000 }
    );
    for (const [y, m, d] of [[2024, 2, 29], [2023, 2, 29], [1900, 2, 29], [2000, 2, 29], [99, 1, 1], [100, 1, 1], [9999, 12, 31], [2025, 13, 1], [2025, 0, 1]]) {
      expect(ymd(y, m, d)).toBe(DATE_REFERENCE.ymd(y, m, d));
    }
  });

  it('addDays(±1) equals the Date reference for every 8-digit key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.constantFrom(-1, 1), (y, m, d, days) => {
        const k = key(y, m, d);
        expect(addDays(k, days)).toBe(DATE_REFERENCE.addDays(k, days));
      }),
      { numRuns: 20_000 }
    );
    for (const k of ['20240229', '20240301', '20230301', '21000301', '20000301', '20251231', '20260101', '01000101', '00991231', '99991231', '00000000', '20251301']) {
      for (const days of [-1, 1]) expect(addDays(k, days)).toBe(DATE_REFERENCE.addDays(k, days));
    }
  });

  it('every day of 1890–2030 and its neighbours', () => {
    const wrong: string[] = [];
    for (let t = Date.UTC(1890, 0, 1); t <= Date.UTC(2030, 11, 31); t += 86_400_000) {
      const date = new Date(t);
      const [y, m, d] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
      const k = key(y, m, d);
      if (ymd(y, m, d) !== k) wrong.push(`ymd ${k}`);
      if (ymd(y, d, m) !== DATE_REFERENCE.ymd(y, d, m)) wrong.push(`ymd swapped ${k}`);
      if (addDays(k, -1) !== DATE_REFERENCE.addDays(k, -1)) wrong.push(`-1 ${k}`);
      if (addDays(k, 1) !== DATE_REFERENCE.addDays(k, 1)) wrong.push(`+1 ${k}`);
    }
    expect(wrong).toEqual([]);
  });
});
