// Named locks in the `locks` collection, shared by every server process (race-safe conditional
// writes): taken by insert, renewed while held, taken over once expired (a crashed holder).
import { MongoServerError, type Collection } from 'mongodb';
import { StoreUnavailableError } from '../store.js';

export interface LockDoc {
  _id: string;
  owner: string;
  expiresAt: Date;
}

/** Prefix of the `locks` documents that claim a lock takeover or a roll-forward (insert-only claims). */
export const CLAIM_PREFIX = '~claim~';

export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && (err.code === 11000 || err.code === 11001);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Takes the lock document `key` for owner: by insert, or by taking over an expired one. Returns
 * the id of the takeover claim to delete on release, if any.
 */
export async function acquireLock(
locks: Collection<LockDoc>,
key: string,
owner: string,
timing: { ttlMs: number; waitMs: number }
): Promise<string | undefined> {
const giveUpAt = Date.now() + timing.waitMs;
  let wait = 5;
  for (;;) {
    try {
      await locks.insertOne({ _id: key, owner, expiresAt: new Date(Date.now() + timing.ttlMs) });
      return undefined;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const held = await locks.findOne({ _id: key });
    if (!held) continue; // released meanwhile: try again at once
    if (held.expiresAt.getTime() <= Date.now()) {
      // Expired (holder crashed). One waiter per period takes over this incarnation (owner +
      // expiry): it claims it with an insert, which is atomic everywhere, unlike a conditional
      // update on FerretDB. The conditional update then moves the lock to the new owner. The
      // period in the claim lets another waiter try again if that claimant crashed in turn.
      const period = Math.floor(Date.now() / Math.max(timing.ttlMs, 100));
      const claim = `${CLAIM_PREFIX}takeover~${key}~${held.owner}~${held.expiresAt.getTime()}~${period}`;
      let claimed = false;
      try {
        await locks.insertOne({ _id: claim, owner, expiresAt: new Date(Date.now() + timing.ttlMs) });
        claimed = true;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      if (claimed) {
        const res = await locks.updateOne(
          { _id: key, owner: held.owner, expiresAt: held.expiresAt },
          { $set: { owner, expiresAt: new Date(Date.now() + timing.ttlMs) } }
        );
        if (res.matchedCount === 1) return claim;
        await locks.deleteOne({ _id: claim, owner }); // released or renewed meanwhile
        continue;
      }
    }
    if (Date.now() >= giveUpAt) {
      throw new StoreUnavailableError(`lock "${key}" still busy after ${timing.waitMs} ms`);
    }
    await sleep(wait / 2 + Math.random() * wait);
    wait = Math.min(wait * 1.5, 100);
  }
}
