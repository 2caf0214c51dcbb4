// The one path every request takes, from HTTP or from a bundle entry:
// authorize scopes → access policy (patient compartment, data sharing) → handler → result check.
// Batch and transaction entries come back through here, so every entry is checked the same way.
import type { Resource } from '@medplum/fhirtypes';
import type { Caller } from '../auth/caller.js';
import { processBatch } from '../bundle/batch.js';
import { checkBundle, type RoutedEntry } from '../bundle/entries.js';
import { processTransaction } from '../bundle/transaction.js';
import { accessPolicyFor, type AccessPolicy } from '../consent/access.js';
import { capabilities } from './capabilities.js';
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
  if (route.interaction === 'capabilities') return capabilities(req, ctx);
  if (route.interaction === 'batch') {
    const bundle = checkBundle(req.body);
    const runEntry = (entry: RoutedEntry): Promise<FhirResponse> => execute(entry.request, entry.route, ctx, caller, policies);
    if (bundle.type === 'batch') return processBatch(bundle, req, ctx, runEntry);
    return processTransaction(bundle, req, ctx, runEntry, (entry) =>
      checkAccess(entry.request, entry.route, ctx, caller, policies).then(() => undefined)
    );
  }
  const access = await checkAccess(req, route, ctx, caller, policies);
  const response = await route.handler(req, ctx);
  if (RESULT_CHECKED.has(route.interaction) && response.body) access.assertVisible(response.body);
  return response;
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
  policies: PolicyCache
): Promise<AccessPolicy> {
  const { confinedToPatient } = authorize(caller, route, req);
  const key = confinedToPatient ?? '';
  let policy = policies.get(key);
  if (!policy) {
    policy = accessPolicyFor(caller, confinedToPatient, ctx.sharing);
    policies.set(key, policy);
  }
  const access = await policy;
  req.access = access;
  if (INSTANCE_CHECKED.has(route.interaction) && route.resourceType && route.id) {
    const current = await ctx.store.read(route.resourceType, route.id);
    if (current?.resource) access.assertVisible(current.resource);
  }
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
