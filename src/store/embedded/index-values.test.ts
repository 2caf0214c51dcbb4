import type { Immunization, Patient } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractSearchIndex } from '../../search/extract.js';
import { dateSpan, indexDef, indexTuples, indexValues, isPlainJsonData, MAX_INDEXED_CHARS, truncated, type Scalar } from './index-values.js';

// The store takes a write's index entries from the search values as given when isPlainJsonData
// says so, and from the parse of their stored JSON otherwise: both must give the same entries.
const DEFS = [
  indexDef(1, 'T', 's.a', false),
  indexDef(2, 'T', 's.a.c', false),
  indexDef(3, 'T', 's.b.lo', false),
  indexDef(4, 'T', 's._sort.a', false),
  indexDef(5, 'T', 's.a.c+s.b.lo', false),
  indexDef(6, 'T', 's.c', false),
];

const roundTrip = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? 'null') as unknown;
const doc = (s: unknown) => ({ _id: 'x', lastUpdated: '2026-12-06T00:00:00.000Z', s });

/** Values like search values, with the ones JSON changes mixed in (-0, dates, boxed values, odd prototypes). */
const searchValues = fc.anything({
  key: fc.constantFrom('a', 'b', 'c', 'lo', 'hi', '_sort', 'toJSON'),
  maxDepth: 4,
  values: [
    fc.string({ maxLength: 4 }),
    fc.constantFrom('2024-03-10T00:00:00.000Z', '2024-03-10T23:59:59.999Z', '2025-01-01T00:00:00.000Z'),
    fc.double(),
    fc.constantFrom(0, -0, 1, NaN, Infinity),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
  ],
  withBoxedValues: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withMap: true,
  withSet: true,
});

describe('isPlainJsonData', () => {
  it('holds only for values whose index entries and date spans survive a JSON round trip unchanged (fast-check)', () => {
    let plain = 0;
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'c', '_sort'), searchValues), (s) => {
        if (!isPlainJsonData(s)) return;
        plain++;
        const parsed = roundTrip(s);
        for (const def of DEFS) expect(indexTuples(doc(s), def)).toEqual(indexTuples(doc(parsed), def));
        expect(dateSpan(doc(s), ['s', 'b'])).toEqual(dateSpan(doc(parsed), ['s', 'b']));
      }),
      { numRuns: 2_000 }
    );
    expect(plain).toBeGreaterThan(100); // the property was exercised, not vacuous
  });

  it('refuses what JSON writes differently: -0, non-finite numbers, dates, boxed values, toJSON, class instances, maps', () => {
    for (const bad of [-0, NaN, Infinity, new Date(0), Object('x'), { toJSON: () => 'y' }, new Map(), new (class Point {})(), () => 1, Symbol('s')]) {
      expect(isPlainJsonData({ a: [{ c: bad }] })).toBe(false);
    }
    expect(isPlainJsonData({ a: [{ c: 'x', n: 1.5 }, null, undefined], b: { lo: 'l', hi: 'h' }, d: Object.create(null) })).toBe(true);
  });

  it('holds for the search values the server extracts from an Immunization and a Patient (the fast path is taken)', () => {
    const imm: Immunization = {
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] },
      patient: { reference: 'Patient/p1' },
      occurrenceDateTime: '2024-03-12',
      primarySource: true,
      lotNumber: 'L123',
    };
    const patient: Patient = {
      resourceType: 'Patient',
      name: [{ family: 'Smith', given: ['Ann', 'Marie'] }],
      birthDate: '2020-01-02',
      gender: 'female',
      identifier: [{ system: 'urn:mrn', value: '42' }],
      address: [{ city: 'Springfield', postalCode: '12345' }],
    };
    for (const resource of [imm, patient]) {
      const s = extractSearchIndex(resource);
      expect(Object.keys(s).length).toBeGreaterThan(3);
      expect(isPlainJsonData(s)).toBe(true);
      expect(roundTrip(s)).toEqual(s);
    }
  });
});

/** indexValues as it was before session 9 (a Set per call): the reference for the short-list version. */
function indexValuesReference(doc: unknown, segments: string[], sort: boolean): Array<Scalar | null> {
  const out = new Set<Scalar>();
  const walk = (value: unknown, i: number, depth: number): void => {
    if (value === undefined || value === null || depth > 16) return;
    if (Array.isArray(value)) {
      for (const el of value) walk(el, i, depth + 1);
      return;
    }
    if (i === segments.length) {
      if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) out.add(truncated(value));
      return;
    }
    if (typeof value === 'object') walk((value as Record<string, unknown>)[segments[i]], i + 1, depth + 1);
  };
  walk(doc, 0, 0);
  if (out.size === 0) return sort ? [null] : [];
  return [...out];
}

describe('indexValues', () => {
  it('gives the distinct values in first-met order, as a Set did, for few and many values (fast-check)', () => {
    const long = 'x'.repeat(MAX_INDEXED_CHARS);
    const scalar = fc.oneof(
      fc.constantFrom('a', 'b', 'c', 'A', '', long + 'y', long + 'z', long, 0, -0, 1, 2.5, NaN, Infinity, true, null),
      fc.string({ maxLength: 3 }),
      fc.integer({ min: -3, max: 40 })
    );
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 40 }), fc.array(fc.record({ c: fc.oneof(scalar, fc.array(scalar, { maxLength: 30 })) }), { maxLength: 6 }));
    const defs = [indexDef(1, 'T', 's.a', false), indexDef(2, 'T', 's.a.c', false), indexDef(3, 'T', 's._sort.a', false)];
    fc.assert(
      fc.property(value, (a) => {
        const d = doc({ a, _sort: { a } });
        for (const def of defs) {
          const got = indexValues(d, def);
          const want = indexValuesReference(d, def.segments, def.sort);
          expect(got).toEqual(want);
          // toEqual does not tell -0 from 0: compare each value's identity too.
          expect(got.map((v) => Object.is(v, -0))).toEqual(want.map((v) => Object.is(v, -0)));
        }
      }),
      { numRuns: 3000 }
    );
  });
});
