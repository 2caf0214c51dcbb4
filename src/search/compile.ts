// Compiles parsed criteria into one MongoDB filter document over StoredDoc (evaluated by MongoDB
// or by mingo in the embedded store). User input only ever lands in value positions; field names
// come from the parameter registry; regexes are built from escaped, folded input.
// Chains and reverse chains are resolved through the store (sub-query → ids → `$in`), with the
// caller's access filter ANDed onto every sub-query.
import type { Resource } from '@medplum/fhirtypes';
import { FhirError, makeIssue, outcome } from '../fhir/outcome.js';
import type { Filter, StoreReader } from '../store/store.js';
import { extractParamValues, referenceForms } from './extract.js';
import type { ParamDef } from './params.js';
import { NUMBER_RE, splitEscaped, splitPrefix, unescape, type Criterion, type ParamCriterion, type Prefix } from './parse.js';
import { dateRange, escapeRegex, fold, phoneticCodes, type DateRange } from './util.js';

/** Most ids a chain or reverse chain may resolve to before the search is refused as too costly. */
export const MAX_CHAIN_IDS = 10000;

export type AccessFilter = (resourceType: string) => Filter | undefined;

export interface CompileContext {
  store: StoreReader;
  baseUrl?: string;
  accessFilter?: AccessFilter;
  /** `now` for the `ap` prefix (tests pin it). */
  now?: Date;
}

const MATCH_NOTHING: Filter = { _id: { $in: [] } };

/** ANDs filters, dropping empty ones. */
export function and(filters: Array<Filter | undefined>): Filter {
  const list = filters.filter((f): f is Filter => f !== undefined && Object.keys(f).length > 0);
  if (list.length === 0) return {};
  if (list.length === 1) return list[0];
  return { $and: list };
}

function or(filters: Filter[]): Filter {
  if (filters.length === 1) return filters[0];
  return { $or: filters };
}

/** The full filter for a type: every criterion ANDed, plus the access filter of the type. */
export async function compileCriteria(type: string, criteria: Criterion[], ctx: CompileContext): Promise<Filter> {
  const parts: Filter[] = [];
  // Selective equality conditions first (ids, references, tokens): index planners that look at
  // the leading conditions (the embedded store's) then start from the smallest candidate set.
  const ordered = [...criteria].sort((a, b) => rank(a) - rank(b));
  for (const c of ordered) parts.push(await compileCriterion(type, c, ctx));
  parts.push(ctx.accessFilter?.(type) ?? {});
  return and(parts);
}

function rank(c: Criterion): number {
  if (c.kind !== 'param') return 1; // chains and _has resolve to `$in` lists
  if (c.modifier === 'missing' || c.modifier === 'not') return 5;
  if (c.def.docField === '_id') return 0;
  if (c.def.type === 'reference') return 1;
  if (c.def.type === 'token') return c.modifier === 'text' ? 4 : 2;
  return 3;
}

async function compileCriterion(type: string, c: Criterion, ctx: CompileContext): Promise<Filter> {
  switch (c.kind) {
    case 'param':
      return compileParam(c, ctx);
    case 'chain': {
      const refs: string[] = [];
      for (const sub of c.subs) {
        const filter = await compileCriteria(sub.type, [sub.criterion], ctx);
        const records = await ctx.store.search(sub.type, { filter, limit: MAX_CHAIN_IDS + 1, sort: [{ field: '_id', direction: 1 }] });
        if (records.length + refs.length > MAX_CHAIN_IDS) throw tooCostly(c.name);
        for (const r of records) refs.push(`${r.resourceType}/${r.id}`);
      }
      return { [`s.${c.def.code}`]: { $in: refs } };
    }
    case 'has': {
      const filter = await compileCriteria(c.sourceType, [c.criterion], ctx);
      const records = await ctx.store.search(c.sourceType, { filter, limit: MAX_CHAIN_IDS + 1, sort: [{ field: '_id', direction: 1 }] });
      if (records.length > MAX_CHAIN_IDS) throw tooCostly(c.name);
      const ids = new Set<string>();
      const prefix = `${type}/`;
      for (const r of records) {
        if (!r.resource) continue;
        for (const ref of referencesOf(r.resource, c.refDef, ctx.baseUrl)) {
          if (ref.startsWith(prefix)) ids.add(ref.slice(prefix.length));
        }
      }
      return { _id: { $in: [...ids] } };
    }
  }
}

