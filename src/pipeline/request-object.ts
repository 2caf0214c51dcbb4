// The FhirRequest objects the pipeline builds for requests from other front doors (HL7 v2, the web
// app) and for a transaction's entries, built member by member. They used to be object spreads
// followed by more members (`{ prefer: {}, ...fields, method, … }`), which Node 20's V8 builds on a
// slow path: ~2 µs per request instead of ~0.4 (two or more per VXU, one per transaction entry).
// The objects are the same: the same own keys in the same order with the same values
// (request-object.test.ts, fast-check against the spreads). A source with an own `__proto__` key
// or symbol keys (never built by this code base, but possible) is still spread: Object.assign and
// plain assignment would set the prototype instead of copying the key.
import type { FhirMethod, FhirRequest } from '../fhir/request.js';
import type { RouteResult } from './router.js';

type Fields = Omit<Partial<FhirRequest>, 'method'>;

function plainKeys(source: object): boolean {
  return !Object.prototype.hasOwnProperty.call(source, '__proto__') && Object.getOwnPropertySymbols(source).length === 0;
}

/**
 * `const { method, url, prefer, ...fields } = input; return { ...fields, [requestId,] prefer: prefer ?? {} }`:
 * the fields of an ExternalRequest (all but method and url) for `Pipeline.request`.
 */
export function externalFields<T extends { method: unknown; url: unknown; prefer?: unknown }>(input: T, requestId?: { value: string }): Fields {
  if (!plainKeys(input)) {
    const { method: _method, url: _url, prefer, ...fields } = input;
    return (requestId ? { ...fields, requestId: requestId.value, prefer: prefer ?? {} } : { ...fields, prefer: prefer ?? {} }) as Fields;
  }
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    if (key !== 'method' && key !== 'url' && key !== 'prefer') fields[key] = (input as Record<string, unknown>)[key];
  }
  if (requestId) fields.requestId = requestId.value;
  fields.prefer = input.prefer ?? {};
  return fields as Fields;
}

/**
 * `{ prefer: {}, ...fields, method, query: [...query, ...(fields.query ?? [])], resourceType, id,
 * versionId, operation, interaction }` (the routed request `Pipeline.request` returns).
 */
export function routedRequest(method: FhirMethod, query: Array<[string, string]>, routed: RouteResult, fields: Fields): FhirRequest {
  if (!plainKeys(fields)) {
    return {
      prefer: {},
      ...fields,
      method,
      query: [...query, ...(fields.query ?? [])],
      resourceType: routed.resourceType,
      id: routed.id,
      versionId: routed.versionId,
      operation: routed.operation,
      interaction: routed.interaction,
    };
  }
  const req = { prefer: {} } as FhirRequest;
  Object.assign(req, fields);
  req.method = method;
  req.query = fields.query ? [...query, ...fields.query] : [...query];
  req.resourceType = routed.resourceType;
  req.id = routed.id;
  req.versionId = routed.versionId;
  req.operation = routed.operation;
  req.interaction = routed.interaction;
  return req;
}
