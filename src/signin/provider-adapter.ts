// Where oidc-provider keeps its artifacts. Registered apps (`Client`) come from the app registry in
// the Store (app-clients.ts). Everything else (sessions, interactions, authorization codes, grants,
// refresh tokens, the launch context…) is a short-lived record of the store (namespace `signin`,
// src/store/expiring.ts: the embedded store's LMDB file or MongoDB's `expiring` collection), kept
// durably with its TTL: a restart signs nobody out, a refresh token keeps working, and a consumed
// code or rotated refresh token stays refused; every server process sharing the store sees them.
//
// At rest: an artifact's id is often the credential itself (the refresh token, the authorization
// code, the session cookie's value, the interaction's id). The store gets only SHA-256 hashes of
// ids (the record's key; the ids are 256-bit random, so a fast hash is enough, unlike for
// passwords) and the payload without them: `jti` (= the id) is dropped and put back by `find`,
// which is given the id; an Interaction's `session.cookie` (the session id, written by
// oidc-provider and never read back) is dropped. Session uids, user codes and grant ids, which
// sessions and tokens are found and revoked by, are kept as hashes too. So `findByUid` and
// `findByUserCode` return the payload without `jti`: oidc-provider 8.8.1 only reads a session
// found by uid (to check that it exists and whose it is, never to save it), and the device flow
// (user codes) is not enabled.
import { createHash } from 'node:crypto';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { ExpiringRecords } from '../store/expiring.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../logger.js';
import type { AppClients } from './app-clients.js';
import type { ClientKeySets } from './client-keys.js';

/** Kinds of artifacts a grant owns (revoked together with it). */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
/** oidc-provider passes no TTL for some artifacts; they are kept this long. */
const DEFAULT_TTL_MS = 14 * 86_400_000;
export const ARTIFACTS_NAMESPACE = 'signin';
const SWEEP_BATCH = 1000;

/** The SHA-256 (base64url) of a kind and an id: what the store keeps instead of the id. */
export function artifactHash(kind: string, id: string): string {
  return createHash('sha256').update(`${kind}\n${id}`).digest('base64url');
}

export class StoredArtifacts {
  private readonly records: ExpiringRecords;
  private readonly sweeper: NodeJS.Timeout;
  private sweeping: Promise<void> | undefined;

