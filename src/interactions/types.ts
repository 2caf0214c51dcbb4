// What a handler sees. Every interaction and operation is a Handler: a FhirRequest and the
// HandlerContext of its request in, a FhirResponse out. The context is built by the pipeline
// (src/pipeline) once per request from the caller's token: its store is the caller-scoped view,
// and there is no unscoped store in it to reach for.
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { Config } from '../config.js';
import type { AccessPolicy } from '../consent/access.js';
import type { ScopedStore } from '../consent/scoped-store.js';
import type { Caller, FhirMethod, FhirRequest, FhirResponse } from '../fhir/request.js';
import type { ResourceRecord, WriteOp } from '../store/store.js';
import type { RuleRegistry } from '../validation/business-rules.js';

export type {
  Caller,
  FhirMethod,
  FhirRequest,
  FhirResponse,
  Interaction,
  PreferHeader,
  RawBody,
} from '../fhir/request.js';

/** Everything a handler may use, scoped to the one caller of one request. */
export interface HandlerContext {
  /** The caller-scoped store view, with the caller's access policy applied inside. */
  readonly store: ScopedStore;
  /** The verified caller (token claims and scopes). */
  readonly caller: Caller;
  /** The caller's access policy (also applied by `store`): for checking content a handler builds itself. */
  readonly access: AccessPolicy;
  readonly config: Config;
  /** Business rules run on every write (src/validation, src/quality). */
  readonly rules: RuleRegistry;
  /** The FHIR base URL, e.g. http://localhost:8080/fhir (no trailing slash). */
  readonly baseUrl: string;
  /** The id of the request (HTTP X-Request-Id, shared by its Bundle entries). */
  readonly requestId: string;
  /** Further requests on behalf of the same caller, through the same pipeline (Bundle entries). */
  readonly entries: EntryPipeline;
  /**
   * Audits patients whose data the answer gives out after the handler returned (a streamed body
   * such as the reminder/recall CSV, which the request's own AuditEvent cannot name): one more
   * AuditEvent of this request (same caller, interaction, query, request id and status) naming
   * them, `description` in its outcomeDesc. Absent outside the pipeline (nothing to audit to).
   */
  readonly auditDisclosed?: (patientRefs: string[], description: string) => void;
}

/** The pipeline as a Bundle handler uses it for its entries. */
export interface EntryPipeline {
  /**
   * An entry's method and relative URL (`Patient/1/_history?_count=2`) routed like an HTTP request:
   * a FhirRequest with interaction, type, id and query set (404/405/400 as over HTTP).
   */
  route(method: FhirMethod, url: string): FhirRequest;
  /** Checks the caller's scopes for the entry (403) and gives the context it runs in. */
  contextFor(req: FhirRequest): Promise<HandlerContext>;
  /** Runs the entry through the whole pipeline: scopes, policy, handler, audit. */
  run(req: FhirRequest): Promise<FhirResponse>;
}

export type Handler = (req: FhirRequest, ctx: HandlerContext) => Promise<FhirResponse>;

/**
 * A write that has been validated and resolved but not committed, so a transaction can commit many
 * atomically while a single request commits one.
 */
export interface PreparedWrite {
  kind: 'write';
  op: WriteOp;
  issues: OperationOutcomeIssue[];
  /** The stored content this write replaces or deletes (updates and deletes of an existing record): what its follow-ups compare. */
  previous?: Resource;
  /** Builds the response once the store has committed the write. */
  respond: (record: ResourceRecord) => FhirResponse;
}

/** The interaction concluded without writing (conditional create found a match, delete of nothing…). */
export interface NoWrite {
  kind: 'done';
  response: FhirResponse;
}

export type Prepared = PreparedWrite | NoWrite;
