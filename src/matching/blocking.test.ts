import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { blockingQueries, BLOCK_LIMIT, MATCHING_INDEX_VERSION, matchingIndex } from './blocking.js';
import { compareBirthDate } from './comparators.js';
import { features } from './features.js';
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

const unique = (xs: string[]) => [...new Set(xs)];
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
    // 2025-03-14: day/month not swappable (14 > 12); ± 1 day stays in March; year ± 1 goes by the day of year.
    expect(unique(keys.filter((k) => k.startsWith('fm:')).map((k) => k.split(':')[2]))).toEqual(['202503']);
    expect(unique(keys.filter((k) => k.startsWith('fd:')).map((k) => k.split(':')[2]))).toEqual(['0314']);
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

  it('swapped day/month, neighbouring days and year typos are queried; dates wrong in two parts are not', () => {
    const p = patient({ given: ['Ann'], family: 'Lee', birthDate: '2011-07-03' });
    const keys = keysOf(blockingQueries(p));
    expect(keys.some((k) => k.startsWith('fm:') && k.endsWith(':201103'))).toBe(true); // swapped: 2011-03-07
    expect(keys.some((k) => k.startsWith('fm:') && k.endsWith(':201107'))).toBe(true); // another day of July 2011
    expect(keys.some((k) => k.startsWith('fd:') && k.endsWith(':0703'))).toBe(true); // another year, same day
    expect(keys.some((k) => k.endsWith(':201007') || k.endsWith(':201207'))).toBe(false); // July of 2010/2012 on another day
    expect(keys.some((k) => k.startsWith('fd:') && !k.endsWith(':0703'))).toBe(false); // 03-07, 07-02, 07-04 of other years
    // A day apart across the new year: the neighbouring month (of the other year) is looked up.
    const nye = keysOf(blockingQueries(patient({ given: ['Ann'], family: 'Lee', birthDate: '2011-12-31' })));
    expect(nye.some((k) => k.startsWith('fm:') && k.endsWith(':201201'))).toBe(true);
  });

  it('the surname keys find every birth date the comparator calls a typo (but a month digit), for 4,000 dates', () => {
    // Same name on both sides: which birth dates do birth date + surname keys (d, fm, fd) reach?
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const day = 86_400_000;
    const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
    const dateKeys = (keys: string[]) => keys.filter((k) => /^(d|fm|fd):/.test(k));
    let typos = 0;
    for (let i = 0; i < 4_000; i++) {
      const t = Date.UTC(2000, 0, 1) + Math.floor(next() * 26 * 365) * day;
      const a = iso(t);
      // Neighbouring dates, the same day in neighbouring years, day/month swapped, anything nearby.
      const [y, m, d] = a.split('-');
      const candidates = [iso(t + day), iso(t - day), `${Number(y) + 1}-${m}-${d}`, `${Number(y) - 3}-${m}-${d}`, `${y}-${d}-${m}`, iso(t + Math.floor((next() - 0.5) * 1600) * day)];
      const query = dateKeys(keysOf(blockingQueries(patient({ given: ['Ann'], family: 'Lee', birthDate: a }))));
      for (const b of candidates) {
        if (Number.isNaN(Date.parse(b)) || iso(Date.parse(b)) !== b) continue;
        const stored = patient({ given: ['Ann'], family: 'Lee', birthDate: b });
        const r = compareBirthDate(features(patient({ birthDate: a })), features(stored));
        const monthDigit = r.kind === 'digit' && a.slice(0, 4) === b.slice(0, 4) && a.slice(5, 7) !== b.slice(5, 7);
        if (r.outcome === 'conflict' || monthDigit) continue;
        typos++;
        const reached = dateKeys(matchingIndex(stored).keys).some((k) => query.includes(k));
        expect(reached, `${a} → ${b} (${r.kind})`).toBe(true);
      }
    }
    expect(typos).toBeGreaterThan(15_000);
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
