// Bundle entry plumbing shared by batch and transaction: request checks, entry → FhirRequest,
// FhirResponse → entry.response.
import type { Bundle, BundleEntry, BundleEntryResponse, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { STATUS_CODES } from 'node:http';
import { badRequest, isFhirError, makeIssue, outcome } from '../fhir/outcome.js';
import { markUnchangedWritesNothing, unchangedWritesNothing } from '../fhir/request.js';
import { markWithdrawnFacts, withdrawnFactsOf } from '../matching/withdrawn-facts.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Resolves after the event loop has gone round once (I/O, timers, other requests' callbacks):
 * awaited before each entry of a batch or transaction, so a Bundle of many entries never holds the
 * event loop for its whole length, only for one entry at a time.
 */
export function letOtherRequestsRun(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface RoutedEntry {
  index: number;
  entry: BundleEntry;
  /** The entry as a routed request (interaction, type, id, query set by the pipeline's router). */
  request: FhirRequest;
}

/** Checks the Bundle's shape; throws 400 naming each bad entry. */
export function checkBundle(body: unknown): Bundle {
  if (!body || typeof body !== 'object' || Array.isArray(body) || (body as Bundle).resourceType !== 'Bundle') {
    throw badRequest('POST to the FHIR base needs a Bundle of type batch or transaction');
  }
  const bundle = body as Bundle;
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw badRequest(`Bundle.type must be batch or transaction, got "${String(bundle.type)}"`, {
      expression: 'Bundle.type',
    });
  }
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) {
    throw badRequest('Bundle.entry must be an array', { expression: 'Bundle.entry' });
  }
  return bundle;
}

/** The entry's request as a routed FhirRequest; throws a FhirError for a bad entry. */
export function routeEntry(entry: BundleEntry, index: number, outer: Pick<FhirRequest, 'prefer'>, ctx: HandlerContext): RoutedEntry {
  const prefer = outer.prefer;
  const where = `Bundle.entry[${index}]`;
  if (!entry || typeof entry !== 'object') throw badRequest(`${where} must be an object`, { expression: where });
  const req = entry.request;
  if (!req || typeof req !== 'object') throw badRequest(`${where}.request is required`, { expression: `${where}.request` });
  if (typeof req.method !== 'string' || !METHODS.has(req.method)) {
    throw badRequest(`${where}.request.method must be GET, HEAD, POST, PUT, PATCH or DELETE`, {
      expression: `${where}.request.method`,
    });
  }
  if (typeof req.url !== 'string' || req.url.trim() === '') {
    throw badRequest(`${where}.request.url is required`, { expression: `${where}.request.url` });
  }
  const method = req.method as FhirRequest['method'];
  const routed = ctx.entries.route(method, relativeUrl(req.url));
  if (routed.interaction === 'batch') {
    throw badRequest(`${where}: a Bundle may not contain another batch or transaction`, { expression: where });
  }
  let body: unknown = entry.resource;
  let contentType: string | undefined;
  if (method === 'PATCH') ({ body, contentType } = patchBody(entry, where));
  // Object.assign, not `{ ...routed, body, … }`: the same request, without V8's slow path for the
  // properties a literal adds after a spread (~11 µs an entry on Node 20; `routed` is the router's
  // own object, no client data, so no "__proto__" key to tell the two apart).
  const request: FhirRequest = Object.assign({}, routed, {
    body,
    contentType,
    ifMatch: req.ifMatch,
    ifNoneMatch: req.ifNoneMatch,
    ifNoneExist: req.ifNoneExist,
    ifModifiedSince: req.ifModifiedSince,
    prefer: { return: prefer.return, handling: prefer.handling },
  });
  // An internal caller's marker (a Symbol key: a client's JSON cannot set it) goes with the entry.
  if (unchangedWritesNothing(req)) markUnchangedWritesNothing(request);
  const withdrawn = withdrawnFactsOf(req);
  if (withdrawn) markWithdrawnFacts(request, withdrawn);
  if (['POST', 'PUT'].includes(method) && routed.interaction !== 'operation' && body === undefined) {
    throw badRequest(`${where}.resource is required for ${method}`, { expression: `${where}.resource` });
  }
  return { index, entry, request };
}

/**
 * A PATCH entry's patch (R4 http.html#patch, Bundle entries): a FHIRPath Patch is the entry's
 * resource (a Parameters); a JSON Patch travels as a Binary with the patch in base64 `data`.
 */