/**
 * The local `Type/id` references a resource holds in a reference parameter: relative ones, and
 * absolute ones under our base (others point at another server and are not followed).
 */
export function referencesOf(resource: Resource, def: ParamDef, baseUrl?: string): string[] {
  const out: string[] = [];
  for (const tv of extractParamValues(resource, def)) {
    const v = tv.value as { reference?: unknown } | string | undefined;
    const ref = typeof v === 'string' ? v : typeof v?.reference === 'string' ? v.reference : undefined;
    if (!ref) continue;
    if (/^[a-z][a-z0-9+.-]*:/i.test(ref) && !(baseUrl && ref.startsWith(`${baseUrl}/`))) continue;
    const rel = referenceForms(ref)[0];
    if (rel && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(rel) && !out.includes(rel)) out.push(rel);
  }
  return out;
}

function tooCostly(name: string): FhirError {
  return new FhirError(
    400,
    outcome([
      makeIssue('error', 'too-costly', `Parameter "${name}" matches more than ${MAX_CHAIN_IDS} resources; narrow the search`, {
        expression: name,
      }),
    ])
  );
}

/** Compiles one parameter occurrence (comma values ORed). */
export function compileParam(c: ParamCriterion, ctx: CompileContext): Filter {
  const def = c.def;
  if (c.modifier === 'missing') {
    if (def.docField) return c.values[0] === 'true' ? MATCH_NOTHING : {};
    return { [`s.${def.code}`]: { $exists: c.values[0] !== 'true' } };
  }
  if (def.docField === '_id') {
    const ids = c.values.map(unescape);
    return c.modifier === 'not' ? { _id: { $nin: ids } } : { _id: ids.length === 1 ? ids[0] : { $in: ids } };
  }
  if (def.docField === 'lastUpdated') {
    return or(c.values.map((v) => dateFilter(v, { kind: 'point', field: 'lastUpdated' }, ctx)));
  }
  const path = `s.${def.code}`;
  switch (def.type) {
    case 'string':
      return or(c.values.map((v) => stringFilter(path, def, c.modifier, unescape(v))));
    case 'token': {
      if (c.modifier === 'not') return { $nor: c.values.map((v) => tokenFilter(path, undefined, v)) };
      return or(c.values.map((v) => tokenFilter(path, c.modifier, v)));
    }
    case 'date': {
      const shape: DateShape = def.multiple ? { kind: 'array', path } : { kind: 'object', path };
      return or(c.values.map((v) => dateFilter(v, shape, ctx)));
    }
    case 'reference': {
      const refs = new Set<string>();
      for (const v of c.values) for (const r of referenceValues(def, c.modifier, unescape(v), ctx.baseUrl)) refs.add(r);
      const list = [...refs];
      return { [path]: list.length === 1 ? list[0] : { $in: list } };
    }
    case 'uri':
      return or(c.values.map((v) => uriFilter(path, c.modifier, unescape(v))));
    case 'number':
      return or(c.values.map((v) => numberFilter(path, v)));
    case 'quantity':
      return or(c.values.map((v) => quantityFilter(path, v)));
  }
}

// ---- string ----------------------------------------------------------------------------------

function stringFilter(path: string, def: ParamDef, modifier: string | undefined, value: string): Filter {
  if (modifier === 'exact') return { [`s._exact.${def.code}`]: value };
  if (def.phonetic) {
    const codes = phoneticCodes(value);
    if (codes.length === 0) return MATCH_NOTHING;
    return { [path]: codes.length === 1 ? codes[0] : { $all: codes } };
  }
  const folded = fold(value);
  // Only letters and digits are indexed: a value of nothing but punctuation cannot match.
  if (folded === '') return MATCH_NOTHING;
  if (modifier === 'contains') return { [path]: { $regex: escapeRegex(folded) } };
  return { [path]: { $regex: `^${escapeRegex(folded)}` } };
}

