// Runs a search end to end and builds the searchset Bundle: filter compilation (compile.ts),
// keyset paging with opaque page tokens, totals, _sort, _summary/_elements, _include/_revinclude
// (with :iterate), lenient warnings, and system-level search over several types.
//
// Paging: every page is sorted by the requested keys plus `_id` (and, across types, the type
// name), and the next/previous page token carries the boundary entry's sort values. A page is the
// `count` entries strictly after (or before) that boundary, so deep pages cost the same as the
// first (an index range scan, no skip) and paging never duplicates or skips an entry that exists
// throughout, even while others are written.
//
// Totals (`_total`): `none` omits it; `accurate` counts with store.count on every page; the
// default (and `estimate`) counts on the first page (or takes the page size when the first page
// is not full, without counting) and carries that number in the page token, so continuation
// pages cost no count. `_summary=count` and `_count=0` always count.
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import { isoNow } from '../fhir/instant.js';
import { badRequest } from '../fhir/outcome.js';
import { isSupportedType } from '../fhir/resource-types.js';
import { markStoredJson } from '../fhir/stored-json.js';
import type { Filter, ResourceRecord, SortKey, StoreReader } from '../store/store.js';
import { and, compileCriteria, referencesOf, type AccessFilter, type CompileContext } from './compile.js';
import { extractSearchIndex } from './extract.js';
import { paramDef, paramDefs, type ParamDef } from './params.js';
import { parseCriteria, parseSearch, type IncludeSpec, type ParsedSearch, type SearchLimits, type SortSpec } from './parse.js';
import { typesReached, typesReachedByCriteria, type ReachedTypes } from './reach.js';
import { subsetResource } from './subset.js';

export type { AccessFilter } from './compile.js';
export type { ReachedTypes } from './reach.js';

export { SUBSETTED } from './subset.js';

/** Most resources `_include`/`_revinclude` add to one page. */
export const MAX_INCLUDES = 1000;
const MAX_INCLUDE_ROUNDS = 8;

export interface SearchBundleRequest {
  /** Absent: system-level search (`_type`, else every supported type). */
  resourceType?: string;
  params: Array<[string, string]>;
  lenient?: boolean;
  /** FHIR base, e.g. `http://localhost:8080/fhir` (no trailing slash). */
  baseUrl: string;
  /** ANDed onto every query of that type: matches, counts, chains, `_has`, includes. */
  accessFilter?: AccessFilter;
  /** Clock for the `ap` prefix (tests). */
  now?: Date;
  /** Bounds on the query (absent: the defaults). */
  limits?: SearchLimits;
  /**
   * Whether the caller's scopes let it see resources of this type (absent: every type). Types the
   * search names are checked before it runs; `_include`/`_revinclude` reach other types, which are
   * left out unless this allows them (an outcome entry says so).
   */
  readable?: (resourceType: string) => boolean;
  /**
   * Called once the search is parsed, before it reads anything, with the types its chains and
   * `_has` search besides the searched ones: throws when the caller may not search them.
   */
  checkReach?: (reached: ReachedTypes) => void;
}

