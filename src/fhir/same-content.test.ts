import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stampMeta } from '../store/store.js';
import { canonicalJson, jsonEqual, sameStoredContent } from './same-content.js';

/** Keys that matter here: ordinary ones, and the ones the code treats specially. */
const key = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('__proto__', 'meta', 'versionId', 'lastUpdated', 'id', 'tag'));

/** JSON-like data as code builds it: with undefined members, NaN/Infinity, -0, and "__proto__" own keys. */
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 4 }),
    fc.integer({ min: -3, max: 3 }),
    fc.constantFrom(0, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, true, false, null, undefined),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 })
  ),
}));

/** A deep copy with every object's keys in another order (reversed, or rotated by `shift`). */
function reordered(v: unknown, shift: number): unknown {
  if (Array.isArray(v)) return v.map((x) => reordered(x, shift));
  if (v === null || typeof v !== 'object') return v;
  const entries = Object.keys(v).map((k) => [k, reordered((v as Record<string, unknown>)[k], shift)] as const);
  const n = entries.length;
  const order = shift === 0 ? entries.reverse() : entries.map((_, i) => entries[(i + shift) % n]);
  return Object.fromEntries(order);
}

describe('jsonEqual', () => {
  it('agrees with comparing sorted-key JSON text, for any two values', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        expect(jsonEqual(a, b)).toBe(canonicalJson(a) === canonicalJson(b));
      }),
      { numRuns: 2000 }
    );
  });

  it('does not depend on key order, and sees a change of one member', () => {
    fc.assert(
      fc.property(fc.dictionary(key, value, { minKeys: 1, maxKeys: 6 }), fc.nat(5), key, value, (a, shift, k, v) => {
        expect(jsonEqual(a, reordered(a, shift))).toBe(true);
        expect(jsonEqual(reordered(a, shift), a)).toBe(true);
        const changed = Object.fromEntries([...Object.entries(reordered(a, shift) as object), [k, v]]);
        expect(jsonEqual(a, changed)).toBe(canonicalJson(a) === canonicalJson(changed));
      }),
      { numRuns: 2000 }
    );
  });

  it('follows JSON for the edge cases', () => {
    expect(jsonEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(jsonEqual([undefined], [null])).toBe(true);
    expect(jsonEqual([undefined], [])).toBe(false);
    expect(jsonEqual(Number.NaN, null)).toBe(true);
    expect(jsonEqual(0, -0)).toBe(true);
    expect(jsonEqual('1', 1)).toBe(false);
    expect(jsonEqual(JSON.parse('{"__proto__":{"x":1}}'), JSON.parse('{"__proto__":{"x":1}}'))).toBe(true);
    expect(jsonEqual(JSON.parse('{"__proto__":{"x":1}}'), {})).toBe(false);
    // not plain data: never "the same" unless it is the same value
    expect(jsonEqual(new Date(0), new Date(0))).toBe(false);
    expect(jsonEqual({ d: new Date(0) }, { d: '1970-01-01T00:00:00.000Z' })).toBe(false);
  });
});

describe('sameStoredContent', () => {
  const resource = fc
    .tuple(fc.dictionary(key, value, { maxKeys: 5 }), fc.option(fc.dictionary(key, value, { maxKeys: 3 }), { nil: undefined }))
    .map(([rest, meta]) => {
      const r = Object.fromEntries([...Object.entries(rest).filter(([k]) => k !== 'meta' && k !== 'resourceType' && k !== 'id'), ['resourceType', 'Patient'], ['id', 'p1']]);
      if (meta !== undefined) Object.defineProperty(r, 'meta', { value: meta, enumerable: true, writable: true, configurable: true });
      return r as unknown as Resource;
    });

  it('a resource is the same as its stored version, whatever the version, instant and key order', () => {
    fc.assert(
      fc.property(resource, fc.integer({ min: 1, max: 99 }), fc.nat(5), (r, v, shift) => {
        const stored = JSON.parse(JSON.stringify(stampMeta(reordered(r, shift) as Resource, 'p1', v, '2026-01-01T00:00:00.000Z'))) as Resource;
        expect(sameStoredContent(r, stored)).toBe(true);
      }),
      { numRuns: 1000 }
    );
  });

  it('agrees with comparing the stored forms without versionId and lastUpdated', () => {
    // The reference: what the store would write for each (stampMeta: `meta ?? {}` with the two
    // server fields set), with those two fields cut.
    const storedForm = (r: Resource) => {
      const s = JSON.parse(JSON.stringify({ ...r, meta: { ...(r.meta ?? {}), versionId: '1', lastUpdated: 'x' } })) as Resource & { meta: Record<string, unknown> };
      delete s.meta.versionId;
      delete s.meta.lastUpdated;
      return canonicalJson(s);
    };
    fc.assert(
      fc.property(resource, resource, (a, b) => {
        expect(sameStoredContent(a, b)).toBe(storedForm(a) === storedForm(b));
      }),
      { numRuns: 2000 }
    );
    fc.assert(
      fc.property(resource, key, value, (a, k, v) => {
        const b = Object.fromEntries([...Object.entries(a), [k, v]]) as unknown as Resource;
        if (k === 'meta' && (v === null || typeof v !== 'object' || Array.isArray(v))) return; // not a meta the store can stamp
        expect(sameStoredContent(a, b)).toBe(storedForm(a) === storedForm(b));
      }),
      { numRuns: 2000 }
    );
  });

  it('treats an empty meta like none, and only versionId/lastUpdated as the store\u2019s', () => {
    const p = { resourceType: 'Patient', id: 'p1', gender: 'female' } as Resource;
    expect(sameStoredContent(p, { ...p, meta: { versionId: '3', lastUpdated: '2026-01-01T00:00:00.000Z' } })).toBe(true);
    expect(sameStoredContent({ ...p, meta: {} }, p)).toBe(true);
    expect(sameStoredContent({ ...p, meta: { tag: [{ code: 'x' }] } }, { ...p, meta: { versionId: '3' } })).toBe(false);
    expect(sameStoredContent({ ...p, meta: { source: 'a' } }, { ...p, meta: { source: 'b', versionId: '1' } })).toBe(false);
    expect(sameStoredContent({ ...p, gender: 'male' } as Resource, p)).toBe(false);
  });
});
