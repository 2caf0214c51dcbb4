// The OpenID Connect UserInfo endpoint (`GET`/`POST /auth/userinfo`, OIDC Core 5.3) for the access
// tokens apps really get: our ES256 JWTs (provider.ts; oidc-provider's own userinfo only knows its
// opaque tokens, so it stays disabled). The token is verified like at the FHIR endpoint, must come
// from the sign-in server (iss) and carry `openid` in its scope; the answer is about the user now
// (a user disabled since is refused): `sub`, `fhirUser` (the access token carries it whatever was
// asked), and `name` / `preferred_username` when `profile` was granted.
// Errors are RFC 6750 answers: 401 with `WWW-Authenticate: Bearer …, error="invalid_token"` for a
// missing, malformed, expired or foreign token, 403 `insufficient_scope` without `openid`.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Caller } from '../auth/caller.js';
import type { TokenVerifier } from '../auth/verify-token.js';
import { isFhirError } from '../fhir/outcome.js';
import { StoreUnavailableError } from '../store/store.js';
import { fhirUserOf, type UserDirectory } from './users.js';

export interface UserinfoOptions {
  users: UserDirectory;
  verifier: TokenVerifier;
  /** `PUBLIC_BASE_URL/auth`: the `iss` of people's tokens. */
  issuer: string;
  fhirBaseUrl: string;
  /** Mount path of the sign-in server, e.g. `/auth`. */
  basePath: string;
}

export const USERINFO_PATH = '/userinfo';

/** An RFC 6750 refusal, answered once by the router below. */
export class BearerError extends Error {
  constructor(
    readonly status: 401 | 403 | 503,
    readonly error: 'invalid_token' | 'insufficient_scope' | 'invalid_request' | 'temporarily_unavailable' | undefined,
    description: string
  ) {
    super(description);
    this.name = 'BearerError';
  }
}

/** The claims of the user behind a verified people's token. */
export async function userinfoClaims(caller: Caller, options: Pick<UserinfoOptions, 'users' | 'issuer' | 'fhirBaseUrl'>): Promise<Record<string, unknown>> {
  if (caller.issuer !== options.issuer || !caller.sub || !caller.fhirUser) {
    throw new BearerError(401, 'invalid_token', 'The access token was not issued to a person by this sign-in server');
  }
  const granted = new Set(caller.scope.split(/\s+/));
  if (!granted.has('openid')) throw new BearerError(403, 'insufficient_scope', 'The access token was not issued with the openid scope');
  const user = await options.users.get(caller.sub);
  if (!user || !user.active) throw new BearerError(401, 'invalid_token', 'The user of this access token is disabled or no longer exists');
  return {
    sub: user.id,
    fhirUser: `${options.fhirBaseUrl}/${fhirUserOf(user)}`,
    ...(granted.has('profile') ? { preferred_username: user.username, ...(user.name ? { name: user.name } : {}) } : {}),
  };
}

export function userinfoRouter(options: UserinfoOptions): express.Router {
  const router = express.Router();
  const path = `${options.basePath}${USERINFO_PATH}`;
  const realm = `realm="${options.issuer}"`;

  const answer = (req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('Cache-Control', 'no-store');
    (async () => {
      let caller: Caller;
      try {
        caller = await options.verifier.verify(req.headers.authorization);
      } catch (err) {
        if (isFhirError(err) && err.status === 503) throw new BearerError(503, 'temporarily_unavailable', 'The token could not be checked now; try again shortly');
        if (!isFhirError(err)) throw err;
        // No credentials at all: only the challenge (RFC 6750 3.1).
        const missing = !req.headers.authorization;
        throw new BearerError(401, missing ? undefined : 'invalid_token', missing ? 'An access token is required (Authorization: Bearer)' : (err as Error).message);
      }
      res.json(await userinfoClaims(caller, options));
    })().catch((err: unknown) => {
      if (err instanceof StoreUnavailableError) err = new BearerError(503, 'temporarily_unavailable', 'The data store is unavailable; try again shortly');
      if (!(err instanceof BearerError)) {
        next(err);
        return;
      }
      if (err.status === 503) res.setHeader('Retry-After', '5');
      else {
        const params = [realm, ...(err.error ? [`error="${err.error}"`, `error_description="${err.message.replace(/["\\]/g, '')}"`] : []), ...(err.error === 'insufficient_scope' ? ['scope="openid"'] : [])];
        res.setHeader('WWW-Authenticate', `Bearer ${params.join(', ')}`);
      }
      res.status(err.status).json(err.error ? { error: err.error, error_description: err.message } : { error: 'invalid_request', error_description: err.message });
    });
  };
  router.get(path, answer);
  router.post(path, answer);
  return router;
}
