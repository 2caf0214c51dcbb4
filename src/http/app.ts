// The Express application: request ids and logs, CORS, health, the FHIR endpoint, and the error
// edge where every thrown error becomes an OperationOutcome response.
import { loggablePath } from './log-path.js';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGunzip, createGzip } from 'node:zlib';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Resource } from '@medplum/fhirtypes';
import type { TokenVerifier } from '../auth/verify-token.js';
import { limitsOf, type Config } from '../config.js';
import { FhirError, makeIssue, outcome } from '../fhir/outcome.js';
import type { Caller, FhirRequest, FhirResponse, PreferHeader, RawBody } from '../fhir/request.js';
import { splitUrl } from '../fhir/url.js';
import { toFhirError } from '../pipeline/errors.js';
import type { FastLane, RequestLocals } from '../pipeline/front-door.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Store } from '../store/store.js';
import { readBody } from './body.js';
import { checkQueryLimits, FHIR_JSON, parseBody, responseFormat, type ResponseFormat } from './content.js';
import { jsonBody } from './json-body.js';
import { bearerChallenge, challengeEvery401 } from './protocol.js';
import type { Logger } from '../logger.js';
import { latencyTrace, type LatencyTrace } from '../latency-trace.js';
import { corsHeaders } from './cors.js';

export interface AppOptions {
  pipeline: Pipeline;
  /** For /readyz only: handlers reach the store through the pipeline's caller-scoped view. */
  store: Pick<Store, 'ping' | 'kind'>;
  config: Config;
  verifier: TokenVerifier;
  logger: Logger;
  /**
   * Routers mounted before /fhir, each doing its own authentication (auth endpoints, SMART
   * discovery, metrics, and the front doors registered in src/app/front-doors.ts).
   */
  routers?: express.Router[];
}

/** A path under /fhir the FHIR edge answers: the base, or a first segment that is a type, `$op`, `_x` or `metadata`. */
const FHIR_PATH = /^\/?(?:$|[A-Z$_]|metadata(?:\/|$))/;


export function createApp({ pipeline, store, config, verifier, logger, routers = [] }: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);
  // req.ip is the connection's address unless TRUST_PROXY names the proxies whose X-Forwarded-For
  // says the client's (the sign-in's per-address limit, audit addresses). An invalid value stops the start.
  if (config.trustProxy !== undefined) app.set('trust proxy', config.trustProxy);

  app.use((req, res, next) => {
    // A fast lane's error (withFastLanes): straight to the error edge below, as a route's error goes.
    const laneError = laneErrors.get(req);
    if (laneError) {
      laneErrors.delete(req);
      next(laneError.error);
      return;
    }
    startRequest(req, res, logger, res.locals as RequestLocals);
    next();
  });

  app.use(challengeEvery401(pipeline.baseUrl));

  const securityHeaders = securityHeadersFor(config.publicBaseUrl);
  app.use((req, res, next) => {
    securityHeaders(req, res);
    if (corsHeaders(req, res)) next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await withTimeout(store.ping(), 3000);
      res.json({ status: 'ready', store: store.kind });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', store: store.kind, reason: (err as Error).message });
    }
  });

  // FHIR requests go straight to the FHIR edge: walking every layer of every router below costs
  // ~30 layer matches and ~28 KB of garbage per request. The routers serve no FHIR path (a type,
  // `$operation`, `_history`/`_search`, `metadata`, or the base itself); paths under /fhir that are
  // not FHIR-shaped (SMART discovery at /fhir/.well-known/…) still reach them, then the edge below.
  app.use('/fhir', (req, res, next) => {
    if (!FHIR_PATH.test(req.path)) {
      next();
      return;
    }
    handleFhir(req, res, res.locals as FhirLocals, pipeline, config, verifier).catch(next);
  });

  for (const router of routers) app.use(router);

  app.use('/fhir', (req, res, next) => {
    handleFhir(req, res, res.locals as FhirLocals, pipeline, config, verifier).catch(next);
  });

  app.use((req, res) => {
    sendOutcome(res, new FhirError(404, outcome([makeIssue('error', 'not-found', `No endpoint at ${req.path}`)])), { contentType: FHIR_JSON, pretty: false });
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    answerFhirError(err, req, res, res.locals as FhirLocals, pipeline.baseUrl, logger);
  });

  return app;
}

