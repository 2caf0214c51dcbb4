// SMART Backend Services token endpoint (POST /auth/token): the client_credentials grant with a
// private_key_jwt client assertion (SMART App Launch 2 "client-confidential-asymmetric", RFC 7523).
//
// Checks, in order: form parameters (invalid_request / unsupported_grant_type), then the assertion
// (every failure is invalid_client, HTTP 401, as RFC 7523 §3.2 and SMART require): header alg
// RS384 or ES384, kid present, iss = sub = a registered client_id, `jku` (if any) equal to the
// registration's jwks_uri, kid found in the client's key set (refetched on an unknown kid, rate
// bounded), signature, aud = this token endpoint's URL, exp present, not past and at most 5 minutes
// ahead, nbf, jti present and never seen before. Then scopes: granted = requested ∩ allowed
// (invalid_scope, HTTP 400, when nothing is left; no scope parameter requests the allowed ones). The issued access token is a JWT signed ES384
// with the server key, living 300 s.
//
// jti replay protection keeps every accepted jti in memory until its assertion's exp: correct for
// one server process; several nodes behind a load balancer would each keep their own list, so an
// assertion could be replayed once per node within its (≤ 5 minute) lifetime.
// No grant here is ever "invalid_grant": client_credentials carries no grant to be invalid (that
// code belongs to the jwt-bearer *grant* of RFC 7523 §2.1, which we do not offer).
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import type { ClientRegistration } from './clients.js';
import { JwksUnavailableError, RemoteJwks, type RemoteJwksOptions } from './jwks-cache.js';
import { intersectScopes } from './scopes.js';
import type { ServerKey } from './server-key.js';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'] as const;
export const ACCESS_TOKEN_LIFETIME_S = 300;
/** The latest an assertion may expire, from now. */
export const MAX_ASSERTION_LIFETIME_S = 300;
const CLOCK_TOLERANCE_S = 5;

export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope';

/** Grants of the sign-in flow for people (src/signin), which backend-services clients may not use. */
export const PEOPLES_GRANTS: ReadonlySet<string> = new Set(['authorization_code', 'refresh_token']);

export interface TokenResponse {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string
  ) {
    super(description);
    this.name = 'OAuthError';
  }

  /** RFC 6749 §5.2: 400, except invalid_client (401: the client failed to authenticate). */
  get status(): number {
    return this.error === 'invalid_client' ? 401 : 400;
  }
}

export interface TokenEndpointOptions {
  clients: ClientRegistration[];
  serverKey: ServerKey;
  /** Absolute URL of this endpoint: the only `aud` accepted in assertions. */
  tokenUrl: string;
  /** `iss` of issued access tokens. */
  issuer: string;
  /** `aud` of issued access tokens (the FHIR base). */
  audience: string;
  /** Options for clients' remote key sets (jwks_uri). */
  remoteJwks?: RemoteJwksOptions;
  /** Seconds since the epoch, for tests. */
  now?: () => number;
}

export class TokenEndpoint {
  private readonly clients = new Map<string, { registration: ClientRegistration; getKey: JWTVerifyGetKey }>();
  /** `client_id` + jti → assertion exp (seconds). */
  private readonly usedJtis = new Map<string, number>();
  private nextSweep = 0;
  private readonly now: () => number;

