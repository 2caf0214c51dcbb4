// The MongoDB store (official driver). Works against MongoDB (standalone, replica set, sharded) and
// FerretDB 1.x (no transactions).
//
// Layout, in the database named by the URL path (default `iis`):
//   <ResourceType>  current versions, one StoredDoc per resource (`_id` = resource id),
//   history         every version including deletes:
//                   { _id: "<type>/<id>/<versionId>", resourceType, id, versionId, lastUpdated,
//                     deleted, resource, s },
//   locks           { _id: key, owner, expiresAt } for withLock().
//
// Writes (see writeWithoutTransaction): the history document is inserted first; its unique `_id` carries the new
// versionId, so inserting it is the version *claim* — of all writers that read version N only one
// can insert "<type>/<id>/<N+1>". Then the current document is replaced with a filter on the
// expected versionId (or inserted, for a first version). Once the history insert succeeded the
// version is committed: history is the log and the current document is a materialised view of its
// newest entry. When supportsTransactions is true both writes happen in one transaction instead.
//
// FerretDB 1.x: no transactions, and its updates and deletes are not atomic (it reads the matching
// documents, then writes them back by _id), so a filter on versionId is no compare-and-set there.
// Only inserts with a unique _id are atomic. The store therefore never relies on a conditional
// update for correctness: version claims are history inserts, each version is materialised by the
// writer that claimed it, a crashed claim is rolled forward only after a grace period and by a
// single claimant (an insert again), and lock takeovers are claimed by insert as well.
// Object-form $elemMatch, which FerretDB 1.x lacks, is evaluated in process (see compat.ts).
import { randomUUID } from 'node:crypto';
import {
  MongoClient,
  MongoClientClosedError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type ClientSession,
  type Collection,
  type Db,
  type Document,
} from 'mongodb';
import { Query } from 'mingo';
import { SUPPORTED_TYPES } from '../../fhir/resource-types.js';
import { needsClientFilter, relaxFilter } from './compat.js';
import { buildVersion, checkType, currentFromHistory, HISTORY_SORT, historyFilter, historyId, historyToRecord, type HistoryDoc } from './journal.js';
import { acquireLock, CLAIM_PREFIX, isDuplicateKey, sleep, type LockDoc } from './locks.js';

import { checkNamespace, type ExpiringRecords } from '../expiring.js';
import { EXPIRING_COLLECTION, EXPIRING_INDEXES, MongoExpiringRecords, type ExpiringDoc } from './expiring-records.js';
import { ClientRecovery } from './client-recovery.js';

export type { HistoryDoc } from './journal.js';
export type { LockDoc } from './locks.js';
import { checkPrecondition, toRecord } from '../records.js';
import {
  StoreUnavailableError,
  TransactionsUnsupportedError,
  VersionConflictError,
  type Filter,
  type HistoryCursor,
  type HistoryQuery,
  type ResourceRecord,
  type ScanOptions,
  type Store,
  type StoreQuery,
  type StoredDoc,
  type WriteOp,
} from '../store.js';

export interface MongoStoreOptions {
  /** mongodb:// or mongodb+srv:// URL; the path names the database (default `iis`). */
  url: string;
  /** Extra indexes per resource type, e.g. `{ Immunization: [{ 's.patient': 1 }] }`. */
  indexes?: Record<string, Array<Record<string, 1 | -1>>>;
  /** A withLock() holder that stops renewing (crashed) loses the lock after this long. Default 30 s. */
  lockTtlMs?: number;
  /** How long withLock() waits for a busy lock before giving up (StoreUnavailableError). Default 60 s. */
  lockWaitMs?: number;
  /** How long to look for a reachable server before failing (StoreUnavailableError). Default 5 s. */
  serverSelectionTimeoutMS?: number;
  /** ping() deadline. Default 2 s. */
  pingTimeoutMs?: number;
  /**
   * While operations fail for want of the server, how often the store checks whether the server
   * answers again and, when a new client reaches it but this one does not, reconnects (see
   * checkRecovery). Default 10 s.
   */
  recoveryCheckMs?: number;
  /**
   * Force multi-document transactions on or off instead of detecting them with `hello`.
   * Without this option the env var MONGODB_TRANSACTIONS (`on` | `off` | `auto`) is honoured.
   */
  transactions?: boolean;
  /** Database name overriding the URL path (tests). */
  dbName?: string;
  /**
   * Whether the server's conditional updates are atomic (compare-and-set). Detected: false on
   * FerretDB, true on MongoDB. Without it, crashed writes are rolled forward only after orphanGraceMs.
   */
  atomicUpdates?: boolean;
  /**
   * How long a version claimed in history but not yet applied to the current document is presumed
   * to belong to a writer still in flight, before another writer rolls it forward. Default 0 with
   * atomic updates (rolling forward is always safe there), else 5 s.
   */
  orphanGraceMs?: number;
  /** Connection pool size (driver default 100). */
  maxPoolSize?: number;
  /**
   * Whether the server evaluates object-form $elemMatch and sub-document equality against array
   * elements (FerretDB 1.x does not). Detected with probe queries; without it such filters are
   * narrowed by the server and decided in process (compat.ts).
   */
  arrayObjectQueries?: boolean;
}

