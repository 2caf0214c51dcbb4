// HTTP transports for HL7 v2: POST /hl7v2 (one ER7 message per request, the response message as
// the body). Credentials are the FHIR ones (a bearer token); the caller's organization claim is the
// facility the message is stored for.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { TokenVerifier } from '../auth/verify-token.js';
import { unsupportedMediaType } from '../fhir/outcome.js';
import type { ServerContext } from '../interactions/types.js';
import { buildAck } from './ack.js';
import { pipelineRunner } from './fhir-runner.js';
import { handleMessage, type MessageResult } from './messages.js';
import type { Hl7Issue } from './problems.js';

export const HL7_CONTENT_TYPES = ['application/hl7-v2', 'x-application/hl7-v2+er7'];

export interface Hl7v2Options {
  /** Largest message accepted, in bytes (HL7V2_MAX_MESSAGE_BYTES, default 1 MiB). */
  maxMessageBytes: number;
}

export function loadHl7v2Options(env: NodeJS.ProcessEnv = process.env): Hl7v2Options {
  const value = Number(env.HL7V2_MAX_MESSAGE_BYTES ?? 1024 * 1024);
  if (!Number.isInteger(value) || value < 1024) throw new Error(`HL7V2_MAX_MESSAGE_BYTES must be an integer ≥ 1024, got "${env.HL7V2_MAX_MESSAGE_BYTES}"`);
  return { maxMessageBytes: value };
}

export interface Hl7v2Deps {
  ctx: ServerContext;
  verifier: TokenVerifier;
  options: Hl7v2Options;
  /** Called once per message answered (submitter report). */
  onMessage?: (result: MessageResult, organization: string | undefined) => void;
}

export function hl7v2Router(deps: Hl7v2Deps): express.Router {
  const router = express.Router();
  // Read a little past the message limit so an oversize message is still answered with an AR.
  const rawBody = express.raw({ type: () => true, limit: deps.options.maxMessageBytes + 64 * 1024 });

  router.post('/hl7v2', rawBody, (req: Request, res: Response, next: NextFunction) => {
    handleHl7Post(req, res, deps).catch(next);
  });
  router.use('/hl7v2', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if ((err as { type?: string }).type === 'entity.too.large') {
      const issue: Hl7Issue = {
        severity: 'E',
        hl7Code: '207',
        appCode: '4',
        text: `The message is larger than the limit of ${deps.options.maxMessageBytes} bytes`,
        location: { segment: 'MSH', sequence: 1 },
      };
      res.status(413).type(HL7_CONTENT_TYPES[0]).send(buildAck(undefined, 'AR', [issue]));
      return;
    }
    next(err);
  });
  return router;
}

async function handleHl7Post(req: Request, res: Response, deps: Hl7v2Deps): Promise<void> {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!HL7_CONTENT_TYPES.includes(contentType)) {
    throw unsupportedMediaType(`POST /hl7v2 takes one ER7 message as ${HL7_CONTENT_TYPES.join(' or ')}, not "${contentType || '(none)'}"`);
  }
  const caller = await deps.verifier.verify(req.headers.authorization);
  res.locals.caller = caller;
  const text = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  const run = pipelineRunner(deps.ctx, caller, res.locals.requestId as string);
  const result = await handleMessage(text, { run, organization: caller.organization, maxBytes: deps.options.maxMessageBytes });
  deps.onMessage?.(result, caller.organization);
  res.status(result.status).type(`${contentType}; charset=utf-8`).send(result.body);
}
