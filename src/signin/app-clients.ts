// Apps registered for the user-facing SMART flow (authorization code + PKCE), stored in the Store as
// documents of the internal type SigninClient (never served over REST). Public apps (browser or
// native) have no secret and must use PKCE; confidential apps get a generated secret
// (client_secret_basic), shown once at registration and kept only as a salted scrypt hash (the
// user passwords' hashing, passwords.ts), checked at the token endpoint by `secretMatches` (the
// provider's Client#compareClientSecret calls it, provider.ts). Records written before the hash
// (`secret` in the clear) still authenticate and are rewritten with a hash at the sign-in server's
// start (`hashLegacySecrets`) and, should one appear later, at its first successful use.
// Confidential apps may instead authenticate with signed JWTs (SMART `client-confidential-asymmetric`,
// `private_key_jwt`): registered with their public keys inline (`jwks`) or a URL the server fetches
// them from (`jwksUri`, client-keys.ts), they get no secret at all. The clinic web app
// (`iis-web-app`) is built in and needs no registration.
// SMART Backend Services clients (client_credentials with signed assertions) stay in
// AUTH_CLIENTS_FILE (src/auth/clients.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import type { ClientMetadata } from 'oidc-provider';
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, conflict } from '../fhir/outcome.js';
import { VersionConflictError, type ResourceRecord, type Store } from '../store/store.js';
import { hashPassword, verifyPassword } from './passwords.js';

export const CLIENT_TYPE = 'SigninClient';
export const WEB_APP_CLIENT_ID = 'iis-web-app';

export interface AppClient {
  clientId: string;
  name?: string;
  redirectUris: string[];
  public: boolean;
  /** Where the clinic web app opens the app for a SMART EHR launch (`?iss=…&launch=…`); none: no EHR launch. */
  launchUri?: string;
  /**
   * Where the sign-in server may send the browser back after the user signed out there
   * (`/auth/logout`, OpenID Connect RP-initiated logout). Only the built-in web app has one: its
   * Sign out ends the sign-in server's session and comes back to `/app/`.
   */
  postLogoutRedirectUris?: string[];
  /** Confidential apps only: the secret's scrypt hash (`scrypt$N$r$p$salt$hash`, passwords.ts). */
  secretHash?: string;
  /**
   * Confidential apps registered before secrets were hashed: the secret in the clear. Still
   * accepted, and replaced by `secretHash` at start or at first use (see the top of this file).
   */
  secret?: string;
  /** Asymmetric apps (private_key_jwt): the URL of their public key set, fetched by the server. */
  jwksUri?: string;
  /** Asymmetric apps (private_key_jwt): their public key set, inline. */
  jwks?: JSONWebKeySet;
  /**
   * Dynamically registered apps (registration.ts): the SHA-256 (hex) of the RFC 7592 registration
   * access token with which the app reads, updates or deletes its registration (never the token).
   */
  registrationAccessTokenHash?: string;
  /**
   * Show the user the consent screen (what the app will get) before the app gets its code. Apps a
   * public-health administrator registered (CLI, admin API) are vouched for by the registry: the
   * user's consent is given with the sign-in (the password POST grants what the app asked, within
   * the user's role), unless registered with `--ask-consent`. Dynamically registered apps
   * (`dyn-…`, RFC 7591) always ask (`asksConsent`).
   */
  askConsent?: boolean;
  createdAt: string;
  /** When the registration was last changed (RFC 7592 update), if ever. */
  updatedAt?: string;
}

/** A just-registered app with its secret: the only time the secret is seen (the CLI prints it). */
export type RegisteredAppClient = Omit<AppClient, 'secretHash'> & { secret?: string };

export interface NewAppClient {
  clientId: string;
  redirectUris: string[];
  public: boolean;
  name?: string;
  launchUri?: string;
  /** Asymmetric: the app's key set URL (https, or http on loopback). Not with `jwks` nor `public`. */
  jwksUri?: string;
  /** Asymmetric: the app's public keys (RSA or EC P-384). Not with `jwksUri` nor `public`. */
  jwks?: unknown;
  /** Show the consent screen at every sign-in (AppClient.askConsent). */
  askConsent?: boolean;
  /** Dynamic registration: the hash of the app's registration access token (AppClient). */
  registrationAccessTokenHash?: string;
}

