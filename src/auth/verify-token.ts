// Bearer token verification (CONTRACT.md "Auth"): HS256 with the configured or DATA_DIR secret.
// alg none and every other algorithm are refused; exp is required; aud, when present, must be
// the FHIR base URL.
import jwt from 'jsonwebtoken';
import { unauthorized } from '../fhir/outcome.js';
import type { Caller } from './caller.js';
import { parseScopes } from './scopes.js';

export interface TokenVerifier {
  verify(authorization: string | undefined): Caller;
}

export function hs256Verifier(secret: string, fhirBaseUrl: string): TokenVerifier {
  return {
    verify(authorization) {
      const token = bearerToken(authorization);
      let payload: jwt.JwtPayload;
      try {
        const decoded = jwt.verify(token, secret, { algorithms: ['HS256'], clockTolerance: 5 });
        if (typeof decoded === 'string') throw new Error('payload is not a JSON object');
        payload = decoded;
      } catch (err) {
        throw unauthorized(`The access token was rejected: ${describe(err)}`);
      }
      if (typeof payload.exp !== 'number') throw unauthorized('The access token has no exp claim');
      checkAudience(payload.aud, fhirBaseUrl);
      return callerFrom(payload);
    },
  };
}

function bearerToken(authorization: string | undefined): string {
  if (!authorization) throw unauthorized('Authorization: Bearer <token> is required');
  const match = /^Bearer\s+([A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_=]*\.[A-Za-z0-9\-_=+/]*)\s*$/i.exec(authorization);
  if (!match) throw unauthorized('The Authorization header must be "Bearer <JWT>"');
  return match[1];
}

function checkAudience(aud: unknown, fhirBaseUrl: string): void {
  if (aud === undefined) return;
  const audiences = Array.isArray(aud) ? aud : [aud];
  const accepted = [fhirBaseUrl, `${fhirBaseUrl}/`];
  if (!audiences.some((a) => typeof a === 'string' && accepted.includes(a))) {
    throw unauthorized(`The access token's aud does not name this server (${fhirBaseUrl})`);
  }
}

function callerFrom(payload: jwt.JwtPayload): Caller {
  const scope = typeof payload.scope === 'string' ? payload.scope : '';
  const claim = (name: string): string | undefined =>
    typeof payload[name] === 'string' ? (payload[name] as string) : undefined;
  return {
    sub: payload.sub,
    organization: claim('organization'),
    patient: claim('patient'),
    clientId: claim('client_id') ?? claim('azp'),
    scopes: parseScopes(scope),
    scope,
  };
}

function describe(err: unknown): string {
  if (err instanceof jwt.TokenExpiredError) return 'it has expired';
  if (err instanceof jwt.NotBeforeError) return 'it is not valid yet';
  if (err instanceof jwt.JsonWebTokenError) return err.message;
  return 'it could not be verified';
}
