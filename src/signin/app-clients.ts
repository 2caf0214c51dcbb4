// Apps registered for the user-facing SMART flow (authorization code + PKCE), stored in the Store as
// documents of the internal type SigninClient (never served over REST). Public apps (browser or
// native) have no secret and must use PKCE; confidential apps get a generated secret
// (client_secret_basic). The clinic web app (`iis-web-app`) is built in and needs no registration.
// SMART Backend Services clients (client_credentials with signed assertions) stay in
// AUTH_CLIENTS_FILE (src/auth/clients.ts).
import { randomBytes } from 'node:crypto';
import type { ClientMetadata } from 'oidc-provider';
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, conflict } from '../fhir/outcome.js';
import { VersionConflictError, type ResourceRecord, type Store } from '../store/store.js';

export const CLIENT_TYPE = 'SigninClient';
export const WEB_APP_CLIENT_ID = 'iis-web-app';

export interface AppClient {
  clientId: string;
  name?: string;
  redirectUris: string[];
  public: boolean;
  /** Confidential apps only. Stored as issued: the provider compares it (constant time) on use. */
  secret?: string;
  createdAt: string;
}

export interface NewAppClient {
  clientId: string;
  redirectUris: string[];
  public: boolean;
  name?: string;
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
    ...(client.secret ? { client_secret: client.secret } : {}),
  };
}

export class AppClients {
  constructor(
    private readonly store: Store,
    private readonly builtIn: AppClient[] = []
  ) {}

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

  /** Registers an app; a confidential one gets its secret here (shown once by the CLI). */
  async register(input: NewAppClient): Promise<AppClient> {
    const problems: string[] = [];
    if (!CLIENT_ID.test(input.clientId ?? '')) problems.push('The client id must be 2-128 characters: letters, digits, ".", "_", "~" or "-"');
    if (!Array.isArray(input.redirectUris) || input.redirectUris.length === 0) problems.push('At least one redirect URI is needed');
    for (const uri of input.redirectUris ?? []) {
      let url: URL | undefined;
      try {
        url = new URL(uri);
      } catch {
        problems.push(`The redirect URI "${uri}" is not an absolute URL`);
        continue;
      }
      if (url.hash) problems.push(`The redirect URI "${uri}" must not have a fragment`);
      const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
      if (url.protocol === 'http:' && !loopback) problems.push(`The redirect URI "${uri}" must use https (http only for loopback)`);
    }
    if (this.builtIn.some((c) => c.clientId === input.clientId)) problems.push(`"${input.clientId}" is a built-in client`);
    if (problems.length > 0) throw badRequest(problems.join('; '));
    const client: AppClient = {
      clientId: input.clientId,
      ...(input.name ? { name: input.name } : {}),
      redirectUris: [...new Set(input.redirectUris)],
      public: input.public,
      ...(input.public ? {} : { secret: randomBytes(32).toString('base64url') }),
      createdAt: new Date().toISOString(),
    };
    try {
      await this.store.write({ resourceType: CLIENT_TYPE, id: client.clientId, resource: toResource(client), ifVersion: 'absent', index: {} });
    } catch (err) {
      if (err instanceof VersionConflictError) throw conflict(`The client id "${client.clientId}" is taken`);
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

function toResource(client: AppClient): Resource {
  return { resourceType: CLIENT_TYPE, id: client.clientId, ...JSON.parse(JSON.stringify(client)) } as unknown as Resource;
}

function clientOf(record: ResourceRecord | undefined): AppClient | undefined {
  if (!record || record.deleted || !record.resource) return undefined;
  const { resourceType: _t, id: _id, meta: _m, ...client } = record.resource as unknown as AppClient & { resourceType: string; id: string; meta?: unknown };
  return client as AppClient;
}