// ---- token -----------------------------------------------------------------------------------

function tokenFilter(path: string, modifier: string | undefined, raw: string): Filter {
  if (modifier === 'text') {
    const folded = fold(unescape(raw));
    if (folded === '') return MATCH_NOTHING;
    return { [`${path}.t`]: { $regex: `^${escapeRegex(folded)}` } };
  }
  const parts = splitEscaped(raw, '|').map(unescape);
  if (modifier === 'of-type') {
    const [ts, tc, value] = parts;
    return { [path]: { $elemMatch: { c: value, ts, tc } } };
  }
  if (parts.length === 1) return { [`${path}.c`]: parts[0] };
  const [system, code] = parts;
  if (system === '' && code === '') return MATCH_NOTHING;
  if (system === '') return { [path]: { $elemMatch: { c: code, s: { $exists: false } } } };
  if (code === '') return { [`${path}.s`]: system };
  // code first: the embedded store's planner takes the first usable condition it meets
  return { [path]: { $elemMatch: { c: code, s: system } } };
}

// ---- date ------------------------------------------------------------------------------------

type DateShape =
  | { kind: 'object'; path: string }
  | { kind: 'array'; path: string }
  /** A single instant (doc lastUpdated): lo = hi = the field. */
  | { kind: 'point'; field: string };

type Cmp = '$gt' | '$gte' | '$lt' | '$lte';
/** A condition on the target range: conjunction of comparisons on lo/hi, or a disjunction. */
type DateCond = { all: Array<['lo' | 'hi', Cmp, string]> } | { any: DateCond[] };

/** R4 3.1.1.4 prefix semantics over ranges: search [qlo, qhi] against target [lo, hi]. */
export function dateCondition(prefix: Prefix, q: DateRange, now: Date = new Date()): DateCond {
  const eq: DateCond = { all: [['lo', '$gte', q.lo], ['hi', '$lte', q.hi]] };
  switch (prefix) {
    case 'eq':
    case 'ne':
      return eq;
    case 'gt':
      return { all: [['hi', '$gt', q.hi]] };
    case 'lt':
      return { all: [['lo', '$lt', q.lo]] };
    case 'ge':
      return { any: [{ all: [['hi', '$gt', q.hi]] }, eq] };
    case 'le':
      return { any: [{ all: [['lo', '$lt', q.lo]] }, eq] };
    case 'sa':
      return { all: [['lo', '$gt', q.hi]] };
    case 'eb':
      return { all: [['hi', '$lt', q.lo]] };
    case 'ap': {
      const lo = Date.parse(q.lo);
      const hi = Date.parse(q.hi);
      const tol = Math.abs(now.getTime() - lo) * 0.1;
      const wlo = new Date(Math.max(lo - tol, Date.parse('0001-01-01T00:00:00.000Z'))).toISOString();
      const whi = new Date(Math.min(hi + tol, Date.parse('9999-12-31T23:59:59.999Z'))).toISOString();
      return { all: [['lo', '$lte', whi], ['hi', '$gte', wlo]] };
    }
  }
}

function renderDate(cond: DateCond, field: (k: 'lo' | 'hi') => string): Filter {
  if ('any' in cond) return { $or: cond.any.map((c) => renderDate(c, field)) };
  const parts = cond.all.map(([k, op, v]) => ({ [field(k)]: { [op]: v } }));
  return parts.length === 1 ? parts[0] : { $and: parts };
}

function dateFilter(raw: string, shape: DateShape, ctx: CompileContext): Filter {
  const { prefix, rest } = splitPrefix(raw);
  const q = dateRange(rest);
  if (!q) return MATCH_NOTHING; // parse.ts rejected malformed dates already
  const cond = dateCondition(prefix, q, ctx.now);
  let positive: Filter;
  let exists: Filter;
  if (shape.kind === 'point') {
    positive = renderDate(cond, () => shape.field);
    exists = {};
  } else if (shape.kind === 'object') {
    positive = renderDate(cond, (k) => `${shape.path}.${k}`);
    exists = { [shape.path]: { $exists: true } };
  } else {
    positive = { [shape.path]: { $elemMatch: renderDate(cond, (k) => k) } };
    exists = { [shape.path]: { $exists: true } };
  }
  if (prefix === 'ne') return and([exists, { $nor: [positive] }]);
  return positive;
}

