// Scope check for every routed request (HTTP or bundle entry), applied in one place.
import type { Caller } from '../auth/caller.js';
import { grants, permissionsFor } from '../auth/scopes.js';
import { forbidden } from '../fhir/outcome.js';
import { auditAllowed } from '../audit/access.js';
import { AUDIT_TYPE, SUPPORTED_TYPES } from '../fhir/resource-types.js';
import type { RouteResult } from './router.js';
import type { FhirRequest } from './types.js';

export interface Authorization {
  /** Set when only patient/ scopes grant the request: the id of the patient it is confined to. */
  confinedToPatient?: string;
}

/**
 * Throws 403 unless the caller's scopes grant what the interaction needs on every resource type it
 * touches. user/ and system/ scopes grant it outright; patient/ scopes grant it only inside the
 * compartment of the token's patient claim (enforced by the access policy in src/consent/access.ts).
 */
export function authorize(caller: Caller, route: RouteResult, req: FhirRequest): Authorization {
  if (route.resourceType === AUDIT_TYPE && !auditAllowed(caller)) {
    throw forbidden('The audit trail is readable only by public-health system clients (a system/ scope and no organization)');
  }
  const needed = permissionsFor(route.interaction, route.operation);
  // A conditional create searches first, so it can reveal whether a record exists: it needs s too.
  if (route.interaction === 'create' && req.ifNoneExist !== undefined) needed.push('s');
  if (needed.length === 0) return {};
  let confinedToPatient: string | undefined;
  for (const resourceType of typesTouched(route, req)) {
    if (grants(caller.scopes, resourceType, needed, ['user', 'system'])) continue;
    if (grants(caller.scopes, resourceType, needed, ['patient'])) {
      if (!caller.patient) throw forbidden('patient/ scopes need a patient claim naming the patient in context');
      confinedToPatient = caller.patient;
      continue;
    }
    throw forbidden(`The token's scopes do not allow ${describe(route)} on ${resourceType} (needs ${needed.join('')})`);
  }
  return { confinedToPatient };
}

function typesTouched(route: RouteResult, req: FhirRequest): string[] {
  // $immds-forecast reads (GET on a Patient) or is given (POST) a patient's Immunizations.
  if (route.operation === 'immds-forecast') return route.resourceType ? [route.resourceType, 'Immunization'] : ['Immunization'];
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
