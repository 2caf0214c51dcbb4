// history: GET [type]/[id]/_history, [type]/_history, /_history with _since, _at, _count, keyset
// paging (an opaque _page_token), newest first, and _summary / _elements as a read takes them.
// _at (R4 http.html#history): the versions that were current at some point during the period the
// value names (`2024` a year, `2024-05-01` a day, an instant its millisecond): those written in
// the period, and the one each resource had at its start.
import type { Bundle, BundleEntry, BundleLink } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../fhir/outcome.js';
import { SUPPORTED_TYPES } from '../fhir/resource-types.js';
import type { HistoryCursor, HistoryQuery, ResourceRecord } from '../store/store.js';
import { parseReadSubset, subsetResource, type SubsetRequest } from '../search/subset.js';
import { etag } from './respond.js';
import type { FhirRequest, FhirResponse, HandlerContext } from './types.js';

const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;
/** Versions one _at page may look at: a page can hold fewer than _count, its next link goes on. */
const AT_MAX_SCANNED = 2000;
const KNOWN = new Set(['_since', '_at', '_count', '_page_token', '_format', '_pretty', '_summary', '_elements']);

export async function history(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const params = parseHistoryParams(req);
  // _summary / _elements cut each version as they cut a read (search.html#summary, #elements).
  const subset = parseReadSubset(req.query, {
    interaction: 'history',
    types: req.resourceType === undefined ? SUPPORTED_TYPES : [req.resourceType],
    lenient: req.prefer.handling === 'lenient',
  });
  const base: Omit<HistoryQuery, 'count' | 'after'> = {
    resourceType: req.resourceType,
    id: req.id,
    since: params.since,
    // Nothing written after the _at period was current during it.
    before: params.at ? new Date(Date.parse(params.at.end) - 1).toISOString() : undefined,
    // System history shows the REST resource types only: never the audit trail.
    ...(req.resourceType === undefined ? { resourceTypes: [...SUPPORTED_TYPES] } : {}),
  };
  if (req.id !== undefined) {
    // Instance history of an unknown resource is a 404, not an empty Bundle (403 when hidden).
    const current = await ctx.store.read(req.resourceType as string, req.id);
    if (!current) {
      throw notFound(`${req.resourceType}/${req.id} is not known to this server`);
    }
  }
  let page: ResourceRecord[];
  let total: number | undefined;
  let nextAfter: HistoryCursor | undefined;
  if (params.at) {
    // Which older versions were still current at the period's start is known only version by
    // version, so an _at history has no total.
    ({ page, nextAfter } = params.count === 0 ? { page: [] } : await currentDuring(ctx, base, params.at.start, params.count, params.after));
  } else {
    // _count=0 asks for the total only: no page to read, so no next page to link.
    const [records, counted] = await Promise.all([
      params.count === 0 ? Promise.resolve([]) : ctx.store.history({ ...base, count: params.count + 1, after: params.after }),
      params.after ? Promise.resolve(undefined) : ctx.store.historyCount(base),
    ]);
    page = records.slice(0, params.count);
    total = counted;
    if (records.length > params.count) nextAfter = cursorOf(page[page.length - 1]);
  }
  const selfPath = historyPath(req);
  const keep = req.query.filter(([k]) => k === '_since' || k === '_at' || k === '_summary' || k === '_elements');
  const link: BundleLink[] = [{ relation: 'self', url: pageUrl(ctx.baseUrl, selfPath, keep, params.count, params.token) }];
  if (nextAfter) link.push({ relation: 'next', url: pageUrl(ctx.baseUrl, selfPath, keep, params.count, encodeCursor(nextAfter)) });
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    // The scoped store leaves out versions the caller may not see (patient compartment, data
    // sharing) and gives no total for such callers, so it cannot reveal how many were hidden.
    ...(total !== undefined ? { total } : {}),
    link,
  };
  // FHIR JSON has no empty arrays: an empty page has no entry element (as a search's).
  if (page.length > 0) bundle.entry = page.map((r) => historyEntry(ctx.baseUrl, r, subset));
  return { status: 200, body: bundle };
}

function historyEntry(baseUrl: string, record: ResourceRecord, subset: SubsetRequest): BundleEntry {
  const url = `${record.resourceType}/${record.id}`;
  const entry: BundleEntry = {
    fullUrl: `${baseUrl}/${url}`,
    request: {
      method: record.deleted ? 'DELETE' : record.versionId === 1 ? 'POST' : 'PUT',
      url: record.versionId === 1 && !record.deleted ? record.resourceType : url,
    },
    response: {
      status: record.deleted ? '204' : record.versionId === 1 ? '201' : '200',
      etag: etag(record.versionId),
      lastModified: record.lastUpdated,
    },
  };
  if (record.resource) entry.resource = subsetResource(record.resource, subset);
  return entry;
}

/**
 * One page of an _at history: versions newest first (the query's `before` already ends them with
 * the period); one written before the period's start is kept only if it was its resource's newest
 * by then. Looks at no more than AT_MAX_SCANNED versions; the next page goes on from there.
 */
