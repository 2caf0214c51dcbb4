// Filter documents evaluated in process over StoredDoc (embedded store scans, bulk export's check
// of deleted resources). mingo decides everything, except long `$in` / `$nin` lists of strings (an export's access filter hides thousands of patients, a Group export
// names thousands of members): mingo tests those against every list element for every document,
// so they are answered here with a Set, with MongoDB's semantics for a plain field path (an array
// matches when any element is listed; a missing field matches `$nin`, never `$in`).
import { filterQuery } from './mingo-query.js';
import type { Filter, StoredDoc } from './store.js';

/** Lists shorter than this stay with mingo (no gain). */
const SET_THRESHOLD = 16;
const SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export type DocPredicate = (doc: StoredDoc) => boolean;

/** undefined for an empty filter (everything matches). */
export function scanPredicate(filter: Filter): DocPredicate | undefined {
  if (Object.keys(filter).length === 0) return undefined;
  const parts = isAndOnly(filter) ? (filter.$and as Filter[]) : [filter];
  const fast: DocPredicate[] = [];
  const rest: Filter[] = [];
  for (const part of parts) {
    const p = setMembership(part);
    if (p) fast.push(p);
    else rest.push(part);
  }
  const query = rest.length === 0 ? undefined : filterQuery(rest.length === 1 ? rest[0] : { $and: rest });
  if (fast.length === 0) return query ? (doc) => query.test(doc as unknown as Record<string, unknown>) : undefined;
  return (doc) => {
    for (const p of fast) if (!p(doc)) return false;
    return query ? query.test(doc as unknown as Record<string, unknown>) : true;
  };
}

function isAndOnly(filter: Filter): boolean {
  const keys = Object.keys(filter);
  return keys.length === 1 && keys[0] === '$and' && Array.isArray(filter.$and) && filter.$and.every(isPlainObject);
}

/** `{ path: { $in: [strings…] } }` or `$nin`, on a plain dotted path, as a Set lookup. */
function setMembership(part: Filter): DocPredicate | undefined {
  const keys = Object.keys(part);
  if (keys.length !== 1) return undefined;
  const path = keys[0];
  const segments = path.split('.');
  if (!segments.every((s) => SEGMENT.test(s))) return undefined;
  const cond = part[path];
  if (!isPlainObject(cond)) return undefined;
  const ops = Object.keys(cond);
  if (ops.length !== 1 || (ops[0] !== '$in' && ops[0] !== '$nin')) return undefined;
  const list = cond[ops[0]];
  if (!Array.isArray(list) || list.length < SET_THRESHOLD || !list.every((v) => typeof v === 'string')) return undefined;
  const set = new Set(list as string[]);
  const negate = ops[0] === '$nin';
  return (doc) => {
    const hit = anyValueIn(doc, segments, 0, set);
    return negate ? !hit : hit;
  };
}

/** Whether a value at the path (arrays traversed and their elements compared, as MongoDB does) is in the set. */
function anyValueIn(value: unknown, segments: string[], i: number, set: Set<string>): boolean {
  if (i === segments.length) {
    if (typeof value === 'string') return set.has(value);
    if (Array.isArray(value)) return value.some((v) => typeof v === 'string' && set.has(v));
    return false;
  }
  if (Array.isArray(value)) return value.some((v) => isObject(v) && anyValueIn(v[segments[i]], segments, i + 1, set));
  if (!isObject(value)) return false;
  return anyValueIn(value[segments[i]], segments, i + 1, set);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}
