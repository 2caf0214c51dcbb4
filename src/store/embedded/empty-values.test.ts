// A search's planner reads each point value's entry count (`stats`) to estimate it; a value counted
// 0 has no index entries, so its walk is skipped (estimatePath / pathIds: most of matching's
// blocking keys and a new child's look-ups meet no one). That is only right while the counts are
// exact: checked here against the filter evaluated on every live document, over random histories of
// creates, updates that change values, deletes and re-creates (counts that go to 0 and back), with
// multi-valued paths, values past the indexed length (they share a truncated key), `$in` lists
// mixing present and absent values, `$elemMatch`, `$or`, sorted and unsorted searches, and counts.
// Also with every index uncounted (EmbeddedStoreOptions.uncounted): then the entries themselves are
// counted where a count is read, and must give the same answers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { filterQuery } from '../mingo-query.js';
import type { Filter } from '../store.js';
import { EmbeddedStore } from './embedded-store.js';
import { MAX_INDEXED_CHARS } from './index-values.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const IDS = ['a', 'b', 'c', 'd', 'e'];
const LONG = 'x'.repeat(MAX_INDEXED_CHARS);
/** Keys as matching stores them; the two long ones share their indexed (truncated) form. */
const KEYS = ['d:1', 'd:2', 'ph:1', `${LONG}1`, `${LONG}2`];
const CODES = ['c1', 'c2', 'c3'];

interface Doc {
  keys: string[];
  n: number;
  identifier: Array<{ c: string; s: string }>;
}
type Step = { kind: 'put'; id: string; doc: Doc } | { kind: 'delete'; id: string } | { kind: 'search'; filter: Filter; sorted: boolean };

const docArb: fc.Arbitrary<Doc> = fc.record({
  keys: fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 3 }),
  n: fc.integer({ min: 0, max: 3 }),
  identifier: fc.array(fc.record({ c: fc.constantFrom(...CODES), s: fc.constantFrom('s1', 's2') }), { maxLength: 2 }),
});

const value = fc.constantFrom(...KEYS, 'absent', `${LONG}3`);
const filterArb: fc.Arbitrary<Filter> = fc.oneof(
  value.map((k) => ({ 's.keys': k })),
  fc.uniqueArray(value, { minLength: 1, maxLength: 4 }).map((ks) => ({ 's.keys': { $in: ks } })),
  fc.integer({ min: 0, max: 4 }).map((n) => ({ 's.n': n })),
  fc.tuple(value, fc.integer({ min: 0, max: 4 })).map(([k, n]) => ({ 's.keys': k, 's.n': n })),
  fc
    .tuple(fc.constantFrom(...CODES, 'c9'), fc.constantFrom('s1', 's2'))
    .map(([c, s]) => ({ 's.identifier': { $elemMatch: { c, s } } })),
  fc.tuple(value, value).map(([a, b]) => ({ $or: [{ 's.keys': a }, { 's.keys': b }] }))
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), id: fc.constantFrom(...IDS), doc: docArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), id: fc.constantFrom(...IDS) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('search' as const), filter: filterArb, sorted: fc.boolean() }) }
);

describe('embedded store: values counted 0 are not walked', () => {
  it('gives the results of the filter on every live document, whatever the history of the counts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40 }), fc.boolean(), async (steps, uncounted) => {
        const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-empty-values-'));
        dirs.push(dir);
        const indexes = { Patient: ['s.keys', 's.n', 's.identifier.c', 's.identifier.s'] };
        const store = new EmbeddedStore({ dataDir: dir, indexes, uncounted: () => uncounted });
        await store.init();
        const live = new Map<string, Doc>();
        try {
          for (const step of steps) {
            if (step.kind === 'put') {
              const resource = { resourceType: 'Patient', id: step.id } as Resource;
              await store.write({ resourceType: 'Patient', id: step.id, resource, index: { ...step.doc } });
              live.set(step.id, step.doc);
            } else if (step.kind === 'delete') {
              if (!live.has(step.id)) continue;
              await store.write({ resourceType: 'Patient', id: step.id });
              live.delete(step.id);
            } else {
              const reference = filterQuery(step.filter);
              const expected = [...live]
                .filter(([id, s]) => reference.test({ _id: id, s } as unknown as Record<string, unknown>))
                .map(([id]) => id)
                .sort();
              const query = step.sorted ? { filter: step.filter, limit: 10, sort: [{ field: '_id', direction: 1 as const }] } : { filter: step.filter, limit: 10, raw: true };
              const found = (await store.search('Patient', query)).map((r) => r.id);
              expect(step.sorted ? found : [...found].sort()).toEqual(expected);
              expect(await store.count('Patient', step.filter)).toBe(expected.length);
            }
          }
        } finally {
          await store.close();
        }
      }),
      { numRuns: 80 }
    );
  });
});
