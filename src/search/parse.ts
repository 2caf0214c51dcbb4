// Parses a search query (name/value pairs as received) into a typed request. Everything a client
// can get wrong is caught here, before the store is touched: unknown parameters, modifiers a type
// does not have, malformed values, non-string values, bracket/operator injection in names.
// Strict mode throws 400 naming the parameter; lenient mode drops the parameter, records a warning
// issue, and leaves it out of the self link.
import { isResourceType } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { DEFAULT_LIMITS, type RequestLimits } from '../config.js';
import { badRequest, failWith, makeIssue, notFound } from '../fhir/outcome.js';
import { AUDIT_TYPE, SUPPORTED_TYPES, isSupportedType } from '../fhir/resource-types.js';
import { paramDef, paramDefs, type ParamDef, type ParamType } from './params.js';
import { dateRange } from './util.js';
import { ELEMENT_NAME, SUMMARY_MODES, unknownElements, unknownElementText, type SummaryMode } from './subset.js';

export const DEFAULT_COUNT = 20;
/** The default largest `_count` (SEARCH_MAX_COUNT); larger is a 400, or capped with Prefer: handling=lenient. */
export const MAX_COUNT = DEFAULT_LIMITS.searchMaxCount;

/** The bounds a search is parsed within (config.ts RequestLimits; README "Configuration"). */
export type SearchLimits = Pick<
  RequestLimits,
  'queryMaxParams' | 'searchMaxCount' | 'searchMaxIncludes' | 'searchMaxChainDepth' | 'searchMaxChains'
>;

/** Modifiers the compiler implements, per parameter type (`:missing` on all; `:[type]` on references). */
export const MODIFIERS: Record<ParamType, string[]> = {
  string: ['missing', 'exact', 'contains'],
  token: ['missing', 'not', 'text', 'of-type'],
  date: ['missing'],
  reference: ['missing'],
  uri: ['missing', 'below', 'above'],
  number: ['missing'],
  quantity: ['missing'],
};

export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type Prefix = (typeof PREFIXES)[number];

/** One search parameter occurrence: its comma-separated values are ORed. */
export interface ParamCriterion {
  kind: 'param';
  name: string;
  def: ParamDef;
  modifier?: string;
  /** Values split on unescaped commas; escapes (`\,` `\|` `\$` `\\`) still in place. */
  values: string[];
}

/** `ref.param=…` or `ref:Type.param=…`: the sub-criterion per candidate target type. */
export interface ChainCriterion {
  kind: 'chain';
  name: string;
  def: ParamDef;
  subs: Array<{ type: string; criterion: Criterion }>;
}

/** `_has:Source:refParam:criterion=…` (reverse chain). */
export interface HasCriterion {
  kind: 'has';
  name: string;
  sourceType: string;
  refDef: ParamDef;
  criterion: Criterion;
}

export type Criterion = ParamCriterion | ChainCriterion | HasCriterion;

export interface SortSpec {
  /** Search parameter code (`_id`, `_lastUpdated`, `birthdate` …). */
  code: string;
  direction: 1 | -1;
  /** StoredDoc path sorted on. */
  field: string;
}

export interface IncludeSpec {
  /** The source type of the reference parameter. */
  sourceType: string;
  /** Reference parameter code, or `*` for every reference parameter of sourceType. */
  param: string;
  targetType?: string;
  iterate: boolean;
  raw: string;
}

export interface ParsedSearch {
  /** Types searched: one for type-level search, `_type` (or every supported type) for system. */
  types: string[];
  systemLevel: boolean;
  /** Criteria per searched type (system search parses each type's criteria separately). */
  criteria: Map<string, Criterion[]>;
  count: number;
  sort: SortSpec[];
  total?: 'none' | 'estimate' | 'accurate';
  summary?: SummaryMode;
  elements?: string[];
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  pageToken?: string;
  /** Warnings (lenient mode): ignored parameters. */
  issues: OperationOutcomeIssue[];
  /** The accepted parameters, in order, for the self/next/previous links (no page token). */
  linkParams: Array<[string, string]>;
}

