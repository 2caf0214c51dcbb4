// The shared behaviour contract both stores (embedded, MongoDB) must prove. Each store's test file
// calls runStoreContract with a factory. Every test uses fresh random ids and a per-run tag in the
// search index, so the suite can run against a shared (non-empty) database.
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  StoreUnavailableError,
  TransactionsUnsupportedError,
  VersionConflictError,
  type HistoryCursor,
  type HistoryQuery,
  type ResourceRecord,
  type SearchIndex,
  type Store,
  type WriteOp,
} from './store.js';

const ISO_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function patient(id: string, family: string, extra: Record<string, unknown> = {}): Resource {
  return { resourceType: 'Patient', id, name: [{ family }], ...extra } as Resource;
}

function obs(id: string, value: number): Resource {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { text: 'contract' },
    valueQuantity: { value },
  } as Resource;
}

function imm(id: string, lot: string): Resource {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    vaccineCode: { text: 'contract' },
    patient: { reference: 'Patient/x' },
    occurrenceDateTime: '2024-01-01',
    lotNumber: lot,
  } as Resource;
}

/** Compares two history entries in the HistoryCursor order: negative when a comes first (newer). */
function historyOrder(a: HistoryCursor, b: HistoryCursor): number {
  if (a.lastUpdated !== b.lastUpdated) return a.lastUpdated > b.lastUpdated ? -1 : 1;
  if (a.resourceType !== b.resourceType) return a.resourceType > b.resourceType ? -1 : 1;
  if (a.id !== b.id) return a.id > b.id ? -1 : 1;
  return b.versionId - a.versionId;
}

function cursorOf(r: ResourceRecord): HistoryCursor {
  return { lastUpdated: r.lastUpdated, resourceType: r.resourceType, id: r.id, versionId: r.versionId };
}

const keyOf = (r: ResourceRecord) => `${r.resourceType}/${r.id}/_history/${r.versionId}`;

function expectSortedNewestFirst(list: ResourceRecord[]): void {
  for (let i = 1; i < list.length; i++) {
    expect(historyOrder(cursorOf(list[i - 1]), cursorOf(list[i])), `history order at ${i}`).toBeLessThan(0);
  }
}

async function expectConflict(p: Promise<unknown>): Promise<VersionConflictError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e
  );
  expect(err, 'expected a VersionConflictError').toBeInstanceOf(VersionConflictError);
  return err as VersionConflictError;
}

/**
 * Registers the store contract suite.
 * @param name label for the describe block
 * @param makeStore returns a new, NOT yet initialised store; the suite calls init() and close().
 *   It is called once for the main store and once more for the lifecycle (ping after close) test.
 * @param options.transactions false when the store legitimately cannot commit atomically
 *   (e.g. MongoDB without a replica set): transact must then throw TransactionsUnsupportedError,
 *   and the atomicity tests are skipped with a printed reason.
 */
