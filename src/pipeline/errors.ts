// Every error becomes a FhirError exactly once, here: ours as they are, store errors mapped
// (503 unavailable, 409 conflict), the rest 500. The HTTP edge sends what this says and the audit
// trail records the same status, so an AuditEvent's outcome is the status the client saw.
import { FhirError, isFhirError, makeIssue, outcome } from '../fhir/outcome.js';
import { StoreUnavailableError, VersionConflictError } from '../store/store.js';

export function toFhirError(err: unknown): FhirError {
  if (isFhirError(err)) return err;
  if (err instanceof StoreUnavailableError) {
    return new FhirError(503, outcome([makeIssue('error', 'transient', 'The data store is unavailable; try again shortly')]), {
      'Retry-After': '5',
    });
  }
  if (err instanceof VersionConflictError) {
    return new FhirError(409, outcome([makeIssue('error', 'conflict', err.message)]));
  }
  const bodyError = err as { type?: string; status?: number; limit?: number };
  switch (bodyError.type) {
    case 'entity.too.large':
      return new FhirError(413, outcome([makeIssue('error', 'too-costly', `The request body is larger than the limit of ${bodyError.limit} bytes`)]));
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new FhirError(415, outcome([makeIssue('error', 'not-supported', 'The request body encoding is not supported')]));
    case 'request.aborted':
    case 'request.size.invalid':
      return new FhirError(400, outcome([makeIssue('error', 'invalid', 'The request body was incomplete')]));
  }
  if (typeof bodyError.status === 'number' && bodyError.status >= 400 && bodyError.status < 500) {
    return new FhirError(bodyError.status, outcome([makeIssue('error', 'invalid', (err as Error).message)]));
  }
  return new FhirError(500, outcome([makeIssue('error', 'exception', 'An unexpected server error occurred; it has been logged')]));
}

/** The HTTP status a client is answered for this error. */
export function statusOf(err: unknown): number {
  return toFhirError(err).status;
}

/**
 * An error of a Bundle entry run through the pipeline, as that entry answers it: a store error is
 * mapped as for an HTTP request (503 unavailable, 409 conflict), so a batch entry read while the
 * store is down says 503 in its response, not 500, and the others keep theirs. An unexpected error
 * stays itself (the Bundle answers it as a server error).
 */
export function entryError(err: unknown): unknown {
  if (isFhirError(err)) return err;
  const mapped = toFhirError(err);
  return mapped.status === 500 ? err : mapped;
}
