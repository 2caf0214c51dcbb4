// HTTP transports for HL7 v2: POST /hl7v2 (one ER7 message per request, the response message as
// the body; or a batch file, FHS/BHS…BTS/FTS, answered as a batch: batch.ts) and the CDC SOAP service at POST /soap (WSDL at GET /soap?wsdl). Credentials are the
// FHIR ones (a bearer token; for SOAP also a registered user's or app's username and password);
// the caller's organization is the facility the message is stored for.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { DEFAULT_LIMITS, limitsOf } from '../config.js';
import { inflateAsItComes } from '../http/body.js';
import type { TokenVerifier } from '../auth/verify-token.js';
import { failWith, forbidden, isFhirError, makeIssue, notFound, unsupportedMediaType } from '../fhir/outcome.js';
import type { Logger } from '../logger.js';
import type { FastLane, FrontDoorParts, FrontDoorServices, RequestLocals } from '../pipeline/front-door.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { submitterChecker, type SubmitterCheck } from '../signin/index.js';
import { StoreUnavailableError } from '../store/store.js';
import { buildAck } from './ack.js';
import { DEFAULT_BATCH_CONCURRENCY, DEFAULT_MAX_BATCH_MESSAGES, handleBatch, isBatch } from './batch.js';
import { DEFAULT_MAX_CONCURRENT_MESSAGES, MessageGate } from './gate.js';
import { pipelineMessageRunner, pipelineRunner } from './fhir-runner.js';
import { answerBytes, bodyText, xmlText, type BodyText, type ReadAs } from './charset.js';
import { handleMessage } from './messages.js';
import { reportCsv, SubmitterReport } from './report.js';
import type { Hl7Issue } from './problems.js';
import { latencyTrace } from '../latency-trace.js';
import { faultEnvelope, parseEnvelope, responseEnvelope, soapCaller, SoapFault, wsdlFor, type SoapRequest } from './soap.js';

export const HL7_CONTENT_TYPES = ['application/hl7-v2', 'x-application/hl7-v2+er7'];

export interface Hl7v2Options {
  /** Largest message accepted, in bytes (HL7V2_MAX_MESSAGE_BYTES, default 1 MiB). */
  maxMessageBytes: number;
  /** Most messages (and batches) in one batch file at POST /hl7v2 (HL7V2_MAX_BATCH_MESSAGES, default 1,000). */
  maxBatchMessages?: number;
  /**
   * Largest batch file at POST /hl7v2, in bytes: the server's body limit (BODY_LIMIT, default 16 MB),
   * and never less than what a single message may take.
   */
  maxBatchBytes?: number;
  /** Inflated bytes per compressed byte of a gzip/deflate body (BODY_MAX_INFLATE_RATIO, default 100). */
  maxInflateRatio?: number;
  /** Messages of one batch file processed at once (HL7V2_BATCH_CONCURRENCY, default DEFAULT_BATCH_CONCURRENCY). */
  batchConcurrency?: number;
}

/** The default of HL7V2_MAX_MESSAGE_BYTES. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface Hl7v2Deps {
  pipeline: Pick<Pipeline, 'executeAs' | 'executeMessageAs'>;
  /** PUBLIC_BASE_URL, for the WSDL's service address. */
  publicBaseUrl: string;
  /**
   * Checks SOAP's username and password: a registered user's, or a registered app's client id and
   * secret acting for `facility` (facilityID's Organization id), when sign-in provides the check.
   */
  checkPassword?: (username: string, password: string, address: string | undefined, facility: string) => Promise<SubmitterCheck>;
  verifier: TokenVerifier;
  options: Hl7v2Options;
  logger?: Logger;
  /** Counts every message answered, for the submitter report. */
  report?: SubmitterReport;
  /** Limits the messages processed at once (gate.ts); absent: no limit. */
  gate?: MessageGate;
}

