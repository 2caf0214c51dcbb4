// Maps a FHIR URL (path segments after the base, and the method) to what it addresses: an
// interaction, or an operation registered in the HandlerRegistry. HTTP requests and Bundle entries
// are routed by the same function; the router imports no handler.
import { badRequest, methodNotAllowed, notFound } from '../fhir/outcome.js';
import { AUDIT_TYPE, isSupportedType, ID_PATTERN } from '../fhir/resource-types.js';
import type { FhirRequest, Interaction } from '../fhir/request.js';
import type { DirectoryTypeRegistration, HandlerRegistry, OperationLevel, OperationRegistration } from './registry.js';

export interface RouteResult {
  interaction: Interaction;
  resourceType?: string;
  id?: string;
  versionId?: string;
  operation?: string;
  /** For operations: the registration that serves it. */
  registration?: OperationRegistration;
  /** For a directory type's read or search (registry.ts): the registration that serves it. */
  directory?: DirectoryTypeRegistration;
}

export function route(method: FhirRequest['method'], segments: string[], registry: HandlerRegistry): RouteResult {
  const verb = method === 'HEAD' ? 'GET' : method;
  const [first, second, third, fourth, ...rest] = segments;
  if (rest.length > 0) throw notFound(`No FHIR endpoint at /${segments.join('/')}`);

  if (first === undefined) {
    if (verb === 'POST') return { interaction: 'batch' };
    if (verb === 'GET') return { interaction: 'search-system' };
    throw methodNotAllowed(`${method} is not allowed on the FHIR base`, ['GET', 'POST']);
  }
  if (first === 'metadata') {
    if (second !== undefined) throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
    if (verb !== 'GET') throw methodNotAllowed('metadata answers GET only', ['GET']);
    return { interaction: 'capabilities' };
  }
  if (first === '_history' && second === undefined) {
    requireGet(verb, 'history');
    return { interaction: 'history-system' };
  }
  if (first === '_search' && second === undefined) {
    if (verb !== 'POST') throw methodNotAllowed('_search answers POST only', ['POST']);
    return { interaction: 'search-system' };
  }
  if (first.startsWith('$')) {
    if (second !== undefined) throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
    return operationRoute(registry, method, first, 'system');
  }

  if (first === AUDIT_TYPE) return auditRoute(verb, segments);
  const directory = registry.findDirectoryType(first);
  if (directory) return directoryRoute(verb, segments, directory);
  if (!isSupportedType(first)) throw notFound(`Resource type "${first}" is not supported by this server`);
  const resourceType = first;

  if (second === undefined) {
    switch (verb) {
      case 'GET':
        return { interaction: 'search-type', resourceType };
      case 'POST':
        return { interaction: 'create', resourceType };
      case 'PUT':
        return { interaction: 'conditional-update', resourceType };
      case 'DELETE':
        return { interaction: 'conditional-delete', resourceType };
      case 'PATCH':
        return { interaction: 'conditional-patch', resourceType };
      default:
        // Without this, the method fell through to the instance routes and named "Patient/undefined".
        throw methodNotAllowed(`${method} is not allowed on ${resourceType}`, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
    }
  }
  if (second === '_search' && third === undefined) {
    if (verb !== 'POST') throw methodNotAllowed('_search answers POST only', ['POST']);
    return { interaction: 'search-type', resourceType };
  }
  if (second === '_history' && third === undefined) {
    requireGet(verb, 'history');
    return { interaction: 'history-type', resourceType };
  }
  if (second?.startsWith('$')) {
    if (third !== undefined) throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
    return { ...operationRoute(registry, method, second, 'type', resourceType), resourceType };
  }

  const id = second as string;
  if (!ID_PATTERN.test(id)) throw badRequest(`"${id}" is not a valid FHIR id ([A-Za-z0-9-.]{1,64})`);
  if (third === undefined) {
    switch (verb) {
      case 'GET':
        return { interaction: 'read', resourceType, id };
      case 'PUT':
        return { interaction: 'update', resourceType, id };
      case 'PATCH':
        return { interaction: 'patch', resourceType, id };
      case 'DELETE':
        return { interaction: 'delete', resourceType, id };
      default:
        throw methodNotAllowed(`${method} is not allowed on ${resourceType}/${id}`, ['GET', 'PUT', 'PATCH', 'DELETE']);
    }
  }
  if (third === '_history') {
    requireGet(verb, 'history');
    if (fourth === undefined) return { interaction: 'history-instance', resourceType, id };
    return { interaction: 'vread', resourceType, id, versionId: fourth };
  }
  if (third.startsWith('$') && fourth === undefined) {
    return { ...operationRoute(registry, method, third, 'instance', resourceType), resourceType, id };
  }
  throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
}

function operationRoute(
  registry: HandlerRegistry,
  method: FhirRequest['method'],
  segment: string,
  level: OperationLevel,
  resourceType?: string
): RouteResult {
  const name = segment.slice(1);
  const registration = registry.findOperation(name, level, method, resourceType);
  return { interaction: 'operation', operation: name, registration };
}

/** A directory type (registry.ts) is read by id (GET [type]/[id]), and searched when it registers a search. */
function directoryRoute(verb: string, segments: string[], directory: DirectoryTypeRegistration): RouteResult {
  const [type, id, ...rest] = segments;
  if (id === undefined && directory.search) {
    if (verb !== 'GET') throw methodNotAllowed(`${type} is read-only: GET only`, ['GET']);
    return { interaction: 'search-type', resourceType: type, directory };
  }
  if (id === undefined || rest.length > 0) throw notFound(`${type} is read by id only: GET ${type}/[id]`);
  if (!ID_PATTERN.test(id)) throw badRequest(`"${id}" is not a valid FHIR id ([A-Za-z0-9-.]{1,64})`);
  if (verb !== 'GET') throw methodNotAllowed(`${type} is read-only: GET only`, ['GET']);
  return { interaction: 'read', resourceType: type, id, directory };
}

/**
 * The audit trail is read-only: search, read, vread and history (authorize() limits it to public
 * health). An AuditEvent is written once and never updated, so its instance history is its one
 * version, and the type's history lists every event as written (newest first, `_since`/`_at`).
 */
function auditRoute(verb: string, segments: string[]): RouteResult {
  const [, id, history, version, ...rest] = segments;
  if (verb !== 'GET') throw methodNotAllowed('AuditEvents are read-only: GET only', ['GET']);
  if (id === undefined) return { interaction: 'search-type', resourceType: AUDIT_TYPE };
  if (id === '_history' && history === undefined) return { interaction: 'history-type', resourceType: AUDIT_TYPE };
  if (!ID_PATTERN.test(id)) throw badRequest(`"${id}" is not a valid FHIR id ([A-Za-z0-9-.]{1,64})`);
  if (history === undefined) return { interaction: 'read', resourceType: AUDIT_TYPE, id };
  if (history === '_history' && version === undefined) return { interaction: 'history-instance', resourceType: AUDIT_TYPE, id };
  if (history === '_history' && rest.length === 0) {
    return { interaction: 'vread', resourceType: AUDIT_TYPE, id, versionId: version };
  }
  throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
}

function requireGet(verb: string, what: string): void {
  if (verb !== 'GET') throw methodNotAllowed(`${what} answers GET only`, ['GET']);
}