/**
 * The request id (X-Request-Id: the client's when well-formed, else a new UUID) and the request's
 * log line when its answer is finished: for every request, through express or a fast lane.
 */
function startRequest(req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, logger: Logger, locals: RequestLocals): void {
  const incoming = req.headers['x-request-id'];
  const requestId = typeof incoming === 'string' && /^[\w\-.]{1,128}$/.test(incoming) ? incoming : randomUUID();
  locals.requestId = requestId;
  res.setHeader('X-Request-Id', requestId);
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    logger.info('request', {
      requestId,
      method: req.method,
      path: loggablePath(req.originalUrl ?? req.url ?? ''),
      status: res.statusCode,
      ms: Number(process.hrtime.bigint() - started) / 1e6,
      sub: locals.caller?.sub,
    });
  });
}

/** Paths whose answers carry patient data, tokens or accounts: no cache (browser, proxy) may keep them. */
const NO_STORE_PATH = /^\/(?:fhir|hl7v2|soap|auth\/admin)(?:[/?]|$)/;

/**
 * Web-security headers every answer gets before its handler runs (a handler may set its own
 * Cache-Control, as SMART discovery, the health-card keys and the web app's assets do):
 * nosniff everywhere (an uploaded or echoed value must never be run as HTML or script); no-store on
 * the FHIR API, HL7 v2 and user administration (a children's registry's records and tokens must
 * not stay in a shared computer's browser cache or a proxy); HSTS when PUBLIC_BASE_URL is https
 * (RFC 6797: only meaningful, and only sent, over https).
 */
function securityHeadersFor(publicBaseUrl: string): (req: IncomingMessage, res: ServerResponse) => void {
  const hsts = publicBaseUrl.startsWith('https:');
  return (req, res) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (hsts) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
    if (NO_STORE_PATH.test(req.url ?? '')) res.setHeader('Cache-Control', 'no-store');
  };
}

/**
 * The server's request listener: a request a fast lane claims is answered there, after what every
 * request gets (startRequest, corsHeaders; a lane claims no OPTIONS request); every other request
 * goes to express. A lane that writes a 401 itself applies challengeEvery401 (fhirGetLane); one
 * that hands its errors to `fail` gets express's error edge, which sets the challenge.
 */
export function withFastLanes(app: express.Express, lanes: FastLane[], logger: Logger, publicBaseUrl: string): RequestListener {
  if (lanes.length === 0) return app;
  const securityHeaders = securityHeadersFor(publicBaseUrl);
  return (req, res) => {
    for (const lane of lanes) {
      if (lane.claims(req)) {
        const locals = { requestId: '' } as RequestLocals;
        startRequest(req, res, logger, locals);
        securityHeaders(req, res);
        if (latencyTrace) traceRequest(latencyTrace, locals.requestId, res);
        // An error the lane cannot answer goes through express to its error edge, with this
        // request's locals (request id, caller) and without starting the request a second time.
        const fail = (error: unknown): void => {
          laneErrors.set(req, { error });
          (res as ServerResponse & { locals?: RequestLocals }).locals = locals;
          app(req, res);
        };
        if (corsHeaders(req, res)) lane.answer(req, res, locals, fail);
        return;
      }
    }
    app(req, res);
  };
}

/** LATENCY_TRACE: the request's arrival (its 'request' event) and its 'finish'. */
function traceRequest(trace: LatencyTrace, requestId: string, res: ServerResponse): void {
  trace.mark(requestId, 'arrive');
  res.once('finish', () => trace.mark(requestId, 'finish'));
}

/** Errors of fast lanes on their way to express's error edge (see withFastLanes). */
const laneErrors = new WeakMap<IncomingMessage, { error: unknown }>();

