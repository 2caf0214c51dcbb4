// Short-lived records: the contract on the in-memory version and the embedded store, and the
// embedded store keeping them across a close and reopen (MongoDB runs the contract in
// mongo/mongo-store.test.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runExpiringContract } from './expiring-contract.js';
import { MemoryExpiringRecords } from './expiring.js';
import { EmbeddedStore } from './embedded/embedded-store.js';
import { StoreUnavailableError } from './store.js';

runExpiringContract('in memory', async () => ({
  records: (namespace) => {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(namespace)) throw new Error('bad namespace');
    return new MemoryExpiringRecords();
  },
  dispose: async () => undefined,
}));

runExpiringContract('embedded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'iis-expiring-'));
  const store = new EmbeddedStore({ dataDir: dir, indexes: {} });
  await store.init();
  return {
    records: (namespace) => store.expiringRecords(namespace),
    async dispose() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('short-lived records in the embedded store', () => {
  it('are on disk when put resolves: a reopened store has them (expired ones stay gone), and a closed store refuses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iis-expiring-'));
    try {
      const first = new EmbeddedStore({ dataDir: dir, indexes: {} });
      await first.init();
      const records = first.expiringRecords('signin');
      const later = Date.now() + 3_600_000;
      await records.put({ key: 'refresh', value: { scope: 'openid' }, expiresAt: later, lookups: { grant: 'g' } });
      await records.put({ key: 'code', value: { n: 1 }, expiresAt: later, lookups: { grant: 'g' } });
      await records.update('code', { consumed: 42 });
      await records.put({ key: 'stale', value: { n: 2 }, expiresAt: Date.now() + 50 });
      await first.close();
      await expect(records.get('refresh')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(records.put({ key: 'x', value: {}, expiresAt: later })).rejects.toBeInstanceOf(StoreUnavailableError);
      await new Promise((r) => setTimeout(r, 80));

      const second = new EmbeddedStore({ dataDir: dir, indexes: {} });
      await second.init();
      const again = second.expiringRecords('signin');
      expect(await again.get('refresh')).toEqual({ key: 'refresh', value: { scope: 'openid' }, expiresAt: later, lookups: { grant: 'g' } });
      expect((await again.get('code'))?.value).toEqual({ n: 1, consumed: 42 });
      expect(await again.get('stale')).toBeUndefined();
      expect(await again.sweep()).toBe(1);
      expect(await again.removeBy('grant', 'g')).toBe(2);
      // Resources are untouched by short-lived records (no versions, no history).
      expect(await second.history({ count: 10 })).toEqual([]);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