/** What the connected server turned out to support (after init). */
export interface MongoCapabilities {
  transactions: boolean;
  atomicUpdates: boolean;
  arrayObjectQueries: boolean;
  /** FerretDB version when the server is FerretDB. */
  ferretdbVersion?: string;
}

const HISTORY = 'history';
const LOCKS = 'locks';
const DEFAULT_DB = 'iis';
/** Attempts of one write before giving up under extreme contention ('any' writes race each other). */
const MAX_WRITE_ATTEMPTS = 200;
const MAX_TRANSACTION_ATTEMPTS = 20;

/** The database named by a MongoDB URL's path, or `iis`. */
export function databaseNameFromUrl(url: string): string {
  const rest = url.replace(/^mongodb(\+srv)?:\/\//i, '');
  const slash = rest.indexOf('/');
  if (slash < 0) return DEFAULT_DB;
  const path = rest.slice(slash + 1).split('?')[0] ?? '';
  const name = decodeURIComponent(path);
  return name === '' ? DEFAULT_DB : name;
}

/** Errors that mean "the database cannot be reached", answered as 503 by the HTTP layer. */
export function isConnectionError(err: unknown): boolean {
  if (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoServerClosedError ||
    err instanceof MongoClientClosedError ||
    err instanceof MongoOperationTimeoutError
  ) {
    return true;
  }
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code);
}

/** Thrown inside a transaction when the next version is already in history (an orphan). */
class OrphanVersionError extends Error {
  constructor(
    readonly resourceType: string,
    readonly id: string
  ) {
    super(`${resourceType}/${id}: next version already claimed in history`);
  }
}

export class MongoStore implements Store {
  readonly kind = 'mongodb' as const;

  private readonly client: MongoClient;
  private readonly db: Db;
  private readonly dbName: string;
  private readonly lockTtlMs: number;
  private readonly lockWaitMs: number;
  private readonly pingTimeoutMs: number;
  private readonly extraIndexes: Record<string, Array<Record<string, 1 | -1>>>;
  private readonly forcedTransactions: boolean | undefined;
  private transactions = false;
  private atomicUpdates = true;
  private orphanGraceMs = 0;
  private arrayObjectQueries = true;
  private ferretdbVersion: string | undefined;
  private closed = false;
  private readonly recovery: ClientRecovery;
  private readonly ensured = new Map<string, Promise<void>>();
  private readonly writeQueues = new Map<string, Promise<void>>();

  constructor(private readonly options: MongoStoreOptions) {
    this.dbName = options.dbName ?? databaseNameFromUrl(options.url);
    this.lockTtlMs = options.lockTtlMs ?? 30_000;
    this.lockWaitMs = options.lockWaitMs ?? 60_000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2_000;
    this.extraIndexes = options.indexes ?? {};
    this.forcedTransactions = options.transactions ?? parseTransactionsEnv(process.env.MONGODB_TRANSACTIONS);
    const serverSelectionTimeoutMS = options.serverSelectionTimeoutMS ?? 5_000;
    this.client = new MongoClient(options.url, {
      serverSelectionTimeoutMS,
      connectTimeoutMS: Math.max(serverSelectionTimeoutMS, 1_000),
      ignoreUndefined: true,
      writeConcern: { w: 'majority', journal: true },
      appName: 'iis-fhir-server',
      ...(options.maxPoolSize !== undefined ? { maxPoolSize: options.maxPoolSize } : {}),
    });
    this.db = this.client.db(this.dbName);
    this.recovery = new ClientRecovery({
      client: this.client,
      url: options.url,
      dbName: this.dbName,
      pingTimeoutMs: this.pingTimeoutMs,
      checkMs: options.recoveryCheckMs ?? 10_000,
      ping: () => this.ping(),
    });
  }

