// What one ordered index holds for one document: the scalar values found at the index's StoredDoc
// path, traversing arrays at every level like MongoDB does (so `s.identifier.c` holds the code of
// every identifier). Only strings and finite numbers are indexed; booleans, nulls and objects are
// not, and a filter on them is evaluated on candidates from another index (or a scan).
//
// Sort paths (`s._sort.<code>`, `lastUpdated`) also get a null entry when the document has no value,
// so walking the index visits every live document, missing values first, as MongoDB sorts them.

/** Longest string kept in an index key; longer values are cut (the filter is re-checked on candidates). */
export const MAX_INDEXED_CHARS = 200;

export type Scalar = string | number;

export interface IndexDef {
  /** Short number used in keys instead of (type, path). */
  n: number;
  type: string;
  path: string;
  segments: string[];
  /** Single-valued sort key: missing values get a null entry. */
  sort: boolean;
  /** Some document held several values (then range conditions on the path are not intersected). */
  multi: boolean;
}

/** Sort paths: one value per document by construction (extract.ts `_sort`, the document's own instant). */
export function isSortPath(path: string): boolean {
  return path === 'lastUpdated' || path.startsWith('s._sort.');
}

export function indexable(v: unknown): v is Scalar {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

export function truncated(v: Scalar): Scalar {
  return typeof v === 'string' && v.length > MAX_INDEXED_CHARS ? v.slice(0, MAX_INDEXED_CHARS) : v;
}

function collect(value: unknown, segments: string[], i: number, out: Set<Scalar>, depth: number): void {
  if (value === undefined || value === null || depth > 16) return;
  if (Array.isArray(value)) {
    for (const el of value) collect(el, segments, i, out, depth + 1);
    return;
  }
  if (i === segments.length) {
    if (indexable(value)) out.add(truncated(value));
    return;
  }
  if (typeof value === 'object') collect((value as Record<string, unknown>)[segments[i]], segments, i + 1, out, depth + 1);
}

/** The index values of a document (StoredDoc-shaped: `_id`, `lastUpdated`, `s`); null alone for a sort path without value. */
export function indexValues(doc: unknown, def: IndexDef): Array<Scalar | null> {
  const out = new Set<Scalar>();
  collect(doc, def.segments, 0, out, 0);
  if (out.size === 0) return def.sort ? [null] : [];
  return [...out];
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
