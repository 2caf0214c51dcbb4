// The contract of a front door other than FHIR REST at /fhir (HL7 v2, SOAP, sign-in, the web
// app): an express Router built from these services; src/app/front-doors.ts lists them.
import type { Router } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import type { TokenVerifier } from '../auth/verify-token.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Pipeline } from './pipeline.js';
import type { Store } from '../store/store.js';

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

export type FrontDoor = (services: FrontDoorServices) => Router | Promise<Router>;

