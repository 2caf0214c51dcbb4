// Indexes must only narrow the candidates: an indexed store answers every filter exactly like an
// unindexed one (equality, $in, $all, ranges, prefixes, $elemMatch, $or, sorted and paged), and
// index-backed filters evaluate far fewer documents.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Filter, SearchIndex, SortKey } from '../store.js';
import { EmbeddedStore } from './embedded-store.js';

const dirs: string[] = [];
const stores: EmbeddedStore[] = [];

async function openStore(indexes?: Record<string, string[]>, uncounted = false): Promise<EmbeddedStore> {
  const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-index-'));
  dirs.push(dir);
  const store = new EmbeddedStore({ dataDir: dir, indexes, uncounted: () => uncounted });
  await store.init();
  stores.push(store);
  return store;
}

afterAll(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const N = 400;
const FAMILIES = ['smith', 'jones', 'brown', 'lee', 'garcia'];
const SYSTEMS = ['urn:mrn', 'urn:ssn', 'urn:state'];

function makeIndex(r: () => number, i: number): SearchIndex {
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const identifier = Array.from({ length: Math.floor(r() * 4) }, () => ({ system: pick(SYSTEMS), value: `v${Math.floor(r() * 20)}` }));
  const s: SearchIndex = {
    family: pick(FAMILIES),
    identifier,
    tags: Array.from({ length: Math.floor(r() * 3) }, () => pick(['a', 'b', 'c', 'd'])),
    nested: { a: { b: Math.floor(r() * 4) } },
    num: i % 10,
  };
  if (r() < 0.2) s.family = [pick(FAMILIES), pick(FAMILIES)];
  if (r() < 0.1) delete s.family;
  if (r() < 0.1) s.identifier = identifier[0] ?? null;
  return s;
}

// Each suite twice: indexes counted, and uncounted (estimates and "no entry" short cuts from the
// entries themselves).
describe.each([false, true])('embedded store ordered indexes (uncounted: %s)', (uncounted) => {
  let plain: EmbeddedStore;
  let indexed: EmbeddedStore;

  beforeAll(async () => {
    plain = await openStore();
    indexed = await openStore(
      {
        Patient: ['s.family', 's.identifier.system', 's.identifier.value', 's.tags', 's.nested.a.b', 's.num'],
        Immunization: ['s.patient'],
      },
      uncounted
    );
    const r = rng(42);
    const ops: { id: string; resource?: Resource; index?: SearchIndex }[] = [];
    for (let i = 0; i < N; i++) {
      const id = `p${String(i).padStart(4, '0')}`;
      ops.push({ id, resource: { resourceType: 'Patient', id } as Resource, index: makeIndex(r, i) });
    }
    // updates that move documents between index keys, deletes, and re-creates
    for (let i = 0; i < N; i += 3) ops.push({ id: `p${String(i).padStart(4, '0')}`, resource: { resourceType: 'Patient' } as Resource, index: makeIndex(r, i) });
    for (let i = 0; i < N; i += 7) ops.push({ id: `p${String(i).padStart(4, '0')}` });
    for (let i = 0; i < N; i += 14) ops.push({ id: `p${String(i).padStart(4, '0')}`, resource: { resourceType: 'Patient' } as Resource, index: makeIndex(r, i) });
    for (const store of [plain, indexed]) {
      for (const op of ops) await store.write({ resourceType: 'Patient', ifVersion: 'any', ...op });
    }
  });

  const filters: Filter[] = [
    { 's.family': 'smith' },
    { 's.family': { $eq: 'jones' } },
    { 's.family': { $in: ['lee', 'garcia'] } },
    { 's.family': { $in: ['nobody'] } },
    { 's.family': null },
    { 's.family': { $ne: 'smith' } },
    { 's.identifier': { $elemMatch: { system: 'urn:mrn', value: 'v3' } } },
    { 's.identifier': { $elemMatch: { system: { $eq: 'urn:ssn' }, value: { $in: ['v1', 'v2'] } } } },
    { 's.identifier': { $elemMatch: { value: { $regex: '^v1' }, system: 'urn:state' } } },
    { 's.identifier.value': 'v7' },
    { 's.identifier.system': { $in: ['urn:state'] } },
    { 's.identifier': { system: 'urn:mrn', value: 'v5' } },
    { 's.identifier': { value: 'v5', system: 'urn:mrn' } },
    { 's.tags': 'a' },
    { 's.tags': { $in: ['b', 'd'] } },
    { 's.tags': { $all: ['a', 'b'] } },
    { 's.nested.a.b': 2 },
    { 's.nested': { a: { b: 1 } } },
    { 's.nested.a': { b: 3 } },
    { 's.num': 4 },
    { 's.num': '4' },
    { 's.num': { $in: [1, 2] }, 's.family': 'brown' },
    { $and: [{ 's.family': 'smith' }, { 's.identifier.value': 'v2' }] },
    { $and: [{ 's.tags': 'c' }, { $or: [{ 's.num': 1 }, { 's.num': 2 }] }] },
    { $or: [{ 's.family': 'lee' }, { 's.tags': 'a' }] },
    { _id: { $in: ['p0001', 'p0002', 'p0007'] }, 's.family': { $exists: true } },
  ];

  it('answers every filter exactly like an unindexed store', async () => {
    for (const filter of filters) {
      const expected = (await plain.search('Patient', { filter, limit: 10_000, sort: [{ field: '_id', direction: 1 }] })).map((x) => x.id);
      const got = (await indexed.search('Patient', { filter, limit: 10_000, sort: [{ field: '_id', direction: 1 }] })).map((x) => x.id);
      expect(got, JSON.stringify(filter)).toEqual(expected);
      expect(await indexed.count('Patient', filter), JSON.stringify(filter)).toBe(expected.length);
    }
  });

  it('uses the index for equality, $in and $elemMatch, and scans for the rest', async () => {
    const selective: Filter[] = [
      { 's.identifier': { $elemMatch: { system: 'urn:mrn', value: 'v3' } } },
      { 's.identifier.value': 'v7' },
      { 's.nested.a.b': 2 },
      { $and: [{ 's.family': 'smith' }, { 's.identifier.value': 'v2' }] },
      { 's.num': { $in: [1, 2] }, 's.family': 'brown' },
    ];
    for (const filter of selective) {
      await indexed.count('Patient', filter);
      expect(indexed.lastScanned, JSON.stringify(filter)).toBeLessThan(N / 2);
      await plain.count('Patient', filter);
      expect(plain.lastScanned).toBe(N);
    }
    // an $or whose every branch is indexed walks the union of the branches
    await indexed.count('Patient', { $or: [{ 's.family': 'lee' }, { 's.tags': 'a' }] });
    expect(indexed.lastScanned).toBeLessThan(N);
    await indexed.count('Patient', { $or: [{ 's.family': 'lee' }, { 's.identifier': { system: 'urn:mrn', value: 'v1' } }] });
    expect(indexed.lastScanned).toBe(N);
    await indexed.count('Patient', { 's.family': null });
    expect(indexed.lastScanned).toBe(N);
  });

  it('patient-scoped queries touch only that patient', async () => {
    const tx = [];
    for (let i = 0; i < 2000; i++) {
      const id = `imm${i}`;
      tx.push({
        resourceType: 'Immunization',
        id,
        resource: { resourceType: 'Immunization', id } as Resource,
        ifVersion: 'absent' as const,
        index: { patient: `Patient/p${i % 200}`, date: `2024-01-${String((i % 28) + 1).padStart(2, '0')}` },
      });
    }
    await indexed.transact(tx);
    const hits = await indexed.search('Immunization', {
      filter: { 's.patient': 'Patient/p7', 's.date': { $gte: '2024-01-05' } },
      sort: [{ field: 's.date', direction: -1 }],
      limit: 100,
    });
    expect(indexed.lastScanned).toBe(10);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((h) => h.id && Number(h.id.slice(3)) % 200 === 7)).toBe(true);
    // _id lookups always use the primary map
    await indexed.count('Immunization', { _id: 'imm5' });
    expect(indexed.lastScanned).toBe(1);
    // the three listed ids are the candidates (the smaller side), checked against the patient index
    await indexed.count('Immunization', { $and: [{ _id: { $in: ['imm1', 'imm2', 'nope'] } }, { 's.patient': 'Patient/p1' }] });
    expect(indexed.lastScanned).toBe(3);
  });
});

