// Where oidc-provider keeps its artifacts. Registered apps (`Client`) come from the app registry in
// the Store (app-clients.ts). Everything else (sessions, interactions, authorization codes,
// grants, refresh tokens) is short-lived and kept in this process's memory with its TTL: right for
// one server process; a restart signs everybody out and revokes refresh tokens (see README).
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { AppClients } from './app-clients.js';

interface Entry {
  payload: AdapterPayload;
  expiresAt: number;
}

/** Kinds of artifacts a grant owns (revoked together with it). */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

export class MemoryArtifacts {
  private readonly entries = new Map<string, Entry>();
  /** Session uid → session key; user code → key; grant id → keys it owns. */
  private readonly uids = new Map<string, string>();
  private readonly userCodes = new Map<string, string>();
  private readonly byGrant = new Map<string, Set<string>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepMs = 60_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  get size(): number {
    return this.entries.size;
  }

  adapter(model: string): Adapter {
    const key = (id: string) => `${model}:${id}`;
    const find = (id: string | undefined): AdapterPayload | undefined => (id === undefined ? undefined : this.live(key(id)));
    return {
      upsert: async (id, payload, expiresIn) => {
        const k = key(id);
        const expiresAt = Date.now() + (expiresIn > 0 ? expiresIn * 1000 : 14 * 86_400_000);
        this.entries.set(k, { payload: structuredClone(payload), expiresAt });
        if (model === 'Session' && payload.uid) this.uids.set(payload.uid, k);
        if (payload.userCode) this.userCodes.set(payload.userCode, k);
        if (GRANTABLE.has(model) && payload.grantId) {
          const owned = this.byGrant.get(payload.grantId) ?? new Set<string>();
          owned.add(k);
          this.byGrant.set(payload.grantId, owned);
        }
      },
      find: async (id) => find(id),
      findByUid: async (uid) => {
        const k = this.uids.get(uid);
        return k ? this.live(k) : undefined;
      },
      findByUserCode: async (userCode) => {
        const k = this.userCodes.get(userCode);
        return k ? this.live(k) : undefined;
      },
      consume: async (id) => {
        const entry = this.entries.get(key(id));
        if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
      },
      destroy: async (id) => {
        this.remove(key(id));
      },
      revokeByGrantId: async (grantId) => {
        for (const k of this.byGrant.get(grantId) ?? []) this.remove(k);
        this.byGrant.delete(grantId);
      },
    };
  }

  private live(k: string): AdapterPayload | undefined {
    const entry = this.entries.get(k);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.remove(k);
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  private remove(k: string): void {
    const entry = this.entries.get(k);
    if (!entry) return;
    this.entries.delete(k);
    if (entry.payload.uid && this.uids.get(entry.payload.uid) === k) this.uids.delete(entry.payload.uid);
    if (entry.payload.userCode) this.userCodes.delete(entry.payload.userCode);
    if (entry.payload.grantId) this.byGrant.get(entry.payload.grantId)?.delete(k);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, entry] of this.entries) if (entry.expiresAt <= now) this.remove(k);
    for (const [grantId, owned] of this.byGrant) if (owned.size === 0) this.byGrant.delete(grantId);
  }
}

/** The adapter factory handed to oidc-provider. */
export function adapterFactory(artifacts: MemoryArtifacts, clients: AppClients): (model: string) => Adapter {
  return (model) => {
    if (model !== 'Client') return artifacts.adapter(model);
    return {
      find: async (id) => clients.metadata(id),
      upsert: async () => undefined,
      findByUid: async () => undefined,
      findByUserCode: async () => undefined,
      consume: async () => undefined,
      destroy: async () => undefined,
      revokeByGrantId: async () => undefined,
    };
  };
}