/** The /hl7v2 front door as the server mounts it (src/app/front-doors.ts). */
export function hl7v2FrontDoor(services: FrontDoorServices): FrontDoorParts {
  // Submitter report counts (report.ts), kept in the front door's own stored documents.
  const report = new SubmitterReport(services.systemStore, { logger: services.logger });
  report.start();
  services.onClose(() => report.close());
  // SOAP username/password: the registered users and apps of src/signin (lockout, TOTP, the
  // per-address count, audit apply there).
  const check = submitterChecker(services);
  const deps: Hl7v2Deps = {
    checkPassword: (username, password, address, facility) => check(username, password, { via: 'soap', address, facility }),
    pipeline: services.pipeline,
    publicBaseUrl: services.config.publicBaseUrl,
    verifier: services.verifier,
    logger: services.logger,
    options: {
      maxMessageBytes: services.config.hl7v2MaxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      maxBatchMessages: services.config.hl7v2MaxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES,
      maxBatchBytes: services.config.bodyLimitBytes,
      maxInflateRatio: limitsOf(services.config).bodyMaxInflateRatio,
      batchConcurrency: services.config.hl7v2BatchConcurrency ?? DEFAULT_BATCH_CONCURRENCY,
    },
    report,
    gate: new MessageGate(services.config.hl7v2MaxConcurrentMessages ?? DEFAULT_MAX_CONCURRENT_MESSAGES),
  };
  return { router: hl7v2Router(deps), lanes: [soapFastLane(deps), hl7FastLane(deps)] };
}

export function hl7v2Router(deps: Hl7v2Deps): express.Router {
  const router = express.Router();
  // Whether a body is a batch shows only in its first bytes: those are read first (firstSegment),
  // then the body is read with the limit of what it is. A single message over hl7BodyLimit is so
  // refused by express's body limit as before batches: unread when its Content-Length says so, or
  // as soon as that many bytes have come (tooLargeAnswer), never read up to the batch limit.
  const singleBody = express.raw({ type: () => true, limit: hl7BodyLimit(deps.options) });
  const batchBody = express.raw({ type: () => true, limit: batchBodyLimit(deps.options) });
  const singleLimit = hl7BodyLimit(deps.options);
  const rawBody = (req: Request, res: Response, next: NextFunction): void => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity') return inflatedBody(req, res, next, deps);
    firstSegment(req, res, (isBatchBody) => {
      if (isBatchBody) return batchBody(req, res, next);
      const declared = Number(req.headers['content-length']);
      if (declared > singleLimit) return refuseOversize(req, res, deps);
      // No length declared (chunked): refused as soon as more than the limit has come, not after
      // the rest is read (express's body reader reads a refused body to its end before answering).
      let received = 0;
      const count = (chunk: Buffer) => {
        received += chunk.length;
        if (received > singleLimit) {
          req.off('data', count);
          refuseOversize(req, res, deps);
        }
      };
      req.on('data', count);
      singleBody(req, res, next);
    });
  };

  router.post('/hl7v2', rawBody, (req: Request, res: Response, next: NextFunction) => {
    handleHl7Post(req, res, deps).catch(next);
  });
  router.use('/hl7v2', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if ((err as { type?: string }).type === 'entity.too.large') {
      if (res.headersSent) return; // refused already (refuseOversize), as soon as it was over
      const answer = tooLargeAnswer(deps);
      res.status(answer.status).type(answer.contentType).send(answer.body);
      return;
    }
    next(err);
  });

  router.get('/hl7v2/report', (req: Request, res: Response, next: NextFunction) => {
    handleReport(req, res, deps).catch(next);
  });

  const wsdl = wsdlFor(deps.publicBaseUrl);
  router.get('/soap', (req: Request, res: Response) => {
    if (!/(^|&)wsdl(=|&|$)/i.test(req.originalUrl.split('?')[1] ?? '')) {
      res.status(404).type('text/plain').send('The CDC IIS SOAP service answers POST; its WSDL is at /soap?wsdl');
      return;
    }
    res.type('text/xml; charset=utf-8').send(wsdl);
  });
  const soapBody = express.raw({ type: () => true, limit: soapBodyLimit(deps.options) });
  router.post('/soap', soapBody, (req: Request, res: Response, next: NextFunction) => {
    handleSoapPost(req, res, deps).catch(next);
  });
  router.use('/soap', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if ((err as { type?: string }).type === 'entity.too.large') {
      const answer = faultAnswer('1.2', new SoapFault('MessageTooLargeFault', `The request is larger than ${soapBodyLimit(deps.options)} bytes`));
      res.status(answer.status).type(answer.contentType).send(answer.body);
      return;
    }
    next(err);
  });
  return router;
}

function soapContentType(version: '1.1' | '1.2'): string {
  return version === '1.1' ? 'text/xml; charset=utf-8' : 'application/soap+xml; charset=utf-8';
}

