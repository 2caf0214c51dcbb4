// relaxFilter must match a superset of what the original filter matches (mingo decides the rest),
// and needsClientFilter must flag exactly the constructs FerretDB 1.x gets wrong.
import { Query } from 'mingo';
import { describe, expect, it } from 'vitest';
import type { Filter } from '../store.js';
import { needsClientFilter, relaxFilter } from './compat.js';

const docs: Record<string, unknown>[] = [
  { _id: 'a', s: { identifier: [{ s: 'urn:mrn', c: 'A1' }, { s: 'urn:ssn', c: '111' }], date: [{ lo: '2020-01-01', hi: '2020-01-01T23:59' }], n: [1, 5] } },
  { _id: 'b', s: { identifier: [{ s: 'urn:ssn', c: 'A1' }, { s: 'urn:mrn', c: 'B2' }], date: [{ lo: '2021-05-01', hi: '2021-05-31' }], n: [7] } },
  { _id: 'c', s: { identifier: [{ c: 'A1' }], date: [{ lo: '2019-01-01', hi: '2022-12-31' }] } },
  { _id: 'd', s: { identifier: [], code: [{ s: 'http://cvx', c: '08', d: 'HepB' }] } },
  { _id: 'e', s: { identifier: { s: 'urn:mrn', c: 'A1' }, code: [{ s: 'http://ndc', c: '08' }] } },
  { _id: 'f', s: {} },
];

const filters: Filter[] = [
  { 's.identifier': { $elemMatch: { s: 'urn:mrn', c: 'A1' } } },
  { 's.identifier': { $elemMatch: { c: 'A1', s: { $exists: false } } } },
  { 's.identifier': { $elemMatch: { c: 'A1' } } },
  { 's.identifier': { s: 'urn:mrn', c: 'A1' } },
  { 's.identifier': { $elemMatch: { s: { $in: ['urn:ssn', 'x'] }, c: { $regex: '^a', $options: 'i' } } } },
  { 's.date': { $elemMatch: { $and: [{ lo: { $gte: '2020-01-01' } }, { hi: { $lte: '2021-12-31' } }] } } },
  { 's.date': { $elemMatch: { $or: [{ hi: { $gt: '2022' } }, { $and: [{ lo: { $gte: '2020' } }, { hi: { $lte: '2020-12' } }] }] } } },
  { $and: [{ 's.identifier.c': 'A1' }, { $nor: [{ 's.identifier': { $elemMatch: { s: 'urn:ssn', c: 'A1' } } }] }] },
  { $or: [{ 's.code': { $elemMatch: { s: 'http://cvx', c: '08' } } }, { _id: 'f' }] },
  { $or: [{ 's.code': { $elemMatch: { s: 'http://cvx', c: '08' } } }, { 's.identifier': { $elemMatch: { c: 'B2' } } }] },
  { 's.code': { $not: { $elemMatch: { s: 'http://ndc' } } } },
  { 's.n': { $elemMatch: { $gte: 4, $lt: 6 } } },
  { 's.identifier': { $exists: true, $elemMatch: { s: 'urn:mrn' } }, _id: { $in: ['a', 'b', 'e'] } },
  { 's.identifier': { $in: [{ s: 'urn:mrn', c: 'A1' }] } },
];

const ids = (f: Filter) => docs.filter((d) => new Query(f).test(d)).map((d) => d._id);

describe('compat: relaxed filters for FerretDB 1.x', () => {
  it.each(filters.map((f) => [JSON.stringify(f), f] as const))('relaxFilter(%s) matches a superset', (_, f) => {
    const relaxed = relaxFilter(f);
    expect(needsClientFilter(relaxed), JSON.stringify(relaxed)).toBe(false);
    const exact = ids(f);
    const loose = ids(relaxed);
    for (const id of exact) expect(loose, `relaxed ${JSON.stringify(relaxed)}`).toContain(id);
  });

  it('narrows where it can', () => {
    expect(ids(relaxFilter({ 's.identifier': { $elemMatch: { s: 'urn:mrn', c: 'A1' } } }))).toEqual(['a', 'b', 'e']);
    expect(relaxFilter({ 's.identifier': { $elemMatch: { s: 'urn:mrn', c: 'A1' } } })).toEqual({
      $and: [{ 's.identifier.s': 'urn:mrn' }, { 's.identifier.c': 'A1' }],
    });
    expect(relaxFilter({ 's.identifier': { s: 'u', c: 'x' }, 's.family': 'smith' })).toEqual({
      $and: [{ 's.identifier.s': 'u' }, { 's.identifier.c': 'x' }, { 's.family': 'smith' }],
    });
  });

  it('flags object $elemMatch and sub-document equality, not operator-only forms', () => {
    expect(needsClientFilter({ a: { $elemMatch: { x: 1 } } })).toBe(true);
    expect(needsClientFilter({ a: { x: 1 } })).toBe(true);
    expect(needsClientFilter({ $or: [{ b: 1 }, { $and: [{ a: { $elemMatch: { x: 1, y: 2 } } }] }] })).toBe(true);
    expect(needsClientFilter({ $nor: [{ a: { $elemMatch: { x: 1 } } }] })).toBe(true);
    expect(needsClientFilter({ a: { $elemMatch: { $gte: 1, $lt: 2 } } })).toBe(false);
    expect(needsClientFilter({ a: {} })).toBe(false);
    expect(needsClientFilter({ 'a.x': 1, b: { $in: [1, 2] }, c: { $regex: '^x' }, $or: [{ d: 1 }] })).toBe(false);
    expect(needsClientFilter({})).toBe(false);
  });
});
