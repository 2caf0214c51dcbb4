// The shipped Measures are stored resources: listed, read and searched over HTTP like any Measure
// (a read of Measure/childhood-combined-7 was a 404 while $evaluate-measure evaluated it), and a
// start rewrites only the server's own copy, never an administrator's.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateResource } from '@medplum/core';
import type { Measure } from '@medplum/fhirtypes';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { extractSearchIndex } from '../search/extract.js';
import { EMBEDDED_INDEXES } from '../search/indexes.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { shippedMeasures } from './measure-definition.js';
import { measureContentHash, SHIPPED_CONTENT_TAG, syncShippedMeasures } from './shipped-measures.js';

const SHIPPED = ['adolescent-hpv-utd', 'adolescent-mening', 'adolescent-tdap', 'childhood-combined-7'];

describe('shipped Measures over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  it('GET /Measure lists them, GET /Measure/{id} reads them, and the MeasureReport canonical finds its Measure', async () => {
    const list = await server.fhir('GET', 'Measure');
    expect(list.status, list.text).toBe(200);
    expect(list.body.entry.map((e: any) => e.resource.id).sort()).toEqual(SHIPPED);
    const read = await server.fhir('GET', 'Measure/childhood-combined-7');
    expect(read.status, read.text).toBe(200);
    expect(read.body.title).toBe(shippedMeasures().get('childhood-combined-7')!.title);
    const report = await server.fhir('GET', 'Measure/adolescent-tdap/$evaluate-measure?periodEnd=2026-06-30');
    expect(report.status, report.text).toBe(200);
    const byUrl = await server.fhir('GET', `Measure?url=${encodeURIComponent(report.body.measure)}`);
    expect(byUrl.body.entry.map((e: any) => e.resource.id)).toEqual(['adolescent-tdap']);
  });

  it('a report of an empty population holds no empty list (FHIR ele-1): no stratum: [] and no List entry: [], and it validates', async () => {
    loadDefinitions();
    for (const query of ['periodEnd=2026-06-30', 'periodEnd=2026-06-30&subject=Organization/nobody&reportType=subject-list']) {
      const res = await server.fhir('GET', `Measure/childhood-combined-7/$evaluate-measure?${query}`);
      expect(res.status, res.text).toBe(200);
      expect(emptyArraysIn(res.body, 'MeasureReport'), query).toEqual([]);
      expect(() => validateResource(res.body), query).not.toThrow();
      expect(res.body.group[0].stratifier.map((s: any) => s.code[0].text).length).toBeGreaterThan(0);
    }
  });
});

describe('syncShippedMeasures', () => {
  let dir: string | undefined;
  let store: EmbeddedStore | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    store = undefined;
    dir = undefined;
  });

  it('writes absent ones once; rewrites its own copy when the file changed; leaves an administrator\'s PUT and a DELETE alone', async () => {
    loadDefinitions();
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-measures-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: EMBEDDED_INDEXES });
    await store.init();
    const base = shippedMeasures().get('adolescent-tdap')!;
    const one = (title: string, id = 'adolescent-tdap') => new Map<string, Measure>([[id, { ...base, id, title }]]);

    expect(await syncShippedMeasures(store, one('v1'))).toEqual(['adolescent-tdap']);
    const first = (await store.read('Measure', 'adolescent-tdap'))!;
    expect((first.resource as Measure).meta?.tag?.[0]).toMatchObject({ system: SHIPPED_CONTENT_TAG, code: measureContentHash(one('v1').get('adolescent-tdap')!) });
    // Unchanged files: nothing written.
    expect(await syncShippedMeasures(store, one('v1'))).toEqual([]);
    // A new release of the file: the server's own copy follows it.
    expect(await syncShippedMeasures(store, one('v2'))).toEqual(['adolescent-tdap']);
    expect(((await store.read('Measure', 'adolescent-tdap'))!.resource as Measure).title).toBe('v2');

    // An administrator's edit (the tag kept, the content not the server's) stands through new releases.
    const edited: Measure = { ...((await store.read('Measure', 'adolescent-tdap'))!.resource as Measure), title: 'our own' };
    await store.write({ resourceType: 'Measure', id: 'adolescent-tdap', resource: edited, ifVersion: 'any', index: extractSearchIndex(edited) });
    expect(await syncShippedMeasures(store, one('v3'))).toEqual([]);
    expect(((await store.read('Measure', 'adolescent-tdap'))!.resource as Measure).title).toBe('our own');

    // A deleted one stays deleted.
    expect(await syncShippedMeasures(store, one('v1', 'gone'))).toEqual(['gone']);
    await store.write({ resourceType: 'Measure', id: 'gone', ifVersion: 'any' });
    expect(await syncShippedMeasures(store, one('v2', 'gone'))).toEqual([]);
  });
});

/** Paths of the empty arrays in a JSON value. */
function emptyArraysIn(value: unknown, path: string): string[] {
  if (Array.isArray(value)) return value.length === 0 ? [path] : value.flatMap((v, i) => emptyArraysIn(v, `${path}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => emptyArraysIn(v, `${path}.${k}`));
  return [];
}