/** Signing algorithms of client assertions (SMART App Launch 2 requires RS384 and ES384; the backend-services endpoint takes the same). */
export const CLIENT_ASSERTION_ALGORITHMS = ['RS384', 'ES384'];
/** Most keys an inline key set may hold. */
const MAX_INLINE_KEYS = 10;

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._~-]{1,127}$/;

/** Client ids given by dynamic registration (registration.ts). */
export const DYNAMIC_CLIENT_PREFIX = 'dyn-';

/**
 * Does the user see the consent screen for this app? Dynamically registered apps always (no one at
 * the registry vetted them; also those registered before `askConsent` existed), others only when
 * registered with it. An unknown app: yes.
 */
export function asksConsent(client: AppClient | undefined): boolean {
  return client === undefined || client.askConsent === true || client.clientId.startsWith(DYNAMIC_CLIENT_PREFIX);
}

export function webAppClient(publicBaseUrl: string): AppClient {
  return {
    clientId: WEB_APP_CLIENT_ID,
    name: 'IIS clinic web app',
    redirectUris: [`${publicBaseUrl}/app/callback`],
    postLogoutRedirectUris: [`${publicBaseUrl}/app/`],
    public: true,
    createdAt: new Date(0).toISOString(),
  };
}

/** How a registered app authenticates at the token endpoint. */
export function authMethodOf(client: Pick<AppClient, 'public' | 'jwks' | 'jwksUri'>): 'none' | 'private_key_jwt' | 'client_secret_basic' {
  if (client.public) return 'none';
  return client.jwks || client.jwksUri ? 'private_key_jwt' : 'client_secret_basic';
}

/**
 * oidc-provider's view of an app. An app with a `jwksUri` gets the keys fetched from it so far
 * (`remoteKeys`, client-keys.ts; none yet: an empty set) inline: the server, not oidc-provider,
 * fetches them, with its size limit, timeout and cache.
 */
export function clientMetadata(client: AppClient, remoteKeys?: (url: string) => JSONWebKeySet | undefined): ClientMetadata {
  const method = authMethodOf(client);
  return {
    client_id: client.clientId,
    ...(client.name ? { client_name: client.name } : {}),
    redirect_uris: client.redirectUris,
    ...(client.postLogoutRedirectUris ? { post_logout_redirect_uris: client.postLogoutRedirectUris } : {}),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
    ...(method === 'private_key_jwt' ? { jwks: client.jwks ?? (client.jwksUri ? remoteKeys?.(client.jwksUri) : undefined) ?? { keys: [] } } : {}),
    // oidc-provider needs a client_secret for client_secret_basic; it holds the hash (or a legacy
    // record's secret) and is only ever compared by secretMatches (no HS* algorithms or
    // client_secret_jwt are enabled, which would use it as a key).
    ...(method === 'client_secret_basic' && (client.secretHash || client.secret) ? { client_secret: client.secretHash ?? client.secret } : {}),
  };
}

const HASHED = /^scrypt\$/;

export class AppClients {
  constructor(
    private readonly store: Store,
    private readonly builtIn: AppClient[] = [],
    /** scrypt parameters for new secrets (tests use cheaper ones; passwords.ts has the defaults). */
    private readonly hashParams?: { N: number; r: number; p: number }
  ) {}

  /**
   * Whether `presented` is the secret of the client whose stored `client_secret` (clientMetadata)
   * is `stored`: the scrypt hash checked in constant time; a legacy clear secret compared in
   * constant time too (their SHA-256 digests), and then replaced by its hash in the store.
   */
  async secretMatches(clientId: string, stored: string, presented: unknown): Promise<boolean> {
    if (typeof presented !== 'string' || presented === '') return false;
    if (HASHED.test(stored)) return verifyPassword(presented, stored);
    const digest = (s: string) => createHash('sha256').update(s).digest();
    if (!timingSafeEqual(digest(stored), digest(presented))) return false;
    await this.hashSecretOf(clientId, presented);
    return true;
  }