describe.each([false, true])('embedded store ordered walks: ranges, prefixes, sorts and keyset pages (uncounted: %s)', (uncounted) => {
  let plain: EmbeddedStore;
  let indexed: EmbeddedStore;
  const M = 600;
  const FAMILY = ['smith', 'smithers', 'smyth', 'jones', 'johnson', 'lee', 'garcia', 'o brien'];

  beforeAll(async () => {
    plain = await openStore();
    const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-index-'));
    dirs.push(dir);
    // A low materialise limit so sorted searches take the streaming path on this small data set.
    indexed = new EmbeddedStore({
      dataDir: dir,
      materialiseLimit: 10,
      uncounted: () => uncounted,
      indexes: {
        Patient: ['s.family', 's.birthdate.lo', 's._sort.family', 's._sort.birthdate', 's.tags', 's.num', 's.tags+s.birthdate.lo', 's._sort.family+s._sort.birthdate'],
      },
    });
    await indexed.init();
    stores.push(indexed);
    const r = rng(7);
    const ops: { id: string; resource?: Resource; index?: SearchIndex }[] = [];
    for (let i = 0; i < M; i++) {
      const id = `q${String(Math.floor(r() * 1e6)).padStart(6, '0')}-${i}`;
      const family = FAMILY[Math.floor(r() * FAMILY.length)];
      // day, month or year precision: the widest span is a year
      const year = 2000 + Math.floor(r() * 20);
      const month = String(1 + Math.floor(r() * 12)).padStart(2, '0');
      const day = String(1 + Math.floor(r() * 28)).padStart(2, '0');
      const precision = r();
      const lo = `${year}-${precision < 0.1 ? '01' : month}-${precision < 0.2 ? '01' : day}T00:00:00.000Z`;
      const hi =
        precision < 0.1 ? `${year}-12-31T23:59:59.999Z` : precision < 0.2 ? `${year}-${month}-28T23:59:59.999Z` : `${year}-${month}-${day}T23:59:59.999Z`;
      const s: SearchIndex = { tags: [['a', 'b', 'c'][i % 3], ['x', 'y'][i % 2]], num: i % 17 };
      if (r() > 0.1) {
        s.family = [family, ...family.split(' ').slice(1)];
        (s as Record<string, unknown>)._sort = { family, ...(r() > 0.1 ? { birthdate: lo } : {}) };
      }
      if (r() > 0.05) s.birthdate = { lo, hi };
      ops.push({ id, resource: { resourceType: 'Patient', id } as Resource, index: s });
    }
    for (let i = 0; i < M; i += 11) ops.push({ id: ops[i].id }); // deletes
    for (const store of [plain, indexed]) {
      for (let i = 0; i < ops.length; i += 50) {
        await store.transact(ops.slice(i, i + 50).map((op) => ({ resourceType: 'Patient', ifVersion: 'any' as const, ...op })));
      }
    }
  });

  const filters: Filter[] = [
    {},
    { 's.family': { $regex: '^smi' } },
    { 's.family': { $regex: '^o b' } },
    { 's.family': { $regex: '^smith' }, 's.tags': 'x' },
    { 's.birthdate.lo': { $gte: '2005-01-01T00:00:00.000Z', $lt: '2007-01-01T00:00:00.000Z' } },
    // the compiled form of birthdate=2010-03 (eq), ge2010-03-05, and lt2003
    { $and: [{ 's.birthdate.lo': { $gte: '2010-03-01T00:00:00.000Z' } }, { 's.birthdate.hi': { $lte: '2010-03-31T23:59:59.999Z' } }] },
    {
      $or: [
        { 's.birthdate.hi': { $gt: '2010-03-05T23:59:59.999Z' } },
        { $and: [{ 's.birthdate.lo': { $gte: '2010-03-05T00:00:00.000Z' } }, { 's.birthdate.hi': { $lte: '2010-03-05T23:59:59.999Z' } }] },
      ],
    },
    { 's.birthdate.lo': { $lt: '2003-01-01T00:00:00.000Z' } },
    { 's.birthdate.hi': { $gte: '2019-06-01T00:00:00.000Z' } },
    { 's.num': { $gt: 3, $lte: 9 } },
    { 's.num': { $in: [1, 16] }, 's.family': { $regex: '^j' } },
    { 's.tags': { $all: ['a', 'y'] } },
    { $or: [{ 's.family': 'lee' }, { 's.num': 4 }] },
    // a compound index (tags, birthdate.lo): equality or $in on the first part, a range on the second
    { 's.tags': 'a', 's.birthdate.lo': { $gte: '2005-01-01T00:00:00.000Z', $lt: '2007-01-01T00:00:00.000Z' } },
    { 's.tags': { $in: ['b', 'y'] }, 's.birthdate.hi': { $gte: '2019-06-01T00:00:00.000Z' } },
    { $and: [{ 's.tags': 'c' }, { 's.birthdate.lo': { $gte: '2010-03-01T00:00:00.000Z' } }, { 's.birthdate.hi': { $lte: '2010-03-31T23:59:59.999Z' } }] },
  ];
  const sorts: SortKey[][] = [
    [{ field: '_id', direction: 1 }],
    [{ field: '_id', direction: -1 }],
    [
      { field: 's._sort.family', direction: 1 },
      { field: '_id', direction: 1 },
    ],
    [
      { field: 's._sort.birthdate', direction: -1 },
      { field: '_id', direction: -1 },
    ],
    [
      { field: 's._sort.family', direction: -1 },
      { field: 's._sort.birthdate', direction: 1 },
      { field: '_id', direction: 1 },
    ],
    // both keys of the compound (family, birthdate) in one direction: a walk of the compound index
    [
      { field: 's._sort.family', direction: 1 },
      { field: 's._sort.birthdate', direction: 1 },
      { field: '_id', direction: 1 },
    ],
    [
      { field: 's._sort.family', direction: -1 },
      { field: 's._sort.birthdate', direction: -1 },
      { field: '_id', direction: -1 },
    ],
    // lastUpdated ties within a transaction: an explicit tie-break (as src/search always adds)
    [
      { field: 'lastUpdated', direction: -1 },
      { field: '_id', direction: 1 },
    ],
  ];

  it('answers ranges, prefixes and sorted pages exactly like an unindexed store', async () => {
    for (const filter of filters) {
      expect(await indexed.count('Patient', filter), JSON.stringify(filter)).toBe(await plain.count('Patient', filter));
      for (const sort of sorts) {
        for (const [limit, skip] of [
          [1000, 0],
          [7, 0],
          [5, 12],
        ]) {
          const q = { filter, sort, limit, skip };
          const expected = (await plain.search('Patient', q)).map((x) => x.id);
          const got = (await indexed.search('Patient', q)).map((x) => x.id);
          expect(got, JSON.stringify(q)).toEqual(expected);
        }
      }
    }
  }, 120_000); // several hundred searches: slow on a loaded machine

  it('a compound index answers an equality with a range by one short walk per value', async () => {
    const filter: Filter = { 's.tags': 'a', 's.birthdate.lo': { $gte: '2005-01-01T00:00:00.000Z', $lt: '2005-07-01T00:00:00.000Z' } };
    const expected = await plain.search('Patient', { filter, limit: 1000 });
    const got = await indexed.search('Patient', { filter, limit: 1000 });
    expect(got.map((r) => r.id).sort()).toEqual(expected.map((r) => r.id).sort());
    expect(expected.length).toBeGreaterThan(0);
    // every candidate matched: neither the tag's entries (a third of all) nor the half year's
    expect(indexed.lastScanned).toBe(expected.length);
  });

  it('a compound of two sort keys streams a two-key sort without sorting the ties of the first key', async () => {
    // descending: documents without a family (one tie group of ~60 nulls) come last
    const sort: SortKey[] = [
      { field: 's._sort.family', direction: -1 },
      { field: 's._sort.birthdate', direction: -1 },
      { field: '_id', direction: -1 },
    ];
    const expected = await plain.search('Patient', { filter: {}, sort, limit: 20 });
    const got = await indexed.search('Patient', { filter: {}, sort, limit: 20 });
    expect(got.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    // a walk of the first key alone would read every document of the first family (~70) first
    expect(indexed.lastScanned).toBeLessThanOrEqual(22);
  });

  it('a count right after a search of the same filter is the total that search found, until the next write', async () => {
    const filter: Filter = { 's.tags': 'b', 's.num': { $lt: 5 } };
    const sort: SortKey[] = [{ field: '_id', direction: 1 }];
    const before = await plain.count('Patient', filter);
    await indexed.search('Patient', { filter, sort, limit: 5 });
    expect(await indexed.count('Patient', filter)).toBe(before);
    expect(await indexed.count('Patient', { 's.tags': { $regex: '^b' }, 's.num': { $lt: 5 } })).toBe(before);
    await indexed.write({ resourceType: 'Patient', id: 'counted-later', resource: { resourceType: 'Patient' } as Resource, index: { tags: ['b'], num: 1 } });
    expect(await indexed.count('Patient', filter)).toBe(before + 1);
    await indexed.write({ resourceType: 'Patient', id: 'counted-later' });
    expect(await indexed.count('Patient', filter)).toBe(before);
  });

  it('pages by keyset: each page seeks past the previous one instead of walking it again', async () => {
    const sort: SortKey[] = [
      { field: 's._sort.family', direction: 1 },
      { field: '_id', direction: 1 },
    ];
    const all = (await plain.search('Patient', { filter: {}, sort, limit: 10_000 })).map((r) => r.id);
    const sortKeys = new Map<string, string | null>();
    for await (const r of plain.scan('Patient', {})) sortKeys.set(r.id, null);
    // read the sort values back through a filter on each family (the test data knows them)
    for (const family of FAMILY) {
      for (const r of await plain.search('Patient', { filter: { 's._sort.family': family }, limit: 10_000 })) sortKeys.set(r.id, family);
    }
    const pages: string[] = [];
    let boundary: { family: string | null; id: string } | undefined;
    let scanned = 0;
    for (;;) {
      // the condition src/search/execute.ts builds: strictly after the boundary in (family, _id) order
      const filter: Filter = boundary
        ? boundary.family === null
          ? { $or: [{ 's._sort.family': { $ne: null } }, { $and: [{ 's._sort.family': null }, { _id: { $gt: boundary.id } }] }] }
          : { $or: [{ 's._sort.family': { $gt: boundary.family } }, { $and: [{ 's._sort.family': boundary.family }, { _id: { $gt: boundary.id } }] }] }
        : {};
      const page = await indexed.search('Patient', { filter, sort, limit: 25 });
      scanned += indexed.lastScanned;
      if (page.length === 0) break;
      pages.push(...page.map((r) => r.id));
      const last = page[page.length - 1].id;
      boundary = { family: sortKeys.get(last) ?? null, id: last };
    }
    expect(pages).toEqual(all);
    // every page walks from its boundary, not from the start (ties on a family value are re-read)
    expect(scanned).toBeLessThan(all.length * 4);
  });
});