/**
 * GET requests of the FHIR edge (reads and searches: a registry's most frequent requests, e.g. a
 * patient's Immunizations) answered on Node's request and response without express. Express gives
 * every request a new prototype and a chain of router closures; besides ~20 KB of garbage per read,
 * ~15 KB of those per-request objects outlived a young-generation GC each time (for reasons not
 * found: they are not reachable from anything of ours), and what outlives a scavenge is what makes
 * its pause long (README "Embedded store on LMDB", session 7). The lane does what express does for
 * these requests, in the same order: the request id and log line and CORS headers (withFastLanes),
 * the Bearer challenge on any 401 (challengeEvery401), handleFhir, and the same error edge
 * (answerFhirError). It claims only what express would hand to the FHIR edge first: a GET of a
 * FHIR-shaped path under `/fhir/` (FHIR_PATH, as the express route tests it) without a body.
 * `fhir-lane.test.ts` compares both byte for byte.
 */
export function fhirGetLane({ pipeline, config, verifier, logger }: Pick<AppOptions, 'pipeline' | 'config' | 'verifier' | 'logger'>): FastLane {
  const challenge = challengeEvery401(pipeline.baseUrl);
  const noop = () => undefined;
  return {
    claims(req) {
      const url = req.url;
      if (req.method !== 'GET' || url === undefined || !url.startsWith('/fhir/')) return false;
      if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')) return false;
      const q = url.indexOf('?');
      return FHIR_PATH.test(q < 0 ? url.slice(5) : url.slice(5, q));
    },
    answer(req, res, locals) {
      challenge(req as Request, res as Response, noop);
      const fhirLocals = locals as FhirLocals;
      handleFhir(req, res, fhirLocals, pipeline, config, verifier)
        .catch((err: unknown) => answerFhirError(err, req, res, fhirLocals, pipeline.baseUrl, logger))
        .catch((err: unknown) => {
          // Only if the error answer itself failed (express would answer with its final handler's 500).
          logger.error('request failed', { requestId: locals.requestId, error: describeError(err) });
          if (!res.headersSent) res.statusCode = 500;
          res.end();
        });
    },
  };
}

/** What the FHIR edge keeps per request (express: res.locals; the search lane: its own object). */
interface FhirLocals extends RequestLocals {
  /** The response format, once the query was read (errors after that answer in it). */
  format?: ResponseFormat;
}

/** The request as the FHIR edge reads it: Node's, plus what express adds (the URL before mounting; the body once read). */
type FhirHttpRequest = IncomingMessage & { originalUrl?: string; body?: unknown };

/**
 * The error edge: every error thrown while answering becomes an OperationOutcome response
 * (express's error middleware and the FHIR search lane both answer here).
 */
