// Dynamic client registration (RFC 7591) for people's apps, made safe for a registry: an app can
// register itself only with an initial access token that a public-health administrator issued
// (`npm run clients -- registration-token`, `POST /auth/admin/registration-tokens`), each token
// good for ONE registration within its lifetime (24 h by default), and only as a public client
// (`none`: PKCE, no secret) or an asymmetric one (`private_key_jwt` with its public keys inline:
// a key set URL would make the server fetch whatever address a registrant names, so it stays with
// the administrators' registrations). Redirect URIs must be https, or http on loopback. Every
// registration, and every refusal of a request that presented a token, is an AuditEvent naming the
// administrator who issued the token. The app is then an ordinary registered app (app-clients.ts):
// listed and removed with `npm run clients`.
//
// RFC 7592 management: the registration answer also carries `registration_client_uri`
// (`/auth/register/<client_id>`) and a `registration_access_token` (256 random bits; only its
// SHA-256 is kept, in the app's record). With it as a Bearer token the app reads (GET), replaces
// (PUT: the same metadata rules as registering; a new token is issued and the old one stops
// working) or deletes (DELETE → 204) its own registration. A deleted app's refresh tokens are
// refused (the app is unknown) and its access tokens too (RevokedAccessTokens.revokeClient).
// oidc-provider's registrationManagement feature is not used: it manages only clients registered
// through its own registration feature, which this server does not enable (registration here has
// the registry's rules above).
//
//   POST /auth/register   Authorization: Bearer <initial access token>
//                         { redirect_uris, token_endpoint_auth_method: "none" | "private_key_jwt",
//                           jwks?, client_name?, grant_types?, response_types? }
//   → 201 { client_id, client_id_issued_at, redirect_uris, token_endpoint_auth_method, grant_types,
//           response_types, client_name?, jwks?, registration_client_uri, registration_access_token }
//   GET | PUT | DELETE /auth/register/<client_id>   Authorization: Bearer <registration access token>
//   → 400 { error: "invalid_redirect_uri" | "invalid_client_metadata", error_description }
//   → 401 WWW-Authenticate: Bearer error="invalid_token" (no token, unknown, expired or used)
//
// Tokens are short-lived records of the store (namespace `signin`, beside the provider's
// artifacts) under the SHA-256 of the token (never the token itself), taken atomically
// (ExpiringRecords.take): of two registrations with one token only one succeeds.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ExpiringRecords } from '../store/expiring.js';
import { StoreUnavailableError } from '../store/store.js';
import type { AdminEvent } from './audit.js';
import { authMethodOf, clientKind, DYNAMIC_CLIENT_PREFIX, type AppClient, type AppClients, type NewAppClient } from './app-clients.js';
import { artifactHash } from './provider-adapter.js';

export const REGISTRATION_PATH = '/register';
export const DEFAULT_REGISTRATION_TOKEN_HOURS = 24;
const MAX_REGISTRATION_TOKEN_HOURS = 24 * 30;
const TOKEN_KIND = 'RegistrationToken';
const AUTH_METHODS = ['none', 'private_key_jwt'];
const GRANT_TYPES = ['authorization_code', 'refresh_token'];

export interface IssuedRegistrationToken {
  token: string;
  expiresAt: string;
}

/** Initial access tokens for dynamic registration: issued by public health, each used once. */
export class RegistrationTokens {
  constructor(private readonly records: ExpiringRecords) {}

  async issue(actor: string, hours = DEFAULT_REGISTRATION_TOKEN_HOURS): Promise<IssuedRegistrationToken> {
    if (!Number.isFinite(hours) || hours <= 0 || hours > MAX_REGISTRATION_TOKEN_HOURS) {
      throw new RangeError(`hours must be more than 0 and at most ${MAX_REGISTRATION_TOKEN_HOURS}`);
    }
    const token = randomBytes(32).toString('base64url');
    const expiresAt = Date.now() + Math.round(hours * 3_600_000);
    await this.records.put({ key: artifactHash(TOKEN_KIND, token), value: { actor, issuedAt: new Date().toISOString() }, expiresAt });
    return { token, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** Who issued a live token (it stays usable), or undefined. */
  async issuerOf(token: string): Promise<string | undefined> {
    const record = await this.records.get(artifactHash(TOKEN_KIND, token));
    return typeof record?.value.actor === 'string' ? record.value.actor : undefined;
  }

  /** Spends a token: true for exactly one caller while it lives. */
  async spend(token: string): Promise<boolean> {
    return (await this.records.take(artifactHash(TOKEN_KIND, token))) !== undefined;
  }
}

export interface RegistrationOptions {
  tokens: RegistrationTokens;
  clients: AppClients;
  /** Ends the access tokens of a deleted registration (revoked-tokens.ts). */
  revokedTokens: { revokeClient(clientId: string): Promise<void> };
  /** `/auth`. */
  basePath: string;
  issuer: string;
  auditAdmin(event: Omit<AdminEvent, 'kind'>): void;
}

class RegistrationError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    description: string
  ) {
    super(description);
  }
}