async function currentDuring(
  ctx: HandlerContext,
  base: Omit<HistoryQuery, 'count' | 'after'>,
  start: string,
  count: number,
  after: HistoryCursor | undefined
): Promise<{ page: ResourceRecord[]; nextAfter?: HistoryCursor }> {
  const startMs = Date.parse(start);
  const newestAtStart = new Map<string, number | undefined>();
  const page: ResourceRecord[] = [];
  let cursor = after;
  let scanned = 0;
  while (scanned < AT_MAX_SCANNED) {
    const batchSize = Math.min(count + 1, AT_MAX_SCANNED - scanned);
    const batch = await ctx.store.history({ ...base, count: batchSize, after: cursor });
    for (const record of batch) {
      scanned += 1;
      cursor = cursorOf(record);
      if (Date.parse(record.lastUpdated) > startMs || (await wasNewestAt(ctx, record, start, newestAtStart))) {
        if (page.length === count) return { page, nextAfter: cursorOf(page[count - 1]) };
        page.push(record);
      }
    }
    if (batch.length < batchSize) return { page };
  }
  return { page, nextAfter: cursor };
}

/** Whether this version (written at or before `start`) was still its resource's newest then. */
async function wasNewestAt(ctx: HandlerContext, record: ResourceRecord, start: string, memo: Map<string, number | undefined>): Promise<boolean> {
  const key = `${record.resourceType}/${record.id}`;
  if (!memo.has(key)) {
    const [newest] = await ctx.store.history({ resourceType: record.resourceType, id: record.id, before: start, count: 1 });
    memo.set(key, newest?.versionId);
  }
  return memo.get(key) === record.versionId;
}

interface HistoryParams {
  since?: string;
  /** The period _at names. */
  at?: { start: string; end: string };
  count: number;
  after?: HistoryCursor;
  token?: string;
}

function parseHistoryParams(req: FhirRequest): HistoryParams {
  const params: HistoryParams = { count: DEFAULT_COUNT };
  for (const [name, value] of req.query) {
    if (!KNOWN.has(name)) {
      if (req.prefer.handling === 'lenient') continue;
      throw badRequest(`Unknown history parameter "${name}"`, { expression: name });
    }
    if (name === '_since') {
      const instant = parseInstant(value);
      if (!instant) throw badRequest(`${name} must be a FHIR instant such as 2024-01-31T10:00:00Z, got "${value}"`, { expression: name });
      params.since = instant;
    } else if (name === '_at') {
      const period = parsePeriod(value);
      if (!period) throw badRequest(`_at must be a FHIR date or dateTime such as 2024, 2024-01-31 or 2024-01-31T10:00:00Z, got "${value}"`, { expression: name });
      params.at = period;
    } else if (name === '_count') {
      if (!/^\d+$/.test(value)) throw badRequest(`_count must be a non-negative integer, got "${value}"`, { expression: name });
      params.count = Math.min(Number(value), MAX_COUNT);
    } else if (name === '_page_token') {
      params.after = decodeCursor(value);
      params.token = value;
    }
  }
  return params;
}

/** Accepts instants and (as their start) dates or dateTimes with a time zone. */
function parseInstant(value: string): string | undefined {
  if (!/^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/.test(value)) return undefined;
  const normalised = value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value;
  const time = Date.parse(normalised.length === 10 ? `${normalised}T00:00:00Z` : normalised);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/**
 * The period a date or dateTime names, as ISO instants [start, end): a year, month or day (UTC, as
 * search dates without a zone), a minute, a second or a millisecond.
 */
function parsePeriod(value: string): { start: string; end: string } | undefined {
  const start = parseInstant(value);
  if (!start) return undefined;
  const begin = new Date(start);
  const end = new Date(begin);
  const time = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?/.exec(value);
  if (value.length === 4) end.setUTCFullYear(end.getUTCFullYear() + 1);
  else if (value.length === 7) end.setUTCMonth(end.getUTCMonth() + 1);
  else if (value.length === 10) end.setUTCDate(end.getUTCDate() + 1);
  else if (time?.[2]) end.setTime(end.getTime() + 1);
  else if (time?.[1]) end.setTime(end.getTime() + 1000);
  else end.setTime(end.getTime() + 60_000);
  return { start, end: end.toISOString() };
}

function historyPath(req: FhirRequest): string {
  if (req.id !== undefined) return `${req.resourceType}/${req.id}/_history`;
  if (req.resourceType !== undefined) return `${req.resourceType}/_history`;
  return '_history';
}

function pageUrl(baseUrl: string, path: string, keep: Array<[string, string]>, count: number, token?: string): string {
  const query = new URLSearchParams(keep);
  query.set('_count', String(count));
  if (token) query.set('_page_token', token);
  return `${baseUrl}/${path}?${query.toString()}`;
}

function cursorOf(record: ResourceRecord): HistoryCursor {
  return { lastUpdated: record.lastUpdated, resourceType: record.resourceType, id: record.id, versionId: record.versionId };
}

function encodeCursor(cursor: HistoryCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(token: string): HistoryCursor {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as HistoryCursor;
    if (
      typeof value.lastUpdated === 'string' &&
      typeof value.resourceType === 'string' &&
      typeof value.id === 'string' &&
      Number.isInteger(value.versionId)
    ) {
      return value;
    }
  } catch {
    // fall through to the 400 below
  }
  throw badRequest('_page_token is not a token this server issued', { expression: '_page_token' });
}
