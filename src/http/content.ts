// Content negotiation: request body types (415), JSON parsing (400), response format
// (_format, Accept, _pretty → application/fhir+json or application/json, 406 for others).
import type { Request } from 'express';
import { badRequest, FhirError, makeIssue, outcome, unsupportedMediaType } from '../fhir/outcome.js';

export const FHIR_JSON = 'application/fhir+json';
const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);
const PATCH_TYPES = new Set(['application/json-patch+json']);
const FORM = 'application/x-www-form-urlencoded';

export function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0].trim().toLowerCase() || undefined;
}

/**
 * Parses the request body for what the route accepts: FHIR JSON always, JSON Patch for PATCH, a
 * form for _search. Returns undefined for an empty body.
 */
export function parseBody(
  req: Request,
  accept: { patch: boolean; form: boolean }
): { body?: unknown; contentType?: string; form?: Array<[string, string]> } {
  const raw = Buffer.isBuffer(req.body) ? req.body : undefined;
  if (!raw || raw.length === 0) return {};
  const type = mediaType(req.headers['content-type']);
  const charset = /charset=([^;]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.trim().toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') throw unsupportedMediaType(`Only UTF-8 bodies are accepted, got charset ${charset}`);
  if (type === FORM && accept.form) return { contentType: type, form: [...new URLSearchParams(raw.toString('utf8'))] };
  const isJson = type !== undefined && (JSON_TYPES.has(type) || (accept.patch && PATCH_TYPES.has(type)));
  if (!isJson) {
    const allowed = [FHIR_JSON, 'application/json', ...(accept.patch ? ['application/json-patch+json'] : []), ...(accept.form ? [FORM] : [])];
    throw unsupportedMediaType(`Content-Type ${type ?? '(none)'} is not accepted here; use ${allowed.join(' or ')}`);
  }
  return { body: parseJson(raw.toString('utf8')), contentType: type };
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw badRequest('The JSON body is nested too deeply');
    throw badRequest(`The body is not valid JSON: ${(err as Error).message}`);
  }
}

export interface ResponseFormat {
  contentType: string;
  pretty: boolean;
}

/** Decides the response format from _format / Accept; XML and other formats answer 406. */
export function responseFormat(req: Request, query: Array<[string, string]>): ResponseFormat {
  const format = query.find(([k]) => k === '_format')?.[1];
  const pretty = query.find(([k]) => k === '_pretty')?.[1] === 'true';
  if (format !== undefined) {
    const f = format.toLowerCase();
    if (['json', FHIR_JSON, 'application/fhir+json;fhirversion=4.0', 'application/json+fhir'].includes(f)) return { contentType: FHIR_JSON, pretty };
    if (f === 'application/json') return { contentType: 'application/json', pretty };
    throw notAcceptable(`_format=${format} is not supported; this server speaks JSON (_format=json)`);
  }
  const accept = req.headers.accept;
  if (!accept) return { contentType: FHIR_JSON, pretty };
  const types = accept.split(',').map((t) => mediaType(t) ?? '');
  if (types.some((t) => t === FHIR_JSON || t === 'application/json+fhir' || t === '*/*' || t === 'application/*')) return { contentType: FHIR_JSON, pretty };
  if (types.includes('application/json')) return { contentType: 'application/json', pretty };
  if (types.some((t) => t === 'application/fhir+ndjson' || t === 'application/ndjson')) return { contentType: FHIR_JSON, pretty };
  throw notAcceptable(`Accept: ${accept} cannot be served; this server speaks ${FHIR_JSON}`);
}

function notAcceptable(text: string): FhirError {
  return new FhirError(406, outcome([makeIssue('error', 'not-supported', text)]));
}
