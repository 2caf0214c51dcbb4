// The pipeline's request objects built member by member (request-object.ts) against the object
// spreads they replace: the same own keys, in the same order, with the same values and prototype.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FhirMethod, FhirRequest } from '../fhir/request.js';
import { externalFields, routedRequest } from './request-object.js';
import type { RouteResult } from './router.js';

/** Own keys in order (symbols included), their values, and the prototype. */
function shape(o: object) {
  return { keys: Reflect.ownKeys(o), values: Reflect.ownKeys(o).map((k) => (o as Record<PropertyKey, unknown>)[k]), proto: Object.getPrototypeOf(o) };
}

const KEYS = ['method', 'url', 'prefer', 'body', 'contentType', 'ifMatch', 'ifNoneExist', 'requestId', 'query', 'resourceType', 'id', 'interaction', 'accept', '__proto__', 'x'];
const value = fc.oneof(fc.constant(undefined), fc.string(), fc.constant({ return: 'representation' }), fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 2 }));
/** Objects with arbitrary subsets of those keys in arbitrary order, some values undefined; `__proto__` as an own key (as JSON.parse makes it), sometimes a symbol key. */
const source = fc
  .tuple(fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 8 }), fc.array(value, { minLength: 8, maxLength: 8 }), fc.boolean())
  .map(([keys, values, symbol]) => {
    const o: Record<PropertyKey, unknown> = {};
    keys.forEach((k, i) => Object.defineProperty(o, k, { value: values[i], enumerable: true, writable: true, configurable: true }));
    if (symbol) o[Symbol('s')] = 1;
    return o;
  });

describe('pipeline request objects', () => {
  it('externalFields equals the destructuring and spread it replaces (fast-check)', () => {
    fc.assert(
      fc.property(source, fc.option(fc.string(), { nil: undefined }), (input, requestId) => {
        const typed = input as { method: unknown; url: unknown; prefer?: unknown };
        const { method: _m, url: _u, prefer, ...fields } = typed;
        const expected = requestId === undefined ? { ...fields, prefer: prefer ?? {} } : { ...fields, requestId, prefer: prefer ?? {} };
        const built = externalFields(typed, requestId === undefined ? undefined : { value: requestId });
        expect(shape(built)).toEqual(shape(expected));
      }),
      { numRuns: 500 }
    );
  });

  it('routedRequest equals the spread it replaces (fast-check)', () => {
    const routed: RouteResult = { resourceType: 'Patient', id: undefined, versionId: undefined, operation: undefined, interaction: 'search-type' } as RouteResult;
    fc.assert(
      fc.property(source, fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 3 }), fc.constantFrom<FhirMethod>('GET', 'POST', 'PUT'), (input, query, method) => {
        const fields = input as Omit<Partial<FhirRequest>, 'method'>;
        if (fields.query !== undefined && !Array.isArray(fields.query)) return; // not a FhirRequest's query
        const expected = {
          prefer: {},
          ...fields,
          method,
          query: [...query, ...(fields.query ?? [])],
          resourceType: routed.resourceType,
          id: routed.id,
          versionId: routed.versionId,
          operation: routed.operation,
          interaction: routed.interaction,
        };
        const built = routedRequest(method, query, routed, fields);
        expect(shape(built)).toEqual(shape(expected));
        expect(built.query).not.toBe(query); // a new array, as the spread's
      }),
      { numRuns: 500 }
    );
  });
});