  /** Every server process on the same database shares it. */
  readonly sharedByProcesses = true;

  get supportsTransactions(): boolean {
    return this.transactions;
  }

  /** The database name in use. */
  get databaseName(): string {
    return this.dbName;
  }

  get capabilities(): MongoCapabilities {
    return {
      transactions: this.transactions,
      atomicUpdates: this.atomicUpdates,
      arrayObjectQueries: this.arrayObjectQueries,
      ...(this.ferretdbVersion ? { ferretdbVersion: this.ferretdbVersion } : {}),
    };
  }

  async init(): Promise<void> {
    await this.guard('init', async () => {
      await this.client.connect();
      const buildInfo = await this.db.admin().command({ buildInfo: 1 });
      this.ferretdbVersion = typeof buildInfo.ferretdbVersion === 'string' ? buildInfo.ferretdbVersion : undefined;
      // FerretDB started with --repl-set-name reports a replica set but rejects transactions.
      this.transactions = this.forcedTransactions ?? (this.ferretdbVersion === undefined && (await this.detectTransactions()));
      this.atomicUpdates = this.options.atomicUpdates ?? this.ferretdbVersion === undefined;
      this.orphanGraceMs = this.options.orphanGraceMs ?? (this.atomicUpdates ? 0 : 5_000);
      this.arrayObjectQueries = this.options.arrayObjectQueries ?? (await this.probeArrayObjectQueries());
      // Claims (takeover, roll-forward) matter only for moments; drop the ones left by crashes.
      await this.locks().deleteMany({ _id: { $regex: `^${CLAIM_PREFIX}` }, expiresAt: { $lt: new Date() } });
      await createIndexes(this.historyColl(), [
        { resourceType: 1, id: 1, versionId: -1 },
        { ...HISTORY_SORT },
        { resourceType: 1, lastUpdated: -1, id: -1, versionId: -1 },
      ]);
      await createIndexes(this.db.collection<ExpiringDoc>(EXPIRING_COLLECTION), EXPIRING_INDEXES);
      const types = new Set<string>([...SUPPORTED_TYPES, ...Object.keys(this.extraIndexes)]);
      for (const type of types) await this.ensureType(type);
    });
  }

  async close(): Promise<void> {
    // Every write is acknowledged with w: majority, j: true before it returns: nothing to flush.
    this.closed = true;
    this.recovery.stop();
    await this.client.close();
  }

