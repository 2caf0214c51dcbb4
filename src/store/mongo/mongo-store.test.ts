// MongoStore: the shared store contract plus MongoDB-specific behaviour.
// Needs a server: TEST_MONGODB_URL=mongodb://127.0.0.1:<port>/ (e.g. FerretDB from
// `scripts/ferretdb.sh start <dir> <port>`). Each run uses fresh databases and drops them after.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Resource } from '@medplum/fhirtypes';
import { MongoClient } from 'mongodb';
import { wedgeServerMonitor } from './test-wedge.js';
import { afterAll, describe, expect, it } from 'vitest';
import { runStoreContract } from '../store-contract.js';
import { runExpiringContract } from '../expiring-contract.js';
import {
  StoreUnavailableError,
  TransactionsUnsupportedError,
  VersionConflictError,
  type ResourceRecord,
} from '../store.js';
import { MongoStore, databaseNameFromUrl, type HistoryDoc, type LockDoc, type MongoStoreOptions } from './mongo-store.js';

const TEST_URL = process.env.TEST_MONGODB_URL;

const patient = (id: string, family: string): Resource => ({ resourceType: 'Patient', id, name: [{ family }] }) as Resource;
const familyOf = (r: ResourceRecord | undefined) => (r?.resource as { name?: { family?: string }[] } | undefined)?.name?.[0]?.family;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The URL with its path replaced by a database name (keeps the query string). */
function urlWithDb(url: string, db: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/i.exec(url);
  if (!m) throw new Error(`cannot parse TEST_MONGODB_URL ${url}`);
  return `${m[1]}/${db}${m[2] ?? ''}`;
}

describe('MongoStore without a server', () => {
  it('takes the database name from the URL path, default iis', () => {
    expect(databaseNameFromUrl('mongodb://127.0.0.1:27017')).toBe('iis');
    expect(databaseNameFromUrl('mongodb://127.0.0.1:27017/')).toBe('iis');
    expect(databaseNameFromUrl('mongodb://127.0.0.1:27017/?directConnection=true')).toBe('iis');
    expect(databaseNameFromUrl('mongodb://u:p@h1:1,h2:2/registry?replicaSet=rs0')).toBe('registry');
    expect(databaseNameFromUrl('mongodb+srv://cluster.example.org/iis_prod')).toBe('iis_prod');
    expect(new MongoStore({ url: 'mongodb://127.0.0.1:1/abc' }).databaseName).toBe('abc');
  });

  it('ping, init and reads on an unreachable server fail fast with StoreUnavailableError', async () => {
    const store = new MongoStore({ url: 'mongodb://127.0.0.1:1/iis_unreachable', serverSelectionTimeoutMS: 500 });
    try {
      let t = Date.now();
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - t).toBeLessThan(3_000);
      t = Date.now();
      await expect(store.init()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.read('Patient', 'x')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(
        store.write({ resourceType: 'Patient', id: 'x', resource: patient('x', 'X') })
      ).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.search('Patient', { filter: {}, limit: 1 })).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.withLock('k', async () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - t).toBeLessThan(10_000);
    } finally {
      await store.close();
    }
  });

  it('ping with the default server selection timeout still answers within its own deadline', async () => {
    const store = new MongoStore({ url: 'mongodb://127.0.0.1:1/iis_unreachable', pingTimeoutMs: 300 });
    try {
      const t = Date.now();
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - t).toBeLessThan(2_000);
    } finally {
      await store.close();
    }
  });
});

