// The one path every request takes, whichever door it came in by (HTTP /fhir, a Bundle entry,
// HL7 v2, SOAP, the web app): route → scopes → the caller-scoped store view (access policy:
// patient compartment, data sharing) → the registered handler → AuditEvent with the status the
// client sees. Handlers get a HandlerContext whose only store is the caller-scoped view.
import type { Resource } from '@medplum/fhirtypes';
import { matchQuery, patientRef, patientRefsOf, queriedPatientRefs, type AccessEvent } from '../audit/audit-event.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import { accessPolicyFor, ANONYMOUS, type AccessPolicy } from '../consent/access.js';
import { ScopedStore, type CommitObserver } from '../consent/scoped-store.js';
import type { SharingIndex } from '../consent/sharing-index.js';
import type { Caller, FhirMethod, FhirRequest, FhirResponse, PreferHeader } from '../fhir/request.js';
import { splitUrl } from '../fhir/url.js';
import type { EntryPipeline, HandlerContext } from '../interactions/types.js';
import type { Store } from '../store/store.js';
import type { RuleRegistry } from '../validation/business-rules.js';
import { authorize, callerForRoute } from './authorize.js';
import { entryError, statusOf } from './errors.js';
import type { HandlerRegistry } from './registry.js';
import { externalFields, routedRequest } from './request-object.js';
import { route, type RouteResult } from './router.js';

/** What the pipeline is built from: the server-wide services (the unscoped store stays in here). */
export interface PipelineDeps {
  store: Store;
  config: Config;
  rules: RuleRegistry;
  /** The FHIR base URL, e.g. http://localhost:8080/fhir (no trailing slash). */
  baseUrl: string;
  /** Patients whose data sharing is no or unknown. */
  sharing: SharingIndex;
  audit: AuditLog;
  registry: HandlerRegistry;
  /** Told about every write a handler commits (terminology code sets reload on a change). */
  onCommitted?: CommitObserver;
}

/** A request from a front door other than HTTP /fhir: a FHIR URL relative to the base, plus headers. */
export interface ExternalRequest {
  method: FhirMethod;
  /** Relative to the FHIR base: `Patient?identifier=x`, `Immunization/1`, `` (a Bundle). */
  url: string;
  body?: unknown;
  contentType?: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  ifNoneExist?: string;
  ifModifiedSince?: string;
  prefer?: PreferHeader;
  requestId?: string;
}

/** How a message was answered, for its AuditEvent (executeMessageAs). */
export interface MessageOutcome {
  /** The HTTP status the message was answered with (outcome 0 / 4 / 8). */
  status: number;
  /** Said in the event's outcomeDesc after the status, e.g. `HL7 MSA-1 AE`. */
  description?: string;
}

/** The requests of one message gathered for its single AuditEvent. */
interface AuditUnit {
  patients: string[];
  /** The first search's query (a VXU's PID-3 lookup). */
  query?: { resourceType?: string; query: AccessEvent['query'] };
  /** The last request's event: its interaction and caller are the message's. */
  last?: AccessEvent;
}

/** One top-level request and the Bundle entries it runs: one caller, policies computed once. */
interface RequestScope {
  caller: Caller;
  requestId: string;
  policies: Map<string, Promise<AccessPolicy>>;
}

/** Interactions whose response body is not patient data of its own (no AuditEvent for them). */
const UNAUDITED_TYPES = new Set(['Organization', 'CodeSystem', 'ValueSet', 'ConceptMap', 'OperationDefinition']);

export class Pipeline {
  constructor(private readonly deps: PipelineDeps) {}

  get baseUrl(): string {
    return this.deps.baseUrl;
  }

  /** Routes a method and path segments (after the FHIR base) like the HTTP front door does. */
  route(method: FhirMethod, segments: string[]): RouteResult {
    return route(method, segments, this.deps.registry);
  }

