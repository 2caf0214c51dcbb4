// Search-index extraction, run on every write: evaluates each R4 SearchParameter of the resource's
// type (parsed FHIRPath cached in params.ts) and normalises the values into `s.<code>`.
//
// Layout of the SearchIndex (StoredDoc.s); only parameters with values get a key:
//   string     s.<code>: string[]            folded values (fold(): NFD, marks stripped, lower case,
//                                            hyphens/space runs → one space) plus every later word
//                                            (`smith jones` → `jones`), for starts-with matching;
//                                            HumanName/Address give each part and the full text
//              s._exact.<code>: string[]     the original values (for `:exact`)
//              phonetic params hold Soundex codes instead
//   token      s.<code>: Array<{ s?: system, c?: code } | { t: folded text }>; identifiers add the
//              type coding as { ts, tc } on each entry (`:of-type`); booleans are c 'true'/'false'
//   date       s.<code>: { lo, hi } (single-valued parameters) or Array<{ lo, hi }> (repeating),
//              UTC ISO instants with milliseconds, both inclusive, by precision (util.dateRange)
//   reference  s.<code>: string[]            `Type/id` (versions stripped); absolute URLs are kept
//                                            and their `Type/id` tail added
//   uri        s.<code>: string[]
//   number     s.<code>: number[]
//   quantity   s.<code>: Array<{ v: number, s?: system, c?: code or unit }>
//   s._sort.<code>: string                   one order-preserving key per parameter for `_sort`
//                                            (first string, earliest date lo, first code/ref,
//                                            smallest number)
// `_id` and `_lastUpdated` are answered from the StoredDoc's own `_id` and `lastUpdated`.
import { evalFhirPathTyped, toTypedValue, tryGetDataType, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { SearchIndex } from '../store/store.js';
import { paramDefs, type ParamDef, type PathStep } from './params.js';
import { dateRange, fold, foldedWithWords, MAX_INSTANT, MIN_INSTANT, numberSortKey, phoneticCodes, type DateRange } from './util.js';

export type TokenEntry = { s?: string; c?: string; ts?: string; tc?: string } | { t: string };
export type QuantityEntry = { v: number; s?: string; c?: string };

export function extractSearchIndex(resource: Resource): SearchIndex {
  return extract(resource, true);
}

/** extractSearchIndex running every parameter's plan, also those it skips (the tests' reference). */
export function extractSearchIndexRunningEveryPlan(resource: Resource): SearchIndex {
  return extract(resource, false);
}

function extract(resource: Resource, skipAbsent: boolean): SearchIndex {
  const defs = paramDefs(resource.resourceType);
  const index: SearchIndex = {};
  if (!defs) return index;
  let root: TypedValue[] | undefined;
  // The resource as the plans' starting point, made once for all of its parameters (only read).
  let start: TypedValue[] | undefined;
  const sort: Record<string, string> = {};
  const exact: Record<string, string[]> = {};
  const roots = skipAbsent ? rootIndexOf(defs, resource.resourceType) : undefined;
  const present = roots ? markPresent(roots, resource) : undefined;
  let i = -1;
  for (const def of defs.values()) {
    i++;
    if (!def.expression) continue;
    let values: TypedValue[];
    try {
      if (def.plan) {
        // Every branch starts with a member the resource does not have: runPlan would find nothing.
        if (roots && present && def.plan === roots.plans[i] && roots.skippable[i] && present[i] === 0) continue;
        values = runPlan(def.plan, resource, (start ??= [{ type: resource.resourceType, value: resource }]));
      } else {
        root ??= [toTypedValue(resource)];
        values = evalFhirPathTyped(def.expression, root, { '%resource': root[0], '%context': root[0] });
      }
    } catch {
      continue; // an expression that cannot evaluate on this content yields no index values
    }
    if (values.length === 0) continue;
    addParam(index, sort, exact, def, values);
  }
  if (Object.keys(exact).length > 0) index._exact = exact;
  if (Object.keys(sort).length > 0) index._sort = sort;
  return index;
}

/**
 * Per resource type, the keys its parameters' plans start from (their first member steps), so a
 * resource's parameters with nothing to find are known from its own keys (a dozen) instead of by
 * running each plan (~25 per type, most finding nothing). A plan is skippable when each of its
 * branches starts with a member and none ends in `notFalse` (which answers false for an absent
 * member); `plans` records the plan each entry was computed for (another plan set on a def later
 * is simply run).
 */
interface RootIndex {
  plans: Array<PathStep[][] | undefined>;
  skippable: boolean[];
  /** JSON key → the positions (in paramDefs order) of the plans starting from it. */
  byKey: Map<string, number[]>;
  size: number;
}

const rootIndexes = new WeakMap<Map<string, ParamDef>, RootIndex>();

function rootIndexOf(defs: Map<string, ParamDef>, resourceType: string): RootIndex {
  let ri = rootIndexes.get(defs);
  if (ri) return ri;
  ri = { plans: [], skippable: [], byKey: new Map(), size: defs.size };
  let i = 0;
  for (const def of defs.values()) {
    const plan = def.plan;
    ri.plans.push(plan);
    const keys: string[] = [];
    let skippable = plan !== undefined;
    for (const steps of plan ?? []) {
      const first = steps[0];
      if (!first || first.kind !== 'member' || steps.some((step) => step.kind === 'notFalse')) {
        skippable = false;
        break;
      }
      for (const [key] of memberKeys(resourceType, first.name)) keys.push(key);
    }
    ri.skippable.push(skippable);
    if (skippable) {
      for (const key of keys) {
        const at = ri.byKey.get(key);
        if (at) at.push(i);
        else ri.byKey.set(key, [i]);
      }
    }
    i++;
  }
  rootIndexes.set(defs, ri);
  return ri;
}

/**
 * 1 at the positions of the plans one of whose first members the resource has (not null), read as
 * runPlan reads them (`obj[key]`: inherited enumerable keys too; a body is JSON or built from it,
 * so it has no non-enumerable ones).
 */
function markPresent(ri: RootIndex, resource: Resource): Uint8Array {
  const present = new Uint8Array(ri.size);
  const obj = resource as unknown as Record<string, unknown>;
  for (const key in obj) {
    const at = ri.byKey.get(key);
    if (at === undefined) continue;
    const value = obj[key];
    if (value === undefined || value === null) continue;
    for (let j = 0; j < at.length; j++) present[at[j]] = 1;
  }
  return present;
}

/** The values of one parameter of a resource (used by reverse chaining and _include). */
export function extractParamValues(resource: Resource, def: ParamDef): TypedValue[] {
  if (!def.expression) return [];
  if (def.plan) return runPlan(def.plan, resource);
  const root = [toTypedValue(resource)];
  try {
    return evalFhirPathTyped(def.expression, root, { '%resource': root[0], '%context': root[0] });
  } catch {
    return [];
  }
}

/**
 * Evaluates a plain-path plan (params.ts planFor) with the schema types FHIRPath would give.
 * `start` is the resource as a typed value (extract passes one for all of a resource's plans; it is
 * only read). A new array is returned, never `start`.
 */
export function runPlan(plan: PathStep[][], resource: Resource, start: TypedValue[] = [{ type: resource.resourceType, value: resource }]): TypedValue[] {
  // One branch (most parameters): its last step's values are the answer, without a copy.
  if (plan.length === 1) {
    const current = runBranch(plan[0], start);
    return current === start ? [...current] : current;
  }
  const out: TypedValue[] = [];
  for (const steps of plan) for (const v of runBranch(steps, start)) out.push(v);
  return out;
}

/** The values one branch of a plan reaches from `start` (`start` itself when it has no step). */
function runBranch(steps: PathStep[], start: TypedValue[]): TypedValue[] {
  let current = start;
  for (const step of steps) {
    const next: TypedValue[] = [];
    if (step.kind === 'as') {
      for (const v of current) if (v.type === step.type) next.push(v);
    } else if (step.kind === 'notFalse') {
      // `X.exists() and X != false`: one boolean for the resource
      const present = current.length > 0 && !current.every((v) => v.value === false);
      next.push({ type: 'boolean', value: present });
    } else if (step.kind === 'where') {
      for (const v of current) if ((v.value as Record<string, unknown>)?.[step.field] === step.value) next.push(v);
    } else {
      for (const v of current) member(v, step, next);
    }
    current = next;
    if (current.length === 0 && steps[steps.length - 1].kind !== 'notFalse') break;
  }
  return current;
}

/** Per (type, member): the JSON keys it can appear under and the type each one carries. */
const memberCache = new Map<string, Map<string, Array<[key: string, type: string]>>>();

function memberKeys(type: string, name: string): Array<[string, string]> {
  let byName = memberCache.get(type);
  if (!byName) memberCache.set(type, (byName = new Map()));
  let keys = byName.get(name);
  if (!keys) {
    const schema = tryGetDataType(type);
    const el = schema?.elements[name];
    if (el) keys = [[name, el.type[0].code]];
    else {
      const choice = schema?.elements[`${name}[x]`];
      keys = (choice?.type ?? []).map((t) => [name + t.code.charAt(0).toUpperCase() + t.code.slice(1), t.code]);
    }
    byName.set(name, keys);
  }
  return keys;
}

/** A member step with the keys of the type it last met (a step nearly always meets one type). */
type MemberStep = Extract<PathStep, { kind: 'member' }> & { seenType?: string; seenKeys?: Array<[string, string]> };

function member(v: TypedValue, step: MemberStep, out: TypedValue[]): void {
  const obj = v.value as Record<string, unknown> | undefined;
  if (!obj || typeof obj !== 'object') return;
  let keys = step.seenKeys;
  if (step.seenType !== v.type || keys === undefined) {
    keys = memberKeys(v.type, step.name);
    step.seenType = v.type;
    step.seenKeys = keys;
  }
  for (const [key, type] of keys) {
    const value = obj[key];
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) if (item !== undefined && item !== null) out.push({ type, value: item });
    } else out.push({ type, value });
  }
}