function faultAnswer(version: '1.1' | '1.2', fault: SoapFault): SoapAnswer {
  return { status: fault.side === 'Sender' ? 400 : 500, contentType: soapContentType(version), body: faultEnvelope(version, fault) };
}

/** A SOAP request as the transport gives it (express's route, or the fast lane), besides its body. */
interface SoapRequestIn {
  contentType: string | undefined;
  authorization: string | undefined;
  /** The client's address (for the sign-in lockout of a username and password). */
  address: string | undefined;
  locals: RequestLocals;
}

/** What POST /soap (or POST /hl7v2) answers. */
interface SoapAnswer {
  status: number;
  contentType: string;
  /** A string is sent as UTF-8; bytes (an answer in the sender's single-byte set: charset.ts answerBytes) as they are. */
  body: string | Buffer;
}

async function handleSoapPost(req: Request, res: Response, deps: Hl7v2Deps): Promise<void> {
  const body = Buffer.isBuffer(req.body) ? req.body : undefined;
  const input = { contentType: req.headers['content-type'], authorization: req.headers.authorization, address: req.ip, locals: res.locals as RequestLocals };
  const answer = await gated(deps, () => answerSoap(body ? xmlText(body, req.headers['content-type']) : { text: '', readAs: 'utf-8' }, input, deps));
  res.status(answer.status).type(answer.contentType).send(answer.body);
}

/**
 * POST /soap's answer; every error is answered as a fault. The envelope is read here, before
 * anything waits, and only the request's fields go on: neither the envelope's text nor (once the
 * message is handed to handleMessage) the message's text stays reachable while the message is
 * processed — an async function would keep its arguments and locals alive until it returns, and
 * each young-generation GC meanwhile would copy them.
 */
function answerSoap(xml: { text: string; readAs: ReadAs; problem?: string }, input: SoapRequestIn, deps: Hl7v2Deps): Promise<SoapAnswer> {
  latencyTrace?.mark(input.locals.requestId, 'handler');
  let version: '1.1' | '1.2' = (input.contentType ?? '').includes('text/xml') ? '1.1' : '1.2';
  try {
    if (xml.problem) throw new SoapFault('UnknownFault', xml.problem);
    const envelope = parseEnvelope(xml.text);
    version = envelope.version;
    const { request } = envelope;
    if (request.operation === 'connectivityTest') {
      return Promise.resolve({ status: 200, contentType: soapContentType(version), body: responseEnvelope(version, 'connectivityTest', request.echoBack) });
    }
    const size = Buffer.byteLength(request.hl7Message, 'utf8');
    if (size > deps.options.maxMessageBytes) {
      throw new SoapFault('MessageTooLargeFault', `The HL7 message is ${size} bytes, more than the limit of ${deps.options.maxMessageBytes} bytes`);
    }
    const submitted = version;
    return answerSubmission(submitted, request, xml.readAs, input, deps).catch((err: unknown) => failureAnswer(submitted, err, input, deps));
  } catch (err) {
    return Promise.resolve(failureAnswer(version, err, input, deps));
  }
}