function patchBody(entry: BundleEntry, where: string): { body: unknown; contentType: string } {
  const resource = entry.resource as { resourceType?: string; data?: string; contentType?: string } | undefined;
  if (resource?.resourceType === 'Parameters') return { body: resource, contentType: 'application/fhir+json' };
  if (resource?.resourceType === 'Binary' && typeof resource.data === 'string') {
    try {
      return { body: JSON.parse(Buffer.from(resource.data, 'base64').toString('utf8')), contentType: 'application/json-patch+json' };
    } catch {
      throw badRequest(`${where}.resource Binary.data is not a base64 JSON Patch`, { expression: `${where}.resource` });
    }
  }
  throw badRequest(`${where}: PATCH entries need a Parameters resource (FHIRPath Patch) or a Binary holding a JSON Patch`, {
    expression: `${where}.resource`,
  });
}

/** Accepts relative URLs and absolute ones under any base ending in /fhir/. */
function relativeUrl(url: string): string {
  const absolute = /^https?:\/\/[^/]+(?:\/.*?)?\/fhir\/(.*)$/.exec(url);
  return absolute ? absolute[1] : url.replace(/^\//, '');
}

export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}

/**
 * An HTTP date (Last-Modified) as an ISO instant, as `new Date(value).toISOString()` gives it (a
 * RangeError for an invalid one): the entries of one Bundle were written in the same second, so
 * the last answer is kept for its text.
 */
function instantOf(httpDate: string): string {
  if (httpDate !== lastInstant.httpDate) lastInstant = { httpDate, iso: new Date(httpDate).toISOString() };
  return lastInstant.iso;
}

let lastInstant = { httpDate: '', iso: '' };

/**
 * The entry of a batch-/transaction-response for a handler's answer. A HEAD entry answers as HTTP
 * HEAD does: status and headers, without the resource.
 */
export function responseEntry(res: FhirResponse, baseUrl: string, method?: string): BundleEntry {
  const response: BundleEntryResponse = { status: statusLine(res.status) };
  const headers = res.headers ?? {};
  if (headers.Location) response.location = headers.Location;
  if (headers.ETag) response.etag = headers.ETag;
  if (res.lastUpdated) response.lastModified = res.lastUpdated;
  else if (headers['Last-Modified']) response.lastModified = instantOf(headers['Last-Modified']);
  const informational = (res.issues ?? []).filter((i) => i.severity !== 'error');
  if (informational.length > 0) response.outcome = outcome(informational);
  const entry: BundleEntry = { response };
  if (res.body) {
    if (res.body.resourceType === 'OperationOutcome' && !response.outcome) response.outcome = res.body as OperationOutcome;
    else if (res.body.resourceType !== 'OperationOutcome' && method !== 'HEAD') entry.resource = res.body;
  }
  // fullUrl first, then response and resource: built in that order rather than spread together
  // (a literal's properties after a spread take V8's slow path).
  if (!entry.resource?.id) return entry;
  const fullUrl = fullUrlOf(entry.resource, baseUrl);
  if (fullUrl === undefined) return entry;
  const withUrl: BundleEntry = { fullUrl, response };
  withUrl.resource = entry.resource;
  return withUrl;
}

/** Types this server answers but never serves at [base]/[type]/[id]: a search's or history's Bundle, an operation's Parameters. */
const UNADDRESSED_TYPES = new Set(['Bundle', 'Parameters']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An entry's fullUrl: where the resource is served, or, for a searchset/history Bundle or a
 * Parameters (no such address here: GET [base]/Bundle/<id> is a 404), its urn:uuid: (FHIR R4
 * Bundle.entry.fullUrl is the resource's absolute URL, a urn:uuid: for one without a location).
 */
function fullUrlOf(resource: Resource, baseUrl: string): string | undefined {
  if (!UNADDRESSED_TYPES.has(resource.resourceType)) return `${baseUrl}/${resource.resourceType}/${resource.id}`;
  return UUID.test(resource.id ?? '') ? `urn:uuid:${resource.id}` : undefined;
}

/** The entry of a batch-response for an entry that failed. */
export function errorEntry(err: unknown): BundleEntry {
  if (isFhirError(err)) return { response: { status: statusLine(err.status), outcome: err.outcome } };
  return {
    response: {
      status: statusLine(500),
      outcome: outcome([makeIssue('error', 'exception', 'The entry could not be processed because of a server error')]),
    },
  };
}