/** Control parameters that take a single value. */
const SINGLE_CONTROL = new Set(['_count', '_total', '_summary', '_elements', '_page_token', '_type', '_format', '_pretty', '_sort']);
/** Accepted and ignored here (the HTTP layer handles them). */
const PASSIVE_CONTROL = new Set(['_format', '_pretty']);

class ParamError extends Error {
  constructor(
    readonly param: string,
    message: string
  ) {
    super(message);
  }
}

function fail(param: string, message: string): never {
  throw new ParamError(param, message);
}

export interface ParseOptions {
  resourceType?: string;
  lenient?: boolean;
  baseUrl?: string;
  /** Absent: the defaults. */
  limits?: SearchLimits;
}

/** Parses a whole search request. Throws 400 (strict) for any bad parameter, 404 for unknown types. */
export function parseSearch(params: Array<[string, string]> | unknown, options: ParseOptions): ParsedSearch {
  const pairs = checkPairs(params);
  const limits = options.limits ?? DEFAULT_LIMITS;
  checkParamCount(pairs, limits);
  const lenient = options.lenient === true;
  const issues: OperationOutcomeIssue[] = [];
  const errors: OperationOutcomeIssue[] = [];
  const linkParams: Array<[string, string]> = [];
  const report = (err: ParamError): void => {
    if (lenient) {
      issues.push(
        makeIssue('warning', 'not-supported', `Parameter "${err.param}" ignored: ${err.message}`, { expression: err.param })
      );
    } else {
      errors.push(makeIssue('error', 'invalid', `Parameter "${err.param}": ${err.message}`, { expression: err.param }));
    }
  };

  let types: string[];
  const systemLevel = options.resourceType === undefined;
  if (!systemLevel) {
    const rt = options.resourceType as string;
    if (!isSupportedType(rt) && rt !== AUDIT_TYPE) throw notFound(`Unknown resource type "${rt}"`);
    types = [rt];
  } else {
    types = [...SUPPORTED_TYPES];
    const typeParam = pairs.filter(([n]) => n === '_type');
    if (typeParam.length > 0) {
      try {
        if (typeParam.length > 1) fail('_type', 'may appear only once');
        const list = typeParam[0][1].split(',').map((t) => t.trim()).filter((t) => t !== '');
        if (list.length === 0) fail('_type', 'needs at least one resource type');
        for (const t of list) if (!isSupportedType(t)) fail('_type', `unknown or unsupported resource type "${t}"`);
        types = [...new Set(list)];
        linkParams.push(['_type', types.join(',')]);
      } catch (err) {
        if (!(err instanceof ParamError)) throw err;
        report(err);
      }
    }
  }

  const out: ParsedSearch = {
    types,
    systemLevel,
    criteria: new Map(types.map((t) => [t, []])),
    count: DEFAULT_COUNT,
    sort: [],
    include: [],
    revinclude: [],
    issues,
    linkParams,
  };
  const seenControl = new Set<string>();
  let includes = 0;
  let chains = 0;

  for (const [name, value] of pairs) {
    if (name === '_type' && systemLevel) continue;
    try {
      if (name === '') fail(name, 'empty parameter name');
      const base = name.split(':')[0];
      if (SINGLE_CONTROL.has(base)) {
        if (base !== name) fail(name, `"${base}" takes no modifier`);
        if (seenControl.has(name)) fail(name, 'may appear only once');
        seenControl.add(name);
      }
      if (PASSIVE_CONTROL.has(base)) continue;
      if (base === '_type') fail(name, '_type is only allowed in system-level search');
      if (base === '_count') {
        if (!/^\d{1,9}$/.test(value)) fail(name, `must be a non-negative integer, got "${value}"`);
        out.count = Math.min(Number(value), limits.searchMaxCount);
        if (Number(value) > limits.searchMaxCount) {
          const text = `_count ${value} is over the largest page of ${limits.searchMaxCount} (SEARCH_MAX_COUNT)`;
          if (!lenient) throw failWith(400, [makeIssue('error', 'too-costly', text, { expression: '_count' })]);
          issues.push(makeIssue('warning', 'too-costly', `${text}; pages of ${limits.searchMaxCount} are returned`, { expression: '_count' }));
        }
        linkParams.push([name, String(out.count)]);
        continue;
      }
      if (base === '_page_token') {
        if (!/^[A-Za-z0-9_-]{1,4096}$/.test(value)) fail(name, 'malformed page token');
        out.pageToken = value;
        continue;
      }
      if (base === '_total') {
        if (value !== 'none' && value !== 'estimate' && value !== 'accurate') {
          fail(name, `must be none, estimate or accurate, got "${value}"`);
        }
        out.total = value;
        linkParams.push([name, value]);
        continue;
      }
      if (base === '_summary') {
        if (!(SUMMARY_MODES as readonly string[]).includes(value)) {
          fail(name, `must be true, false, text, data or count, got "${value}"`);
        }
        out.summary = value as ParsedSearch['summary'];
        linkParams.push([name, value]);
        continue;
      }
      if (base === '_elements') {
        const list = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
        for (const e of list) {
          if (!ELEMENT_NAME.test(e)) fail(name, `"${e}" is not an element name`);
        }
        const unknown = unknownElements(list, types);
        if (unknown.length > 0 && !lenient) fail(name, unknown.map((e) => unknownElementText(e, types)).join('; '));
        // Lenient: the names that cut something are kept, each other one said in a warning.
        for (const e of unknown) issues.push(makeIssue('warning', 'not-supported', `Parameter "${name}": ${unknownElementText(e, types)}; ignored`, { expression: name }));
        const known = list.filter((e) => !unknown.includes(e));
        if (known.length === 0) continue;
        out.elements = known;
        linkParams.push([name, known.join(',')]);
        continue;
      }
      if (base === '_sort') {
        out.sort = parseSort(value, types, name);
        linkParams.push([name, value]);
        continue;
      }
      if (base === '_include' || base === '_revinclude') {
        if (++includes > limits.searchMaxIncludes) {
          fail(name, `more than ${limits.searchMaxIncludes} _include/_revinclude parameters (SEARCH_MAX_INCLUDES)`);
        }
        const spec = parseInclude(name, value, base === '_revinclude', types);
        (base === '_include' ? out.include : out.revinclude).push(spec);
        linkParams.push([name, value]);
        continue;
      }
      if (['_text', '_content', '_list', '_query', '_filter', '_contained', '_containedType', '_offset'].includes(base)) {
        fail(name, 'is not supported by this server');
      }
      if (base === '_since' || base === '_at') fail(name, 'is a history parameter, not a search parameter');
      // A search criterion: parsed for every searched type.
      if (chainLinks(name) > 0 && ++chains > limits.searchMaxChains) {
        fail(name, `more than ${limits.searchMaxChains} chained or _has parameters (SEARCH_MAX_CHAINS)`);
      }
      checkChainDepth(name, limits);
      for (const t of types) {
        const criterion = parseCriterion(t, name, value, options.baseUrl, 0);
        if (value !== '') out.criteria.get(t)?.push(criterion);
      }
      // An empty value is ignored (and left out of the links), once its name was checked.
      if (value === '') continue;
      linkParams.push([name, value]);
    } catch (err) {
      if (!(err instanceof ParamError)) throw err;
      report(err);
    }
  }
  if (errors.length > 0) throw failWith(400, errors);
  return out;
}

