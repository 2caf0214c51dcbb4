// Turns a MongoDB filter document into index ranges: the necessary conditions of the filter that an
// ordered index (or the primary key `_id`) can answer. Every condition found is implied by the
// filter, so the documents in its range are a superset of the matches; the store picks the most
// selective one, checks the other single-value ones by key look-up, and evaluates the whole filter
// on what is left. A condition that cannot be proven necessary is simply not used.
//
// Recognised: equality, `$eq`, `$in`, `$all` (scalars), `$gt`/`$gte`/`$lt`/`$lte` (one type of
// scalar), `$regex` with a literal `^prefix` (no options), `$elemMatch` members (`path.member`),
// `$and` (all conditions), `$or` (a union, when every branch has a usable condition). MongoDB's type
// bracketing holds: a range over strings never matches numbers and the reverse.
import type { Filter } from '../store.js';
import type { Scalar } from './index-values.js';

export interface Bound {
  v: Scalar;
  inclusive: boolean;
}

/** Values between lo and hi (absent: unbounded) of one kind. A point has lo = hi, both inclusive. */
export interface Interval {
  kind: 'string' | 'number';
  lo?: Bound;
  hi?: Bound;
  /** Compound index: the value of its first part this interval (on the second part) lies under. */
  prefix?: Scalar;
}

/** The document holds a value at `path` inside one of the intervals. */
export interface PathCondition {
  kind: 'path';
  path: string;
  intervals: Interval[];
}

/** One of the branches holds (each branch: the conditions all of which hold in it). */
export interface OrCondition {
  kind: 'or';
  branches: Condition[][];
}

export type Condition = PathCondition | OrCondition;

export interface PlannerContext {
  /** True when the path (a StoredDoc path, or `_id`) has an index. */
  indexed(path: string): boolean;
  /** True when no document holds more than one value at the path: conditions on it can be intersected. */
  singleValued(path: string): boolean;
  /** Widest hi − lo (ms) stored under a `{lo, hi}` date path such as `s.date` (for derived `lo` ranges). */
  span(path: string): number | undefined;
}

const LITERAL_PREFIX = /^\^((?:[^\\^$.|?*+()[\]{}]|\\[\\^$.|?*+()[\]{}/-])*)/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isOperatorObject(v: unknown): v is Record<string, unknown> {
  return isPlainObject(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k.startsWith('$'));
}

function kindOf(v: unknown): 'string' | 'number' | undefined {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number' && Number.isFinite(v)) return 'number';
  return undefined;
}

export const point = (v: Scalar): Interval => ({ kind: typeof v === 'string' ? 'string' : 'number', lo: { v, inclusive: true }, hi: { v, inclusive: true } });

export function isPoint(i: Interval): boolean {
  return i.prefix === undefined && i.lo !== undefined && i.hi !== undefined && i.lo.inclusive && i.hi.inclusive && i.lo.v === i.hi.v;
}

/** The largest string a literal prefix can begin (all code points sort at or below U+10FFFF). */
export const PREFIX_END = '\u{10FFFF}';

/** The conditions on one field from its operator object (or plain value). */
function fieldConditions(path: string, cond: unknown, out: Condition[]): void {
  if (!isOperatorObject(cond)) {
    const k = kindOf(cond);
    if (k) out.push({ kind: 'path', path, intervals: [point(cond as Scalar)] });
    return; // null, objects, arrays: not answered by an index
  }
  if ('$options' in cond) return; // case-insensitive regexes and the like: evaluated on candidates
  if ('$eq' in cond && kindOf(cond.$eq)) out.push({ kind: 'path', path, intervals: [point(cond.$eq as Scalar)] });
  if ('$in' in cond && Array.isArray(cond.$in) && cond.$in.length > 0 && cond.$in.every((v) => kindOf(v))) {
    out.push({ kind: 'path', path, intervals: [...new Set(cond.$in as Scalar[])].map(point) });
  }
  if ('$all' in cond && Array.isArray(cond.$all)) {
    for (const v of cond.$all) if (kindOf(v)) out.push({ kind: 'path', path, intervals: [point(v as Scalar)] });
  }
  // Each bound on its own: on an array field different elements may satisfy them (MongoDB), so
  // they are intersected later only for single-valued paths.
  const range: Interval | undefined = rangeOf(cond);
  if (range?.lo) out.push({ kind: 'path', path, intervals: [{ kind: range.kind, lo: range.lo }] });
  if (range?.hi) out.push({ kind: 'path', path, intervals: [{ kind: range.kind, hi: range.hi }] });
  if (typeof cond.$regex === 'string') {
    const m = LITERAL_PREFIX.exec(cond.$regex);
    const prefix = m ? m[1].replace(/\\(.)/g, '$1') : '';
    if (prefix !== '') {
      out.push({ kind: 'path', path, intervals: [{ kind: 'string', lo: { v: prefix, inclusive: true }, hi: { v: prefix + PREFIX_END, inclusive: true } }] });
    }
  }
  if (isPlainObject(cond.$elemMatch)) collect(cond.$elemMatch, `${path}.`, out);
}