  constructor(
    store: Store,
    private readonly logger?: Logger,
    sweepMs = 60_000,
    /**
     * Called when a grant's access tokens are revoked (oidc-provider's revoke: a revoked refresh
     * token, a sign-out, a reused code or refresh token). Our access tokens are JWTs it never
     * stored, so there is nothing here to remove: the caller refuses them (revoked-tokens.ts).
     */
    private readonly onAccessTokensRevoked?: (grantId: string) => Promise<void>
  ) {
    this.records = store.expiringRecords(ARTIFACTS_NAMESPACE);
    // Expired artifacts are never returned; this only reclaims their space, walking the expired
    // ones in expiry order (never the live ones), at most SWEEP_BATCH per store commit.
    this.sweeper = setInterval(() => void this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** Removes the expired artifacts (one sweep at a time); how many. */
  async sweep(): Promise<number> {
    if (this.sweeping) {
      await this.sweeping;
      return 0;
    }
    let total = 0;
    this.sweeping = (async () => {
      try {
        for (let n = SWEEP_BATCH; n === SWEEP_BATCH; total += n) n = await this.records.sweep(SWEEP_BATCH);
      } catch (err) {
        this.logger?.warn('could not remove expired sign-in artifacts', { error: (err as Error).message });
      }
    })();
    try {
      await this.sweeping;
    } finally {
      this.sweeping = undefined;
    }
    return total;
  }

  adapter(model: string): Adapter {
    const key = (id: string) => artifactHash(model, id);
    const withId = (value: Record<string, unknown> | undefined, id: string): AdapterPayload | undefined => (value ? ({ ...value, jti: id } as AdapterPayload) : undefined);
    return {
      upsert: async (id, payload, expiresIn) => {
        const lookups: Record<string, string> = {};
        if (model === 'Session' && typeof payload.uid === 'string') lookups.uid = artifactHash('uid', payload.uid);
        if (typeof payload.userCode === 'string') lookups.userCode = artifactHash('userCode', payload.userCode);
        if (GRANTABLE.has(model) && typeof payload.grantId === 'string') lookups.grant = artifactHash('grant', payload.grantId);
        await this.records.put({
          key: key(id),
          value: atRest(model, payload, id),
          expiresAt: Date.now() + (expiresIn > 0 ? expiresIn * 1000 : DEFAULT_TTL_MS),
          lookups,
        });
      },
      find: async (id) => (typeof id === 'string' ? withId((await this.records.get(key(id)))?.value, id) : undefined),
      findByUid: async (uid) => (await this.records.findBy('uid', artifactHash('uid', uid)))?.value as AdapterPayload | undefined,
      findByUserCode: async (userCode) => (await this.records.findBy('userCode', artifactHash('userCode', userCode)))?.value as AdapterPayload | undefined,
      consume: async (id) => {
        await this.records.update(key(id), { consumed: Math.floor(Date.now() / 1000) });
      },
      destroy: async (id) => {
        await this.records.remove(key(id));
      },
      revokeByGrantId: async (grantId) => {
        if (model === 'AccessToken') await this.onAccessTokensRevoked?.(grantId);
        await this.records.removeBy('grant', artifactHash('grant', grantId));
      },
    };
  }
}

/** The payload as stored: without the id (`jti`) and, for an Interaction, without the session's id. */
function atRest(model: string, payload: AdapterPayload, id: string): Record<string, unknown> {
  const { jti, ...rest } = payload as AdapterPayload & { jti?: string };
  const stored: Record<string, unknown> = jti === undefined || jti === id ? rest : { ...rest, jti };
  const session = stored.session as Record<string, unknown> | undefined;
  if (model === 'Interaction' && session && typeof session === 'object' && 'cookie' in session) {
    const { cookie: _cookie, ...kept } = session;
    stored.session = kept;
  }
  return stored;
}

/** The adapter factory handed to oidc-provider. */
export function adapterFactory(artifacts: StoredArtifacts, clients: AppClients, clientKeys?: ClientKeySets): (model: string) => Adapter {
  return (model) => {
    if (model === 'Grant') return grantsOfCurrentRegistrations(artifacts.adapter(model), clients);
    if (model !== 'Client') return artifacts.adapter(model);
    return {
      // Apps with a JWKS URL carry the keys the server fetched (client-keys.ts), inline.
      find: async (id) => clients.metadata(id, clientKeys?.current),
      upsert: async () => undefined,
      findByUid: async () => undefined,
      findByUserCode: async () => undefined,
      consume: async () => undefined,
      destroy: async () => undefined,
      revokeByGrantId: async () => undefined,
    };
  };
}

/**
 * Grants made for an app that was since removed are not found: every code and refresh token of
 * theirs is then refused (invalid_grant), even when an app is registered again under the same id
 * (an administrator's app: removed, then added back). A grant whose second of issue (`iat`) ended
 * before the app's current registration (`createdAt`) belongs to an earlier one. One read of the
 * app's record per grant looked up (the code exchange, a refresh, a sign-in from a live session).
 */
function grantsOfCurrentRegistrations(grants: Adapter, clients: AppClients): Adapter {
  return {
    ...grants,
    find: async (id) => {
      const grant = await grants.find(id);
      const clientId = grant?.clientId;
      if (!grant || typeof clientId !== 'string' || typeof grant.iat !== 'number') return grant;
      const client = await clients.get(clientId);
      if (!client) return undefined;
      return (grant.iat + 1) * 1000 <= Date.parse(client.createdAt) ? undefined : grant;
    },
  };
}
