import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { httpDate, versionHeaders } from './respond.js';

describe('httpDate', () => {
  const reference = (instant: string): string => new Date(instant).toUTCString();
  // Instants a few ms apart (most in one second, as a transaction's writes are), any valid
  // date, other ISO forms, and strings that are no date at all, in any order.
  const near = fc.integer({ min: 0, max: 3_000 }).map((ms) => new Date(Date.UTC(2026, 11, 7, 0, 31, 59) + ms).toISOString());
  const anyDate = fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString());
  const otherForms = fc.constantFrom('2026-12-07', '2026-12-07T00:31:59Z', '2026-12-07T00:31:59.5+02:00', '2026-12-07T24:00:00.000Z', '2026-12-07T23:59:60.000Z', '1969-12-31T23:59:59.500Z');
  const junk = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('', 'Invalid Date', '2026-13-01T00:00:00.000Z', '2026-12-07T00:31:59.abcZ'));
  const instant = fc.oneof(near, near, anyDate, otherForms, junk);

  it('gives what new Date(instant).toUTCString() gives, whatever came before', () => {
    fc.assert(
      fc.property(fc.array(instant, { minLength: 1, maxLength: 20 }), (instants) => {
        for (const value of instants) expect(httpDate(value)).toBe(reference(value));
      }),
      { numRuns: 1_000 }
    );
  });

  it('is what versionHeaders sends as Last-Modified', () => {
    const lastUpdated = '2026-12-07T00:31:59.123Z';
    expect(versionHeaders({ resourceType: 'Patient', id: 'p', versionId: 3, lastUpdated, deleted: false } as never)).toEqual({
      ETag: 'W/"3"',
      'Last-Modified': 'Mon, 07 Dec 2026 00:31:59 GMT',
    });
  });
});