if (!TEST_URL) {
  console.warn(
    '[mongo-store.test] MongoDB tests SKIPPED: TEST_MONGODB_URL is not set. Start FerretDB with ' +
      '`scripts/ferretdb.sh start /tmp/iis-ferretdb 27117` and run ' +
      '`TEST_MONGODB_URL=mongodb://127.0.0.1:27117/ npx vitest run src/store/mongo`.'
  );
  describe.skip('MongoStore against a server (TEST_MONGODB_URL unset)', () => {
    it('needs TEST_MONGODB_URL', () => undefined);
  });
} else {
  const url = TEST_URL;
  const runId = `iis_test_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
  const databases = new Set<string>();
  const stores: MongoStore[] = [];
  const admin = new MongoClient(url, { serverSelectionTimeoutMS: 5_000 });

  /** A new store on a database of this run (dropped afterwards); the name goes in the URL path. */
  const storeOn = (suffix: string, options: Partial<MongoStoreOptions> = {}): MongoStore => {
    const db = `${runId}_${suffix}`;
    databases.add(db);
    const store = new MongoStore({ url: urlWithDb(url, db), serverSelectionTimeoutMS: 5_000, ...options });
    stores.push(store);
    return store;
  };

  // Detect what the server supports before registering the contract suite.
  const probe = storeOn('probe');
  await probe.init();
  const detectedTransactions = probe.supportsTransactions;
  const caps = probe.capabilities;
  await probe.close();
  console.warn(`[mongo-store.test] ${url}: capabilities ${JSON.stringify(caps)}`);

  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    for (const db of databases) await admin.db(db).dropDatabase().catch(() => undefined);
    await admin.close();
  });

  runStoreContract('mongodb', async () => storeOn('contract'), { transactions: detectedTransactions });
  runExpiringContract('mongodb', async () => {
    const store = storeOn('expiring');
    await store.init();
    return { records: (namespace) => store.expiringRecords(namespace), dispose: () => store.close() };
  });
  if (caps.atomicUpdates || caps.arrayObjectQueries) {
    // A full MongoDB: also prove the paths taken on FerretDB 1.x (no compare-and-set, object
    // queries on arrays decided in process) against it.
    runStoreContract(
      'mongodb in FerretDB-compatible mode',
      async () => storeOn('contract_compat', { transactions: false, atomicUpdates: false, arrayObjectQueries: false }),
      { transactions: false }
    );
  }

  describe('MongoStore specifics', () => {
    it('creates the history, per-type and requested indexes in init', async () => {
      const store = storeOn('indexes', {
        indexes: { Immunization: [{ 's.patient': 1 }], Observation: [{ 's.code': 1, 's.date': -1 }] },
      });
      await store.init();
      const db = admin.db(store.databaseName);
      const keysOf = async (coll: string) => (await db.collection(coll).indexes()).map((i) => JSON.stringify(i.key));
      const history = await keysOf('history');
      expect(history).toContain(JSON.stringify({ resourceType: 1, id: 1, versionId: -1 }));
      expect(history).toContain(JSON.stringify({ lastUpdated: -1, resourceType: -1, id: -1, versionId: -1 }));
      expect(history).toContain(JSON.stringify({ resourceType: 1, lastUpdated: -1, id: -1, versionId: -1 }));
      for (const type of ['Patient', 'Immunization', 'Consent', 'Organization', 'Group', 'Observation']) {
        expect(await keysOf(type), type).toContain(JSON.stringify({ lastUpdated: 1 }));
      }
      expect(await keysOf('Immunization')).toContain(JSON.stringify({ 's.patient': 1 }));
      expect(await keysOf('Observation')).toContain(JSON.stringify({ 's.code': 1, 's.date': -1 }));
      // init is idempotent
      await store.init();
      await store.close();
    });

    it('stores the documented layout and never leaks internal fields into resources', async () => {
      const store = storeOn('layout');
      await store.init();
      const id = randomUUID();
      const rec = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'L'), ifVersion: 'absent', index: { family: 'l' } });
      const db = admin.db(store.databaseName);
      const cur = await db.collection('Patient').findOne({ _id: id as never });
      expect(cur).toMatchObject({ _id: id, versionId: 1, lastUpdated: rec.lastUpdated, deleted: false, s: { family: 'l' } });
      const hist = await db.collection<HistoryDoc>('history').findOne({ _id: `Patient/${id}/1` });
      expect(hist).toMatchObject({ resourceType: 'Patient', id, versionId: 1, lastUpdated: rec.lastUpdated, deleted: false });
      const read = await store.read('Patient', id);
      expect(Object.keys(read!)).not.toContain('_id');
      expect(Object.keys(read!.resource!)).not.toContain('_id');
      expect(Object.keys(read!)).not.toContain('s');
      const [found] = await store.search('Patient', { filter: { _id: id }, limit: 1 });
      expect(found).toEqual(rec);
      await store.close();
    });

    it('forced transactions: false makes transact throw TransactionsUnsupportedError', async () => {
      const store = storeOn('notx', { transactions: false });
      await store.init();
      expect(store.supportsTransactions).toBe(false);
      const id = randomUUID();
      const err = await store.transact([{ resourceType: 'Patient', id, resource: patient(id, 'T') }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransactionsUnsupportedError);
      expect((err as Error).message).toMatch(/transactions/);
      expect(await store.read('Patient', id)).toBeUndefined();
      await store.close();
    });

    const modes: Array<{ name: string; options: Partial<MongoStoreOptions> }> = [
      { name: 'without transactions or compare-and-set', options: { transactions: false, atomicUpdates: false } },
    ];
    if (caps.atomicUpdates) modes.push({ name: 'with compare-and-set', options: { transactions: false, atomicUpdates: true } });
    if (detectedTransactions) modes.push({ name: 'with transactions', options: { transactions: true } });

    for (const [n, mode] of modes.entries()) {
      it(`rolls an orphan history version (crash between the two writes) forward, ${mode.name}`, async () => {
        const graceMs = 400;
        const store = storeOn(`orphan${n}`, { ...mode.options, orphanGraceMs: graceMs });
        await store.init();
        const waitsForGrace = store.capabilities.atomicUpdates === false && !store.supportsTransactions;
        const history = admin.db(store.databaseName).collection<HistoryDoc>('history');
        const orphanOf = (id: string, versionId: number, family: string, tag: string): HistoryDoc => {
          const lastUpdated = new Date().toISOString();
          return {
            _id: `Patient/${id}/${versionId}`,
            resourceType: 'Patient',
            id,
            versionId,
            lastUpdated,
            deleted: false,
            resource: { ...patient(id, family), meta: { versionId: String(versionId), lastUpdated } } as Resource,
            s: { tag },
          };
        };

        // 1. update crashed after claiming version 2
        const tag = randomUUID();
        const id = randomUUID();
        await store.write({ resourceType: 'Patient', id, resource: patient(id, 'v1'), ifVersion: 'absent', index: { tag } });
        await history.insertOne(orphanOf(id, 2, 'orphan', tag));
        expect((await store.read('Patient', id))?.versionId).toBe(1); // not visible until rolled forward
        // a write expecting version 1 conflicts with the committed (logged) version 2 ...
        const t = Date.now();
        const err = await store
          .write({ resourceType: 'Patient', id, resource: patient(id, 'late'), ifVersion: 1 })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(VersionConflictError);
        // without compare-and-set a fresh claim may belong to a writer still in flight: wait first
        if (waitsForGrace) expect(Date.now() - t).toBeGreaterThanOrEqual(graceMs - 50);
        expect((err as VersionConflictError).actual).toBe(2);
        // ... and has rolled the current document forward, search values included
        const rolled = await store.read('Patient', id);
        expect(rolled?.versionId).toBe(2);
        expect(familyOf(rolled)).toBe('orphan');
        expect((await store.search('Patient', { filter: { 's.tag': tag }, limit: 10 })).map((r) => r.versionId)).toEqual([2]);
        // the resource is not wedged
        const v3 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'v3'), ifVersion: 2 });
        expect(v3.versionId).toBe(3);
        expect((await store.history({ resourceType: 'Patient', id, count: 10 })).map((r) => r.versionId)).toEqual([3, 2, 1]);

        // 2. an unconditional write over an orphan continues after it
        const id2 = randomUUID();
        await store.write({ resourceType: 'Patient', id: id2, resource: patient(id2, 'v1'), ifVersion: 'absent' });
        await history.insertOne(orphanOf(id2, 2, 'orphan2', tag));
        const any = await store.write({ resourceType: 'Patient', id: id2, resource: patient(id2, 'v3') });
        expect(any.versionId).toBe(3);
        expect(familyOf(await store.vread('Patient', id2, 2))).toBe('orphan2');
        expect(familyOf(await store.read('Patient', id2))).toBe('v3');

        // 3. a create that crashed after claiming version 1 (no current document at all), long ago:
        //    rolled forward at once
        const id3 = randomUUID();
        await history.insertOne({ ...orphanOf(id3, 1, 'orphan3', tag), lastUpdated: new Date(Date.now() - 60_000).toISOString() });
        const t3 = Date.now();
        expect(await store.read('Patient', id3)).toBeUndefined();
        const err3 = await store
          .write({ resourceType: 'Patient', id: id3, resource: patient(id3, 'again'), ifVersion: 'absent' })
          .catch((e: unknown) => e);
        expect(err3).toBeInstanceOf(VersionConflictError);
        expect((err3 as VersionConflictError).actual).toBe(1);
        expect(Date.now() - t3).toBeLessThan(graceMs);
        expect(familyOf(await store.read('Patient', id3))).toBe('orphan3');
        await store.close();
      });
    }

    it('50 concurrent conditional writes through 50 clients: exactly one wins', async () => {
      // separate clients (like server processes): their writes race in the database itself
      const clients = Array.from({ length: 50 }, () => storeOn('race', { transactions: false }));
      for (const c of clients) await c.init();
      const [a, b] = clients as [MongoStore, MongoStore];
      const id = randomUUID();
      await a.write({ resourceType: 'Patient', id, resource: patient(id, 'base'), ifVersion: 'absent' });
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          clients[i % 50]!.write({ resourceType: 'Patient', id, resource: patient(id, `w${i}`), ifVersion: 1 })
        )
      );
      const won = results.filter((r): r is PromiseFulfilledResult<ResourceRecord> => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
      expect(await b.read('Patient', id)).toEqual(won[0]!.value);
      expect(await a.historyCount({ resourceType: 'Patient', id })).toBe(2);

      // and 50 concurrent creates of one id: exactly one
      const fresh = randomUUID();
      const creates = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          clients[i % 50]!.write({ resourceType: 'Patient', id: fresh, resource: patient(fresh, `c${i}`), ifVersion: 'absent' })
        )
      );
      expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of creates) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
      expect(await a.historyCount({ resourceType: 'Patient', id: fresh })).toBe(1);

      // and 50 concurrent unconditional writes: all land, versions gapless, the current document
      // ends at the newest (no stale write of an older version lands on top of a newer one)
      const any = randomUUID();
      // meanwhile a reader watches the current document: its version must never go back
      const seen: number[] = [];
      let writing = true;
      const watcher = (async () => {
        while (writing) {
          const cur = await b.read('Patient', any);
          if (cur) seen.push(cur.versionId);
        }
      })();
      const written = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          clients[i % 50]!.write({ resourceType: 'Patient', id: any, resource: patient(any, `a${i}`), index: { n: i } })
        )
      ).finally(() => (writing = false));
      await watcher;
      for (let i = 1; i < seen.length; i++) expect(seen[i], `current version went back: ${seen.join(',')}`).toBeGreaterThanOrEqual(seen[i - 1]!);
      expect(written.map((r) => r.versionId).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      const last = written.find((r) => r.versionId === 50)!;
      expect(await b.read('Patient', any)).toEqual(last);
      expect(await b.count('Patient', { _id: any, 's.n': Number(familyOf(last)?.slice(1)) })).toBe(1);
      for (const c of clients) await c.close();
    });

    it('withLock takes over a lock whose holder crashed, only after it expired', async () => {
      const store = storeOn('locks', { lockTtlMs: 400 });
      await store.init();
      const locks = admin.db(store.databaseName).collection<LockDoc>('locks');

      // long expired: taken over at once
      const k1 = `lock-${randomUUID()}`;
      await locks.insertOne({ _id: k1, owner: 'crashed', expiresAt: new Date(Date.now() - 60_000) });
      let t = Date.now();
      expect(await store.withLock(k1, async () => 'taken')).toBe('taken');
      expect(Date.now() - t).toBeLessThan(1_000);
      expect(await locks.findOne({ _id: k1 })).toBeNull(); // released by the new owner

      // not yet expired: waits for the expiry, then takes over
      const k2 = `lock-${randomUUID()}`;
      await locks.insertOne({ _id: k2, owner: 'crashed', expiresAt: new Date(Date.now() + 500) });
      t = Date.now();
      expect(await store.withLock(k2, async () => 'later')).toBe('later');
      expect(Date.now() - t).toBeGreaterThanOrEqual(400);
      expect(Date.now() - t).toBeLessThan(5_000);

      // a live holder keeps renewing: nobody takes it over while fn runs past the TTL
      const k3 = `lock-${randomUUID()}`;
      const other = storeOn('locks', { lockTtlMs: 400 });
      await other.init();
      let active = 0;
      let maxActive = 0;
      const hold = async (ms: number) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(ms);
        active--;
      };
      await Promise.all([
        store.withLock(k3, () => hold(1_300)),
        sleep(50).then(() => other.withLock(k3, () => hold(10))),
      ]);
      expect(maxActive).toBe(1);
      await store.close();
      await other.close();
    });

    it('reconnects when the driver\'s server monitor hangs, instead of answering 503 for the rest of the process\'s life', async () => {
      const store = storeOn('wedged', { recoveryCheckMs: 200 });
      await store.init();
      await store.write({ resourceType: 'Patient', id: 'w1', resource: patient('w1', 'Wedge') });
      await wedgeServerMonitor((store as unknown as { client: MongoClient }).client);
      const started = Date.now();
      let family: string | undefined;
      let failures = 0;
      while (Date.now() - started < 30_000 && family === undefined) {
        try {
          family = familyOf(await store.read('Patient', 'w1'));
        } catch (err) {
          expect(err).toBeInstanceOf(StoreUnavailableError);
          failures += 1;
          await sleep(100);
        }
      }
      expect(failures).toBeGreaterThan(0);
      expect(family).toBe('Wedge');
      await store.close();
    }, 60_000);

    it('a busy lock times out with StoreUnavailableError after lockWaitMs', async () => {
      const store = storeOn('lockwait', { lockTtlMs: 10_000, lockWaitMs: 300 });
      await store.init();
      const key = `lock-${randomUUID()}`;
      await admin.db(store.databaseName).collection<LockDoc>('locks').insertOne({ _id: key, owner: 'alive', expiresAt: new Date(Date.now() + 10_000) });
      await expect(store.withLock(key, async () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
      await store.close();
    });

    it('every write acknowledged before a SIGKILL of the writing process is stored; nothing wedges', async () => {
      // (a short grace: the orphans the kill leaves are rolled forward 1 s after they were claimed)
      const store = storeOn('durability', { transactions: false, orphanGraceMs: 1_000 });
      await store.init();
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(new URL('./durability-child.ts', import.meta.url)), url, store.databaseName],
        { stdio: ['ignore', 'pipe', 'pipe'] }
      );
      const acked = new Map<string, number>();
      const started = new Set<string>();
      let stderr = '';
      let buffer = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
      const enough = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          buffer += d.toString();
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          for (const line of lines) {
            const [kind, id, v] = line.split(' ');
            if (kind === 'start' && id) started.add(id);
            if (kind === 'ack' && id) acked.set(id, Math.max(acked.get(id) ?? 0, Number(v)));
          }
          if (acked.size >= 80) resolve();
        });
        void exited.then(() => reject(new Error(`child exited early: ${stderr}`)));
      });
      await Promise.race([enough, sleep(20_000)]);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      expect(acked.size, `acknowledged writes before the kill (stderr: ${stderr})`).toBeGreaterThan(20);

      for (const [id, version] of acked) {
        const cur = await store.read('Patient', id);
        expect(cur?.versionId, id).toBeGreaterThanOrEqual(version);
        const v = await store.vread('Patient', id, version);
        expect(familyOf(v)).toBe(`${id}-v${version}`);
      }
      // every resource the child touched (acknowledged or cut off mid-write) can still be written
      for (const id of started) {
        const rec = await store.write({ resourceType: 'Patient', id, resource: patient(id, 'after'), ifVersion: 'any' });
        const versions = (await store.history({ resourceType: 'Patient', id, count: 10 })).map((r) => r.versionId);
        expect(versions[0]).toBe(rec.versionId);
        expect(versions).toEqual(Array.from({ length: rec.versionId }, (_, i) => rec.versionId - i));
      }
      await store.close();
    }, 60_000);
  });
}
