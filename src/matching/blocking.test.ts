import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { blockingQueries, BLOCK_LIMIT, MATCHING_INDEX_VERSION, matchingIndex } from './blocking.js';
import { rankCandidates } from './rank.js';
import { HOUSEHOLD, patient } from './test-patients.js';

const liam = patient({
  id: 'liam',
  given: ['Liam', 'James'],
  family: 'Smith-Jones',
  birthDate: '2025-03-14',
  gender: 'male',
  clinicMrn: 'C-77',
  ssn: '123-45-6780',
  ...HOUSEHOLD,
});

const keysOf = (filters: Array<Record<string, unknown>>, path = 'm.keys') =>
  filters.flatMap((f) => {
    const v = f[path] as string | { $in: string[] };
    return typeof v === 'string' ? [v] : v.$in;
  });

describe('matchingIndex', () => {
  it('holds one key per blocking family, normalised', () => {
    const m = matchingIndex(liam);
    expect(m.v).toBe(MATCHING_INDEX_VERSION);
    expect(m.keys).toContain('d:20250314');
    expect(m.keys).toContain('ph:5175550134');
    expect(m.keys).toContain('id:ssn:|123456780');
    expect(m.keys.some((k) => k.startsWith('id:mrn:') && k.endsWith('|C77'))).toBe(true);
    expect(m.keys.some((k) => k.startsWith('ad:48909:12:'))).toBe(true);
    expect(m.keys.some((k) => k.startsWith('mm:') && k.endsWith(':202503'))).toBe(true);
    // one surname code per part of the hyphenated name
    expect(m.keys.filter((k) => k.startsWith('fm:') && k.endsWith(':202503')).length).toBeGreaterThanOrEqual(2);
    expect(m.keys).toEqual([...new Set(m.keys)].sort());
  });

  it('stores no tolerant variants (only queries carry them, with the surname)', () => {
    expect(matchingIndex(liam).keys.filter((k) => k.startsWith('d:'))).toEqual(['d:20250314']);
    const keys = keysOf(blockingQueries(liam));
    expect(keys.filter((k) => k.startsWith('d:'))).toEqual(['d:20250314']);
    expect(keys.filter((k) => k.startsWith('fm:')).map((k) => k.split(':')[2])).toEqual(expect.arrayContaining(['202503', '202403', '202603']));
    expect(keys.filter((k) => k.startsWith('fd:')).map((k) => k.split(':')[2])).toEqual(expect.arrayContaining(['0314', '0313', '0315']));
  });
});

describe('blockingQueries', () => {
  it('one equality or $in filter on the keys path per family', () => {
    const filters = blockingQueries(liam);
    expect(filters.length).toBeGreaterThanOrEqual(7);
    for (const f of filters) {
      expect(Object.keys(f)).toEqual(['m.keys']);
      const v = f['m.keys'];
      expect(typeof v === 'string' || (typeof v === 'object' && v !== null && Array.isArray((v as { $in: unknown }).$in))).toBe(true);
    }
    expect(keysOf(blockingQueries(liam, { path: 's._m' }), 's._m').length).toBeGreaterThan(0);
  });

  it('swapped day/month and year typos are queried', () => {
    const p = patient({ given: ['Ann'], family: 'Lee', birthDate: '2011-07-03' });
    const keys = keysOf(blockingQueries(p));
    expect(keys.some((k) => k.startsWith('fm:') && k.endsWith(':201103'))).toBe(true); // swapped
    expect(keys.some((k) => k.startsWith('fd:') && k.endsWith(':0307'))).toBe(true);
    expect(keys.some((k) => k.startsWith('fm:') && k.endsWith(':201007'))).toBe(true); // year - 1
  });

  it('a patient with nothing to block on gives no filters', () => {
    expect(blockingQueries({ resourceType: 'Patient' })).toEqual([]);
  });
});

describe('blocking against the embedded store', () => {
  it('answers every blocking query from the hash index, never by a scan', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iis-matching-test-'));
    // Until the lead stores `m` beside `s`, the keys ride in the search index under `_m`.
    const store = new EmbeddedStore({ dataDir: dir, indexes: { Patient: ['s._m'] } });
    await store.init();
    try {
      const surnames = ['Smith', 'Jones', 'Garcia', 'Nguyen', 'Okafor', 'Kowalski', 'Larsen', 'Haddad'];
      const firsts = ['Liam', 'Emma', 'Noah', 'Olivia', 'Ava', 'Mateo', 'Sofia', 'Ada'];
      const ops = [];
      for (let i = 0; i < 2000; i++) {
        const p: Patient = patient({
          id: `p${i}`,
          given: [firsts[i % 8]],
          family: surnames[(i * 7) % 8],
          birthDate: `20${String(10 + (i % 15)).padStart(2, '0')}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`,
          gender: i % 2 ? 'male' : 'female',
          phone: `(517) 555-${String(i).padStart(4, '0')}`,
        });
        ops.push(store.write({ resourceType: 'Patient', id: p.id!, resource: p, ifVersion: 'any', index: { _m: matchingIndex(p).keys } }));
      }
      const target = patient({ id: 'target', given: ['Liam'], family: 'Smith', birthDate: '2025-03-14', gender: 'male', ...HOUSEHOLD });
      ops.push(store.write({ resourceType: 'Patient', id: 'target', resource: target, ifVersion: 'any', index: { _m: matchingIndex(target).keys } }));
      await Promise.all(ops);

      const input = patient({ given: ['Baby', 'Boy'], family: 'Smith', birthDate: '2025-03-14', gender: 'male', ...HOUSEHOLD });
      const found = new Map<string, Patient>();
      for (const filter of blockingQueries(input, { path: 's._m' })) {
        const records = await store.search('Patient', { filter, limit: BLOCK_LIMIT });
        expect(store.lastScanned).toBeLessThan(200); // hash-index candidates, not the 2001 patients
        for (const r of records) found.set(r.id, r.resource as Patient);
      }
      expect(found.has('target')).toBe(true);
      expect(found.size).toBeLessThan(100);
      const ranked = rankCandidates(input, [...found.values()]);
      expect(ranked[0].patient.id).toBe('target');
      expect(ranked[0].decision.grade).toBe('certain');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
