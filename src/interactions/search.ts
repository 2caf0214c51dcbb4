// search: GET [type]?…, POST [type]/_search, and system search GET /fhir?_type=…
// The search module builds the whole searchset Bundle (paging, includes, _summary…) over the
// caller-scoped store, which ANDs the caller's access filter onto every query it runs.
import { limitsOf } from '../config.js';
import { searchBundle } from '../search/execute.js';
import type { FhirRequest, FhirResponse, HandlerContext } from './types.js';

export async function search(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const body = await searchBundle(ctx.store, {
    resourceType: req.resourceType,
    params: req.query,
    lenient: req.prefer.handling === 'lenient',
    baseUrl: ctx.baseUrl,
    limits: limitsOf(ctx.config),
  });
  return { status: 200, body };
}
