// What the HTTP port answers while the server is still starting: the port is bound before the store
// is open, so that a server whose MongoDB is not reachable yet (a container started before its
// database, a database restarting) is alive (`/healthz` 200) and not ready (`/readyz` 503), and every
// other request is a 503 OperationOutcome with Retry-After, instead of the process exiting.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { corsHeaders } from './cors.js';

/** Seconds a client is asked to wait before trying again while the server starts. */
export const STARTING_RETRY_AFTER_SECONDS = 5;

export interface StartingState {
  /** `embedded` or `mongodb`, as /readyz names the store once running. */
  storeKind: string;
  /** Why the server is not ready yet (the last failed attempt to open the store, or "starting"). */
  reason(): string;
}

export function startingHandler(state: StartingState): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // The body of a request refused here is not read: drain it so the connection can be reused.
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    // A browser app (a SMART app, a health-card verifier) must be able to read why it was refused.
    if (!corsHeaders(req, res)) return;
    if (path === '/healthz') {
      send(res, 200, 'application/json', { status: 'ok', starting: true });
      return;
    }
    if (path === '/readyz') {
      send(res, 503, 'application/json', { status: 'unavailable', store: state.storeKind, reason: state.reason() });
      return;
    }
    res.setHeader('Retry-After', String(STARTING_RETRY_AFTER_SECONDS));
    send(res, 503, 'application/fhir+json', {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'transient',
          diagnostics: `The server is starting and cannot answer yet: ${state.reason()}. Try again in ${STARTING_RETRY_AFTER_SECONDS} s.`,
        },
      ],
    });
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': `${contentType}; charset=utf-8`, 'Content-Length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
