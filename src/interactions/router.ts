// Maps a FHIR URL (path segments after the base, method) to an interaction and runs its handler.
// HTTP requests and batch/transaction entries are routed by the same table.
import { exportDownloadOperation, exportOperation, exportStatusOperation } from '../bulk/operations.js';
import { badRequest, methodNotAllowed, notFound } from '../fhir/outcome.js';
import { AUDIT_TYPE, isSupportedType, ID_PATTERN } from '../fhir/resource-types.js';
import { everythingOperation } from '../operations/everything.js';
import { immdsForecastOperation } from '../operations/immds-forecast.js';
import { matchOperation } from '../operations/match.js';
import { mergeOperation } from '../operations/merge.js';
import { validateOperation } from '../operations/validate.js';
import { lookupOperation } from '../terminology/lookup.js';
import { translateOperation } from '../terminology/translate.js';
import { validateCodeOperation } from '../terminology/validate-code.js';
import { capabilities } from './capabilities.js';
import { create } from './create.js';
import { conditionalDelete, deleteResource } from './delete.js';
import { history } from './history.js';
import { conditionalPatch, patch } from './patch.js';
import { read } from './read.js';
import { search } from './search.js';
import type { FhirRequest, Handler, Interaction } from './types.js';
import { conditionalUpdate, update } from './update.js';
import { vread } from './vread.js';

/** Operations by name and level. Later issues add $match, $merge, $export… here. */
interface OperationEntry {
  type?: Handler;
  instance?: Handler;
  system?: Handler;
  methods: ReadonlyArray<FhirRequest['method']>;
  /** Resource types the type/instance-level operation is defined on (absent: every type). */
  types?: readonly string[];
}
const OPERATIONS: Record<string, OperationEntry> = {
  validate: { type: validateOperation, instance: validateOperation, methods: ['POST'] },
  // Patient matching (src/matching): Patient/$match and Patient/$merge.
  match: { type: matchOperation, methods: ['POST'], types: ['Patient'] },
  everything: { instance: everythingOperation, methods: ['GET', 'POST'], types: ['Patient'] },
  merge: { type: mergeOperation, methods: ['POST'], types: ['Patient'] },
  // CDC CDSi forecasting (src/forecast): history given in the request, or a stored patient's.
  'immds-forecast': { system: immdsForecastOperation, instance: immdsForecastOperation, methods: ['GET', 'POST'], types: ['Patient'] },
  // Terminology (src/terminology): each handler answers only on its own resource types.
  lookup: { type: lookupOperation, instance: lookupOperation, methods: ['GET', 'POST'] },
  'validate-code': { type: validateCodeOperation, instance: validateCodeOperation, methods: ['GET', 'POST'] },
  translate: { type: translateOperation, instance: translateOperation, methods: ['GET', 'POST'] },
  // Bulk Data export (src/bulk): kick-off at system, Patient and Group/[id] level; status and files.
  export: { system: exportOperation, type: exportOperation, instance: exportOperation, methods: ['GET', 'POST'], types: ['Patient', 'Group'] },
  'export-poll-status': { system: exportStatusOperation, methods: ['GET', 'DELETE'] },
  'export-download': { system: exportDownloadOperation, methods: ['GET'] },
};

export interface RouteResult {
  interaction: Interaction;
  handler: Handler;
  resourceType?: string;
  id?: string;
  versionId?: string;
  operation?: string;
}

/** Batch is handled by the bundle module; the router only recognises it. */
export const BATCH_PLACEHOLDER: Handler = async () => {
  throw new Error('batch requests are dispatched by src/bundle');
};

