// search: GET [type]?…, POST [type]/_search, and system search GET /fhir?_type=…
// The search module builds the whole searchset Bundle (paging, includes, _summary…) over the
// caller-scoped store, which ANDs the caller's access filter onto every query it runs.
import { limitsOf } from '../config.js';
import { searchBundle } from '../search/execute.js';
import { mayReach, reachChecker } from './reach-scopes.js';
import type { FhirRequest, FhirResponse, HandlerContext } from './types.js';

export async function search(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const body = await searchBundle(ctx.store, {
    resourceType: req.resourceType,
    params: req.query,
    lenient: req.prefer.handling === 'lenient',
    baseUrl: ctx.baseUrl,
    limits: limitsOf(ctx.config),
    // Included resources need the same right as the searched ones: read or search on their type.
    // A patient/ scope counts only when the request is confined to its patient (then the store's
    // access filter keeps the included resources inside the compartment).
    readable: (type) => mayReach(ctx, type, ['r']) || mayReach(ctx, type, ['s']),
    checkReach: reachChecker(ctx),
  });
  return { status: 200, body };
}
