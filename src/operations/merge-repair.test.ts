// The repair at start of $merge survivors stored with `identifier: []` before 38c99bf
// (merge-repair.ts): on each store, a server started on such data answers the record without the
// empty list (read, search, a write of it as read back), audited; records without one, and the
// versions already stored, are left as they are; a second start writes nothing.
import { validateResource } from '@medplum/core';
import type { Patient, Resource } from '@medplum/fhirtypes';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../app/open-store.js';
import type { Config } from '../config.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { indexFor } from '../interactions/write-support.js';
import type { AccessEvent } from '../audit/audit-event.js';
import type { Store } from '../store/store.js';
import { dropDatabase, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { repairMergedEmptyLists, withoutEmptyLists } from './merge-repair.js';

const MERGED_BEFORE_FIX: Patient = {
  resourceType: 'Patient',
  id: 'survivor',
  identifier: [],
  name: [{ family: 'Nolist', given: ['Ada'] }],
  birthDate: '2020-02-02',
  link: [{ other: { reference: 'Patient/merged-away' }, type: 'replaces' }],
};
const MERGED_AWAY: Patient = {
  resourceType: 'Patient',
  id: 'merged-away',
  active: false,
  name: [{ family: 'Nolist', given: ['Ada'] }],
  birthDate: '2020-02-02',
  link: [{ other: { reference: 'Patient/survivor' }, type: 'replaced-by' }],
};
const UNLINKED: Patient = { resourceType: 'Patient', id: 'plain', name: [{ family: 'Plain', given: ['Bo'] }], birthDate: '2019-01-01' };

async function put(store: Store, resource: Resource): Promise<void> {
  await store.write({ resourceType: resource.resourceType, id: resource.id as string, resource, ifVersion: 'absent', index: indexFor(resource) });
}

const kinds: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];
if (!testMongoUrl()) console.log('merge-repair.test: TEST_MONGODB_URL not set, the MongoDB store is not run');

describe.each(kinds)('merged Patients stored with identifier: [] are repaired at start (%s store)', (kind) => {
  const dirs: string[] = [];
  const databases: string[] = [];
  let server: TestServer | undefined;
  afterAll(async () => {
    await server?.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    for (const url of databases) await dropDatabase(url);
  });

  it('a server started on them answers the survivor without the empty list, audited; the rest untouched; a second run writes nothing', async () => {
    loadDefinitions();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-merge-repair-'));
    dirs.push(dataDir);
    const mongodbUrl = kind === 'mongodb' ? Object.assign(new URL(testMongoUrl() as string), { pathname: `/iis_repair_${Date.now().toString(36)}` }).toString() : undefined;
    if (mongodbUrl) databases.push(mongodbUrl);
    const config = { dataDir, mongodbUrl } as Config;
    const seeded = await createStore(config);
    await seeded.init();
    for (const resource of [MERGED_BEFORE_FIX, MERGED_AWAY, UNLINKED]) await put(seeded, resource);
    await seeded.close();

    server = await startTestServer(kind, { dataDir, mongodbUrl });
    // The repair runs in the background: wait for its version.
    let read = await server.fhir('GET', 'Patient/survivor');
    for (let i = 0; i < 100 && read.body.meta?.versionId !== '2'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      read = await server.fhir('GET', 'Patient/survivor');
    }
    expect(read.status, read.text).toBe(200);
    expect(read.body.meta.versionId).toBe('2');
    expect(read.body).not.toHaveProperty('identifier');
    expect(read.body.link).toEqual(MERGED_BEFORE_FIX.link);
    expect(() => validateResource(read.body)).not.toThrow();
    const found = await server.fhir('GET', 'Patient?family=Nolist');
    expect(found.body.entry.map((e: any) => e.resource).find((p: any) => p.id === 'survivor')).toEqual(read.body);
    // The record as read back is a write the server takes.
    const { meta: _meta, ...asRead } = read.body;
    expect((await server.fhir('PUT', 'Patient/survivor', { body: asRead })).status).toBe(200);
    // Version 1 stays as stored; the others were not written.
    expect((await server.fhir('GET', 'Patient/survivor/_history/1')).body.identifier).toEqual([]);
    for (const id of ['merged-away', 'plain']) expect((await server.fhir('GET', `Patient/${id}`)).body.meta.versionId, id).toBe('1');
    const audit = await server.fhir('GET', 'AuditEvent?entity=Patient/survivor&_count=50');
    expect(JSON.stringify(audit.body)).toContain('system:merge-empty-list-repair');
    await server.close();
    server = undefined;

    // Again on the repaired data: nothing to do, nothing written.
    const store = await createStore(config);
    await store.init();
    const events: AccessEvent[] = [];
    try {
      expect(await repairMergedEmptyLists({ store, audit: (e) => events.push(e), pageSize: 1 })).toEqual({ examined: 2, repaired: 0 });
      expect(events).toEqual([]);
      expect((await store.read('Patient', 'survivor'))?.versionId).toBe(3);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('withoutEmptyLists', () => {
  it('leaves out every empty top-level list and answers undefined when there is none', () => {
    expect(withoutEmptyLists({ resourceType: 'Patient', identifier: [], name: [], gender: 'male' } as Patient)).toEqual({ resourceType: 'Patient', gender: 'male' });
    expect(withoutEmptyLists({ resourceType: 'Patient', identifier: [{ value: '1' }] } as Patient)).toBeUndefined();
  });
});
