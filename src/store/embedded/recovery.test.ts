// Durability of the embedded store: reopen, index (re)building, the lock file and a real SIGKILL in
// the middle of a write stream.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Resource } from '@medplum/fhirtypes';
import { open as openLmdb } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError, type ResourceRecord, type Store } from '../store.js';
import { EmbeddedStore, type EmbeddedStoreOptions } from './embedded-store.js';

const here = dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-recovery-'));
  dirs.push(dir);
  return dir;
}

const INDEXES = { Patient: ['s.family', 's.identifier'], Immunization: ['s.patient'] };

async function open(dataDir: string, options: Partial<EmbeddedStoreOptions> = {}): Promise<EmbeddedStore> {
  const store = new EmbeddedStore({ dataDir, indexes: INDEXES, ...options });
  await store.init();
  return store;
}

function patient(id: string, family: string): Resource {
  return { resourceType: 'Patient', id, name: [{ family }], identifier: [{ system: 'urn:mrn', value: `mrn-${id}` }] } as Resource;
}

function imm(id: string, patientId: string, lot: string): Resource {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    vaccineCode: { text: 'x' },
    patient: { reference: `Patient/${patientId}` },
    occurrenceDateTime: '2024-01-01',
    lotNumber: lot,
  } as Resource;
}