/** submitSingleMessage once its envelope is read: the caller, its facility, then the message. */
async function answerSubmission(
  version: '1.1' | '1.2',
  request: Extract<SoapRequest, { operation: 'submitSingleMessage' }>,
  readAs: ReadAs,
  input: SoapRequestIn,
  deps: Hl7v2Deps
): Promise<SoapAnswer> {
  // facilityID names the Organization by its id; "Organization/<id>", its FHIR reference, names the same one.
  const facility = request.facilityID.trim().replace(/^Organization\//, '');
  const caller = await soapCaller(input.authorization, request, (h) => deps.verifier.verify(h), deps.checkPassword && ((u, p) => deps.checkPassword!(u, p, input.address, facility)));
  input.locals.caller = caller;
  if (facility && caller.organization && caller.organization !== `Organization/${facility}`) {
    throw new SoapFault('SecurityFault', `facilityID "${facility}" is not the organization these credentials act for (${caller.organization})`);
  }
  const organization = caller.organization ?? (facility ? `Organization/${facility}` : undefined);
  const requestId = input.locals.requestId;
  const run = pipelineRunner(deps.pipeline, caller, requestId);
  const runMessage = pipelineMessageRunner(deps.pipeline, caller, requestId);
  // Returned, not awaited: this function (and the message's text in `request`) is done with while
  // the message is processed.
  return handleMessage(request.hl7Message, { run, runMessage, organization, maxBytes: deps.options.maxMessageBytes, readAs }).then((result) => {
    deps.report?.record(result, organization);
    // The envelope in the set it came in (its XML declaration and Content-Type saying so) when the answer fits it.
    const { body, charset } = answerBytes(result.body, readAs, (hl7, encoding) => responseEnvelope(version, 'submitSingleMessage', hl7, encoding));
    return { status: 200, contentType: soapContentType(version).replace('charset=utf-8', `charset=${charset}`), body };
  });
}

/** A SoapFault as its fault; anything else (the store unavailable, a bug) as a Receiver fault, logged. */
function failureAnswer(version: '1.1' | '1.2', err: unknown, input: SoapRequestIn, deps: Hl7v2Deps): SoapAnswer {
  if (err instanceof SoapFault) return faultAnswer(version, err);
  deps.logger?.error('SOAP request failed', { requestId: input.locals.requestId, error: err instanceof Error ? err.stack : String(err) });
  const unavailable = err instanceof StoreUnavailableError || (isFhirError(err) && err.status === 503);
  const fault = new SoapFault('UnknownFault', unavailable ? 'The data store is unavailable; try again shortly' : 'An unexpected server error occurred; it has been logged', 'Receiver');
  return { status: unavailable ? 503 : 500, contentType: soapContentType(version), body: faultEnvelope(version, fault) };
}

/**
 * POST /soap without express (see FastLane): a request with a plain body of a declared length
 * within the limit (no Content-Encoding, no chunked transfer); anything else goes through the
 * express route, whose body-parser answers encodings, oversize and chunked bodies. The answer's
 * status, headers and bytes are the route's (soap-lane.test.ts compares them).
 */
export function soapFastLane(deps: Hl7v2Deps): FastLane {
  const limit = soapBodyLimit(deps.options);
  return {
    claims(req) {
      return req.method === 'POST' && req.url === '/soap' && plainBodyWithin(req, limit);
    },
    answer(req, res, locals, fail) {
      readPlainBody(req, res, (body) => {
        const input = { contentType: req.headers['content-type'], authorization: req.headers.authorization, address: req.socket.remoteAddress, locals };
        // answerSoap answers every error as a fault; anything else is the edge's, as from the route.
        gated(deps, () => answerSoap(xmlText(body, req.headers['content-type']), input, deps)).then((answer) => {
          latencyTrace?.mark(locals.requestId, 'answered');
          send(res, answer);
        }, fail);
      });
    },
  };
}

/** A message's answer through the gate (waiting as its body while the gate is full), if there is one. */
function gated<T>(deps: Hl7v2Deps, answer: () => Promise<T>): Promise<T> {
  return deps.gate ? deps.gate.run(answer) : answer();
}

/** XML escaping can double a message's size: a SOAP body may be twice the limit plus the envelope. */
function soapBodyLimit(options: Hl7v2Options): number {
  return options.maxMessageBytes * 2 + 64 * 1024;
}

/**
 * The AR a body over the single-message limit gets (from express's body limit, or after reading a
 * body that is not a batch); `text` for another size refusal (a compressed body's ratio).
 */
function tooLargeAnswer(deps: Hl7v2Deps, text = `The message is larger than the limit of ${deps.options.maxMessageBytes} bytes`): SoapAnswer {
  const issue: Hl7Issue = {
    severity: 'E',
    hl7Code: '207',
    appCode: '4',
    text,
    location: { segment: 'MSH', sequence: 1 },
  };
  return { status: 413, contentType: HL7_CONTENT_TYPES[0], body: buildAck(undefined, 'AR', [issue]) };
}

async function handleHl7Post(req: Request, res: Response, deps: Hl7v2Deps): Promise<void> {
  const body = Buffer.isBuffer(req.body) ? req.body : undefined;
  // The text apart from the rest: the rest goes on while the message is processed, the text is let go.
  const { text, ...read }: BodyText = body ? bodyText(body, req.headers['content-type']) : { text: '', readAs: 'utf-8' };
  const batch = isBatch(text);
  // A single message is refused at the single-message limit, before its media type is looked at,
  // exactly as when express's body limit was that limit.
  if (!batch && body && body.length > hl7BodyLimit(deps.options)) {
    const answer = tooLargeAnswer(deps);
    res.status(answer.status).type(answer.contentType).send(answer.body);
    return;
  }
  const contentType = hl7ContentType(req.headers['content-type']);
  if (!HL7_CONTENT_TYPES.includes(contentType)) {
    throw unsupportedMediaType(`POST /hl7v2 takes one ER7 message as ${HL7_CONTENT_TYPES.join(' or ')}, not "${contentType || '(none)'}"`);
  }
  const locals = res.locals as RequestLocals;
  const answer = batch
    ? await answerHl7Batch(text, contentType, req.headers.authorization, locals, deps, () => res.socket?.destroyed === true, read)
    : await gated(deps, () => answerHl7(text, contentType, req.headers.authorization, locals, deps, read));
  res.status(answer.status).type(answer.contentType).send(answer.body);
}

/** The media type of a Content-Type header, as POST /hl7v2 compares it. */
function hl7ContentType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/** POST /hl7v2 once its media type is one of HL7_CONTENT_TYPES; throws FhirErrors (401…) for the HTTP edge. */
/** The set an HL7 body was read in and why it could not be (charset.ts bodyText), without its text. */
type BodyRead = { readAs: ReadAs; problem?: Hl7Issue };


async function answerHl7(text: string, contentType: string, authorization: string | undefined, locals: RequestLocals, deps: Hl7v2Deps, read: BodyRead): Promise<SoapAnswer> {
  const caller = await deps.verifier.verify(authorization);
  locals.caller = caller;
  const run = pipelineRunner(deps.pipeline, caller, locals.requestId);
  const runMessage = pipelineMessageRunner(deps.pipeline, caller, locals.requestId);
  // Returned, not awaited: the message's text is let go while the message is processed (answerSoap).
  return handleMessage(text, { run, runMessage, organization: caller.organization, maxBytes: deps.options.maxMessageBytes, readAs: read.readAs, unreadable: read.problem }).then((result) => {
    deps.report?.record(result, caller.organization);
    const { body, charset } = answerBytes(result.body, read.readAs);
    return { status: result.status, contentType: `${contentType}; charset=${charset}`, body };
  });
}

/**
 * POST /hl7v2 with a batch file (batch.ts): the caller once, then each message as answerHl7 answers
 * a single one — handleMessage with the same context, each through the gate (several of the file's
 * at once when they concern different patients: batch-schedule.ts), each counted in the submitter
 * report — and one batch of answers.
 */
async function answerHl7Batch(
  text: string,
  contentType: string,
  authorization: string | undefined,
  locals: RequestLocals,
  deps: Hl7v2Deps,
  clientGone: () => boolean,
  read: BodyRead
): Promise<SoapAnswer> {
  const caller = await deps.verifier.verify(authorization);
  locals.caller = caller;
  const context = {
    run: pipelineRunner(deps.pipeline, caller, locals.requestId),
    runMessage: pipelineMessageRunner(deps.pipeline, caller, locals.requestId),
    organization: caller.organization,
    maxBytes: deps.options.maxMessageBytes,
    readAs: read.readAs,
    unreadable: read.problem,
  };
  const answer = await handleBatch(text, {
    maxMessages: deps.options.maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES,
    maxMessageBytes: deps.options.maxMessageBytes,
    answer: (message) => handleMessage(message, context),
    concurrency: deps.options.batchConcurrency ?? DEFAULT_BATCH_CONCURRENCY,
    organization: caller.organization,
    readAs: read.readAs,
    gate: deps.gate,
    answered: (result) => deps.report?.record(result, caller.organization),
    clientGone,
    logger: deps.logger,
    requestId: locals.requestId,
  });
  const { body, charset } = answerBytes(answer.body, read.readAs);
  return { status: answer.status, contentType: `${contentType}; charset=${charset}`, body };
}

/**
 * POST /hl7v2 without express (see FastLane), for an HL7 media type and a plain body of a declared
 * length within the limit; anything else (another media type: 415; an encoding, chunked or
 * oversize body) goes through the express route. Errors (401, the store's 503) reach the HTTP
 * edge through `fail`, as the route's do. hl7-lane.test.ts compares the answers byte for byte.
 */
export function hl7FastLane(deps: Hl7v2Deps): FastLane {
  const limit = hl7BodyLimit(deps.options);
  return {
    claims(req) {
      if (req.method !== 'POST' || req.url !== '/hl7v2' || !plainBodyWithin(req, limit)) return false;
      return HL7_CONTENT_TYPES.includes(hl7ContentType(req.headers['content-type']));
    },
    answer(req, res, locals, fail) {
      readPlainBody(req, res, (body) => {
        const { text, ...read } = bodyText(body, req.headers['content-type']);
        const contentType = hl7ContentType(req.headers['content-type']);
        const answered = isBatch(text)
          ? answerHl7Batch(text, contentType, req.headers.authorization, locals, deps, () => res.socket?.destroyed === true, read)
          : gated(deps, () => answerHl7(text, contentType, req.headers.authorization, locals, deps, read));
        answered.then((answer) => send(res, answer), fail);
      });
    },
  };
}

/** A body of a declared length within the limit, neither encoded nor chunked (what a lane reads itself). */
function plainBodyWithin(req: IncomingMessage, limit: number): boolean {
  const { headers } = req;
  if (headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined) return false;
  const length = headers['content-length'];
  return length !== undefined && /^\d{1,10}$/.test(length) && Number(length) <= limit;
}

function readPlainBody(req: IncomingMessage, res: ServerResponse, then: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  // A request aborted mid-body has no one to answer (express's error edge would write to a closed socket).
  req.on('error', () => res.destroy());
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    // The listeners (and so `chunks`) live as long as the request: the body is let go once read.
    chunks.length = 0;
    then(body);
  });
}

