// `history({ resourceType, count: 1 })` (the data-sharing index's Consent stamp on every FHIR request)
// answers from the type's newest history entry, kept until a write of that type starts or commits
// (embedded-store.ts `newestEntry`), and so does `newestVersion(resourceType)`, its place without its
// content. Both checked against the history walk (the same query with a larger
// count) over random groups of concurrent creates, updates, deletes and refused writes of two types,
// read while the writes are in flight and after they settle.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResourceRecord } from '../store.js';
import { groupWriteOp, runConcurrentGroups, type GroupWrite } from './concurrent-writes.fixture.js';
import { EmbeddedStore } from './embedded-store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const TYPES = ['Consent', 'Patient'];
const IDS = ['a', 'b', 'c'];

type Write = GroupWrite;

const writeArb: fc.Arbitrary<Write> = fc.record({
  type: fc.constantFrom(...TYPES),
  id: fc.constantFrom(...IDS),
  remove: fc.boolean(),
  absent: fc.boolean(),
  note: fc.string({ maxLength: 4 }),
  verify: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
});

const summary = (records: ResourceRecord[]) => records.map((r) => ({ id: r.id, versionId: r.versionId, lastUpdated: r.lastUpdated, deleted: r.deleted, resource: r.resource }));

describe('embedded store: a type newest version', () => {
  it('equals the first entry of the history walk, during and after concurrent writes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(writeArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }), async (groups) => {
        const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-newest-'));
        dirs.push(dir);
        const store = new EmbeddedStore({ dataDir: dir, indexes: { Consent: [], Patient: [] } });
        await store.init();
        const check = async () => {
          for (const resourceType of TYPES) {
            // Both reads in the same synchronous step: the same snapshot.
            const fast = store.history({ resourceType, count: 1 });
            const place = store.newestVersion(resourceType);
            const walk = store.history({ resourceType, count: 1000 });
            const [first] = await walk;
            expect(summary(await fast)).toEqual(summary(first ? [first] : []));
            expect(await place).toEqual(first && { lastUpdated: first.lastUpdated, resourceType, id: first.id, versionId: first.versionId });
          }
        };
        try {
          await runConcurrentGroups(store, groups, (w) => groupWriteOp(w), check);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 }
    );
  });
});