/** Parses the criteria of a conditional query (strict; control parameters are not allowed). */
export function parseCriteria(
  resourceType: string,
  params: Array<[string, string]>,
  baseUrl?: string,
  limits: SearchLimits = DEFAULT_LIMITS
): Criterion[] {
  const pairs = checkPairs(params);
  checkParamCount(pairs, limits);
  let chains = 0;
  const out: Criterion[] = [];
  const errors: OperationOutcomeIssue[] = [];
  if (!paramDefs(resourceType)) throw notFound(`Unknown resource type "${resourceType}"`);
  for (const [name, value] of pairs) {
    try {
      if (PASSIVE_CONTROL.has(name)) continue;
      if (name.startsWith('_') && !name.startsWith('_has:') && !paramDef(resourceType, name.split(/[:.]/)[0])) {
        fail(name, 'is not allowed in a conditional request');
      }
      if (value === '') fail(name, 'needs a value');
      if (chainLinks(name) > 0 && ++chains > limits.searchMaxChains) {
        fail(name, `more than ${limits.searchMaxChains} chained or _has parameters (SEARCH_MAX_CHAINS)`);
      }
      checkChainDepth(name, limits);
      out.push(parseCriterion(resourceType, name, value, baseUrl, 0));
    } catch (err) {
      if (!(err instanceof ParamError)) throw err;
      errors.push(makeIssue('error', 'invalid', `Parameter "${err.param}": ${err.message}`, { expression: err.param }));
    }
  }
  if (errors.length > 0) throw failWith(400, errors);
  return out;
}