function addParam(
  index: SearchIndex,
  sort: Record<string, string>,
  exact: Record<string, string[]>,
  def: ParamDef,
  values: TypedValue[]
): void {
  const code = def.code;
  switch (def.type) {
    case 'string': {
      const parts: string[] = [];
      const fulls: string[] = [];
      stringValues(values, parts, fulls);
      if (parts.length === 0 && fulls.length === 0) return;
      const folded = new Set<string>();
      if (def.phonetic) {
        for (const v of parts) for (const p of phoneticCodes(v)) folded.add(p);
      } else {
        for (const v of parts) for (const f of foldedWithWords(v)) folded.add(f);
        for (const v of fulls) {
          const f = fold(v);
          if (f !== '') folded.add(f);
        }
      }
      if (folded.size === 0) return;
      index[code] = [...folded];
      if (!def.phonetic) exact[code] = distinctOf(parts, fulls);
      sort[code] = stringSortKey(values) ?? fold(parts[0] ?? fulls[0]);
      return;
    }
    case 'token': {
      const entries = tokenEntries(values);
      if (entries.length === 0) return;
      index[code] = entries;
      const key = tokenSortKey(entries);
      if (key !== undefined) sort[code] = key;
      return;
    }
    case 'date': {
      const ranges: DateRange[] = [];
      for (const v of values) {
        const r = toRange(v);
        if (r) ranges.push(r);
      }
      if (ranges.length === 0) return;
      if (def.multiple) {
        index[code] = dedupeRanges(ranges);
      } else {
        let lo = ranges[0].lo;
        let hi = ranges[0].hi;
        for (const r of ranges) {
          if (r.lo < lo) lo = r.lo;
          if (r.hi > hi) hi = r.hi;
        }
        index[code] = { lo, hi };
      }
      sort[code] = ranges.reduce((min, r) => (r.lo < min ? r.lo : min), ranges[0].lo);
      return;
    }
    case 'reference': {
      const refs = referenceValues(values);
      if (refs.length === 0) return;
      index[code] = refs;
      sort[code] = refs[0];
      return;
    }
    case 'uri': {
      const uris: string[] = [];
      for (const v of values) {
        if (typeof v.value === 'string' && v.value !== '' && !uris.includes(v.value)) uris.push(v.value);
      }
      if (uris.length === 0) return;
      index[code] = uris;
      sort[code] = uris[0];
      return;
    }
    case 'number': {
      const nums: number[] = [];
      for (const v of values) {
        const n = typeof v.value === 'number' ? v.value : typeof v.value === 'string' ? Number(v.value) : NaN;
        if (Number.isFinite(n) && !nums.includes(n)) nums.push(n);
      }
      if (nums.length === 0) return;
      index[code] = nums;
      sort[code] = numberSortKey(Math.min(...nums));
      return;
    }
    case 'quantity': {
      const out: QuantityEntry[] = [];
      for (const v of values) {
        const q = v.value as { value?: number; system?: string; code?: string; unit?: string } | number;
        if (typeof q === 'number') out.push({ v: q });
        else if (q && typeof q.value === 'number') {
          const e: QuantityEntry = { v: q.value };
          if (q.system) e.s = q.system;
          const c = q.code ?? q.unit;
          if (c) e.c = c;
          out.push(e);
        }
      }
      if (out.length === 0) return;
      index[code] = out;
      sort[code] = numberSortKey(Math.min(...out.map((e) => e.v)));
      return;
    }
  }
}