export async function searchBundle(store: StoreReader, request: SearchBundleRequest): Promise<Bundle> {
  const baseUrl = request.baseUrl.replace(/\/+$/, '');
  const parsed = parseSearch(request.params, {
    resourceType: request.resourceType,
    lenient: request.lenient,
    baseUrl,
    limits: request.limits,
  });
  request.checkReach?.(typesReached(parsed));
  const ctx: CompileContext = { store, baseUrl, accessFilter: request.accessFilter, now: request.now };

  const filters = new Map<string, Filter>();
  for (const t of parsed.types) filters.set(t, await compileCriteria(t, parsed.criteria.get(t) ?? [], ctx));

  const fields = sortFields(parsed.sort);
  const token = parsed.pageToken ? decodeToken(parsed.pageToken, fields, parsed.types) : undefined;
  const countOnly = parsed.summary === 'count' || parsed.count === 0;

  let matches: ResourceRecord[] = [];
  let hasNext = false;
  let hasPrev = false;
  if (!countOnly) {
    const page = await fetchPage(store, parsed.types, filters, fields, parsed.count, token);
    matches = page.records;
    if (token?.d === 'p') {
      hasPrev = page.more;
      hasNext = true; // the boundary entry this page was read back from
    } else {
      hasNext = page.more;
      hasPrev = token !== undefined;
    }
  }

  // total
  let total: number | undefined;
  if (countOnly) {
    total = parsed.total === 'none' ? undefined : await countAll(store, parsed.types, filters);
  } else if (parsed.total === 'accurate') {
    total = await countAll(store, parsed.types, filters);
  } else if (parsed.total !== 'none') {
    if (token?.tot !== undefined) total = token.tot;
    else if (!token && !hasNext) total = matches.length;
    else total = await countAll(store, parsed.types, filters);
  }

  // includes
  const included = countOnly
    ? { records: [] as ResourceRecord[], truncated: false, withheld: new Set<string>() }
    : await resolveIncludes(store, parsed, matches, ctx, request.readable ?? (() => true));

  const entries: BundleEntry[] = [];
  for (const r of matches) if (r.resource) entries.push(entryOf(r, r.resource, baseUrl, parsed, 'match'));
  for (const r of included.records) if (r.resource) entries.push(entryOf(r, r.resource, baseUrl, parsed, 'include'));
  const issues = [...parsed.issues];
  if (included.truncated) {
    issues.push({
      severity: 'warning',
      code: 'too-costly',
      diagnostics: `_include/_revinclude stopped after ${MAX_INCLUDES} resources`,
      details: { text: `_include/_revinclude stopped after ${MAX_INCLUDES} resources` },
    });
  }
  for (const type of included.withheld) {
    const text = `_include/_revinclude left out ${type} resources: the token's scopes do not allow reading ${type}`;
    issues.push({ severity: 'warning', code: 'forbidden', diagnostics: text, details: { text } });
  }
  if (issues.length > 0) {
    entries.push({
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: { resourceType: 'OperationOutcome', issue: issues },
      search: { mode: 'outcome' },
    });
  }

  // links
  const path = request.resourceType ? `${baseUrl}/${request.resourceType}` : baseUrl;
  // Every link is the same parameters (then a page token): encoded once, not once per link.
  const pairs: Array<[string, string]> = [...parsed.linkParams];
  if (!pairs.some(([n]) => n === '_count')) pairs.push(['_count', String(parsed.count)]);
  const linkBase = `${path}?${pairs.map(([n, v]) => `${enc(n)}=${enc(v)}`).join('&')}`;
  const linkFor = (extra?: string): string => (extra ? `${linkBase}&_page_token=${enc(extra)}` : linkBase);
  const link: BundleLink[] = [{ relation: 'self', url: linkFor(parsed.pageToken) }];
  if (!countOnly) {
    link.push({ relation: 'first', url: linkFor() });
    const carry = parsed.total === 'accurate' || parsed.total === 'none' ? undefined : total;
    if (hasPrev && matches.length > 0) {
      link.push({ relation: 'previous', url: linkFor(encodeToken(boundary(matches[0], fields, 'p', carry))) });
    }
    if (hasNext && matches.length > 0) {
      link.push({ relation: 'next', url: linkFor(encodeToken(boundary(matches[matches.length - 1], fields, 'n', carry))) });
    }
  }

  const bundle: Bundle = {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: isoNow() },
    type: 'searchset',
  };
  if (total !== undefined) bundle.total = total;
  bundle.link = link;
  if (entries.length > 0) bundle.entry = entries;
  return bundle;
}

/** A match or include entry; an unshaped resource keeps the store's JSON bytes for the response (stored-json.ts). */
function entryOf(r: ResourceRecord, resource: Resource, baseUrl: string, parsed: ParsedSearch, mode: 'match' | 'include'): BundleEntry {
  const shaped = shape(resource, parsed, mode === 'match');
  const entry: BundleEntry = { fullUrl: `${baseUrl}/${r.resourceType}/${r.id}`, resource: shaped, search: { mode } };
  if (shaped === resource && r.jsonBytes) markStoredJson(entry, resource, r.jsonBytes);
  return entry;
}

