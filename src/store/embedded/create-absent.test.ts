// A single create of an absent id (ifVersion 'absent': every AuditEvent) takes lmdb's conditional
// asynchronous puts (record compressed off the request thread) plus a counters callback in the same
// transaction. It must leave exactly what the regular write path leaves: records, history, index
// entries, per-value counts, live counts, the several-values flag, and the same conflicts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { VersionConflictError, type SearchIndex, type WriteOp } from '../store.js';
import { EmbeddedStore } from './embedded-store.js';

const INDEXES = { Patient: ['s.family', 's.tags', 's.birthdate.lo', 's._sort.family'] };
const FAMILIES = ['smith', 'jones', 'brown'];
const TAGS = ['a', 'b', 'c'];
const dirs: string[] = [];
const open: EmbeddedStore[] = [];

afterAll(async () => {
  for (const s of open) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openStore(dir?: string): Promise<EmbeddedStore> {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'iis-embedded-absent-')));
  if (!dir) dirs.push(dataDir);
  const store = new EmbeddedStore({ dataDir, indexes: INDEXES });
  await store.init();
  open.push(store);
  return store;
}

function op(i: number, ifVersion: WriteOp['ifVersion'] = 'absent'): WriteOp {
  const family = FAMILIES[i % 3];
  const tags = i % 4 === 0 ? [TAGS[i % 3], TAGS[(i + 1) % 3]] : [TAGS[i % 3]];
  const birthDate = `20${10 + (i % 10)}-01-0${1 + (i % 9)}`;
  const resource: Patient = { resourceType: 'Patient', name: [{ family }], birthDate };
  const index: SearchIndex = {
    family: [family],
    tags,
    birthdate: { lo: `${birthDate}T00:00:00.000Z`, hi: `${birthDate}T23:59:59.999Z` },
    _sort: { family },
  };
  return { resourceType: 'Patient', id: `p-${i}`, resource, ifVersion, index };
}

/** What a store holds, independent of the instants it was written at. */
async function snapshot(store: EmbeddedStore) {
  const counts: Record<string, number> = { all: await store.count('Patient', {}) };
  for (const f of FAMILIES) counts[`family ${f}`] = await store.count('Patient', { 's.family': f });
  for (const t of TAGS) counts[`tag ${t}`] = await store.count('Patient', { 's.tags': t });
  counts['two tags'] = await store.count('Patient', { 's.tags': { $all: ['a', 'b'] } });
  counts['born 2012+'] = await store.count('Patient', { 's.birthdate.lo': { $gte: '2012-01-01T00:00:00.000Z' } });
  const sorted = await store.search('Patient', { filter: { 's.tags': 'a' }, sort: [{ field: 's._sort.family', direction: 1 }, { field: '_id', direction: 1 }], limit: 1000 });
  const history = await store.history({ resourceType: 'Patient', count: 1000 });
  return {
    counts,
    sorted: sorted.map((r) => `${r.id}@${r.versionId}`),
    history: history.map((r) => `${r.id}@${r.versionId}${r.deleted ? ' deleted' : ''}`).sort(),
  };
}

describe('embedded store: creates of absent ids', () => {
  it('leave exactly what the regular write path leaves, also with regular writes in the same event turn', async () => {
    const fast = await openStore();
    const regular = await openStore();
    const ids = Array.from({ length: 60 }, (_, i) => i);
    // Same turn: absent creates interleaved with ordinary writes (which run as transaction callbacks).
    await Promise.all(ids.map((i) => (i % 5 === 0 ? fast.write(op(i, 'any')) : fast.write(op(i)))));
    await Promise.all(ids.map((i) => regular.transact([op(i, i % 5 === 0 ? 'any' : 'absent')])));
    // A delete, then a create of the deleted id (the regular path decides: version 3).
    for (const store of [fast, regular]) {
      await store.write({ resourceType: 'Patient', id: 'p-1' });
      const again = await store.write(op(1));
      expect(again.versionId).toBe(3);
    }
    const expected = await snapshot(regular);
    expect(await snapshot(fast)).toEqual(expected);
    expect(expected.counts.all).toBe(60);
    expect(expected.counts['family smith']).toBe(20);
    expect(expected.counts['two tags']).toBeGreaterThan(0);
  });

  it('refuses an id that is live, changing nothing', async () => {
    const store = await openStore();
    const first = await store.write(op(7));
    expect(first.versionId).toBe(1);
    const before = await snapshot(store);
    const other = op(8);
    await expect(store.write({ ...other, id: 'p-7' })).rejects.toBeInstanceOf(VersionConflictError);
    expect(await snapshot(store)).toEqual(before);
    expect((await store.read('Patient', 'p-7'))?.resource).toEqual(first.resource);
  });

  it('returns the stored record and keeps everything across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-absent-'));
    dirs.push(dir);
    const store = new EmbeddedStore({ dataDir: dir, indexes: INDEXES });
    await store.init();
    const records = await Promise.all(Array.from({ length: 20 }, (_, i) => store.write(op(i))));
    for (const rec of records) {
      expect(rec.versionId).toBe(1);
      expect(rec.resource?.meta).toEqual({ versionId: '1', lastUpdated: rec.lastUpdated });
      expect(await store.read('Patient', rec.id)).toEqual(rec);
    }
    const before = await snapshot(store);
    await store.close();
    const reopened = await openStore(dir);
    expect(await snapshot(reopened)).toEqual(before);
    expect(before.counts.all).toBe(20);
  });
});
