// The filter of a token search by system and code, `{ 's.identifier': { $elemMatch: { c: 'x', s: 'y' } } }`
// (every identifier look-up: a VXU's PID-3 patient and ORC-3 dose, conditional creates and updates),
// decided on a candidate without mingo, whose query construction and evaluation cost more than the
// rest of such a search. Only plain shapes are decided: a path of plain objects down to an array of
// plain objects whose compared fields are strings or absent. Any other shape (nested arrays, numbers,
// null, an object instead of an array…) answers undefined and mingo decides, as before.

/** true / false when the document's shape is plain enough to tell; undefined: ask mingo. */
export type QuickTest = (doc: object) => boolean | undefined;

/** A path segment that is a plain field name (no array index, no operator). */
const FIELD = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The quick test of a filter of that one shape, or undefined for any other filter. */
export function elemMatchTest(filter: Record<string, unknown>): QuickTest | undefined {
  const paths = Object.keys(filter);
  if (paths.length !== 1) return undefined;
  const segments = paths[0].split('.');
  if (!segments.every((s) => FIELD.test(s))) return undefined;
  const condition = filter[paths[0]];
  if (!isPlainObject(condition) || Object.keys(condition).length !== 1 || !('$elemMatch' in condition)) return undefined;
  const inner = condition.$elemMatch;
  if (!isPlainObject(inner)) return undefined;
  const fields = Object.entries(inner);
  if (fields.length === 0 || !fields.every(([k, v]) => FIELD.test(k) && typeof v === 'string')) return undefined;
  return (doc) => {
    // The document itself may be a class (the store's lazily parsed StoredDoc); below it, plain JSON.
    let value: unknown = doc;
    for (let i = 0; i < segments.length; i++) {
      if (i === 0 ? value === null || typeof value !== 'object' || Array.isArray(value) : !isPlainObject(value)) return undefined;
      value = (value as Record<string, unknown>)[segments[i]];
    }
    if (!Array.isArray(value)) return undefined;
    let found = false;
    for (const element of value) {
      if (!isPlainObject(element)) return undefined;
      let all = true;
      for (const [k, v] of fields) {
        const x = element[k];
        if (x !== undefined && typeof x !== 'string') return undefined;
        if (x !== v) all = false;
      }
      if (all) found = true;
    }
    return found;
  };
}
