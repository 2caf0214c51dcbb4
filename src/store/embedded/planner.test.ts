// The planner reads only necessary conditions out of a filter, in the shapes src/search compiles.
import { describe, expect, it } from 'vitest';
import { conditionsOf, type PlannerContext } from './planner.js';

const DAY = 86_400_000;

function ctx(indexed: string[], options: { multi?: string[]; spans?: Record<string, number> } = {}): PlannerContext {
  return {
    indexed: (p) => p === '_id' || indexed.includes(p),
    singleValued: (p) => p === '_id' || !(options.multi ?? []).includes(p),
    span: (base) => options.spans?.[base],
  };
}

describe('planner', () => {
  it('reads equality, $in, $elemMatch members and literal prefixes; skips what an index cannot answer', () => {
    const c = conditionsOf(
      {
        $and: [
          { 's.patient': 'Patient/1' },
          { 's.vaccine-code': { $elemMatch: { c: '08', s: 'http://hl7.org/fhir/sid/cvx' } } },
          { 's.family': { $regex: '^o\\.brien' } },
          { 's.given': { $regex: '^ann', $options: 'i' } },
          { 's.status': { $ne: 'x' } },
          { 's.identifier.c': { $in: ['a', 'b', 'a'] } },
        ],
      },
      ctx(['s.patient', 's.vaccine-code.c', 's.family', 's.given', 's.status', 's.identifier.c'])
    );
    expect(c).toEqual([
      { kind: 'path', path: 's.patient', intervals: [{ kind: 'string', lo: { v: 'Patient/1', inclusive: true }, hi: { v: 'Patient/1', inclusive: true } }] },
      { kind: 'path', path: 's.vaccine-code.c', intervals: [{ kind: 'string', lo: { v: '08', inclusive: true }, hi: { v: '08', inclusive: true } }] },
      { kind: 'path', path: 's.family', intervals: [{ kind: 'string', lo: { v: 'o.brien', inclusive: true }, hi: { v: 'o.brien\u{10FFFF}', inclusive: true } }] },
      {
        kind: 'path',
        path: 's.identifier.c',
        intervals: [
          { kind: 'string', lo: { v: 'a', inclusive: true }, hi: { v: 'a', inclusive: true } },
          { kind: 'string', lo: { v: 'b', inclusive: true }, hi: { v: 'b', inclusive: true } },
        ],
      },
    ]);
  });

  it('turns the compiled date prefixes into one range on the indexed .lo (ge + lt of a week)', () => {
    // date=ge2022-03-01&date=lt2022-03-08 as src/search/compile.ts writes it
    const filter = {
      $and: [
        {
          $or: [
            { 's.date.hi': { $gt: '2022-03-01T23:59:59.999Z' } },
            { $and: [{ 's.date.lo': { $gte: '2022-03-01T00:00:00.000Z' } }, { 's.date.hi': { $lte: '2022-03-01T23:59:59.999Z' } }] },
          ],
        },
        { 's.date.lo': { $lt: '2022-03-08T00:00:00.000Z' } },
      ],
    };
    const c = conditionsOf(filter, ctx(['s.date.lo'], { spans: { 's.date': DAY - 1 } }));
    const onLo = c.filter((x) => x.kind === 'path' && x.path === 's.date.lo');
    expect(onLo).toEqual([
      {
        kind: 'path',
        path: 's.date.lo',
        intervals: [{ kind: 'string', lo: { v: '2022-03-01T00:00:00.000Z', inclusive: true }, hi: { v: '2022-03-08T00:00:00.000Z', inclusive: false } }],
      },
    ]);
  });

  it('does not intersect bounds on a path where a document may hold several values', () => {
    const filter = { 's.tags': { $gte: 'b', $lt: 'c' } };
    expect(conditionsOf(filter, ctx(['s.tags'], { multi: ['s.tags'] }))).toHaveLength(2);
    expect(conditionsOf(filter, ctx(['s.tags']))).toEqual([
      { kind: 'path', path: 's.tags', intervals: [{ kind: 'string', lo: { v: 'b', inclusive: true }, hi: { v: 'c', inclusive: false } }] },
    ]);
  });

  it('turns a keyset page condition into a lower bound on the sort key', () => {
    const filter = {
      $or: [{ 's._sort.family': { $gt: 'jones' } }, { $and: [{ 's._sort.family': 'jones' }, { _id: { $gt: 'p9' } }] }],
    };
    const c = conditionsOf(filter, ctx(['s._sort.family']));
    expect(c).toContainEqual({
      kind: 'path',
      path: 's._sort.family',
      intervals: [{ kind: 'string', lo: { v: 'jones', inclusive: true } }],
    });
  });

  it('drops an $or with a branch no index answers', () => {
    expect(conditionsOf({ $or: [{ 's.family': 'x' }, { 's.other': 'y' }] }, ctx(['s.family']))).toEqual([]);
  });
});

describe('planner of hostile filters', () => {
  it('an $or of 50,000 values on one path is planned in time linear in them (it was quadratic: one copy of the list per value)', () => {
    const values = Array.from({ length: 50_000 }, (_, i) => `v${i}`);
    const started = performance.now();
    const c = conditionsOf({ $or: values.map((v) => ({ 's.identifier.c': v })) }, ctx(['s.identifier.c']));
    expect(performance.now() - started).toBeLessThan(2000);
    const union = c.find((condition) => condition.kind === 'path');
    expect(union).toMatchObject({ kind: 'path', path: 's.identifier.c' });
    expect((union as { intervals: unknown[] }).intervals).toHaveLength(50_000);
  });
});