/** What express's res.status().type().send() writes for this string: the same headers, in the same order. */
function send(res: ServerResponse, answer: SoapAnswer): void {
  res.statusCode = answer.status;
  res.setHeader('Content-Type', answer.contentType);
  res.setHeader('Content-Length', Buffer.byteLength(answer.body));
  if (typeof answer.body === 'string') res.end(answer.body, 'utf8');
  else res.end(answer.body);
}

/**
 * A single message over hl7BodyLimit, answered at once with its AR (tooLargeAnswer, the same bytes
 * as express's limit gives): the rest of the body is neither kept nor waited for; the connection is
 * closed after the answer (what is still coming is dropped meanwhile, as src/http/body.ts does).
 */
function refuseOversize(req: IncomingMessage, res: Response, deps: Hl7v2Deps, text?: string): void {
  if (res.headersSent) return;
  req.resume();
  const answer = tooLargeAnswer(deps, text);
  res.setHeader('Connection', 'close');
  res.status(answer.status).type(answer.contentType).send(answer.body);
}

/** The bytes before a body's first segment name: an optional BOM (3 bytes in UTF-8), then whitespace. */
const LEADING_BYTES = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Whether a body starting with `head` is a batch (its first segment FHS or BHS: isBatch), or
 * undefined while its first bytes do not show it yet. A body that ends first (`ended`), or whose
 * first 64 KiB are all whitespace, is not a batch.
 */