function enc(value: string): string {
  const encoded = encodeURIComponent(value);
  // Most names and values need no escape: nothing to put back (four replaces per pair per link).
  return encoded.includes('%') ? encoded.replace(/%3A/gi, ':').replace(/%7C/gi, '|').replace(/%2C/gi, ',').replace(/%2F/gi, '/') : encoded;
}

async function countAll(store: StoreReader, types: string[], filters: Map<string, Filter>): Promise<number> {
  let n = 0;
  for (const t of types) n += await store.count(t, filters.get(t) ?? {});
  return n;
}

// ---- conditional interactions ------------------------------------------------------------------

export interface FindMatchesOptions {
  /** The FHIR base, so absolute references in the query compare equal to relative ones. */
  baseUrl: string;
  accessFilter?: AccessFilter;
  /** As in SearchBundleRequest: the types the query's chains and `_has` reach, checked before it runs. */
  checkReach?: (reached: ReachedTypes) => void;
}

/**
 * The resources a conditional create/update/delete/patch query selects (strict: unknown or
 * malformed parameters are a 400), at most `limit`, ordered by id.
 */
export async function findMatches(
  store: StoreReader,
  resourceType: string,
  query: string,
  limit: number,
  options: FindMatchesOptions
): Promise<ResourceRecord[]> {
  const trimmed = query.replace(/^\?/, '');
  const params = [...new URLSearchParams(trimmed).entries()] as Array<[string, string]>;
  if (params.length === 0) throw badRequest('A conditional request needs search parameters');
  const baseUrl = options.baseUrl;
  const criteria = parseCriteria(resourceType, params, baseUrl);
  options.checkReach?.(typesReachedByCriteria(resourceType, criteria));
  const ctx: CompileContext = { store, baseUrl, accessFilter: options.accessFilter };
  const filter = await compileCriteria(resourceType, criteria, ctx);
  return store.search(resourceType, { filter, limit, sort: [{ field: '_id', direction: 1 }] });
}

// ---- paging ------------------------------------------------------------------------------------

interface Field {
  code: string;
  field: string;
  direction: 1 | -1;
}

interface PageToken {
  /** n: entries after the key; p: entries before it. */
  d: 'n' | 'p';
  /** Sort values of the boundary entry, one per field (null: the entry has no value). */
  k: Array<string | null>;
  /** Resource type of the boundary entry. */
  t: string;
  /** Total carried from the first page. */
  tot?: number;
  /** Fingerprint of the sort fields, so a token is not replayed under another _sort. */
  h: string;
}

function sortFields(sort: SortSpec[]): Field[] {
  const fields: Field[] = sort.map((s) => ({ code: s.code, field: s.field, direction: s.direction }));
  // The _id tie-break runs in the first key's direction, so one index serves a sort and its reverse.
  if (!fields.some((f) => f.field === '_id')) fields.push({ code: '_id', field: '_id', direction: fields[0]?.direction ?? 1 });
  return fields;
}

function fingerprint(fields: Field[]): string {
  const text = fields.map((f) => `${f.direction < 0 ? '-' : ''}${f.code}`).join(',');
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h.toString(36);
}

function boundary(record: ResourceRecord, fields: Field[], d: 'n' | 'p', tot: number | undefined): PageToken {
  const token: PageToken = { d, k: sortValues(record, fields), t: record.resourceType, h: fingerprint(fields) };
  if (tot !== undefined) token.tot = tot;
  return token;
}

function encodeToken(token: PageToken): string {
  return Buffer.from(JSON.stringify(token), 'utf8').toString('base64url');
}

function decodeToken(raw: string, fields: Field[], types: string[]): PageToken {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('Parameter "_page_token": malformed page token', { expression: '_page_token' });
  }
  const t = value as Partial<PageToken> | null;
  const ok =
    t !== null &&
    typeof t === 'object' &&
    (t.d === 'n' || t.d === 'p') &&
    Array.isArray(t.k) &&
    t.k.length === fields.length &&
    t.k.every((v) => v === null || typeof v === 'string') &&
    typeof t.t === 'string' &&
    types.includes(t.t) &&
    t.h === fingerprint(fields) &&
    (t.tot === undefined || (Number.isInteger(t.tot) && (t.tot as number) >= 0));
  if (!ok) {
    throw badRequest('Parameter "_page_token": the page token does not belong to this search', { expression: '_page_token' });
  }
  const idIndex = fields.findIndex((f) => f.field === '_id');
  if (typeof t.k?.[idIndex] !== 'string') {
    throw badRequest('Parameter "_page_token": malformed page token', { expression: '_page_token' });
  }
  return t as PageToken;
}

