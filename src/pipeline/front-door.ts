// The contract of a front door other than FHIR REST at /fhir (HL7 v2, SOAP, sign-in, the web
// app): an express Router built from these services; src/app/front-doors.ts lists them. A front
// door may also answer its busiest request on Node's request and response directly (a FastLane).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import type { TokenVerifier } from '../auth/verify-token.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Pipeline } from './pipeline.js';
import type { Store } from '../store/store.js';
import type { Caller } from '../auth/caller.js';

export interface FrontDoorServices {
  config: Config;
  logger: Logger;
  /** The FHIR base URL, e.g. http://localhost:8080/fhir. */
  baseUrl: string;
  /** Verifies `Authorization: Bearer` access tokens like /fhir does (gives the Caller). */
  verifier: TokenVerifier;
  /** `pipeline.executeAs(caller, { method, url, body, … })` runs a FHIR request as that caller. */
  pipeline: Pipeline;
  /**
   * The unscoped store, for a front door's own records only (user accounts, sessions, message
   * logs), never for patient data: patient data is read and written with pipeline.executeAs.
   */
  systemStore: Store;
  /**
   * The audit trail, for events a front door witnesses itself (sign-ins and their failures,
   * account changes: AuditLog.recordEvent); FHIR requests run with executeAs are audited already.
   */
  audit: AuditLog;
  /** Registers work to finish when the server stops (after it stopped accepting requests). */
  onClose(fn: () => Promise<void>): void;
}

/** Per-request values every answer carries (express keeps them in res.locals). */
export interface RequestLocals {
  /** X-Request-Id: the client's when well-formed, else a new UUID. */
  requestId: string;
  /** The authenticated caller, once known (the request's log line names its `sub`). */
  caller?: Caller;
}

/**
 * A request a front door answers without express, because it is that door's hot path (POST /soap:
 * express's layers and body-parser cost ~0.2 ms of CPU per request, ~5 % of a VXU's request
 * thread). `claims` looks only at the method, URL and headers, and takes nothing that express would
 * answer differently (another encoding, a body over the limit…): those still go through express.
 * The server gives a claimed request what every answer gets before `answer` runs (its request id,
 * its log line, the CORS headers: src/http/app.ts withFastLanes); `answer` reads the body and writes
 * the same response express would have, or hands an error to `fail`, which answers it at the HTTP
 * edge exactly as when express's route throws it (an OperationOutcome, the Bearer challenge…).
 */
export interface FastLane {
  claims(req: IncomingMessage): boolean;
  answer(req: IncomingMessage, res: ServerResponse, locals: RequestLocals, fail: (err: unknown) => void): void;
}

/** A front door's express Router, and optionally its fast lanes. */
export type FrontDoorParts = Router | { router: Router; lanes: FastLane[] };

export type FrontDoor = (services: FrontDoorServices) => FrontDoorParts | Promise<FrontDoorParts>;