  /** Replaces every legacy clear secret in the store by its hash (at start); returns the clients rewritten. */
  async hashLegacySecrets(): Promise<string[]> {
    const rewritten: string[] = [];
    for (const client of await this.list()) {
      if (client.secret && !client.secretHash && (await this.hashSecretOf(client.clientId, client.secret))) rewritten.push(client.clientId);
    }
    return rewritten;
  }

  /** Stores the hash of a legacy record's clear secret instead of it, unless the record changed meanwhile. */
  private async hashSecretOf(clientId: string, secret: string): Promise<boolean> {
    const record = await this.store.read(CLIENT_TYPE, clientId);
    const client = clientOf(record);
    if (!record || !client || client.secret !== secret) return false;
    const { secret: _clear, ...rest } = client;
    const upgraded: AppClient = { ...rest, secretHash: await hashPassword(secret, this.hashParams) };
    try {
      await this.store.write({ resourceType: CLIENT_TYPE, id: clientId, resource: toResource(upgraded), ifVersion: record.versionId, index: {} });
      return true;
    } catch (err) {
      // Another request or server process upgraded (or changed) it first.
      if (err instanceof VersionConflictError) return false;
      throw err;
    }
  }

  async get(clientId: string): Promise<AppClient | undefined> {
    const builtIn = this.builtIn.find((c) => c.clientId === clientId);
    if (builtIn) return builtIn;
    if (!CLIENT_ID.test(clientId)) return undefined;
    return clientOf(await this.store.read(CLIENT_TYPE, clientId));
  }

  /** What oidc-provider needs to know about a client (undefined: unknown client). */
  async metadata(clientId: string, remoteKeys?: (url: string) => JSONWebKeySet | undefined): Promise<ClientMetadata | undefined> {
    const client = await this.get(clientId);
    return client ? clientMetadata(client, remoteKeys) : undefined;
  }

  async list(): Promise<AppClient[]> {
    const records = await this.store.search(CLIENT_TYPE, { filter: {}, sort: [{ field: '_id', direction: 1 }], limit: 10_000 });
    return [...this.builtIn, ...records.map(clientOf).filter((c): c is AppClient => c !== undefined)];
  }

  /** Throws a 400 naming every problem of a registration (nothing is written); the checked inline key set. */
  check(input: NewAppClient): AppClient['jwks'] {
    const problems: string[] = [];
    if (!CLIENT_ID.test(input.clientId ?? '')) problems.push('The client id must be 2-128 characters: letters, digits, ".", "_", "~" or "-"');
    if (!Array.isArray(input.redirectUris) || input.redirectUris.length === 0) problems.push('At least one redirect URI is needed');
    for (const uri of input.redirectUris ?? []) problems.push(...appUrlProblems('redirect URI', uri));
    if (input.launchUri !== undefined) problems.push(...appUrlProblems('launch URI', input.launchUri));
    if (this.builtIn.some((c) => c.clientId === input.clientId)) problems.push(`"${input.clientId}" is a built-in client`);
    const jwks = input.jwks === undefined ? undefined : inlineKeySet(input.jwks, problems);
    if (input.jwksUri !== undefined) problems.push(...appUrlProblems('JWKS URL', input.jwksUri));
    if (input.jwksUri !== undefined && input.jwks !== undefined) problems.push('Give the keys inline (jwks) or by URL (jwksUri), not both');
    if (input.public && (input.jwksUri !== undefined || input.jwks !== undefined)) problems.push('A public app has no keys: leave out jwks and jwksUri, or register it as confidential');
    if (problems.length > 0) throw badRequest(problems.join('; '));
    return jwks;
  }

