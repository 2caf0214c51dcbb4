// Exports survive their server: a process killed mid-export (SIGKILL) leaves its job to the next
// process once the lease lapses, which resumes after the last finished type; a process stopped
// with SIGTERM hands its job back at once. Servers run as child processes on each store.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from '../../test/helpers/child-server.js';
import { testMongoUrl } from '../../test/helpers/server.js';
import { distinctPatient, download, poll, resourcesOf, tokenFor, vaccination, type Manifest } from './test-helpers.js';

const TOKEN = tokenFor({ scope: 'system/*.rs' });
const WRITER = tokenFor({ scope: 'system/*.cruds' });
const N = 30;

const kinds = testMongoUrl() ? (['embedded', 'mongodb'] as const) : (['embedded'] as const);
if (!testMongoUrl()) console.warn('[bulk export restart] MongoDB tier SKIPPED: set TEST_MONGODB_URL to run it');

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function storeEnv(kind: 'embedded' | 'mongodb'): Promise<Record<string, string>> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bulk-restart-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    // Slow, small steps so the export is still running when the process goes away.
    BULK_BATCH_SIZE: '3',
    BULK_THROTTLE_MS: '80',
    BULK_LEASE_SECONDS: '1.5',
    BULK_POLL_SECONDS: '0.3',
  };
  if (kind === 'mongodb') {
    const url = new URL(testMongoUrl() as string);
    url.pathname = `/iis_bulk_restart_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
    env.MONGODB_URL = url.toString();
    cleanups.push(async () => {
      const client = new MongoClient(url.toString(), { serverSelectionTimeoutMS: 3000 });
      try {
        await client.db().dropDatabase();
      } finally {
        await client.close();
      }
    });
  }
  return env;
}

async function post(baseUrl: string, body: unknown): Promise<any> {
  const res = await fetch(baseUrl, { method: 'POST', headers: { authorization: `Bearer ${WRITER}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`batch answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

async function seed(baseUrl: string): Promise<{ patients: string[]; immunizations: string[] }> {
  const batch = (entries: unknown[]) => ({ resourceType: 'Bundle', type: 'batch', entry: entries });
  const p = await post(baseUrl, batch(Array.from({ length: N }, (_, i) => ({ resource: distinctPatient(300 + i), request: { method: 'POST', url: 'Patient' } }))));
  const idOf = (e: any) => /\/?(?:Patient|Immunization)\/([^/]+)\/_history/.exec(e.response.location ?? '')?.[1];
  const patients = p.entry.map(idOf);
  const im = await post(baseUrl, batch(patients.map((id: string) => ({ resource: vaccination(id, '08'), request: { method: 'POST', url: 'Immunization' } }))));
  const failed = [...p.entry, ...im.entry].filter((e: any) => !e.response.status.startsWith('201'));
  if (failed.length > 0) throw new Error(`seed entries failed: ${JSON.stringify(failed[0])}`);
  return { patients, immunizations: im.entry.map(idOf) };
}

/** The status URL on another server (same path, its origin). */
const on = (server: ChildServer, url: string) => `${new URL(server.baseUrl).origin}${new URL(url).pathname}${new URL(url).search}`;

async function waitForProgress(statusUrl: string, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const res = await fetch(statusUrl, { headers: { authorization: `Bearer ${TOKEN}` } });
    const progress = res.headers.get('x-progress') ?? '';
    if (res.status !== 202) throw new Error(`export ended before the restart (${res.status})`);
    if (pattern.test(progress)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`progress never matched ${pattern}`);
}

async function expectComplete(manifest: Manifest, expected: { patients: string[]; immunizations: string[] }): Promise<void> {
  const patients = (await resourcesOf(manifest, 'Patient', TOKEN)).map((r) => r.id);
  const imms = (await resourcesOf(manifest, 'Immunization', TOKEN)).map((r) => r.id);
  expect(patients.length).toBe(new Set(patients).size); // no duplicates
  expect(imms.length).toBe(new Set(imms).size);
  expect(patients.sort()).toEqual([...expected.patients].sort());
  expect(imms.sort()).toEqual([...expected.immunizations].sort());
  expect(manifest.output.filter((o) => o.type === 'Patient').reduce((n, o) => n + o.count, 0)).toBe(N);
}

for (const kind of kinds) {
  describe(`bulk export across restarts (${kind})`, { timeout: 120_000 }, () => {
    it('SIGKILL mid-export: the next process takes the job over after the lease and resumes after the finished type', async () => {
      const env = await storeEnv(kind);
      const first = await startChildServer(env);
      cleanups.push(async () => void first.child.kill('SIGKILL'));
      const data = await seed(first.baseUrl);
      const k = await fetch(`${first.baseUrl}/$export?_type=Patient,Immunization`, { headers: { authorization: `Bearer ${TOKEN}`, prefer: 'respond-async' } });
      expect(k.status).toBe(202);
      const statusUrl = k.headers.get('content-location') as string;
      await waitForProgress(statusUrl, /exporting Immunization .*: [1-9]/);
      first.child.kill('SIGKILL');
      await first.exited;

      const second = await startChildServer(env);
      cleanups.push(async () => void second.child.kill('SIGKILL'));
      const done = await poll(on(second, statusUrl), TOKEN, 90_000);
      expect(done.status).toBe(200);
      expect(done.polls.some((p) => p.status === 202)).toBe(true);
      await expectComplete(done.body as Manifest, data);
      expect(second.output()).toMatch(/"msg":"bulk export started".*"resumedAfter":\["Patient"\]/);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    });

    it('SIGKILL mid-type: the next process keeps the committed files and continues after the last resource in them, each resource exactly once', async () => {
      const env = { ...(await storeEnv(kind)), BULK_FILE_MAX_LINES: '4' };
      const first = await startChildServer(env);
      cleanups.push(async () => void first.child.kill('SIGKILL'));
      const data = await seed(first.baseUrl);
      const k = await fetch(`${first.baseUrl}/$export?_type=Immunization`, { headers: { authorization: `Bearer ${TOKEN}`, prefer: 'respond-async' } });
      expect(k.status).toBe(202);
      const statusUrl = k.headers.get('content-location') as string;
      // Past two committed parts (files of 4), well before the end (30)
      await waitForProgress(statusUrl, /exporting Immunization .*: (9|1\d|2[0-1])( of \d+)? resources/);
      first.child.kill('SIGKILL');
      await first.exited;

      const second = await startChildServer(env);
      cleanups.push(async () => void second.child.kill('SIGKILL'));
      const done = await poll(on(second, statusUrl), TOKEN, 90_000);
      expect(done.status).toBe(200);
      const resumed = /"msg":"bulk export started".*"resumeAt":\{"type":"Immunization","scan":0,"afterId":"([^"]+)","exported":(\d+)\}/.exec(second.output());
      expect(resumed, second.output()).not.toBeNull();
      expect(Number(resumed![2])).toBeGreaterThanOrEqual(4);
      const manifest = done.body as Manifest;
      const imms = (await resourcesOf(manifest, 'Immunization', TOKEN)).map((r) => r.id);
      expect(imms.length).toBe(new Set(imms).size); // none twice
      expect([...imms].sort()).toEqual([...data.immunizations].sort()); // none lost
      expect(manifest.output.every((o) => o.count <= 4)).toBe(true);
      expect(new Set(manifest.output.map((o) => o.url)).size).toBe(manifest.output.length);
      // The committed files of the first process are kept: every file lies wholly at or before the
      // resume point (the first process's) or wholly after it (the second's), and there are both
      const files = await Promise.all(manifest.output.map((o) => download(o.url, TOKEN)));
      const sides = files.map((d) => new Set(d.lines.map((r) => r.id <= resumed![1])));
      expect(sides.every((side) => side.size === 1)).toBe(true);
      expect(sides.filter((side) => side.has(true)).length).toBeGreaterThanOrEqual(1);
      expect(sides.filter((side) => side.has(false)).length).toBeGreaterThanOrEqual(1);
      // and the union equals a fresh export of the same data
      const fresh = await fetch(`${new URL(second.baseUrl).origin}/fhir/$export?_type=Immunization`, { headers: { authorization: `Bearer ${TOKEN}`, prefer: 'respond-async' } });
      const again = await poll(on(second, fresh.headers.get('content-location') as string), TOKEN, 90_000);
      expect((await resourcesOf(again.body as Manifest, 'Immunization', TOKEN)).map((r) => r.id).sort()).toEqual([...imms].sort());
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    });

    it('SIGKILL mid organizeOutputBy=Patient: the next process continues after the last patient of the committed files, each patient once', async () => {
      const env = { ...(await storeEnv(kind)), BULK_FILE_MAX_LINES: '4' };
      const first = await startChildServer(env);
      cleanups.push(async () => void first.child.kill('SIGKILL'));
      const data = await seed(first.baseUrl);
      const k = await fetch(`${first.baseUrl}/Patient/$export?organizeOutputBy=Patient&_type=Patient,Immunization`, { headers: { authorization: `Bearer ${TOKEN}`, prefer: 'respond-async' } });
      expect(k.status).toBe(202);
      const statusUrl = k.headers.get('content-location') as string;
      // blocks of 3 lines (header, Patient, Immunization): one per file; kill after a few, before the end (60)
      await waitForProgress(statusUrl, /exporting patient blocks: ([1-3]\d) resources/);
      first.child.kill('SIGKILL');
      await first.exited;

      const second = await startChildServer(env);
      cleanups.push(async () => void second.child.kill('SIGKILL'));
      const done = await poll(on(second, statusUrl), TOKEN, 90_000);
      expect(done.status).toBe(200);
      expect(second.output()).toMatch(/"msg":"bulk export started".*"resumeAt":\{"type":"organizeOutputBy=Patient","scan":0,"afterId":"[^"]+"/);
      const manifest = done.body as Manifest & { outputOrganizedBy?: string };
      expect(manifest.outputOrganizedBy).toBe('Patient');
      const lines = (await Promise.all(manifest.output.map((o) => download(o.url, TOKEN)))).flatMap((d) => d.lines);
      const headers = lines.filter((l) => l.resourceType === 'Parameters').map((l) => l.parameter[0].valueReference.reference);
      expect(headers.length).toBe(new Set(headers).size); // no patient twice
      expect(headers.sort()).toEqual(data.patients.map((id) => `Patient/${id}`).sort()); // none lost
      expect(lines.filter((l) => l.resourceType === 'Patient').map((l) => l.id).sort()).toEqual([...data.patients].sort());
      expect(lines.filter((l) => l.resourceType === 'Immunization').map((l) => l.id).sort()).toEqual([...data.immunizations].sort());
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    });

    it('SIGTERM mid-export: the job is handed back and the restarted process finishes it at once', async () => {
      const env = await storeEnv(kind);
      const first = await startChildServer(env);
      cleanups.push(async () => void first.child.kill('SIGKILL'));
      const data = await seed(first.baseUrl);
      const k = await fetch(`${first.baseUrl}/$export?_type=Patient,Immunization`, { headers: { authorization: `Bearer ${TOKEN}`, prefer: 'respond-async' } });
      const statusUrl = k.headers.get('content-location') as string;
      await waitForProgress(statusUrl, /exporting Patient .*: [1-9]/);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      expect(first.output()).toMatch(/"msg":"bulk export stopped".*"reason":"shutdown"/);

      const second = await startChildServer({ ...env, BULK_LEASE_SECONDS: '600' });
      cleanups.push(async () => void second.child.kill('SIGKILL'));
      // A lease of 10 minutes: only a handed-back job can be picked up within this test.
      const done = await poll(on(second, statusUrl), TOKEN, 60_000);
      expect(done.status).toBe(200);
      await expectComplete(done.body as Manifest, data);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    });
  });
}