function checkParamCount(pairs: Array<[string, string]>, limits: SearchLimits): void {
  if (pairs.length > limits.queryMaxParams) {
    throw failWith(400, [
      makeIssue('error', 'too-costly', `The search has ${pairs.length} parameters, more than the limit of ${limits.queryMaxParams} (QUERY_MAX_PARAMS)`),
    ]);
  }
}

/** Links a parameter name walks: one per chained reference (`.`) and one per `_has:`. */
function chainLinks(name: string): number {
  let links = 0;
  for (let i = name.indexOf('.'); i !== -1; i = name.indexOf('.', i + 1)) links++;
  for (let i = name.indexOf('_has:'); i !== -1; i = name.indexOf('_has:', i + 1)) links++;
  return links;
}

function checkChainDepth(name: string, limits: SearchLimits): void {
  const links = chainLinks(name);
  if (links > limits.searchMaxChainDepth) {
    fail(name, `chains ${links} links deep, more than the limit of ${limits.searchMaxChainDepth} (SEARCH_MAX_CHAIN_DEPTH)`);
  }
}

/** Params must be an array of [string, string]; anything else (objects from `a[b]=c`, numbers …) is a 400. */
function checkPairs(params: unknown): Array<[string, string]> {
  if (!Array.isArray(params)) throw badRequest('Search parameters must be name/value pairs');
  for (const pair of params) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') {
      throw badRequest('Search parameters must be name/value pairs');
    }
    if (typeof pair[1] !== 'string') {
      throw badRequest(`Parameter "${pair[0]}": the value must be a string`, { expression: pair[0] });
    }
  }
  return params as Array<[string, string]>;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const MAX_CHAIN_DEPTH = 4;

/** Parses one criterion `name[:modifier][.chain…]=value` against a resource type. */
function parseCriterion(type: string, name: string, value: string, baseUrl: string | undefined, depth: number): Criterion {
  if (depth > MAX_CHAIN_DEPTH) fail(name, 'chains too deep');
  if (name.startsWith('_has:')) return parseHas(type, name, value, baseUrl, depth);
  const dot = name.indexOf('.');
  const head = dot >= 0 ? name.slice(0, dot) : name;
  const [code, modifier, ...extra] = head.split(':');
  if (extra.length > 0) fail(name, 'too many modifiers');
  if (!NAME_RE.test(code)) fail(name, `unknown search parameter "${code}" for ${type}`);
  const def = paramDef(type, code);
  if (!def) fail(name, `unknown search parameter "${code}" for ${type}`);
  if (dot >= 0) return parseChain(name, def, modifier, name.slice(dot + 1), value, baseUrl, depth);
  if (modifier !== undefined) {
    const allowed = MODIFIERS[def.type];
    const typeModifier = def.type === 'reference' && /^[A-Z][A-Za-z]+$/.test(modifier);
    if (typeModifier) {
      if (def.targets.length > 0 && !def.targets.includes(modifier)) {
        fail(name, `${modifier} is not a target type of "${code}"`);
      }
    } else if (!allowed.includes(modifier) || (modifier === 'of-type' && !isIdentifierParam(def))) {
      fail(name, `modifier ":${modifier}" is not supported for ${def.type} parameter "${code}"`);
    }
    if (def.docField && modifier !== 'not' && modifier !== 'missing') {
      fail(name, `modifier ":${modifier}" is not supported for "${code}"`);
    }
  }
  const values = splitEscaped(value, ',');
  if (value === '') {
    // only the name is checked (parseSearch ignores empty values)
  } else if (modifier === 'missing') {
    if (values.length !== 1 || (value !== 'true' && value !== 'false')) fail(name, `:missing takes true or false, got "${value}"`);
  } else {
    for (const v of values) validateValue(name, def, modifier, v);
  }
  return { kind: 'param', name, def, modifier, values };
}