  /** Registers an app; a confidential one gets its secret here (returned once, for the CLI to show; only its hash is stored). */
  async register(input: NewAppClient): Promise<RegisteredAppClient> {
    const jwks = this.check(input);
    const asymmetric = jwks !== undefined || input.jwksUri !== undefined;
    const secret = input.public || asymmetric ? undefined : randomBytes(32).toString('base64url');
    const client: AppClient = {
      clientId: input.clientId,
      ...(input.name ? { name: input.name } : {}),
      redirectUris: [...new Set(input.redirectUris)],
      public: input.public,
      ...(input.launchUri !== undefined ? { launchUri: input.launchUri } : {}),
      ...(input.jwksUri !== undefined ? { jwksUri: input.jwksUri } : {}),
      ...(jwks ? { jwks } : {}),
      ...(secret ? { secretHash: await hashPassword(secret, this.hashParams) } : {}),
      ...(input.registrationAccessTokenHash ? { registrationAccessTokenHash: input.registrationAccessTokenHash } : {}),
      ...(input.askConsent ? { askConsent: true } : {}),
      createdAt: new Date().toISOString(),
    };
    try {
      await this.store.write({ resourceType: CLIENT_TYPE, id: client.clientId, resource: toResource(client), ifVersion: 'absent', index: {} });
    } catch (err) {
      if (err instanceof VersionConflictError) throw conflict(`The client id "${client.clientId}" is taken`);
      throw err;
    }
    const { secretHash: _hash, ...shown } = client;
    return { ...shown, ...(secret ? { secret } : {}) };
  }

  /**
   * Replaces a dynamically registered app's metadata (RFC 7592 update: what is not sent is
   * dropped), and its registration access token's hash. Only apps without a secret (public or
   * private_key_jwt, as dynamic registration makes them). Undefined when the app is gone; a 409
   * when another change came in between.
   */
  async update(clientId: string, changes: Pick<NewAppClient, 'redirectUris' | 'public' | 'name' | 'jwks'>, registrationAccessTokenHash: string): Promise<AppClient | undefined> {
    const record = await this.store.read(CLIENT_TYPE, clientId);
    const current = clientOf(record);
    if (!record || !current) return undefined;
    const jwks = this.check({ clientId, ...changes });
    const client: AppClient = {
      clientId,
      ...(changes.name ? { name: changes.name } : {}),
      redirectUris: [...new Set(changes.redirectUris)],
      public: changes.public,
      ...(current.launchUri !== undefined ? { launchUri: current.launchUri } : {}),
      ...(jwks ? { jwks } : {}),
      registrationAccessTokenHash,
      ...(current.askConsent ? { askConsent: true } : {}),
      createdAt: current.createdAt,
      updatedAt: new Date().toISOString(),
    };
    try {
      await this.store.write({ resourceType: CLIENT_TYPE, id: clientId, resource: toResource(client), ifVersion: record.versionId, index: {} });
    } catch (err) {
      if (err instanceof VersionConflictError) throw conflict(`The registration of "${clientId}" changed meanwhile: read it again`);
      throw err;
    }
    return client;
  }

  /** Removes a registered app (its tokens die with their short lifetime; refresh tokens are refused). */
  async remove(clientId: string): Promise<boolean> {
    const record = await this.store.read(CLIENT_TYPE, clientId);
    if (!record || record.deleted) return false;
    await this.store.write({ resourceType: CLIENT_TYPE, id: clientId, ifVersion: record.versionId });
    return true;
  }
}

/**
 * Schemes that run script or read what the browser already holds rather than reach an app: a code
 * (or a launch id) sent to one of them is given to no app at all (OAuth 2.0 Security BCP: exact,
 * app-owned redirect URIs). Native apps' private-use schemes (`com.example.app:/cb`) stay allowed.
 */
const NOT_APP_SCHEMES = ['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:'];

/** What is wrong with an app's redirect or launch URL: absolute, an app's scheme, no fragment, http only for loopback. */
function appUrlProblems(what: string, uri: string): string[] {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return [`The ${what} "${uri}" is not an absolute URL`];
  }
  if (NOT_APP_SCHEMES.includes(url.protocol)) return [`The ${what} "${uri}" must be an app's address (https, http on loopback, or the app's own scheme), not ${url.protocol}`];
  const problems: string[] = [];
  if (url.hash) problems.push(`The ${what} "${uri}" must not have a fragment`);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol === 'http:' && !loopback) problems.push(`The ${what} "${uri}" must use https (http only for loopback)`);
  return problems;
}

