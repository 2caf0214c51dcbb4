// In-memory hash indexes over StoredDoc paths, and the planner that turns a MongoDB filter into
// index lookups. An index only narrows the candidates: the full filter is always evaluated on them
// afterwards, so a lookup may return too much but must never miss a matching document.
//
// For an indexed path P, a document gets one key per (subpath, value) it holds under P, following
// MongoDB's array semantics (arrays are traversed at every level; an array matches if any element
// does): P = [{system:'a', value:'1'}] yields keys ('', {system,value}), ('system','a'), ('value','1').
// So `{P: x}`, `{P: {$in: [...]}}`, `{'P.value': x}` and `{P: {$elemMatch: {value: x}}}` can all be
// answered from the index of P.

const SEP = '\u0000';

export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isOperatorObject(v: unknown): v is Record<string, unknown> {
  return isPlainObject(v) && Object.keys(v).some((k) => k.startsWith('$'));
}

/** A value usable as an equality key: a non-null scalar, or a plain object without operators. */
function isKeyable(v: unknown): boolean {
  if (v === null || v === undefined) return false; // {f: null} also matches missing fields
  if (typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (isPlainObject(v)) return !isOperatorObject(v) && Object.keys(v).length > 0;
  return false; // arrays, RegExp, Date, …: not answered by the index
}

function keyOf(subpath: string, value: unknown): string {
  return subpath + SEP + canonical(value);
}

/** Values under a dotted path, traversing arrays like MongoDB (numeric segments not supported). */
function valuesAt(root: unknown, segs: string[], i: number, out: unknown[]): void {
  if (root === undefined || root === null) return;
  if (i === segs.length) {
    out.push(root);
    return;
  }
  if (Array.isArray(root)) {
    for (const el of root) valuesAt(el, segs, i, out);
    return;
  }
  if (typeof root === 'object') valuesAt((root as Record<string, unknown>)[segs[i]], segs, i + 1, out);
}

function addKeys(value: unknown, subpath: string, keys: Set<string>, depth: number): void {
  if (value === null || value === undefined || depth > 32) return;
  if (Array.isArray(value)) {
    for (const el of value) addKeys(el, subpath, keys, depth + 1);
    return;
  }
  if (typeof value === 'object') {
    keys.add(keyOf(subpath, value));
    for (const [k, v] of Object.entries(value)) addKeys(v, subpath ? `${subpath}.${k}` : k, keys, depth + 1);
    return;
  }
  keys.add(keyOf(subpath, value));
}

export class HashIndex<E> {
  readonly segs: string[];
  private readonly map = new Map<string, Set<E>>();

  constructor(readonly path: string) {
    this.segs = path.split('.');
  }

  keysFor(doc: unknown): Set<string> {
    const values: unknown[] = [];
    valuesAt(doc, this.segs, 0, values);
    const keys = new Set<string>();
    for (const v of values) addKeys(v, '', keys, 0);
    return keys;
  }

  add(entry: E, doc: unknown): void {
    for (const key of this.keysFor(doc)) {
      let set = this.map.get(key);
      if (!set) this.map.set(key, (set = new Set()));
      set.add(entry);
    }
  }

  remove(entry: E, doc: unknown): void {
    for (const key of this.keysFor(doc)) {
      const set = this.map.get(key);
      if (!set) continue;
      set.delete(entry);
      if (set.size === 0) this.map.delete(key);
    }
  }

  lookup(key: string): Set<E> | undefined {
    return this.map.get(key);
  }
}

/** One necessary condition of a filter: the document holds at least one of these keys in index. */
export interface IndexConstraint {
  index: string;
  keys: string[];
}

/** Equality-like conditions (field path → alternatives, any of which must hold). */
interface Condition {
  path: string;
  values: unknown[];
}

function conditionsOf(filter: Record<string, unknown>, out: Condition[]): void {
  for (const [field, cond] of Object.entries(filter)) {
    if (field === '$and' && Array.isArray(cond)) {
      for (const clause of cond) if (isPlainObject(clause)) conditionsOf(clause, out);
      continue;
    }
    if (field.startsWith('$')) continue; // $or, $nor, $expr, …: not a necessary condition per clause
    if (!isOperatorObject(cond)) {
      if (isKeyable(cond)) out.push({ path: field, values: [cond] });
      continue;
    }
    if ('$eq' in cond && isKeyable(cond.$eq)) out.push({ path: field, values: [cond.$eq] });
    if ('$in' in cond && Array.isArray(cond.$in) && cond.$in.length > 0 && cond.$in.every(isKeyable)) {
      out.push({ path: field, values: cond.$in });
    }
    if ('$elemMatch' in cond && isPlainObject(cond.$elemMatch) && !isOperatorObject(cond.$elemMatch)) {
      for (const [member, mcond] of Object.entries(cond.$elemMatch)) {
        const path = `${field}.${member}`;
        if (isOperatorObject(mcond)) {
          if ('$eq' in mcond && isKeyable(mcond.$eq)) out.push({ path, values: [mcond.$eq] });
          if ('$in' in mcond && Array.isArray(mcond.$in) && mcond.$in.length > 0 && mcond.$in.every(isKeyable)) {
            out.push({ path, values: mcond.$in });
          }
        } else if (isKeyable(mcond)) {
          out.push({ path, values: [mcond] });
        }
      }
    }
  }
}

const NUMERIC = /^\d+$/;

/** Necessary conditions of the filter that the given indexes can answer. */
export function planIndexLookups(filter: Record<string, unknown>, indexedPaths: Iterable<string>): IndexConstraint[] {
  const conditions: Condition[] = [];
  conditionsOf(filter, conditions);
  const out: IndexConstraint[] = [];
  for (const { path, values } of conditions) {
    if (path.split('.').some((s) => NUMERIC.test(s) || s === '')) continue; // positional paths: scan
    for (const index of indexedPaths) {
      let subpath: string;
      if (path === index) subpath = '';
      else if (path.startsWith(`${index}.`)) subpath = path.slice(index.length + 1);
      else continue;
      out.push({ index, keys: values.map((v) => keyOf(subpath, v)) });
    }
  }
  return out;
}

/** `_id` values when the filter pins `_id` by equality or `$in` (top level or in a top-level $and). */
export function idsOf(filter: Record<string, unknown>): string[] | undefined {
  let best: string[] | undefined;
  const consider = (cond: unknown) => {
    let ids: string[] | undefined;
    if (typeof cond === 'string') ids = [cond];
    else if (isOperatorObject(cond)) {
      if (typeof cond.$eq === 'string') ids = [cond.$eq];
      else if (Array.isArray(cond.$in) && cond.$in.every((v) => typeof v === 'string')) ids = cond.$in as string[];
    }
    if (ids && (!best || ids.length < best.length)) best = ids;
  };
  if ('_id' in filter) consider(filter._id);
  if (Array.isArray(filter.$and)) {
    for (const clause of filter.$and) if (isPlainObject(clause) && '_id' in clause) consider(clause._id);
  }
  return best;
}
