// Export workers of several "nodes" over one store: each job runs once, a lapsed lease is taken
// over and resumed after the finished types, a cancel seen at a heartbeat stops the run.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharingIndex } from '../consent/sharing-index.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { extractSearchIndex } from '../search/extract.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { DirectoryFileStore } from '../store/embedded/file-store.js';
import { nextInstant } from '../store/store.js';
import { DEFAULT_BULK_OPTIONS, type BulkOptions } from './config.js';
import { JobRepository, type ExportJob } from './jobs.js';
import { ExportWorker } from './worker.js';

loadDefinitions();
const N = 40;

describe('export workers sharing a store', () => {
  let dir: string;
  let store: EmbeddedStore;
  let files: DirectoryFileStore;
  let repo: JobRepository;
  const workers: ExportWorker[] = [];
  const options: BulkOptions = { ...DEFAULT_BULK_OPTIONS, pollMs: 50, leaseMs: 600, sweepMs: 60_000, batchSize: 5 };

  const worker = (nodeId: string, extra: Partial<BulkOptions> = {}) => {
    const w = new ExportWorker({ store, files, sharing: new SharingIndex(store), baseUrl: 'http://x/fhir', options: { ...options, ...extra }, repo, nodeId });
    workers.push(w);
    w.start();
    return w;
  };
  const job = (over: Partial<ExportJob> = {}): ExportJob => {
    const now = nextInstant();
    return {
      resourceType: 'BulkExportJob',
      id: randomUUID(),
      state: 'queued',
      owner: '|test|',
      request: 'http://x/fhir/$export',
      level: 'system',
      types: ['Patient', 'Immunization'],
      typeFilters: [],
      compression: 'gzip',
      transactionTime: now,
      createdAt: now,
      attempts: 0,
      done: [],
      files: [],
      ...over,
    };
  };
  const settled = async (id: string, timeoutMs = 15_000) => {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
      const j = (await repo.get(id))?.job;
      if (j && j.state !== 'queued' && j.state !== 'running') return j;
    }
    throw new Error(`job ${id} did not finish`);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-bulk-worker-'));
    store = new EmbeddedStore({ dataDir: dir });
    await store.init();
    files = new DirectoryFileStore(join(dir, 'bulk'));
    await files.init();
    repo = new JobRepository(store);
    for (let i = 0; i < N; i++) {
      const p = { resourceType: 'Patient', id: `p${i}`, name: [{ family: `F${i}` }] } as Resource;
      await store.write({ resourceType: 'Patient', id: `p${i}`, resource: p, index: extractSearchIndex(p) });
      const im = { resourceType: 'Immunization', id: `i${i}`, status: 'completed', vaccineCode: { text: 'x' }, patient: { reference: `Patient/p${i}` }, occurrenceDateTime: '2024-01-01' } as Resource;
      await store.write({ resourceType: 'Immunization', id: `i${i}`, resource: im, index: extractSearchIndex(im) });
    }
  });
  afterAll(async () => {
    for (const w of workers) await w.stop(1000);
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('two nodes: every job is claimed once and completes with every resource', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await repo.create(job())).job.id);
    worker('node-a');
    worker('node-b');
    for (const id of ids) {
      const done = await settled(id);
      expect(done.state).toBe('completed');
      expect(done.attempts).toBe(1);
      expect(done.files.filter((f) => f.of === 'Patient').reduce((n, f) => n + f.count, 0)).toBe(N);
      expect(done.files.filter((f) => f.of === 'Immunization').reduce((n, f) => n + f.count, 0)).toBe(N);
      expect((await files.list(`${id}/`)).map((f) => f.name).sort()).toEqual(done.files.map((f) => f.name).sort());
    }
  });

  it("a crashed node's job is taken over after its lease and resumed after the finished type", async () => {
    const j = job({ state: 'running', attempts: 1, lease: { node: 'crashed-node', until: new Date(Date.now() + 300).toISOString() } });
    // The crashed node had finished Patient (recorded) and left half an Immunization file behind.
    const patientFile = `${j.id}/Patient-1.ndjson`;
    const marker = '{"resourceType":"Patient","id":"from-the-first-run"}\n';
    await pipeline(Readable.from([Buffer.from(marker)]), await files.create(patientFile));
    await pipeline(Readable.from([Buffer.from('{"partial":')]), await files.create(`${j.id}/Immunization-2.ndjson`));
    j.done = ['Patient'];
    j.files = [{ name: patientFile, section: 'output', type: 'Patient', of: 'Patient', count: 1, bytes: marker.length }];
    j.compression = 'none';
    await repo.create(j);
    const done = await settled(j.id);
    expect(done.state).toBe('completed');
    expect(done.attempts).toBe(2);
    const names = (await files.list(`${j.id}/`)).map((f) => f.name);
    expect(names).toContain(patientFile);
    expect(names).not.toContain(`${j.id}/Immunization-2.ndjson`); // the half-written file is gone
    const { stream } = await files.open(patientFile);
    let text = '';
    for await (const c of stream) text += c;
    expect(text).toBe(marker); // the finished type was not redone
    expect(done.files.filter((f) => f.of === 'Immunization').reduce((n, f) => n + f.count, 0)).toBe(N);
    expect(done.files.map((f) => f.name).sort()).toEqual(names.sort());
  });

  it('a cancel written by another node stops the run at its next heartbeat and removes the files', async () => {
    for (const w of workers.splice(0)) await w.stop(1000);
    const slow = worker('node-c', { throttleMs: 100, batchSize: 2 });
    const { job: j } = await repo.create(job());
    for (let i = 0; i < 200 && (await repo.get(j.id))?.job.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    await repo.modify(j.id, (cur) => ({ ...cur, state: 'cancelled', expiresAt: new Date().toISOString() }));
    for (let i = 0; i < 200 && slow.runningJobs().includes(j.id); i++) await new Promise((r) => setTimeout(r, 20));
    expect(slow.runningJobs()).not.toContain(j.id);
    expect(await files.list(`${j.id}/`)).toEqual([]);
    expect((await repo.get(j.id))?.job.state).toBe('cancelled');
  });
});