  async ping(): Promise<void> {
    await this.guard('ping', async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new StoreUnavailableError(`MongoDB did not answer ping within ${this.pingTimeoutMs} ms`)),
          this.pingTimeoutMs
        );
      });
      const ping = this.db.command({ ping: 1 }, { timeoutMS: this.pingTimeoutMs });
      ping.catch(() => undefined); // a late failure after the deadline must not go unhandled
      try {
        await Promise.race([ping, deadline]);
      } finally {
        clearTimeout(timer);
      }
    });
  }

  async read(resourceType: string, id: string): Promise<ResourceRecord | undefined> {
    return this.guard('read', async () => {
      const doc = await this.current(resourceType).findOne({ _id: id }, { projection: { s: 0 } });
      return doc ? toRecord(resourceType, doc) : undefined;
    });
  }

  async vread(resourceType: string, id: string, versionId: number): Promise<ResourceRecord | undefined> {
    return this.guard('vread', async () => {
      checkType(resourceType);
      if (!Number.isInteger(versionId) || versionId < 1) return undefined;
      const doc = await this.historyColl().findOne({ _id: historyId(resourceType, id, versionId) }, { projection: { s: 0 } });
      return doc ? historyToRecord(doc) : undefined;
    });
  }

  async write(op: WriteOp): Promise<ResourceRecord> {
    return this.guard('write', async () => {
      await this.ensureType(op.resourceType);
      // Writes of one resource from this process queue up instead of racing each other through
      // the database (the version claim still decides between processes).
      return this.queued(`${op.resourceType}/${op.id}`, async () => {
        if (this.transactions) {
          const [record] = await this.runTransaction([op]);
          return record as ResourceRecord;
        }
        return this.writeWithoutTransaction(op);
      });
    });
  }

  async transact(ops: WriteOp[]): Promise<ResourceRecord[]> {
    if (!this.transactions) {
      throw new TransactionsUnsupportedError(
        'This MongoDB deployment does not support multi-document transactions (a standalone server or ' +
          'FerretDB 1.x); transaction Bundles need a replica set or sharded cluster. Batches still work.'
      );
    }
    return this.guard('transact', async () => {
      for (const type of new Set(ops.map((op) => op.resourceType))) await this.ensureType(type);
      return this.runTransaction(ops);
    });
  }

  async search(resourceType: string, query: StoreQuery): Promise<ResourceRecord[]> {
    return this.guard('search', async () => {
      const limit = Math.floor(query.limit);
      if (!(limit > 0)) return []; // MongoDB reads limit 0 as "no limit"
      const sort: Record<string, 1 | -1> = {};
      for (const key of query.sort ?? []) if (!Object.hasOwn(sort, key.field)) sort[key.field] = key.direction;
      if (!Object.hasOwn(sort, '_id')) sort._id = 1;
      const skip = query.skip && query.skip > 0 ? Math.floor(query.skip) : 0;
      const coll = this.current(resourceType);
      if (this.arrayObjectQueries || !needsClientFilter(query.filter)) {
        const docs = await coll
          .find(notDeleted(query.filter), { projection: { s: 0 }, sort, skip: skip || undefined, limit })
          .toArray();
        return docs.map((doc) => toRecord(resourceType, doc));
      }
      // The server narrows (superset, in sort order), mingo decides; stop once the page is full.
      const test = new Query(query.filter);
      const cursor = coll.find(notDeleted(relaxFilter(query.filter)), { sort });
      const out: ResourceRecord[] = [];
      let skipped = 0;
      try {
        for await (const doc of cursor) {
          if (!test.test(doc)) continue;
          if (skipped < skip) {
            skipped++;
            continue;
          }
          out.push(toRecord(resourceType, doc));
          if (out.length >= limit) break;
        }
      } finally {
        await cursor.close();
      }
      return out;
    });
  }

  async count(resourceType: string, filter: Filter): Promise<number> {
    return this.guard('count', async () => {
      const coll = this.current(resourceType);
      if (this.arrayObjectQueries || !needsClientFilter(filter)) return coll.countDocuments(notDeleted(filter));
      const test = new Query(filter);
      let n = 0;
      for await (const doc of coll.find(notDeleted(relaxFilter(filter)), { projection: { resource: 0 } })) {
        if (test.test(doc)) n++;
      }
      return n;
    });
  }

  /**
   * One cursor in natural order (no sort: FerretDB sorts in memory), batchSize documents per
   * getMore; the driver asks for the next batch only when the consumer has taken this one, so a
   * slow consumer holds back the read. On servers without object-form $elemMatch the server
   * narrows and mingo decides, as in search().
   */
  async *scan(resourceType: string, filter: Filter, options: ScanOptions = {}): AsyncGenerator<ResourceRecord> {
    if (this.closed) throw new StoreUnavailableError('MongoDB store is closed (scan)');
    const coll = this.current(resourceType);
    const clientSide = !this.arrayObjectQueries && needsClientFilter(filter);
    const test = clientSide ? new Query(filter) : undefined;
    const range: Record<string, string> = {};
    if (options.since !== undefined) range.$gte = options.since;
    if (options.until !== undefined) range.$lte = options.until;
    const parts: Filter[] = [{ deleted: false }];
    const serverFilter = clientSide ? relaxFilter(filter) : filter;
    if (Object.keys(serverFilter).length > 0) parts.unshift(serverFilter);
    if (Object.keys(range).length > 0) parts.push({ lastUpdated: range });
    if (options.afterId !== undefined) parts.push({ _id: { $gt: options.afterId } });
    const ordered = options.orderById === true || options.afterId !== undefined;
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000));
    const cursor = coll.find(parts.length === 1 ? parts[0] : { $and: parts }, {
      projection: clientSide ? undefined : { s: 0 },
      batchSize,
      // Resumable order: the current collection's _id is the resource id (its primary index).
      ...(ordered ? { sort: { _id: 1 } } : {}),
    });
    const raw = options.raw === true;
    try {
      for await (const doc of cursor) {
        if (test && !test.test(doc)) continue;
        const record = toRecord(resourceType, doc);
        if (raw && record.resource) {
          record.json = JSON.stringify(record.resource);
          delete record.resource;
        }
        yield record;
      }
    } catch (err) {
      if (err instanceof StoreUnavailableError || !isConnectionError(err)) throw err;
      throw new StoreUnavailableError(`MongoDB unavailable (scan): ${(err as Error).message}`, { cause: err });
    } finally {
      await cursor.close().catch(() => undefined);
    }
  }

  async history(query: HistoryQuery): Promise<ResourceRecord[]> {
    return this.guard('history', async () => {
      const count = Math.floor(query.count);
      if (!(count > 0)) return [];
      const filter = historyFilter(query);
      if (query.after) {
        const c = query.after;
        filter.$or = [
          { lastUpdated: { $lt: c.lastUpdated } },
          { lastUpdated: c.lastUpdated, resourceType: { $lt: c.resourceType } },
          { lastUpdated: c.lastUpdated, resourceType: c.resourceType, id: { $lt: c.id } },
          { lastUpdated: c.lastUpdated, resourceType: c.resourceType, id: c.id, versionId: { $lt: c.versionId } },
        ];
      }
      const docs = await this.historyColl()
        .find(filter, { projection: { s: 0 }, sort: { ...HISTORY_SORT }, limit: count })
        .toArray();
      return docs.map(historyToRecord);
    });
  }

  async newestVersion(resourceType: string): Promise<HistoryCursor | undefined> {
    return this.guard('newestVersion', async () => {
      // Only the entry's place is fetched: the resource and its search values stay on the server.
      const [doc] = await this.historyColl()
        .find(historyFilter({ resourceType }), { projection: { _id: 0, lastUpdated: 1, resourceType: 1, id: 1, versionId: 1 }, sort: { ...HISTORY_SORT }, limit: 1 })
        .toArray();
      return doc === undefined ? undefined : { lastUpdated: doc.lastUpdated, resourceType: doc.resourceType, id: doc.id, versionId: doc.versionId };
    });
  }

  async historyCount(query: Omit<HistoryQuery, 'after' | 'count'>): Promise<number> {
    return this.guard('historyCount', () => this.historyColl().countDocuments(historyFilter(query)));
  }

  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const owner = randomUUID();
    const claim = await this.guard('lock', () => acquireLock(this.locks(), key, owner, { ttlMs: this.lockTtlMs, waitMs: this.lockWaitMs }));
    const locks = this.locks();
    // Renew while fn runs, so only a holder that stopped (crashed) loses the lock after lockTtlMs.
    const renew = setInterval(
      () => {
        locks
          .updateOne({ _id: key, owner }, { $set: { expiresAt: new Date(Date.now() + this.lockTtlMs) } })
          .catch(() => undefined);
      },
      Math.max(Math.floor(this.lockTtlMs / 3), 10)
    );
    renew.unref();
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await this.guard('unlock', async () => {
        await locks.deleteOne({ _id: key, owner });
        if (claim) await locks.deleteOne({ _id: claim, owner });
      }).catch(() => {
        // Unreachable store: the lock expires after lockTtlMs anyway.
      });
    }
  }

  // ---------------------------------------------------------------------------------------------

  /** Runs fn after every earlier queued call with the same key has settled. */
  private queued<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.writeQueues.get(key) ?? Promise.resolve();
    const run = before.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined
    );
    this.writeQueues.set(key, tail);
    void tail.then(() => {
      if (this.writeQueues.get(key) === tail) this.writeQueues.delete(key);
    });
    return run;
  }

  private current(resourceType: string): Collection<StoredDoc> {
    checkType(resourceType);
    return this.db.collection<StoredDoc>(resourceType);
  }

  private historyColl(): Collection<HistoryDoc> {
    return this.db.collection<HistoryDoc>(HISTORY);
  }

  private locks(): Collection<LockDoc> {
    return this.db.collection<LockDoc>(LOCKS);
  }

  /** Creates a type's indexes once per process (before its first write; never inside a transaction). */
  private ensureType(resourceType: string): Promise<void> {
    checkType(resourceType);
    let done = this.ensured.get(resourceType);
    if (!done) {
      done = createIndexes(this.current(resourceType), [{ lastUpdated: 1 }, ...(this.extraIndexes[resourceType] ?? [])]);
      done.catch(() => this.ensured.delete(resourceType)); // retry on the next call
      this.ensured.set(resourceType, done);
    }
    return done;
  }

  /**
   * Whether the server evaluates `{ a: { $elemMatch: { x: …, y: … } } }` and `{ a: { x: …, y: … } }`
   * against array elements (FerretDB 1.x errors on the first and silently matches nothing on the
   * second and on a one-field $elemMatch).
   */
  private async probeArrayObjectQueries(): Promise<boolean> {
    // FerretDB checks operators per document: the probe needs a document to look at.
    const locks = this.locks();
    const _id = `${CLAIM_PREFIX}probe~${randomUUID()}`;
    await locks.insertOne({ _id, owner: 'probe', expiresAt: new Date(0), p: [{ x: 0 }, { x: 1, y: 2 }] } as LockDoc);
    try {
      for (const p of [
        { $elemMatch: { x: 1, y: { $in: [2] }, $or: [{ x: 1 }, { y: 3 }] } },
        { $elemMatch: { y: 2 } },
        { x: 1, y: 2 },
      ]) {
        if ((await locks.findOne({ _id, p } as never)) === null) return false;
      }
      return true;
    } catch (err) {
      if (isConnectionError(err)) throw err;
      return false;
    } finally {
      await locks.deleteOne({ _id });
    }
  }

  private async detectTransactions(): Promise<boolean> {
    let hello: Document;
    try {
      hello = await this.db.admin().command({ hello: 1 });
    } catch (err) {
      if (isConnectionError(err)) throw err;
      hello = await this.db.admin().command({ isMaster: 1 });
    }
    return typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
  }

  /**
   * One write without transactions: claim the version in history, then move the current document
   * from the version read to the claimed one.
   *
   * Crash window: a process that dies (or loses the connection) between the two steps leaves an
   * "orphan" — version N+1 in history while the current document still says N. Nothing wedges:
   * the next writer of that resource fails to claim N+1 (duplicate key), waits for the claimer to
   * apply it, and once the claim is older than orphanGraceMs rolls the current document forward
   * from history itself (history is the log, and it holds the search values too), then retries
   * against the rolled-forward version. With atomic conditional updates (MongoDB) the grace is 0:
   * rolling forward a writer still in flight writes exactly what it was about to write, guarded by
   * the versionId filter, and that writer then finds its version in place and reports success.
   * Without them (FerretDB) the grace keeps a stale second write of an old version from landing
   * on top of a newer one.
   */
  private async writeWithoutTransaction(op: WriteOp): Promise<ResourceRecord> {
    const coll = this.current(op.resourceType);
    if (op.verifyOnly) {
      // One read is the whole check: nothing is written that a concurrent writer could race with.
      const doc = await coll.findOne({ _id: op.id }, { projection: { s: 0 } });
      checkVerify(op, doc);
      return toRecord(op.resourceType, doc as StoredDoc);
    }
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const cur = await coll.findOne({ _id: op.id }, { projection: { versionId: 1, deleted: 1 } });
      checkPrecondition(op, cur);
      const prev = cur?.versionId ?? 0;
      const { hist, current, record } = buildVersion(op, prev + 1);
      try {
        await this.historyColl().insertOne(hist);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // Version prev+1 is taken: a concurrent writer (in flight or done) or an orphan.
        await this.awaitOrRollForward(op.resourceType, op.id, prev + 1);
        continue;
      }
      // False only when our (committed) version was rolled forward by someone else already.
      await this.materialize(op.resourceType, current, prev, false);
      return record;
    }
    throw new VersionConflictError(op.resourceType, op.id, op.ifVersion ?? 'any', undefined);
  }

  /**
   * Moves the current document from version prev to doc.versionId. False when the current document
   * is no longer at prev (someone else moved it).
   */
  private async materialize(resourceType: string, doc: StoredDoc, prev: number, checkFirst: boolean): Promise<boolean> {
    const coll = this.current(resourceType);
    if (prev === 0) {
      try {
        await coll.insertOne(doc);
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    }
    if (this.atomicUpdates) {
      const res = await coll.replaceOne({ _id: doc._id, versionId: prev }, doc);
      return res.matchedCount === 1;
    }
    // FerretDB reads the matching document and then writes it back by _id, so a versionId filter
    // would be no compare-and-set, and any filter but exactly { _id } makes it decode the whole
    // collection. The claimer of a version writes it unchecked (the orphan grace period keeps
    // roll-forwards away from it); a roll-forward checks first.
    if (checkFirst) {
      const cur = await coll.findOne({ _id: doc._id }, { projection: { versionId: 1 } });
      if (!cur || cur.versionId !== prev) return false;
    }
    await coll.replaceOne({ _id: doc._id }, doc);
    return true;
  }

  /**
   * Version v of a resource is claimed in history by someone else: wait until the current document
   * reaches it (the claimer applies it within milliseconds), or, once the claim is older than
   * orphanGraceMs (its writer presumably crashed), roll it forward.
   */
  private async awaitOrRollForward(resourceType: string, id: string, v: number): Promise<void> {
    const coll = this.current(resourceType);
    const claimed = await this.historyColl().findOne({ _id: historyId(resourceType, id, v) }, { projection: { lastUpdated: 1 } });
    if (!claimed) return; // cannot happen (history is never deleted): just retry
    const deadline = Date.parse(claimed.lastUpdated) + this.orphanGraceMs;
    let wait = 1;
    for (;;) {
      const cur = await coll.findOne({ _id: id }, { projection: { versionId: 1 } });
      if ((cur?.versionId ?? 0) >= v) return;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(wait, left));
      wait = Math.min(wait * 2, 50);
    }
    await this.rollForward(resourceType, id);
  }

  /** Applies to the current document every history version newer than it, oldest first. */
  private async rollForward(resourceType: string, id: string): Promise<void> {
    const cur = await this.current(resourceType).findOne({ _id: id }, { projection: { versionId: 1 } });
    let prev = cur?.versionId ?? 0;
    for (;;) {
      const h = await this.historyColl().findOne({ _id: historyId(resourceType, id, prev + 1) });
      if (!h) return;
      if (!this.atomicUpdates) {
        // Without compare-and-set only one process may roll a version forward (per grace period,
        // so a claimant that crashed in turn is replaced).
        const bucket = Math.floor(Date.now() / Math.max(this.orphanGraceMs, 1_000));
        const claimId = `${CLAIM_PREFIX}rollforward~${historyId(resourceType, id, h.versionId)}~${bucket}`;
        try {
          await this.locks().insertOne({ _id: claimId, owner: 'rollforward', expiresAt: new Date(Date.now() + 3_600_000) });
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          await sleep(50); // someone else is on it: give them time before the caller looks again
          return;
        }
      }
      if (!(await this.materialize(resourceType, currentFromHistory(h), prev, true))) return; // moved on meanwhile
      prev = h.versionId;
    }
  }

  /** All ops in one multi-document transaction: every precondition holds and every write lands, or none. */
  private async runTransaction(ops: WriteOp[]): Promise<ResourceRecord[]> {
    for (let attempt = 0; ; attempt++) {
      const session = this.client.startSession();
      try {
        return await session.withTransaction(
          async () => {
            const records: ResourceRecord[] = [];
            for (const op of ops) records.push(await this.writeInTransaction(op, session));
            return records;
          },
          { readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority', journal: true } }
        );
      } catch (err) {
        // An orphan left by a write made without transactions: roll it forward and start over.
        if (err instanceof OrphanVersionError && attempt < MAX_TRANSACTION_ATTEMPTS) {
          await this.rollForward(err.resourceType, err.id);
          continue;
        }
        throw err;
      } finally {
        await session.endSession();
      }
    }
  }

  private async writeInTransaction(op: WriteOp, session: ClientSession): Promise<ResourceRecord> {
    const coll = this.current(op.resourceType);
    if (op.verifyOnly) return this.verifyInTransaction(op, session);
    const cur = await coll.findOne({ _id: op.id }, { projection: { versionId: 1, deleted: 1 }, session });
    checkPrecondition(op, cur);
    const prev = cur?.versionId ?? 0;
    const { hist, current, record } = buildVersion(op, prev + 1);
    try {
      await this.historyColl().insertOne(hist, { session });
    } catch (err) {
      if (isDuplicateKey(err)) throw new OrphanVersionError(op.resourceType, op.id);
      throw err;
    }
    await coll.replaceOne({ _id: op.id }, current, { upsert: true, session });
    return record;
  }

  /**
   * WriteOp.verifyOnly inside a transaction. Snapshot isolation does not make a read conflict with
   * a concurrent write, so the check claims what every new version of the resource must claim, its
   * next history slot, and gives it back in the same transaction (nothing of it is committed): a
   * concurrent write of the resource then fails with a write conflict on that key in one of the two
   * transactions (retried by withTransaction, and then the verify finds the new version, or the
   * writer goes after it), as two writes of one version do.
   */
  private async verifyInTransaction(op: WriteOp, session: ClientSession): Promise<ResourceRecord> {
    const doc = await this.current(op.resourceType).findOne({ _id: op.id }, { projection: { s: 0 }, session });
    checkVerify(op, doc);
    const slot = historyId(op.resourceType, op.id, (doc as StoredDoc).versionId + 1);
    try {
      await this.historyColl().insertOne({ _id: slot } as HistoryDoc, { session });
    } catch (err) {
      if (isDuplicateKey(err)) throw new OrphanVersionError(op.resourceType, op.id);
      throw err;
    }
    await this.historyColl().deleteOne({ _id: slot }, { session });
    return toRecord(op.resourceType, doc as StoredDoc);
  }

  expiringRecords(namespace: string): ExpiringRecords {
    return new MongoExpiringRecords(this.db.collection<ExpiringDoc>(EXPIRING_COLLECTION), checkNamespace(namespace), (what, fn) => this.guard(what, fn));
  }

  /** Runs fn, turning connection failures into StoreUnavailableError (HTTP 503). */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    // The driver would silently reconnect a closed client: a closed store stays closed.
    if (this.closed) throw new StoreUnavailableError(`MongoDB store is closed (${what})`);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreUnavailableError) {
        this.recovery.noticeUnavailable();
        throw err;
      }
      if (!isConnectionError(err)) throw err;
      this.recovery.noticeUnavailable();
      const message = err instanceof Error ? err.message : String(err);
      throw new StoreUnavailableError(`MongoDB unavailable (${what}): ${message}`, { cause: err });
    }
  }
}

