// A search plan compiles the filter left for the documents (mingo) only when a candidate's
// document is checked (Plan.query). Whatever the filter, the results are those of the filter
// evaluated on every stored document (the reference), with or without candidates to check.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterQuery } from '../mingo-query.js';
import { EmbeddedStore } from './embedded-store.js';

describe('embedded store: the filter left for documents, compiled on first use', () => {
  let dir: string;
  let store: EmbeddedStore;
  const docs: Array<{ id: string; s: { tag: string; n: number; m: number } }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-embedded-lazy-filter-'));
    // s.m is not indexed: a condition on it is evaluated on each candidate's document.
    store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s.tag', 's.n'] } });
    await store.init();
    for (let i = 0; i < 40; i++) {
      const id = `p${i}`;
      const index = { tag: ['a', 'b', 'c'][i % 3], n: i % 5, m: i % 7 };
      docs.push({ id, s: index });
      await store.write({ resourceType: 'Patient', id, resource: { resourceType: 'Patient', id } as Resource, ifVersion: 'absent', index });
    }
  });

  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the reference results for indexed, unindexed and mixed filters (some meet no candidate)', async () => {
    const condition = fc.oneof(
      fc.constantFrom('a', 'b', 'c', 'z').map((tag) => ({ 's.tag': tag })),
      fc.integer({ min: 0, max: 6 }).map((n) => ({ 's.n': n })),
      fc.integer({ min: 0, max: 8 }).map((m) => ({ 's.m': m })),
      fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 3 }).map((ms) => ({ 's.m': { $in: ms } })),
      fc.integer({ min: 0, max: 8 }).map((m) => ({ 's.m': { $gt: m } }))
    );
    await fc.assert(
      fc.asyncProperty(fc.array(condition, { minLength: 1, maxLength: 3 }), async (conditions) => {
        const filter = conditions.length === 1 ? conditions[0] : { $and: conditions };
        const reference = filterQuery(filter);
        const expected = docs.filter((d) => reference.test(d as unknown as Record<string, unknown>)).map((d) => d.id).sort();
        const found = (await store.search('Patient', { filter, limit: 100 })).map((r) => r.id).sort();
        expect(found).toEqual(expected);
        expect(await store.count('Patient', filter)).toBe(expected.length);
      }),
      { numRuns: 150 }
    );
  });
});