function answerFhirError(err: unknown, req: IncomingMessage, res: ServerResponse, locals: FhirLocals, baseUrl: string, logger: Logger): void {
  const fhirError = toFhirError(err);
  if (fhirError.status === 401 && !fhirError.headers['WWW-Authenticate']) {
    res.setHeader('WWW-Authenticate', bearerChallenge(baseUrl, !!req.headers.authorization, fhirError.message));
  }
  // A body left unread (refused before it was read) is not drained: the connection closes.
  if (!req.complete) res.setHeader('Connection', 'close');
  if (fhirError.status >= 500) {
    logger.error('request failed', { requestId: locals.requestId, error: describeError(err) });
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  sendOutcome(res, fhirError, locals.format ?? { contentType: FHIR_JSON, pretty: false });
}

async function handleFhir(req: FhirHttpRequest, res: ServerResponse, locals: FhirLocals, pipeline: Pipeline, config: Config, verifier: TokenVerifier): Promise<void> {
  const { segments, query: fullQuery } = splitUrl((req.originalUrl ?? req.url ?? '').replace(/^\/fhir\/?/, ''));
  const format = responseFormat(req, fullQuery);
  locals.format = format;
  const limits = limitsOf(config);
  checkQueryLimits(fullQuery, limits);
  const query = fullQuery.filter(([k]) => k !== '_format' && k !== '_pretty');
  const method = req.method as FhirRequest['method'];
  const routed = pipeline.route(method, segments);
  // CSV is offered by GET operations only ($reminder-recall); errors still answer FHIR JSON.
  if (format.csv && !(routed.interaction === 'operation' && (method === 'GET' || method === 'HEAD'))) {
    throw new FhirError(406, outcome([makeIssue('error', 'not-supported', 'text/csv is offered by GET operations such as $reminder-recall only; this endpoint speaks FHIR JSON')]));
  }
  // A read, search or write cannot answer an image or text: 406, not FHIR JSON the client did not accept.
  if (format.operationFormat && routed.interaction !== 'operation') {
    throw new FhirError(406, outcome([makeIssue('error', 'not-supported', `Accept: ${format.operationFormat} is offered by operations such as $health-cards-issue only; this endpoint speaks ${FHIR_JSON}`)]));
  }

  if (routed.interaction !== 'capabilities') {
    locals.caller = await verifier.verify(req.headers.authorization);
  }
  req.body = await readBody(req, { maxBytes: config.bodyLimitBytes, maxInflateRatio: limits.bodyMaxInflateRatio });
  const isSearchPost = method === 'POST' && segments[segments.length - 1] === '_search';
  const { body, contentType, form } = parseBody(req, { patch: method === 'PATCH', form: isSearchPost }, limits);
  const fhirRequest: FhirRequest = {
    method,
    resourceType: routed.resourceType,
    id: routed.id,
    versionId: routed.versionId,
    operation: routed.operation,
    interaction: routed.interaction,
    query: form ? checkedMerge(query, form, limits) : query,
    body,
    contentType,
    ifMatch: header(req, 'if-match'),
    ifNoneMatch: header(req, 'if-none-match'),
    ifNoneExist: header(req, 'if-none-exist'),
    ifModifiedSince: header(req, 'if-modified-since'),
    prefer: parsePrefer(header(req, 'prefer')),
    accept: header(req, 'accept'),
    requestId: locals.requestId,
    ...(format.csv ? { wantsCsv: true } : {}),
  };
  if (routed.interaction === 'batch') checkBundleSize(body, limits);
  if (['POST', 'PUT', 'PATCH'].includes(method) && body === undefined && !isSearchPost && routed.interaction !== 'operation') {
    throw new FhirError(400, outcome([makeIssue('error', 'required', `${method} needs a request body`)]));
  }
  const response =
    routed.interaction === 'capabilities'
      ? await pipeline.executeAnonymous(fhirRequest)
      : await pipeline.execute(fhirRequest, locals.caller as Caller);
  if (format.csv && !response.raw) {
    throw new FhirError(406, outcome([makeIssue('error', 'not-supported', `$${routed.operation} does not offer text/csv`)]));
  }
  if (response.raw) await sendRaw(req, res, response, method === 'HEAD');
  else send(res, response, format, method === 'HEAD');
}

/** A batch or transaction Bundle of at most BUNDLE_MAX_ENTRIES entries (each is a request of its own). */
function checkBundleSize(body: unknown, limits: ReturnType<typeof limitsOf>): void {
  const entries = (body as { entry?: unknown } | undefined)?.entry;
  if (Array.isArray(entries) && entries.length > limits.bundleMaxEntries) {
    throw new FhirError(400, outcome([makeIssue('error', 'too-costly', `The Bundle has ${entries.length} entries, more than the limit of ${limits.bundleMaxEntries} (BUNDLE_MAX_ENTRIES)`, { expression: 'Bundle.entry' })]));
  }
}

/** URL and form parameters of POST _search, within the query limits together. */
function checkedMerge(query: Array<[string, string]>, form: Array<[string, string]>, limits: ReturnType<typeof limitsOf>): Array<[string, string]> {
  const merged = [...query, ...form];
  checkQueryLimits(merged, limits);
  return merged;
}

/**
 * A non-FHIR body (bulk export manifest, NDJSON files). Streams are piped with back-pressure;
 * gzip is negotiated with Accept-Encoding: stored gzip goes out as is or inflated, plain content
 * is compressed on the way for clients that accept gzip.
 */
async function sendRaw(req: IncomingMessage, res: ServerResponse, response: FhirResponse, head: boolean): Promise<void> {
  const raw = response.raw as RawBody;
  if (raw.data !== undefined || !raw.open) {
    const buf = Buffer.isBuffer(raw.data) ? raw.data : Buffer.from(raw.data ?? '', 'utf8');
    res.statusCode = response.status;
    for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value);
    res.setHeader('Content-Type', raw.contentType);
    res.setHeader('Content-Length', buf.length);
    res.end(head ? undefined : buf);
    return;
  }
  const stored = raw.encoding ?? 'identity';
  const gzip = acceptsGzip(header(req, 'accept-encoding'));
  // Opened before any header is set, so a missing file is still a clean error response.
  const source = head ? undefined : await raw.open();
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value);
  res.setHeader('Content-Type', raw.contentType);
  res.setHeader('Vary', 'Origin, Accept-Encoding');
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  if (raw.length !== undefined && (stored === 'gzip') === gzip) res.setHeader('Content-Length', raw.length);
  if (!source) {
    res.end();
    return;
  }
  const stages: Transform[] = [];
  if (stored === 'gzip' && !gzip) stages.push(createGunzip());
  // A live stream (computed while sent: reminder/recall CSV) is flushed chunk by chunk, so the
  // client sees each part as soon as it is ready instead of when gzip's buffer fills.
  if (stored === 'identity' && gzip) stages.push(createGzip({ level: 1, ...(raw.live ? { flush: zlibConstants.Z_SYNC_FLUSH } : {}) }));
  try {
    await pipeline([source, ...stages, res]);
  } catch (err) {
    // The client went away mid-download: nothing to answer.
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    throw err;
  }
}