/** WriteOp.verifyOnly: the resource exists, is not deleted and is at exactly op.ifVersion. */
function checkVerify(op: WriteOp, doc: Pick<StoredDoc, 'versionId' | 'deleted'> | null): void {
  if (typeof op.ifVersion !== 'number') throw new Error(`A verifyOnly WriteOp for ${op.resourceType}/${op.id} needs a version number`);
  checkPrecondition(op, doc);
  if (doc?.deleted) throw new VersionConflictError(op.resourceType, op.id, op.ifVersion, doc.versionId);
}

/**
 * Creates indexes one command each: FerretDB 1.24 drops the connection (a server-side panic) when a
 * single createIndexes command lists several indexes that all exist already.
 */
async function createIndexes<T extends Document>(coll: Collection<T>, keys: Array<Record<string, 1 | -1>>): Promise<void> {
  for (const key of keys) await coll.createIndex(key);
}

function notDeleted(filter: Filter): Filter {
  return Object.keys(filter).length === 0 ? { deleted: false } : { $and: [filter, { deleted: false }] };
}

function parseTransactionsEnv(value: string | undefined): boolean | undefined {
  switch ((value ?? '').trim().toLowerCase()) {
    case 'on':
    case 'true':
    case '1':
      return true;
    case 'off':
    case 'false':
    case '0':
      return false;
    default:
      return undefined;
  }
}
