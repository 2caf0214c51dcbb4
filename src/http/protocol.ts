// HTTP protocol details every answer must get right wherever it comes from: a Bearer challenge on
// every 401 (RFC 6750 §3), and an OperationOutcome for requests Node's HTTP parser refuses before
// Express sees them (431 oversized headers, 400 malformed requests, 413/414 from the parser).
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { makeIssue, outcome } from '../fhir/outcome.js';

/** Quotes a value for an auth-param (RFC 7235 quoted-string; RFC 6750 forbids `"` and `\` in it). */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ').slice(0, 200)}"`;
}

/**
 * The challenge for a 401: `error="invalid_token"` when a token was sent and refused, none when
 * the request carried no credentials at all (RFC 6750 §3.1).
 */
export function bearerChallenge(realm: string, tokenSent: boolean, description?: string): string {
  const params = [`realm=${quoted(realm)}`];
  if (tokenSent) {
    params.push('error="invalid_token"');
    if (description) params.push(`error_description=${quoted(description)}`);
  }
  return `Bearer ${params.join(', ')}`;
}

/**
 * The authorization server's endpoints where a 401 is a client's failed authentication (RFC 6749
 * §5.2 `invalid_client`, RFC 7662, RFC 7009), not a refused bearer token: the challenge there names
 * the HTTP scheme the client used (oidc-provider sends `Basic` when it was Basic); a client that
 * authenticated in the form (client_secret_post, a client assertion) or not at all gets none. A
 * Bearer challenge for the FHIR realm told such a client to send a bearer token, and OAuth client
 * libraries (openid-client) then report a challenge instead of the `invalid_client` in the body.
 */
const CLIENT_AUTHENTICATION_PATHS = new Set(['/auth/token', '/auth/introspect', '/auth/revoke']);

/**
 * Middleware: any 401 written without a WWW-Authenticate header (an auth endpoint, a router added
 * later) gets the plain Bearer challenge, so no 401 leaves without one, except the client
 * authentication failures of the token, introspection and revocation endpoints (above).
 */
export function challengeEvery401(realm: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    // As express routes match them: any case, a trailing slash.
    if (typeof req.path === 'string' && CLIENT_AUTHENTICATION_PATHS.has(req.path.toLowerCase().replace(/\/+$/, ''))) {
      next();
      return;
    }
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, statusCode: number, ...rest: unknown[]) {
      if (statusCode === 401 && !this.headersSent && !this.hasHeader('www-authenticate')) {
        this.setHeader('WWW-Authenticate', bearerChallenge(realm, !!req.headers.authorization));
      }
      return (writeHead as (...args: unknown[]) => ServerResponse).call(this, statusCode, ...rest);
    } as typeof res.writeHead;
    next();
  };
}

const PARSER_ANSWERS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'The request headers are larger than this server accepts (16 KB, including the URL)'],
  HPE_URI_TOO_LONG: [414, 'The request URL is too long'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request was not received in time'],
};

/**
 * `clientError` handler for the HTTP server: answers what the parser refused with a FHIR
 * OperationOutcome and closes the connection, instead of Node's bare status line.
 */
export function answerClientError(err: NodeJS.ErrnoException & { bytesParsed?: number }, socket: Socket): void {
  if (!socket.writable || (err.code === 'ECONNRESET' && socket.destroyed)) {
    socket.destroy();
    return;
  }
  const [status, text] = PARSER_ANSWERS[err.code ?? ''] ?? [400, `The HTTP request is malformed (${err.code ?? 'parse error'})`];
  const body = JSON.stringify(outcome([makeIssue('error', status === 408 ? 'timeout' : status === 400 ? 'structure' : 'too-costly', text)]));
  const reason = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' }[status];
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/fhir+json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