// ---- strings ---------------------------------------------------------------------------------

/** The values of a then b in order, each once (`[...new Set([...a, ...b])]` without the copies). */
function distinctOf(a: string[], b: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const list of [a, b]) {
    for (const v of list) {
      if (seen.has(v)) continue;
      seen.add(v);
      out.push(v);
    }
  }
  return out;
}

type HumanNameLike = { text?: string; family?: string; given?: string[]; prefix?: string[]; suffix?: string[] };
type AddressLike = {
  text?: string;
  line?: string[];
  city?: string;
  district?: string;
  state?: string;
  postalCode?: string;
  country?: string;
};

function pushStr(out: string[], v: unknown): void {
  if (typeof v === 'string' && v.trim() !== '') out.push(v);
}

/** Collects the parts of string values (matched word by word) and composed full texts. */
function stringValues(values: TypedValue[], out: string[], fulls: string[]): void {
  for (const tv of values) {
    const v = tv.value;
    if (typeof v === 'string') {
      pushStr(out, v);
    } else if (tv.type === 'HumanName' && v && typeof v === 'object') {
      const n = v as HumanNameLike;
      pushStr(out, n.family);
      for (const g of n.given ?? []) pushStr(out, g);
      for (const p of n.prefix ?? []) pushStr(out, p);
      for (const p of n.suffix ?? []) pushStr(out, p);
      pushStr(out, n.text);
      const full = [...(n.given ?? []), n.family].filter((x) => typeof x === 'string' && x !== '').join(' ');
      if (full !== '' && full !== n.family && full !== n.text) pushStr(fulls, full);
    } else if (tv.type === 'Address' && v && typeof v === 'object') {
      const a = v as AddressLike;
      for (const l of a.line ?? []) pushStr(out, l);
      pushStr(out, a.city);
      pushStr(out, a.district);
      pushStr(out, a.state);
      pushStr(out, a.postalCode);
      pushStr(out, a.country);
      pushStr(out, a.text);
      const full = [...(a.line ?? []), a.city, a.district, a.state, a.postalCode, a.country]
        .filter((x) => typeof x === 'string' && x !== '')
        .join(' ');
      if (full !== '') pushStr(fulls, full);
    }
  }
}

