// The one path every request takes, from HTTP or from a bundle entry:
// authorize scopes → access policy (patient compartment, data sharing) → handler → result check.
// Batch and transaction entries come back through here, so every entry is checked the same way.
import type { Resource } from '@medplum/fhirtypes';
import type { Caller } from '../auth/caller.js';
import { processBatch } from '../bundle/batch.js';
import { checkBundle, type RoutedEntry } from '../bundle/entries.js';
import { processTransaction } from '../bundle/transaction.js';
import { patientRefsOf } from '../audit/audit-event.js';
import { accessPolicyFor, type AccessPolicy } from '../consent/access.js';
import { isFhirError } from '../fhir/outcome.js';
import { authorize } from './authorize.js';
import type { RouteResult } from './router.js';
import type { FhirRequest, FhirResponse, ServerContext } from './types.js';

/** Interactions that address one existing resource, checked against the policy before running. */
const INSTANCE_CHECKED = new Set(['update', 'patch', 'delete', 'history-instance', 'operation']);
/** Interactions whose response body is a resource of patient data, checked after running. */
const RESULT_CHECKED = new Set(['read', 'vread']);

/** Policies computed for one top-level request, shared by its bundle entries. */
type PolicyCache = Map<string, Promise<AccessPolicy>>;

export async function execute(
  req: FhirRequest,
  route: RouteResult,
  ctx: ServerContext,
  caller: Caller,
  policies: PolicyCache = new Map()
): Promise<FhirResponse> {
  // metadata needs no token, scope or audit.
  if (route.interaction === 'capabilities') return route.handler(req, ctx);
  if (route.interaction === 'batch') {
    const bundle = checkBundle(req.body);
    const runEntry = (entry: RoutedEntry): Promise<FhirResponse> => execute(entry.request, entry.route, ctx, caller, policies);
    if (bundle.type === 'batch') return processBatch(bundle, req, ctx, runEntry);
    // A transaction commits as one: one AuditEvent names every patient its entries touched
    // (its GET entries run through execute and are audited on their own as well).
    const touched: Resource[] = [];
    let status = 500;
    try {
      const response = await processTransaction(bundle, req, ctx, runEntry, (entry) =>
        checkAccess(entry.request, entry.route, ctx, caller, policies, touched).then(() => undefined)
      );
      status = response.status;
      touched.push(...resourcesIn(response.body));
      return response;
    } catch (err) {
      status = isFhirError(err) ? err.status : 500;
      throw err;
    } finally {
      ctx.audit.recordAccess({
        caller,
        interaction: 'transaction',
        patientRefs: patientRefsOf(touched),
        outcome: status,
        requestId: req.requestId ?? '',
      });
    }
  }
  const touched: Array<Resource | undefined> = [];
  let status = 500;
  try {
    const access = await checkAccess(req, route, ctx, caller, policies, touched);
    const response = await route.handler(req, ctx);
    status = response.status;
    touched.push(...resourcesIn(response.body));
    if (RESULT_CHECKED.has(route.interaction) && response.body) access.assertVisible(response.body);
    return response;
  } catch (err) {
    status = isFhirError(err) ? err.status : 500;
    throw err;
  } finally {
    if (isAudited(route)) {
      ctx.audit.recordAccess({
        caller,
        interaction: route.interaction,
        operation: route.operation,
        resourceType: route.resourceType,
        id: route.id,
        query: req.query.length > 0 ? req.query : undefined,
        patientRefs: patientRefsOf(touched),
        outcome: status,
        requestId: req.requestId ?? '',
      });
    }
  }
}

/** Access to patient data (and to the audit trail itself) is audited; code sets and organizations are not. */
const UNAUDITED_TYPES = new Set(['Organization', 'CodeSystem', 'ValueSet', 'ConceptMap']);
function isAudited(route: RouteResult): boolean {
  return !(route.resourceType && UNAUDITED_TYPES.has(route.resourceType));
}

/** The resources in a response: the resource itself, or a Bundle's entries. */
function resourcesIn(body: Resource | undefined): Resource[] {
  if (!body) return [];
  if (body.resourceType === 'Bundle') return (body.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  return [body];
}

/**
 * Scopes, then the caller's access policy: sets req.access, and refuses writes to or instance
 * operations on resources the caller may not see, and patient/ writes outside the compartment.
 */
async function checkAccess(
  req: FhirRequest,
  route: RouteResult,
  ctx: ServerContext,
  caller: Caller,
  policies: PolicyCache,
  touched: Array<Resource | undefined> = []
): Promise<AccessPolicy> {
  // (touched collects the resources this request reads or writes, for the AuditEvent.)
  const { confinedToPatient } = authorize(caller, route, req);
  const key = confinedToPatient ?? '';
  let policy = policies.get(key);
  if (!policy) {
    policy = accessPolicyFor(caller, confinedToPatient, ctx.sharing);
    policies.set(key, policy);
  }
  const access = await policy;
  req.access = access;
  req.caller = caller;
  if (INSTANCE_CHECKED.has(route.interaction) && route.resourceType && route.id) {
    const current = await ctx.store.read(route.resourceType, route.id);
    touched.push(current?.resource);
    if (current?.resource) access.assertVisible(current.resource);
  }
  if (isResource(req.body)) touched.push(req.body);
  if (isWrite(route) && isResource(req.body) && confinedToPatient) {
    // A patient/ token may only write inside its own compartment.
    access.assertVisible({ ...req.body, id: route.id ?? req.body.id } as Resource);
  }
  return access;
}

function isWrite(route: RouteResult): boolean {
  return ['create', 'update', 'conditional-update', 'patch', 'conditional-patch'].includes(route.interaction);
}

function isResource(body: unknown): body is Resource {
  return !!body && typeof body === 'object' && !Array.isArray(body) && typeof (body as Resource).resourceType === 'string';
}
