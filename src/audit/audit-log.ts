// Writes AuditEvents off the response path without ever dropping one silently:
//  - recordAccess() builds the AuditEvent and queues it; the request does not wait.
//  - A pump writes queued events to the store, each with its own id, ifVersion 'absent' and its
//    search index, one batch at a time: the events queued while a batch commits go together in the
//    next one (up to `concurrency` events), as ONE store.transact when the store has transactions.
//    A commit of its own costs ~0.3-0.5 ms of CPU beyond its documents, so under load (concurrent
//    reads each auditing one event) the events of many requests share it. A batch of fewer than
//    `concurrency` events waits `batchDelayMs` (default 10 ms) for more before it is written: one
//    client's requests come a few ms apart, so without the wait each of their events paid a commit
//    of its own (~1 ms of process CPU with its fsync, ~0.5 ms of it on the request thread; see
//    src/audit/README.md). The price: an event stays queued in memory up to that long before its
//    commit starts (flush() and close() wait for it and write it). With a DATA_DIR each event is
//    also appended to a journal file before recordAccess returns, i.e. before its request is
//    answered (audit-journal.ts), and replayed by the next start: a process killed with events
//    queued loses none of them (before the journal, a kill -9 right after a burst of 2,000 reads
//    lost 29). A batch is all or
//    nothing: when it fails (one of its events already stored after a replay or a lost
//    acknowledgement, a store error, an event the store refuses) it is written again event by event,
//    so one bad event never holds back the others.
//  - A failed write is logged (error line "audit write failed"), counted (failedWrites), put back
//    at the head of the queue and retried with exponential backoff (retryBaseMs … retryMaxMs),
//    for as long as the process lives. A retry that finds its id already stored (the first write
//    landed but its answer was lost) counts as written, so nothing is stored twice.
//  - Beyond maxQueue events waiting, or still waiting when close() gives up, events are appended
//    to DATA_DIR/audit-undelivered.ndjson (counted as spilled, logged as errors) and replayed into
//    the store by start() on the next start.
// Counters: stats(), served at GET /metrics (metrics.ts).
import { appendFile, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { AuditEvent } from '@medplum/fhirtypes';
import { latencyTrace } from '../latency-trace.js';
import type { Logger } from '../logger.js';
import { extractSearchIndex } from '../search/extract.js';
import { VersionConflictError, type SearchIndex, type Store, type WriteOp } from '../store/store.js';
import { buildAuditEvent, type AccessEvent } from './audit-event.js';
import { AuditJournal, type JournalSegment } from './audit-journal.js';
import { directAuditSearchIndex } from './search-values.js';

export const SPILL_FILE = 'audit-undelivered.ndjson';
const REPLAY_FILE = 'audit-undelivered.replay.ndjson';
const UNREADABLE_FILE = 'audit-undelivered.unreadable.ndjson';

export interface AuditLogOptions {
  store: Store;
  logger: Logger;
  /** The FHIR base URL: the AuditEvent observer and site. */
  serverUrl: string;
  /** Where undeliverable events are spilled and replayed from; absent: they stay queued in memory. */
  dataDir?: string;
  /** The most events written together in one batch (one store transaction); default 32. */
  concurrency?: number;
  /**
   * How long a batch of fewer than `concurrency` events waits for more before it is written
   * (default 10 ms; 0: at once). See the header.
   */
  batchDelayMs?: number;
  /**
   * The search values of an event the pipeline did not build (default extractSearchIndex, in this
   * thread); the server passes its validation pool's, which extracts them in a worker thread once
   * one is running. The pipeline's own events get theirs from search-values.ts.
   */
  searchIndexOf?: (event: AuditEvent) => Promise<SearchIndex>;
  retryBaseMs?: number;
  retryMaxMs?: number;
  maxQueue?: number;
}

export interface AuditStats {
  /** Events handed to recordAccess (and replayed from the spill file). */
  recorded: number;
  /** Events stored. */
  written: number;
  /** Write attempts that failed (each is logged and retried). */
  failedWrites: number;
  /** Events waiting or being written. */
  pending: number;
  /** Events appended to the spill file (queue overflow or shutdown before the store took them). */
  spilled: number;
  /** Events that could not even be spilled (logged with their full content). */
  lost: number;
  lastError?: string;
}

interface Pending {
  resource: AuditEvent & { id: string };
  attempts: number;
  /** Read back from the spill file by start(). */
  replayed?: boolean;
  /** Already appended to the spill file (by close()). */
  spilled?: boolean;
  /** The journal file holding it until it is stored or spilled (audit-journal.ts). */
  segment?: JournalSegment;
}

export class AuditLog {
  private readonly queue: Pending[] = [];
  /** The events of the batch being written (at most one batch at a time). */
  private readonly inFlight = new Set<Pending>();
  private readonly counters = { recorded: 0, written: 0, failedWrites: 0, spilled: 0, lost: 0 };
  private lastError?: string;
  private backoffMs = 0;
  private pausedUntil = 0;
  private timer?: NodeJS.Timeout;
  /** Set while a short batch waits batchDelayMs for more events. */
  private gatherTimer?: NodeJS.Timeout;
  private closing = false;
  private idleWaiters: Array<() => void> = [];
  private spillChain: Promise<void> = Promise.resolve();
  /** Replayed events not stored yet; the replay file is removed when it reaches 0. */
  private replayRemaining = 0;
  private readonly concurrency: number;
  private readonly batchDelayMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxQueue: number;
  /** With a DATA_DIR: each event is in a file before its request is answered (audit-journal.ts). */
  private readonly journal?: AuditJournal;

  constructor(private readonly options: AuditLogOptions) {
    if (options.dataDir) this.journal = new AuditJournal(options.dataDir, options.logger);
    this.concurrency = options.concurrency ?? 32;
    this.batchDelayMs = options.batchDelayMs ?? 10;
    this.retryBaseMs = options.retryBaseMs ?? 200;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    this.maxQueue = options.maxQueue ?? 100_000;
  }

  /** Queues the AuditEvent of one access; returns at once with the event's id. */
  recordAccess(event: AccessEvent): string {
    const resource = buildAuditEvent(event, this.options.serverUrl);
    this.counters.recorded++;
    this.enqueue({ resource, attempts: 0, segment: this.journal?.append(JSON.stringify(resource)) });
    return resource.id;
  }

  /**
   * Queues an AuditEvent built elsewhere (sign-in, sign-in failures, account administration:
   * src/signin/audit.ts), with the same delivery guarantees; returns its id.
   */
  recordEvent(resource: AuditEvent & { id: string }): string {
    this.counters.recorded++;
    this.enqueue({ resource, attempts: 0, segment: this.journal?.append(JSON.stringify(resource)) });
    return resource.id;
  }

  stats(): AuditStats {
    return { ...this.counters, pending: this.queue.length + this.inFlight.size, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  /**
   * Replays events spilled by an earlier run (DATA_DIR/audit-undelivered.ndjson) and those the
   * journal of a run that ended without storing them still holds (a killed process).
   */
  async start(): Promise<void> {
    const dir = this.options.dataDir;
    if (!dir) return;
    const spill = path.join(dir, SPILL_FILE);
    const replay = path.join(dir, REPLAY_FILE);
    for (const journal of this.journal?.orphans() ?? []) {
      try {
        await appendFile(replay, await readFile(journal, 'utf8'), { mode: 0o600 });
        await unlink(journal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    // Move spilled events to the replay file, which is removed once they are all stored. A replay
    // file left by a run that stopped mid-replay is read again (duplicates are harmless: an id that
    // is already stored counts as written).
    try {
      await appendFile(replay, await readFile(spill, 'utf8'), { mode: 0o600 });
      await unlink(spill);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const text = await readFile(replay, 'utf8').catch(() => '');
    const events: Array<AuditEvent & { id: string }> = [];
    const unreadable: string[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        events.push(JSON.parse(line) as AuditEvent & { id: string });
      } catch {
        unreadable.push(line);
      }
    }
    if (unreadable.length > 0) {
      // A torn line (a crash mid-append): kept aside for a human, never silently dropped.
      const file = path.join(dir, UNREADABLE_FILE);
      await appendFile(file, `${unreadable.join('\n')}\n`, { mode: 0o600 });
      this.options.logger.error('audit spill lines that are not JSON were moved aside', { count: unreadable.length, file });
    }
    if (events.length === 0) {
      await unlink(replay).catch(() => undefined);
      return;
    }
    this.options.logger.warn('replaying undelivered audit events', { count: events.length });
    this.replayRemaining = events.length;
    for (const resource of events) {
      this.counters.recorded++;
      this.enqueue({ resource, attempts: 0, replayed: true });
    }
  }

  /** Resolves true once every queued event is stored, false when timeoutMs passes first. */
  flush(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.idle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  /** Waits up to timeoutMs for the queue to drain, then spills what is left. Call before store.close(). */
  async close(timeoutMs = 5_000): Promise<void> {
    const drained = await this.flush(timeoutMs);
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    if (!drained) {
      const left = [...this.queue.splice(0), ...this.inFlight];
      this.options.logger.error('audit events not stored before shutdown', { count: left.length, spilledTo: this.options.dataDir ? SPILL_FILE : undefined });
      await this.spill(left);
    }
    await this.spillChain;
    this.journal?.close();
  }

  private enqueue(item: Pending): void {
    if (this.closing || this.queue.length >= this.maxQueue) {
      this.options.logger.error('audit queue full or closed; spilling event', { auditEventId: item.resource.id, pending: this.queue.length });
      void this.spill([item]);
      return;
    }
    this.queue.push(item);
    this.pump();
  }

  private pump(): void {
    if (this.closing) return;
    const now = Date.now();
    if (now < this.pausedUntil) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.pausedUntil - now).unref();
      return;
    }
    if (this.inFlight.size > 0 || this.queue.length === 0) return;
    if (this.batchDelayMs > 0 && this.queue.length < this.concurrency) {
      this.gatherTimer ??= setTimeout(() => {
        this.gatherTimer = undefined;
        this.writeNextBatch();
      }, this.batchDelayMs);
      return;
    }
    this.writeNextBatch();
  }

  /** Takes up to `concurrency` queued events and writes them (one batch in flight at a time). */
  private writeNextBatch(): void {
    if (this.closing || this.inFlight.size > 0 || this.queue.length === 0) return;
    if (this.gatherTimer) {
      clearTimeout(this.gatherTimer);
      this.gatherTimer = undefined;
    }
    const batch = this.queue.splice(0, this.concurrency);
    for (const item of batch) this.inFlight.add(item);
    void this.writeBatch(batch).finally(() => {
      for (const item of batch) this.inFlight.delete(item);
      this.pump();
      if (this.idle()) for (const waiter of this.idleWaiters.splice(0)) waiter();
    });
  }

  private idle(): boolean {
    return this.queue.length === 0 && this.inFlight.size === 0;
  }

  /** The store write of one event: its search values and the op (a new id: ifVersion 'absent'). */
  private async writeOp(resource: AuditEvent & { id: string }): Promise<WriteOp> {
    // The pipeline's own events: their few search values directly (search-values.ts); others
    // (sign-in events, replayed spills of other versions) through the generic extractor.
    const index =
      directAuditSearchIndex(resource) ?? (this.options.searchIndexOf ? await this.options.searchIndexOf(resource) : extractSearchIndex(resource));
    return { resourceType: 'AuditEvent', id: resource.id, resource, ifVersion: 'absent', index };
  }

  /**
   * Several events in one store transaction (one commit); one event, or a store without
   * transactions, through write() per event. A batch that fails (an event already stored, which
   * then counts as written, or any other error) is written again event by event.
   */
  private async writeBatch(batch: Pending[]): Promise<void> {
    if (batch.length === 1 || !this.options.store.supportsTransactions) {
      await Promise.all(batch.map((item) => this.write(item)));
      return;
    }
    try {
      const started = latencyTrace?.now() ?? 0;
      const ops = await Promise.all(batch.map(({ resource }) => this.writeOp(resource)));
      await this.options.store.transact(ops);
      latencyTrace?.event('audit-batch', started, latencyTrace.now(), { events: batch.length });
      for (const item of batch) this.stored(item);
      this.backoffMs = 0;
    } catch (err) {
      if (!(err instanceof VersionConflictError)) {
        // Logged and counted as one failed attempt, then written event by event at once: one event
        // the store refuses (say a malformed replayed spill line) must not hold back the others,
        // and when the store is down each event fails, backs off and is retried as before.
        this.counters.failedWrites++;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.options.logger.error('audit write failed', {
          auditEventId: batch[0].resource.id,
          events: batch.length,
          retry: 'event by event',
          pending: this.queue.length + this.inFlight.size,
          error: this.lastError,
        });
      }
      await Promise.all(batch.map((item) => this.write(item)));
    }
  }

  private async write(item: Pending): Promise<void> {
    try {
      await this.options.store.write(await this.writeOp(item.resource));
      this.stored(item);
      this.backoffMs = 0;
    } catch (err) {
      if (err instanceof VersionConflictError) {
        // Already stored by an earlier attempt whose answer was lost (or a replay): done.
        this.stored(item);
        return;
      }
      await this.failed([item], err);
    }
  }

  /** One failed write attempt of one event: logged, counted, retried after a backoff. */
  private async failed(items: Pending[], err: unknown): Promise<void> {
    for (const item of items) item.attempts++;
    this.counters.failedWrites++;
    this.lastError = err instanceof Error ? err.message : String(err);
    this.backoffMs = Math.min(this.retryMaxMs, this.backoffMs ? this.backoffMs * 2 : this.retryBaseMs);
    this.pausedUntil = Date.now() + this.backoffMs;
    this.options.logger.error('audit write failed', {
      auditEventId: items[0].resource.id,
      attempt: items[0].attempts,
      retryInMs: this.backoffMs,
      pending: this.queue.length + this.inFlight.size,
      error: this.lastError,
    });
    if (!this.closing) this.queue.unshift(...items);
    else {
      const unspilled = items.filter((item) => !item.spilled);
      if (unspilled.length > 0) await this.spill(unspilled);
    }
  }

  private stored(item: Pending): void {
    this.counters.written++;
    this.released(item);
    if (item.replayed && --this.replayRemaining === 0 && this.options.dataDir) {
      void unlink(path.join(this.options.dataDir, REPLAY_FILE)).catch(() => undefined);
    }
  }

  /** Stored or spilled: the journal need not keep it (an event that could not be spilled stays there). */
  private released(item: Pending): void {
    if (!item.segment) return;
    this.journal?.release(item.segment);
    item.segment = undefined;
  }

  private spill(items: Pending[]): Promise<void> {
    if (items.length === 0) return this.spillChain;
    for (const item of items) item.spilled = true;
    const dir = this.options.dataDir;
    this.spillChain = this.spillChain.then(async () => {
      if (!dir) {
        this.counters.lost += items.length;
        for (const { resource } of items) this.options.logger.error('audit event lost (no DATA_DIR to spill to)', { auditEvent: resource });
        return;
      }
      try {
        await appendFile(path.join(dir, SPILL_FILE), items.map(({ resource }) => `${JSON.stringify(resource)}\n`).join(''), { mode: 0o600 });
        this.counters.spilled += items.length;
        for (const item of items) this.released(item);
      } catch (err) {
        this.counters.lost += items.length;
        for (const { resource } of items) {
          this.options.logger.error('audit event lost (spill failed)', { error: (err as Error).message, auditEvent: resource });
        }
      }
    });
    return this.spillChain;
  }
}
