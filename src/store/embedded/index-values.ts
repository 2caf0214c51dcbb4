// What one ordered index holds for one document: the scalar values found at the index's StoredDoc
// path, traversing arrays at every level like MongoDB does (so `s.identifier.c` holds the code of
// every identifier). Only strings and finite numbers are indexed; booleans, nulls and objects are
// not, and a filter on them is evaluated on candidates from another index (or a scan).
//
// Sort paths (`s._sort.<code>`, `lastUpdated`) also get a null entry when the document has no value,
// so walking the index visits every live document, missing values first, as MongoDB sorts them.
//
// A compound index names several paths joined by `+` (`s.vaccine-code.c+s.date.lo`): its entries
// are every combination of the parts' values, ordered by the first part, then the next, then id, so
// an equality on the first part and a range on the second is one short walk, and a compound of
// sort paths (`s._sort.family+s._sort.birthdate`) walks in the order of a two-key `_sort`.

/** Longest string kept in an index key; longer values are cut (the filter is re-checked on candidates). */
export const MAX_INDEXED_CHARS = 200;

export type Scalar = string | number;

export interface IndexDef {
  /** Short number used in keys instead of (type, path). */
  n: number;
  type: string;
  path: string;
  segments: string[];
  /** The parts' paths of a compound index (`a+b`), else undefined. */
  parts?: string[];
  /** Single-valued sort key (for a compound: every part is one): missing values get a null entry. */
  sort: boolean;
  /** Some document held several values (then range conditions on the path are not intersected). */
  multi: boolean;
  /** For a path ending in `.lo`: the `{lo, hi}` objects' path, whose widest span a write records (dateSpan). */
  span?: { base: string; segments: string[] };
  /**
   * Whether `stats` keeps an entry count per value. Not for a compound of sort keys (it only
   * orders), nor for an index configured uncounted (EmbeddedStoreOptions.uncounted: its values'
   * entries are counted where a count is needed, by a capped walk of the entries themselves).
   */
  counted: boolean;
}

/** Sort paths: one value per document by construction (extract.ts `_sort`, the document's own instant). */
export function isSortPath(path: string): boolean {
  if (path.includes('+')) return path.split('+').every(isSortPath);
  return path === 'lastUpdated' || path.startsWith('s._sort.');
}

/** The definition of an index on `path` (a StoredDoc path, or compound paths joined by `+`). */
export function indexDef(n: number, type: string, path: string, multi: boolean, uncounted = false): IndexDef {
  const parts = path.includes('+') ? path.split('+') : undefined;
  const base = path.endsWith('.lo') ? path.slice(0, -3) : undefined;
  const sort = isSortPath(path);
  return {
    n,
    type,
    path,
    segments: path.split('.'),
    ...(parts ? { parts } : {}),
    sort,
    multi,
    ...(base !== undefined ? { span: { base, segments: base.split('.') } } : {}),
    counted: !uncounted && !(parts && sort),
  };
}

export function indexable(v: unknown): v is Scalar {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

export function truncated(v: Scalar): Scalar {
  return typeof v === 'string' && v.length > MAX_INDEXED_CHARS ? v.slice(0, MAX_INDEXED_CHARS) : v;
}

/**
 * The distinct values found, in the order first met (as a Set keeps them; `includes` compares alike:
 * SameValueZero). An array while short (most paths hold one to a few values: no Set per call), a Set
 * from LIST_MAX values on.
 */
const LIST_MAX = 16;

interface Found {
  list: Scalar[];
  set: Set<Scalar> | undefined;
}

function collect(value: unknown, segments: string[], i: number, out: Found, depth: number): void {
  if (value === undefined || value === null || depth > 16) return;
  if (Array.isArray(value)) {
    for (const el of value) collect(el, segments, i, out, depth + 1);
    return;
  }
  if (i === segments.length) {
    if (indexable(value)) add(out, truncated(value));
    return;
  }
  if (typeof value === 'object') collect((value as Record<string, unknown>)[segments[i]], segments, i + 1, out, depth + 1);
}

function add(out: Found, value: Scalar): void {
  const v = value === 0 ? 0 : value; // -0 as +0, as a Set stores it
  if (out.set !== undefined) {
    if (!out.set.has(v)) {
      out.set.add(v);
      out.list.push(v);
    }
    return;
  }
  if (out.list.includes(v)) return;
  out.list.push(v);
  if (out.list.length >= LIST_MAX) out.set = new Set(out.list);
}

function valuesAt(doc: unknown, segments: string[], sort: boolean): Array<Scalar | null> {
  const out: Found = { list: [], set: undefined };
  collect(doc, segments, 0, out, 0);
  if (out.list.length === 0) return sort ? [null] : [];
  return out.list;
}

/** The index values of a document (StoredDoc-shaped: `_id`, `lastUpdated`, `s`); null alone for a sort path without value. */
export function indexValues(doc: unknown, def: IndexDef): Array<Scalar | null> {
  return valuesAt(doc, def.segments, def.sort);
}

/** The key tuples (the key between the index number and the id) of a document: one value, or a compound's combinations. */
export function indexTuples(doc: unknown, def: IndexDef): Array<Array<Scalar | null>> {
  if (!def.parts) return indexValues(doc, def).map((v) => [v]);
  let tuples: Array<Array<Scalar | null>> = [[]];
  for (const part of def.parts) {
    const values = valuesAt(doc, part.split('.'), def.sort);
    tuples = tuples.flatMap((t) => values.map((v) => [...t, v]));
    if (tuples.length === 0) return tuples;
  }
  return tuples;
}

/**
 * The widest range (hi − lo, in ms) of the `{lo, hi}` date objects at `base` (e.g. `s.date`): lets
 * the planner turn a condition on `hi` into a range on the indexed `lo` (hi ≥ x ⇒ lo ≥ x − span).
 */
export function dateSpan(doc: unknown, segments: string[]): number | undefined {
  const objects: unknown[] = [];
  const walk = (value: unknown, i: number, depth: number): void => {
    if (value === undefined || value === null || depth > 16) return;
    if (Array.isArray(value)) {
      for (const el of value) walk(el, i, depth + 1);
      return;
    }
    if (i === segments.length) {
      objects.push(value);
      return;
    }
    if (typeof value === 'object') walk((value as Record<string, unknown>)[segments[i]], i + 1, depth + 1);
  };
  walk(doc, 0, 0);
  let span: number | undefined;
  for (const o of objects) {
    if (typeof o !== 'object' || o === null) continue;
    const { lo, hi } = o as { lo?: unknown; hi?: unknown };
    if (typeof lo !== 'string' || typeof hi !== 'string') continue;
    const d = Date.parse(hi) - Date.parse(lo);
    if (Number.isFinite(d) && d >= 0 && (span === undefined || d > span)) span = d;
  }
  return span;
}

/**
 * True when `value` is JSON data that JSON.stringify then JSON.parse gives back unchanged as far as
 * indexTuples and dateSpan can tell: strings, booleans, null, finite numbers other than -0 (written
 * as 0), undefined members (left out, or null in arrays: both are skipped), and plain arrays and
 * objects of those (prototype Array / Object / null, no toJSON). A write's index entries are then
 * taken from the search values as given instead of from a parse of the JSON just written (which the
 * entries must agree with: that JSON is what a later update or delete removes them by).
 */
export function isPlainJsonData(value: unknown, depth = 0): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      if (depth > 32) return false;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return false;
        for (let i = 0; i < value.length; i++) if (!isPlainJsonData(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      if (Object.prototype.hasOwnProperty.call(value, 'toJSON')) return false;
      for (const key in value) {
        if (!isPlainJsonData((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
