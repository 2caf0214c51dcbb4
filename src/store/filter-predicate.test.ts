// The in-process filter predicate agrees with mingo (the embedded store's engine) on the shapes the
// exporter and the access policy produce, including the Set fast path for long $in / $nin lists.
import { Query } from 'mingo';
import { describe, expect, it } from 'vitest';
import { scanPredicate } from './filter-predicate.js';
import type { StoredDoc } from './store.js';

let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)];

const refs = Array.from({ length: 40 }, (_, i) => `Patient/p${i}`);
function doc(i: number): StoredDoc {
  const s: Record<string, unknown> = {};
  const shape = Math.floor(rand() * 5);
  if (shape === 1) s.patient = pick(refs);
  if (shape === 2) s.patient = [pick(refs), pick(refs)];
  if (shape === 3) s.patient = [];
  if (shape === 4) s.patient = null;
  s.identifier = rand() < 0.5 ? [{ s: 'urn:x', c: `c${Math.floor(rand() * 30)}` }, { s: 'urn:y', c: `c${Math.floor(rand() * 30)}` }] : { s: 'urn:x', c: `c${i % 30}` };
  s.tag = rand() < 0.5 ? 'a' : 'b';
  return { _id: `id${i}`, versionId: 1, lastUpdated: '2024-01-01T00:00:00.000Z', deleted: false, resource: null, s };
}

describe('scanPredicate', () => {
  const docs = Array.from({ length: 400 }, (_, i) => doc(i));
  const lists = [refs.slice(0, 20), refs.slice(10, 35), [...refs.slice(0, 18), 'x', 'y']];
  const filters: Record<string, unknown>[] = [{}];
  for (const list of lists) {
    filters.push({ 's.patient': { $in: list } });
    filters.push({ 's.patient': { $nin: list } });
    filters.push({ $and: [{ 's.tag': 'a' }, { 's.patient': { $nin: list } }] });
    filters.push({ $and: [{ _id: { $in: Array.from({ length: 30 }, (_, i) => `id${i * 3}`) } }, { 's.patient': { $in: list } }] });
    filters.push({ 's.identifier.c': { $in: Array.from({ length: 20 }, (_, i) => `c${i}`) } });
    filters.push({ 's.identifier.c': { $nin: Array.from({ length: 20 }, (_, i) => `c${i}`) } });
    filters.push({ $and: [{ 's.patient': { $in: list.slice(0, 3) } }, { 's.tag': 'b' }] }); // short list: mingo alone
  }

  it('matches exactly what mingo matches', () => {
    for (const f of filters) {
      const q = new Query(f);
      const expected = docs.filter((d) => q.test(d as unknown as Record<string, unknown>)).map((d) => d._id);
      const p = scanPredicate(f);
      const got = docs.filter((d) => !p || p(d)).map((d) => d._id);
      expect(got, JSON.stringify(f)).toEqual(expected);
    }
  });

  it('an empty filter needs no predicate', () => {
    expect(scanPredicate({})).toBeUndefined();
  });
});
