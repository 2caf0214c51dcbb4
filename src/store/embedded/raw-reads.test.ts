// Matching's blocking queries (raw searches walked directly, `directWalk`) keep the records they read
// while no write of the record came since (embedded-store.ts `liveRawRecord`): a record met again by
// another key of the same new child, or by a later child's keys, is not read and decoded twice.
// Checked against the planned
// search of the same filter (`{$and: [filter]}`, which reads every record itself), in the same
// synchronous step (one snapshot), over random groups of concurrent creates, updates that move a
// record between keys or change it, deletes and refused writes, read while the writes are in flight
// and after they settle, each check twice (the second meets the records kept by the first).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Filter, ResourceRecord } from '../store.js';
import { groupWriteOp, runConcurrentGroups } from './concurrent-writes.fixture.js';
import { EmbeddedStore } from './embedded-store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const IDS = ['a', 'b', 'c', 'd'];
const KEYS = ['k1', 'k2', 'k3'];
const FILTERS: Filter[] = [{ 's._m': 'k1' }, { 's._m': 'k2' }, { 's._m': { $in: ['k3', 'k1'] } }, { 's._m': { $in: ['k2', 'k3', 'none'] } }];

interface Write {
  id: string;
  remove: boolean;
  absent: boolean;
  keys: string[];
  note: string;
  /** A verify-only op at this version (WriteOp.verifyOnly): writes nothing, so the records kept stay valid. */
  verify?: number;
}

const writeArb: fc.Arbitrary<Write> = fc.record({
  id: fc.constantFrom(...IDS),
  remove: fc.boolean(),
  absent: fc.boolean(),
  keys: fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 2 }),
  note: fc.string({ maxLength: 4 }),
  verify: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
});

// The planned search of `{$and: [filter]}` evaluates the filter on documents and returns parsed records.
const summary = (records: ResourceRecord[]) =>
  records.map((r) => ({ id: r.id, versionId: r.versionId, lastUpdated: r.lastUpdated, deleted: r.deleted, resource: r.resource ?? (r.json === undefined ? undefined : JSON.parse(r.json)) }));

describe('embedded store: raw records kept between writes of the record', () => {
  it('are those the planned search reads, during and after concurrent writes (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(writeArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }), async (groups) => {
        const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-raw-reads-'));
        dirs.push(dir);
        const store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s._m'] } });
        await store.init();
        const check = async () => {
          for (let twice = 0; twice < 2; twice++) {
            for (const filter of FILTERS) {
              // Both searches in the same synchronous step: the same snapshot.
              const fast = store.search('Patient', { filter, limit: 10, raw: true });
              const planned = store.search('Patient', { filter: { $and: [filter] }, limit: 10, raw: true });
              const [f, p] = [await fast, await planned];
              expect(summary(f)).toEqual(summary(p));
              expect(f.every((r) => typeof r.json === 'string' && r.resource === undefined)).toBe(true);
              // Each call's records are its own objects.
              for (const r of f) r.resource = { resourceType: 'Patient', id: 'changed by a caller' } as Resource;
            }
          }
        };
        try {
          await runConcurrentGroups(store, groups, (w) => groupWriteOp({ ...w, type: 'Patient' }, { index: { _m: w.keys } }), check);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 }
    );
  });

  it('are read again after a write of the record, not after writes of other records', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-raw-reads-'));
    dirs.push(dir);
    const store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s._m'] } });
    await store.init();
    const write = (id: string, note: string, keys: string[]) =>
      store.write({ resourceType: 'Patient', id, resource: { resourceType: 'Patient', id, text: { status: 'generated', div: note } } as unknown as Resource, index: { _m: keys } });
    const reads = vi.spyOn(store as unknown as { liveRecord: () => unknown }, 'liveRecord');
    const texts = async () => (await store.search('Patient', { filter: { 's._m': 'k1' }, limit: 10, raw: true })).map((r) => r.json);
    try {
      await write('a', 'first', ['k1']);
      await write('b', 'first', ['k1']);
      const first = await texts();
      expect(reads).toHaveBeenCalledTimes(2);
      await write('c', 'other', ['k2']); // another record of the type
      expect(await texts()).toEqual(first);
      expect(reads).toHaveBeenCalledTimes(2);
      await write('a', 'second', ['k1']);
      const after = await texts();
      expect(reads).toHaveBeenCalledTimes(3);
      expect(after.map((t) => (JSON.parse(t as string) as { text: { div: string } }).text.div)).toEqual(['second', 'first']);
    } finally {
      reads.mockRestore();
      await store.close();
    }
  });
});