export function isIdentifierParam(def: ParamDef): boolean {
  return def.code === 'identifier' || /\.identifier\b/.test(def.sp.expression ?? '');
}

function parseChain(
  name: string,
  def: ParamDef,
  modifier: string | undefined,
  rest: string,
  value: string,
  baseUrl: string | undefined,
  depth: number
): ChainCriterion {
  if (def.type !== 'reference') fail(name, `"${def.code}" is not a reference parameter and cannot be chained`);
  let candidates: string[] = def.targets.filter((t) => isSupportedType(t));
  if (modifier !== undefined) {
    if (!/^[A-Z][A-Za-z]+$/.test(modifier) || !candidates.includes(modifier)) {
      fail(name, `":${modifier}" is not a searchable target type of "${def.code}"`);
    }
    candidates = [modifier];
  }
  const restCode = rest.split(/[:.]/)[0];
  candidates = candidates.filter((t) => paramDef(t, restCode) !== undefined);
  if (candidates.length === 0) fail(name, `no target type of "${def.code}" has a search parameter "${restCode}"`);
  const subs = candidates.map((t) => ({ type: t, criterion: parseCriterion(t, rest, value, baseUrl, depth + 1) }));
  return { kind: 'chain', name, def, subs };
}

function parseHas(type: string, name: string, value: string, baseUrl: string | undefined, depth: number): HasCriterion {
  const m = /^_has:([A-Z][A-Za-z]+):([A-Za-z0-9_-]+):(.+)$/.exec(name);
  if (!m) fail(name, 'must look like _has:Type:referenceParameter:parameter');
  const [, sourceType, refCode, rest] = m;
  if (!isSupportedType(sourceType)) fail(name, `unknown or unsupported resource type "${sourceType}"`);
  const refDef = paramDef(sourceType, refCode);
  if (!refDef || refDef.type !== 'reference') fail(name, `"${refCode}" is not a reference parameter of ${sourceType}`);
  if (refDef.targets.length > 0 && !refDef.targets.includes(type)) fail(name, `${sourceType}.${refCode} does not refer to ${type}`);
  const criterion = parseCriterion(sourceType, rest, value, baseUrl, depth + 1);
  return { kind: 'has', name, sourceType, refDef, criterion };
}

/** Checks one (comma-split) value is well-formed for its parameter type. */
function validateValue(name: string, def: ParamDef, modifier: string | undefined, raw: string): void {
  if (raw === '') fail(name, 'empty value in a comma-separated list');
  switch (def.type) {
    case 'date': {
      const { rest } = splitPrefix(raw);
      if (!dateRange(rest)) fail(name, `"${raw}" is not a valid date`);
      return;
    }
    case 'number': {
      const { rest } = splitPrefix(raw);
      if (!NUMBER_RE.test(rest)) fail(name, `"${raw}" is not a valid number`);
      return;
    }
    case 'quantity': {
      const { rest } = splitPrefix(raw);
      const [num] = splitEscaped(rest, '|');
      if (!NUMBER_RE.test(num)) fail(name, `"${raw}" is not a valid quantity`);
      if (splitEscaped(rest, '|').length > 3) fail(name, `"${raw}" is not a valid quantity`);
      return;
    }
    case 'token': {
      const parts = splitEscaped(raw, '|');
      if (modifier === 'of-type') {
        if (parts.length !== 3 || parts.some((p) => p === '')) fail(name, ':of-type needs system|code|value');
      } else if (modifier !== 'text' && parts.length > 2) {
        fail(name, `"${raw}" is not a valid token (system|code)`);
      }
      return;
    }
    case 'reference': {
      if (/\s/.test(unescape(raw))) fail(name, `"${raw}" is not a valid reference`);
      return;
    }
    default:
      return;
  }
}

