// Whether writing a resource would store what is stored already. Both stores keep a resource as
// `JSON.stringify` of it with meta.versionId and meta.lastUpdated set (stampMeta), so two contents
// are the same when their JSON is equal whatever the order of keys, apart from those two meta
// fields. Used to leave out a version that would change nothing (WriteOp.verifyOnly).
import type { Resource } from '@medplum/fhirtypes';

/** How a value takes part in JSON: left out (in an object), null, a primitive, an array, a plain object, or not plain data. */
type Kind = 'omit' | 'null' | 'primitive' | 'array' | 'object' | 'other';

function kindOf(value: unknown): Kind {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return 'primitive';
    case 'number':
      return Number.isFinite(value) ? 'primitive' : 'null'; // NaN and ±Infinity are written as null
    case 'undefined':
    case 'function':
    case 'symbol':
      return 'omit';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return 'array';
      const proto = Object.getPrototypeOf(value) as unknown;
      if ((proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function') return 'object';
      return 'other';
    }
    default:
      return 'other'; // bigint: JSON.stringify throws
  }
}

/**
 * True when `JSON.stringify(a)` and `JSON.stringify(b)` hold the same data: the same values, with
 * object keys in any order (an undefined member counts as absent, as in JSON). Values that are not
 * plain JSON data (class instances, toJSON, bigint) are never equal unless they are the same value:
 * a false "different" only costs a write, a false "same" would lose one.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const kind = kindOf(a);
  if (kind !== kindOf(b)) return false;
  switch (kind) {
    case 'null':
    case 'omit':
      return true;
    case 'array':
      return arraysEqual(a as unknown[], b as unknown[]);
    case 'object':
      return objectsEqual(a as Record<string, unknown>, b as Record<string, unknown>);
    default:
      return false; // primitives that are not ===, and 'other'
  }
}

function arraysEqual(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    // In an array a left-out value is written as null.
    const kx = kindOf(x);
    const ky = kindOf(y);
    if ((kx === 'omit' || kx === 'null') && (ky === 'omit' || ky === 'null')) continue;
    if (!jsonEqual(x, y)) return false;
  }
  return true;
}

/** Own enumerable keys of both (JSON.stringify's), except `skip`, hold equal values; left-out members count as absent. */
function objectsEqual(a: Record<string, unknown>, b: Record<string, unknown>, skip?: ReadonlySet<string>): boolean {
  let present = 0;
  for (const key of Object.keys(a)) {
    if (skip?.has(key)) continue;
    const x = a[key];
    if (kindOf(x) === 'omit') continue;
    present++;
    if (!Object.hasOwn(b, key) || !Object.prototype.propertyIsEnumerable.call(b, key) || !jsonEqual(x, b[key])) return false;
  }
  let inB = 0;
  for (const key of Object.keys(b)) {
    if (skip?.has(key)) continue;
    if (kindOf(b[key]) !== 'omit') inB++;
  }
  return present === inB;
}

const RESOURCE_SKIP: ReadonlySet<string> = new Set(['meta']);
const META_SKIP: ReadonlySet<string> = new Set(['versionId', 'lastUpdated']);
const NO_META: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * True when storing `next` would store what `stored` holds: equal JSON whatever the key order,
 * apart from meta.versionId and meta.lastUpdated (the store sets them; a meta left empty without
 * them is the same as none, as the store writes both into it either way).
 */
export function sameStoredContent(next: Resource, stored: Resource): boolean {
  if (kindOf(next) !== 'object' || kindOf(stored) !== 'object') return false;
  const a = next as unknown as Record<string, unknown>;
  const b = stored as unknown as Record<string, unknown>;
  if (!objectsEqual(a, b, RESOURCE_SKIP)) return false;
  const metaA = metaOf(a);
  const metaB = metaOf(b);
  return metaA !== undefined && metaB !== undefined && objectsEqual(metaA, metaB, META_SKIP);
}

/** meta as the store will stamp it (`resource.meta ?? {}`); undefined for a meta that is no plain object. */
function metaOf(resource: Record<string, unknown>): Record<string, unknown> | undefined {
  const meta = Object.hasOwn(resource, 'meta') ? resource.meta : undefined;
  if (meta === undefined || meta === null) return NO_META;
  return kindOf(meta) === 'object' ? (meta as Record<string, unknown>) : undefined;
}

/**
 * The reference jsonEqual is checked against (same-content.test.ts): the JSON text with every
 * object's keys sorted. Slow (a serialise, parse and serialise again).
 */
export function canonicalJson(value: unknown): string | undefined {
  const text = JSON.stringify(value);
  if (text === undefined) return undefined;
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v === null || typeof v !== 'object') return v;
    // fromEntries, not assignment: a "__proto__" key stays an own key.
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sort((v as Record<string, unknown>)[k])])
    );
  };
  return JSON.stringify(sort(JSON.parse(text)));
}
