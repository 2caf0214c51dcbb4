// `_id: {$nin: [...]}` (an organization's hidden patients, ANDed onto its searches by the
// caller-scoped store) is checked as a Set on the id, outside mingo; results and counts stay exact.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStore, splitIdExclusions } from './embedded-store.js';

describe('splitIdExclusions', () => {
  it('takes $nin on _id out of the top level and of a top-level $and; leaves everything else', () => {
    expect(splitIdExclusions({ _id: { $nin: ['a', 'b'] } })).toEqual({ rest: {}, excludedIds: new Set(['a', 'b']) });
    expect(splitIdExclusions({ $and: [{ 's.tag': 't' }, { _id: { $nin: ['a'] } }] })).toEqual({ rest: { 's.tag': 't' }, excludedIds: new Set(['a']) });
    expect(splitIdExclusions({ $and: [{ 's.tag': 't' }, { 's.n': 1 }, { _id: { $nin: ['a'] } }, { _id: { $nin: ['b'] } }] })).toEqual({
      rest: { $and: [{ 's.tag': 't' }, { 's.n': 1 }] },
      excludedIds: new Set(['a', 'b']),
    });
    expect(splitIdExclusions({ 's.tag': 't', $and: [{ _id: { $nin: ['a'] } }, { 's.n': 1 }] })).toEqual({
      rest: { 's.tag': 't', $and: [{ 's.n': 1 }] },
      excludedIds: new Set(['a']),
    });
    for (const untouched of [{ 's.tag': 't' }, { _id: { $nin: ['a'], $ne: 'b' } }, { _id: { $in: ['a'] } }, { $and: [{ _id: { $nin: ['a'] }, 's.n': 1 }] }, { $or: [{ _id: { $nin: ['a'] } }] }]) {
      expect(splitIdExclusions(untouched)).toEqual({ rest: untouched, excludedIds: undefined });
    }
  });
});

describe('splitIdExclusions of a frozen list (an organization\'s hidden patients, one list per data-sharing snapshot)', () => {
  it('makes its Set once and gives the same one to every later search; a list that can change gets a Set of its own each time', () => {
    const hidden = Object.freeze(['a', 'b']);
    const first = splitIdExclusions({ $and: [{ 's.tag': 't' }, { _id: { $nin: hidden } }] });
    const second = splitIdExclusions({ _id: { $nin: hidden } });
    expect(first).toEqual({ rest: { 's.tag': 't' }, excludedIds: new Set(['a', 'b']) });
    expect(second.excludedIds).toBe(first.excludedIds);
    // Two lists at once: their union, made for this filter (the frozen list's Set is left as it is).
    expect(splitIdExclusions({ $and: [{ _id: { $nin: hidden } }, { _id: { $nin: ['c'] } }] }).excludedIds).toEqual(new Set(['a', 'b', 'c']));
    expect(first.excludedIds).toEqual(new Set(['a', 'b']));
    const open = ['a'];
    const before = splitIdExclusions({ _id: { $nin: open } }).excludedIds;
    open.push('c');
    const after = splitIdExclusions({ _id: { $nin: open } }).excludedIds;
    expect(after).toEqual(new Set(['a', 'c']));
    expect(after).not.toBe(before);
    // A frozen list that is not all strings stays in the filter, as before.
    const odd = Object.freeze(['a', 1]);
    expect(splitIdExclusions({ _id: { $nin: odd } })).toEqual({ rest: { _id: { $nin: odd } }, excludedIds: undefined });
  });
});

describe('embedded store: searches and counts with ids excluded', () => {
  let dir: string;
  let store: EmbeddedStore;
  const tag = 'exclusions';
  const ids = Array.from({ length: 12 }, () => randomUUID());

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-embedded-exclusions-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s.tag', 's.n'] } });
    await store.init();
    for (const [i, id] of ids.entries()) {
      const resource = { resourceType: 'Patient', id, name: [{ family: `F${i}` }] } as Resource;
      await store.write({ resourceType: 'Patient', id, resource, ifVersion: 'absent', index: { tag, n: i % 3 } });
    }
  });

  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const found = async (filter: Record<string, unknown>) => (await store.search('Patient', { filter, limit: 100 })).map((r) => r.id).sort();
  const expected = (keep: (i: number) => boolean) => ids.filter((_, i) => keep(i)).sort();

  it('leaves the excluded ids out of search and count, alone, with an exact index condition, and with others', async () => {
    const hidden = [ids[0], ids[3], ids[4], randomUUID()];
    const notHidden = (i: number) => ![0, 3, 4].includes(i);
    expect(await found({ $and: [{ 's.tag': tag }, { _id: { $nin: hidden } }] })).toEqual(expected(notHidden));
    expect(await store.count('Patient', { $and: [{ 's.tag': tag }, { _id: { $nin: hidden } }] })).toBe(9);
    expect(await found({ $and: [{ 's.n': 0 }, { _id: { $nin: hidden } }] })).toEqual(expected((i) => i % 3 === 0 && notHidden(i)));
    expect(await store.count('Patient', { $and: [{ 's.n': 0 }, { _id: { $nin: hidden } }] })).toBe(2);
    expect(await found({ $and: [{ 's.tag': tag }, { 's.n': { $in: [1, 2] } }, { _id: { $nin: hidden } }, { _id: { $nin: [ids[5]] } }] })).toEqual(
      expected((i) => i % 3 !== 0 && notHidden(i) && i !== 5)
    );
    expect(await found({ _id: { $nin: hidden } })).toEqual(expected(notHidden));
    expect(await store.count('Patient', { _id: { $nin: ids } })).toBe(0);
  });
});