/** True when Accept-Encoding allows gzip (listed, or `*`, with a non-zero q). */
export function acceptsGzip(value: string | undefined): boolean {
  if (!value) return false;
  let star = false;
  for (const part of value.split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find(Boolean);
    const allowed = !q || Number(q[1]) > 0;
    if (coding.trim() === 'gzip' || coding.trim() === 'x-gzip') return allowed;
    if (coding.trim() === '*') star = allowed;
  }
  return star;
}

function send(res: ServerResponse, response: FhirResponse, format: ResponseFormat, head: boolean): void {
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value);
  if (response.body === undefined || response.status === 304 || response.status === 204) {
    res.end();
    return;
  }
  writeJson(res, response.body, format, head);
}

function writeJson(res: ServerResponse, body: Resource, format: ResponseFormat, head = false): void {
  const json = jsonBody(body, format.pretty);
  res.setHeader('Content-Type', `${format.contentType}; charset=utf-8`);
  res.setHeader('Content-Length', typeof json === 'string' ? Buffer.byteLength(json) : json.length);
  if (head) res.end();
  else res.end(json);
}

function sendOutcome(res: ServerResponse, err: FhirError, format: ResponseFormat): void {
  res.statusCode = err.status;
  for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
  writeJson(res, err.outcome, format);
}

function describeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { value: String(err) };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The Prefer header's preferences (RFC 7240). A preference named more than once (`return=minimal,
 * return=representation`, or two Prefer headers, which arrive joined) is read from its first
 * instance only (RFC 7240 §2: later ones are ignored); the last had won, so a client that asked
 * for minimal first got the whole resource.
 */
export function parsePrefer(value: string | undefined): PreferHeader {
  const prefer: PreferHeader = {};
  if (!value) return prefer;
  const seen = new Set<string>();
  for (const part of value.split(/[,;]/)) {
    const [rawKey, rawValue] = part.split('=');
    const key = rawKey.trim().toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    const val = rawValue?.trim().replace(/^"|"$/g, '');
    if (key === 'return' && (val === 'minimal' || val === 'representation' || val === 'OperationOutcome')) prefer.return = val;
    else if (key === 'handling' && (val === 'strict' || val === 'lenient')) prefer.handling = val;
    else if (key === 'respond-async') prefer.respondAsync = true;
  }
  return prefer;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      }
    );
  });
}
