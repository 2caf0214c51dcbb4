// Filter support for servers that implement only part of MongoDB's query language.
//
// FerretDB 1.x evaluates `$elemMatch` only over scalar array elements with operators
// (`{ $elemMatch: { $gte: 1, $lt: 5 } }`). The object form the search compiler emits
// (`{ 's.identifier': { $elemMatch: { s: 'urn:mrn', c: 'A1' } } }`, with `$and` / `$or` inside
// for dates) fails with "unknown operator" or, with a single field, silently matches nothing; and a
// sub-document equality (`{ 's.identifier': { s: 'urn:mrn', c: 'A1' } }`) never matches array
// elements. For such filters the store sends the server a relaxed filter that matches a superset
// (every document the original matches, usually few more: each element condition applied to "any
// element" via dot notation), and evaluates the original filter in process with mingo, the engine
// the embedded store uses.
import type { Filter } from '../store.js';

type Doc = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Doc =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  !(v instanceof Date) &&
  !(v instanceof RegExp) &&
  Object.getPrototypeOf(v) === Object.prototype;

/** A sub-document value (no operator keys), e.g. the `{ s, c }` of an equality on an element. */
const isDocValue = (v: unknown): v is Doc => isPlainObject(v) && !Object.keys(v).some((k) => k.startsWith('$'));

const containsDocValue = (v: unknown): boolean => (Array.isArray(v) ? v.some(isDocValue) : isDocValue(v));

/** Operators whose dot-notation form over an array is implied by the same condition on one element. */
const POSITIVE_OPS = new Set(['$eq', '$in', '$gt', '$gte', '$lt', '$lte', '$regex', '$options', '$all']);

/** True when an `$elemMatch` argument needs more than operator-only evaluation over scalars. */
function isObjectElemMatch(arg: unknown): boolean {
  if (!isPlainObject(arg)) return false;
  return Object.keys(arg).some((k) => !k.startsWith('$') || k === '$and' || k === '$or' || k === '$nor' || k === '$not' || k === '$ne');
}

/** True when a field's operator document uses something FerretDB 1.x gets wrong. */
function operatorsNeedClient(ops: Doc): boolean {
  for (const [op, arg] of Object.entries(ops)) {
    if (op === '$elemMatch' && isObjectElemMatch(arg)) return true;
    if ((op === '$eq' || op === '$ne' || op === '$in' || op === '$nin' || op === '$all') && containsDocValue(arg)) return true;
    if (op === '$not' && isPlainObject(arg) && operatorsNeedClient(arg)) return true;
  }
  return false;
}

/**
 * True when the filter uses a construct FerretDB 1.x cannot evaluate: object-form `$elemMatch`,
 * or a sub-document equality (which MongoDB also applies to array elements).
 */
export function needsClientFilter(filter: Filter): boolean {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (Array.isArray(value) && value.some((part) => isPlainObject(part) && needsClientFilter(part))) return true;
    } else if (key.startsWith('$')) {
      continue;
    } else if (isDocValue(value)) {
      if (Object.keys(value).length > 0) return true;
    } else if (isPlainObject(value) && operatorsNeedClient(value)) {
      return true;
    }
  }
  return false;
}

/** A condition on one element field whose dot-notation form over the whole array is a superset. */
function isPositiveCondition(cond: unknown): boolean {
  if (!isPlainObject(cond)) return true; // literal equality (scalar, array)
  const keys = Object.keys(cond);
  if (!keys.some((k) => k.startsWith('$'))) return true; // sub-document equality (relaxed further below)
  return keys.every((k) => POSITIVE_OPS.has(k) || (k === '$exists' && cond[k] === true));
}

/** `{ [path]: cond }` relaxed: sub-document equalities become dot-notation equalities per field. */
function relaxField(path: string, cond: unknown): Filter[] {
  if (isDocValue(cond)) {
    return Object.entries(cond).flatMap(([k, v]) => relaxField(`${path}.${k}`, v));
  }
  if (isPlainObject(cond)) return relaxOperatorDoc(path, cond);
  return [{ [path]: cond }];
}

/**
 * Dot-notation conditions implied by `{ [path]: { $elemMatch: expr } }`: each positive element
 * condition applied to any element. Returns the conjuncts (possibly none: then no restriction).
 */
function relaxElemMatch(path: string, expr: Doc): Filter[] {
  const out: Filter[] = [];
  for (const [key, cond] of Object.entries(expr)) {
    if (key === '$and' && Array.isArray(cond)) {
      for (const part of cond) if (isPlainObject(part)) out.push(...relaxElemMatch(path, part));
    } else if (key === '$or' && Array.isArray(cond)) {
      const branches = cond.map((part) => (isPlainObject(part) ? relaxElemMatch(path, part) : []));
      if (branches.length > 0 && branches.every((b) => b.length > 0)) {
        out.push({ $or: branches.map((b) => (b.length === 1 ? (b[0] as Filter) : { $and: b })) });
      }
    } else if (!key.startsWith('$') && isPositiveCondition(cond)) {
      out.push(...relaxField(`${path}.${key}`, cond));
    }
    // $nor, $not, $ne, $exists: false … inside: no restriction (a superset stays a superset).
  }
  return out;
}

function relaxOperatorDoc(path: string, ops: Doc): Filter[] {
  const out: Filter[] = [];
  const rest: Doc = {};
  for (const [op, arg] of Object.entries(ops)) {
    if (op === '$elemMatch' && isObjectElemMatch(arg)) out.push(...relaxElemMatch(path, arg as Doc));
    else if (op === '$elemMatch' && isPlainObject(arg) && operatorsNeedClient(arg)) continue;
    else if (op === '$not' && isPlainObject(arg) && operatorsNeedClient(arg)) continue; // negation: drop
    else if (['$eq', '$ne', '$in', '$nin', '$all'].includes(op) && containsDocValue(arg)) continue; // drop
    else rest[op] = arg;
  }
  // $options only makes sense next to $regex
  if ('$options' in rest && !('$regex' in rest)) delete rest.$options;
  if (Object.keys(rest).length > 0) out.push({ [path]: rest });
  return out;
}

/**
 * A filter the server can evaluate that matches every document `filter` matches (a superset).
 * Parts that cannot be relaxed soundly (negations of unsupported constructs) are dropped.
 */
export function relaxFilter(filter: Filter): Filter {
  const conjuncts: Filter[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (!needsClientFilter({ [key]: value })) {
      conjuncts.push({ [key]: value });
    } else if (key === '$and' && Array.isArray(value)) {
      for (const part of value) if (isPlainObject(part)) conjuncts.push(relaxFilter(part));
    } else if (key === '$or' && Array.isArray(value)) {
      const branches = value.map((part) => (isPlainObject(part) ? relaxFilter(part) : {}));
      if (branches.every((b) => Object.keys(b).length > 0)) conjuncts.push({ $or: branches });
    } else if (key === '$nor') {
      continue; // the negation of a relaxed (larger) set is smaller: no restriction instead
    } else {
      conjuncts.push(...relaxField(key, value));
    }
  }
  const nonEmpty = conjuncts.filter((c) => Object.keys(c).length > 0);
  if (nonEmpty.length === 0) return {};
  if (nonEmpty.length === 1) return nonEmpty[0] as Filter;
  return { $and: nonEmpty };
}
