// A write request puts its `cur` and index entries in key order, after removing what the resources
// it updates or deletes held (apply in embedded-store.ts), unless it writes one resource twice (then
// in place, in request order). Whatever the order, the store must hold exactly the entries and counts
// of its live resources: checked here against that model over random requests mixing creates,
// updates that keep or change values, deletes, and the same resource written twice in one request.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { SearchIndex, WriteOp } from '../store.js';
import { compareKeys, EmbeddedStore } from './embedded-store.js';
import { indexTuples, type IndexDef } from './index-values.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Internals {
  idx: { getKeys(options?: object): Iterable<unknown[]> };
  stats: { getRange(options?: object): Iterable<{ key: unknown[]; value: number }> };
  defs: Map<string, IndexDef[]>;
}

const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const CODES = ['08', '20', '10'];

interface Op {
  id: string;
  remove: boolean;
  code: string;
  date: string;
  patients: string[];
}

const opArb: fc.Arbitrary<Op> = fc.record({
  id: fc.constantFrom(...IDS),
  remove: fc.boolean(),
  code: fc.constantFrom(...CODES),
  date: fc.constantFrom('2024-01-01', '2024-02-01'),
  patients: fc.uniqueArray(fc.constantFrom('p1', 'p2', 'p3'), { maxLength: 2 }),
});

function writeOp(o: Op): WriteOp {
  if (o.remove) return { resourceType: 'Immunization', id: o.id };
  const resource = { resourceType: 'Immunization', id: o.id, status: 'completed', lotNumber: o.code } as Resource;
  const index: SearchIndex = {
    'vaccine-code': [{ c: o.code }],
    date: { lo: o.date, hi: o.date },
    patient: o.patients.map((p) => `Patient/${p}`),
    _sort: { date: o.date },
  };
  return { resourceType: 'Immunization', id: o.id, resource, index };
}

describe('embedded store write order', () => {
  it('holds exactly the index entries and counts of its live resources, however requests group their writes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }), async (requests) => {
        const dir = await mkdtemp(join(tmpdir(), 'iis-write-order-'));
        dirs.push(dir);
        const store = new EmbeddedStore({
          dataDir: dir,
          indexes: { Immunization: ['s.patient', 's.vaccine-code.c', 's.date.lo', 's.vaccine-code.c+s.date.lo', 's._sort.date'] },
        });
        await store.init();
        try {
          const live = new Map<string, { lastUpdated: string; s: SearchIndex }>();
          for (const request of requests) {
            const ops = request.map(writeOp);
            const records = await store.transact(ops);
            ops.forEach((op, i) => {
              if (op.resource) live.set(op.id, { lastUpdated: records[i].lastUpdated, s: op.index ?? {} });
              else live.delete(op.id);
            });
          }
          const internals = store as unknown as Internals;
          const defs = internals.defs.get('Immunization') ?? [];
          const expectedKeys: unknown[][] = [];
          const expectedCounts = new Map<string, number>();
          for (const [id, { lastUpdated, s }] of live) {
            for (const def of defs) {
              for (const t of indexTuples({ _id: id, lastUpdated, s }, def)) {
                expectedKeys.push([def.n, ...t, id]);
                if (def.parts && def.sort) continue; // compounds of sort keys are not counted
                if (t.includes(null)) continue;
                const name = JSON.stringify([def.n, ...t]);
                expectedCounts.set(name, (expectedCounts.get(name) ?? 0) + 1);
              }
            }
          }
          const ns = new Set(defs.map((d) => d.n));
          const keys = [...internals.idx.getKeys()].filter((k) => ns.has(k[0] as number));
          expect(keys).toEqual(expectedKeys.sort(compareKeys));
          const counts = new Map([...internals.stats.getRange()].filter((e) => ns.has(e.key[0] as number)).map((e) => [JSON.stringify(e.key), e.value]));
          expect(counts).toEqual(expectedCounts);
          for (const id of IDS) {
            const rec = await store.read('Immunization', id);
            expect(rec !== undefined && !rec.deleted).toBe(live.has(id));
          }
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 }
    );
  });
});
