// Content negotiation: request body types (415), JSON parsing (400), response format
// (_format, Accept, _pretty → application/fhir+json or application/json, 406 for others).
import type { IncomingMessage } from 'node:http';
import type { RequestLimits } from '../config.js';
import { badRequest, FhirError, makeIssue, outcome, unsupportedMediaType } from '../fhir/outcome.js';
import { parseJsonWithin } from './json-guard.js';

export const FHIR_JSON = 'application/fhir+json';
const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);
const PATCH_TYPES = new Set(['application/json-patch+json']);
const FORM = 'application/x-www-form-urlencoded';

export function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0].trim().toLowerCase() || undefined;
}

/**
 * The `fhirVersion` parameter of one media type (`application/fhir+json; fhirVersion=4.0`), if
 * any. R4 names its version 4.0 there (major.minor); 4.0.1 is taken too.
 */
function fhirVersionOf(type: string): string | undefined {
  for (const param of type.split(';').slice(1)) {
    const [name, ...value] = param.split('=');
    if (name.trim().toLowerCase() === 'fhirversion') return value.join('=').trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

const isR4 = (version: string) => /^4\.0(\.\d+)?$/.test(version);

/** The FHIR version a media type asks for, when it is not this server's (R4); undefined otherwise. */
function otherFhirVersion(type: string): string | undefined {
  const version = fhirVersionOf(type);
  return version !== undefined && !isR4(version) ? version : undefined;
}

/**
 * Parses the request body for what the route accepts: FHIR JSON, JSON Patch for PATCH; for
 * `_search` only a form (the search parameters). JSON is parsed within the request limits
 * (json-guard.ts). Returns undefined for an empty body.
 */
export function parseBody(
  req: Pick<IncomingMessage, 'headers'> & { body?: unknown },
  accept: { patch: boolean; form: boolean },
  limits: RequestLimits
): { body?: unknown; contentType?: string; form?: Array<[string, string]> } {
  const raw = Buffer.isBuffer(req.body) ? req.body : undefined;
  if (!raw || raw.length === 0) return {};
  const type = mediaType(req.headers['content-type']);
  const charset = /charset=([^;]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.trim().toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') throw unsupportedMediaType(`Only UTF-8 bodies are accepted, got charset ${charset}`);
  if (accept.form) {
    // POST _search carries search parameters as a form, nothing else (FHIR R4 3.1.0.1.1).
    if (type !== FORM) throw unsupportedMediaType(`POST _search takes ${FORM} (the search parameters), not ${type ?? 'a body without Content-Type'}`);
    return { contentType: type, form: parseForm(raw.toString('utf8'), limits) };
  }
  const isJson = type !== undefined && (JSON_TYPES.has(type) || (accept.patch && PATCH_TYPES.has(type)));
  if (!isJson) {
    const allowed = [FHIR_JSON, 'application/json', ...(accept.patch ? ['application/json-patch+json'] : [])];
    throw unsupportedMediaType(`Content-Type ${type ?? '(none)'} is not accepted here; use ${allowed.join(' or ')}`);
  }
  // A body of another FHIR version (fhirVersion=3.0, 5.0) would be read as R4 and stored wrong.
  const version = otherFhirVersion(req.headers['content-type'] ?? '');
  if (version !== undefined) throw unsupportedMediaType(`Content-Type asks for FHIR version ${version}; this server speaks FHIR R4 (fhirVersion=4.0)`);
  return {
    body: parseJsonWithin(raw.toString('utf8'), {
      maxDepth: limits.jsonMaxDepth,
      maxStringLength: limits.jsonMaxStringLength,
      maxArrayLength: limits.jsonMaxArrayLength,
      maxValues: limits.jsonMaxValues,
    }),
    contentType: type,
  };
}

/** A form of search parameters: `name=value` pairs, each with a name (a bare `42` or `[1,2]` is a 400). */
function parseForm(text: string, limits: RequestLimits): Array<[string, string]> {
  checkQueryLength(text.length, limits);
  const pairs: Array<[string, string]> = [];
  for (const part of text.split('&')) {
    if (part === '') continue;
    if (!part.includes('=')) throw badRequest(`The _search form is malformed: "${part.slice(0, 60)}" is not name=value`);
    if (pairs.length >= limits.queryMaxParams) throw tooManyParams(limits);
    const pair = [...new URLSearchParams(part)][0] as [string, string];
    if (!/^[A-Za-z_]/.test(pair[0])) throw badRequest(`The _search form is malformed: "${pair[0].slice(0, 60)}" is not a parameter name`);
    pairs.push(pair);
  }
  return pairs;
}

/** The query of any request: at most QUERY_MAX_PARAMS parameters and QUERY_MAX_LENGTH characters. */
export function checkQueryLimits(query: Array<[string, string]>, limits: RequestLimits): void {
  if (query.length > limits.queryMaxParams) throw tooManyParams(limits);
  let length = 0;
  for (const [name, value] of query) length += name.length + value.length + 2;
  checkQueryLength(length, limits);
}

function checkQueryLength(length: number, limits: RequestLimits): void {
  if (length > limits.queryMaxLength) {
    throw new FhirError(400, outcome([makeIssue('error', 'too-costly', `The query is ${length} characters long, more than the limit of ${limits.queryMaxLength} (QUERY_MAX_LENGTH)`)]));
  }
}

function tooManyParams(limits: RequestLimits): FhirError {
  return new FhirError(400, outcome([makeIssue('error', 'too-costly', `The request has more than ${limits.queryMaxParams} query parameters (QUERY_MAX_PARAMS)`)]));
}

/** Non-FHIR formats some operations produce (src/health-cards); the operation reads Accept itself. */
const OPERATION_FORMATS = new Set(['application/smart-health-card', 'image/png', 'image/svg+xml', 'text/plain']);

export interface ResponseFormat {
  contentType: string;
  pretty: boolean;
  /** CSV was asked for (`_format=text/csv` or `csv`, `Accept: text/csv`): only operations that offer it answer it. */
  csv?: boolean;
  /**
   * Accept names only a format some operations produce themselves (a health card file, a QR
   * image, text): an operation may answer it; any other interaction cannot (406).
   */
  operationFormat?: string;
}

const CSV_FORMATS = new Set(['text/csv', 'csv']);

/** Decides the response format from _format / Accept; XML and other formats answer 406. */
export function responseFormat(req: Pick<IncomingMessage, 'headers'>, query: Array<[string, string]>): ResponseFormat {
  const format = query.find(([k]) => k === '_format')?.[1];
  const pretty = query.find(([k]) => k === '_pretty')?.[1] === 'true';
  if (format !== undefined) {
    const version = otherFhirVersion(format);
    if (version !== undefined) throw notAcceptable(`_format asks for FHIR version ${version}; this server speaks FHIR R4 (fhirVersion=4.0)`);
    // The media type without its parameters (`application/fhir+json; fhirVersion=4.0` is JSON).
    const f = mediaType(format) ?? '';
    if (['json', FHIR_JSON, 'application/json+fhir'].includes(f)) return { contentType: FHIR_JSON, pretty };
    if (f === 'application/json') return { contentType: 'application/json', pretty };
    if (CSV_FORMATS.has(f)) return { contentType: FHIR_JSON, pretty, csv: true };
    throw notAcceptable(`_format=${format} is not supported; this server speaks JSON (_format=json)`);
  }
  const accept = req.headers.accept;
  if (!accept) return { contentType: FHIR_JSON, pretty };
  // A type asking for another FHIR version cannot be served (R4 only): it is left out, and when
  // nothing else is acceptable the answer is 406, as FHIR's version parameter asks.
  const ranges = accept.split(',');
  const types = ranges.filter((t) => otherFhirVersion(t) === undefined).map((t) => mediaType(t) ?? '');
  if (types.length === 0) {
    throw notAcceptable(`Accept: ${accept} asks for FHIR version ${otherFhirVersion(ranges[0])}; this server speaks FHIR R4 (fhirVersion=4.0)`);
  }
  if (types.some((t) => t === FHIR_JSON || t === 'application/json+fhir' || t === '*/*' || t === 'application/*')) return { contentType: FHIR_JSON, pretty };
  if (types.includes('application/json')) return { contentType: 'application/json', pretty };
  if (types.some((t) => t === 'application/fhir+ndjson' || t === 'application/ndjson')) return { contentType: FHIR_JSON, pretty };
  if (types.includes('text/csv')) return { contentType: FHIR_JSON, pretty, csv: true };
  // Formats an operation answers itself (health card file, QR image); errors are still FHIR JSON.
  const operationFormat = types.find((t) => OPERATION_FORMATS.has(t));
  if (operationFormat) return { contentType: FHIR_JSON, pretty, operationFormat };
  throw notAcceptable(`Accept: ${accept} cannot be served; this server speaks ${FHIR_JSON}`);
}

function notAcceptable(text: string): FhirError {
  return new FhirError(406, outcome([makeIssue('error', 'not-supported', text)]));
}
