// history: GET [type]/[id]/_history, [type]/_history, /_history with _since, _at, _count and
// keyset paging (an opaque _page_token), newest first.
import type { Bundle, BundleEntry, BundleLink } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../fhir/outcome.js';
import { SUPPORTED_TYPES } from '../fhir/resource-types.js';
import type { HistoryCursor, HistoryQuery, ResourceRecord } from '../store/store.js';
import { etag } from './respond.js';
import type { FhirRequest, FhirResponse, HandlerContext } from './types.js';

const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;
const KNOWN = new Set(['_since', '_at', '_count', '_page_token', '_format', '_pretty']);

export async function history(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const params = parseHistoryParams(req);
  const base: Omit<HistoryQuery, 'count' | 'after'> = {
    resourceType: req.resourceType,
    id: req.id,
    since: params.since,
    before: params.at,
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
  // _count=0 asks for the total only: no page to read, so no next page to link.
  const [records, total] = await Promise.all([
    params.count === 0 ? Promise.resolve([]) : ctx.store.history({ ...base, count: params.count + 1, after: params.after }),
    params.after ? Promise.resolve(undefined) : ctx.store.historyCount(base),
  ]);
  const page = records.slice(0, params.count);
  const selfPath = historyPath(req);
  const keep = req.query.filter(([k]) => k === '_since' || k === '_at');
  const link: BundleLink[] = [{ relation: 'self', url: pageUrl(ctx.baseUrl, selfPath, keep, params.count, params.token) }];
  if (records.length > params.count) {
    const last = page[page.length - 1];
    link.push({ relation: 'next', url: pageUrl(ctx.baseUrl, selfPath, keep, params.count, encodeCursor(last)) });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    // The scoped store leaves out versions the caller may not see (patient compartment, data
    // sharing) and gives no total for such callers, so it cannot reveal how many were hidden.
    ...(total !== undefined ? { total } : {}),
    link,
  };
  // FHIR JSON has no empty arrays: an empty page has no entry element (as a search's).
  if (page.length > 0) bundle.entry = page.map((r) => historyEntry(ctx.baseUrl, r));
  return { status: 200, body: bundle };
}

function historyEntry(baseUrl: string, record: ResourceRecord): BundleEntry {
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
  if (record.resource) entry.resource = record.resource;
  return entry;
}

interface HistoryParams {
  since?: string;
  at?: string;
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
    if (name === '_since' || name === '_at') {
      const instant = parseInstant(value);
      if (!instant) throw badRequest(`${name} must be a FHIR instant such as 2024-01-31T10:00:00Z, got "${value}"`, { expression: name });
      if (name === '_since') params.since = instant;
      else params.at = instant;
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

function encodeCursor(record: ResourceRecord): string {
  const cursor: HistoryCursor = {
    lastUpdated: record.lastUpdated,
    resourceType: record.resourceType,
    id: record.id,
    versionId: record.versionId,
  };
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