  /** A routed FhirRequest for a method and a URL relative to the FHIR base. */
  request(method: FhirMethod, url: string, fields: Omit<Partial<FhirRequest>, 'method'> = {}): FhirRequest {
    const { segments, query } = splitUrl(url);
    return routedRequest(method, query, this.route(method, segments), fields);
  }

  /**
   * Runs a request as a caller whose identity another front door has already established (HL7 v2
   * over SOAP, the web app's session): the same scopes, access policy, handler and audit as HTTP.
   * Errors are thrown as FhirErrors (isFhirError), like handlers throw them.
   */
  async executeAs(caller: Caller, input: ExternalRequest): Promise<FhirResponse> {
    const req = this.request(input.method, input.url.replace(/^\//, ''), externalFields(input));
    return this.execute(req, caller);
  }

  /** Runs a routed request (from this.request or the HTTP front door) for a verified caller. */
  execute(req: FhirRequest, caller: Caller): Promise<FhirResponse> {
    const scope: RequestScope = { caller, requestId: req.requestId ?? '', policies: new Map() };
    return this.run(req, scope);
  }

  /**
   * The FHIR requests that answer ONE HL7 v2 VXU (the PID-3 lookup, the transaction, again when a
   * dose is dropped or a version race is retried), each run as executeAs runs it, audited as ONE
   * AuditEvent: recorded once `answer` settles, whatever it does, naming every patient any of the
   * requests touched, the first search's query (the lookup), the last request's interaction, and
   * the outcome the message was answered with. Nothing here skips the audit: only its grouping
   * differs. No request run (a message refused before reaching the data): no event, as before.
   */
  async executeMessageAs<T>(
    caller: Caller,
    requestId: string,
    answer: (run: (input: ExternalRequest) => Promise<FhirResponse>) => Promise<T>,
    outcomeOf: (result: T) => MessageOutcome
  ): Promise<T> {
    const unit: AuditUnit = { patients: [] };
    const run = (input: ExternalRequest): Promise<FhirResponse> => {
      const req = this.request(input.method, input.url.replace(/^\//, ''), externalFields(input, { value: requestId }));
      // A scope per request, as executeAs: the access policy is computed afresh for each one.
      return this.run(req, { caller, requestId, policies: new Map() }, unit);
    };
    let outcome: MessageOutcome;
    try {
      const result = await answer(run);
      outcome = outcomeOf(result);
      return result;
    } catch (err) {
      outcome = { status: statusOf(err) };
      throw err;
    } finally {
      if (unit.last) {
        this.deps.audit.recordAccess({
          ...unit.last,
          resourceType: unit.query?.resourceType ?? unit.last.resourceType,
          query: unit.query?.query ?? unit.last.query,
          patientRefs: [...new Set(unit.patients)],
          outcome: outcome!.status,
          outcomeDesc: outcome!.description,
          requestId,
        });
      }
    }
  }

  /** GET /metadata: no token, so no caller and a store view that shows nothing. */
  async executeAnonymous(req: FhirRequest): Promise<FhirResponse> {
    if (req.interaction !== 'capabilities') throw new Error('Only the CapabilityStatement is served without a token');
    const caller: Caller = { scopes: [], scope: '' };
    const scope: RequestScope = { caller, requestId: req.requestId ?? '', policies: new Map() };
    const ctx = this.context(scope, ANONYMOUS, new ScopedStore(this.deps.store, ANONYMOUS, this.deps.onCommitted));
    return this.deps.registry.interactionHandler('capabilities')(req, ctx);
  }

  private async run(req: FhirRequest, scope: RequestScope, unit?: AuditUnit): Promise<FhirResponse> {
    const routed = this.routeOf(req);
    const touched: Resource[] = [];
    let status = 500;
    let job: string | undefined;
    // Patients a streamed answer gives out after this request was audited (HandlerContext.auditDisclosed).
    const auditDisclosed = (patientRefs: string[], description: string) => this.auditDisclosed(req, routed, scope, status, patientRefs, description);
    try {
      const ctx = await this.contextFor(req, routed, scope, touched, auditDisclosed);
      const response = await this.handlerOf(routed)(req, ctx);
      status = response.status;
      touched.push(...resourcesIn(response.body));
      if (status === 202) job = jobOf(response);
      return response;
    } catch (err) {
      status = statusOf(err);
      throw err;
    } finally {
      this.audit(req, routed, scope, touched, status, unit, job);
    }
  }

  /** Scopes, then the caller-scoped store view the handler runs with (policy computed once per request). */
  private async contextFor(
    req: FhirRequest,
    routed: RouteResult,
    scope: RequestScope,
    touched: Resource[],
    auditDisclosed?: HandlerContext['auditDisclosed']
  ): Promise<HandlerContext> {
    if (isResource(req.body)) touched.push(req.body);
    const caller = callerForRoute(scope.caller, routed);
    const { confinedToPatient } = authorize(caller, routed, req);
    const key = confinedToPatient ?? '';
    let policy = scope.policies.get(key);
    if (!policy) {
      policy = accessPolicyFor(scope.caller, confinedToPatient, this.deps.sharing);
      scope.policies.set(key, policy);
    }
    const access = await policy;
    return this.context(scope, access, new ScopedStore(this.deps.store, access, this.deps.onCommitted, touched), touched, auditDisclosed, caller);
  }

  private context(
    scope: RequestScope,
    access: AccessPolicy,
    store: ScopedStore,
    touched: Resource[] = [],
    auditDisclosed?: HandlerContext['auditDisclosed'],
    caller: Caller = scope.caller
  ): HandlerContext {
    const entries: EntryPipeline = {
      route: (method, url) => this.request(method, url, { requestId: scope.requestId }),
      // A transaction's entries are audited with the transaction: what they touch counts for it.
      contextFor: (entry) => this.contextFor(entry, this.routeOf(entry), scope, touched),
      // A store error answers the entry as it would an HTTP request (503, 409), in the entry's own
      // response: it was a 500 there, while the same read or write over HTTP is a 503.
      run: (entry) =>
        this.run(entry, scope).catch((err: unknown) => {
          throw entryError(err);
        }),
    };
    return {
      store,
      caller,
      access,
      config: this.deps.config,
      rules: this.deps.rules,
      baseUrl: this.deps.baseUrl,
      requestId: scope.requestId,
      entries,
      auditDisclosed,
    };
  }

  private routeOf(req: FhirRequest): RouteResult {
    if (!req.interaction) throw new Error('FhirRequest not routed: build it with Pipeline.request()');
    if (req.interaction !== 'operation') {
      const found = this.deps.registry.findDirectoryType(req.resourceType);
      const directory = req.interaction === 'read' || (req.interaction === 'search-type' && found?.search) ? found : undefined;
      return { interaction: req.interaction, resourceType: req.resourceType, id: req.id, versionId: req.versionId, ...(directory ? { directory } : {}) };
    }
    const level = req.id !== undefined ? 'instance' : req.resourceType !== undefined ? 'type' : 'system';
    const registration = this.deps.registry.findOperation(req.operation ?? '', level, req.method, req.resourceType);
    return { interaction: 'operation', resourceType: req.resourceType, id: req.id, operation: req.operation, registration };
  }

  private handlerOf(routed: RouteResult) {
    if (routed.interaction === 'operation') return (routed.registration as NonNullable<RouteResult['registration']>).handler;
    if (routed.directory) return routed.interaction === 'search-type' && routed.directory.search ? routed.directory.search : routed.directory.read;
    return this.deps.registry.interactionHandler(routed.interaction);
  }

  /**
   * One AuditEvent per request that touches patient data, with the status the client saw. A batch
   * Bundle is audited entry by entry; a transaction commits as one and is audited as one, naming
   * every patient its entries touched.
   */
  private audit(req: FhirRequest, routed: RouteResult, scope: RequestScope, touched: Resource[], status: number, unit?: AuditUnit, job?: string): void {
    if (routed.resourceType && UNAUDITED_TYPES.has(routed.resourceType)) return;
    if (routed.interaction === 'capabilities') return;
    const isTransaction = routed.interaction === 'batch' && (req.body as { type?: unknown } | undefined)?.type === 'transaction';
    if (routed.interaction === 'batch' && !isTransaction) return;
    const event: AccessEvent = {
      caller: scope.caller,
      interaction: isTransaction ? 'transaction' : routed.interaction,
      operation: routed.operation,
      resourceType: routed.resourceType,
      id: routed.id,
      query: !isTransaction && req.query.length > 0 ? req.query : routed.operation === 'match' ? matchQuery(req.body) : undefined,
      patientRefs: patientsOfRequest(routed, req, touched),
      outcome: status,
      requestId: scope.requestId,
    };
    // An asynchronous kick-off ($export, $reminder-recall, $evaluate-measure) names its job, as
    // the job's file events and the downloads do (`_jobId`): the trail links the request to them.
    if (job !== undefined) event.outcomeDesc = `asynchronous job ${job}`;
    if (!unit) {
      this.deps.audit.recordAccess(event);
      return;
    }
    // One request of a message audited as one event (executeMessageAs): folded into it.
    unit.patients.push(...event.patientRefs);
    if (!unit.query && event.query !== undefined) unit.query = { resourceType: event.resourceType, query: event.query };
    unit.last = event;
  }

  /**
   * One more AuditEvent of a request whose answer gives out patients after the request's own event
   * was recorded (a streamed CSV): the same caller, interaction, query, request id and status.
   */
  private auditDisclosed(req: FhirRequest, routed: RouteResult, scope: RequestScope, status: number, patientRefs: string[], description: string): void {
    this.deps.audit.recordAccess({
      caller: scope.caller,
      interaction: routed.interaction,
      operation: routed.operation,
      resourceType: routed.resourceType,
      id: routed.id,
      query: req.query.length > 0 ? req.query : undefined,
      patientRefs,
      outcome: status,
      outcomeDesc: description,
      requestId: scope.requestId,
    });
  }
}

/** The job id of an asynchronous kick-off's answer (its Content-Location status URL's `_jobId`). */
function jobOf(response: FhirResponse): string | undefined {
  const location = response.headers?.['Content-Location'];
  const match = location ? /[?&]_jobId=([^&#]+)/.exec(location) : null;
  return match ? decodeURIComponent(match[1]) : undefined;
}

/**
 * The patients a request's event names: those of the resources it touched; for a search, also
 * those its parameters are about, even when it finds nothing (queriedPatientRefs); for a request
 * on Patient/<id> (read, vread, history, an operation), that patient even when the answer names
 * none — a 410 for a deleted record, or a 404 — a request about that child all the same.
 */
function patientsOfRequest(routed: RouteResult, req: FhirRequest, touched: Resource[]): string[] {
  const refs = patientRefsOf(touched);
  if ((routed.interaction === 'search-type' || routed.interaction === 'search-system') && req.query.length > 0) refs.push(...queriedPatientRefs(routed.resourceType, req.query));
  if (routed.resourceType === 'Patient' && routed.id !== undefined) {
    const own = patientRef(`Patient/${routed.id}`);
    if (own) refs.push(own);
  }
  return refs;
}

/** The resources in a response: the resource itself, or a Bundle's entries. */
function resourcesIn(body: Resource | undefined): Resource[] {
  if (!body) return [];
  if (body.resourceType !== 'Bundle') return [body];
  // A loop, not flatMap (V8's generic path, and an array per entry): every search and transaction answer passes here.
  const resources: Resource[] = [];
  for (const e of body.entry ?? []) if (e.resource) resources.push(e.resource);
  return resources;
}

function isResource(body: unknown): body is Resource {
  return !!body && typeof body === 'object' && !Array.isArray(body) && typeof (body as Resource).resourceType === 'string';
}