/**
 * An inline key set as stored: public RSA (2048 bits or more, RS384) or EC P-384 (ES384) keys only, each with
 * a `kid` of its own (a private member is refused, not dropped: whoever sent it leaked the key).
 * Problems go to `problems`.
 */
function inlineKeySet(value: unknown, problems: string[]): JSONWebKeySet | undefined {
  const keys = typeof value === 'object' && value !== null ? (value as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0) {
    problems.push('jwks must be a JSON Web Key Set with at least one key ({"keys": [...]})');
    return undefined;
  }
  if (keys.length > MAX_INLINE_KEYS) problems.push(`jwks may hold at most ${MAX_INLINE_KEYS} keys`);
  const kids = new Set<string>();
  const kept: JSONWebKeySet['keys'] = [];
  keys.forEach((key: unknown, i) => {
    const k = (typeof key === 'object' && key !== null ? key : {}) as Record<string, unknown>;
    const label = `jwks key ${i + 1}`;
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'].some((m) => m in k)) problems.push(`${label} holds private key material: register the public key only`);
    else if (k.kty === 'RSA') {
      if (typeof k.n !== 'string' || typeof k.e !== 'string') problems.push(`${label}: an RSA key needs n and e`);
      else if (Buffer.from(k.n, 'base64url').length * 8 < 2048) problems.push(`${label}: RSA keys must have at least 2048 bits`);
    } else if (k.kty === 'EC') {
      if (k.crv !== 'P-384') problems.push(`${label}: EC keys must be on P-384 (ES384)`);
      else if (typeof k.x !== 'string' || typeof k.y !== 'string') problems.push(`${label}: an EC key needs x and y`);
    } else problems.push(`${label}: kty must be RSA or EC`);
    if (typeof k.kid !== 'string' || k.kid === '') problems.push(`${label} needs a kid`);
    else if (kids.has(k.kid)) problems.push(`${label}: kid "${k.kid}" is used twice`);
    else kids.add(k.kid);
    if (k.use !== undefined && k.use !== 'sig') problems.push(`${label}: use must be "sig"`);
    if (k.alg !== undefined && !CLIENT_ASSERTION_ALGORITHMS.includes(String(k.alg))) problems.push(`${label}: alg must be one of ${CLIENT_ASSERTION_ALGORITHMS.join(', ')}`);
    kept.push(JSON.parse(JSON.stringify(k)));
  });
  return { keys: kept };
}

/** How an app authenticates, in words (audit details, the CLI). */
export function clientKind(client: Pick<AppClient, 'public' | 'jwks' | 'jwksUri'>): string {
  const method = authMethodOf(client);
  return method === 'none' ? 'public' : method === 'private_key_jwt' ? `confidential: private_key_jwt (${client.jwksUri ? `keys at ${client.jwksUri}` : 'keys inline'})` : 'confidential';
}

/** What the admin API and the CLI list about an app: never its secret nor the secret's hash. */
export function publicView(client: AppClient): Omit<AppClient, 'secret' | 'secretHash' | 'registrationAccessTokenHash'> {
  const { secret: _s, secretHash: _h, registrationAccessTokenHash: _r, ...view } = client;
  return view;
}

function toResource(client: AppClient): Resource {
  return { resourceType: CLIENT_TYPE, id: client.clientId, ...JSON.parse(JSON.stringify(client)) } as unknown as Resource;
}

function clientOf(record: ResourceRecord | undefined): AppClient | undefined {
  if (!record || record.deleted || !record.resource) return undefined;
  const { resourceType: _t, id: _id, meta: _m, ...client } = record.resource as unknown as AppClient & { resourceType: string; id: string; meta?: unknown };
  return client as AppClient;
}
