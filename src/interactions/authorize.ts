// Scope check for every routed request (HTTP or bundle entry), applied in one place.
import type { Caller } from '../auth/caller.js';
import { grants, permissionsFor } from '../auth/scopes.js';
import { forbidden } from '../fhir/outcome.js';
import { SUPPORTED_TYPES } from '../fhir/resource-types.js';
import type { RouteResult } from './router.js';
import type { FhirRequest } from './types.js';

/**
 * Throws 403 unless the caller's user/ or system/ scopes grant what the interaction needs on every
 * resource type it touches. patient/ scopes are refused for now: the patient-compartment
 * confinement they require is not built yet, and granting them wider access would leak records.
 */
export function authorize(caller: Caller, route: RouteResult, req: FhirRequest): void {
  const needed = permissionsFor(route.interaction, route.operation);
  if (needed.length === 0) return;
  for (const resourceType of typesTouched(route, req)) {
    if (grants(caller.scopes, resourceType, needed, ['user', 'system'])) continue;
    if (grants(caller.scopes, resourceType, needed, ['patient'])) {
      throw forbidden(
        `patient/ scopes are not supported yet on this server; use a user/ or system/ scope for ${resourceType}`
      );
    }
    throw forbidden(`The token's scopes do not allow ${describe(route)} on ${resourceType} (needs ${needed.join('')})`);
  }
}

function typesTouched(route: RouteResult, req: FhirRequest): string[] {
  if (route.resourceType) return [route.resourceType];
  if (route.interaction === 'search-system') {
    const listed = req.query.filter(([k]) => k === '_type').flatMap(([, v]) => v.split(','));
    if (listed.length > 0) return listed.filter((t) => (SUPPORTED_TYPES as readonly string[]).includes(t));
  }
  return [...SUPPORTED_TYPES];
}

function describe(route: RouteResult): string {
  return route.operation ? `$${route.operation}` : route.interaction;
}
