// The Card Revocation Lists (SMART Health Cards "Revocation"), one per issuer key: what
// GET /.well-known/crl/{kid}.json publishes ({ kid, method: "rid", ctr, rids }) and what the key's
// `crlVersion` in jwks.json repeats (ctr). Kept in the data store as documents of the internal type
// HealthCardRevocationList (id = kid; never served over REST, not a FHIR type: no read, search,
// history or export reaches them), so every server process sharing the store publishes the same
// list, and a revoke is acknowledged only once the store has it on disk (embedded: fsync before the
// commit resolves; MongoDB: the write concern), as every other write of the server.
// Each update is a versioned write conditional on the version read, retried on a race, so two
// revokes at once both land and each bumps ctr.
import { VersionConflictError, type Store, type WriteOp } from '../store/store.js';

export const CRL_TYPE = 'HealthCardRevocationList';
const MAX_ATTEMPTS = 8;

export interface CardRevocationList {
  kid: string;
  method: 'rid';
  /** Times the list was updated; 1 for the list with nothing in it yet (the spec's initial value). */
  ctr: number;
  /** `rid` (every card with it) or `rid.<seconds>` (cards with it whose nbf is before that time). */
  rids: string[];
}

/** One rid to revoke in the list of one key. */
export interface Revocation {
  kid: string;
  rid: string;
}

export interface RevokeResult {
  kid: string;
  rid: string;
  /** The list's entry for the rid after the revoke (`rid.<seconds>`, or a bare rid revoked for good). */
  entry: string;
  ctr: number;
  /** False when the list already revoked at least as much (nothing written, ctr unchanged). */
  changed: boolean;
}

export function emptyList(kid: string): CardRevocationList {
  return { kid, method: 'rid', ctr: 1, rids: [] };
}

/**
 * The list after revoking `rid` for cards issued before `before` (seconds): one entry per rid,
 * keeping the later time (a verifier may stop at the first entry with the rid it looks for).
 * A bare rid already revokes every card; an entry with a later time already covers this one.
 */
export function withRevocation(list: CardRevocationList, rid: string, before: number): { list: CardRevocationList; entry: string; changed: boolean } {
  const at = list.rids.findIndex((e) => ridOf(e) === rid);
  const entry = `${rid}.${before}`;
  if (at < 0) return { list: { ...list, ctr: list.ctr + 1, rids: [...list.rids, entry] }, entry, changed: true };
  const current = list.rids[at];
  const until = revokedBefore(current);
  if (until >= before) return { list, entry: current, changed: false };
  const rids = [...list.rids];
  rids[at] = entry;
  return { list: { ...list, ctr: list.ctr + 1, rids }, entry, changed: true };
}

/** The rid of a list entry (without its `.timestamp`). */
export function ridOf(entry: string): string {
  const dot = entry.indexOf('.');
  return dot < 0 ? entry : entry.slice(0, dot);
}

/** Cards with the entry's rid and an nbf before this (seconds) are revoked; Infinity: all of them. */
export function revokedBefore(entry: string): number {
  const dot = entry.indexOf('.');
  return dot < 0 ? Infinity : Number(entry.slice(dot + 1));
}

export class RevocationLists {
  constructor(private readonly store: Store) {}

  /** The list of one key as published (ctr 1 and no rids when nothing was ever revoked). */
  async list(kid: string): Promise<CardRevocationList> {
    return (await this.load(kid)).list;
  }

  /** ctr of each key's list: the `crlVersion` jwks.json publishes. */
  async versions(kids: readonly string[]): Promise<Map<string, number>> {
    const lists = await Promise.all(kids.map((kid) => this.list(kid)));
    return new Map(lists.map((l) => [l.kid, l.ctr]));
  }

  /** Until when (seconds; Infinity for always) cards with this rid signed by kid are revoked, or undefined. */
  async revokedUntil(kid: string, rid: string): Promise<number | undefined> {
    const entry = (await this.list(kid)).rids.find((e) => ridOf(e) === rid);
    return entry === undefined ? undefined : revokedBefore(entry);
  }

  /**
   * Revokes each rid in its key's list for cards issued before `before` (seconds since the epoch).
   * Resolves once every changed list is stored durably; all lists change at once where the store
   * has transactions (else one after the other: a retried revoke completes the rest, as it is
   * idempotent).
   */
  async revoke(revocations: readonly Revocation[], before: number): Promise<RevokeResult[]> {
    for (let attempt = 1; ; attempt++) {
      const loaded = await Promise.all(revocations.map((r) => this.load(r.kid)));
      const results: RevokeResult[] = [];
      const writes: WriteOp[] = [];
      revocations.forEach((r, i) => {
        const next = withRevocation(loaded[i].list, r.rid, before);
        results.push({ kid: r.kid, rid: r.rid, entry: next.entry, ctr: next.list.ctr, changed: next.changed });
        if (next.changed) {
          writes.push({
            resourceType: CRL_TYPE,
            id: r.kid,
            resource: { resourceType: CRL_TYPE, id: r.kid, ...next.list } as never,
            ifVersion: loaded[i].versionId ?? 'absent',
            index: {},
          });
        }
      });
      try {
        if (writes.length > 1 && this.store.supportsTransactions) await this.store.transact(writes);
        else for (const op of writes) await this.store.write(op);
        return results;
      } catch (err) {
        // Another revoke changed a list since it was read: read again and redo (nothing is lost).
        if (!(err instanceof VersionConflictError) || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }

  private async load(kid: string): Promise<{ list: CardRevocationList; versionId?: number }> {
    const record = await this.store.read(CRL_TYPE, kid);
    if (!record || record.deleted || !record.resource) return { list: emptyList(kid) };
    const stored = record.resource as unknown as Partial<CardRevocationList>;
    return {
      list: { kid, method: 'rid', ctr: Number(stored.ctr) || 1, rids: Array.isArray(stored.rids) ? stored.rids.filter((e) => typeof e === 'string') : [] },
      versionId: record.versionId,
    };
  }
}
