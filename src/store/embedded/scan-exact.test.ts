// A scan whose filter is one indexed condition answered whole by the index (`{path: v}`,
// `{path: {$in: [...]}}`) skips evaluating the filter per record: same records as the evaluated
// filter, deleted ones still left out, and a filter with anything more still evaluated.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from './embedded-store.js';

describe('embedded store: scans the index answers whole', () => {
  let dir: string;
  let store: EmbeddedStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-embedded-scan-exact-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: { Immunization: ['s.patient', 's.n'] } });
    await store.init();
    // 40 records over 20 patients, so one patient's records are well under a quarter of the type (index walk).
    for (let i = 0; i < 40; i++) {
      const resource = { resourceType: 'Immunization', id: `i${i}` } as Resource;
      await store.write({ resourceType: 'Immunization', id: `i${i}`, resource, ifVersion: 'any', index: { patient: `Patient/p${i % 20}`, n: i } });
    }
    await store.write({ resourceType: 'Immunization', id: 'i0' }); // deleted
  });

  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const scanned = async (filter: Record<string, unknown>) => {
    const out: string[] = [];
    for await (const r of store.scan('Immunization', filter)) out.push(r.id);
    return out.sort();
  };

  it('one value and an $in list: exactly the index matches, deleted ones left out', async () => {
    expect(await scanned({ 's.patient': 'Patient/p1' })).toEqual(['i1', 'i21']);
    expect(await scanned({ 's.patient': { $in: ['Patient/p0', 'Patient/p2'] } })).toEqual(['i2', 'i20', 'i22']);
  });

  it('a list of ids: those that exist and are not deleted', async () => {
    expect(await scanned({ _id: { $in: ['i5', 'i0', 'nope', 'i7'] } })).toEqual(['i5', 'i7']);
    expect(await scanned({ _id: 'i9' })).toEqual(['i9']);
    expect(await scanned({ _id: { $in: ['i5', 'i7'] }, 's.n': 7 })).toEqual(['i7']);
    expect(await scanned({ $and: [{ _id: { $in: ['i5', 'i7'] } }, { _id: { $nin: ['i5'] } }] })).toEqual(['i7']);
  });

  it('anything beyond the one condition is still evaluated', async () => {
    expect(await scanned({ 's.patient': { $in: ['Patient/p1', 'Patient/p2'] }, 's.n': { $gte: 20 } })).toEqual(['i21', 'i22']);
    expect(await scanned({ $and: [{ 's.patient': { $in: ['Patient/p1', 'Patient/p2'] } }, { 's.patient': { $nin: ['Patient/p2'] } }] })).toEqual(['i1', 'i21']);
    expect(await scanned({ $and: [{ 's.patient': { $in: ['Patient/p1', 'Patient/p3'] } }, { _id: { $nin: ['i3'] } }] })).toEqual(['i1', 'i21', 'i23']);
  });
});

describe('embedded store: a full pass whose filter the index answers whole (index entries decide)', () => {
  let dir: string;
  let store: EmbeddedStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-embedded-scan-exact-full-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: { Immunization: ['s.performer', 's.n'] } });
    await store.init();
    // Organization/a gave 3 of every 4 doses (well over a quarter of the type: a full pass, not a
    // walk); some doses name two performers (a multi-valued index); one of a's is deleted.
    for (let i = 0; i < 40; i++) {
      const performer = i % 4 === 3 ? ['Organization/b'] : i % 5 === 0 ? ['Organization/b', 'Organization/a'] : ['Organization/a'];
      const resource = { resourceType: 'Immunization', id: `i${i}` } as Resource;
      await store.write({ resourceType: 'Immunization', id: `i${i}`, resource, ifVersion: 'any', index: { performer, n: i } });
    }
    await store.write({ resourceType: 'Immunization', id: 'i1' }); // deleted
  });

  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const scanned = async (filter: Record<string, unknown>, options = {}) => {
    const out: string[] = [];
    for await (const r of store.scan('Immunization', filter, options)) out.push(r.id);
    return out.sort();
  };
  const ids = (pred: (i: number) => boolean) => [...Array(40).keys()].filter((i) => i !== 1 && pred(i)).map((i) => `i${i}`).sort();

  it('exactly the records holding the value (any element of an array), deleted ones left out, in any scan order', async () => {
    const byA = ids((i) => i % 4 !== 3);
    const byB = ids((i) => i % 4 === 3 || i % 5 === 0);
    expect(byA.length).toBeGreaterThan(10); // over a quarter of the type: the full pass
    for (const options of [{}, { raw: true }, { orderById: true }]) {
      expect(await scanned({ 's.performer': { $in: ['Organization/a'] } }, options)).toEqual(byA);
      expect(await scanned({ 's.performer': 'Organization/a' }, options)).toEqual(byA);
      expect(await scanned({ 's.performer': { $in: ['Organization/a', 'Organization/b'] } }, options)).toEqual(ids(() => true));
      expect(await scanned({ 's.performer': { $in: ['Organization/b', 'Organization/none'] } }, options)).toEqual(byB);
      // Ids excluded beside it (an organization caller's hidden patients): left out.
      expect(await scanned({ $and: [{ 's.performer': 'Organization/a' }, { _id: { $nin: ['i2', 'i4', 'i3'] } }] }, options)).toEqual(byA.filter((id) => id !== 'i2' && id !== 'i4'));
      // More than the one condition: still evaluated on the document.
      expect(await scanned({ 's.performer': 'Organization/a', 's.n': { $lt: 10 } }, options)).toEqual(byA.filter((id) => Number(id.slice(1)) < 10));
    }
  });
});
