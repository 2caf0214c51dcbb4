// dateRange answers the two common shapes (a day, a UTC instant with milliseconds) without Date
// objects; it must give exactly what the general parse gives (dateRangeByParts) for every string,
// valid or not: generated days and instants with fields in and out of range, leap years, year 0000,
// hour 24, second 60, and the same texts with one character changed or cut.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dateRange, dateRangeByParts } from './util.js';

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const year = fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 1, 1900, 2000, 2024, 2100, 2400, 9999));
const day = fc
  .tuple(year, fc.integer({ min: 0, max: 19 }), fc.integer({ min: 0, max: 39 }))
  .map(([y, mo, d]) => `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}`);
const instant = fc
  .tuple(day, fc.integer({ min: 0, max: 29 }), fc.integer({ min: 0, max: 69 }), fc.integer({ min: 0, max: 69 }), fc.integer({ min: 0, max: 999 }))
  .map(([dd, h, mi, s, ms]) => `${dd}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad(ms, 3)}Z`);
/** A text with one character replaced (digits, separators, letters, a non-ASCII digit) or cut short. */
const damaged = fc
  .tuple(fc.oneof(day, instant), fc.nat(), fc.constantFrom('0', '9', '-', ':', 'T', 'Z', '.', ' ', 'x', '٣', '+'), fc.boolean())
  .map(([text, at, ch, cut]) => {
    const i = at % text.length;
    return cut ? text.slice(0, i) : text.slice(0, i) + ch + text.slice(i + 1);
  });

describe('dateRange', () => {
  it('gives what the general parse gives for days, instants and damaged texts', () => {
    fc.assert(
      fc.property(fc.oneof(day, instant, damaged, fc.string({ maxLength: 26 })), (text) => {
        expect(dateRange(text)).toEqual(dateRangeByParts(text));
      }),
      { numRuns: 5000 }
    );
  });

  it('answers the common shapes as the whole day or the instant itself', () => {
    expect(dateRange('2024-02-29')).toEqual({ lo: '2024-02-29T00:00:00.000Z', hi: '2024-02-29T23:59:59.999Z' });
    expect(dateRange('2023-02-29')).toBeUndefined();
    expect(dateRange('2024-05-01T10:20:30.456Z')).toEqual({ lo: '2024-05-01T10:20:30.456Z', hi: '2024-05-01T10:20:30.456Z' });
    expect(dateRange('2024-05-01T24:00:00.000Z')).toEqual(dateRangeByParts('2024-05-01T24:00:00.000Z'));
  });
});
