// Paging, sorting, totals and result shaping of searchBundle, on both test stores.
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/store.js';
import { MAX_COUNT } from './parse.js';
import {
  BASE,
  CVX,
  STORE_FACTORIES,
  del,
  expectFhirError,
  linkOf,
  loadFixtures,
  matchIds,
  paramsOf,
  put,
  search,
} from './fixtures.js';

function imm(id: string, date: string, patient = 'Patient/pA'): Resource {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    vaccineCode: { coding: [{ system: CVX, code: '08' }] },
    patient: { reference: patient },
    occurrenceDateTime: date,
  } as Resource;
}

/** Follows next links from a first page to the end, returning every page. */
async function allPages(store: Store, type: string | undefined, params: Array<[string, string]>, between?: (page: number) => Promise<void>): Promise<Bundle[]> {
  const pages: Bundle[] = [];
  let bundle = await search(store, type, params);
  pages.push(bundle);
  for (let i = 0; i < 1000; i++) {
    const next = linkOf(bundle, 'next');
    if (!next) break;
    await between?.(i);
    bundle = await search(store, type, paramsOf(next));
    pages.push(bundle);
  }
  return pages;
}

describe.each(STORE_FACTORIES)('paging and sorting on the $name', (factory) => {
  let store: Store;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ store, dispose } = await factory.open());
    await loadFixtures(store);
    // 40 more immunizations in patient pZ, several sharing a date (ties are broken by id)
    for (let i = 0; i < 40; i++) {
      const day = String(1 + (i % 15)).padStart(2, '0');
      await put(store, imm(`p-${String(i).padStart(3, '0')}`, `2023-04-${day}T10:00:00Z`, 'Patient/pZ'));
    }
  });
  afterAll(async () => dispose());

  describe('_sort', () => {
    it('by date ascending: earliest first, missing first (MongoDB null order)', async () => {
      const b = await search(store, 'Patient', [['_sort', 'birthdate']]);
      expect(matchIds(b, true)).toEqual(['pE', 'pC', 'pB', 'pA', 'pD']);
    });

    it('descending, ties by id in the same direction, missing last', async () => {
      const b = await search(store, 'Patient', [['_sort', '-birthdate']]);
      expect(matchIds(b, true)).toEqual(['pD', 'pA', 'pB', 'pC', 'pE']);
    });

    it('several keys', async () => {
      const b = await search(store, 'Patient', [['_sort', 'gender,-birthdate']]);
      expect(matchIds(b, true)).toEqual(['pD', 'pE', 'pB', 'pC', 'pA']);
      const c = await search(store, 'Patient', [['_sort', '-gender,birthdate']]);
      expect(matchIds(c, true)).toEqual(['pA', 'pC', 'pB', 'pE', 'pD']);
    });

    it('string sort by folded family then given', async () => {
      const b = await search(store, 'Patient', [['_sort', 'name']]);
      expect(matchIds(b, true)).toEqual(['pE', 'pB', 'pD', 'pC', 'pA']); // baby boy, doe, muller, obrien, smith jones
      const f = await search(store, 'Patient', [['_sort', '-family']]);
      expect(matchIds(f, true)).toEqual(['pA', 'pC', 'pD', 'pB', 'pE']);
    });

    it('_id and _lastUpdated', async () => {
      expect(matchIds(await search(store, 'Patient', [['_sort', '-_id']]), true)).toEqual(['pE', 'pD', 'pC', 'pB', 'pA']);
      expect(matchIds(await search(store, 'Patient', [['_sort', '_lastUpdated']]), true)).toEqual(['pA', 'pB', 'pC', 'pD', 'pE']);
      expect(matchIds(await search(store, 'Patient', [['_sort', '-_lastUpdated']]), true)).toEqual(['pE', 'pD', 'pC', 'pB', 'pA']);
    });

    it('token and reference sorts', async () => {
      const b = await search(store, 'Immunization', [['_sort', 'vaccine-code,-date'], ['patient:missing', 'false'], ['patient', 'pA,pB,pC']]);
      expect(matchIds(b, true)).toEqual(['i4', 'i3', 'i1', 'i2']); // 03, 08 (i3 later than i1), 20
    });

    it('unknown sort parameter is a 400 naming it', async () => {
      const err = await expectFhirError(search(store, 'Patient', [['_sort', 'shoe-size']]));
      expect(err.status).toBe(400);
      expect(err.text).toContain('shoe-size');
    });
  });

  describe('keyset paging', () => {
    const sorts = ['date', '-date', 'date,-_id', '_lastUpdated', '-_lastUpdated', '_id', 'vaccine-code,date', 'lot-number'];
    it.each(sorts)('_sort=%s: pages of 7 cover every match exactly once, in order', async (sort) => {
      const params: Array<[string, string]> = [['patient', 'pZ'], ['_sort', sort], ['_count', '7']];
      const full = await search(store, 'Immunization', [['patient', 'pZ'], ['_sort', sort], ['_count', '100']]);
      const expected = matchIds(full, true);
      expect(expected).toHaveLength(40);
      const pages = await allPages(store, 'Immunization', params);
      expect(pages).toHaveLength(6);
      const seen = pages.flatMap((p) => matchIds(p, true));
      expect(seen).toEqual(expected);
      for (const p of pages) expect(p.total).toBe(40);
      expect(linkOf(pages[5], 'next')).toBeUndefined();
      expect(linkOf(pages[0], 'previous')).toBeUndefined();
    });

    it('previous links walk back to the same pages', async () => {
      const params: Array<[string, string]> = [['patient', 'pZ'], ['_sort', '-date'], ['_count', '6']];
      const pages = await allPages(store, 'Immunization', params);
      let bundle = pages[pages.length - 1];
      const back: string[][] = [matchIds(bundle, true)];
      for (;;) {
        const prev = linkOf(bundle, 'previous');
        if (!prev) break;
        bundle = await search(store, 'Immunization', paramsOf(prev));
        back.unshift(matchIds(bundle, true));
      }
      expect(back).toEqual(pages.map((p) => matchIds(p, true)));
      expect(linkOf(bundle, 'next')).toBeDefined();
    });

    it('links are absolute under the base, keep the parameters, and the token is opaque', async () => {
      const b = await search(store, 'Immunization', [['patient', 'pZ'], ['_count', '5'], ['_sort', 'date']]);
      expect(linkOf(b, 'self')).toBe(`${BASE}/Immunization?patient=pZ&_count=5&_sort=date`);
      const next = linkOf(b, 'next') as string;
      expect(next).toMatch(/^http:\/\/localhost:8080\/fhir\/Immunization\?patient=pZ&_count=5&_sort=date&_page_token=[A-Za-z0-9_-]+$/);
      const page2 = await search(store, 'Immunization', paramsOf(next));
      expect(linkOf(page2, 'self')).toBe(next);
      expect(linkOf(page2, 'first')).toBe(`${BASE}/Immunization?patient=pZ&_count=5&_sort=date`);
    });

    it('a token replayed under another _sort, or tampered with, is a 400', async () => {
      const b = await search(store, 'Immunization', [['patient', 'pZ'], ['_count', '5'], ['_sort', 'date']]);
      const token = new URL(linkOf(b, 'next') as string).searchParams.get('_page_token') as string;
      const other = await expectFhirError(search(store, 'Immunization', [['patient', 'pZ'], ['_sort', '-date'], ['_page_token', token]]));
      expect(other.status).toBe(400);
      const forged = Buffer.from(JSON.stringify({ d: 'n', k: [{ $gt: '' }, 'x'], t: 'Immunization', h: 'x' })).toString('base64url');
      expect((await expectFhirError(search(store, 'Immunization', [['_sort', 'date'], ['_page_token', forged]]))).status).toBe(400);
      expect((await expectFhirError(search(store, 'Immunization', [['_page_token', 'not base64!']]))).status).toBe(400);
    });

    it('deep pages query by key, not by skip', async () => {
      if (!('queries' in store)) return; // only the test store records queries
      const queries = (store as unknown as { queries: Array<{ query: { skip?: number; limit?: number } }> }).queries;
      const before = queries.length;
      const pages = await allPages(store, 'Immunization', [['patient', 'pZ'], ['_count', '5']]);
      expect(pages).toHaveLength(8);
      const recent = queries.slice(before);
      expect(recent.filter((q) => q.query.limit !== undefined)).toHaveLength(8);
      expect(recent.every((q) => !q.query.skip)).toBe(true);
      expect(recent.filter((q) => q.query.limit !== undefined).every((q) => (q.query.limit as number) <= 6)).toBe(true);
    });

    it('system-level paging across types', async () => {
      const params: Array<[string, string]> = [['_type', 'Patient,Organization,Consent'], ['_count', '2'], ['_sort', '_lastUpdated']];
      const pages = await allPages(store, undefined, params);
      const seen = pages.flatMap((p) => matchIds(p, true, true));
      expect(seen).toHaveLength(8);
      expect(new Set(seen).size).toBe(8);
      expect(pages[0].total).toBe(8);
      const byId = await allPages(store, undefined, [['_type', 'Patient,Organization'], ['_count', '3']]);
      expect(byId.flatMap((p) => matchIds(p, true, true))).toEqual([
        'Organization/o1', 'Organization/o2', 'Patient/pA', 'Patient/pB', 'Patient/pC', 'Patient/pD', 'Patient/pE',
      ].sort((a, b) => (a.split('/')[1] < b.split('/')[1] ? -1 : 1)));
    });
  });

  describe('paging while writes happen', () => {
    beforeEach(async () => {
      for (let i = 0; i < 30; i++) await put(store, imm(`w-${String(i).padStart(3, '0')}`, `2024-01-${String(1 + i).padStart(2, '0')}`, 'Patient/pW'));
    });

    it('entries present throughout appear exactly once; deleted ones never twice', async () => {
      let n = 100;
      const pages = await allPages(store, 'Immunization', [['patient', 'pW'], ['_sort', 'date'], ['_count', '4']], async (page) => {
        // before each next page: insert before and after the cursor, update a later entry, delete one
        await put(store, imm(`w-new-early-${page}`, '2023-12-01', 'Patient/pW'));
        await put(store, imm(`w-new-late-${page}`, `2024-02-${String(1 + page).padStart(2, '0')}`, 'Patient/pW'));
        await put(store, { ...imm('w-029', '2024-01-30', 'Patient/pW'), lotNumber: `L${n++}` } as Resource);
        if (page === 2) await del(store, 'Immunization', 'w-020');
      });
      const seen = pages.flatMap((p) => matchIds(p, true));
      expect(new Set(seen).size).toBe(seen.length); // no duplicates
      for (let i = 0; i < 30; i++) {
        const id = `w-${String(i).padStart(3, '0')}`;
        if (id === 'w-020') continue;
        expect(seen).toContain(id);
      }
      expect(seen).not.toContain('w-020');
      expect(seen.some((id) => id.startsWith('w-new-early'))).toBe(false); // sorted before the cursor
      const dates = seen.map((id) => id);
      expect(dates.length).toBeGreaterThanOrEqual(29);
      for (const p of pages) for (const id of matchIds(p)) if (id.startsWith('w-new')) await del(store, 'Immunization', id);
      for (let i = 0; i < 10; i++) await del(store, 'Immunization', `w-new-early-${i}`);
      for (let i = 0; i < 10; i++) await del(store, 'Immunization', `w-new-late-${i}`);
      for (let i = 0; i < 30; i++) await del(store, 'Immunization', `w-${String(i).padStart(3, '0')}`);
    });
  });

  describe('_count, _total, _summary, _elements', () => {
    it('_count defaults to 20; over 1000 is a 400, or capped at 1000 with handling=lenient', async () => {
      const b = await search(store, 'Immunization', []);
      expect(matchIds(b)).toHaveLength(20);
      expect(b.total).toBe(45);
      expect(linkOf(b, 'self')).toBe(`${BASE}/Immunization?_count=20`);
      await expect(search(store, 'Immunization', [['_count', '5000']])).rejects.toMatchObject({ status: 400 });
      const big = await search(store, 'Immunization', [['_count', '5000']], { lenient: true });
      expect(matchIds(big)).toHaveLength(45);
      expect(linkOf(big, 'self')).toBe(`${BASE}/Immunization?_count=${MAX_COUNT}`);
    });

    it('_count=0 and _summary=count give only the total', async () => {
      for (const params of [[['_count', '0']], [['_summary', 'count']]] as Array<Array<[string, string]>>) {
        const b = await search(store, 'Immunization', [['patient', 'pA'], ...params]);
        expect(b.total).toBe(2);
        expect(b.entry).toBeUndefined();
        expect(linkOf(b, 'next')).toBeUndefined();
      }
    });

    it('_total=none omits it; _total=accurate counts on every page; default carries the first count', async () => {
      const none = await search(store, 'Immunization', [['patient', 'pZ'], ['_total', 'none'], ['_count', '5']]);
      expect(none.total).toBeUndefined();
      expect(matchIds(none)).toHaveLength(5);
      const first = await search(store, 'Immunization', [['patient', 'pZ'], ['_count', '5']]);
      expect(first.total).toBe(40);
      await put(store, imm('p-extra', '2023-05-01', 'Patient/pZ'));
      try {
        const carried = await search(store, 'Immunization', paramsOf(linkOf(first, 'next') as string));
        expect(carried.total).toBe(40);
        const acc = await search(store, 'Immunization', [['patient', 'pZ'], ['_count', '5'], ['_total', 'accurate']]);
        const acc2 = await search(store, 'Immunization', paramsOf(linkOf(acc, 'next') as string));
        expect(acc2.total).toBe(41);
      } finally {
        await del(store, 'Immunization', 'p-extra');
      }
    });

    it('_elements keeps the listed and mandatory elements and marks SUBSETTED', async () => {
      const b = await search(store, 'Immunization', [['_id', 'i1'], ['_elements', 'lotNumber']]);
      const r = b.entry?.[0].resource as unknown as Record<string, unknown> & { meta: { tag: Array<{ system: string; code: string }> } };
      expect(Object.keys(r).sort()).toEqual(['id', 'lotNumber', 'meta', 'occurrenceDateTime', 'patient', 'resourceType', 'status', 'vaccineCode']);
      expect(r.meta.tag).toContainEqual(expect.objectContaining({ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' }));
      const p = await search(store, 'Patient', [['_id', 'pC'], ['_elements', 'birthDate,deceased']]);
      expect(Object.keys(p.entry?.[0].resource ?? {}).sort()).toEqual(['birthDate', 'deceasedDateTime', 'id', 'meta', 'resourceType']);
    });

    it('_summary=true keeps summary elements; data drops text; text keeps text', async () => {
      const t = await search(store, 'Patient', [['_id', 'pA'], ['_summary', 'true']]);
      const r = t.entry?.[0].resource as unknown as Record<string, unknown>;
      expect(r.name).toBeDefined();
      expect(r.birthDate).toBe('2020-05-01');
      expect(r.communication).toBeUndefined(); // not a summary element
      expect((r.meta as { tag: unknown[] }).tag).toHaveLength(1);
      const d = await search(store, 'Patient', [['_id', 'pE'], ['_summary', 'data']]);
      expect((d.entry?.[0].resource as unknown as Record<string, unknown>).text).toBeUndefined();
      expect((d.entry?.[0].resource as unknown as Record<string, unknown>).name).toBeDefined();
      const x = await search(store, 'Patient', [['_id', 'pE'], ['_summary', 'text']]);
      expect(Object.keys(x.entry?.[0].resource ?? {}).sort()).toEqual(['id', 'meta', 'resourceType', 'text']);
      const f = await search(store, 'Patient', [['_id', 'pE'], ['_summary', 'false']]);
      expect((f.entry?.[0].resource as unknown as Record<string, unknown>).meta).not.toHaveProperty('tag');
    });
  });
});
