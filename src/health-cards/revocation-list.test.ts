// Card Revocation Lists: the entry rules (pure), and the lists kept in both stores alike (embedded;
// MongoDB when TEST_MONGODB_URL is set): initial ctr 1, each change bumps ctr, a repeated or
// weaker revoke changes nothing, racing revokes all land, a reopened store still has them.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import type { Store } from '../store/store.js';
import { CRL_TYPE, emptyList, RevocationLists, revokedBefore, ridOf, withRevocation } from './revocation-list.js';

const KID_A = 'A'.repeat(43);
const KID_B = 'B'.repeat(43);

describe('revocation list entries', () => {
  it('starts at ctr 1 with no rids; adding a rid with its time bumps ctr', () => {
    const empty = emptyList(KID_A);
    expect(empty).toEqual({ kid: KID_A, method: 'rid', ctr: 1, rids: [] });
    const once = withRevocation(empty, 'abcdefghijk', 1_700_000_000);
    expect(once).toEqual({ list: { ...empty, ctr: 2, rids: ['abcdefghijk.1700000000'] }, entry: 'abcdefghijk.1700000000', changed: true });
  });

  it('keeps one entry per rid with the later time; an earlier or equal time, or a bare rid, changes nothing', () => {
    let list = withRevocation(emptyList(KID_A), 'r1', 100).list;
    list = withRevocation(list, 'r2', 100).list;
    const later = withRevocation(list, 'r1', 200);
    expect(later.changed).toBe(true);
    expect(later.list.rids).toEqual(['r1.200', 'r2.100']);
    expect(later.list.ctr).toBe(list.ctr + 1);
    expect(withRevocation(later.list, 'r1', 150)).toEqual({ list: later.list, entry: 'r1.200', changed: false });
    expect(withRevocation(later.list, 'r1', 200).changed).toBe(false);
    const bare = { ...emptyList(KID_A), rids: ['r3'] };
    expect(withRevocation(bare, 'r3', 999)).toEqual({ list: bare, entry: 'r3', changed: false });
  });

  it('reads entries as the spec writes them', () => {
    expect(ridOf('lHKzqFUMjhs.1636977600')).toBe('lHKzqFUMjhs');
    expect(revokedBefore('lHKzqFUMjhs.1636977600')).toBe(1636977600);
    expect(ridOf('AQPCj4wwk6Mt')).toBe('AQPCj4wwk6Mt');
    expect(revokedBefore('AQPCj4wwk6Mt')).toBe(Infinity);
  });
});

function storeSuite(kind: string, open: () => Promise<{ store: Store; reopen: () => Promise<Store>; dispose: () => Promise<void> }>): void {
  describe(`revocation lists in the ${kind} store`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterAll(async () => {
      for (const c of cleanups) await c();
    });

    it('publishes ctr 1 and nothing before any revoke; each revoke is stored and bumps ctr; a reopened store keeps it', async () => {
      const { store, reopen, dispose } = await open();
      cleanups.push(dispose);
      const lists = new RevocationLists(store);
      expect(await lists.list(KID_A)).toEqual(emptyList(KID_A));
      expect(await lists.versions([KID_A, KID_B])).toEqual(new Map([[KID_A, 1], [KID_B, 1]]));

      const first = await lists.revoke([{ kid: KID_A, rid: 'ridA' }, { kid: KID_B, rid: 'ridB' }], 1_800_000_000);
      expect(first.map((r) => [r.kid, r.entry, r.ctr, r.changed])).toEqual([
        [KID_A, 'ridA.1800000000', 2, true],
        [KID_B, 'ridB.1800000000', 2, true],
      ]);
      expect(await lists.list(KID_A)).toEqual({ kid: KID_A, method: 'rid', ctr: 2, rids: ['ridA.1800000000'] });
      expect(await lists.revokedUntil(KID_A, 'ridA')).toBe(1_800_000_000);
      expect(await lists.revokedUntil(KID_A, 'other')).toBeUndefined();

      const again = await lists.revoke([{ kid: KID_A, rid: 'ridA' }], 1_700_000_000);
      expect(again[0]).toMatchObject({ changed: false, ctr: 2, entry: 'ridA.1800000000' });
      const third = await lists.revoke([{ kid: KID_A, rid: 'ridC' }], 1_800_000_001);
      expect(third[0]).toMatchObject({ changed: true, ctr: 3 });

      const reopened = await reopen();
      const after = new RevocationLists(reopened);
      expect(await after.list(KID_A)).toEqual({ kid: KID_A, method: 'rid', ctr: 3, rids: ['ridA.1800000000', 'ridC.1800000001'] });
      expect(await after.versions([KID_A, KID_B])).toEqual(new Map([[KID_A, 3], [KID_B, 2]]));
      // Internal records: no FHIR type sees them in system history.
      expect((await reopened.history({ resourceTypes: ['Patient'], count: 10 })).some((r) => r.resourceType === CRL_TYPE)).toBe(false);
    });

    it('racing revokes all land, each with its own ctr step', async () => {
      const { store, dispose } = await open();
      cleanups.push(dispose);
      const lists = new RevocationLists(store);
      const rids = Array.from({ length: 6 }, (_, i) => `race${i}`);
      await Promise.all(rids.map((rid) => lists.revoke([{ kid: KID_A, rid }, { kid: KID_B, rid }], 1_800_000_000)));
      for (const kid of [KID_A, KID_B]) {
        const list = await lists.list(kid);
        expect([...list.rids].sort()).toEqual(rids.map((r) => `${r}.1800000000`));
        expect(list.ctr).toBe(1 + rids.length);
      }
    });
  });
}

storeSuite('embedded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'iis-crl-'));
  let store: Store = new EmbeddedStore({ dataDir: dir, indexes: {} });
  await store.init();
  return {
    store,
    reopen: async () => {
      await store.close();
      store = new EmbeddedStore({ dataDir: dir, indexes: {} });
      await store.init();
      return store;
    },
    dispose: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const mongoUrl = process.env.TEST_MONGODB_URL;
if (mongoUrl) {
  storeSuite('MongoDB', async () => {
    const { MongoStore } = await import('../store/mongo/mongo-store.js');
    const url = new URL(mongoUrl);
    url.pathname = `/iis_crl_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    let store: Store = new MongoStore({ url: url.toString(), serverSelectionTimeoutMS: 5_000 });
    await store.init();
    return {
      store,
      reopen: async () => {
        await store.close();
        store = new MongoStore({ url: url.toString(), serverSelectionTimeoutMS: 5_000 });
        await store.init();
        return store;
      },
      dispose: async () => {
        await store.close();
        const { MongoClient } = await import('mongodb');
        const client = new MongoClient(url.toString(), { serverSelectionTimeoutMS: 3000 });
        try {
          await client.db().dropDatabase();
        } finally {
          await client.close();
        }
      },
    };
  });
} else {
  describe('revocation lists in the MongoDB store', () => {
    it.skip('needs TEST_MONGODB_URL', () => undefined);
  });
}