export function registrationRouter(options: RegistrationOptions): express.Router {
  const router = express.Router();
  const json = express.json({ limit: '32kb', type: () => true });
  const path = `${options.basePath}${REGISTRATION_PATH}`;
  /** Runs a registration request: its answer (status and JSON, or 204), or the error in RFC 7591/7592 terms. */
  const answer =
    (handle: (req: Request) => Promise<{ status: number; body?: Record<string, unknown> }>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      handle(req).then(
        ({ status, body }) => (body ? res.status(status).json(body) : res.status(status).end()),
        (err: unknown) => {
          if (err instanceof RegistrationError) {
            if (err.status === 401) res.setHeader('WWW-Authenticate', `Bearer realm="${options.issuer}", error="invalid_token", error_description="${err.message.replace(/[^\x20-\x7e]|["\\]/g, '')}"`);
            res.status(err.status).json({ error: err.code, error_description: err.message });
            return;
          }
          if ((err as { status?: number }).status === 409) {
            res.status(409).json({ error: 'invalid_request', error_description: (err as Error).message });
            return;
          }
          if (err instanceof StoreUnavailableError) {
            res.setHeader('Retry-After', '5');
            res.status(503).json({ error: 'temporarily_unavailable', error_description: 'The data store is unavailable; try again shortly' });
            return;
          }
          next(err);
        }
      );
    };
  router.post(path, json, answer(async (req) => ({ status: 201, body: await register(options, req) })));
  router.all(path, (_req, res) => {
    res.setHeader('Allow', 'POST');
    res.status(405).json({ error: 'invalid_request', error_description: 'Register with POST' });
  });
  // RFC 7592: the client configuration endpoint of each dynamically registered app.
  router.get(`${path}/:clientId`, answer(async (req) => {
    const { client, token } = await registrationOf(options, req);
    return { status: 200, body: clientInformation(options, client, token) };
  }));
  router.put(`${path}/:clientId`, json, answer(async (req) => ({ status: 200, body: await update(options, req) })));
  router.delete(`${path}/:clientId`, answer(async (req) => {
    const { client } = await registrationOf(options, req);
    const audit = managementAudit(options, client.clientId, 'client-remove-dynamic');
    if (!(await options.clients.remove(client.clientId))) throw new RegistrationError(401, 'invalid_token', 'The registration access token is unknown, or its app is no longer registered');
    // The app is gone, so its refresh tokens are refused (unknown client); its access tokens from now on too.
    await options.revokedTokens.revokeClient(client.clientId);
    audit({ target: `client:${client.clientId}` });
    return { status: 204 };
  }));
  router.all(`${path}/:clientId`, (_req, res) => {
    res.setHeader('Allow', 'GET, PUT, DELETE');
    res.status(405).json({ error: 'invalid_request', error_description: 'A registration is read (GET), replaced (PUT) or deleted (DELETE)' });
  });
  // A body that is not JSON (or too large): RFC 7591's invalid_client_metadata, not a 500. Other
  // 4xx (a client id that is not percent-encoded text, /auth/register/%ZZ) say so: a GET has no body.
  router.use(path, (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (res.headersSent || typeof status !== 'number' || status >= 500) return next(err);
    res.setHeader('Cache-Control', 'no-store');
    if (typeof (err as { type?: unknown }).type !== 'string') {
      res.status(400).json({ error: 'invalid_request', error_description: `The address could not be read: ${(err as Error).message}` });
      return;
    }
    res.status(status === 413 ? 413 : 400).json({ error: 'invalid_client_metadata', error_description: `The registration body could not be read: ${(err as Error).message}` });
  });
  return router;
}

function sha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function newRegistrationAccessToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: sha256(token) };
}

/**
 * The app whose configuration endpoint was called, when the Bearer token is its registration
 * access token; otherwise 401 (RFC 7592 §2: also when the app does not exist, so that the answer
 * says nothing about which client ids exist).
 */