export function runStoreContract(
  name: string,
  makeStore: () => Promise<Store>,
  options: { transactions?: boolean } = {}
): void {
  const transactions = options.transactions ?? true;

  describe(`store contract: ${name}`, () => {
    let store: Store;

    beforeAll(async () => {
      store = await makeStore();
      await store.init();
    });

    afterAll(async () => {
      await store?.close();
    });

    if (!transactions) {
      console.warn(
        `[store contract: ${name}] transaction atomicity tests are SKIPPED: the store was started ` +
          `without transaction support (options.transactions === false, e.g. MongoDB standalone ` +
          `without a replica set). Only "transact throws TransactionsUnsupportedError" is checked.`
      );
    }

    describe('lifecycle', () => {
      it('reports its capabilities and answers ping', async () => {
        expect(['embedded', 'mongodb']).toContain(store.kind);
        expect(store.supportsTransactions).toBe(transactions);
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('ping throws StoreUnavailableError after close', async () => {
        const other = await makeStore();
        await other.init();
        await other.ping();
        await other.close();
        await expect(other.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      });
    });

    describe('write / read / vread', () => {
      it("create with ifVersion 'absent' gives version 1 with stamped meta", async () => {
        const id = randomUUID();
        const rec = await store.write({
          resourceType: 'Patient',
          id,
          resource: patient(id, 'Create'),
          ifVersion: 'absent',
          index: { family: 'create' },
        });
        expect(rec.resourceType).toBe('Patient');
        expect(rec.id).toBe(id);
        expect(rec.versionId).toBe(1);
        expect(rec.deleted).toBe(false);
        expect(rec.lastUpdated).toMatch(ISO_MS_UTC);
        expect(rec.resource?.id).toBe(id);
        expect(rec.resource?.meta?.versionId).toBe('1');
        expect(rec.resource?.meta?.lastUpdated).toBe(rec.lastUpdated);
        expect((rec.resource as { name?: { family?: string }[] }).name?.[0]?.family).toBe('Create');

        const read = await store.read('Patient', id);
        expect(read).toEqual(rec);
      });

      it('read of an unknown id is undefined', async () => {
        expect(await store.read('Patient', randomUUID())).toBeUndefined();
        expect(await store.vread('Patient', randomUUID(), 1)).toBeUndefined();
      });

      it('keeps the resource id and stamps meta even when the input carries other meta', async () => {
        const id = randomUUID();
        const input = {
          ...patient(id, 'Meta'),
          meta: { versionId: '77', lastUpdated: '2000-01-01T00:00:00.000Z', profile: ['http://x/p'] },
        } as Resource;
        const rec = await store.write({ resourceType: 'Patient', id, resource: input, ifVersion: 'absent' });
        expect(rec.resource?.meta?.versionId).toBe('1');
        expect(rec.resource?.meta?.lastUpdated).toBe(rec.lastUpdated);
        expect(rec.resource?.meta?.profile).toEqual(['http://x/p']);
        // the caller's object is not modified by the store
        expect(input.meta?.versionId).toBe('77');
      });

      it('callers cannot mutate stored state through returned objects', async () => {
        const id = randomUUID();
        const input = patient(id, 'Immutable');
        const rec = await store.write({ resourceType: 'Patient', id, resource: input, ifVersion: 'absent' });
        (input as { name?: { family?: string }[] }).name![0].family = 'ChangedInput';
        try {
          (rec.resource as { name?: { family?: string }[] }).name![0].family = 'ChangedResult';
        } catch {
          // frozen objects are fine too
        }
        const read1 = await store.read('Patient', id);
        try {
          (read1!.resource as { name?: { family?: string }[] }).name![0].family = 'ChangedRead';
        } catch {
          // frozen
        }
        const read2 = await store.read('Patient', id);
        expect((read2!.resource as { name?: { family?: string }[] }).name![0].family).toBe('Immutable');
        const v1 = await store.vread('Patient', id, 1);
        expect((v1!.resource as { name?: { family?: string }[] }).name![0].family).toBe('Immutable');
      });

      it("create when the resource exists throws VersionConflictError", async () => {
        const id = randomUUID();
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'A'), ifVersion: 'absent' });
        const err = await expectConflict(
          store.write({ resourceType: 'Patient', id, resource: patient(id, 'B'), ifVersion: 'absent' })
        );
        expect(err.resourceType).toBe('Patient');
        expect(err.id).toBe(id);
        expect(err.expected).toBe('absent');
        expect(err.actual).toBe(1);
        const read = await store.read('Patient', id);
        expect(read?.versionId).toBe(1);
        expect((read?.resource as { name?: { family?: string }[] }).name?.[0]?.family).toBe('A');
      });

      it('update with a matching numeric ifVersion succeeds, a mismatching one conflicts', async () => {
        const id = randomUUID();
        const v1 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'A'), ifVersion: 'absent' });
        const v2 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'B'), ifVersion: 1 });
        expect(v2.versionId).toBe(2);
        expect(v2.resource?.meta?.versionId).toBe('2');
        expect(v2.lastUpdated > v1.lastUpdated).toBe(true);

        const err = await expectConflict(
          store.write({ resourceType: 'Patient', id, resource: patient(id, 'C'), ifVersion: 1 })
        );
        expect(err.expected).toBe(1);
        expect(err.actual).toBe(2);
        expect((await store.read('Patient', id))?.versionId).toBe(2);

        // a numeric precondition on a missing resource conflicts with actual undefined
        const missing = randomUUID();
        const err2 = await expectConflict(
          store.write({ resourceType: 'Patient', id: missing, resource: patient(missing, 'X'), ifVersion: 1 })
        );
        expect(err2.actual).toBeUndefined();
        expect(await store.read('Patient', missing)).toBeUndefined();
      });

      it("'any' (and no ifVersion) creates or updates unconditionally", async () => {
        const id = randomUUID();
        const v1 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'A'), ifVersion: 'any' });
        expect(v1.versionId).toBe(1);
        const v2 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'B') });
        expect(v2.versionId).toBe(2);
        const v3 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'C'), ifVersion: 'any' });
        expect(v3.versionId).toBe(3);
      });

      it('delete writes a versioned marker; read returns it; vread returns every version', async () => {
        const id = randomUUID();
        const v1 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'A'), ifVersion: 'absent' });
        const v2 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'B'), ifVersion: 1 });
        const del = await store.write({ resourceType: 'Patient', id, ifVersion: 2 });
        expect(del.versionId).toBe(3);
        expect(del.deleted).toBe(true);
        expect(del.resource).toBeUndefined();
        expect(del.lastUpdated).toMatch(ISO_MS_UTC);

        const read = await store.read('Patient', id);
        expect(read?.deleted).toBe(true);
        expect(read?.versionId).toBe(3);
        expect(read?.resource).toBeUndefined();

        expect(await store.vread('Patient', id, 1)).toEqual(v1);
        expect(await store.vread('Patient', id, 2)).toEqual(v2);
        const vdel = await store.vread('Patient', id, 3);
        expect(vdel?.deleted).toBe(true);
        expect(vdel?.resource).toBeUndefined();
        expect(vdel?.lastUpdated).toBe(del.lastUpdated);
        expect(await store.vread('Patient', id, 4)).toBeUndefined();
        expect(await store.vread('Patient', id, 0)).toBeUndefined();
        // the type is part of the key
        expect(await store.read('Observation', id)).toBeUndefined();
        expect(await store.vread('Observation', id, 1)).toBeUndefined();
      });

      it("re-create after delete with 'absent' works and continues the version sequence", async () => {
        const id = randomUUID();
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'A'), ifVersion: 'absent' });
        await store.write({ resourceType: 'Patient', id, ifVersion: 'any' });
        const v3 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'B'), ifVersion: 'absent' });
        expect(v3.versionId).toBe(3);
        expect(v3.deleted).toBe(false);
        expect(v3.resource?.meta?.versionId).toBe('3');
        const read = await store.read('Patient', id);
        expect(read?.deleted).toBe(false);
        expect(read?.versionId).toBe(3);
        const err = await expectConflict(
          store.write({ resourceType: 'Patient', id, resource: patient(id, 'C'), ifVersion: 'absent' })
        );
        expect(err.actual).toBe(3);
      });
    });

    describe('search and count', () => {
      const tag = randomUUID();
      const ids: Record<string, string> = {};
      const specs: { key: string; family: string; gender: string; birthdate?: string; identifier: object[] }[] = [
        {
          key: 'p1',
          family: 'smith',
          gender: 'female',
          birthdate: '1990-05-01',
          identifier: [
            { system: 'urn:mrn', value: 'A1' },
            { system: 'urn:ssn', value: '111' },
          ],
        },
        { key: 'p2', family: 'smith', gender: 'male', birthdate: '2001-01-15', identifier: [{ system: 'urn:mrn', value: 'A2' }] },
        { key: 'p3', family: 'jones', gender: 'female', birthdate: '1985-12-31', identifier: [{ system: 'urn:mrn', value: 'A3' }] },
        { key: 'p4', family: 'smithers', gender: 'male', identifier: [{ system: 'urn:ssn', value: 'A1' }] },
        { key: 'p5', family: 'brown', gender: 'female', birthdate: '2010-07-07', identifier: [] },
        { key: 'p6', family: 'smith', gender: 'female', birthdate: '1995-03-03', identifier: [{ system: 'urn:mrn', value: 'A1' }] },
      ];

      const idsOf = (records: ResourceRecord[]) => records.map((r) => r.id);
      const keysOf = (records: ResourceRecord[]) =>
        records.map((r) => Object.keys(ids).find((k) => ids[k] === r.id) ?? `foreign:${r.id}`);
      const find = async (filter: Record<string, unknown>, extra: Partial<{ sort: { field: string; direction: 1 | -1 }[]; limit: number; skip: number }> = {}) =>
        store.search('Patient', { filter: { 's.tag': tag, ...filter }, limit: extra.limit ?? 100, sort: extra.sort, skip: extra.skip });
      const sortedKeys = async (filter: Record<string, unknown>) => keysOf(await find(filter)).sort();

      beforeAll(async () => {
        for (const spec of specs) {
          const id = randomUUID();
          ids[spec.key] = id;
          const index: SearchIndex = {
            tag,
            family: spec.family,
            gender: spec.gender,
            identifier: spec.identifier,
          };
          if (spec.birthdate) index.birthdate = spec.birthdate;
          await store.write({
            resourceType: 'Patient',
            id,
            resource: patient(id, spec.family, { gender: spec.gender, birthDate: spec.birthdate }),
            ifVersion: 'absent',
            index,
          });
        }
        // p6 is deleted: it must never be returned or counted
        await store.write({ resourceType: 'Patient', id: ids.p6, ifVersion: 1 });
      });

      it('equality on an s field, never returning deleted resources', async () => {
        expect(await sortedKeys({ 's.family': 'smith' })).toEqual(['p1', 'p2']);
        const recs = await find({ 's.family': 'smith' });
        for (const r of recs) {
          expect(r.resourceType).toBe('Patient');
          expect(r.deleted).toBe(false);
          expect(r.resource?.meta?.versionId).toBe(String(r.versionId));
          expect(r.resource?.id).toBe(r.id);
        }
      });

      it('filters on _id (equality and $in)', async () => {
        const one = await store.search('Patient', { filter: { _id: ids.p3 }, limit: 10 });
        expect(idsOf(one)).toEqual([ids.p3]);
        const many = await store.search('Patient', { filter: { _id: { $in: [ids.p1, ids.p3, ids.p6, randomUUID()] } }, limit: 10 });
        expect(idsOf(many).sort()).toEqual([ids.p1, ids.p3].sort());
        const deleted = await store.search('Patient', { filter: { _id: ids.p6 }, limit: 10 });
        expect(deleted).toEqual([]);
        // _id combined with another condition
        const both = await store.search('Patient', { filter: { _id: ids.p1, 's.family': 'jones' }, limit: 10 });
        expect(both).toEqual([]);
      });

      it('$elemMatch matches within one array element; dotted paths match any element', async () => {
        expect(await sortedKeys({ 's.identifier': { $elemMatch: { system: 'urn:mrn', value: 'A1' } } })).toEqual(['p1']);
        expect(await sortedKeys({ 's.identifier.value': 'A1' })).toEqual(['p1', 'p4']);
        expect(await sortedKeys({ 's.identifier': { system: 'urn:mrn', value: 'A2' } })).toEqual(['p2']);
      });

      it('$in, $regex, $nin, $exists', async () => {
        expect(await sortedKeys({ 's.family': { $in: ['jones', 'brown', 'nobody'] } })).toEqual(['p3', 'p5']);
        expect(await sortedKeys({ 's.family': { $regex: '^smith' } })).toEqual(['p1', 'p2', 'p4']);
        expect(await sortedKeys({ 's.family': { $regex: '^SMITH$', $options: 'i' } })).toEqual(['p1', 'p2']);
        expect(await sortedKeys({ 's.family': { $nin: ['smith', 'smithers'] } })).toEqual(['p3', 'p5']);
        expect(await sortedKeys({ 's.birthdate': { $exists: false } })).toEqual(['p4']);
      });

      it('string ranges with $gte / $lt', async () => {
        expect(await sortedKeys({ 's.birthdate': { $gte: '1990-01-01', $lt: '2005-01-01' } })).toEqual(['p1', 'p2']);
        expect(await sortedKeys({ 's.birthdate': { $lt: '1990-05-01' } })).toEqual(['p3']);
        expect(await sortedKeys({ 's.birthdate': { $gte: '1990-05-01' } })).toEqual(['p1', 'p2', 'p5']);
      });

      it('$and / $or', async () => {
        expect(await sortedKeys({ $or: [{ 's.family': 'jones' }, { 's.birthdate': { $gte: '2005' } }] })).toEqual(['p3', 'p5']);
        expect(await sortedKeys({ $and: [{ 's.family': { $regex: '^smith' } }, { 's.gender': 'male' }] })).toEqual(['p2', 'p4']);
        expect(
          await sortedKeys({
            $and: [
              { $or: [{ 's.gender': 'female' }, { 's.family': 'smithers' }] },
              { $or: [{ 's.birthdate': { $lt: '1989' } }, { 's.identifier.system': 'urn:ssn' }] },
            ],
          })
        ).toEqual(['p1', 'p3', 'p4']);
      });

      it('sorts on several keys ascending and descending, missing values first ascending', async () => {
        const byFamilyThenBirthDesc = await find({}, {
          sort: [
            { field: 's.family', direction: 1 },
            { field: 's.birthdate', direction: -1 },
          ],
        });
        expect(keysOf(byFamilyThenBirthDesc)).toEqual(['p5', 'p3', 'p2', 'p1', 'p4']);

        const byBirthAsc = await find({}, { sort: [{ field: 's.birthdate', direction: 1 }] });
        expect(keysOf(byBirthAsc)).toEqual(['p4', 'p3', 'p1', 'p2', 'p5']);
        const byBirthDesc = await find({}, { sort: [{ field: 's.birthdate', direction: -1 }] });
        expect(keysOf(byBirthDesc)).toEqual(['p5', 'p2', 'p1', 'p3', 'p4']);

        const byGenderDescFamilyAscId = await find({}, {
          sort: [
            { field: 's.gender', direction: -1 },
            { field: 's.family', direction: 1 },
            { field: '_id', direction: 1 },
          ],
        });
        expect(keysOf(byGenderDescFamilyAscId)).toEqual(['p2', 'p4', 'p5', 'p3', 'p1']);
      });

      it('limit and skip', async () => {
        const all = await find({}, { sort: [{ field: '_id', direction: 1 }] });
        expect(all).toHaveLength(5);
        const expected = idsOf(all);
        expect(expected).toEqual([...expected].sort());
        expect(idsOf(await find({}, { sort: [{ field: '_id', direction: 1 }], limit: 2 }))).toEqual(expected.slice(0, 2));
        expect(idsOf(await find({}, { sort: [{ field: '_id', direction: 1 }], limit: 2, skip: 2 }))).toEqual(expected.slice(2, 4));
        expect(idsOf(await find({}, { sort: [{ field: '_id', direction: 1 }], limit: 10, skip: 4 }))).toEqual(expected.slice(4));
        expect(await find({}, { sort: [{ field: '_id', direction: -1 }], limit: 10, skip: 5 })).toEqual([]);
        expect(idsOf(await find({}, { sort: [{ field: '_id', direction: -1 }], limit: 1 }))).toEqual([expected[4]]);
      });

      it('count matches search and skips deleted resources', async () => {
        expect(await store.count('Patient', { 's.tag': tag })).toBe(5);
        expect(await store.count('Patient', { 's.tag': tag, 's.family': 'smith' })).toBe(2);
        expect(await store.count('Patient', { 's.tag': tag, 's.identifier': { $elemMatch: { system: 'urn:mrn', value: 'A1' } } })).toBe(1);
        expect(await store.count('Patient', { _id: ids.p6 })).toBe(0);
        expect(await store.count('Patient', { 's.tag': randomUUID() })).toBe(0);
        expect(await store.count('Observation', { 's.tag': tag })).toBe(0);
      });

      it('search sees only the current version and its current index', async () => {
        const t2 = randomUUID();
        const id = randomUUID();
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'old'), ifVersion: 'absent', index: { tag: t2, family: 'old' } });
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'new'), ifVersion: 1, index: { tag: t2, family: 'new' } });
        expect(await store.search('Patient', { filter: { 's.tag': t2, 's.family': 'old' }, limit: 10 })).toEqual([]);
        const hits = await store.search('Patient', { filter: { 's.tag': t2, 's.family': 'new' }, limit: 10 });
        expect(hits).toHaveLength(1);
        expect(hits[0].versionId).toBe(2);
        expect((hits[0].resource as { name?: { family?: string }[] }).name?.[0]?.family).toBe('new');
        // re-created after delete: searchable again with the new index
        await store.write({ resourceType: 'Patient', id, ifVersion: 2 });
        expect(await store.count('Patient', { 's.tag': t2 })).toBe(0);
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'again'), ifVersion: 'absent', index: { tag: t2, family: 'again' } });
        expect(idsOf(await store.search('Patient', { filter: { 's.tag': t2 }, limit: 10 }))).toEqual([id]);
        expect(await store.count('Patient', { 's.tag': t2, 's.family': 'new' })).toBe(0);
      });

      it('raw search: the same records in the same order, each resource parsed or as JSON text equal to it', async () => {
        const filters: Record<string, unknown>[] = [{}, { 's.family': 'smith' }, { 's.family': { $in: ['smith', 'jones'] } }];
        for (const filter of filters) {
          for (const limit of [1, 2, 100]) {
            const parsed = await find(filter, { limit });
            const raw = await store.search('Patient', { filter: { 's.tag': tag, ...filter }, limit, raw: true });
            expect(idsOf(raw)).toEqual(idsOf(parsed));
            raw.forEach((r, i) => {
              expect(r.resource ?? JSON.parse(r.json as string)).toEqual(parsed[i].resource);
              expect([r.versionId, r.lastUpdated, r.deleted]).toEqual([parsed[i].versionId, parsed[i].lastUpdated, parsed[i].deleted]);
            });
          }
        }
      });

      it('filters on lastUpdated and versionId', async () => {
        const t3 = randomUUID();
        const a = randomUUID();
        const b = randomUUID();
        const ra = await store.write({ resourceType: 'Patient', id: a, resource: patient(a, 'a'), ifVersion: 'absent', index: { tag: t3 } });
        await sleep(2);
        const rb = await store.write({ resourceType: 'Patient', id: b, resource: patient(b, 'b'), ifVersion: 'absent', index: { tag: t3 } });
        await store.write({ resourceType: 'Patient', id: b, resource: patient(b, 'b2'), ifVersion: 1, index: { tag: t3 } });
        expect(idsOf(await store.search('Patient', { filter: { 's.tag': t3, lastUpdated: { $lte: ra.lastUpdated } }, limit: 10 }))).toEqual([a]);
        expect(idsOf(await store.search('Patient', { filter: { 's.tag': t3, lastUpdated: { $gte: rb.lastUpdated } }, limit: 10 }))).toEqual([b]);
        expect(idsOf(await store.search('Patient', { filter: { 's.tag': t3, versionId: 2 }, limit: 10 }))).toEqual([b]);
        const sorted = await store.search('Patient', { filter: { 's.tag': t3 }, sort: [{ field: 'lastUpdated', direction: -1 }], limit: 10 });
        expect(idsOf(sorted)).toEqual([b, a]);
      });
    });

    describe('scan', () => {
      const tag = randomUUID();
      const ids: string[] = [];
      let deletedId = '';
      const collect = async (filter: Record<string, unknown>, options: Parameters<Store['scan']>[2] = {}) => {
        const out: ResourceRecord[] = [];
        for await (const r of store.scan('Patient', filter, options)) out.push(r);
        return out;
      };

      beforeAll(async () => {
        for (let i = 0; i < 30; i++) {
          const id = randomUUID();
          ids.push(id);
          await store.write({
            resourceType: 'Patient',
            id,
            resource: patient(id, `scan${i}`),
            ifVersion: 'absent',
            index: { tag, n: i % 3, identifier: [{ system: 'urn:mrn', value: `S${i}` }] },
          });
        }
        // one updated (only the current version counts), one deleted (never yielded)
        await store.write({ resourceType: 'Patient', id: ids[0], resource: patient(ids[0], 'scan0-new'), ifVersion: 1, index: { tag, n: 0, identifier: [] } });
        deletedId = ids[29];
        await store.write({ resourceType: 'Patient', id: deletedId, ifVersion: 1 });
      });

      it('yields each current, non-deleted match once, in any batch size, parsed or raw', async () => {
        const expected = ids.filter((id) => id !== deletedId).sort();
        for (const batchSize of [1, 7, 1000]) {
          const parsed = await collect({ 's.tag': tag }, { batchSize });
          expect(parsed.map((r) => r.id).sort()).toEqual(expected);
          expect(parsed.every((r) => !r.deleted && r.resource?.resourceType === 'Patient')).toBe(true);
          const raw = await collect({ 's.tag': tag }, { batchSize, raw: true });
          expect(raw.map((r) => r.id).sort()).toEqual(expected);
        }
        const first = (await collect({ _id: ids[0] }))[0];
        expect(first.versionId).toBe(2);
        expect((first.resource as { name?: { family?: string }[] }).name?.[0]?.family).toBe('scan0-new');
      });

      it('raw records carry the stamped resource as JSON text, equal to read()', async () => {
        const [rec] = await collect({ _id: ids[1] }, { raw: true });
        expect(typeof rec.json).toBe('string');
        const read = await store.read('Patient', ids[1]);
        expect(JSON.parse(rec.json as string)).toEqual(read?.resource);
        expect(rec.versionId).toBe(read?.versionId);
        expect(rec.lastUpdated).toBe(read?.lastUpdated);
      });

      it('rawBytes records carry the JSON as text or as UTF-8 bytes, exactly JSON.stringify of read()', async () => {
        const [rec] = await collect({ _id: ids[1] }, { raw: true, rawBytes: true });
        const text = rec.json ?? (rec.jsonBytes ? Buffer.from(rec.jsonBytes).toString('utf8') : undefined);
        const read = await store.read('Patient', ids[1]);
        expect(JSON.parse(text as string)).toEqual(read?.resource);
        // Bytes are written out as they are (bulk export): exactly what JSON.stringify writes.
        if (rec.jsonBytes) expect(text).toBe(JSON.stringify(read?.resource));
      });

      it('applies the filter like search does ($in lists long and short, $nin, $elemMatch)', async () => {
        const bySearch = async (filter: Record<string, unknown>) =>
          (await store.search('Patient', { filter, limit: 1000 })).map((r) => r.id).sort();
        const many = [...ids.slice(0, 20), ...Array.from({ length: 40 }, () => randomUUID())];
        const filters: Record<string, unknown>[] = [
          { 's.tag': tag, 's.n': 1 },
          { $and: [{ 's.tag': tag }, { _id: { $in: many } }] },
          { $and: [{ 's.tag': tag }, { _id: { $nin: many } }] },
          { $and: [{ 's.tag': tag }, { 's.identifier.value': { $in: Array.from({ length: 20 }, (_, i) => `S${i}`) } }] },
          { $and: [{ 's.tag': tag }, { 's.identifier.value': { $nin: Array.from({ length: 20 }, (_, i) => `S${i}`) } }] },
          { 's.tag': tag, 's.identifier': { $elemMatch: { system: 'urn:mrn', value: 'S5' } } },
          { 's.tag': tag, 's.n': { $in: [0, 2] } },
        ];
        for (const filter of filters) {
          const scanned = (await collect(filter)).map((r) => r.id).sort();
          expect(scanned, JSON.stringify(filter)).toEqual(await bySearch(filter));
        }
        expect((await collect({ 's.tag': tag, 's.identifier': { $elemMatch: { system: 'urn:mrn', value: 'S5' } } })).map((r) => r.id)).toEqual([ids[5]]);
        expect(await collect({ 's.tag': randomUUID() })).toEqual([]);
      });

      it('since and until bound the current version lastUpdated (both inclusive)', async () => {
        const all = await collect({ 's.tag': tag });
        const times = all.map((r) => r.lastUpdated).sort();
        const mid = times[Math.floor(times.length / 2)];
        const after = await collect({ 's.tag': tag }, { since: mid });
        const before = await collect({ 's.tag': tag }, { until: mid });
        expect(after.every((r) => r.lastUpdated >= mid)).toBe(true);
        expect(before.every((r) => r.lastUpdated <= mid)).toBe(true);
        expect(after.length + before.length).toBe(all.length + all.filter((r) => r.lastUpdated === mid).length);
        expect((await collect({ 's.tag': tag }, { since: mid, until: mid })).every((r) => r.lastUpdated === mid)).toBe(true);
      });

      it('a type never written yields nothing; breaking out early releases the scan', async () => {
        expect(await collect({})).not.toBeUndefined();
        const none: ResourceRecord[] = [];
        for await (const r of store.scan('Basic', {})) none.push(r);
        expect(none).toEqual([]);
        let n = 0;
        for await (const _ of store.scan('Patient', { 's.tag': tag }, { batchSize: 2 })) {
          if (++n === 3) break;
        }
        expect(n).toBe(3);
        expect(await store.count('Patient', { 's.tag': tag })).toBe(29);
      });

      it('writes during a scan do not disturb it: resources present throughout are yielded exactly once', async () => {
        const seen = new Map<string, number>();
        let i = 0;
        for await (const r of store.scan('Patient', { 's.tag': tag }, { batchSize: 3 })) {
          seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
          if (i < 5) {
            // update one not seen yet and create a new one
            const target = ids.find((id) => id !== deletedId && !seen.has(id));
            if (target) {
              const cur = await store.read('Patient', target);
              await store.write({ resourceType: 'Patient', id: target, resource: patient(target, `moved${i}`), ifVersion: cur?.versionId, index: { tag, n: 9 } });
            }
            const extra = randomUUID();
            await store.write({ resourceType: 'Patient', id: extra, resource: patient(extra, 'extra'), ifVersion: 'absent', index: { tag: randomUUID() } });
          }
          i++;
        }
        for (const id of ids) {
          if (id === deletedId) expect(seen.has(id)).toBe(false);
          else expect(seen.get(id), id).toBe(1);
        }
      });
      it('orderById / afterId: ascending ids, resumable after any id, whichever way the store walks (all, index, since range)', async () => {
        const orderTag = randomUUID();
        const before = new Date(Date.now() - 1).toISOString();
        const made: string[] = [];
        for (let i = 0; i < 12; i++) {
          const id = randomUUID();
          made.push(id);
          await store.write({ resourceType: 'Patient', id, resource: patient(id, `ord${i}`), ifVersion: 'absent', index: { tag: orderTag } });
        }
        const sorted = [...made].sort();
        const idsIn = (records: ResourceRecord[]) => records.map((r) => r.id);
        // a selective filter (an index walk where there is one)
        expect(idsIn(await collect({ 's.tag': orderTag }, { orderById: true, batchSize: 5 }))).toEqual(sorted);
        expect(idsIn(await collect({ 's.tag': orderTag }, { afterId: sorted[4] }))).toEqual(sorted.slice(5));
        expect(idsIn(await collect({ 's.tag': orderTag }, { afterId: sorted[11] }))).toEqual([]);
        // ids not in the store as the resume point
        expect(idsIn(await collect({ 's.tag': orderTag }, { afterId: '' }))).toEqual(sorted);
        // every Patient (the type's own walk), and a since range
        const all = idsIn(await collect({}, { orderById: true, batchSize: 7 }));
        expect(all).toEqual([...all].sort());
        expect(all.filter((id) => made.includes(id))).toEqual(sorted);
        const after = idsIn(await collect({}, { afterId: sorted[6] }));
        expect(after).toEqual(all.filter((id) => id > sorted[6]));
        const recent = idsIn(await collect({ 's.tag': orderTag }, { since: before, afterId: sorted[2] }));
        expect(recent).toEqual(sorted.slice(3));
        const recentAll = idsIn(await collect({}, { since: before, orderById: true }));
        expect(recentAll.filter((id) => made.includes(id))).toEqual(sorted);
        expect(recentAll).toEqual([...recentAll].sort());
      });
    });

    describe('history', () => {
      it('instance history is newest first, with delete markers, since/before, and counts', async () => {
        const id = randomUUID();
        const v: ResourceRecord[] = [];
        v.push(await store.write({ resourceType: 'Patient', id, resource: patient(id, 'h1'), ifVersion: 'absent' }));
        v.push(await store.write({ resourceType: 'Patient', id, resource: patient(id, 'h2'), ifVersion: 1 }));
        v.push(await store.write({ resourceType: 'Patient', id, resource: patient(id, 'h3'), ifVersion: 2 }));
        v.push(await store.write({ resourceType: 'Patient', id, ifVersion: 3 }));
        v.push(await store.write({ resourceType: 'Patient', id, resource: patient(id, 'h5'), ifVersion: 'absent' }));
        expect(v.map((r) => r.versionId)).toEqual([1, 2, 3, 4, 5]);

        const all = await store.history({ resourceType: 'Patient', id, count: 100 });
        expect(all.map((r) => r.versionId)).toEqual([5, 4, 3, 2, 1]);
        expect(all[1].deleted).toBe(true);
        expect(all[1].resource).toBeUndefined();
        expect(all[0]).toEqual(v[4]);
        expect(all[4]).toEqual(v[0]);
        expectSortedNewestFirst(all);
        expect(await store.historyCount({ resourceType: 'Patient', id })).toBe(5);

        const since = await store.history({ resourceType: 'Patient', id, since: v[2].lastUpdated, count: 100 });
        expect(since.map((r) => r.versionId)).toEqual([5, 4, 3]);
        expect(await store.historyCount({ resourceType: 'Patient', id, since: v[2].lastUpdated })).toBe(3);

        const before = await store.history({ resourceType: 'Patient', id, before: v[1].lastUpdated, count: 100 });
        expect(before.map((r) => r.versionId)).toEqual([2, 1]);
        expect(await store.historyCount({ resourceType: 'Patient', id, before: v[1].lastUpdated })).toBe(2);

        const window = await store.history({ resourceType: 'Patient', id, since: v[1].lastUpdated, before: v[3].lastUpdated, count: 100 });
        expect(window.map((r) => r.versionId)).toEqual([4, 3, 2]);
        expect(await store.historyCount({ resourceType: 'Patient', id, since: v[1].lastUpdated, before: v[3].lastUpdated })).toBe(3);

        const limited = await store.history({ resourceType: 'Patient', id, count: 2 });
        expect(limited.map((r) => r.versionId)).toEqual([5, 4]);

        const page2 = await store.history({ resourceType: 'Patient', id, count: 2, after: cursorOf(limited[1]) });
        expect(page2.map((r) => r.versionId)).toEqual([3, 2]);

        expect(await store.history({ resourceType: 'Patient', id: randomUUID(), count: 10 })).toEqual([]);
        expect(await store.historyCount({ resourceType: 'Patient', id: randomUUID() })).toBe(0);
      });

      it('type and system history are newest first and honour since/before; cursor pages have no gaps or repeats', async () => {
        const a = randomUUID();
        const b = randomUUID();
        const p = randomUUID();
        const mine: ResourceRecord[] = [];
        mine.push(await store.write({ resourceType: 'Observation', id: a, resource: obs(a, 1), ifVersion: 'absent' }));
        mine.push(await store.write({ resourceType: 'Observation', id: b, resource: obs(b, 1), ifVersion: 'absent' }));
        mine.push(await store.write({ resourceType: 'Patient', id: p, resource: patient(p, 'sys'), ifVersion: 'absent' }));
        mine.push(await store.write({ resourceType: 'Observation', id: a, resource: obs(a, 2), ifVersion: 1 }));
        mine.push(await store.write({ resourceType: 'Observation', id: b, ifVersion: 1 }));
        mine.push(await store.write({ resourceType: 'Patient', id: p, resource: patient(p, 'sys2'), ifVersion: 1 }));
        mine.push(await store.write({ resourceType: 'Observation', id: a, resource: obs(a, 3), ifVersion: 2 }));
        if (transactions) {
          const c = randomUUID();
          const d = randomUUID();
          // entries of one transaction may share a lastUpdated: the cursor order must still be total
          mine.push(
            ...(await store.transact([
              { resourceType: 'Observation', id: c, resource: obs(c, 1), ifVersion: 'absent' },
              { resourceType: 'Observation', id: d, resource: obs(d, 1), ifVersion: 'absent' },
              { resourceType: 'Patient', id: p, resource: patient(p, 'sys3'), ifVersion: 2 },
            ]))
          );
        }
        // The window is taken from the store's own instants: under load they may run ahead of the
        // wall clock (they are forced strictly increasing).
        const start = mine[0].lastUpdated;
        const end = mine.reduce((max, r) => (r.lastUpdated > max ? r.lastUpdated : max), start);
        const mineKeys = new Set(mine.map(keyOf));
        const mineSorted = [...mine].sort((x, y) => historyOrder(cursorOf(x), cursorOf(y)));

        // type history
        const typeAll = await store.history({ resourceType: 'Observation', since: start, before: end, count: 10_000 });
        expectSortedNewestFirst(typeAll);
        for (const r of typeAll) expect(r.resourceType).toBe('Observation');
        const typeMine = typeAll.filter((r) => mineKeys.has(keyOf(r)));
        expect(typeMine.map(keyOf)).toEqual(mineSorted.filter((r) => r.resourceType === 'Observation').map(keyOf));
        expect(await store.historyCount({ resourceType: 'Observation', since: start, before: end })).toBe(typeAll.length);
        const deletedB = typeAll.find((r) => r.id === b && r.versionId === 2);
        expect(deletedB?.deleted).toBe(true);
        expect(deletedB?.resource).toBeUndefined();

        // the `before` bound is inclusive
        const bBefore = mine[3];
        const typeBefore = await store.history({ resourceType: 'Observation', since: start, before: bBefore.lastUpdated, count: 10_000 });
        const typeBeforeMine = typeBefore.filter((r) => mineKeys.has(keyOf(r)));
        expect(typeBeforeMine.map(keyOf)).toEqual([mine[3], mine[1], mine[0]].map(keyOf));
        // the `since` bound is inclusive
        const typeSince = await store.history({ resourceType: 'Observation', since: mine[4].lastUpdated, before: end, count: 10_000 });
        expect(typeSince.filter((r) => mineKeys.has(keyOf(r))).map(keyOf)).toEqual(
          mineSorted.filter((r) => r.resourceType === 'Observation' && r.lastUpdated >= mine[4].lastUpdated).map(keyOf)
        );

        // system history
        const sysAll = await store.history({ since: start, before: end, count: 10_000 });
        expectSortedNewestFirst(sysAll);
        expect(sysAll.filter((r) => mineKeys.has(keyOf(r))).map(keyOf)).toEqual(mineSorted.map(keyOf));
        expect(await store.historyCount({ since: start, before: end })).toBe(sysAll.length);
        expect(new Set(sysAll.map(keyOf)).size).toBe(sysAll.length);

        // keyset paging through system history, 3 at a time
        for (const pageSize of [1, 3]) {
          const paged: ResourceRecord[] = [];
          let after: HistoryCursor | undefined;
          for (let guard = 0; guard < 10_000; guard++) {
            const q: HistoryQuery = { since: start, before: end, count: pageSize, after };
            const page = await store.history(q);
            expect(page.length).toBeLessThanOrEqual(pageSize);
            if (page.length === 0) break;
            if (after) expect(historyOrder(after, cursorOf(page[0]))).toBeLessThan(0);
            paged.push(...page);
            after = cursorOf(page[page.length - 1]);
            if (page.length < pageSize) break;
          }
          expect(new Set(paged.map(keyOf)).size, 'no repeats').toBe(paged.length);
          expectSortedNewestFirst(paged);
          expect(paged.map(keyOf)).toEqual(sysAll.map(keyOf));
        }

        // keyset paging through type history with a cursor inside a run of equal timestamps
        const typePaged: ResourceRecord[] = [];
        let cursor: HistoryCursor | undefined;
        for (;;) {
          const page = await store.history({ resourceType: 'Observation', since: start, before: end, count: 2, after: cursor });
          typePaged.push(...page);
          if (page.length < 2) break;
          cursor = cursorOf(page[page.length - 1]);
        }
        expect(typePaged.map(keyOf)).toEqual(typeAll.map(keyOf));
      });

      it('system history restricted to resourceTypes leaves other types out, also in counts', async () => {
        const o = randomUUID();
        const p = randomUUID();
        const first = await store.write({ resourceType: 'Observation', id: o, resource: obs(o, 1), ifVersion: 'absent' });
        const last = await store.write({ resourceType: 'Patient', id: p, resource: patient(p, 'typed'), ifVersion: 'absent' });
        const window = { since: first.lastUpdated, before: last.lastUpdated };
        const onlyPatients = await store.history({ ...window, resourceTypes: ['Patient'], count: 10_000 });
        expect(onlyPatients.every((r) => r.resourceType === 'Patient')).toBe(true);
        expect(onlyPatients.map((r) => r.id)).toContain(p);
        const both = await store.history({ ...window, resourceTypes: ['Patient', 'Observation'], count: 10_000 });
        expect(both.map((r) => r.id)).toEqual(expect.arrayContaining([o, p]));
        const patientCount = await store.historyCount({ ...window, resourceTypes: ['Patient'] });
        expect(patientCount).toBe(onlyPatients.length);
        expect(await store.historyCount({ ...window, resourceTypes: [] })).toBe(0);
      });

      it('history with raw gives the same versions, each resource as it is or as its JSON text', async () => {
        const id = randomUUID();
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'Raw1'), ifVersion: 'absent' });
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'Raw2'), ifVersion: 1 });
        await store.write({ resourceType: 'Patient', id, ifVersion: 2 });
        for (const query of [{ resourceType: 'Patient', id, count: 10 }, { resourceType: 'Patient', id, count: 1 }, { resourceType: 'Patient', count: 1 }]) {
          const plain = await store.history(query);
          const raw = await store.history({ ...query, raw: true });
          expect(raw.map(({ json, resource, jsonBytes, ...rest }) => ({ ...rest, resource: resource ?? (json !== undefined ? JSON.parse(json) : jsonBytes && JSON.parse(Buffer.from(jsonBytes).toString('utf8'))) }))).toEqual(plain);
        }
      });

      it("a type's newest version is history's first entry, without its content, and moves with every version of the type", async () => {
        // A type no other case writes: its newest version is this case's alone.
        const type = 'Flag';
        const newestOfHistory = async () => {
          const [first] = await store.history({ resourceType: type, count: 1 });
          return first && { lastUpdated: first.lastUpdated, resourceType: first.resourceType, id: first.id, versionId: first.versionId };
        };
        expect(await store.newestVersion(type)).toBeUndefined();
        const a = randomUUID();
        const b = randomUUID();
        const flag = (id: string, text: string) => ({ resourceType: type, id, status: 'active', code: { text }, subject: { reference: 'Patient/x' } }) as unknown as Resource;
        const seen: unknown[] = [];
        for (const step of [
          () => store.write({ resourceType: type, id: a, resource: flag(a, 'one'), ifVersion: 'absent' }),
          () => store.write({ resourceType: type, id: b, resource: flag(b, 'one'), ifVersion: 'absent' }),
          () => store.write({ resourceType: type, id: a, resource: flag(a, 'two'), ifVersion: 1 }),
          () => store.write({ resourceType: type, id: b, ifVersion: 1 }),
          // Another type's version leaves it where it was.
          () => {
            const other = randomUUID();
            return store.write({ resourceType: 'Patient', id: other, resource: patient(other, 'Other'), ifVersion: 'any' });
          },
        ]) {
          const written = await step();
          const newest = await store.newestVersion(type);
          expect(newest).toEqual(await newestOfHistory());
          if (written.resourceType === type) expect(newest).toEqual({ lastUpdated: written.lastUpdated, resourceType: type, id: written.id, versionId: written.versionId });
          seen.push(newest);
        }
        expect(new Set(seen.map((v) => JSON.stringify(v))).size).toBe(4);
        expect(seen[4]).toEqual(seen[3]);
      });

      it('history entries carry stamped meta and equal vread', async () => {
        const id = randomUUID();
        await store.write({ resourceType: 'Immunization', id, resource: imm(id, 'L1'), ifVersion: 'absent' });
        await store.write({ resourceType: 'Immunization', id, resource: imm(id, 'L2'), ifVersion: 1 });
        const hist = await store.history({ resourceType: 'Immunization', id, count: 10 });
        for (const r of hist) {
          expect(r.resource?.meta?.versionId).toBe(String(r.versionId));
          expect(r.resource?.meta?.lastUpdated).toBe(r.lastUpdated);
          expect(await store.vread('Immunization', id, r.versionId)).toEqual(r);
        }
        expect((hist[1].resource as { lotNumber?: string }).lotNumber).toBe('L1');
      });
    });

    describe('verify-only writes (WriteOp.verifyOnly)', () => {
      /** Everything a write would change: the record, its history, type history since then, its search entries. */
      async function snapshot(id: string, tag: string) {
        return {
          read: await store.read('Patient', id),
          history: await store.history({ resourceType: 'Patient', id, count: 100 }),
          count: await store.historyCount({ resourceType: 'Patient', id }),
          tagged: await store.count('Patient', { 's.tag': tag }),
        };
      }

      it('a verify that holds writes nothing and returns the current record', async () => {
        const id = randomUUID();
        const tag = randomUUID();
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'V1'), ifVersion: 'absent' });
        const v2 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'V2'), ifVersion: 1 });
        const before = await snapshot(id, tag);
        // The content and search values given are not stored: a verify writes nothing at all.
        const rec = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'other'), ifVersion: 2, index: { tag }, verifyOnly: true });
        expect(rec).toEqual(v2);
        expect(rec).toEqual(before.read);
        expect(await snapshot(id, tag)).toEqual(before);
        expect(before.count).toBe(2);
        expect(await store.history({ resourceType: 'Patient', since: v2.lastUpdated, count: 100 }).then((h) => h.filter((r) => r.id === id).map((r) => r.versionId))).toEqual([2]);
        // and the next write takes the next version as if no verify had happened
        expect((await store.write({ resourceType: 'Patient', id, resource: patient(id, 'V3'), ifVersion: 2 })).versionId).toBe(3);
      });

      it('a verify fails like a write on a newer version, a deleted or an absent resource, and changes nothing', async () => {
        const id = randomUUID();
        const tag = randomUUID();
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'F1'), ifVersion: 'absent' });
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'F2'), ifVersion: 1 });
        let before = await snapshot(id, tag);
        const stale = await expectConflict(store.write({ resourceType: 'Patient', id, resource: patient(id, 'F2'), ifVersion: 1, index: { tag }, verifyOnly: true }));
        expect([stale.expected, stale.actual]).toEqual([1, 2]);
        expect(await snapshot(id, tag)).toEqual(before);

        await store.write({ resourceType: 'Patient', id, ifVersion: 2 });
        before = await snapshot(id, tag);
        const deleted = await expectConflict(store.write({ resourceType: 'Patient', id, resource: patient(id, 'F2'), ifVersion: 2, verifyOnly: true }));
        expect(deleted.actual).toBe(3);
        await expectConflict(store.write({ resourceType: 'Patient', id, resource: patient(id, 'F2'), ifVersion: 3, verifyOnly: true }));
        expect(await snapshot(id, tag)).toEqual(before);

        const absent = randomUUID();
        await expectConflict(store.write({ resourceType: 'Patient', id: absent, resource: patient(absent, 'A'), ifVersion: 1, verifyOnly: true }));
        expect(await store.read('Patient', absent)).toBeUndefined();
        expect(await store.historyCount({ resourceType: 'Patient', id: absent })).toBe(0);
      });

      it.skipIf(!transactions)('in a transaction: a verify that holds lets the other writes land and writes nothing itself', async () => {
        const x = randomUUID();
        const w = randomUUID();
        const tag = randomUUID();
        const v1 = await store.write({ resourceType: 'Patient', id: x, resource: patient(x, 'TX'), ifVersion: 'absent' });
        const before = await snapshot(x, tag);
        const recs = await store.transact([
          { resourceType: 'Patient', id: x, resource: patient(x, 'TX'), ifVersion: 1, index: { tag }, verifyOnly: true },
          { resourceType: 'Immunization', id: w, resource: imm(w, 'W'), ifVersion: 'absent', index: { tag } },
        ]);
        expect(recs[0]).toEqual(v1);
        expect(recs[1].versionId).toBe(1);
        expect(await store.read('Immunization', w)).toEqual(recs[1]);
        expect(await store.count('Immunization', { 's.tag': tag })).toBe(1);
        expect(await snapshot(x, tag)).toEqual(before);
      });

      it.skipIf(!transactions)('in a transaction: a verify that fails (newer version, deleted) rejects the whole request', async () => {
        const x = randomUUID();
        const y = randomUUID();
        const tag = randomUUID();
        await store.write({ resourceType: 'Patient', id: x, resource: patient(x, 'R1'), ifVersion: 'absent' });
        await store.write({ resourceType: 'Patient', id: x, resource: patient(x, 'R2'), ifVersion: 1 });
        const attempt = (version: number) => {
          const w = randomUUID();
          return {
            w,
            ops: [
              { resourceType: 'Immunization', id: w, resource: imm(w, 'W'), ifVersion: 'absent', index: { tag } },
              { resourceType: 'Patient', id: y, resource: patient(y, 'Y'), ifVersion: 'absent', index: { tag } },
              { resourceType: 'Patient', id: x, resource: patient(x, 'R1'), ifVersion: version, verifyOnly: true },
            ] satisfies WriteOp[],
          };
        };
        const stale = attempt(1);
        let before = await snapshot(x, tag);
        const err = await expectConflict(store.transact(stale.ops));
        expect([err.id, err.expected, err.actual]).toEqual([x, 1, 2]);
        expect(await store.read('Immunization', stale.w)).toBeUndefined();
        expect(await store.read('Patient', y)).toBeUndefined();
        expect(await store.historyCount({ resourceType: 'Immunization', id: stale.w })).toBe(0);
        expect(await snapshot(x, tag)).toEqual(before);

        await store.write({ resourceType: 'Patient', id: x, ifVersion: 2 });
        before = await snapshot(x, tag);
        const gone = attempt(3);
        await expectConflict(store.transact(gone.ops));
        expect(await store.read('Immunization', gone.w)).toBeUndefined();
        expect(await store.read('Patient', y)).toBeUndefined();
        expect(await snapshot(x, tag)).toEqual(before);
      });

      it.skipIf(!transactions)('a verify racing writes of the same resource: it holds only if it commits before them', async () => {
        const x = randomUUID();
        await store.write({ resourceType: 'Patient', id: x, resource: patient(x, 'C'), ifVersion: 'absent' });
        const verifies = Array.from({ length: 5 }, () => {
          const w = randomUUID();
          return { w, done: store.transact([
            { resourceType: 'Immunization', id: w, resource: imm(w, 'W'), ifVersion: 'absent' },
            { resourceType: 'Patient', id: x, resource: patient(x, 'C'), ifVersion: 1, verifyOnly: true },
          ]).then(() => true, (e: unknown) => { expect(e).toBeInstanceOf(VersionConflictError); return false; }) };
        });
        const write = store.write({ resourceType: 'Patient', id: x, resource: patient(x, 'C2'), ifVersion: 1 });
        const [outcomes, written] = await Promise.all([Promise.all(verifies.map((v) => v.done)), write]);
        expect(written.versionId).toBe(2);
        for (const [i, held] of outcomes.entries()) {
          // Each verify either committed (its dose stored) or was refused whole (nothing stored).
          expect(!!(await store.read('Immunization', verifies[i].w)), `verify ${i}`).toBe(held);
        }
        expect(await store.historyCount({ resourceType: 'Patient', id: x })).toBe(2);
      });
    });

    describe('transactions', () => {
      it.skipIf(transactions)('transact throws TransactionsUnsupportedError when unsupported', async () => {
        const id = randomUUID();
        await expect(
          store.transact([{ resourceType: 'Patient', id, resource: patient(id, 'T'), ifVersion: 'absent' }])
        ).rejects.toBeInstanceOf(TransactionsUnsupportedError);
        expect(await store.read('Patient', id)).toBeUndefined();
      });

      it.skipIf(!transactions)('transact applies every write and returns the records in order', async () => {
        const x = randomUUID();
        const y = randomUUID();
        const w = randomUUID();
        await store.write({ resourceType: 'Patient', id: x, resource: patient(x, 'X'), ifVersion: 'absent' });
        await store.write({ resourceType: 'Immunization', id: w, resource: imm(w, 'W'), ifVersion: 'absent' });
        const tag = randomUUID();
        const recs = await store.transact([
          { resourceType: 'Patient', id: y, resource: patient(y, 'Y'), ifVersion: 'absent', index: { tag } },
          { resourceType: 'Patient', id: x, resource: patient(x, 'X2'), ifVersion: 1, index: { tag } },
          { resourceType: 'Immunization', id: w, ifVersion: 1 },
        ]);
        expect(recs.map((r) => [r.resourceType, r.id, r.versionId, r.deleted])).toEqual([
          ['Patient', y, 1, false],
          ['Patient', x, 2, false],
          ['Immunization', w, 2, true],
        ]);
        for (const r of recs) {
          expect(r.lastUpdated).toMatch(ISO_MS_UTC);
          expect(await store.read(r.resourceType, r.id)).toEqual(r);
        }
        expect(recs[0].resource?.meta?.versionId).toBe('1');
        expect(recs[2].resource).toBeUndefined();
        expect(await store.count('Patient', { 's.tag': tag })).toBe(2);
        expect(await store.transact([])).toEqual([]);
      });

      it.skipIf(!transactions)('one failing precondition stores nothing, on any type', async () => {
        const x = randomUUID();
        const y = randomUUID();
        const z = randomUUID();
        const tag = randomUUID();
        await store.write({ resourceType: 'Patient', id: x, resource: patient(x, 'X'), ifVersion: 'absent' });
        const ops: WriteOp[] = [
          { resourceType: 'Patient', id: y, resource: patient(y, 'Y'), ifVersion: 'absent', index: { tag } },
          { resourceType: 'Immunization', id: z, resource: imm(z, 'Z'), ifVersion: 'any', index: { tag } },
          { resourceType: 'Patient', id: x, resource: patient(x, 'X2'), ifVersion: 99, index: { tag } },
        ];
        const err = await expectConflict(store.transact(ops));
        expect(err.id).toBe(x);
        expect(err.expected).toBe(99);
        expect(err.actual).toBe(1);
        expect(await store.read('Patient', y)).toBeUndefined();
        expect(await store.read('Immunization', z)).toBeUndefined();
        expect((await store.read('Patient', x))?.versionId).toBe(1);
        expect(await store.historyCount({ resourceType: 'Patient', id: x })).toBe(1);
        expect(await store.historyCount({ resourceType: 'Patient', id: y })).toBe(0);
        expect(await store.historyCount({ resourceType: 'Immunization', id: z })).toBe(0);
        expect(await store.count('Patient', { 's.tag': tag })).toBe(0);
        expect(await store.count('Immunization', { 's.tag': tag })).toBe(0);

        // 'absent' failing on an existing resource also aborts everything
        const err2 = await expectConflict(
          store.transact([
            { resourceType: 'Immunization', id: z, resource: imm(z, 'Z'), ifVersion: 'absent' },
            { resourceType: 'Patient', id: x, resource: patient(x, 'dup'), ifVersion: 'absent' },
          ])
        );
        expect(err2.id).toBe(x);
        expect(await store.read('Immunization', z)).toBeUndefined();

        // and the same writes succeed once the precondition holds
        const ok = await store.transact(ops.map((op) => (op.id === x ? { ...op, ifVersion: 1 } : op)));
        expect(ok.map((r) => r.versionId)).toEqual([1, 1, 2]);
      });

      it.skipIf(!transactions)('concurrent transactions on the same resource: exactly one wins', async () => {
        const x = randomUUID();
        await store.write({ resourceType: 'Patient', id: x, resource: patient(x, 'X'), ifVersion: 'absent' });
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => {
            const other = randomUUID();
            return store.transact([
              { resourceType: 'Observation', id: other, resource: obs(other, i), ifVersion: 'absent' },
              { resourceType: 'Patient', id: x, resource: patient(x, `X${i}`), ifVersion: 1 },
            ]);
          })
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
        }
        expect((await store.read('Patient', x))?.versionId).toBe(2);
      });
    });

    describe('concurrency', () => {
      it('50 concurrent writes with the same ifVersion: exactly one succeeds', async () => {
        const id = randomUUID();
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'base'), ifVersion: 'absent' });
        const results = await Promise.allSettled(
          Array.from({ length: 50 }, (_, i) =>
            store.write({ resourceType: 'Patient', id, resource: patient(id, `w${i}`), ifVersion: 1 })
          )
        );
        const ok = results.filter((r): r is PromiseFulfilledResult<ResourceRecord> => r.status === 'fulfilled');
        expect(ok).toHaveLength(1);
        expect(ok[0].value.versionId).toBe(2);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
        }
        const hist = await store.history({ resourceType: 'Patient', id, count: 100 });
        expect(hist.map((r) => r.versionId)).toEqual([2, 1]);
        expect(await store.read('Patient', id)).toEqual(ok[0].value);
      });

      it("50 concurrent 'any' writes all land with gapless versions", async () => {
        const id = randomUUID();
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            store.write({ resourceType: 'Patient', id, resource: patient(id, `w${i}`), ifVersion: 'any' })
          )
        );
        expect(results.map((r) => r.versionId).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
        const hist = await store.history({ resourceType: 'Patient', id, count: 100 });
        expect(hist.map((r) => r.versionId)).toEqual(Array.from({ length: 50 }, (_, i) => 50 - i));
        expectSortedNewestFirst(hist);
        expect((await store.read('Patient', id))?.versionId).toBe(50);
      });

      it('50 concurrent creates of distinct resources all land', async () => {
        const tag = randomUUID();
        const ids = Array.from({ length: 50 }, () => randomUUID());
        await Promise.all(
          ids.map((id) => store.write({ resourceType: 'Patient', id, resource: patient(id, 'many'), ifVersion: 'absent', index: { tag } }))
        );
        expect(await store.count('Patient', { 's.tag': tag })).toBe(50);
        const found = await store.search('Patient', { filter: { 's.tag': tag }, limit: 100 });
        expect(found.map((r) => r.id).sort()).toEqual([...ids].sort());
      });
    });

    describe('withLock', () => {
      it('holders of the same key never overlap, and results and errors pass through', async () => {
        const key = `contract-${randomUUID()}`;
        let active = 0;
        let maxActive = 0;
        let runs = 0;
        const body = async (i: number) => {
          active++;
          maxActive = Math.max(maxActive, active);
          await sleep(20);
          runs++;
          active--;
          if (i === 2) throw new Error('boom');
          return i;
        };
        const results = await withTimeout(
          Promise.allSettled([0, 1, 2, 3].map((i) => store.withLock(key, () => body(i)))),
          20_000,
          'withLock same key'
        );
        expect(maxActive).toBe(1);
        expect(runs).toBe(4);
        expect(results[0]).toEqual({ status: 'fulfilled', value: 0 });
        expect(results[1]).toEqual({ status: 'fulfilled', value: 1 });
        expect(results[2].status).toBe('rejected');
        expect((results[2] as PromiseRejectedResult).reason.message).toBe('boom');
        expect(results[3]).toEqual({ status: 'fulfilled', value: 3 });
        // released after an error: can be taken again
        expect(await withTimeout(store.withLock(key, async () => 'again'), 10_000, 'relock')).toBe('again');
      });

      it('different keys run concurrently', async () => {
        const k1 = `contract-${randomUUID()}`;
        const k2 = `contract-${randomUUID()}`;
        let startA!: () => void;
        let startB!: () => void;
        const aStarted = new Promise<void>((r) => (startA = r));
        const bStarted = new Promise<void>((r) => (startB = r));
        // each holder waits for the other to be inside its own lock: only possible if they overlap
        const p1 = store.withLock(k1, async () => {
          startA();
          await withTimeout(bStarted, 10_000, 'lock B never entered while A held');
          return 'a';
        });
        const p2 = store.withLock(k2, async () => {
          startB();
          await withTimeout(aStarted, 10_000, 'lock A never entered while B held');
          return 'b';
        });
        expect(await Promise.all([p1, p2])).toEqual(['a', 'b']);
      });
    });
  });
}