function batchOrNot(head: Buffer, ended: boolean): boolean | undefined {
  let at = head.subarray(0, 3).equals(BOM) ? 3 : 0;
  while (at < head.length && LEADING_BYTES.has(head[at])) at++;
  if (head.length - at >= 3) return isBatch(head.subarray(at, at + 3).toString('latin1'));
  if (at > 64 * 1024 || ended) return false;
  return undefined;
}

/** A compressed body over its limit: a single message's (hl7BodyLimit) or a batch file's (inflatedBody). */
class Hl7BodyTooLarge extends Error {}

/**
 * A gzip/deflate body, inflated as it arrives (src/http/body.ts): within the batch limits (the body
 * limit, BODY_MAX_INFLATE_RATIO) until its first inflated bytes show whether it is a batch; then a
 * single message within hl7BodyLimit, wire and inflated bytes alike, so an oversize one is answered
 * its AR (with Connection: close) as soon as it is over, as an uncompressed one is. A batch over
 * the ratio gets an AR naming it. Corrupt data and other encodings reach the edge (400, 415).
 */
function inflatedBody(req: Request, res: Response, next: NextFunction, deps: Hl7v2Deps): void {
  const singleLimit = hl7BodyLimit(deps.options);
  const batchLimit = batchBodyLimit(deps.options);
  const batchLimits = { maxBytes: batchLimit, maxInflateRatio: deps.options.maxInflateRatio ?? DEFAULT_LIMITS.bodyMaxInflateRatio };
  // A single message: its own limit alone, as when sent uncompressed (the same AR at the same size);
  // it bounds inflation to that limit and a step.
  const singleLimits = { maxBytes: singleLimit, maxInflateRatio: Number.POSITIVE_INFINITY };
  inflateAsItComes(req, {
    ...batchLimits,
    limitsOnceKnown: (head, ended) => {
      const batch = batchOrNot(head, ended);
      return batch === undefined ? undefined : batch ? batchLimits : singleLimits;
    },
    overLimit: () => new Hl7BodyTooLarge(),
  }).then(
    (body) => {
      req.body = body;
      next();
    },
    (err: unknown) => {
      if (err instanceof Hl7BodyTooLarge) return refuseOversize(req, res, deps);
      if (isFhirError(err) && err.status === 413) return refuseOversize(req, res, deps, err.message);
      next(err);
    }
  );
}