// ---- reference -------------------------------------------------------------------------------

function referenceValues(def: ParamDef, modifier: string | undefined, value: string, baseUrl: string | undefined): string[] {
  let v = value;
  if (baseUrl && v.startsWith(`${baseUrl}/`)) v = v.slice(baseUrl.length + 1);
  if (/^https?:\/\//.test(v) || v.startsWith('urn:')) return [v.replace(/\/_history\/[^/]+$/, '')];
  v = v.replace(/\/_history\/[^/]+$/, '');
  const typed = /^([A-Z][A-Za-z]+)\/(.+)$/.exec(v);
  if (typed) {
    if (modifier && modifier !== 'missing' && typed[1] !== modifier) return [];
    return [`${typed[1]}/${typed[2]}`];
  }
  if (modifier && modifier !== 'missing') return [`${modifier}/${v}`];
  const targets = def.targets.length > 0 ? def.targets : [];
  if (targets.length === 0) return [v];
  return targets.map((t) => `${t}/${v}`);
}

// ---- uri -------------------------------------------------------------------------------------

function uriFilter(path: string, modifier: string | undefined, value: string): Filter {
  if (modifier === 'below') return { [path]: { $regex: `^${escapeRegex(value)}` } };
  if (modifier === 'above') {
    const prefixes: string[] = [];
    const parts = value.split('/');
    for (let i = parts.length; i > 0; i--) {
      const p = parts.slice(0, i).join('/');
      if (p !== '' && !/^[a-z]+:\/?$/.test(p)) prefixes.push(p);
    }
    return { [path]: { $in: prefixes } };
  }
  return { [path]: value };
}

// ---- number / quantity -----------------------------------------------------------------------

function numberRange(text: string): { value: number; lo: number; hi: number } {
  const value = Number(text);
  const mantissa = text.replace(/^[+-]/, '').split(/[eE]/)[0];
  const exp = /[eE]([+-]?\d+)$/.exec(text);
  const decimals = (mantissa.split('.')[1] ?? '').length - (exp ? Number(exp[1]) : 0);
  const half = 0.5 * 10 ** -decimals;
  return { value, lo: value - half, hi: value + half };
}

function numberCond(prefix: Prefix, text: string): Filter {
  const { value, lo, hi } = numberRange(text);
  switch (prefix) {
    case 'eq':
    case 'ne':
      return { $gte: lo, $lt: hi };
    case 'gt':
    case 'sa':
      return { $gt: value };
    case 'lt':
    case 'eb':
      return { $lt: value };
    case 'ge':
      return { $gte: value };
    case 'le':
      return { $lte: value };
    case 'ap': {
      const tol = Math.abs(value) * 0.1;
      return { $gte: value - tol, $lte: value + tol };
    }
  }
}

function numberFilter(path: string, raw: string): Filter {
  const { prefix, rest } = splitPrefix(raw);
  if (!NUMBER_RE.test(rest)) return MATCH_NOTHING;
  const positive = { [path]: { $elemMatch: numberCond(prefix, rest) } };
  if (prefix === 'ne') return and([{ [path]: { $exists: true } }, { $nor: [positive] }]);
  return positive;
}

function quantityFilter(path: string, raw: string): Filter {
  const { prefix, rest } = splitPrefix(raw);
  const [num, system, code] = splitEscaped(rest, '|').map(unescape);
  if (!NUMBER_RE.test(num)) return MATCH_NOTHING;
  const elem: Filter = { v: numberCond(prefix, num) };
  if (system) elem.s = system;
  if (code) elem.c = code;
  const positive = { [path]: { $elemMatch: elem } };
  if (prefix === 'ne') return and([{ [path]: { $exists: true } }, { $nor: [positive] }]);
  return positive;
}
