// A search whose filter requires a string value that an exactly counted index counts 0 (a new
// child's PID-3 look-up, a new dose's ORC-3) answers empty before planning (`requiresUncounted`);
// otherwise the counts it read are the planner's first estimates. Its answers must be the planned
// search's exactly (the same records in the same order, the same `lastScanned`) and the filter's on
// every live document: checked over random histories of creates, updates, deletes and re-creates
// (counts that go to 0 and back), with multi-valued paths, `$elemMatch`, `$and`, `$in`, ranges,
// values past the indexed length, sorted and unsorted searches with limits and skips.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { filterQuery } from '../mingo-query.js';
import type { Filter, ResourceRecord, StoreQuery } from '../store.js';
import { EmbeddedStore } from './embedded-store.js';
import { MAX_INDEXED_CHARS } from './index-values.js';
import { conditionsOf, isPoint, requiredStrings } from './planner.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const LONG = 'x'.repeat(MAX_INDEXED_CHARS);
const CODES = ['c1', 'c2', 'c3', `${LONG}1`];
const SYSTEMS = ['s1', 's2'];
const FAMILIES = ['ann', 'bob', 'cy'];

interface Doc {
  identifier: Array<{ c: string; s: string }>;
  family: string[];
  n: number;
  _sort: { family: string };
}
type Step = { kind: 'put'; id: string; doc: Doc } | { kind: 'delete'; id: string } | { kind: 'search'; filter: Filter; sorted: boolean; limit: number; skip: number };

const docArb: fc.Arbitrary<Doc> = fc
  .record({
    identifier: fc.array(fc.record({ c: fc.constantFrom(...CODES), s: fc.constantFrom(...SYSTEMS) }), { maxLength: 2 }),
    family: fc.uniqueArray(fc.constantFrom(...FAMILIES), { maxLength: 2 }),
    n: fc.integer({ min: 0, max: 3 }),
  })
  .map((d) => ({ ...d, _sort: { family: d.family[0] ?? '' } }));

const code = fc.constantFrom(...CODES, 'c9', `${LONG}2`);
const system = fc.constantFrom(...SYSTEMS, 's9');
const family = fc.constantFrom(...FAMILIES, 'dee');
const part: fc.Arbitrary<Filter> = fc.oneof(
  fc.tuple(code, system).map(([c, s]) => ({ 's.identifier': { $elemMatch: { c, s } } })),
  code.map((c) => ({ 's.identifier': { $elemMatch: { c } } })),
  code.map((c) => ({ 's.identifier.c': c })),
  family.map((f) => ({ 's.family': f })),
  fc.uniqueArray(family, { minLength: 1, maxLength: 3 }).map((fs) => ({ 's.family': { $in: fs } })),
  fc.integer({ min: 0, max: 4 }).map((n) => ({ 's.n': n })),
  fc.integer({ min: 0, max: 4 }).map((n) => ({ 's.n': { $gte: n } })),
  family.map((f) => ({ 's._sort.family': f })),
  family.map((f) => ({ 's.family': { $ne: f } }))
);
const filterArb: fc.Arbitrary<Filter> = fc.oneof(
  part,
  fc.tuple(part, part).map(([a, b]) => ({ ...b, ...a })),
  fc.array(part, { minLength: 1, maxLength: 3 }).map((parts) => ({ $and: parts })),
  fc.tuple(part, part, part).map(([a, b, c]) => ({ ...a, $and: [b, c] })),
  fc.tuple(part, part).map(([a, b]) => ({ $or: [a, b] }))
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), id: fc.constantFrom(...IDS), doc: docArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), id: fc.constantFrom(...IDS) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('search' as const),
      filter: filterArb,
      sorted: fc.boolean(),
      limit: fc.integer({ min: 1, max: 8 }),
      skip: fc.integer({ min: 0, max: 2 }),
    }),
  }
);

const shape = (records: ResourceRecord[]) => records.map((r) => ({ id: r.id, versionId: r.versionId, deleted: r.deleted, resource: r.resource, json: r.json }));

