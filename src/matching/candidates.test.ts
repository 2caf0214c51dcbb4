import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import type { Filter, ResourceRecord, StoreReader } from '../store/store.js';
import { blockingStages } from './blocking.js';
import { findMatches, matchKeysOf } from './candidates.js';
import { patient } from './test-patients.js';

/** A StoreReader over an array that answers equality / $in on `s._m` and counts the queries. */
function fakeStore(patients: Patient[]): StoreReader & { queries: number } {
  const keys = new Map(patients.map((p) => [p.id as string, new Set(matchKeysOf(p))]));
  const store = {
    kind: 'embedded' as const,
    queries: 0,
    async search(_type: string, query: { filter: Filter; limit: number }): Promise<ResourceRecord[]> {
      store.queries++;
      const want = (query.filter as Record<string, unknown>)['s._m'];
      const wanted = typeof want === 'string' ? [want] : ((want as { $in: string[] }).$in ?? []);
      return patients
        .filter((p) => wanted.some((k) => keys.get(p.id as string)!.has(k)))
        .slice(0, query.limit)
        .map((p) => ({ id: p.id as string, resource: p }) as unknown as ResourceRecord);
    },
  };
  return store as unknown as StoreReader & { queries: number };
}

const stored = patient({ id: 'p1', given: ['Judith'], family: 'Okafor', birthDate: '2019-04-02', gender: 'female', phone: '517-555-0101', line: '48 Cedar Lane', zip: '48910' });
const cousin = patient({ id: 'p2', given: ['Judith'], family: 'Okafor', birthDate: '2018-04-02', gender: 'female', line: '9 Monroe Street', zip: '48201' });

describe('two-stage candidate retrieval', () => {
  it('splits the key families: birth date, phone, address, identifiers first; the tolerant ones after', () => {
    const { exact, tolerant } = blockingStages(stored, { path: 's._m' });
    expect(exact.map((f) => JSON.stringify(f))).toEqual(expect.arrayContaining([expect.stringContaining('d:20190402'), expect.stringContaining('ph:5175550101')]));
    expect(tolerant.map((f) => JSON.stringify(f)).join(' ')).toMatch(/fm:.*fd:.*fg:/);
  });

  it('a certain match from the exact keys ends the search; otherwise the tolerant keys are fetched too', async () => {
    const store = fakeStore([stored, cousin]);
    const input = patient({ given: ['Judith'], family: 'Okafor', birthDate: '2019-04-02', gender: 'female', phone: '517-555-0101' });
    const again = await findMatches(store, input);
    expect(again.map((r) => [r.patient.id, r.decision.grade])).toEqual([['p1', 'certain']]);
    const exactQueries = store.queries;
    expect(exactQueries).toBe(blockingStages(input).exact.length);

    store.queries = 0;
    // birth date a day off: nothing certain from the exact keys, so the surname + date variants run
    const typo = await findMatches(store, patient({ given: ['Judith'], family: 'Okafor', birthDate: '2019-04-03', gender: 'female' }));
    expect(typo.map((r) => r.patient.id)).toContain('p1');
    expect(store.queries).toBeGreaterThan(exactQueries);
  });
});
