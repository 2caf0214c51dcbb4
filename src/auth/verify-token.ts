// Bearer token verification (CONTRACT.md "Auth"). Which key checks a token is decided by its
// header, and each key accepts only its own algorithms, so no token can pick its own verification
// (algorithm confusion, `alg: none`):
//   HS256                                  → the HS256 secret (AUTH_JWT_SECRET or the DATA_DIR
//                                            development secret), when one is configured;
//   a kid of one of the server's own keys → that key with its own algorithm: ES384 (backend-services
//                                            tokens from POST /auth/token) or ES256 (people's tokens
//                                            from src/signin); `iss` must be the server's token issuer;
//   RS256, RS384, ES256, ES384 (other kid) → the configured issuer's JWKS (AUTH_JWKS_URL), `iss`
//                                            must equal AUTH_ISSUER.
// Everything else is refused. `exp` is required, `nbf` honoured (5 s clock tolerance), and `aud`,
// when present, must be the FHIR base URL. Failures are 401 OperationOutcomes; an unreachable JWKS
// is a 503.
import { createSecretKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { FhirError, makeIssue, outcome, unauthorized } from '../fhir/outcome.js';
import type { Caller } from './caller.js';
import { JwksUnavailableError } from './jwks-cache.js';
import { parseScopes } from './scopes.js';

export interface TokenVerifier {
  /** Resolves the caller of a valid token; rejects with a 401 FhirError otherwise. */
  verify(authorization: string | undefined): Caller | Promise<Caller>;
  /**
   * From now on, also refuses the tokens `revoked` names (checked on every request, cached tokens
   * included): src/signin registers the people disabled since their tokens were issued and the
   * access tokens (and grants) revoked before their exp.
   */
  useRevocations?(revoked: RevokedTokens): void;
}

/** What revocation lists know a token by (its verified claims). */
export interface TokenIdentity {
  issuer?: string;
  subject?: string;
  /** `iat`, seconds. */
  issuedAt?: number;
  /** `jti`: the token's own id. */
  jti?: string;
  /** `grant_ref`: the sign-in grant the token was issued under (src/signin). */
  grant?: string;
  /** `client_id`: the app the token was issued to (src/signin). */
  client?: string;
}

/** Tokens that stopped being valid before their exp (a synchronous, in-memory check: it runs on every request). */
export interface RevokedTokens {
  /** Why a token this list names is refused (the 401's diagnostics). */
  readonly reason: string;
  /** True when the token is revoked. */
  isRevoked(token: TokenIdentity): boolean;
}

/** Algorithms accepted from the configured JWKS issuer. */
export const JWKS_ALGORITHMS = ['RS256', 'RS384', 'ES256', 'ES384'] as const;
const CLOCK_TOLERANCE_S = 5;

export interface VerifierOptions {
  /** The FHIR base URL; a token's `aud`, when present, must name it. */
  fhirBaseUrl: string;
  /** HS256 shared secret; absent: HS256 tokens are refused. */
  hs256Secret?: string;
  /** An external issuer's key set (AUTH_JWKS_URL + AUTH_ISSUER). */
  jwks?: { issuer: string; getKey: JWTVerifyGetKey };
  /** The server's own token-signing keys (backend-services tokens; people's tokens from src/signin). */
  serverKeys?: Array<{ issuer: string; kid: string; alg: string; publicKey: CryptoKey }>;
}

/**
 * Tokens already verified, by their exact text, until they expire: clients send the same token
 * with every request, and signature checks through WebCrypto cost more than the rest of a read.
 * A token is only ever cached after passing every check, and never past its exp.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { caller: Caller; expiresAt: number; identity: TokenIdentity }>();
  constructor(private readonly max = 10_000) {}

  get(token: string, now = Date.now()): { caller: Caller; identity: TokenIdentity } | undefined {
    const hit = this.entries.get(token);
    if (!hit) return undefined;
    if (hit.expiresAt <= now) {
      this.entries.delete(token);
      return undefined;
    }
    return hit;
  }

  set(token: string, caller: Caller, exp: number | undefined, identity: TokenIdentity): void {
    if (typeof exp !== 'number') return;
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(token, { caller, expiresAt: exp * 1000, identity });
  }
}

function identityOf(payload: JWTPayload): TokenIdentity {
  return {
    issuer: payload.iss,
    subject: payload.sub,
    ...(typeof payload.iat === 'number' ? { issuedAt: payload.iat } : {}),
    ...(typeof payload.jti === 'string' ? { jti: payload.jti } : {}),
    ...(typeof payload.grant_ref === 'string' ? { grant: payload.grant_ref } : {}),
    ...(typeof payload.client_id === 'string' ? { client: payload.client_id } : {}),
  };
}

function assertNotRevoked(lists: RevokedTokens[], identity: TokenIdentity): void {
  for (const list of lists) if (list.isRevoked(identity)) throw unauthorized(`The access token was revoked: ${list.reason}`);
}

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const hsKey: KeyObject | undefined = options.hs256Secret ? createSecretKey(Buffer.from(options.hs256Secret, 'utf8')) : undefined;
  const verified = new VerifiedTokens();
  const own = new Map((options.serverKeys ?? []).map((k) => [k.kid, k]));
  const revoked: RevokedTokens[] = [];
  return {
    useRevocations(list) {
      revoked.push(list);
    },
    async verify(authorization) {
      const token = bearerToken(authorization);
      const known = verified.get(token);
      if (known) {
        assertNotRevoked(revoked, known.identity);
        return known.caller;
      }
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw unauthorized('The access token is not a well-formed JWT');
      }
      const alg = header.alg;
      let payload: JWTPayload;
      try {
        if (alg === 'HS256') {
          if (!hsKey) throw unauthorized('HS256 access tokens are not accepted by this server');
          payload = await check(token, hsKey, ['HS256']);
        } else if (own.has(header.kid ?? '')) {
          const key = own.get(header.kid ?? '') as NonNullable<VerifierOptions['serverKeys']>[number];
          payload = await check(token, key.publicKey, [key.alg], key.issuer);
        } else if (options.jwks && (JWKS_ALGORITHMS as readonly string[]).includes(alg ?? '')) {
          payload = await check(token, options.jwks.getKey, [...JWKS_ALGORITHMS], options.jwks.issuer);
        } else {
          throw unauthorized(`Access tokens signed with alg "${alg ?? '(none)'}"${header.kid ? ` and kid "${header.kid}"` : ''} are not accepted by this server`);
        }
      } catch (err) {
        if (err instanceof FhirError) throw err;
        if (err instanceof JwksUnavailableError) {
          throw new FhirError(503, outcome([makeIssue('error', 'transient', `The token issuer's key set could not be loaded: ${err.message}`)]), {
            'Retry-After': '5',
          });
        }
        throw unauthorized(`The access token was rejected: ${describe(err)}`);
      }
      checkAudience(payload.aud, options.fhirBaseUrl);
      const caller = callerFrom(payload);
      const identity = identityOf(payload);
      assertNotRevoked(revoked, identity);
      verified.set(token, caller, payload.exp, identity);
      return caller;
    },
  };
}

/** HS256 only (kept for callers and tests that need nothing else). */
export function hs256Verifier(secret: string, fhirBaseUrl: string): TokenVerifier {
  return createTokenVerifier({ fhirBaseUrl, hs256Secret: secret });
}

async function check(
  token: string,
  key: KeyObject | CryptoKey | JWTVerifyGetKey,
  algorithms: string[],
  issuer?: string
): Promise<JWTPayload> {
  const options = { algorithms, clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['exp'], ...(issuer ? { issuer } : {}) };
  const { payload } =
    typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
  return payload;
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

function callerFrom(payload: JWTPayload): Caller {
  const scope = typeof payload.scope === 'string' ? payload.scope : '';
  const claim = (name: string): string | undefined =>
    typeof payload[name] === 'string' ? (payload[name] as string) : undefined;
  // An organization claim that is there but not a name (a number, a list, "") must not read as
  // absent: absent means public health, which sees every patient whatever their data sharing.
  if (payload.organization !== undefined && !(typeof payload.organization === 'string' && payload.organization !== '')) {
    throw unauthorized('The access token\'s organization claim must be a string naming the facility (Organization/<id>)');
  }
  return {
    sub: payload.sub,
    organization: claim('organization'),
    patient: claim('patient'),
    ...(fhirUserOf(claim('fhirUser')) ? { fhirUser: fhirUserOf(claim('fhirUser')) } : {}),
    clientId: claim('client_id') ?? claim('azp'),
    issuer: payload.iss,
    // Only ever narrows what the scopes allow (a reports user's token), so any issuer may set it.
    ...(claim('role') ? { role: claim('role') } : {}),
    scopes: parseScopes(scope),
    scope,
  };
}

/** `Practitioner/<id>` (or another type) from an absolute or relative fhirUser URL. */
function fhirUserOf(value: string | undefined): string | undefined {
  const match = value ? /(?:^|\/)([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(value) : null;
  return match ? match[1] : undefined;
}

function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'it is not valid yet (nbf)';
    if (err.claim === 'exp') return 'it has no valid exp claim';
    if (err.claim === 'iss') return 'its iss is not the expected issuer';
    return `claim ${err.claim} is invalid (${err.reason})`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'its algorithm is not accepted';
  if (err instanceof errors.JWKSNoMatchingKey) return "the issuer's key set has no key matching its kid";
  if (err instanceof errors.JWKSMultipleMatchingKeys) return "several keys of the issuer's key set match it; a kid is needed";
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return `it is malformed (${err.message})`;
  if (err instanceof errors.JOSENotSupported) return `it uses an unsupported feature (${err.message})`;
  return 'it could not be verified';
}