describe('embedded store: a required string counted 0 answers empty before planning', () => {
  it('gives the planned search and the filter on every live document (fast-check over random histories)', async () => {
    await fc.assert(
      // `uncounted`: the identifier's code and system kept without counters (their entries are
      // looked at instead), as the server keeps `s.identifier.c`.
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40 }), fc.boolean(), async (steps, uncounted) => {
        const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-required-strings-'));
        dirs.push(dir);
        const store = new EmbeddedStore({
          dataDir: dir,
          indexes: { Patient: ['s.identifier.c', 's.identifier.s', 's.family', 's.n', 's._sort.family', 's.family+s.n'] },
          uncounted: (_type, path) => uncounted && path.startsWith('s.identifier.'),
        });
        await store.init();
        const internals = store as unknown as { requiresUncounted: (...args: unknown[]) => boolean };
        const live = new Map<string, Doc>();
        try {
          for (const step of steps) {
            if (step.kind === 'put') {
              const resource = { resourceType: 'Patient', id: step.id, gender: 'unknown' } as Resource;
              await store.write({ resourceType: 'Patient', id: step.id, resource, index: { ...step.doc } });
              live.set(step.id, step.doc);
              continue;
            }
            if (step.kind === 'delete') {
              if (!live.has(step.id)) continue;
              await store.write({ resourceType: 'Patient', id: step.id });
              live.delete(step.id);
              continue;
            }
            const reference = filterQuery(step.filter);
            const expected = [...live]
              .filter(([id, s]) => reference.test({ _id: id, s } as unknown as Record<string, unknown>))
              .map(([id]) => id)
              .sort();
            const query: StoreQuery = step.sorted
              ? { filter: step.filter, limit: step.limit, skip: step.skip, sort: [{ field: '_id', direction: 1 }] }
              : { filter: step.filter, limit: step.limit, skip: step.skip, raw: true };
            const fast = await store.search('Patient', query);
            const fastScanned = store.lastScanned;
            // The slow path: the same search planned as before (no look before planning).
            const spy = vi.spyOn(internals, 'requiresUncounted').mockReturnValue(false);
            let slow: ResourceRecord[];
            try {
              slow = await store.search('Patient', query);
            } finally {
              spy.mockRestore();
            }
            expect(shape(fast)).toEqual(shape(slow));
            expect(fastScanned).toBe(store.lastScanned);
            const ids = fast.map((r) => r.id);
            if (step.sorted) expect(ids).toEqual(expected.slice(step.skip, step.skip + step.limit));
            else {
              expect(ids.length).toBe(Math.min(step.limit, Math.max(0, expected.length - step.skip)));
              for (const id of ids) expect(expected).toContain(id);
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

describe('requiredStrings', () => {
  it('names only point conditions the planner finds in the filter (fast-check)', () => {
    const ctx = { indexed: () => true, singleValued: () => false, span: () => undefined };
    fc.assert(
      fc.property(filterArb, (filter) => {
        const points = new Set(
          conditionsOf(filter, ctx).flatMap((c) => (c.kind === 'path' ? c.intervals.filter(isPoint).map((i) => `${c.path}=${String(i.lo!.v)}`) : []))
        );
        requiredStrings(filter, (path, value) => {
          expect(points).toContain(`${path}=${value}`);
          return false;
        });
      }),
      { numRuns: 300 }
    );
  });

  it('finds the identifier look-ups, top-level equalities and $and members, and stops when told', () => {
    const seen: string[] = [];
    const visit = (path: string, value: string) => (seen.push(`${path}=${value}`), false);
    requiredStrings({ 's.identifier': { $elemMatch: { c: 'X', s: 'Y', _id: 'z', $or: [] } }, $and: [{ 's.a': 'b' }, { 's.n': 1 }], 's.c': { $in: ['d'] } }, visit);
    expect(seen).toEqual(['s.identifier.c=X', 's.identifier.s=Y', 's.a=b']);
    expect(requiredStrings({ 's.a': 'b', 's.c': 'd' }, (path) => path === 's.a')).toBe(true);
    expect(requiredStrings({ 's.a': { $regex: '^b', $options: 'i', $elemMatch: { c: 'x' } } }, () => true)).toBe(false);
  });
});
