// The unauthenticated auth endpoints, mounted on the app before /fhir:
//   POST /auth/token                              SMART Backend Services token endpoint (codes and
//                                                 refresh tokens go on to src/signin)
//   GET  /auth/jwks.json                          the public key that signs our access tokens
//   GET  /.well-known/smart-configuration         SMART discovery
//   GET  /fhir/.well-known/smart-configuration    the same, under the FHIR base
import express, { type NextFunction, type Request, type Response } from 'express';
import { decodeJwt } from 'jose';
import type { Logger } from '../logger.js';
import { publicJwks, type ServerKey } from './server-key.js';
import { smartConfiguration } from './smart-config.js';
import { PEOPLES_GRANTS, type TokenEndpoint } from './token-endpoint.js';

/** One client_credentials request answered here, for the audit trail (no token in it). */
export interface TokenRequestOutcome {
  grantType: string;
  /** The client its assertion names (authenticated when result is success). */
  clientId?: string;
  scope?: string;
  address?: string;
  /** `success`, or the OAuth error code. */
  result: string;
  description?: string;
}

/** Where token requests are reported; set by the composition once the audit trail exists. */
export interface TokenRequestAudit {
  listener?: (outcome: TokenRequestOutcome) => void;
}

export interface AuthRouterOptions {
  tokenEndpoint: TokenEndpoint;
  tokenAudit?: TokenRequestAudit;
  /** Published at /auth/jwks.json: the backend-services key and the sign-in key. */
  serverKeys: ServerKey[];
  publicBaseUrl: string;
  logger: Logger;
}

const FORM = 'application/x-www-form-urlencoded';

export function authRouter({ tokenEndpoint, tokenAudit, serverKeys, publicBaseUrl, logger }: AuthRouterOptions): express.Router {
  const router = express.Router();
  const discovery = smartConfiguration(publicBaseUrl);

  const sendDiscovery = (_req: Request, res: Response) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.json(discovery);
  };
  router.get('/.well-known/smart-configuration', sendDiscovery);
  router.get('/fhir/.well-known/smart-configuration', sendDiscovery);

  router.get('/auth/jwks.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('application/jwk-set+json').send(JSON.stringify(publicJwks(...serverKeys)));
  });

  router.post('/auth/token', express.text({ type: () => true, limit: '64kb' }), (req, res, next) => {
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (contentType !== FORM) {
      sendOAuth(res, 400, { error: 'invalid_request', error_description: `The token request must be ${FORM}` });
      return;
    }
    const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
    // Codes and refresh tokens of people's apps are answered by the sign-in front door
    // (src/signin), mounted after this router; it reads the body this one already read. Those apps
    // may authenticate with a signed client assertion too (private_key_jwt). Every other grant, and
    // any request whose assertion names a backend-services client, is answered here (SMART Backend
    // Services: client_credentials only; a backend client asking for a people's grant is
    // unauthorized_client, any other grant unsupported_grant_type).
    const assertion = form.get('client_assertion');
    if (PEOPLES_GRANTS.has(form.get('grant_type') ?? '') && !(assertion !== null && tokenEndpoint.namesOwnClient(assertion))) {
      next('router');
      return;
    }
    tokenEndpoint.handle(form, req.headers.authorization).then((result) => {
      const ok = result.status === 200;
      tokenAudit?.listener?.({
        grantType: form.get('grant_type') ?? '',
        ...clientNamed(assertion, form.get('client_id')),
        ...(ok && typeof result.body.scope === 'string' ? { scope: result.body.scope } : {}),
        ...(req.ip ? { address: req.ip } : {}),
        result: ok ? 'success' : String(result.body.error),
        ...(!ok && typeof result.body.error_description === 'string' ? { description: result.body.error_description } : {}),
      });
      if (result.status !== 200) {
        logger.warn('token request refused', {
          requestId: res.locals.requestId,
          error: result.body.error,
          description: result.body.error_description,
        });
      }
      for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
      sendOAuth(res, result.status, result.body);
    }, next);
  });
  router.all('/auth/token', (_req, res) => {
    res.setHeader('Allow', 'POST');
    sendOAuth(res, 405, { error: 'invalid_request', error_description: 'Use POST for the token endpoint' });
  });
  router.use('/auth/token', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (res.headersSent || typeof status !== 'number' || status >= 500) {
      next(err);
      return;
    }
    sendOAuth(res, 400, { error: 'invalid_request', error_description: `The token request body could not be read: ${(err as Error).message}` });
  });
  return router;
}

function sendOAuth(res: Response, status: number, body: Record<string, unknown>): void {
  // RFC 6749 §5.1: token responses must not be cached.
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  res.status(status).json(body);
}

/** The client a token request names: its assertion's iss (verified when the token was issued), else client_id. */
function clientNamed(assertion: string | null, clientId: string | null): { clientId?: string } {
  if (assertion) {
    try {
      const iss = decodeJwt(assertion).iss;
      if (typeof iss === 'string' && iss) return { clientId: iss.slice(0, 256) };
    } catch {
      // Not a JWT: the refusal says so; the event names no client.
    }
  }
  return clientId ? { clientId: clientId.slice(0, 256) } : {};
}
