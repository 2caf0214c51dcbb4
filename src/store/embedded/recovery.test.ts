// Durability of the embedded store: reopen, compaction, torn tails, failed appends, the lock file
// and a real SIGKILL in the middle of a write stream.
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError, type ResourceRecord, type Store } from '../store.js';
import { EmbeddedStore, type EmbeddedStoreOptions } from './embedded-store.js';
import { frame, readFramed, SNAPSHOT_MAGIC } from './framing.js';

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

  it('compaction writes a snapshot, drops the old journal, and reopens identically', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await workload(a, 'a');
    await a.compact();
    let files = (await readdir(dir)).sort();
    expect(files).toEqual(['LOCK', 'journal-00000001.log', 'snapshot-00000001.snap']);
    await workload(a, 'b', 10);
    const before = await dump(a);
    await a.close();

    const b = await open(dir);
    expect(await dump(b)).toEqual(before);
    await b.compact();
    await b.compact();
    files = (await readdir(dir)).sort();
    expect(files).toEqual(['LOCK', 'journal-00000003.log', 'snapshot-00000003.snap']);
    await b.close();
    const c = await open(dir);
    expect(await dump(c)).toEqual(before);
    await c.close();
  });

  it('compacts automatically past compactAfterBytes while writes continue', async () => {
    const dir = await tempDir();
    const a = await open(dir, { compactAfterBytes: 16 * 1024 });
    await workload(a, 'a');
    // concurrent writers racing the snapshot writer
    await Promise.all([workload(a, 'c', 20), a.compact(), workload(a, 'd', 20)]);
    const before = await dump(a);
    await a.close();
    const gens = (await readdir(dir)).filter((f) => f.startsWith('snapshot-'));
    expect(gens.length).toBe(1);
    expect(gens[0] > 'snapshot-00000002').toBe(true);
    const b = await open(dir);
    expect(await dump(b)).toEqual(before);
    await b.close();
  });

  it('recovers when a compaction was interrupted before or after its snapshot landed', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await workload(a, 'a');
    // crash before the snapshot is renamed: only a .tmp is left, journals 0 and 1 hold everything
    const internals = a as unknown as { writeSnapshot: (gen: number) => Promise<void>; removeFilesBefore: (gen: number) => Promise<void> };
    internals.writeSnapshot = async (gen) => {
      await writeFile(join(dir, `snapshot-0000000${gen}.snap.tmp`), 'half a snapshot');
      throw new Error('simulated crash while writing the snapshot');
    };
    await expect(a.compact()).rejects.toThrow('simulated crash');
    await workload(a, 'b', 10);
    const mid = await dump(a);
    await a.close();
    expect((await readdir(dir)).sort()).toEqual(['journal-00000000.log', 'journal-00000001.log', 'snapshot-00000001.snap.tmp']);

    const b = await open(dir);
    expect(await dump(b)).toEqual(mid);
    expect((await readdir(dir)).some((f) => f.endsWith('.tmp'))).toBe(false);
    // crash after the snapshot landed but before the old files were removed
    const bi = b as unknown as typeof internals;
    bi.removeFilesBefore = async () => undefined;
    await Promise.all([b.compact(), workload(b, 'c', 10)]);
    const after = await dump(b);
    await b.close();
    expect((await readdir(dir)).filter((f) => f !== 'LOCK').sort()).toEqual([
      'journal-00000000.log',
      'journal-00000001.log',
      'journal-00000002.log',
      'snapshot-00000002.snap',
    ]);
    const c = await open(dir);
    expect(await dump(c)).toEqual(after);
    expect((await readdir(dir)).sort()).toEqual(['LOCK', 'journal-00000002.log', 'snapshot-00000002.snap']);
    await c.close();
    expect((await readdir(dir)).sort()).toEqual(['journal-00000002.log', 'snapshot-00000002.snap']);
  });

  it('a snapshot racing writes recovers exactly: replay skips versions the snapshot already holds', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    const ids = Array.from({ length: 20 }, (_, i) => `fz-${i}`);
    for (const id of ids) {
      await a.write({ resourceType: 'Patient', id, resource: patient(id, 'v1'), ifVersion: 'absent', index: { family: 'v1' } });
    }
    const internals = a as unknown as { snapshotChunkBytes: number; onSnapshotChunk?: () => Promise<void> };
    internals.snapshotChunkBytes = 1; // a chunk per resource
    let chunks = 0;
    internals.onSnapshotChunk = async () => {
      if (++chunks !== 5) return;
      // fz-0..fz-4 are in the snapshot already; fz-10 and later are not yet
      await a.write({ resourceType: 'Patient', id: 'fz-1', resource: patient('fz-1', 'v2'), ifVersion: 1, index: { family: 'v2' } });
      await a.write({ resourceType: 'Patient', id: 'fz-15', resource: patient('fz-15', 'v2'), ifVersion: 1, index: { family: 'v2' } });
      await a.transact([
        { resourceType: 'Patient', id: 'fz-3', resource: patient('fz-3', 'v2'), ifVersion: 1, index: { family: 'v2' } },
        { resourceType: 'Patient', id: 'fz-16', resource: patient('fz-16', 'v2'), ifVersion: 1, index: { family: 'v2' } },
        { resourceType: 'Patient', id: 'fz-new', resource: patient('fz-new', 'v1'), ifVersion: 'absent', index: { family: 'v1' } },
      ]);
      await a.write({ resourceType: 'Patient', id: 'fz-17', ifVersion: 1 });
    };
    await a.compact();
    expect(chunks).toBeGreaterThanOrEqual(20);
    const before = await dump(a);
    await a.close();

    // the overlap really happened: fz-15 v2 is both in the snapshot and in journal 1
    const inSnapshot = new Map<string, number>();
    await readFramed(join(dir, 'snapshot-00000001.snap'), SNAPSHOT_MAGIC, (payload) => {
      const rec = JSON.parse(payload) as { i?: string; v?: unknown[] };
      if (rec.i) inSnapshot.set(rec.i, rec.v!.length);
    });
    expect(inSnapshot.get('fz-1')).toBe(1);
    expect(inSnapshot.get('fz-15')).toBe(2);
    expect(inSnapshot.get('fz-17')).toBe(2);
    expect((await readFile(join(dir, 'journal-00000001.log'), 'utf8')).includes('"fz-15"')).toBe(true);

    const b = await open(dir);
    expect(await dump(b)).toEqual(before);
    expect((await b.read('Patient', 'fz-15'))?.versionId).toBe(2);
    expect((await b.read('Patient', 'fz-1'))?.versionId).toBe(2);
    expect((await b.read('Patient', 'fz-17'))?.deleted).toBe(true);
    expect(await b.count('Patient', { 's.family': 'v2' })).toBe(4);
    await b.close();
  });

  it('drops a torn tail (half a record, garbage, bad checksum) and keeps accepting writes', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await workload(a, 'a', 10);
    const before = await dump(a);
    await a.close();
    const journal = join(dir, 'journal-00000000.log');
    const goodSize = (await stat(journal)).size;

    // half of a valid record
    const rec = frame(JSON.stringify({ q: 999, o: [{ t: 'Patient', i: 'ghost', v: 1, u: '2099-01-01T00:00:00.000Z', r: patient('ghost', 'g'), s: {} }] }));
    await appendFile(journal, rec.subarray(0, Math.floor(rec.length / 2)));
    let b = await open(dir);
    expect(await b.read('Patient', 'ghost')).toBeUndefined();
    expect(await dump(b)).toEqual(before);
    expect((await stat(journal)).size).toBe(goodSize); // truncated so new appends are clean
    const w = await b.write({ resourceType: 'Patient', id: 'after-tear', resource: patient('after-tear', 'ok'), ifVersion: 'absent' });
    await b.close();
    b = await open(dir);
    expect(await b.read('Patient', 'after-tear')).toEqual(w);
    await b.close();

    // random garbage
    await appendFile(journal, Buffer.from('\x07\x00\x00\x00garbage-garbage-garbage'));
    b = await open(dir);
    expect(await b.read('Patient', 'after-tear')).toEqual(w);
    await b.write({ resourceType: 'Patient', id: 'after-garbage', resource: patient('after-garbage', 'ok'), ifVersion: 'absent' });
    await b.close();

    // a complete record whose checksum does not match (bit flip in the last record)
    const full = await readFile(journal);
    full[full.length - 3] ^= 0xff;
    await writeFile(journal, full);
    b = await open(dir);
    expect(await b.read('Patient', 'after-garbage')).toBeUndefined();
    expect(await b.read('Patient', 'after-tear')).toEqual(w);
    expect((await b.history({ count: 1_000_000 })).length).toBe(before.history.length + 1);
    await b.close();
  });

  it('a failed append rejects the write and leaves memory and disk unchanged', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await a.write({ resourceType: 'Patient', id: 'x', resource: patient('x', 'one'), ifVersion: 'absent', index: { family: 'one' } });
    const internals = a as unknown as { journal: { write: (...args: unknown[]) => Promise<unknown> } };
    const fh = internals.journal;
    const realWrite = fh.write.bind(fh);
    fh.write = async (...args: unknown[]) => {
      // write part of the record, then fail like a full disk
      const [buf, off, len, pos] = args as [Buffer, number, number, number];
      await realWrite(buf, off, Math.floor(len / 2), pos);
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    await expect(
      a.write({ resourceType: 'Patient', id: 'x', resource: patient('x', 'two'), ifVersion: 1, index: { family: 'two' } })
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(a.transact([{ resourceType: 'Patient', id: 'y', resource: patient('y', 'y'), ifVersion: 'absent' }])).rejects.toBeInstanceOf(
      StoreUnavailableError
    );
    expect((await a.read('Patient', 'x'))?.versionId).toBe(1);
    expect(await a.read('Patient', 'y')).toBeUndefined();
    expect(await a.count('Patient', { 's.family': 'two' })).toBe(0);
    // the disk has room again: the partial record was cut off, writes continue cleanly
    fh.write = realWrite;
    await a.ping();
    const v2 = await a.write({ resourceType: 'Patient', id: 'x', resource: patient('x', 'three'), ifVersion: 1 });
    expect(v2.versionId).toBe(2);
    await a.close();
    const b = await open(dir);
    expect(await b.read('Patient', 'x')).toEqual(v2);
    expect(await b.historyCount({})).toBe(2);
    await b.close();
  });

  it('a failed fsync rejects the write, changes nothing in memory, and takes the store out of service', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await a.write({ resourceType: 'Patient', id: 'x', resource: patient('x', 'one'), ifVersion: 'absent' });
    const internals = a as unknown as { journal: { datasync: () => Promise<void> } };
    internals.journal.datasync = async () => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    };
    await expect(a.write({ resourceType: 'Patient', id: 'x', resource: patient('x', 'two'), ifVersion: 1 })).rejects.toBeInstanceOf(
      StoreUnavailableError
    );
    expect((await a.read('Patient', 'x'))?.versionId).toBe(1);
    await expect(a.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(a.write({ resourceType: 'Patient', id: 'z', resource: patient('z', 'z') })).rejects.toBeInstanceOf(StoreUnavailableError);
    await a.close();
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

  it('refuses a journal corrupted in the middle of an older generation', async () => {
    const dir = await tempDir();
    const a = await open(dir);
    await workload(a, 'a', 5);
    const internals = a as unknown as { writeSnapshot: () => Promise<void> };
    internals.writeSnapshot = async () => {
      throw new Error('no snapshot');
    };
    await expect(a.compact()).rejects.toThrow();
    await workload(a, 'b', 5);
    await a.close();
    const j0 = join(dir, 'journal-00000000.log');
    const buf = await readFile(j0);
    buf[buf.length - 5] ^= 0xff;
    await writeFile(j0, buf);
    await expect(open(dir)).rejects.toThrow(/corrupt/);
    // the failed open released its lock: a second attempt fails for the same reason, not "locked"
    await expect(open(dir)).rejects.toThrow(/corrupt/);
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
