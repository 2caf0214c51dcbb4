// The uniform shape of every interaction and operation: a FhirRequest in, a FhirResponse out.
// HTTP routes, Bundle entries and the other front doors (HL7 v2, SOAP, the web app) all build
// FhirRequests, so one pipeline serves them all. A neutral module: it imports no other folder, so
// every layer (auth, audit, handlers, pipeline, http) can name these types.
import type { Readable } from 'node:stream';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';

export interface PreferHeader {
  return?: 'minimal' | 'representation' | 'OperationOutcome';
  handling?: 'strict' | 'lenient';
  respondAsync?: boolean;
}

export type Interaction =
  | 'capabilities'
  | 'read'
  | 'vread'
  | 'update'
  | 'conditional-update'
  | 'patch'
  | 'conditional-patch'
  | 'delete'
  | 'conditional-delete'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'batch'
  | 'operation';

export type FhirMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * An update that an internal caller marked so: when its content equals the stored version (see
 * fhir/same-content.ts), it writes nothing and answers with the stored version, its version still
 * checked inside the store's write (WriteOp.verifyOnly), so it fails as a write with that
 * precondition would. HL7 v2 marks the Patient of a further VXU: a child's unchanged demographics
 * add no version per dose. A Symbol key, set only by code: JSON (an HTTP body, a client's Bundle)
 * cannot carry one, so a client's PUT is versioned as ever.
 */
export const UNCHANGED_WRITES_NOTHING: unique symbol = Symbol('unchangedWritesNothing');

/** Marks a request (a FhirRequest, or a Bundle entry's `request`, which routing carries over). */
export function markUnchangedWritesNothing<T extends object>(request: T): T {
  (request as { [UNCHANGED_WRITES_NOTHING]?: true })[UNCHANGED_WRITES_NOTHING] = true;
  return request;
}

/** Whether an internal caller marked the request (markUnchangedWritesNothing). */
export function unchangedWritesNothing(request: object): boolean {
  return (request as { [UNCHANGED_WRITES_NOTHING]?: true })[UNCHANGED_WRITES_NOTHING] === true;
}

export interface FhirRequest {
  method: FhirMethod;
  resourceType?: string;
  id?: string;
  versionId?: string;
  /** `$name` of an operation, without the dollar. */
  operation?: string;
  /** What the URL addresses, decided by the router. */
  interaction?: Interaction;
  /** Query parameters in order; values are always strings. */
  query: Array<[string, string]>;
  /** Parsed JSON body (resource, Parameters, JSON Patch array…). */
  body?: unknown;
  /** Content type of the body without parameters, e.g. application/json-patch+json. */
  contentType?: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  ifNoneExist?: string;
  ifModifiedSince?: string;
  prefer: PreferHeader;
  /** The Accept header, for operations that also answer in a non-FHIR format (health card file, QR image). */
  accept?: string;
  /** The request id of the HTTP request this came from (also for its bundle entries). */
  requestId?: string;
  /**
   * CSV was asked for with `_format=text/csv` (or `csv`) or `Accept: text/csv`, for GET operations
   * that offer it ($reminder-recall); the HTTP edge answers 406 when the handler gives no CSV.
   */
  wantsCsv?: boolean;
  /** Set only by internal callers: see UNCHANGED_WRITES_NOTHING. */
  [UNCHANGED_WRITES_NOTHING]?: true;
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
  /**
   * The instant of the stored version answered (its meta.lastUpdated): a Bundle entry's
   * response.lastModified, where the Last-Modified header names only its second.
   */
  lastUpdated?: string;
  /** Warnings and information to report (Prefer: return=OperationOutcome, bundle outcomes). */
  issues?: OperationOutcomeIssue[];
  /** A body that is not a FHIR resource (bulk export manifest and NDJSON files), sent instead of `body`. */
  raw?: RawBody;
}

export interface RawBody {
  contentType: string;
  /** A small body (text, or bytes such as an image), or… */
  data?: string | Buffer;
  /** …a stream, opened when the response is sent (not for HEAD). */
  open?: () => Promise<Readable>;
  /** Content coding of data/stream: gzip is sent as is to clients that accept it, inflated for others. */
  encoding?: 'gzip' | 'identity';
  /** Bytes of the stream in that encoding, when known (Content-Length when sent unchanged). */
  length?: number;
  /** Produced while being sent (not a stored file): each chunk is flushed to the client as it comes. */
  live?: boolean;
}

/** Who is calling, as read from a verified access token (or established by another front door). */
export interface Caller {
  sub?: string;
  /** `Organization/<id>` the caller acts for; absent for public-health system clients. */
  organization?: string;
  /** The signed-in person (`Practitioner/<id>`, from the `fhirUser` claim of sign-in tokens). */
  fhirUser?: string;
  /** Patient id in context for patient/ scopes. */
  patient?: string;
  /** The OAuth client (`client_id` or `azp` claim). */
  clientId?: string;
  /** The token's `iss` claim, when it has one (always for JWKS-issuer and server-issued tokens). */
  issuer?: string;
  /**
   * The signed-in person's role (the `role` claim of sign-in tokens, or set by another front door):
   * `reports` reads patient data only through reminder/recall and coverage (src/pipeline/authorize.ts).
   */
  role?: string;
  scopes: ResourceScope[];
  /** The raw scope string, for audit. */
  scope: string;
}

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeContext = 'patient' | 'user' | 'system';

export interface ResourceScope {
  context: ScopeContext;
  /** A resource type or `*`. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
}