async function registrationOf(options: RegistrationOptions, req: Request): Promise<{ client: AppClient; token: string }> {
  const match = /^Bearer ([A-Za-z0-9_-]{20,200})$/i.exec(req.headers.authorization ?? '');
  if (!match) throw new RegistrationError(401, 'invalid_token', 'Managing a registration needs its registration access token (Authorization: Bearer <registration_access_token>)');
  const token = match[1];
  const client = await options.clients.get(String(req.params.clientId));
  const stored = client?.registrationAccessTokenHash;
  const presented = Buffer.from(sha256(token), 'hex');
  if (!client || !stored || stored.length !== 64 || !timingSafeEqual(Buffer.from(stored, 'hex'), presented)) {
    throw new RegistrationError(401, 'invalid_token', 'The registration access token is unknown, or its app is no longer registered');
  }
  return { client, token };
}

function managementAudit(options: RegistrationOptions, clientId: string, action: string) {
  return (event: { target: string; detail?: string; refused?: string }) => options.auditAdmin({ actor: `${clientId} (registration access token)`, action, ...event });
}

/** RFC 7592 §2.2: the app's metadata replaced as a whole (the rules of registering), a new registration access token. */
async function update(options: RegistrationOptions, req: Request): Promise<Record<string, unknown>> {
  const { client } = await registrationOf(options, req);
  const audit = managementAudit(options, client.clientId, 'client-update-dynamic');
  let metadata: ReturnType<typeof clientMetadataOf>;
  try {
    const body = req.body as Record<string, unknown> | undefined;
    if (typeof body === 'object' && body !== null && !Array.isArray(body) && body.client_id !== client.clientId) {
      throw new RegistrationError(400, 'invalid_request', `client_id must be sent, and be this registration's (${client.clientId})`);
    }
    metadata = clientMetadataOf(body);
    try {
      options.clients.check({ clientId: client.clientId, ...metadata });
    } catch (err) {
      if ((err as { status?: number }).status === 400) throw new RegistrationError(400, 'invalid_client_metadata', (err as Error).message);
      throw err;
    }
  } catch (err) {
    if (err instanceof RegistrationError) audit({ target: `client:${client.clientId}`, refused: err.message });
    throw err;
  }
  const next = newRegistrationAccessToken();
  const updated = await options.clients.update(client.clientId, metadata, next.hash);
  if (!updated) throw new RegistrationError(401, 'invalid_token', 'The registration access token is unknown, or its app is no longer registered');
  audit({ target: `client:${client.clientId}`, detail: clientKind(updated) });
  return clientInformation(options, updated, next.token);
}

/** RFC 7591 §3.2.1 / RFC 7592 §3: what the app is registered with, and how it manages the registration. */
function clientInformation(options: RegistrationOptions, client: AppClient, registrationAccessToken: string): Record<string, unknown> {
  return {
    client_id: client.clientId,
    client_id_issued_at: Math.floor(Date.parse(client.createdAt) / 1000),
    redirect_uris: client.redirectUris,
    token_endpoint_auth_method: authMethodOf(client),
    grant_types: GRANT_TYPES,
    response_types: ['code'],
    ...(client.name ? { client_name: client.name } : {}),
    ...(client.jwks ? { jwks: client.jwks } : {}),
    registration_client_uri: `${options.issuer}${REGISTRATION_PATH}/${encodeURIComponent(client.clientId)}`,
    registration_access_token: registrationAccessToken,
  };
}

