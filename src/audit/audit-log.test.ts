// AuditLog with the embedded store: events are written off the response path, failures are logged,
// counted and retried (never dropped), and what cannot be stored before shutdown is spilled to
// DATA_DIR and replayed on the next start.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseScopes } from '../auth/scopes.js';
import { loadDefinitions } from '../fhir/definitions.js';
import type { Logger } from '../logger.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { StoreUnavailableError, type Store, type WriteOp } from '../store/store.js';
import { buildAuditEvent, type AccessEvent } from './audit-event.js';
import { AuditLog, SPILL_FILE } from './audit-log.js';
import { metricsText } from './metrics.js';
import { directAuditSearchIndex } from './search-values.js';

const SERVER = 'https://iis.example/fhir';
let dir: string;
let store: EmbeddedStore;
let logs: Array<{ level: string; msg: string; fields?: Record<string, unknown> }>;
let logger: Logger;

beforeEach(async () => {
  loadDefinitions();
  dir = await mkdtemp(path.join(os.tmpdir(), 'iis-audit-'));
  store = new EmbeddedStore({ dataDir: path.join(dir, 'store') });
  await store.init();
  logs = [];
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => logs.push({ level, msg, fields });
  logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
});

afterEach(async () => {
  await store.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const access = (overrides: Partial<AccessEvent> = {}): AccessEvent => ({
  caller: { sub: 'analyst', scope: 'system/*.rs', scopes: parseScopes('system/*.rs'), clientId: 'ph-app' },
  interaction: 'read',
  resourceType: 'Patient',
  id: 'p-1',
  patientRefs: ['Patient/p-1'],
  outcome: 200,
  requestId: 'req-1',
  ...overrides,
});

/** A store whose writes and transactions fail while `down` is true (a flaky or unavailable database). */
function flaky(inner: Store): Store & { down: boolean; attempts: number } {
  const wrapper = Object.create(inner) as Store & { down: boolean; attempts: number };
  wrapper.down = true;
  wrapper.attempts = 0;
  wrapper.write = async (op: WriteOp) => {
    wrapper.attempts++;
    if (wrapper.down) throw new StoreUnavailableError('database is down');
    return inner.write(op);
  };
  wrapper.transact = async (ops: WriteOp[]) => {
    wrapper.attempts++;
    if (wrapper.down) throw new StoreUnavailableError('database is down');
    return inner.transact(ops);
  };
  return wrapper;
}

describe('AuditLog', () => {
  it('stores the AuditEvent with its search index, off the caller path', async () => {
    const audit = new AuditLog({ store, logger, serverUrl: SERVER });
    const id = audit.recordAccess(access());
    expect(audit.stats().pending).toBe(1); // queued, not yet written: recordAccess did not wait
    expect(await audit.flush(5000)).toBe(true);
    const record = await store.read('AuditEvent', id);
    const event = record?.resource as AuditEvent;
    expect(event.resourceType).toBe('AuditEvent');
    expect(event.entity?.[0].what?.reference).toBe('Patient/p-1');
    expect(record?.versionId).toBe(1);
    const found = await store.search('AuditEvent', { filter: { 's.patient': 'Patient/p-1' }, limit: 10 });
    expect(found.map((r) => r.id)).toEqual([id]);
    expect(audit.stats()).toMatchObject({ recorded: 1, written: 1, failedWrites: 0, pending: 0, spilled: 0 });
  });

  it('writes many concurrent events, none lost', async () => {
    const audit = new AuditLog({ store, logger, serverUrl: SERVER, concurrency: 8 });
    const ids = Array.from({ length: 300 }, (_, i) => audit.recordAccess(access({ id: `p-${i}`, patientRefs: [`Patient/p-${i}`], requestId: `r-${i}` })));
    expect(await audit.flush(10_000)).toBe(true);
    expect(new Set(ids).size).toBe(300);
    expect(await store.count('AuditEvent', {})).toBe(300);
    expect(audit.stats()).toMatchObject({ written: 300, pending: 0 });
  });

  it('a failed write is logged, counted and retried until it lands', async () => {
    const down = flaky(store);
    const audit = new AuditLog({ store: down, logger, serverUrl: SERVER, retryBaseMs: 5, retryMaxMs: 20 });
    const id = audit.recordAccess(access());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stats = audit.stats();
    expect(stats.failedWrites).toBeGreaterThanOrEqual(2);
    expect(stats.pending).toBe(1);
    expect(stats.lastError).toMatch(/database is down/);
    const errors = logs.filter((l) => l.level === 'error' && l.msg === 'audit write failed');
    expect(errors.length).toBe(stats.failedWrites);
    expect(errors[0].fields).toMatchObject({ auditEventId: id, attempt: 1 });
    expect(metricsText(audit)).toMatch(new RegExp(`^iis_audit_write_failures_total ${stats.failedWrites}$`, 'm'));
    down.down = false;
    expect(await audit.flush(5000)).toBe(true);
    expect((await store.read('AuditEvent', id))?.resource?.resourceType).toBe('AuditEvent');
    expect(audit.stats()).toMatchObject({ written: 1, pending: 0 });
    expect(metricsText(audit)).toMatch(/^iis_audit_events_written_total 1$/m);
  });

  it('a retry that finds its event already stored counts it as written (no duplicate)', async () => {
    let first = true;
    const lossy = Object.create(store) as Store;
    lossy.write = async (op: WriteOp) => {
      const record = await store.write(op);
      if (first) {
        first = false;
        throw new StoreUnavailableError('acknowledgement lost');
      }
      return record;
    };
    const audit = new AuditLog({ store: lossy, logger, serverUrl: SERVER, retryBaseMs: 5 });
    const id = audit.recordAccess(access());
    expect(await audit.flush(5000)).toBe(true);
    expect(audit.stats()).toMatchObject({ written: 1, failedWrites: 1 });
    expect((await store.read('AuditEvent', id))?.versionId).toBe(1);
    expect(await store.count('AuditEvent', {})).toBe(1);
  });

  it('spills what the store never took before shutdown, and replays it on the next start', async () => {
    const down = flaky(store);
    const audit = new AuditLog({ store: down, logger, serverUrl: SERVER, dataDir: dir, retryBaseMs: 5, retryMaxMs: 10 });
    const ids = [audit.recordAccess(access({ requestId: 'a' })), audit.recordAccess(access({ requestId: 'b' }))];
    await audit.close(100);
    expect(audit.stats()).toMatchObject({ spilled: 2, lost: 0 });
    expect(logs.some((l) => l.level === 'error' && l.msg === 'audit events not stored before shutdown')).toBe(true);
    const spilled = (await readFile(path.join(dir, SPILL_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).id);
    expect(new Set(spilled)).toEqual(new Set(ids));

    const next = new AuditLog({ store, logger, serverUrl: SERVER, dataDir: dir });
    await next.start();
    expect(await next.flush(5000)).toBe(true);
    for (const id of ids) expect((await store.read('AuditEvent', id))?.resource?.id).toBe(id);
    await new Promise((resolve) => setTimeout(resolve, 50)); // replay file removal is async
    expect(existsSync(path.join(dir, SPILL_FILE))).toBe(false);
    expect(existsSync(path.join(dir, 'audit-undelivered.replay.ndjson'))).toBe(false);
    // Replaying again (a crash before the replay file was removed) stores nothing twice.
    const again = new AuditLog({ store, logger, serverUrl: SERVER, dataDir: dir });
    await again.start();
    expect(await again.flush(5000)).toBe(true);
    expect(await store.count('AuditEvent', {})).toBe(2);
  });

  it('spills beyond maxQueue instead of growing without bound', async () => {
    const down = flaky(store);
    const audit = new AuditLog({ store: down, logger, serverUrl: SERVER, dataDir: dir, maxQueue: 3, concurrency: 1, retryBaseMs: 1000 });
    for (let i = 0; i < 6; i++) audit.recordAccess(access({ requestId: `r${i}` }));
    // A spill is counted once its append to the file is done: waited for, not a fixed 50 ms (under
    // a loaded machine's full suite the append took longer and one spill was not counted yet).
    await vi.waitFor(() => expect(audit.stats().pending + audit.stats().spilled).toBe(6), { timeout: 5000, interval: 10 });
    const stats = audit.stats();
    expect(stats.recorded).toBe(6);
    expect(stats.pending).toBeLessThanOrEqual(3 + 1); // maxQueue, and the one event in flight
    expect(stats.spilled).toBeGreaterThanOrEqual(2);
    await audit.close(10);
    expect(audit.stats().spilled).toBe(6);
    const lines = (await readFile(path.join(dir, SPILL_FILE), 'utf8')).trim().split('\n');
    expect(new Set(lines.map((l) => JSON.parse(l).id)).size).toBe(6);
  });

  describe('batches (the events queued while one commits share the next commit)', () => {
    /** The store, with every write() and transact() call's op count recorded. */
    function counting(inner: Store, supportsTransactions = true): Store & { calls: Array<['write' | 'transact', number]> } {
      const wrapper = Object.create(inner) as Store & { calls: Array<['write' | 'transact', number]> };
      wrapper.calls = [];
      Object.defineProperty(wrapper, 'supportsTransactions', { value: supportsTransactions });
      wrapper.write = async (op: WriteOp) => {
        wrapper.calls.push(['write', 1]);
        return inner.write(op);
      };
      wrapper.transact = async (ops: WriteOp[]) => {
        wrapper.calls.push(['transact', ops.length]);
        return inner.transact(ops);
      };
      return wrapper;
    }
    const record = (audit: AuditLog, n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => audit.recordAccess(access({ id: `p-${from + i}`, patientRefs: [`Patient/p-${from + i}`], requestId: `r-${from + i}` })));

    it('without a batch delay a lone event is written at once; those queued meanwhile go in one transaction, at most `concurrency` each', async () => {
      const counted = counting(store);
      const audit = new AuditLog({ store: counted, logger, serverUrl: SERVER, concurrency: 8, batchDelayMs: 0 });
      const ids = record(audit, 21);
      expect(await audit.flush(5000)).toBe(true);
      expect(counted.calls).toEqual([['write', 1], ['transact', 8], ['transact', 8], ['transact', 4]]);
      expect(await store.count('AuditEvent', {})).toBe(21);
      for (const id of ids) {
        const stored = await store.read('AuditEvent', id);
        expect(stored?.versionId).toBe(1);
        // Each with its own search values, as a write of its own would store them.
        const found = await store.search('AuditEvent', { filter: { 's.patient': (stored?.resource as AuditEvent | undefined)?.entity?.[0]?.what?.reference }, limit: 5 });
        expect(found.map((r) => r.id)).toEqual([id]);
      }
      expect(audit.stats()).toMatchObject({ recorded: 21, written: 21, failedWrites: 0, pending: 0 });
    });

    it('a batch holding an event already stored is written again event by event: nothing twice, nothing lost', async () => {
      const counted = counting(store);
      const audit = new AuditLog({ store: counted, logger, serverUrl: SERVER, batchDelayMs: 0 });
      record(audit, 1, 100); // the lone event, so that the next ones queue up as one batch
      const ids = record(audit, 5);
      // One of the batch's events lands before the batch (a lost acknowledgement, a replay).
      const early = buildAuditEvent(access({ id: 'p-2', patientRefs: ['Patient/p-2'], requestId: 'r-2' }), SERVER);
      const again = audit.recordEvent(early);
      await store.write({ resourceType: 'AuditEvent', id: early.id, resource: early, ifVersion: 'absent', index: directAuditSearchIndex(early) });
      expect(await audit.flush(5000)).toBe(true);
      expect(counted.calls.map(([kind]) => kind)).toEqual(['write', 'transact', 'write', 'write', 'write', 'write', 'write', 'write']);
      for (const id of [...ids, again]) expect((await store.read('AuditEvent', id))?.versionId).toBe(1);
      expect(await store.count('AuditEvent', {})).toBe(7);
      expect(audit.stats()).toMatchObject({ recorded: 7, written: 7, failedWrites: 0, pending: 0 });
    });

    it('a failed batch is logged and counted, then written event by event (each failure logged, counted, retried), and lands', async () => {
      const down = flaky(store);
      const audit = new AuditLog({ store: down, logger, serverUrl: SERVER, retryBaseMs: 5, retryMaxMs: 20 });
      const ids = record(audit, 6);
      await new Promise((resolve) => setTimeout(resolve, 60));
      const stats = audit.stats();
      expect(stats.failedWrites).toBeGreaterThanOrEqual(2);
      expect(stats.failedWrites).toBe(down.attempts);
      const errors = logs.filter((l) => l.level === 'error' && l.msg === 'audit write failed');
      expect(errors.length).toBe(stats.failedWrites);
      expect(errors.some((e) => e.fields?.events === 6)).toBe(true); // the lone first event has rejoined the others
      down.down = false;
      expect(await audit.flush(5000)).toBe(true);
      for (const id of ids) expect((await store.read('AuditEvent', id))?.versionId).toBe(1);
      expect(audit.stats()).toMatchObject({ recorded: 6, written: 6, pending: 0 });
    });

    it('a short batch waits batchDelayMs for more events: those of requests a few ms apart share one commit', async () => {
      const counted = counting(store);
      const audit = new AuditLog({ store: counted, logger, serverUrl: SERVER, batchDelayMs: 300 });
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        ids.push(...record(audit, 1, i));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(counted.calls).toEqual([]); // still gathering
      expect(audit.stats().pending).toBe(4);
      expect(await audit.flush(5000)).toBe(true);
      expect(counted.calls).toEqual([['transact', 4]]);
      for (const id of ids) expect((await store.read('AuditEvent', id))?.versionId).toBe(1);
    });

    it('a full batch does not wait, and close() writes a gathering batch instead of spilling it', async () => {
      const counted = counting(store);
      const full = new AuditLog({ store: counted, logger, serverUrl: SERVER, concurrency: 4, batchDelayMs: 60_000 });
      record(full, 4);
      expect(await full.flush(5000)).toBe(true);
      expect(counted.calls).toEqual([['transact', 4]]);

      const gathering = new AuditLog({ store, logger, serverUrl: SERVER, dataDir: dir, batchDelayMs: 50 });
      const ids = record(gathering, 3, 10);
      await gathering.close(5000);
      expect(gathering.stats()).toMatchObject({ written: 3, spilled: 0, pending: 0 });
      for (const id of ids) expect((await store.read('AuditEvent', id))?.versionId).toBe(1);
      expect(existsSync(path.join(dir, SPILL_FILE))).toBe(false);
    });

    it('one event the store refuses does not hold back the others of its batch', async () => {
      const counted = counting(store);
      const audit = new AuditLog({ store: counted, logger, serverUrl: SERVER, retryBaseMs: 5, retryMaxMs: 10 });
      const good = record(audit, 3);
      // E.g. a malformed line of a spill file: the store refuses it whatever the attempt.
      const bad = audit.recordEvent({ resourceType: 'Patient', id: 'not-an-audit-event' } as unknown as AuditEvent & { id: string });
      good.push(...record(audit, 2, 3));
      await new Promise((resolve) => setTimeout(resolve, 150));
      for (const id of good) expect((await store.read('AuditEvent', id))?.versionId).toBe(1);
      expect(counted.calls[0]).toEqual(['transact', 6]);
      const stats = audit.stats();
      expect(stats).toMatchObject({ recorded: 6, written: 5, pending: 1 });
      expect(stats.failedWrites).toBeGreaterThanOrEqual(2); // the batch, then the refused event alone (and its retries)
      const errors = logs.filter((l) => l.level === 'error' && l.msg === 'audit write failed');
      expect(errors.length).toBe(stats.failedWrites);
      expect(errors.some((e) => e.fields?.auditEventId === bad && e.fields?.attempt === 1)).toBe(true);
      await audit.close(10);
      expect(audit.stats()).toMatchObject({ written: 5, lost: 1 }); // no DATA_DIR here: counted and logged as lost
    });

    it('a store without transactions gets one write per event', async () => {
      const counted = counting(store, false);
      const audit = new AuditLog({ store: counted, logger, serverUrl: SERVER });
      record(audit, 10);
      expect(await audit.flush(5000)).toBe(true);
      expect(counted.calls).toEqual(Array.from({ length: 10 }, () => ['write', 1]));
      expect(await store.count('AuditEvent', {})).toBe(10);
    });
  });
});
