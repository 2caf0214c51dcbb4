// Apps registered for the user-facing SMART flow (authorization code + PKCE), stored in the Store as
// documents of the internal type SigninClient (never served over REST). Public apps (browser or
// native) have no secret and must use PKCE; confidential apps get a generated secret
// (client_secret_basic), shown once at registration and kept only as a salted scrypt hash (the
// user passwords' hashing, passwords.ts), checked at the token endpoint by `secretMatches` (the
// provider's Client#compareClientSecret calls it, provider.ts). Records written before the hash
// (`secret` in the clear) still authenticate and are rewritten with a hash at the sign-in server's
// start (`hashLegacySecrets`) and, should one appear later, at its first successful use. The clinic web app (`iis-web-app`) is built in and needs no registration.
// SMART Backend Services clients (client_credentials with signed assertions) stay in
// AUTH_CLIENTS_FILE (src/auth/clients.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
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
  /** Confidential apps only: the secret's scrypt hash (`scrypt$N$r$p$salt$hash`, passwords.ts). */
  secretHash?: string;
  /**
   * Confidential apps registered before secrets were hashed: the secret in the clear. Still
   * accepted, and replaced by `secretHash` at start or at first use (see the top of this file).
   */
  secret?: string;
  createdAt: string;
}

/** A just-registered app with its secret: the only time the secret is seen (the CLI prints it). */
export type RegisteredAppClient = Omit<AppClient, 'secretHash'> & { secret?: string };

export interface NewAppClient {
  clientId: string;
  redirectUris: string[];
  public: boolean;
  name?: string;
  launchUri?: string;
}

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._~-]{1,127}$/;

export function webAppClient(publicBaseUrl: string): AppClient {
  return {
    clientId: WEB_APP_CLIENT_ID,
    name: 'IIS clinic web app',
    redirectUris: [`${publicBaseUrl}/app/callback`],
    public: true,
    createdAt: new Date(0).toISOString(),
  };
}

export function clientMetadata(client: AppClient): ClientMetadata {
  return {
    client_id: client.clientId,
    ...(client.name ? { client_name: client.name } : {}),
    redirect_uris: client.redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: client.public ? 'none' : 'client_secret_basic',
    // oidc-provider needs a client_secret for client_secret_basic; it holds the hash (or a legacy
    // record's secret) and is only ever compared by secretMatches (no HS* algorithms or
    // client_secret_jwt are enabled, which would use it as a key).
    ...(client.secretHash || client.secret ? { client_secret: client.secretHash ?? client.secret } : {}),
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
  async metadata(clientId: string): Promise<ClientMetadata | undefined> {
    const client = await this.get(clientId);
    return client ? clientMetadata(client) : undefined;
  }

  async list(): Promise<AppClient[]> {
    const records = await this.store.search(CLIENT_TYPE, { filter: {}, sort: [{ field: '_id', direction: 1 }], limit: 10_000 });
    return [...this.builtIn, ...records.map(clientOf).filter((c): c is AppClient => c !== undefined)];
  }

  /** Registers an app; a confidential one gets its secret here (returned once, for the CLI to show; only its hash is stored). */
  async register(input: NewAppClient): Promise<RegisteredAppClient> {
    const problems: string[] = [];
    if (!CLIENT_ID.test(input.clientId ?? '')) problems.push('The client id must be 2-128 characters: letters, digits, ".", "_", "~" or "-"');
    if (!Array.isArray(input.redirectUris) || input.redirectUris.length === 0) problems.push('At least one redirect URI is needed');
    for (const uri of input.redirectUris ?? []) problems.push(...appUrlProblems('redirect URI', uri));
    if (input.launchUri !== undefined) problems.push(...appUrlProblems('launch URI', input.launchUri));
    if (this.builtIn.some((c) => c.clientId === input.clientId)) problems.push(`"${input.clientId}" is a built-in client`);
    if (problems.length > 0) throw badRequest(problems.join('; '));
    const secret = input.public ? undefined : randomBytes(32).toString('base64url');
    const client: AppClient = {
      clientId: input.clientId,
      ...(input.name ? { name: input.name } : {}),
      redirectUris: [...new Set(input.redirectUris)],
      public: input.public,
      ...(input.launchUri !== undefined ? { launchUri: input.launchUri } : {}),
      ...(secret ? { secretHash: await hashPassword(secret, this.hashParams) } : {}),
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

  /** Removes a registered app (its tokens die with their short lifetime; refresh tokens are refused). */
  async remove(clientId: string): Promise<boolean> {
    const record = await this.store.read(CLIENT_TYPE, clientId);
    if (!record || record.deleted) return false;
    await this.store.write({ resourceType: CLIENT_TYPE, id: clientId, ifVersion: record.versionId });
    return true;
  }
}

/** What is wrong with an app's redirect or launch URL: absolute, no fragment, http only for loopback. */
function appUrlProblems(what: string, uri: string): string[] {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return [`The ${what} "${uri}" is not an absolute URL`];
  }
  const problems: string[] = [];
  if (url.hash) problems.push(`The ${what} "${uri}" must not have a fragment`);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol === 'http:' && !loopback) problems.push(`The ${what} "${uri}" must use https (http only for loopback)`);
  return problems;
}

/** What the admin API and the CLI list about an app: never its secret nor the secret's hash. */
export function publicView(client: AppClient): Omit<AppClient, 'secret' | 'secretHash'> {
  const { secret: _s, secretHash: _h, ...view } = client;
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
