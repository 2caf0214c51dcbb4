// The rules' date helpers against the Date-based forms they replaced (same answers).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dateAt, daysIn, isInFuture, MAX_OFFSET_BEHIND_MIN, parseFhirDate, yearsBefore, yearsBeforeToday } from './dates.js';

describe('daysIn', () => {
  it('gives what new Date(Date.UTC(year, month, 0)).getUTCDate() gives, for every month of years -500 to 10,500', () => {
    for (let year = -500; year <= 10_500; year++) {
      for (let month = 1; month <= 12; month++) {
        const expected = new Date(Date.UTC(year, month, 0)).getUTCDate();
        if (daysIn(year, month) !== expected) expect(`${year}-${month}: ${daysIn(year, month)}`).toBe(`${year}-${month}: ${expected}`);
      }
    }
  });

  it('keeps parseFhirDate as it was on day bounds (0000-02-29 refused as Date.UTC reads year 0 as 1900; 2000-02-29 taken)', () => {
    expect(parseFhirDate('0000-02-29')).toBeUndefined();
    expect(parseFhirDate('0004-02-29')).toEqual({ date: '0004-02-29', precision: 'day' });
    expect(parseFhirDate('1900-02-29')).toBeUndefined();
    expect(parseFhirDate('2000-02-29')).toEqual({ date: '2000-02-29', precision: 'day' });
    expect(parseFhirDate('2023-04-31')).toBeUndefined();
  });
});

describe('dateAt', () => {
  it('gives the calendar date at an offset, whatever instants and offsets come in whatever order', () => {
    const instant = fc.integer({ min: -8.64e15 + 1e9, max: 8.64e15 - 1e9 });
    const offset = fc.constantFrom(14 * 60, -12 * 60, 0, 90);
    fc.assert(
      fc.property(fc.array(fc.tuple(instant, offset), { minLength: 1, maxLength: 6 }), (calls) => {
        for (const [t, off] of [...calls, ...calls]) {
          expect(dateAt(new Date(t), off)).toBe(new Date(t + off * 60_000).toISOString().slice(0, 10));
        }
      })
    );
  });

  it('gives the same dates near day boundaries, the ends of the Date range, and for fractional offsets', () => {
    const DAY = 86_400_000;
    const nearBoundary = fc.tuple(fc.integer({ min: -3_000, max: 3_000 }), fc.integer({ min: -3, max: 3 })).map(([d, ms]) => d * DAY + ms);
    const nearEnds = fc.tuple(fc.constantFrom(-8.64e15, 8.64e15), fc.integer({ min: -2 * DAY, max: 2 * DAY })).map(([end, ms]) => end + ms);
    const atEnds = fc.constantFrom(8.64e15, 8.64e15 - 1, -8.64e15, -8.64e15 + 1);
    // ±0.5 ms: a fractional `at` just either side of a day boundary (new Date truncates it).
    const offset = fc.oneof(fc.constantFrom(14 * 60, -12 * 60, 0, -1 / 120_000, 1 / 120_000), fc.double({ min: -1_000, max: 1_000, noNaN: true }));
    const reference = (t: number, off: number): string | RangeError => {
      try {
        return new Date(new Date(t).getTime() + off * 60_000).toISOString().slice(0, 10); // dateAt as it was
      } catch (err) {
        return err as RangeError;
      }
    };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.oneof(nearBoundary, nearEnds, atEnds), offset), { minLength: 1, maxLength: 12 }), (calls) => {
        for (const [t, off] of [...calls, ...calls]) {
          const expected = reference(t, off);
          if (expected instanceof RangeError) expect(() => dateAt(new Date(t), off)).toThrow(RangeError);
          else expect(dateAt(new Date(t), off)).toBe(expected);
        }
      }),
      { numRuns: 2_000 }
    );
  });

  it('files a fractional instant under the day of the time value new Date keeps (truncated toward 0)', () => {
    for (const day of [0, -1, -400, 12_345]) {
      const boundary = day * 86_400_000;
      // `at` = boundary − 0.5 ms: new Date keeps boundary for a negative one, boundary − 1 for a positive one.
      expect(dateAt(new Date(boundary), -1 / 120_000)).toBe(new Date(boundary - 0.5).toISOString().slice(0, 10));
      expect(dateAt(new Date(boundary - 1), 0)).toBe(new Date(boundary - 1).toISOString().slice(0, 10));
      expect(dateAt(new Date(boundary), 0)).toBe(new Date(boundary).toISOString().slice(0, 10));
    }
  });

  it('throws for an invalid now, as before', () => {
    expect(() => dateAt(new Date(NaN), 0)).toThrow(RangeError);
    expect(isInFuture({ date: '2999-01-01', precision: 'day' }, new Date())).toBe(true);
  });
});

describe('yearsBeforeToday keeps its last answer', () => {
  it('gives what computing it afresh gives, over calls with the day and the years changing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: Date.UTC(1999, 0, 1), max: Date.UTC(2031, 0, 1) }), fc.constantFrom(0, 1, 4, 100, 130, 131)), { maxLength: 30 }),
        (calls) => {
          for (const [time, years] of calls) {
            // Often the same day twice in a row, and leap days' neighbours.
            for (const now of [new Date(time), new Date(time + 3_600_000), new Date(Date.UTC(2024, 1, 29, 20))]) {
              expect(yearsBeforeToday(now, years)).toBe(yearsBefore(dateAt(now, MAX_OFFSET_BEHIND_MIN), years));
            }
          }
        }
      ),
      { numRuns: 300 }
    );
  });
});