  constructor(private readonly options: TokenEndpointOptions) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    for (const registration of options.clients) {
      const getKey = registration.jwks
        ? createLocalJWKSet(registration.jwks)
        : new RemoteJwks(registration.jwksUri as string, options.remoteJwks).getKey;
      this.clients.set(registration.clientId, { registration, getKey });
    }
  }

  /** Handles one token request given its form parameters (each name → every value sent). */
  /**
   * Whether a client assertion names (`sub`, not yet verified) a backend-services client of
   * AUTH_CLIENTS_FILE: such a client's requests are answered here whatever grant they name.
   */
  namesOwnClient(clientAssertion: string): boolean {
    try {
      const sub = decodeJwt(clientAssertion).sub;
      return typeof sub === 'string' && this.clients.has(sub);
    } catch {
      return false;
    }
  }

  /**
   * `authorization`: the request's Authorization header, if any. A client that authenticates with
   * HTTP Basic (a people's app's secret) uses a method client_credentials does not take: RFC 6749
   * §5.2 invalid_client, with the Basic challenge.
   */
  async handle(form: URLSearchParams, authorization?: string): Promise<TokenResponse> {
    try {
      return { status: 200, body: await this.issue(form, authorization) };
    } catch (err) {
      if (err instanceof OAuthError) {
        const basic = err.error === 'invalid_client' && /^basic\s/i.test(authorization ?? '');
        return {
          status: err.status,
          body: { error: err.error, error_description: err.description },
          ...(basic ? { headers: { 'WWW-Authenticate': `Basic realm="${this.options.issuer}", error="invalid_client"` } } : {}),
        };
      }
      throw err;
    }
  }

  private async issue(form: URLSearchParams, authorization?: string): Promise<Record<string, unknown>> {
    const param = (name: string, required: boolean): string | undefined => {
      const values = form.getAll(name);
      if (values.length > 1) throw new OAuthError('invalid_request', `The parameter ${name} is given more than once`);
      const value = values[0];
      if (required && !value) throw new OAuthError('invalid_request', `The parameter ${name} is required`);
      return value || undefined;
    };
    const grantType = param('grant_type', true) as string;
    // The router sends authorization_code and refresh_token here only for a backend-services
    // client's assertion: the server has those grants, this client may not use them (RFC 6749
    // §5.2 unauthorized_client, once the client is authenticated). Any other grant is unknown here.
    const peoplesGrant = PEOPLES_GRANTS.has(grantType);
    if (grantType !== 'client_credentials' && !peoplesGrant) {
      throw new OAuthError('unsupported_grant_type', `grant_type "${grantType}" is not supported; this token endpoint takes authorization_code and refresh_token (apps signing people in) and client_credentials (SMART Backend Services)`);
    }
    if (form.get('client_assertion_type') === null && (authorization !== undefined || form.get('client_secret') !== null)) {
      throw new OAuthError('invalid_client', 'client_credentials (SMART Backend Services) takes a signed client assertion (private_key_jwt), not a client secret: send client_assertion_type and client_assertion');
    }
    const assertionType = param('client_assertion_type', true) as string;
    if (assertionType !== CLIENT_ASSERTION_TYPE) {
      throw new OAuthError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    }
    const assertion = param('client_assertion', true) as string;
    // SMART asks clients to send scope; without one we grant the registered scopes, the
    // "pre-defined default value" RFC 6749 §3.3 allows (some client libraries send none).
    const scopeParam = param('scope', false);
    const clientIdParam = param('client_id', false);

    const { registration } = await this.authenticate(assertion, clientIdParam);
    if (peoplesGrant) {
      throw new OAuthError('unauthorized_client', `client "${registration.clientId}" is a SMART Backend Services client (AUTH_CLIENTS_FILE): it may use grant_type client_credentials only, not ${grantType}`);
    }

    const requestedScope = scopeParam ?? registration.scope;
    const granted = intersectScopes(requestedScope, registration.scope);
    if (granted.length === 0) {
      throw new OAuthError('invalid_scope', `None of the requested scopes (${requestedScope}) is allowed for client ${registration.clientId}`);
    }
    const scope = granted.join(' ');
    const now = this.now();
    const claims: Record<string, unknown> = { scope, client_id: registration.clientId };
    if (registration.organization) claims.organization = registration.organization;
    const key = this.options.serverKey;
    const accessToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.options.issuer)
      .setSubject(registration.clientId)
      .setAudience(this.options.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ACCESS_TOKEN_LIFETIME_S)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { access_token: accessToken, token_type: 'bearer', expires_in: ACCESS_TOKEN_LIFETIME_S, scope };
  }

  /** Verifies the client assertion; every failure is invalid_client. */
  private async authenticate(assertion: string, clientIdParam: string | undefined): Promise<{ registration: ClientRegistration }> {
    const fail = (description: string): never => {
      throw new OAuthError('invalid_client', description);
    };
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(assertion);
      unverified = decodeJwt(assertion);
    } catch {
      return fail('client_assertion is not a well-formed JWT');
    }
    if (!(ASSERTION_ALGORITHMS as readonly string[]).includes(header.alg ?? '')) {
      fail(`client_assertion alg "${header.alg ?? '(none)'}" is not accepted; use RS384 or ES384`);
    }
    if (typeof header.kid !== 'string' || !header.kid) fail('client_assertion has no kid header');
    const clientId = unverified.iss;
    if (typeof clientId !== 'string' || !clientId) return fail('client_assertion has no iss (the client_id)');
    if (unverified.sub !== clientId) fail('client_assertion sub must equal its iss (the client_id)');
    if (clientIdParam !== undefined && clientIdParam !== clientId) fail('client_id does not match the client_assertion iss');
    const client = this.clients.get(clientId);
    if (!client) return fail(`client "${clientId}" is not registered`);
    const { registration } = client;
    if (header.jku !== undefined) {
      if (!registration.jwksUri) fail(`client "${clientId}" is registered with an inline key set; the jku header is not allowed`);
      if (normalizeUrl(header.jku) !== registration.jwksUri) fail(`jku ${header.jku} is not the jwks_uri registered for client "${clientId}"`);
    }
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(assertion, client.getKey, {
        algorithms: [...ASSERTION_ALGORITHMS],
        issuer: clientId,
        subject: clientId,
        audience: this.options.tokenUrl,
        requiredClaims: ['exp', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.now() * 1000),
      });
    } catch (err) {
      return fail(describe(err, clientId, header.kid as string, this.options.tokenUrl));
    }
    const { exp, jti } = verified.payload as { exp: number; jti: unknown };
    const now = this.now();
    if (exp > now + MAX_ASSERTION_LIFETIME_S + CLOCK_TOLERANCE_S) {
      fail(`client_assertion exp is ${exp - now} s ahead; at most ${MAX_ASSERTION_LIFETIME_S} s are allowed`);
    }
    if (typeof jti !== 'string' || !jti) fail('client_assertion jti must be a non-empty string');
    this.rememberJti(`${clientId}\u0000${jti as string}`, exp, fail);
    return { registration };
  }

  private rememberJti(key: string, exp: number, fail: (d: string) => never): void {
    const now = this.now();
    if (now >= this.nextSweep) {
      for (const [k, until] of this.usedJtis) if (until + CLOCK_TOLERANCE_S < now) this.usedJtis.delete(k);
      this.nextSweep = now + 30;
    }
    const until = this.usedJtis.get(key);
    if (until !== undefined && until + CLOCK_TOLERANCE_S >= now) fail('client_assertion jti has already been used');
    this.usedJtis.set(key, exp);
  }
}

function normalizeUrl(value: string): string | undefined {
  try {
    return new URL(value).toString();
  } catch {
    return undefined;
  }
}

function describe(err: unknown, clientId: string, kid: string, tokenUrl: string): string {
  if (err instanceof errors.JWKSNoMatchingKey) return `no key with kid "${kid}" (for this alg) in the key set of client "${clientId}"`;
  if (err instanceof errors.JWKSMultipleMatchingKeys) return `several keys of client "${clientId}" match kid "${kid}"`;
  if (err instanceof JwksUnavailableError) return `the key set of client "${clientId}" could not be fetched: ${err.message}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'client_assertion signature does not verify';
  if (err instanceof errors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'client_assertion alg is not accepted';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud':
        return `client_assertion aud must be the token endpoint URL ${tokenUrl}`;
      case 'nbf':
        return 'client_assertion is not valid yet (nbf)';
      case 'iat':
        return 'client_assertion iat is not valid';
      default:
        return `client_assertion ${err.claim} is invalid (${err.reason})`;
    }
  }
  if (err instanceof errors.JOSEError) return `client_assertion is invalid (${err.message})`;
  return 'client_assertion could not be verified';
}
