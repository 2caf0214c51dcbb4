// A read that stops early (a first page, history with a count) must close its lmdb walks: a walk
// left open keeps its read transaction, LMDB then reuses no page freed after it, and the data file
// grows by every page each later commit frees (a start-up `history(count: 1)` did that for the
// life of the server). Checked with LMDB's reader table after the reads and a few writes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from './embedded-store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Transaction ids that readers of this process still hold (LMDB's reader table; `-` is an idle slot). */
function heldSnapshots(store: EmbeddedStore): number[] {
  const env = (store as unknown as { env: { readerList(): string } }).env;
  return env
    .readerList()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length === 3 && /^\d+$/.test(cols[2]))
    .map((cols) => Number(cols[2]));
}

describe('embedded store read transactions', () => {
  it('reads that stop early hold no snapshot once later writes have committed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iis-read-txn-'));
    dirs.push(dir);
    const store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s.family', 's._sort.family'] } });
    await store.init();
    try {
      const patient = (id: string, family: string) =>
        ({ resourceType: 'Patient', id, resource: { resourceType: 'Patient', id } as Resource, index: { family: [family], _sort: { family } } });
      for (let i = 0; i < 5; i++) {
        await store.transact([patient(`p${i}`, i % 2 ? 'smith' : 'jones'), { ...patient(`o${i}`, 'x'), resourceType: 'Observation', resource: { resourceType: 'Observation', id: `o${i}` } as Resource }]);
      }
      // Reads that take the first of several: history (one type, and every type merged), sorted
      // and unsorted first pages, counts.
      expect(await store.history({ resourceType: 'Patient', count: 1 })).toHaveLength(1);
      expect(await store.history({ count: 1 })).toHaveLength(1);
      expect(await store.history({ resourceType: 'Patient', id: 'p1', count: 1 })).toHaveLength(1);
      expect(await store.search('Patient', { filter: { 's.family': 'smith' }, limit: 1 })).toHaveLength(1);
      expect(await store.search('Patient', { filter: {}, sort: [{ field: 's._sort.family', direction: 1 }], limit: 1 })).toHaveLength(1);
      expect(await store.search('Patient', { filter: {}, sort: [{ field: '_id', direction: -1 }], limit: 2 })).toHaveLength(2);
      expect(await store.count('Patient', { 's.family': 'jones' })).toBe(3);
      for await (const _ of store.scan('Patient', {}, { batchSize: 2 })) break;
      for (let i = 0; i < 3; i++) await store.write(patient(`q${i}`, 'lee'));
      await store.read('Patient', 'q0');
      const env = (store as unknown as { env: { getStats(): { lastTxnId: number } } }).env;
      const committed = env.getStats().lastTxnId;
      expect(committed).toBeGreaterThan(10);
      // At most the shared read transaction of the latest read remains: nothing from before the writes.
      expect(heldSnapshots(store).filter((txn) => txn < committed)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