/** The values a record sorts by, in field order (computed from the resource like the index). */
function sortValues(record: ResourceRecord, fields: Field[]): Array<string | null> {
  let sortIndex: Record<string, string> | undefined;
  return fields.map((f) => {
    if (f.field === '_id') return record.id;
    if (f.field === 'lastUpdated') return record.lastUpdated;
    if (!sortIndex) {
      sortIndex = record.resource ? ((extractSearchIndex(record.resource)._sort ?? {}) as Record<string, string>) : {};
    }
    return sortIndex[f.code] ?? null;
  });
}

/** Compares sort tuples like the stores do: null lowest ascending, then by type name. */
function compareKeys(a: Array<string | null>, ta: string, b: Array<string | null>, tb: string, fields: Field[]): number {
  for (let i = 0; i < fields.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    let c: number;
    if (x === null) c = -1;
    else if (y === null) c = 1;
    else c = x < y ? -1 : 1;
    return c * fields[i].direction;
  }
  return ta === tb ? 0 : ta < tb ? -1 : 1;
}

/** Condition "strictly after key in this field order" (nulls lowest ascending, like the stores). */
function afterCondition(fields: Field[], key: Array<string | null>, includeTies: boolean): Filter {
  const branches: Filter[] = [];
  for (let i = 0; i < fields.length; i++) {
    const eqs: Filter[] = [];
    for (let j = 0; j < i; j++) eqs.push({ [fields[j].field]: key[j] });
    const v = key[i];
    const f = fields[i].field;
    let after: Filter | undefined;
    if (fields[i].direction === 1) after = v === null ? { [f]: { $ne: null } } : { [f]: { $gt: v } };
    else after = v === null ? undefined : { $or: [{ [f]: { $lt: v } }, { [f]: null }] };
    if (after) branches.push(and([...eqs, after]));
  }
  if (includeTies) branches.push(and(fields.map((f, j) => ({ [f.field]: key[j] }))));
  if (branches.length === 0) return { _id: { $in: [] } };
  return branches.length === 1 ? branches[0] : { $or: branches };
}

async function fetchPage(
  store: StoreReader,
  types: string[],
  filters: Map<string, Filter>,
  fields: Field[],
  count: number,
  token: PageToken | undefined
): Promise<{ records: ResourceRecord[]; more: boolean }> {
  const backwards = token?.d === 'p';
  const order: Field[] = backwards ? fields.map((f) => ({ ...f, direction: (f.direction * -1) as 1 | -1 })) : fields;
  const sort: SortKey[] = order.map((f) => ({ field: f.field, direction: f.direction }));
  const all: Array<{ record: ResourceRecord; key: Array<string | null> }> = [];
  for (const t of types) {
    let filter = filters.get(t) ?? {};
    if (token) {
      // Across types the order is (keys…, type): a type after the boundary's type also takes ties.
      const ties = backwards ? t < token.t : t > token.t;
      filter = and([filter, afterCondition(order, token.k, ties)]);
    }
    const records = await store.search(t, { filter, sort, limit: count + 1 });
    for (const record of records) all.push({ record, key: types.length > 1 ? sortValues(record, fields) : [] });
  }
  if (types.length > 1) {
    all.sort((a, b) => {
      const c = compareKeys(a.key, a.record.resourceType, b.key, b.record.resourceType, fields);
      return backwards ? -c : c;
    });
  }
  const more = all.length > count;
  const page = all.slice(0, count).map((x) => x.record);
  if (backwards) page.reverse();
  return { records: page, more };
}

// ---- _include / _revinclude --------------------------------------------------------------------

