// The quick test of an identifier's `$elemMatch` (elem-match.ts) must give mingo's answer whenever it
// gives one: fast-check over documents of plain and odd shapes (arrays of plain objects, nested
// arrays, numbers, null, objects instead of arrays, missing fields) and filters of one to three
// string fields; and it must decide the plain shape the search compiler and the store produce.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filterQuery } from '../mingo-query.js';
import { elemMatchTest } from './elem-match.js';

const WORDS = ['x', 'y', 'B-1', 'http://a|b', ''];
const scalar = fc.oneof(fc.constantFrom(...WORDS), fc.integer({ min: -1, max: 1 }), fc.constant(null), fc.boolean());
const field = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 1, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...WORDS), { maxLength: 2 }) },
  { weight: 1, arbitrary: fc.constant(undefined) }
);
const element = fc.oneof(
  { weight: 6, arbitrary: fc.record({ c: field, s: field, v: field }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(fc.record({ c: field, s: field }, { requiredKeys: [] }), { maxLength: 2 }) }
);
const identifiers = fc.oneof(
  { weight: 6, arbitrary: fc.array(element, { maxLength: 4 }) },
  { weight: 1, arbitrary: element },
  { weight: 1, arbitrary: fc.constant(undefined) }
);
const docArb = fc.oneof(
  { weight: 6, arbitrary: identifiers.map((identifier) => ({ _id: 'a', s: identifier === undefined ? {} : { identifier } })) },
  { weight: 1, arbitrary: fc.array(identifiers.map((identifier) => ({ identifier })), { maxLength: 2 }).map((s) => ({ _id: 'a', s })) },
  { weight: 1, arbitrary: fc.constant({ _id: 'a' }) }
);
const filterArb = fc
  .uniqueArray(fc.constantFrom('c', 's', 'v'), { minLength: 1, maxLength: 3 })
  .chain((keys) => fc.tuple(...keys.map((k) => fc.constantFrom(...WORDS).map((w) => [k, w] as const))))
  .map((pairs) => ({ 's.identifier': { $elemMatch: Object.fromEntries(pairs) } }));

describe("embedded store: an identifier's $elemMatch decided without mingo", () => {
  it('gives mingo’s answer whenever it answers', () => {
    fc.assert(
      fc.property(filterArb, docArb, (filter, doc) => {
        const quick = elemMatchTest(filter);
        expect(quick).toBeDefined();
        const decided = quick!(doc);
        if (decided !== undefined) expect(decided).toBe(filterQuery(filter).test(doc));
      }),
      { numRuns: 3000 }
    );
  });

  it('decides the plain shape, including through a class instance at the top (the store’s document)', () => {
    class Doc {
      constructor(private readonly search: unknown) {}
      get s(): unknown {
        return this.search;
      }
    }
    const filter = { 's.identifier': { $elemMatch: { c: 'B-1', s: 'http://a|b' } } };
    const test = elemMatchTest(filter)!;
    expect(test(new Doc({ identifier: [{ c: 'x', s: 'http://a|b' }, { c: 'B-1', s: 'http://a|b' }] }))).toBe(true);
    expect(test(new Doc({ identifier: [{ c: 'B-1', s: 'y' }, { c: 'x', s: 'http://a|b' }] }))).toBe(false);
    expect(test(new Doc({ identifier: [{ c: 'B-1' }] }))).toBe(false);
  });

  it('leaves every other filter to mingo', () => {
    for (const filter of [
      { 's.identifier': { $elemMatch: { c: 1 } } },
      { 's.identifier': { $elemMatch: { c: { $in: ['x'] } } } },
      { 's.identifier': { $elemMatch: {} } },
      { 's.identifier.c': 'x' },
      { 's.identifier': { $elemMatch: { c: 'x' } }, 's.other': 'y' },
      { 's.identifier.0': { $elemMatch: { c: 'x' } } },
      { $and: [{ 's.identifier': { $elemMatch: { c: 'x' } } }] },
    ]) {
      expect(elemMatchTest(filter as Record<string, unknown>)).toBeUndefined();
    }
  });
});
