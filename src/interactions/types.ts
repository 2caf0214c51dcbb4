// The uniform shape of every interaction and operation: a FhirRequest in, a FhirResponse out.
// HTTP routes, batch entries and transaction entries all build FhirRequests, so the same code
// serves them all; auth, validation and audit wrap handlers in one place.
import type { Readable } from 'node:stream';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { Config } from '../config.js';
import type { ResourceRecord, Store, WriteOp } from '../store/store.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Caller } from '../auth/caller.js';
import type { AccessPolicy } from '../consent/access.js';
import type { SharingIndex } from '../consent/sharing-index.js';
import type { RuleRegistry } from '../validation/business-rules.js';

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

export interface FhirRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
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
  /** The verified caller (set by the pipeline). */
  caller?: Caller;
  /** The request id of the HTTP request this came from (also for its bundle entries). */
  requestId?: string;
  /** What the caller may see (set by the pipeline; absent means unrestricted, e.g. in unit tests). */
  access?: AccessPolicy;
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
  /** Warnings and information to report (Prefer: return=OperationOutcome, bundle outcomes). */
  issues?: OperationOutcomeIssue[];
  /** A body that is not a FHIR resource (bulk export manifest and NDJSON files), sent instead of `body`. */
  raw?: RawBody;
}

export interface RawBody {
  contentType: string;
  /** A small body, or… */
  data?: string;
  /** …a stream, opened when the response is sent (not for HEAD). */
  open?: () => Promise<Readable>;
  /** Content coding of data/stream: gzip is sent as is to clients that accept it, inflated for others. */
  encoding?: 'gzip' | 'identity';
  /** Bytes of the stream in that encoding, when known (Content-Length when sent unchanged). */
  length?: number;
}

/** Everything a handler may use. One per server process. */
export interface ServerContext {
  store: Store;
  config: Config;
  rules: RuleRegistry;
  /** The FHIR base URL, e.g. http://localhost:8080/fhir (no trailing slash). */
  baseUrl: string;
  /** Patients whose data sharing is no or unknown. */
  sharing: SharingIndex;
  /** The AuditEvent writer. */
  audit: AuditLog;
}

/**
 * A write that has been validated and resolved but not committed, so a transaction can commit many
 * atomically while a single request commits one.
 */
export interface PreparedWrite {
  kind: 'write';
  op: WriteOp;
  issues: OperationOutcomeIssue[];
  /** Builds the response once the store has committed the write. */
  respond: (record: ResourceRecord) => FhirResponse;
  /** Conditional-create lock key, held from preparation to commit. */
  lockKey?: string;
}

/** The interaction concluded without writing (conditional create found a match, delete of nothing…). */
export interface NoWrite {
  kind: 'done';
  response: FhirResponse;
}

export type Prepared = PreparedWrite | NoWrite;

export type Handler = (req: FhirRequest, ctx: ServerContext) => Promise<FhirResponse>;
