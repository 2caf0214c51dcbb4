// A planned search whose walk is of values the index counts 0 (a new child's PID-3 look-up, a new
// dose's ORC-3) answers empty at once (`Plan.meetsNone`), and the planner stops estimating once a
// condition is counted 0. The answers must be those of the filter evaluated on every stored
// document (the reference), sorted or not, and a count after the search the same.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterQuery } from '../mingo-query.js';
import type { SortKey } from '../store.js';
import { EmbeddedStore } from './embedded-store.js';

// Counted indexes, and the same with every index uncounted (their entries counted where read).
describe.each([false, true])('embedded store: a plan that meets no record (indexes uncounted: %s)', (uncounted) => {
  let dir: string;
  let store: EmbeddedStore;
  const docs: Array<{ id: string; s: { identifier: Array<{ c: string; s: string }>; n: number } }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-embedded-meets-none-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s.identifier.c', 's.identifier.s', 's.n'] }, uncounted: () => uncounted });
    await store.init();
    for (let i = 0; i < 30; i++) {
      const id = `p${String(i).padStart(2, '0')}`;
      const s = { identifier: [{ c: `c${i % 10}`, s: ['sysA', 'sysB'][i % 2] }], n: i % 4 };
      docs.push({ id, s });
      await store.write({ resourceType: 'Patient', id, resource: { resourceType: 'Patient', id } as Resource, ifVersion: 'absent', index: s });
    }
  });

  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the reference answer for look-ups that meet no one and ones that do (fast-check)', async () => {
    const code = fc.constantFrom('c0', 'c3', 'c9', 'c10', 'none');
    const system = fc.constantFrom('sysA', 'sysB', 'sysC');
    const condition = fc.oneof(
      fc.tuple(code, system).map(([c, s]) => ({ 's.identifier': { $elemMatch: { c, s } } })),
      fc.array(code, { minLength: 1, maxLength: 3 }).map((cs) => ({ 's.identifier.c': { $in: cs } })),
      fc.integer({ min: 0, max: 6 }).map((n) => ({ 's.n': n })),
      fc.integer({ min: 0, max: 6 }).map((n) => ({ 's.n': { $gte: n } }))
    );
    const sorts: SortKey[][] = [[], [{ field: '_id', direction: 1 }], [{ field: 'lastUpdated', direction: 1 }, { field: '_id', direction: 1 }], [{ field: '_id', direction: -1 }]];
    let empty = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(condition, { minLength: 1, maxLength: 3 }), fc.constantFrom(...sorts), fc.integer({ min: 1, max: 40 }), async (conditions, sort, limit) => {
        const filter = conditions.length === 1 ? conditions[0] : { $and: conditions };
        const reference = filterQuery(filter);
        const expected = docs.filter((d) => reference.test(d as unknown as Record<string, unknown>)).map((d) => d.id);
        if (expected.length === 0) empty++;
        const found = (await store.search('Patient', { filter, sort, limit })).map((r) => r.id);
        if (sort.length === 0) {
          // Any order: some `limit` of the matches, each once.
          expect(found.every((id) => expected.includes(id))).toBe(true);
          expect(new Set(found).size).toBe(found.length);
        } else expect(found).toEqual(sort[0].direction === -1 ? [...expected].reverse().slice(0, limit) : expected.slice(0, limit));
        expect(found.length).toBe(Math.min(limit, expected.length));
        expect(await store.count('Patient', filter)).toBe(expected.length);
      }),
      { numRuns: 300 }
    );
    expect(empty).toBeGreaterThan(20); // the empty answers are exercised, not only the others
  });
});