function rangeOf(cond: Record<string, unknown>): Interval | undefined {
  let kind: 'string' | 'number' | undefined;
  const interval: Partial<Interval> = {};
  for (const [op, value] of Object.entries(cond)) {
    if (op !== '$gt' && op !== '$gte' && op !== '$lt' && op !== '$lte') continue;
    const k = kindOf(value);
    if (!k || (kind && kind !== k)) return undefined;
    kind = k;
    const bound = { v: value as Scalar, inclusive: op === '$gte' || op === '$lte' };
    if (op === '$gt' || op === '$gte') interval.lo = tighterLo(interval.lo, bound);
    else interval.hi = tighterHi(interval.hi, bound);
  }
  return kind ? { kind, ...interval } : undefined;
}

function cmp(a: Scalar, b: Scalar): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function tighterLo(a: Bound | undefined, b: Bound | undefined): Bound | undefined {
  if (!a) return b;
  if (!b) return a;
  const c = cmp(a.v, b.v);
  if (c !== 0) return c > 0 ? a : b;
  return a.inclusive ? b : a;
}

function tighterHi(a: Bound | undefined, b: Bound | undefined): Bound | undefined {
  if (!a) return b;
  if (!b) return a;
  const c = cmp(a.v, b.v);
  if (c !== 0) return c < 0 ? a : b;
  return a.inclusive ? b : a;
}

function looserLo(a: Bound | undefined, b: Bound | undefined): Bound | undefined {
  if (!a || !b) return undefined;
  const c = cmp(a.v, b.v);
  if (c !== 0) return c < 0 ? a : b;
  return a.inclusive ? a : b;
}

function looserHi(a: Bound | undefined, b: Bound | undefined): Bound | undefined {
  if (!a || !b) return undefined;
  const c = cmp(a.v, b.v);
  if (c !== 0) return c > 0 ? a : b;
  return a.inclusive ? a : b;
}

/** The conditions of a filter (or of an `$elemMatch` body, with prefix `path.`). */
function collect(filter: Record<string, unknown>, prefix: string, out: Condition[]): void {
  for (const [field, cond] of Object.entries(filter)) {
    if (field === '$and' && Array.isArray(cond)) {
      for (const clause of cond) if (isPlainObject(clause)) collect(clause, prefix, out);
      continue;
    }
    if (field === '$or' && Array.isArray(cond) && cond.length > 0) {
      const branches: Condition[][] = [];
      for (const clause of cond) {
        const inner: Condition[] = [];
        if (isPlainObject(clause)) collect(clause, prefix, inner);
        branches.push(inner);
      }
      out.push({ kind: 'or', branches });
      continue;
    }
    if (field.startsWith('$')) continue; // $nor, $not, $expr …: no necessary condition
    if (prefix !== '' && field === '_id') continue;
    fieldConditions(prefix + field, cond, out);
  }
}

/**
 * The usable conditions of a filter: only indexed paths; single ranges on one path intersected;
 * `{lo, hi}` date conditions on `hi` turned into ranges on `lo`; `$or`s kept when every branch has
 * one usable condition. Conditions on one single-valued path are intersected into one range.
 */