export const NUMBER_RE = /^[+-]?(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?$/;

/** Splits `[prefix]value` for ordered types; no prefix means eq. */
export function splitPrefix(raw: string): { prefix: Prefix; rest: string } {
  const p = raw.slice(0, 2);
  if ((PREFIXES as readonly string[]).includes(p) && raw.length > 2 && !/^[a-z]/.test(raw.slice(2, 3))) {
    return { prefix: p as Prefix, rest: raw.slice(2) };
  }
  return { prefix: 'eq', rest: raw };
}

/** Splits on an unescaped separator; the escapes stay in the parts (unescape() removes them). */
export function splitEscaped(value: string, sep: string): string[] {
  // Without a backslash there is nothing escaped: the same parts as value.split(sep) (every search
  // of a VXU — its PID-3 and ORC-3 tokens — without building each part a character at a time).
  if (sep.length === 1 && !value.includes('\\')) return value.split(sep);
  return splitEscapedSlowly(value, sep);
}

/** splitEscaped character by character (the reference; the path for values with a backslash). */
export function splitEscapedSlowly(value: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && i + 1 < value.length) {
      cur += ch + value[i + 1];
      i++;
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out;
}

/** Removes FHIR search escapes (`\,` `\|` `\$` `\\`). */
export function unescape(value: string): string {
  if (!value.includes('\\')) return value; // nothing escaped
  return value.replace(/\\([\\,|$])/g, '$1');
}

function parseSort(value: string, types: string[], name: string): SortSpec[] {
  const out: SortSpec[] = [];
  for (const item of value.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') fail(name, 'empty sort key');
    const desc = trimmed.startsWith('-');
    const code = desc ? trimmed.slice(1) : trimmed;
    if (!NAME_RE.test(code)) fail(name, `unknown sort parameter "${code}"`);
    for (const t of types) {
      if (!paramDef(t, code)) fail(name, `unknown sort parameter "${code}" for ${t}`);
    }
    if (out.some((s) => s.code === code)) fail(name, `"${code}" appears twice`);
    const field = code === '_id' ? '_id' : code === '_lastUpdated' ? 'lastUpdated' : `s._sort.${code}`;
    out.push({ code, direction: desc ? -1 : 1, field });
  }
  return out;
}

function parseInclude(name: string, value: string, reverse: boolean, types: string[]): IncludeSpec {
  const [, mod, ...extra] = name.split(':');
  if (extra.length > 0 || (mod !== undefined && mod !== 'iterate' && mod !== 'recurse')) {
    fail(name, 'the only modifier is :iterate');
  }
  const iterate = mod !== undefined;
  if (value === '*') {
    if (reverse) fail(name, '_revinclude=* is not supported');
    if (types.length !== 1) fail(name, '_include=* needs a single resource type');
    return { sourceType: types[0], param: '*', iterate, raw: value };
  }
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) fail(name, `"${value}" must look like Type:parameter[:targetType]`);
  const [sourceType, param, targetType] = parts;
  if (!isSupportedType(sourceType)) fail(name, `unknown or unsupported resource type "${sourceType}"`);
  if (param !== '*') {
    const def = paramDef(sourceType, param);
    if (!def || def.type !== 'reference') fail(name, `"${param}" is not a reference parameter of ${sourceType}`);
    if (targetType !== undefined && def.targets.length > 0 && !def.targets.includes(targetType)) {
      fail(name, `${targetType} is not a target of ${sourceType}:${param}`);
    }
  } else if (reverse) {
    fail(name, `"${value}": a wildcard parameter is not supported for _revinclude`);
  }
  if (targetType !== undefined && !isResourceType(targetType)) fail(name, `unknown resource type "${targetType}"`);
  if (!iterate && !reverse && !types.includes(sourceType)) {
    fail(name, `${sourceType} is not a searched type (use _include:iterate for included resources)`);
  }
  return { sourceType, param, targetType, iterate, raw: value };
}