async function resolveIncludes(
  store: StoreReader,
  parsed: ParsedSearch,
  matches: ResourceRecord[],
  ctx: CompileContext,
  readable: (resourceType: string) => boolean
): Promise<{ records: ResourceRecord[]; truncated: boolean; withheld: Set<string> }> {
  const out: ResourceRecord[] = [];
  // Types an include would have reached but the caller's scopes do not let it read.
  const withheld = new Set<string>();
  if (parsed.include.length === 0 && parsed.revinclude.length === 0) return { records: out, truncated: false, withheld };
  const have = new Set(matches.map((r) => `${r.resourceType}/${r.id}`));
  let frontier = matches;
  let truncated = false;
  for (let round = 0; round < MAX_INCLUDE_ROUNDS && frontier.length > 0 && !truncated; round++) {
    const includes = parsed.include.filter((s) => round === 0 || s.iterate);
    const revincludes = parsed.revinclude.filter((s) => round === 0 || s.iterate);
    if (includes.length === 0 && revincludes.length === 0) break;
    const next: ResourceRecord[] = [];
    const add = (r: ResourceRecord): boolean => {
      const key = `${r.resourceType}/${r.id}`;
      if (have.has(key)) return true;
      if (out.length >= MAX_INCLUDES) {
        truncated = true;
        return false;
      }
      have.add(key);
      out.push(r);
      next.push(r);
      return true;
    };

    // _include: follow references out of the frontier.
    const wanted = new Map<string, Set<string>>();
    for (const spec of includes) {
      for (const r of frontier) {
        if (r.resourceType !== spec.sourceType || !r.resource) continue;
        for (const def of includeDefs(spec)) {
          for (const ref of referencesOf(r.resource, def, ctx.baseUrl)) {
            const [type, id] = ref.split('/');
            if (spec.targetType && type !== spec.targetType) continue;
            if (!isSupportedType(type) || have.has(ref)) continue;
            if (!readable(type)) {
              withheld.add(type);
              continue;
            }
            let set = wanted.get(type);
            if (!set) wanted.set(type, (set = new Set()));
            set.add(id);
          }
        }
      }
    }
    for (const [type, idSet] of wanted) {
      const ids = [...idSet];
      for (let i = 0; i < ids.length && !truncated; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const filter = and([{ _id: { $in: chunk } }, ctx.accessFilter?.(type)]);
        const records = await store.search(type, { filter, limit: chunk.length, sort: [{ field: '_id', direction: 1 }] });
        for (const r of records) if (!add(r)) break;
      }
    }

    // _revinclude: resources whose reference parameter points at the frontier.
    for (const spec of revincludes) {
      if (truncated) break;
      const def = paramDef(spec.sourceType, spec.param);
      if (!def) continue;
      if (!readable(spec.sourceType)) {
        withheld.add(spec.sourceType);
        continue;
      }
      const refs = frontier
        .filter((r) => (spec.targetType ? r.resourceType === spec.targetType : def.targets.length === 0 || def.targets.includes(r.resourceType)))
        .map((r) => `${r.resourceType}/${r.id}`);
      if (refs.length === 0) continue;
      const filter = and([{ [`s.${def.code}`]: { $in: refs } }, ctx.accessFilter?.(spec.sourceType)]);
      const records = await store.search(spec.sourceType, {
        filter,
        limit: MAX_INCLUDES - out.length + 1,
        sort: [{ field: '_id', direction: 1 }],
      });
      for (const r of records) if (!add(r)) break;
    }
    frontier = next;
  }
  return { records: out, truncated, withheld };
}

function includeDefs(spec: IncludeSpec): ParamDef[] {
  if (spec.param === '*') return [...(paramDefs(spec.sourceType)?.values() ?? [])].filter((d) => d.type === 'reference');
  const def = paramDef(spec.sourceType, spec.param);
  return def ? [def] : [];
}

// ---- _summary / _elements ------------------------------------------------------------------------

function shape(resource: Resource, parsed: ParsedSearch, isMatch: boolean): Resource {
  // _elements names the searched type's elements: it cuts the matches only; _summary cuts includes too.
  return subsetResource(resource, { summary: parsed.summary, elements: isMatch ? parsed.elements : undefined });
}
