// A search the index answers whole (`{path: v}` / `{path: {$in: [...]}}`, e.g. the matching
// engine's blocking queries on `s._m`), with or without `_id: {$nin}`, reads each match once as the
// record it returns: no document is decoded to test it first. Deleted, updated and excluded
// records, skip and limit behave as in every other search.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Patient, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EmbeddedStore } from './embedded-store.js';

describe('embedded store: searches the index answers whole read each match once', () => {
  let dir: string;
  let store: EmbeddedStore;
  const ids = Array.from({ length: 8 }, (_, i) => `p${i}-${randomUUID()}`);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-embedded-read-once-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s._m', 's.n'] } });
    await store.init();
    for (const [i, id] of ids.entries()) {
      const resource = { resourceType: 'Patient', id, name: [{ family: `F${i}` }] } as Resource;
      await store.write({ resourceType: 'Patient', id, resource, ifVersion: 'absent', index: { _m: [`k:${i % 2}`, 'k:all'], n: i } });
    }
    await store.write({ resourceType: 'Patient', id: ids[2], ifVersion: 'any' }); // deleted
    const updated = { resourceType: 'Patient', id: ids[4], name: [{ family: 'Updated' }] } as Resource;
    await store.write({ resourceType: 'Patient', id: ids[4], resource: updated, ifVersion: 'any', index: { _m: ['k:0', 'k:all'], n: 4 } });
  });

  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('returns the live current versions, without decoding a document to test them', async () => {
    const liveDoc = vi.spyOn(store, 'liveDoc');
    const records = await store.search('Patient', { filter: { 's._m': { $in: ['k:0', 'k:all'] } }, limit: 100 });
    expect(records.map((r) => r.id).sort()).toEqual(ids.filter((_, i) => i !== 2).sort());
    expect(records.every((r) => !r.deleted && r.resource?.id === r.id)).toBe(true);
    const four = records.find((r) => r.id === ids[4]);
    expect(four?.versionId).toBe(2);
    expect((four?.resource as Patient).name?.[0]?.family).toBe('Updated');

    const hidden = [ids[0], ids[6]];
    const visible = await store.search('Patient', { filter: { $and: [{ 's._m': 'k:0' }, { _id: { $nin: hidden } }] }, limit: 100 });
    expect(visible.map((r) => r.id).sort()).toEqual([ids[4]]);
    expect(liveDoc).not.toHaveBeenCalled();
    liveDoc.mockRestore();
  });

  it('keeps skip and limit', async () => {
    const all = (await store.search('Patient', { filter: { 's._m': 'k:all' }, limit: 100 })).map((r) => r.id);
    expect(all).toHaveLength(7);
    const page = (await store.search('Patient', { filter: { 's._m': 'k:all' }, limit: 3, skip: 2 })).map((r) => r.id);
    expect(page).toEqual(all.slice(2, 5));
    expect(store.lastScanned).toBe(5);
  });

  it('still evaluates a filter the index does not answer whole', async () => {
    const records = await store.search('Patient', { filter: { 's._m': 'k:1', 's.n': { $gte: 3 } }, limit: 100 });
    expect(records.map((r) => r.id).sort()).toEqual([ids[3], ids[5], ids[7]].sort());
  });
});
