// parseQuery and splitUrl skip decoding what holds nothing to decode (no `%`, no `+`, no space
// before an offset): the same pairs, segments and errors as decoding everything.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseQuery, parseQueryReference, splitUrl } from './url.js';

function outcome(parse: () => unknown): unknown {
  try {
    return { ok: parse() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const PIECES = ['a', 'Z', '_', '-', '.', ':', '|', ',', '/', '=', '&', '?', '+', ' ', '%', '%2', '%20', '%2B', '%2b', '%3A', '%7C', '%E2%82%AC', '%C3', '%ZZ', 'é', '\uD800', '2024-01-02T10:00', '2024-01-02T10:00:00.5', '05:00', 'ge', 'eq', '😀'];
const text = fc.array(fc.constantFrom(...PIECES), { maxLength: 14 }).map((p) => p.join(''));

describe('parseQuery (shortcuts) against decoding every component', () => {
  it('gives the same pairs or the same error', () => {
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 20 })), (query) => {
        expect(outcome(() => parseQuery(query))).toEqual(outcome(() => parseQueryReference(query)));
      }),
      { numRuns: 3000 }
    );
  });
  it('restores the offset plus of a dateTime sent unescaped', () => {
    expect(parseQuery('date=ge2024-01-02T10:00:00+05:00,2024-01-03T10:00+01:00&x=a+b&y=%2B')).toEqual([
      ['date', 'ge2024-01-02T10:00:00+05:00,2024-01-03T10:00+01:00'],
      ['x', 'a b'],
      ['y', '+'],
    ]);
  });
});

describe('splitUrl path segments', () => {
  it('a segment without `%` is what decodeURIComponent makes of it', () => {
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ maxLength: 20 })), (segment) => {
        const clean = segment.replace(/[/?]/g, '');
        const decoded = outcome(() => clean.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s)));
        const split = outcome(() => splitUrl(clean).segments);
        if ((decoded as { error?: string }).error) expect((split as { error?: string }).error).toMatch(/not valid percent-encoding/);
        else expect(split).toEqual(decoded);
      }),
      { numRuns: 3000 }
    );
  });
});
