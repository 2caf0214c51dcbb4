// filterQuery answers as mingo's full Query does, for the operators the search compiler emits.
import { Query } from 'mingo';
import { describe, expect, it } from 'vitest';
import { filterQuery } from './mingo-query.js';

const docs: Array<Record<string, unknown>> = [
  { _id: 'a', lastUpdated: '2026-01-02T00:00:00Z', s: { identifier: [{ s: 'urn:x', c: '1' }, { c: '2' }], family: ['smith'], birthdate: { lo: '2020-01-01', hi: '2020-01-01' } } },
  { _id: 'b', lastUpdated: '2026-03-02T00:00:00Z', s: { identifier: [{ s: 'urn:y', c: '1' }], family: ['smithson', 'jones'], deceased: true } },
  { _id: 'c', lastUpdated: '2025-12-31T00:00:00Z', s: { family: [], birthdate: { lo: '2019-05-01', hi: '2019-05-31' } } },
  { _id: 'd', s: {} },
];

const filters: Array<Record<string, unknown>> = [
  { 's.identifier': { $elemMatch: { s: 'urn:x', c: '1' } } },
  { 's.identifier': { $elemMatch: { c: { $in: ['1', '3'] } } }, _id: { $nin: ['b'] } },
  { 's.identifier.c': '1' },
  { 's.family': { $regex: '^smith' } },
  { 's.family': { $all: ['smithson', 'jones'] } },
  { 's.family': { $size: 0 } },
  { 's.deceased': { $exists: true } },
  { 's.deceased': { $ne: true } },
  { 's.birthdate.lo': { $gte: '2019-06-01', $lt: '2021-01-01' } },
  { $or: [{ _id: 'c' }, { lastUpdated: { $gt: '2026-02-01' } }] },
  { $and: [{ 's.family': { $not: { $regex: '^jo' } } }, { _id: { $in: ['a', 'b', 'c'] } }] },
  { $nor: [{ _id: 'a' }, { 's.identifier': { $exists: false } }] },
];

describe('filterQuery', () => {
  it.each(filters.map((f) => [JSON.stringify(f), f]))('matches what mingo matches: %s', (_name, filter) => {
    const full = new Query(filter as Record<string, unknown>);
    const lean = filterQuery(filter as Record<string, unknown>);
    expect(docs.map((d) => lean.test(d))).toEqual(docs.map((d) => full.test(d)));
  });

  it('is not vacuous: the filters above select different documents', () => {
    const selections = new Set(filters.map((f) => docs.filter((d) => filterQuery(f).test(d)).map((d) => d._id).join(',')));
    expect(selections.size).toBeGreaterThan(6);
  });
});
