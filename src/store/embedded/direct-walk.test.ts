// A search whose filter is one indexed value or an `$in` of values (the matching engine's blocking
// keys), with no sort, is answered by a direct walk of the index (`directWalk`) instead of the
// planned search. Its answers must be the planned search's exactly: the same records in the same
// order, with the same limit and skip, raw or parsed. The reference is the same filter wrapped in
// `$and` (the planner finds the same single condition but evaluates the filter on each document).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ResourceRecord } from '../store.js';
import { EmbeddedStore } from './embedded-store.js';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'none'];

// Counted indexes, and the same uncounted (the matching keys as the server keeps them: a value's
// entries are looked at instead of its counter).
describe.each([false, true])('embedded store: one indexed value or $in without a sort, walked directly (uncounted: %s)', (uncounted) => {
  let dir: string;
  let store: EmbeddedStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-embedded-direct-walk-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s._m', 's.n'] }, uncounted: () => uncounted });
    await store.init();
    // Multi-valued keys (a record met by several values of an $in is returned once), numbers,
    // updates that move a record between keys, and deletes (entries of deleted records are gone).
    for (let i = 0; i < 60; i++) {
      const id = `p${String(i).padStart(2, '0')}`;
      const keys = [KEYS[i % 6], KEYS[(i * 7) % 6], KEYS[(i * 5 + 1) % 6]];
      await store.write({ resourceType: 'Patient', id, resource: { resourceType: 'Patient', id, gender: 'unknown' } as Resource, ifVersion: 'absent', index: { _m: keys, n: i % 4 } });
    }
    for (let i = 0; i < 60; i += 7) {
      const id = `p${String(i).padStart(2, '0')}`;
      await store.write({ resourceType: 'Patient', id, resource: { resourceType: 'Patient', id, gender: 'male' } as Resource, ifVersion: 'any', index: { _m: [KEYS[(i + 2) % 6]], n: 9 } });
    }
    for (let i = 3; i < 60; i += 11) await store.write({ resourceType: 'Patient', id: `p${String(i).padStart(2, '0')}`, ifVersion: 'any' });
  });

  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const shape = (records: ResourceRecord[]) =>
    records.map((r) => ({ id: r.id, versionId: r.versionId, lastUpdated: r.lastUpdated, deleted: r.deleted, resource: r.resource ?? (r.json ? JSON.parse(r.json) : undefined) }));

  it('returns what the planned search returns (fast-check over values, $in lists, limits, skips, raw)', async () => {
    const value = fc.oneof(fc.constantFrom(...KEYS), fc.integer({ min: 0, max: 10 }));
    const filter = fc.oneof(
      value.map((v) => (typeof v === 'number' ? { 's.n': v } : { 's._m': v })),
      fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 5 }).map((vs) => ({ 's._m': { $in: vs } })),
      fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 4 }).map((vs) => ({ 's.n': { $in: vs } }))
    );
    await fc.assert(
      fc.asyncProperty(filter, fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 10 }), fc.boolean(), async (f, limit, skip, raw) => {
        const direct = await store.search('Patient', { filter: f, limit, skip, raw });
        const directScanned = store.lastScanned;
        const planned = await store.search('Patient', { filter: { $and: [f] }, limit, skip, raw });
        expect(shape(direct)).toEqual(shape(planned));
        expect(directScanned).toBe(store.lastScanned);
        expect(direct.every((r) => (raw ? typeof r.json === 'string' || r.resource !== undefined : r.resource !== undefined))).toBe(true);
      }),
      { numRuns: 300 }
    );
  });

  it('meets records through several values once, in the order of the $in values, without planning', async () => {
    const plan = vi.spyOn(store as unknown as { plan: () => unknown }, 'plan');
    const all = await store.search('Patient', { filter: { 's._m': { $in: ['k3', 'k0', 'k3'] } }, limit: 100 });
    const ids = all.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    const k3 = (await store.search('Patient', { filter: { 's._m': 'k3' }, limit: 100 })).map((r) => r.id);
    expect(ids.slice(0, k3.length)).toEqual(k3);
    expect(ids.length).toBeGreaterThan(k3.length);
    expect(plan).not.toHaveBeenCalled();
    await store.search('Patient', { filter: { $and: [{ 's._m': 'k3' }] }, limit: 100 });
    expect(plan).toHaveBeenCalledTimes(1);
    plan.mockRestore();
  });
});