/** Sort key of a string parameter: HumanName sorts by `family given…`, others by the first value. */
function stringSortKey(values: TypedValue[]): string | undefined {
  const first = values[0];
  if (first?.type === 'HumanName' && first.value && typeof first.value === 'object') {
    const n = first.value as HumanNameLike;
    const key = fold([n.family ?? '', ...(n.given ?? [])].join(' '));
    if (key !== '') return key;
    if (n.text) return fold(n.text);
  }
  return undefined;
}

// ---- tokens ----------------------------------------------------------------------------------

type CodingLike = { system?: string; code?: string; display?: string };

/** What a token parameter sorts by: the first code, else the first text. */
export function tokenSortKey(entries: TokenEntry[]): string | undefined {
  const first = entries.find((e): e is { s?: string; c?: string } => 'c' in e && e.c !== undefined);
  const text = entries.find((e): e is { t: string } => 't' in e);
  return first?.c ?? text?.t;
}

/**
 * A name per token entry, equal for two entries exactly when their JSON texts are (what tokenEntries
 * drops repeats by): entries are built with their members in one order (s, c, ts, tc; or t alone),
 * so when every member is a string the length-prefixed members name it without JSON.stringify;
 * anything else is named by its JSON (which starts with `{`, never with the \u0001 of the others).
 * extract.test.ts compares the two namings with fast-check.
 */