export function conditionsOf(filter: Filter, ctx: PlannerContext): Condition[] {
  const raw: Condition[] = [];
  collect(filter, '', raw);
  return refine(raw, ctx);
}

/**
 * The string equalities a filter requires, in its order, without planning it (store search's first
 * look, before `conditionsOf`): a field equal to a string (`{path: 'v'}`), and each member of an
 * `$elemMatch` equal to one (`{path: {$elemMatch: {member: 'v'}}}` requires a value 'v' at
 * `path.member`), at the top or in members of a top-level `$and`. Each is one of the point conditions
 * conditionsOf finds (so implied by the filter); `visit` returns true to stop.
 */
export function requiredStrings(filter: Filter, visit: (path: string, value: string) => boolean): boolean {
  for (const field in filter) {
    const cond = (filter as Record<string, unknown>)[field];
    if (field === '$and') {
      if (Array.isArray(cond)) for (const clause of cond) if (isPlainObject(clause) && requiredStrings(clause as Filter, visit)) return true;
      continue;
    }
    if (field.charCodeAt(0) === 0x24 /* $ */) continue;
    if (typeof cond === 'string') {
      if (visit(field, cond)) return true;
      continue;
    }
    if (!isOperatorObject(cond)) continue;
    const body = cond.$elemMatch;
    if (!isPlainObject(body) || '$options' in cond) continue;
    for (const member in body) {
      const v = body[member];
      if (typeof v === 'string' && member !== '_id' && member.charCodeAt(0) !== 0x24 && visit(`${field}.${member}`, v)) return true;
    }
  }
  return false;
}

/**
 * Paths with an empty or array-position segment (`a..b`, `a.0`) are not answered by an index.
 * Asked only of indexed paths (a fixed set per deployment), so the answers are kept: the split and
 * the regular expression were a tenth of a small search's planning.
 */
const positional = new Map<string, boolean>();
export function hasPositionalSegment(path: string): boolean {
  let v = positional.get(path);
  if (v === undefined) {
    v = path.split('.').some((s) => s === '' || /^\d+$/.test(s));
    positional.set(path, v);
  }
  return v;
}

function refine(conditions: Condition[], ctx: PlannerContext): Condition[] {
  const derived: Condition[] = [];
  for (const c of conditions) {
    if (c.kind === 'path' && c.path.endsWith('.hi') && c.intervals.length === 1 && c.intervals[0].kind === 'string') {
      const lo = loFromHi(c.path.slice(0, -3), c.intervals[0], ctx);
      if (lo) derived.push(lo);
    }
  }
  const expanded: Condition[] = [];
  for (const c of [...conditions, ...derived]) {
    if (c.kind !== 'or') {
      expanded.push(c);
      continue;
    }
    const branches = c.branches.map((b) => refine(b, ctx));
    if (!branches.every((b) => b.length > 0)) continue;
    const or: OrCondition = { kind: 'or', branches };
    expanded.push(or);
    // A path every branch bounds: the union of those bounds holds too, and can be intersected
    // with the other conditions on that path.
    const paths = new Set(branches[0].filter((x): x is PathCondition => x.kind === 'path').map((x) => x.path));
    for (const path of paths) {
      const union = unionOnPath(or, path);
      if (union) expanded.push(union);
    }
  }
  const out: Condition[] = [];
  const single = new Map<string, PathCondition>();
  for (const c of expanded) {
    if (c.kind === 'or') {
      out.push(c);
      continue;
    }
    if (!ctx.indexed(c.path) || hasPositionalSegment(c.path)) continue;
    if (c.intervals.length === 1 && ctx.singleValued(c.path)) {
      const prev = single.get(c.path);
      if (prev && prev.intervals[0].kind === c.intervals[0].kind) {
        const a = prev.intervals[0];
        const b = c.intervals[0];
        prev.intervals[0] = { kind: a.kind, lo: tighterLo(a.lo, b.lo), hi: tighterHi(a.hi, b.hi) };
        continue;
      }
      if (!prev) {
        const copy: PathCondition = { kind: 'path', path: c.path, intervals: [{ ...c.intervals[0] }] };
        single.set(c.path, copy);
        out.push(copy);
        continue;
      }
    }
    out.push(c);
  }
  return out;
}