/** Writes a varied workload: creates, updates, deletes, re-creates and transactions. */
async function workload(store: Store, prefix: string, n = 40): Promise<void> {
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-p${i}`;
    await store.write({
      resourceType: 'Patient',
      id,
      resource: patient(id, `fam${i % 7}`),
      ifVersion: 'absent',
      index: { family: `fam${i % 7}`, identifier: [{ system: 'urn:mrn', value: `mrn-${id}` }] },
    });
  }
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      i % 3 === 0
        ? store.write({ resourceType: 'Patient', id: `${prefix}-p${i}`, ifVersion: 1 })
        : store.write({
            resourceType: 'Patient',
            id: `${prefix}-p${i}`,
            resource: patient(`${prefix}-p${i}`, `upd${i % 5}`),
            ifVersion: 1,
            index: { family: `upd${i % 5}`, identifier: [{ system: 'urn:mrn', value: `mrn-${prefix}-p${i}` }] },
          })
    )
  );
  await store.write({ resourceType: 'Patient', id: `${prefix}-p0`, resource: patient(`${prefix}-p0`, 'back'), ifVersion: 'absent', index: { family: 'back' } });
  for (let t = 0; t < 5; t++) {
    await store.transact(
      Array.from({ length: 10 }, (_, k) => ({
        resourceType: 'Immunization',
        id: `${prefix}-i${t}-${k}`,
        resource: imm(`${prefix}-i${t}-${k}`, `${prefix}-p${k}`, `lot${t}`),
        ifVersion: 'absent' as const,
        index: { patient: `Patient/${prefix}-p${k}` },
      }))
    );
  }
}

interface Dump {
  history: ResourceRecord[];
  current: (ResourceRecord | undefined)[];
  searches: string[][];
  counts: number[];
}

async function dump(store: Store): Promise<Dump> {
  const history = await store.history({ count: 1_000_000 });
  const keys = [...new Set(history.map((r) => `${r.resourceType}|${r.id}`))].sort();
  const current = await Promise.all(keys.map((k) => store.read(k.split('|')[0], k.split('|')[1])));
  const filters = [
    { 's.family': 'fam1' },
    { 's.family': { $in: ['upd1', 'upd2', 'back'] } },
    { 's.identifier': { $elemMatch: { system: 'urn:mrn', value: 'mrn-a-p2' } } },
  ];
  const searches: string[][] = [];
  const counts: number[] = [];
  for (const filter of filters) {
    const found = await store.search('Patient', { filter, limit: 1000, sort: [{ field: '_id', direction: 1 }] });
    searches.push(found.map((r) => `${r.id}@${r.versionId}`));
    counts.push(await store.count('Patient', filter));
  }
  const imms = await store.search('Immunization', { filter: { 's.patient': 'Patient/a-p3' }, limit: 100, sort: [{ field: '_id', direction: 1 }] });
  searches.push(imms.map((r) => r.id));
  return { history, current, searches, counts };
}

describe('embedded store recovery', () => {
  it('reopens with identical state, history and search results', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await workload(a, 'a');
    const before = await dump(a);
    expect(before.history.length).toBeGreaterThan(100);
    expect(before.searches[3]).toHaveLength(5);
    expect(before.searches[1].length).toBeGreaterThan(0);
    expect(before.searches[2]).toEqual(["a-p2@2"]);
    await a.close();

    const b = await open(dir);
    expect(await dump(b)).toEqual(before);
    // versions continue after reopen
    const next = await b.write({ resourceType: 'Patient', id: 'a-p1', resource: patient('a-p1', 'z'), ifVersion: 2 });
    expect(next.versionId).toBe(3);
    expect(next.lastUpdated > before.history[0].lastUpdated).toBe(true);
    await b.close();
  });

  it('a lock file keeps a second store off the same directory; a stale lock is taken over', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    const b = new EmbeddedStore({ dataDir: dir });
    await expect(b.init()).rejects.toThrow(/locked/);
    await expect(b.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await a.close();
    const c = await open(dir);
    await c.close();

    // a lock left by a process that no longer exists
    const dead = spawn(process.execPath, ['-e', '0']);
    const deadPid = dead.pid!;
    await new Promise((r) => dead.on('exit', r));
    await writeFile(join(dir, 'LOCK'), `${deadPid}\n`);
    const d = await open(dir);
    expect((await readFile(join(dir, 'LOCK'), 'utf8')).trim()).toBe(String(process.pid));
    await d.close();
    await expect(stat(join(dir, 'LOCK'))).rejects.toThrow();

    // a lock naming our own pid that this process does not hold (a restarted container's pid 1)
    await writeFile(join(dir, 'LOCK'), `${process.pid}\n`);
    const e = await open(dir);
    await expect(open(dir)).rejects.toThrow(/locked by this process/);
    await e.close();

    // two stores racing to open the same directory: exactly one wins
    const racers = [new EmbeddedStore({ dataDir: dir }), new EmbeddedStore({ dataDir: dir })];
    const results = await Promise.allSettled(racers.map((s) => s.init()));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const s of racers) await s.close();
  });

  it('a closed store refuses reads and writes with StoreUnavailableError', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await a.close();
    await expect(a.read('Patient', 'x')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(a.write({ resourceType: 'Patient', id: 'z', resource: patient('z', 'z') })).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(a.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('keeps its compression dictionary and layout in the store; refuses a directory of an older layout', async () => {
    const dir = await tempDir();
    const store = await open(dir);
    await store.write({ resourceType: 'Patient', id: 'p1', resource: patient('p1', 'Older'), index: { family: ['older'] } });
    await store.write({ resourceType: 'Patient', id: 'p1', resource: patient('p1', 'Newer'), index: { family: ['newer'] } });
    await store.close();
    const env = openLmdb({ path: join(dir, 'store.mdb'), maxDbs: 12 });
    const meta = env.openDB<unknown, Array<string | number>>('meta', {});
    expect(Buffer.from(meta.get(['dictionary']) as Uint8Array).length).toBeGreaterThan(10_000);
    // the store reads with its own copy of the dictionary, whatever the shipped one becomes
    await meta.put(['dictionary'], Buffer.concat([Buffer.from(meta.get(['dictionary']) as Uint8Array)]));
    await env.close();
    const again = await open(dir);
    expect((await again.read('Patient', 'p1'))?.resource).toMatchObject({ name: [{ family: 'Newer' }] });
    expect((await again.vread('Patient', 'p1', 1))?.resource).toMatchObject({ name: [{ family: 'Older' }] });
    expect((await again.history({ resourceType: 'Patient', id: 'p1', count: 10 })).map((r) => r.versionId)).toEqual([2, 1]);
    await again.close();
    // a directory written before the layout was recorded (older releases): refused, not misread
    const env2 = openLmdb({ path: join(dir, 'store.mdb'), maxDbs: 12 });
    await env2.openDB<unknown, Array<string | number>>('meta', {}).remove(['layout']);
    await env2.close();
    await expect(open(dir)).rejects.toThrow(/older layout/);
  });

  it('adds an index configured later from the stored resources, and drops one no longer configured', async () => {
    const dir = await tempDir();
    const a = await open(dir, { indexes: {} });
    await workload(a, 'a', 20);
    const expected = (await a.search('Patient', { filter: { 's.family': 'upd1' }, limit: 100, sort: [{ field: '_id', direction: 1 }] })).map((r) => r.id);
    expect(expected.length).toBeGreaterThan(0);
    await a.close();
    const b = await open(dir, { indexes: { Patient: ['s.family'] } });
    expect((await b.search('Patient', { filter: { 's.family': 'upd1' }, limit: 100, sort: [{ field: '_id', direction: 1 }] })).map((r) => r.id)).toEqual(expected);
    expect(b.lastScanned).toBe(expected.length);
    expect(await b.count('Patient', { 's.family': 'upd1' })).toBe(expected.length);
    await b.close();
    const c = await open(dir, { indexes: {} });
    expect(await c.count('Patient', { 's.family': 'upd1' })).toBe(expected.length);
    await c.close();
    // re-created after being dropped: rebuilt, not stale
    const d = await open(dir, { indexes: { Patient: ['s.family'] } });
    expect(await d.count('Patient', { 's.family': 'upd1' })).toBe(expected.length);
    await d.close();
  });

  it('opens a store of layout 2 (every index counted) and raises its layout before dropping counters', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await workload(a, 'a', 30);
    const query = { filter: { 's.family': 'upd1' }, limit: 100, sort: [{ field: '_id' as const, direction: 1 as const }] };
    const expected = (await a.search('Patient', query)).map((r) => r.id);
    const patientImms = (await a.search('Immunization', { filter: { 's.patient': 'Patient/a-p3' }, limit: 100 })).map((r) => r.id).sort();
    expect(expected.length).toBeGreaterThan(0);
    expect(patientImms.length).toBeGreaterThan(0);
    await a.close();
    // The layout written before uncounted indexes: every index counted, no marks.
    const lmdb = () => openLmdb({ path: join(dir, 'store.mdb'), maxDbs: 12 });
    const env = lmdb();
    await env.openDB<unknown, Array<string | number>>('meta', {}).put(['layout'], 2);
    await env.close();
    const uncounted = (_type: string, path: string) => path === 's.family' || path === 'lastUpdated' || path === 's.patient';
    const b = await open(dir, { uncounted });
    expect((await b.search('Patient', query)).map((r) => r.id)).toEqual(expected);
    expect(await b.count('Patient', { 's.family': 'upd1' })).toBe(expected.length);
    expect((await b.search('Immunization', { filter: { 's.patient': 'Patient/a-p3' }, limit: 100 })).map((r) => r.id).sort()).toEqual(patientImms);
    expect(await b.search('Patient', { filter: { 's.family': 'nobody' }, limit: 10 })).toEqual([]);
    await b.close();
    const env2 = lmdb();
    const meta = env2.openDB<unknown, Array<string | number>>('meta', {});
    // A release reading layout 2 would take the dropped counters for empty values: it refuses layout 3.
    expect(meta.get(['layout'])).toBe(3);
    const family = meta.get(['index', 'Patient', 's.family']) as number;
    expect(meta.get(['uncounted', family])).toBe(true);
    const stats = env2.openDB<number, Array<string | number>>('stats', {});
    expect([...stats.getKeys({ start: [family], end: [family + 1] })]).toEqual([]);
    await env2.close();
    // Counted again: counted from the entries.
    const c = await open(dir);
    expect(await c.count('Patient', { 's.family': 'upd1' })).toBe(expected.length);
    await c.close();
    const d = await open(dir, { uncounted: () => false });
    expect(await d.count('Patient', { 's.family': 'upd1' })).toBe(expected.length);
    expect((d as unknown as { uncountedIndexes: Set<number> }).uncountedIndexes.size).toBe(0);
    await d.close();
    const env3 = lmdb();
    expect(env3.openDB<number, Array<string | number>>('stats', {}).get([family, 'upd1'])).toBe(expected.length);
    await env3.close();
  });
});

describe('embedded store crash (SIGKILL mid-write)', () => {
  it('keeps every acknowledged write', async () => {
    const dir = await tempDir();
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'crash-writer.fixture.ts'), dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const acks: { type: string; id: string; version: number; marker: string }[] = [];
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const lines = createInterface({ input: child.stdout });
    const killAt = 300 + Math.floor(Math.random() * 400);
    for await (const line of lines) {
      const [tag, type, id, version, marker] = line.split(' ');
      if (tag !== 'ack') continue;
      acks.push({ type, id, version: Number(version), marker });
      if (acks.length === killAt) child.kill('SIGKILL');
    }
    expect(await exited, `child did not die by SIGKILL; stderr: ${stderr}`).toBe('SIGKILL');
    expect(acks.length).toBeGreaterThanOrEqual(killAt);

    const store = await open(dir, { indexes: { Patient: ['s.family'] } });
    try {
      const latest = new Map<string, number>();
      for (const ack of acks) {
        const rec = await store.vread(ack.type, ack.id, ack.version);
        expect(rec, `${ack.id} v${ack.version} lost`).toBeDefined();
        if (ack.marker === '-deleted') {
          expect(rec!.deleted).toBe(true);
        } else {
          expect(rec!.deleted).toBe(false);
          expect((rec!.resource as { name?: { family?: string }[] }).name?.[0]?.family).toBe(ack.marker);
          expect(rec!.resource?.meta?.versionId).toBe(String(ack.version));
        }
        latest.set(ack.id, Math.max(latest.get(ack.id) ?? 0, ack.version));
      }
      for (const [id, version] of latest) {
        const cur = await store.read('Patient', id);
        expect(cur!.versionId).toBeGreaterThanOrEqual(version);
        // versions are gapless after recovery
        const hist = await store.history({ resourceType: 'Patient', id, count: 10_000 });
        expect(hist.map((r) => r.versionId)).toEqual(Array.from({ length: cur!.versionId }, (_, i) => cur!.versionId - i));
      }
      // the index agrees with the recovered data
      const last = acks.filter((a) => a.marker !== '-deleted').at(-1)!;
      const cur = await store.read('Patient', last.id);
      if (!cur!.deleted) {
        const fam = (cur!.resource as { name?: { family?: string }[] }).name![0].family!;
        expect((await store.search('Patient', { filter: { 's.family': fam }, limit: 10 })).map((r) => r.id)).toContain(last.id);
      }
      // and it keeps accepting writes
      await store.write({ resourceType: 'Patient', id: 'post-crash', resource: patient('post-crash', 'ok'), ifVersion: 'absent' });
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('embedded store on a full disk', () => {
  // The child runs under a file size limit (SIGXFSZ ignored: writes past it fail with EFBIG), the
  // way a full disk refuses the store's file growth.
  it('refuses writes with StoreUnavailableError, does not crash, and keeps every acknowledged write', async () => {
    const dir = await tempDir();
    const fixture = join(here, 'disk-full-writer.fixture.ts');
    const child = spawn('/bin/sh', ['-c', `trap '' XFSZ; ulimit -f 2048; exec "$0" --import tsx "$1" "$2"`, process.execPath, fixture, dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const acks: { id: string; version: number }[] = [];
    const refusals = new Map<string, number>();
    for await (const line of createInterface({ input: child.stdout })) {
      const [tag, id, detail] = line.split(' ');
      if (tag === 'ack') acks.push({ id, version: Number(detail) });
      if (tag === 'refused') refusals.set(detail, (refusals.get(detail) ?? 0) + 1);
    }
    expect(await exited, `the writer crashed; stderr: ${stderr.slice(-2000)}`).toBe(0);
    expect(acks.length).toBeGreaterThan(0);
    expect(Object.fromEntries(refusals)).toEqual({ StoreUnavailableError: expect.any(Number) });

    const store = await open(dir, { indexes: { Patient: ['s.family'] } });
    try {
      for (const ack of acks) {
        const rec = await store.read('Patient', ack.id);
        expect(rec?.versionId, `${ack.id} lost`).toBe(ack.version);
        expect((await store.search('Patient', { filter: { 's.family': ack.id }, limit: 2 })).map((r) => r.id)).toEqual([ack.id]);
      }
      await store.write({ resourceType: 'Patient', id: 'after-full', resource: patient('after-full', 'ok'), ifVersion: 'absent' });
    } finally {
      await store.close();
    }
  }, 60_000);
});