export function tokenKey(e: TokenEntry): string {
  const { s, c, ts, tc, t } = e as { s?: unknown; c?: unknown; ts?: unknown; tc?: unknown; t?: unknown };
  if (!isStringOrAbsent(s) || !isStringOrAbsent(c) || !isStringOrAbsent(ts) || !isStringOrAbsent(tc) || !isStringOrAbsent(t)) return JSON.stringify(e);
  return `\u0001${keyPart(s)}${keyPart(c)}${keyPart(ts)}${keyPart(tc)}${keyPart(t)}`;
}

function isStringOrAbsent(v: unknown): v is string | undefined {
  return v === undefined || typeof v === 'string';
}

function keyPart(v: string | undefined): string {
  return v === undefined ? '-' : `${v.length}:${v}`;
}

/** Token entries of values (in order, without repeats); also used by src/audit/search-values.ts. */
export function tokenEntries(values: TypedValue[]): TokenEntry[] {
  const tokens = new TokenCollector();
  for (const tv of values) {
    const v = tv.value;
    if (v === undefined || v === null) continue;
    switch (tv.type) {
      case 'Coding':
        tokens.addCoding(v as CodingLike);
        break;
      case 'CodeableConcept': {
        const cc = v as { coding?: CodingLike[]; text?: string };
        for (const c of cc.coding ?? []) tokens.addCoding(c);
        tokens.addText(cc.text);
        break;
      }
      case 'Identifier': {
        const id = v as { system?: string; value?: string; type?: { coding?: CodingLike[]; text?: string } };
        const base: { s?: string; c?: string } = {};
        if (id.system) base.s = id.system;
        if (id.value !== undefined && id.value !== '') base.c = id.value;
        if (base.s === undefined && base.c === undefined) break;
        const typeCodings = (id.type?.coding ?? []).filter((c) => c && (c.code || c.system));
        if (typeCodings.length === 0) tokens.add(base);
        for (const tc of typeCodings) {
          // Built member by member (a spread followed by more members is V8's slow path): the same object as `{ ...base }`.
          const e: { s?: string; c?: string; ts?: string; tc?: string } = {};
          if (base.s !== undefined) e.s = base.s;
          if (base.c !== undefined) e.c = base.c;
          if (tc.system) e.ts = tc.system;
          if (tc.code) e.tc = tc.code;
          tokens.add(e);
        }
        tokens.addText(id.type?.text);
        break;
      }
      case 'ContactPoint': {
        const cp = v as { system?: string; value?: string };
        if (cp.value) tokens.add(cp.system ? { s: cp.system, c: cp.value } : { c: cp.value });
        break;
      }
      case 'boolean':
        tokens.add({ c: v ? 'true' : 'false' });
        break;
      default:
        if (typeof v === 'string' || typeof v === 'number') tokens.add({ c: String(v) });
        else if (typeof v === 'boolean') tokens.add({ c: v ? 'true' : 'false' });
        else if (typeof v === 'object' && typeof (v as CodingLike).code === 'string') tokens.addCoding(v as CodingLike);
    }
  }
  return tokens.out;
}