async function register(options: RegistrationOptions, req: Request): Promise<Record<string, unknown>> {
  const auth = req.headers.authorization ?? '';
  const match = /^Bearer ([A-Za-z0-9_-]{20,200})$/i.exec(auth);
  if (!match) throw new RegistrationError(401, 'invalid_token', 'Registration needs an initial access token from a public-health administrator (Authorization: Bearer <token>)');
  const token = match[1];
  const actor = await options.tokens.issuerOf(token);
  if (!actor) throw new RegistrationError(401, 'invalid_token', 'The initial access token is unknown, expired or already used');
  const audit = (event: { target: string; detail?: string; refused?: string }) => options.auditAdmin({ actor: `${actor} (registration token)`, action: 'client-register-dynamic', ...event });

  const clientId = `${DYNAMIC_CLIENT_PREFIX}${randomBytes(16).toString('base64url')}`;
  let input: NewAppClient;
  try {
    input = { clientId, ...clientMetadataOf(req.body) };
    // AppClients' own checks (the keys…), before the token is spent: an OperationOutcome 400,
    // answered in RFC 7591's words.
    try {
      options.clients.check(input);
    } catch (err) {
      if ((err as { status?: number }).status === 400) throw new RegistrationError(400, 'invalid_client_metadata', (err as Error).message);
      throw err;
    }
  } catch (err) {
    if (err instanceof RegistrationError) audit({ target: 'client:(none)', refused: err.message });
    throw err;
  }
  // Spent only now, so a request with bad metadata can be corrected and sent again.
  if (!(await options.tokens.spend(token))) throw new RegistrationError(401, 'invalid_token', 'The initial access token is unknown, expired or already used');
  const management = newRegistrationAccessToken();
  const client = await options.clients.register({ ...input, askConsent: true, registrationAccessTokenHash: management.hash });
  audit({ target: `client:${client.clientId}`, detail: clientKind(client) });
  return clientInformation(options, client, management.token);
}

/** RFC 7591 metadata → what AppClients registers, or a RegistrationError (400). */
function clientMetadataOf(body: unknown): { redirectUris: string[]; public: boolean; name?: string; jwks?: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RegistrationError(400, 'invalid_client_metadata', 'The body must be a JSON object of client metadata');
  const m = body as Record<string, unknown>;
  const redirectUris = m.redirect_uris;
  if (!Array.isArray(redirectUris) || redirectUris.length === 0 || redirectUris.length > 10 || !redirectUris.every((u) => typeof u === 'string')) {
    throw new RegistrationError(400, 'invalid_redirect_uri', 'redirect_uris must list 1 to 10 URLs');
  }
  for (const uri of redirectUris as string[]) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new RegistrationError(400, 'invalid_redirect_uri', problem);
  }
  const method = m.token_endpoint_auth_method;
  if (typeof method !== 'string' || !AUTH_METHODS.includes(method)) {
    throw new RegistrationError(400, 'invalid_client_metadata', `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')} (no secrets are issued here)`);
  }
  if (m.jwks_uri !== undefined) throw new RegistrationError(400, 'invalid_client_metadata', 'jwks_uri is not accepted in dynamic registration: send the public keys inline (jwks)');
  if (method === 'private_key_jwt' && m.jwks === undefined) throw new RegistrationError(400, 'invalid_client_metadata', 'private_key_jwt needs the public keys inline (jwks)');
  if (method === 'none' && m.jwks !== undefined) throw new RegistrationError(400, 'invalid_client_metadata', 'A public client (none) has no keys: leave out jwks');
  if (m.grant_types !== undefined && (!Array.isArray(m.grant_types) || !m.grant_types.every((g) => GRANT_TYPES.includes(g as string)))) {
    throw new RegistrationError(400, 'invalid_client_metadata', `grant_types may only be ${GRANT_TYPES.join(', ')}`);
  }
  if (m.response_types !== undefined && (!Array.isArray(m.response_types) || !m.response_types.every((r) => r === 'code'))) {
    throw new RegistrationError(400, 'invalid_client_metadata', 'response_types may only be code');
  }
  if (m.client_name !== undefined && (typeof m.client_name !== 'string' || m.client_name.length > 200)) {
    throw new RegistrationError(400, 'invalid_client_metadata', 'client_name must be a string of at most 200 characters');
  }
  return {
    redirectUris: redirectUris as string[],
    public: method === 'none',
    ...(typeof m.client_name === 'string' && m.client_name ? { name: m.client_name } : {}),
    ...(m.jwks !== undefined ? { jwks: m.jwks } : {}),
  };
}

/** Dynamic registrations take https redirect URIs, or http ones on loopback; no fragment, no credentials. */
function redirectUriProblem(uri: string): string | undefined {
  // The URL parser drops edge spaces, tabs and line breaks, so " https://app.example/cb" parsed as
  // a good URI and was stored as sent: a redirect_uri no authorization request can ever match.
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(uri)) return `The redirect URI ${JSON.stringify(uri)} must not hold spaces or control characters`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `The redirect URI "${uri}" is not an absolute URL`;
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return `The redirect URI "${uri}" must use https (http only for loopback)`;
  if (url.hash) return `The redirect URI "${uri}" must not have a fragment`;
  if (url.username || url.password) return `The redirect URI "${uri}" must not carry credentials`;
  return undefined;
}
