// The `stats` counters (entries per index value) must stay exactly those of the live resources
// whatever happens: requests sharing one commit, a request that fails half-way after writing some
// counters (its child transaction is rolled back alone), refused requests (version conflicts), and
// restarts. Checked against a model over random request groups, both in the `stats` database itself
// and through `count` of one indexed value (answered from the counters). Any cache of counter values
// (an in-memory mirror was tried in session 6) must keep this green. A restart may change which
// indexes are uncounted (EmbeddedStoreOptions.uncounted: `s.patient` and `lastUpdated` here): an
// index made uncounted loses its counters, one counted again gets them back from its entries, and
// `count` of a value answers the same either way.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { SearchIndex, WriteOp } from '../store.js';
import { expectedCounters, indexDefsOf, storedCounters } from './counter-oracle.fixture.js';
import { EmbeddedStore } from './embedded-store.js';
import type { IndexDef } from './index-values.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Internals {
  stats: { getRange(options?: object): Iterable<{ key: unknown[]; value: number }>; putSync: (...args: unknown[]) => unknown };
  defs: Map<string, IndexDef[]>;
}

const IDS = ['a', 'b', 'c', 'd'];
const CODES = ['08', '20', '10'];
const INDEXES = { Immunization: ['s.patient', 's.vaccine-code.c', 's.date.lo', 's.vaccine-code.c+s.date.lo', 's._sort.date'] };

interface Op {
  id: string;
  remove: boolean;
  createOnly: boolean;
  codes: string[];
  patients: string[];
}

const opArb: fc.Arbitrary<Op> = fc.record({
  id: fc.constantFrom(...IDS),
  remove: fc.boolean(),
  createOnly: fc.boolean(),
  codes: fc.uniqueArray(fc.constantFrom(...CODES), { minLength: 1, maxLength: 2 }),
  patients: fc.uniqueArray(fc.constantFrom('p1', 'p2'), { maxLength: 2 }),
});

interface Group {
  requests: Op[][];
  /** Make the n-th counter put of the group throw (a request failing half-way), if set. */
  failAt: number | undefined;
  restartAfter: boolean;
  /** Whether the store opened at the restart keeps `s.patient` and `lastUpdated` uncounted. */
  uncountedAfter: boolean;
}

const groupArb: fc.Arbitrary<Group> = fc.record({
  requests: fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
  failAt: fc.option(fc.nat({ max: 12 }), { nil: undefined }),
  restartAfter: fc.boolean(),
  uncountedAfter: fc.boolean(),
});

function writeOp(o: Op): WriteOp {
  if (o.remove) return { resourceType: 'Immunization', id: o.id };
  const resource = { resourceType: 'Immunization', id: o.id, status: 'completed' } as Resource;
  const index: SearchIndex = {
    'vaccine-code': o.codes.map((c) => ({ c })),
    date: { lo: '2024-01-01', hi: '2024-01-01' },
    patient: o.patients.map((p) => `Patient/${p}`),
    _sort: { date: '2024-01-01' },
  };
  return { resourceType: 'Immunization', id: o.id, resource, index, ...(o.createOnly ? { ifVersion: 'absent' as const } : {}) };
}

/** Counters the live resources call for, by JSON of the key. */
describe('embedded store counters', () => {
  it('stay exact across shared commits, requests failing half-way, conflicts and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(groupArb, { minLength: 1, maxLength: 6 }), fc.boolean(), async (groups, uncountedFirst) => {
        const dir = await mkdtemp(join(tmpdir(), 'iis-counter-mirror-'));
        dirs.push(dir);
        const uncounted = (on: boolean) => (_type: string, path: string) => on && (path === 's.patient' || path === 'lastUpdated');
        let store = new EmbeddedStore({ dataDir: dir, indexes: INDEXES, uncounted: uncounted(uncountedFirst) });
        await store.init();
        try {
          const live = new Map<string, { lastUpdated: string; s: SearchIndex }>();
          for (const group of groups) {
            const internals = store as unknown as Internals;
            const realPut = internals.stats.putSync;
            let puts = 0;
            if (group.failAt !== undefined) {
              internals.stats.putSync = function (this: unknown, ...args: unknown[]) {
                if (puts++ === group.failAt) throw new Error('injected: counter put failed');
                return realPut.apply(this, args);
              };
            }
            // Issued in one event turn: they share one commit, each as its own child transaction.
            const opsOf = group.requests.map((r) => r.map(writeOp));
            const settled = await Promise.allSettled(opsOf.map((ops) => store.transact(ops)));
            internals.stats.putSync = realPut;
            settled.forEach((result, i) => {
              if (result.status === 'rejected') return; // conflict or injected failure: nothing written
              opsOf[i].forEach((op, j) => {
                if (op.resource) live.set(op.id, { lastUpdated: result.value[j].lastUpdated, s: op.index ?? {} });
                else live.delete(op.id);
              });
            });
            if (group.restartAfter) {
              await store.close();
              store = new EmbeddedStore({ dataDir: dir, indexes: INDEXES, uncounted: uncounted(group.uncountedAfter) });
              await store.init();
            }
            const defs = indexDefsOf(store, 'Immunization');
            expect(storedCounters(store, defs)).toEqual(expectedCounters(live, defs));
            for (const code of CODES) {
              const n = [...live.values()].filter(({ s }) => (s['vaccine-code'] as Array<{ c: string }>).some((v) => v.c === code)).length;
              expect(await store.count('Immunization', { 's.vaccine-code.c': code })).toBe(n);
            }
            for (const p of ['p1', 'p2']) {
              const n = [...live.values()].filter(({ s }) => (s.patient as string[]).includes(`Patient/${p}`)).length;
              expect(await store.count('Immunization', { 's.patient': `Patient/${p}` })).toBe(n);
            }
          }
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 }
    );
  });
});

describe('embedded store counters of compound keys', () => {
  it('keeps apart two keys whose values hold the characters a counter name is joined with', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iis-counters-'));
    dirs.push(dir);
    const store = new EmbeddedStore({ dataDir: dir, indexes: { Immunization: ['s.a+s.b'] } });
    await store.init();
    try {
      const op = (id: string, a: string, b: string): WriteOp => ({
        resourceType: 'Immunization',
        id,
        resource: { resourceType: 'Immunization', id, status: 'completed' } as Resource,
        index: { a, b },
      });
      // With names joined as `n \0 type \0 value`, both keys were one counter: 2 on the first key, none on the second.
      await store.transact([op('x', 'p\u0000string\u0000q', 'r'), op('y', 'p', 'q\u0000string\u0000r')]);
      const internals = store as unknown as Internals;
      const n = internals.defs.get('Immunization')!.find((d) => d.path === 's.a+s.b')!.n;
      const stored = [...internals.stats.getRange()].filter((e) => e.key[0] === n).map((e) => [e.key.slice(1), e.value]);
      expect(stored).toEqual(
        expect.arrayContaining([
          [['p\u0000string\u0000q', 'r'], 1],
          [['p', 'q\u0000string\u0000r'], 1],
        ])
      );
      expect(stored).toHaveLength(2);
    } finally {
      await store.close();
    }
  });
});