/** The entries tokenEntries collects, in order, each once (by tokenKey). */
class TokenCollector {
  readonly out: TokenEntry[] = [];
  private readonly seen = new Set<string>();

  add(e: TokenEntry): void {
    const key = tokenKey(e);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.out.push(e);
  }

  addText(text: unknown): void {
    if (typeof text !== 'string') return;
    for (const t of foldedWithWords(text)) this.add({ t });
  }

  addCoding(c: CodingLike | undefined): void {
    if (!c || typeof c !== 'object') return;
    if (c.code !== undefined || c.system !== undefined) {
      const e: { s?: string; c?: string } = {};
      if (c.system) e.s = c.system;
      if (c.code !== undefined && c.code !== '') e.c = String(c.code);
      if (e.s !== undefined || e.c !== undefined) this.add(e);
    }
    this.addText(c.display);
  }
}

// ---- dates -----------------------------------------------------------------------------------

function toRange(tv: TypedValue): DateRange | undefined {
  const v = tv.value;
  if (typeof v === 'string') return dateRange(v);
  if (v && typeof v === 'object' && (tv.type === 'Period' || 'start' in v || 'end' in v)) {
    const p = v as { start?: string; end?: string };
    const start = typeof p.start === 'string' ? dateRange(p.start) : undefined;
    const end = typeof p.end === 'string' ? dateRange(p.end) : undefined;
    if (!start && !end) return undefined;
    return { lo: start?.lo ?? MIN_INSTANT, hi: end?.hi ?? MAX_INSTANT };
  }
  return undefined;
}

function dedupeRanges(ranges: DateRange[]): DateRange[] {
  const seen = new Set<string>();
  return ranges.filter((r) => {
    const k = r.lo + r.hi;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---- references ------------------------------------------------------------------------------

const RELATIVE_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const ABSOLUTE_TAIL = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Normalised forms a reference string is indexed under. */
export function referenceForms(reference: string): string[] {
  const rel = RELATIVE_REF.exec(reference);
  if (rel) return [`${rel[1]}/${rel[2]}`];
  if (/^https?:\/\//.test(reference)) {
    const tail = ABSOLUTE_TAIL.exec(reference);
    if (tail) {
      const base = reference.slice(0, tail.index);
      return [`${tail[1]}/${tail[2]}`, `${base}/${tail[1]}/${tail[2]}`];
    }
    return [reference];
  }
  if (reference.startsWith('#')) return [];
  return [reference];
}

function referenceValues(values: TypedValue[]): string[] {
  const out: string[] = [];
  for (const tv of values) {
    const v = tv.value;
    let ref: string | undefined;
    if (typeof v === 'string') ref = v;
    else if (v && typeof v === 'object' && typeof (v as { reference?: unknown }).reference === 'string') {
      ref = (v as { reference: string }).reference;
    }
    if (!ref) continue;
    for (const f of referenceForms(ref)) if (!out.includes(f)) out.push(f);
  }
  return out;
}
