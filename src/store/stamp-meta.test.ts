// stampMeta builds the stored copy of a written resource with Object.assign (V8's spread followed by
// more properties is ~10× slower on Node 20); it must give the very object the spread gave: the same
// JSON text (key order included), own keys, prototypes, and an own `__proto__` key kept as a key.
import fc from 'fast-check';
import type { Resource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { stampMeta, stampMetaBySpread } from './store.js';

const key = fc.oneof(fc.constantFrom('id', 'meta', '__proto__', 'resourceType', 'versionId', 'lastUpdated', '0', '12', 'a'), fc.string({ maxLength: 6 }));
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
const plain = fc.dictionary(key, value, { maxKeys: 8 });
/** Parsed JSON: an own `__proto__` key is a plain own key there. */
const parsed = plain.map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);
const meta = fc.oneof(plain, parsed, fc.constantFrom(undefined, null, 'ab', 7, true));
const resource = fc
  .tuple(fc.oneof(plain, parsed), fc.option(meta, { nil: undefined }), fc.boolean())
  .map(([body, m, withMeta]) => {
    const r = { resourceType: 'Immunization', ...body } as Record<string, unknown>;
    if (withMeta) Object.defineProperty(r, 'meta', { value: m, enumerable: true, writable: true, configurable: true });
    return r as unknown as Resource;
  });

function shape(o: unknown): unknown {
  if (o === null || typeof o !== 'object') return o;
  const own = Reflect.ownKeys(o).map((k) => [String(k), shape((o as Record<string | symbol, unknown>)[k])]);
  return { proto: Object.getPrototypeOf(o) === Object.prototype ? 'Object' : String(Object.getPrototypeOf(o)), own };
}

describe('stampMeta', () => {
  it('gives the object the spread gives: keys, order, values, prototypes', () => {
    fc.assert(
      fc.property(resource, fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 1e6 }), (r, id, v) => {
        const u = '2024-01-01T00:00:00.000Z';
        const fast = stampMeta(r, id, v, u);
        const slow = stampMetaBySpread(r, id, v, u);
        expect(JSON.stringify(fast)).toBe(JSON.stringify(slow));
        expect(shape(fast)).toEqual(shape(slow));
      }),
      { numRuns: 3000 }
    );
  });

  it('keeps an own __proto__ key of a parsed body as a key', () => {
    const r = JSON.parse('{"resourceType":"Patient","__proto__":{"x":1},"meta":{"__proto__":{"y":2},"source":"s"}}') as Resource;
    const stamped = stampMeta(r, 'p1', 2, '2024-01-01T00:00:00.000Z');
    expect(Object.getPrototypeOf(stamped)).toBe(Object.prototype);
    expect(JSON.stringify(stamped)).toBe(JSON.stringify(stampMetaBySpread(r, 'p1', 2, '2024-01-01T00:00:00.000Z')));
  });
});