/**
 * Reads a body's first bytes until they show whether it is a batch (its first segment FHS or BHS:
 * isBatch), puts them back on the request for express's body reader, and says. A body that ends
 * first (or whose first 64 KiB are all whitespace) is not a batch.
 */
function firstSegment(req: IncomingMessage, res: ServerResponse, then: (isBatchBody: boolean) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let decided = false;
  const decide = (isBatchBody: boolean, ended: boolean) => {
    decided = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    if (ended) {
      // Nothing left to read: hand express the body as read (body-parser skips a finished request).
      Object.assign(req, { body: Buffer.concat(chunks, received), _body: true });
      then(isBatchBody);
      return;
    }
    // Paused while the bytes read go back and the next reader attaches (synchronously, in then);
    // a paused stream stays paused when a 'data' listener is added, so it is resumed after.
    req.pause();
    if (received > 0) req.unshift(Buffer.concat(chunks, received));
    then(isBatchBody);
    req.resume();
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
    const batch = batchOrNot(Buffer.concat(chunks, received), false);
    if (batch !== undefined) decide(batch, false);
  };
  const onEnd = () => {
    if (!decided) decide(false, true);
  };
  // A request aborted before its first segment has no one to answer.
  const onError = () => res.destroy();
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}

/** Read a little past the message limit so an oversize message is still answered with an AR. */
function hl7BodyLimit(options: Hl7v2Options): number {
  return options.maxMessageBytes + 64 * 1024;
}

/** What POST /hl7v2's express route reads: a batch file, up to its limit (never less than a single message). */
function batchBodyLimit(options: Hl7v2Options): number {
  return Math.max(options.maxBatchBytes ?? 0, hl7BodyLimit(options));
}

/**
 * GET /hl7v2/report?date=YYYY-MM-DD (or from=&to=, at most 366 days)[&facility=][&_format=csv]:
 * an organization's callers see what they submitted; public-health callers (user/ or system/
 * scopes, no organization claim) see every submitter.
 */
async function handleReport(req: Request, res: Response, deps: Hl7v2Deps): Promise<void> {
  const caller = await deps.verifier.verify(req.headers.authorization);
  res.locals.caller = caller;
  if (caller.patient || !caller.scopes.some((s) => s.context === 'user' || s.context === 'system')) {
    throw forbidden('The submitter report needs a user/ or system/ scope');
  }
  if (!deps.report) throw notFound('The submitter report is not kept by this server');
  const params = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
  const isDay = (v: string | null): v is string => !!v && /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v));
  const today = new Date().toISOString().slice(0, 10);
  const from = params.get('from') ?? params.get('date') ?? today;
  const to = params.get('to') ?? params.get('date') ?? from;
  const problems: string[] = [];
  if (!isDay(from)) problems.push(`from/date "${from}" is not a YYYY-MM-DD date`);
  if (!isDay(to)) problems.push(`to "${to}" is not a YYYY-MM-DD date`);
  if (problems.length === 0 && (to < from || Date.parse(to) - Date.parse(from) > 366 * 86_400_000)) problems.push('the period must run forwards and span at most 366 days');
  if (problems.length > 0) throw failWith(400, problems.map((p) => makeIssue('error', 'invalid', p)));
  const rows = await deps.report.rows({ from, to, facility: params.get('facility') ?? undefined, organization: caller.organization });
  const format = params.get('_format') ?? ((req.headers.accept ?? '').includes('text/csv') ? 'csv' : 'json');
  if (format === 'csv' || format === 'text/csv') {
    res.type('text/csv; charset=utf-8').setHeader('Content-Disposition', `attachment; filename="hl7v2-submitters-${from}_${to}.csv"`);
    res.send(reportCsv(rows));
    return;
  }
  res.type('application/json; charset=utf-8').send(JSON.stringify({ from, to, rows }));
}
