// How a message reaches the data: as FHIR requests run through the same pipeline as the REST API
// (scopes, access policy and data sharing, the handlers with their validation, data-quality rules
// and matching, audit), as the authenticated caller. Nothing here touches the store directly.
import type { Resource } from '@medplum/fhirtypes';
import type { Caller, FhirRequest, FhirResponse } from '../fhir/request.js';
import type { MessageOutcome, Pipeline } from '../pipeline/pipeline.js';

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

/**
 * Runs the requests that answer one VXU with a runner, audited as ONE AuditEvent carrying all of
 * them and the message's outcome (Pipeline.executeMessageAs).
 */
export type MessageRunner = <T>(answer: (run: FhirRunner) => Promise<T>, outcomeOf: (result: T) => MessageOutcome) => Promise<T>;

function external(call: FhirCall, requestId: string) {
  return {
    method: call.method,
    url: call.url,
    body: call.body,
    contentType: call.body ? 'application/fhir+json' : undefined,
    ifMatch: call.ifMatch,
    ifNoneExist: call.ifNoneExist,
    prefer: { return: 'representation' as const },
    requestId,
  };
}

export function pipelineRunner(pipeline: Pick<Pipeline, 'executeAs'>, caller: Caller, requestId: string): FhirRunner {
  return (call) => pipeline.executeAs(caller, external(call, requestId));
}

export function pipelineMessageRunner(pipeline: Pick<Pipeline, 'executeMessageAs'>, caller: Caller, requestId: string): MessageRunner {
  return (answer, outcomeOf) => pipeline.executeMessageAs(caller, requestId, (run) => answer((call) => run(external(call, requestId))), outcomeOf);
}
