// Scope check for every routed request (HTTP or bundle entry), applied in one place.
import { grants, permissionsFor } from '../auth/scopes.js';
import { forbidden } from '../fhir/outcome.js';
import { auditAllowed } from '../audit/access.js';
import type { Caller, FhirRequest } from '../fhir/request.js';
import { AUDIT_TYPE, PATIENT_COMPARTMENT_TYPES, SUPPORTED_TYPES } from '../fhir/resource-types.js';
import type { RouteResult } from './router.js';

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
  // A directory type (Practitioner: the signed-in people) is no stored resource a scope names: its
  // handler lets a token read only what it may (its own fhirUser).
  if (route.directory) return {};
  const needed = route.registration?.permissions ? [...route.registration.permissions] : permissionsFor(route.interaction, route.operation);
  // A conditional create searches first, so it can reveal whether a record exists: it needs s too.
  if (route.interaction === 'create' && req.ifNoneExist !== undefined) needed.push('s');
  if (needed.length === 0) {
    // Nothing to grant on a type (a Bundle, bulk export): a caller holding only patient/ scopes
    // still works inside its patient's compartment, never unrestricted.
    const onlyPatientScopes = caller.scopes.length > 0 && caller.scopes.every((s) => s.context === 'patient');
    return onlyPatientScopes && caller.patient ? { confinedToPatient: caller.patient } : {};
  }
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

/**
 * The routes through which a `reports` user reads patient data: reminder/recall and coverage, and
 * the status and files of its own asynchronous runs of them (a job belongs to the caller that
 * started it, and such a caller cannot start an $export of patient data).
 */
const REPORT_ROUTES = new Set(['reminder-recall', 'evaluate-measure', 'export-poll-status', 'export-download']);

/**
 * The caller as this route may see it. A `reports` user (CONTRACT.md: runs reminder/recall and
 * coverage only) keeps its read rights on a patient's record only on the report routes; elsewhere
 * its scopes lose the Patient compartment types, so reads, searches, includes, $everything or an
 * export of patients are refused (or left out) as for any token without them.
 */
export function callerForRoute(caller: Caller, route: RouteResult): Caller {
  if (caller.role !== 'reports' || (route.operation !== undefined && REPORT_ROUTES.has(route.operation))) return caller;
  const patientData = new Set<string>(PATIENT_COMPARTMENT_TYPES);
  const scopes = caller.scopes.flatMap((s) => {
    if (patientData.has(s.resourceType)) return [];
    if (s.resourceType !== '*') return [s];
    // A wildcard stands for every type: keep it for the others only.
    return SUPPORTED_TYPES.filter((t) => !patientData.has(t)).map((t) => ({ ...s, resourceType: t }));
  });
  return { ...caller, scopes };
}

function typesTouched(route: RouteResult, req: FhirRequest): string[] {
  const scopeTypes = route.registration?.scopeTypes;
  if (scopeTypes) return route.resourceType ? [route.resourceType, ...scopeTypes] : [...scopeTypes];
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