/** `{lo, hi}` at base: lo ≤ hi ≤ lo + span, so a bound on hi bounds lo. */
/**
 * A condition on a compound index `first+second` when the conditions hold an equality (or `$in`) on
 * its first part and one range on its second: one interval under each first-part value.
 */
export function compoundCondition(path: string, conditions: Condition[], maxValues = 64): PathCondition | undefined {
  const [first, second, ...more] = path.split('+');
  if (!second || more.length > 0) return undefined;
  const paths = conditions.filter((c): c is PathCondition => c.kind === 'path');
  const eq = paths.find((c) => c.path === first && c.intervals.length <= maxValues && c.intervals.every(isPoint));
  const range = paths.find((c) => c.path === second && c.intervals.length === 1);
  if (!eq || !range) return undefined;
  return { kind: 'path', path, intervals: eq.intervals.map((p) => ({ ...range.intervals[0], prefix: p.lo!.v })) };
}

function loFromHi(base: string, hi: Interval, ctx: PlannerContext): PathCondition | undefined {
  const path = `${base}.lo`;
  if (!ctx.indexed(path)) return undefined;
  const interval: Interval = { kind: 'string' };
  if (hi.hi) interval.hi = { v: hi.hi.v, inclusive: hi.hi.inclusive }; // lo ≤ hi < x
  const span = ctx.span(base);
  if (hi.lo && span !== undefined) {
    const ms = Date.parse(String(hi.lo.v)) - span;
    if (Number.isFinite(ms) && ms > -62135596800000) interval.lo = { v: new Date(ms).toISOString(), inclusive: true };
  }
  return interval.lo || interval.hi ? { kind: 'path', path, intervals: [interval] } : undefined;
}

/**
 * Merges an `$or` whose branches all bound the same path into one condition on that path (the
 * keyset condition of a sorted page: `key > k OR (key = k AND _id > i)` becomes `key ≥ k`), so it
 * can both narrow and order a walk of that index.
 */
export function unionOnPath(or: OrCondition, path: string): PathCondition | undefined {
  const intervals: Interval[] = [];
  for (const branch of or.branches) {
    const onPath = branch.filter((c): c is PathCondition => c.kind === 'path' && c.path === path);
    if (onPath.length === 0) return undefined;
    // Within a branch every condition holds: the narrowest single one is enough.
    const best = onPath.reduce((a, b) => (a.intervals.length <= b.intervals.length ? a : b));
    intervals.push(...best.intervals);
  }
  return { kind: 'path', path, intervals: mergeIntervals(intervals) };
}

/** The hull of overlapping intervals of one kind (used to seek an ordered walk). */
export function hull(intervals: Interval[]): Interval | undefined {
  if (intervals.length === 0) return undefined;
  const kind = intervals[0].kind;
  if (intervals.some((i) => i.kind !== kind)) return undefined;
  let lo: Bound | undefined = intervals[0].lo;
  let hi: Bound | undefined = intervals[0].hi;
  for (const i of intervals.slice(1)) {
    lo = looserLo(lo, i.lo);
    hi = looserHi(hi, i.hi);
  }
  return { kind, lo, hi };
}

function mergeIntervals(intervals: Interval[]): Interval[] {
  const byKind = new Map<string, Interval[]>();
  // Appended in place: copying the list for each interval made a search OR-ing n values (a VXU's
  // PID-3 of 32,000 identifiers, looked up before matching) cost n² — 7 s of the event loop.
  for (const i of intervals) {
    const list = byKind.get(i.kind);
    if (list) list.push(i);
    else byKind.set(i.kind, [i]);
  }
  const out: Interval[] = [];
  for (const list of byKind.values()) {
    if (list.every(isPoint)) {
      const seen = new Set<Scalar>();
      for (const i of list) if (!seen.has(i.lo!.v)) (seen.add(i.lo!.v), out.push(i));
    } else {
      out.push(hull(list)!);
    }
  }
  return out;
}