export function route(method: FhirRequest['method'], segments: string[]): RouteResult {
  const verb = method === 'HEAD' ? 'GET' : method;
  const [first, second, third, fourth, ...rest] = segments;
  if (rest.length > 0) throw notFound(`No FHIR endpoint at /${segments.join('/')}`);

  if (first === undefined) {
    if (verb === 'POST') return { interaction: 'batch', handler: BATCH_PLACEHOLDER };
    if (verb === 'GET') return { interaction: 'search-system', handler: search };
    throw methodNotAllowed(`${method} is not allowed on the FHIR base`);
  }
  if (first === 'metadata') {
    if (second !== undefined) throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
    if (verb !== 'GET') throw methodNotAllowed('metadata answers GET only');
    return { interaction: 'capabilities', handler: capabilities };
  }
  if (first === '_history' && second === undefined) {
    requireGet(verb, 'history');
    return { interaction: 'history-system', handler: history };
  }
  if (first === '_search' && second === undefined) {
    if (verb !== 'POST') throw methodNotAllowed('_search answers POST only');
    return { interaction: 'search-system', handler: search };
  }
  if (first.startsWith('$')) {
    if (second !== undefined) throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
    return operationRoute(verb, first, 'system');
  }

  if (first === AUDIT_TYPE) return auditRoute(verb, segments);
  if (!isSupportedType(first)) throw notFound(`Resource type "${first}" is not supported by this server`);
  const resourceType = first;

  if (second === undefined) {
    switch (verb) {
      case 'GET':
        return { interaction: 'search-type', handler: search, resourceType };
      case 'POST':
        return { interaction: 'create', handler: create, resourceType };
      case 'PUT':
        return { interaction: 'conditional-update', handler: conditionalUpdate, resourceType };
      case 'DELETE':
        return { interaction: 'conditional-delete', handler: conditionalDelete, resourceType };
      case 'PATCH':
        return { interaction: 'conditional-patch', handler: conditionalPatch, resourceType };
    }
  }
  if (second === '_search' && third === undefined) {
    if (verb !== 'POST') throw methodNotAllowed('_search answers POST only');
    return { interaction: 'search-type', handler: search, resourceType };
  }
  if (second === '_history' && third === undefined) {
    requireGet(verb, 'history');
    return { interaction: 'history-type', handler: history, resourceType };
  }
  if (second?.startsWith('$')) {
    if (third !== undefined) throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
    return { ...operationRoute(verb, second, 'type', resourceType), resourceType };
  }

  const id = second as string;
  if (!ID_PATTERN.test(id)) throw badRequest(`"${id}" is not a valid FHIR id ([A-Za-z0-9-.]{1,64})`);
  if (third === undefined) {
    switch (verb) {
      case 'GET':
        return { interaction: 'read', handler: read, resourceType, id };
      case 'PUT':
        return { interaction: 'update', handler: update, resourceType, id };
      case 'PATCH':
        return { interaction: 'patch', handler: patch, resourceType, id };
      case 'DELETE':
        return { interaction: 'delete', handler: deleteResource, resourceType, id };
      default:
        throw methodNotAllowed(`${method} is not allowed on ${resourceType}/${id}`);
    }
  }
  if (third === '_history') {
    requireGet(verb, 'history');
    if (fourth === undefined) return { interaction: 'history-instance', handler: history, resourceType, id };
    return { interaction: 'vread', handler: vread, resourceType, id, versionId: fourth };
  }
  if (third.startsWith('$') && fourth === undefined) {
    return { ...operationRoute(verb, third, 'instance', resourceType), resourceType, id };
  }
  throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
}

function operationRoute(verb: string, segment: string, level: 'system' | 'type' | 'instance', resourceType?: string): RouteResult {
  const name = segment.slice(1);
  const entry = OPERATIONS[name];
  const handler = entry?.[level];
  if (!entry || !handler) throw notFound(`Operation $${name} is not supported at the ${level} level`);
  if (resourceType && entry.types && !entry.types.includes(resourceType)) {
    throw notFound(`Operation $${name} is not defined on ${resourceType}`);
  }
  if (!entry.methods.includes(verb as FhirRequest['method'])) {
    throw methodNotAllowed(`$${name} answers ${entry.methods.join(', ')}`);
  }
  return { interaction: 'operation', handler, operation: name };
}

/** The audit trail is read-only: search, read and vread (authorize() limits it to public health). */
function auditRoute(verb: string, segments: string[]): RouteResult {
  const [, id, history, version, ...rest] = segments;
  if (verb !== 'GET') throw methodNotAllowed('AuditEvents are read-only: GET only');
  if (id === undefined) return { interaction: 'search-type', handler: search, resourceType: AUDIT_TYPE };
  if (!ID_PATTERN.test(id)) throw badRequest(`"${id}" is not a valid FHIR id ([A-Za-z0-9-.]{1,64})`);
  if (history === undefined) return { interaction: 'read', handler: read, resourceType: AUDIT_TYPE, id };
  if (history === '_history' && version !== undefined && rest.length === 0) {
    return { interaction: 'vread', handler: vread, resourceType: AUDIT_TYPE, id, versionId: version };
  }
  throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
}

function requireGet(verb: string, what: string): void {
  if (verb !== 'GET') throw methodNotAllowed(`${what} answers GET only`);
}

/** Splits a relative FHIR URL (`Patient/1/_history?_count=2`) into segments and ordered query pairs. */
export function splitUrl(url: string): { segments: string[]; query: Array<[string, string]> } {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw badRequest(`The URL path segment "${s}" is not valid percent-encoding`);
      }
    });
  return { segments, query: q === -1 ? [] : parseQuery(url.slice(q + 1)) };
}

/**
 * Parses a query string into ordered string pairs (never objects, so no operator can be injected).
 * Form encoding turns `+` into a space; an unescaped `+` in a time-zone offset is restored.
 */
export function parseQuery(queryString: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const part of queryString.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    pairs.push([decodeComponent(rawName), restoreOffsetPlus(decodeComponent(rawValue))]);
  }
  return pairs;
}

function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw badRequest(`The query component "${value}" is not valid percent-encoding`);
  }
}

const OFFSET_WITH_SPACE = /^((?:eq|ne|gt|lt|ge|le|sa|eb|ap)?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})$/;

function restoreOffsetPlus(value: string): string {
  return value
    .split(',')
    .map((v) => v.replace(OFFSET_WITH_SPACE, '$1+$2'))
    .join(',');
}
