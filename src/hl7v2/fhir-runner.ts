// How a message reaches the data: as FHIR requests run through the same pipeline as the REST API
// (scopes, access policy and data sharing, the handlers with their validation, data-quality rules
// and matching, audit), as the authenticated caller. Nothing here touches the store directly.
import type { Resource } from '@medplum/fhirtypes';
import type { Caller } from '../auth/caller.js';
import { execute } from '../interactions/pipeline.js';
import { route, splitUrl } from '../interactions/router.js';
import type { FhirRequest, FhirResponse, ServerContext } from '../interactions/types.js';

export interface FhirCall {
  method: FhirRequest['method'];
  /** Relative to the FHIR base, with its query: `Patient?identifier=…`, `Patient/$match`, `` for a Bundle. */
  url: string;
  body?: Resource;
  ifMatch?: string;
  ifNoneExist?: string;
}

/** Runs one FHIR request as the caller; FhirErrors are thrown as the REST API would answer them. */
export type FhirRunner = (call: FhirCall) => Promise<FhirResponse>;

export function pipelineRunner(ctx: ServerContext, caller: Caller, requestId: string): FhirRunner {
  return async (call) => {
    const { segments, query } = splitUrl(call.url);
    const routed = route(call.method, segments);
    const req: FhirRequest = {
      method: call.method,
      resourceType: routed.resourceType,
      id: routed.id,
      versionId: routed.versionId,
      operation: routed.operation,
      interaction: routed.interaction,
      query,
      body: call.body,
      contentType: call.body ? 'application/fhir+json' : undefined,
      ifMatch: call.ifMatch,
      ifNoneExist: call.ifNoneExist,
      prefer: { return: 'representation' },
      requestId,
    };
    return execute(req, routed, ctx, caller);
  };
}
