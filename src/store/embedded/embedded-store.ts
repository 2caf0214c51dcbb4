// The embedded store: the whole registry in process memory, made durable by an append-only,
// checksummed, group-committed journal plus periodic snapshots in DATA_DIR. See README.md here.
//
// Memory (why history is kept as JSON strings): each version holds its resource as one JSON
// string; only the current version also keeps its search values `s` as objects (the resource
// object mingo sees is parsed lazily from the string). Measured: an Immunization of 460 B of JSON
// costs ~1.75 KB of heap with one version and ~2.7 KB with two (hash indexes on patient and
// vaccine code included). A registry of one million resources with two versions each therefore
// needs roughly 3 GB of heap, more for larger resources (start node with --max-old-space-size
// accordingly); well beyond that, use the MongoDB store.
import { mkdir, open, readdir, rename, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { Query } from 'mingo';
import {
  nextInstant,
  stampMeta,
  StoreUnavailableError,
  VersionConflictError,
  type Filter,
  type HistoryCursor,
  type HistoryQuery,
  type ResourceRecord,
  type ScanOptions,
  type SearchIndex,
  type Store,
  type StoredDoc,
  type StoreQuery,
  type VersionPrecondition,
  type WriteOp,
} from '../store.js';
import { frame, fsyncDir, HEADER_BYTES, JOURNAL_MAGIC, readFramed, SNAPSHOT_MAGIC } from './framing.js';
import { HashIndex, idsOf, planIndexLookups } from './hash-index.js';
import { acquireLockFile, releaseLockFile } from './lock-file.js';
import { scanPredicate } from '../filter-predicate.js';
import { compareValues, sortValue } from './sort.js';

export interface EmbeddedStoreOptions {
  dataDir: string;
  /** resourceType → StoredDoc paths (e.g. `s.patient`) kept in in-memory hash indexes. */
  indexes?: Record<string, string[]>;
  /** Journal size that triggers a snapshot and a fresh journal. Default 64 MiB. */
  compactAfterBytes?: number;
  /** Clock for lastUpdated (ISO instants); values are forced strictly increasing. */
  now?: () => string;
}

/** One version of one resource. Immutable once created. */
interface Version {
  readonly v: number;
  readonly u: string;
  /** The stamped resource as JSON; null for a delete marker. */
  readonly j: string | null;
  readonly e: Entry;
}

/** One resource (all its versions) of one type. */
interface Entry {
  readonly t: string;
  readonly id: string;
  readonly versions: Version[];
  /** The current version as the StoredDoc that filters are evaluated on (never mutated). */
  doc: StoredDoc;
}

interface TypeState {
  readonly entries: Map<string, Entry>;
  /** Every version of the type, ascending in history-cursor order. */
  readonly log: Version[];
  readonly indexes: HashIndex<Entry>[];
}

interface PendingRequest {
  ops: WriteOp[];
  resolve: (records: ResourceRecord[]) => void;
  reject: (err: unknown) => void;
}

interface PlannedOp {
  t: string;
  id: string;
  v: number;
  u: string;
  j: string | null;
  s: string;
  /** The stamped resource handed back to the writer (stored state is the JSON string j). */
  stamped: Resource | undefined;
}

const JSON_SOURCE = Symbol('json');

// One shared getter: the doc's `resource` is parsed from the version JSON only when a filter
// actually looks inside it, so current resources are not held twice (string + object).
function resourceGetter(this: { [JSON_SOURCE]: string | null }): Resource | null {
  const j = this[JSON_SOURCE];
  return j === null ? null : (JSON.parse(j) as Resource);
}

function makeDoc(ver: Version, s: SearchIndex): StoredDoc {
  const doc = {
    _id: ver.e.id,
    versionId: ver.v,
    lastUpdated: ver.u,
    deleted: ver.j === null,
    s,
  } as unknown as StoredDoc & { [JSON_SOURCE]: string | null };
  Object.defineProperty(doc, JSON_SOURCE, { value: ver.j, enumerable: false });
  Object.defineProperty(doc, 'resource', { get: resourceGetter, enumerable: true });
  return doc;
}

function toRecord(ver: Version): ResourceRecord {
  const rec: ResourceRecord = {
    resourceType: ver.e.t,
    id: ver.e.id,
    versionId: ver.v,
    lastUpdated: ver.u,
    deleted: ver.j === null,
  };
  if (ver.j !== null) rec.resource = JSON.parse(ver.j) as Resource; // a fresh deep copy per call
  return rec;
}

/** Ascending history-cursor order: (lastUpdated, resourceType, id, versionId). */
function cmpVersion(a: Version, b: Version): number {
  if (a.u !== b.u) return a.u < b.u ? -1 : 1;
  if (a.e.t !== b.e.t) return a.e.t < b.e.t ? -1 : 1;
  if (a.e.id !== b.e.id) return a.e.id < b.e.id ? -1 : 1;
  return a.v - b.v;
}

function cmpVersionCursor(a: Version, c: HistoryCursor): number {
  if (a.u !== c.lastUpdated) return a.u < c.lastUpdated ? -1 : 1;
  if (a.e.t !== c.resourceType) return a.e.t < c.resourceType ? -1 : 1;
  if (a.e.id !== c.id) return a.e.id < c.id ? -1 : 1;
  return a.v - c.versionId;
}

/** First index in the ascending array for which pred is false (pred monotone true→false). */
function partition<T>(arr: readonly T[], pred: (x: T) => boolean): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(arr[mid])) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Appends keeping ascending order; only entries of one transaction share an instant. */
function insertSorted(log: Version[], ver: Version): void {
  let i = log.length;
  while (i > 0 && cmpVersion(log[i - 1], ver) > 0) i--;
  if (i === log.length) log.push(ver);
  else log.splice(i, 0, ver);
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function normaliseInstant(value: string): string {
  if (ISO_MS.test(value)) return value;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new Error(`Not an ISO instant: ${value}`);
  return new Date(ms).toISOString();
}

const gen8 = (n: number) => String(n).padStart(8, '0');
const journalName = (gen: number) => `journal-${gen8(gen)}.log`;
const snapshotName = (gen: number) => `snapshot-${gen8(gen)}.snap`;
const FILE_RE = /^(journal|snapshot)-(\d{8})\.(log|snap)$/;

/** Cap on the writes folded into one append+fsync, to bound latency and buffer size. */
const MAX_BATCH_OPS = 20_000;

type StoreState = 'new' | 'opening' | 'open' | 'closing' | 'closed' | 'failed';

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const;
  readonly supportsTransactions = true;

  private readonly dataDir: string;
  private readonly lockPath: string;
  private readonly indexConfig: Record<string, string[]>;
  private readonly compactAfterBytes: number;
  private readonly now: () => string;

  /** Documents the last search or count evaluated its filter on (diagnostics: index use). */
  lastScanned = 0;

  private state: StoreState = 'new';
  private failure: unknown;
  private readonly types = new Map<string, TypeState>();
  private readonly systemLog: Version[] = [];
  private lastInstantMs = 0;
  private seq = 0;

  private gen = 0;
  private journal: FileHandle | undefined;
  private journalSize = 0;

  private queue: PendingRequest[] = [];
  private switchWaiters: { resolve: (gen: number) => void; reject: (err: unknown) => void }[] = [];
  private loop: Promise<void> | undefined;
  private compaction: Promise<void> | undefined;
  private compactRetryAt = 0;
  private readonly locks = new Map<string, Promise<void>>();
  /** Snapshot write granularity; the snapshot yields to writers between chunks. */
  private snapshotChunkBytes = 4 * 1024 * 1024;
  /** Test seam: runs after each snapshot chunk is written (to race writes against a snapshot). */
  private onSnapshotChunk: (() => Promise<void>) | undefined;

  constructor(options: EmbeddedStoreOptions) {
    this.dataDir = options.dataDir;
    this.lockPath = join(options.dataDir, 'LOCK');
    this.indexConfig = options.indexes ?? {};
    this.compactAfterBytes = options.compactAfterBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? nextInstant;
  }

  // ---------------------------------------------------------------- lifecycle

  async init(): Promise<void> {
    if (this.state !== 'new') throw new Error(`EmbeddedStore.init called twice (state ${this.state})`);
    this.state = 'opening';
    try {
      await mkdir(this.dataDir, { recursive: true });
      await acquireLockFile(this.lockPath);
    } catch (err) {
      this.state = 'closed';
      throw err;
    }
    try {
      await this.recover();
      this.state = 'open';
    } catch (err) {
      await this.journal?.close().catch(() => undefined);
      this.journal = undefined;
      await releaseLockFile(this.lockPath);
      this.state = 'closed';
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.state !== 'open' && this.state !== 'failed') return;
    this.state = this.state === 'failed' ? 'failed' : 'closing';
    // Writes queued before close still commit; compaction finishes (or fails) before the files close.
    await this.compaction?.catch(() => undefined);
    while (this.loop) await this.loop;
    try {
      if (this.journal && this.state !== 'failed') await this.journal.sync();
    } finally {
      await this.journal?.close().catch(() => undefined);
      this.journal = undefined;
      await releaseLockFile(this.lockPath);
      this.state = 'closed';
    }
  }

  async ping(): Promise<void> {
    if (this.state === 'open') return;
    if (this.state === 'failed') {
      throw new StoreUnavailableError('Embedded store failed writing its journal; restart to recover', {
        cause: this.failure,
      });
    }
    throw new StoreUnavailableError(`Embedded store is ${this.state === 'new' ? 'not open' : this.state}`);
  }

  private assertReadable(): void {
    if (this.state !== 'open' && this.state !== 'closing' && this.state !== 'failed') {
      throw new StoreUnavailableError(`Embedded store is ${this.state === 'new' ? 'not open' : this.state}`);
    }
  }

  // ---------------------------------------------------------------- reads

  async read(resourceType: string, id: string): Promise<ResourceRecord | undefined> {
    this.assertReadable();
    const entry = this.types.get(resourceType)?.entries.get(id);
    return entry ? toRecord(entry.versions[entry.versions.length - 1]) : undefined;
  }

  async vread(resourceType: string, id: string, versionId: number): Promise<ResourceRecord | undefined> {
    this.assertReadable();
    const entry = this.types.get(resourceType)?.entries.get(id);
    const ver = entry?.versions[versionId - 1];
    return ver && ver.v === versionId ? toRecord(ver) : undefined;
  }

  async search(resourceType: string, query: StoreQuery): Promise<ResourceRecord[]> {
    this.assertReadable();
    const ts = this.types.get(resourceType);
    const limit = Math.max(0, Math.floor(query.limit));
    const skip = Math.max(0, Math.floor(query.skip ?? 0));
    this.lastScanned = 0;
    if (!ts || limit === 0) return [];
    const q = this.exactlyIndexed(ts, query.filter) ? undefined : new Query(query.filter as Record<string, unknown>);
    const sort = query.sort ?? [];
    let scanned = 0;
    if (sort.length === 0) {
      const out: ResourceRecord[] = [];
      let skipped = 0;
      for (const entry of this.candidates(ts, query.filter)) {
        scanned++;
        if (entry.doc.deleted || (q && !q.test(entry.doc as unknown as Record<string, unknown>))) continue;
        if (skipped < skip) {
          skipped++;
          continue;
        }
        out.push(toRecord(entry.versions[entry.versions.length - 1]));
        if (out.length >= limit) break;
      }
      this.lastScanned = scanned;
      return out;
    }
    const matches: { entry: Entry; keys: unknown[] }[] = [];
    for (const entry of this.candidates(ts, query.filter)) {
      scanned++;
      if (entry.doc.deleted || (q && !q.test(entry.doc as unknown as Record<string, unknown>))) continue;
      matches.push({ entry, keys: sort.map((k) => sortValue(entry.doc, k.field, k.direction)) });
    }
    this.lastScanned = scanned;
    matches.sort((a, b) => {
      for (let i = 0; i < sort.length; i++) {
        const c = compareValues(a.keys[i], b.keys[i]);
        if (c !== 0) return sort[i].direction === 1 ? c : -c;
      }
      return 0;
    });
    return matches
      .slice(skip, skip + limit)
      .map(({ entry }) => toRecord(entry.versions[entry.versions.length - 1]));
  }

  async count(resourceType: string, filter: Filter): Promise<number> {
    this.assertReadable();
    const ts = this.types.get(resourceType);
    this.lastScanned = 0;
    if (!ts) return 0;
    const q = this.exactlyIndexed(ts, filter) ? undefined : new Query(filter as Record<string, unknown>);
    let n = 0;
    let scanned = 0;
    for (const entry of this.candidates(ts, filter)) {
      scanned++;
      if (!entry.doc.deleted && (!q || q.test(entry.doc as unknown as Record<string, unknown>))) n++;
    }
    this.lastScanned = scanned;
    return n;
  }

  /**
   * Streams the current matches without copying the type: live iteration over the entries (or the
   * index candidates), yielding to the event loop every batchSize entries examined. Raw records
   * hand out the stored JSON text itself, so an export never parses or re-serialises a resource.
   */
  async *scan(resourceType: string, filter: Filter, options: ScanOptions = {}): AsyncGenerator<ResourceRecord> {
    this.assertReadable();
    const ts = this.types.get(resourceType);
    if (!ts) return;
    const batch = Math.max(1, Math.floor(options.batchSize ?? 1000));
    const since = options.since === undefined ? undefined : normaliseInstant(options.since);
    const until = options.until === undefined ? undefined : normaliseInstant(options.until);
    const test = scanPredicate(filter);
    const raw = options.raw === true;
    let examined = 0;
    for (const entry of this.candidates(ts, filter)) {
      if (++examined % batch === 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.assertReadable();
      }
      const doc = entry.doc;
      if (doc.deleted) continue;
      const u = doc.lastUpdated;
      if ((since !== undefined && u < since) || (until !== undefined && u > until)) continue;
      if (test && !test(doc)) continue;
      const ver = entry.versions[entry.versions.length - 1];
      const json = ver.j as string;
      const rec: ResourceRecord = { resourceType, id: entry.id, versionId: ver.v, lastUpdated: ver.u, deleted: false };
      if (raw) rec.json = json;
      else rec.resource = JSON.parse(json) as Resource;
      yield rec;
    }
  }

  /** The entries a filter can match: by `_id`, else by the most selective hash index, else all. */
  /**
   * True when the hash index alone answers the filter exactly: one indexed path compared with a
   * scalar or `$in` of scalars (hash lookups follow MongoDB's array rules). The filter then needs
   * no mingo evaluation, which dominates hot key lookups such as matching's blocking queries.
   */
  private exactlyIndexed(ts: TypeState, filter: Filter): boolean {
    const keys = Object.keys(filter);
    if (keys.length !== 1 || !ts.indexes.some((i) => i.path === keys[0])) return false;
    const value = filter[keys[0]];
    const scalar = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
    if (scalar(value)) return planIndexLookups(filter, [keys[0]]).some((c) => c.index === keys[0]);
    if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
    const ops = Object.keys(value);
    const list = (value as { $in?: unknown }).$in;
    if (!(ops.length === 1 && ops[0] === '$in' && Array.isArray(list) && list.every(scalar))) return false;
    // Only when the planner really answers it from that index (never a full scan unfiltered).
    return planIndexLookups(filter, [keys[0]]).some((c) => c.index === keys[0]);
  }

  private candidates(ts: TypeState, filter: Filter): Iterable<Entry> {
    const ids = idsOf(filter);
    if (ids) {
      const out: Entry[] = [];
      for (const id of new Set(ids)) {
        const e = ts.entries.get(id);
        if (e) out.push(e);
      }
      return out;
    }
    if (ts.indexes.length === 0) return ts.entries.values();
    const byPath = new Map(ts.indexes.map((i) => [i.path, i]));
    let best: Set<Entry>[] | undefined;
    let bestSize = Infinity;
    for (const c of planIndexLookups(filter, [...byPath.keys()])) {
      const index = byPath.get(c.index)!;
      const sets: Set<Entry>[] = [];
      let size = 0;
      for (const key of c.keys) {
        const set = index.lookup(key);
        if (set) {
          sets.push(set);
          size += set.size;
        }
      }
      if (size < bestSize) {
        best = sets;
        bestSize = size;
      }
    }
    if (!best) return ts.entries.values();
    if (best.length === 1) return [...best[0]];
    const union = new Set<Entry>();
    for (const set of best) for (const e of set) union.add(e);
    return union;
  }

  async history(query: HistoryQuery): Promise<ResourceRecord[]> {
    this.assertReadable();
    const log = this.logFor(query);
    let [lo, hi] = this.bounds(log, query);
    if (query.after) {
      const after = { ...query.after, lastUpdated: normaliseInstant(query.after.lastUpdated) };
      hi = Math.min(hi, partition(log, (v) => cmpVersionCursor(v, after) < 0));
    }
    const out: ResourceRecord[] = [];
    const count = Math.max(0, Math.floor(query.count));
    const keep = this.typeFilter(query);
    for (let i = hi - 1; i >= lo && out.length < count; i--) {
      if (!keep || keep.has(log[i].e.t)) out.push(toRecord(log[i]));
    }
    return out;
  }

  async historyCount(query: Omit<HistoryQuery, 'after' | 'count'>): Promise<number> {
    this.assertReadable();
    const keep = this.typeFilter(query);
    if (keep) {
      // Sum the per-type logs instead of walking the system log.
      let total = 0;
      for (const type of keep) {
        const ts = this.types.get(type);
        if (!ts) continue;
        const [lo, hi] = this.bounds(ts.log, query);
        total += Math.max(0, hi - lo);
      }
      return total;
    }
    const log = this.logFor(query);
    const [lo, hi] = this.bounds(log, query);
    return Math.max(0, hi - lo);
  }

  /** The resourceTypes restriction of a system-history query, if any. */
  private typeFilter(query: Omit<HistoryQuery, 'after' | 'count'>): Set<string> | undefined {
    return query.resourceType === undefined && query.resourceTypes ? new Set(query.resourceTypes) : undefined;
  }

  private logFor(query: Omit<HistoryQuery, 'after' | 'count'>): readonly Version[] {
    if (query.resourceType === undefined) return this.systemLog;
    const ts = this.types.get(query.resourceType);
    if (!ts) return [];
    if (query.id === undefined) return ts.log;
    return ts.entries.get(query.id)?.versions ?? [];
  }

  /** [lo, hi) of the ascending log within since/before (both inclusive). */
  private bounds(log: readonly Version[], query: Omit<HistoryQuery, 'after' | 'count'>): [number, number] {
    const since = query.since === undefined ? undefined : normaliseInstant(query.since);
    const before = query.before === undefined ? undefined : normaliseInstant(query.before);
    const lo = since === undefined ? 0 : partition(log, (v) => v.u < since);
    const hi = before === undefined ? log.length : partition(log, (v) => v.u <= before);
    return [lo, hi];
  }

  // ---------------------------------------------------------------- writes

  async write(op: WriteOp): Promise<ResourceRecord> {
    const [record] = await this.enqueue([op]);
    return record;
  }

  async transact(ops: WriteOp[]): Promise<ResourceRecord[]> {
    if (ops.length === 0) {
      this.assertWritable();
      return [];
    }
    return this.enqueue(ops);
  }

  private assertWritable(): void {
    if (this.state !== 'open') {
      if (this.state === 'failed') {
        throw new StoreUnavailableError('Embedded store failed writing its journal; restart to recover', {
          cause: this.failure,
        });
      }
      throw new StoreUnavailableError(`Embedded store is ${this.state === 'new' ? 'not open' : this.state}`);
    }
  }

  private enqueue(ops: WriteOp[]): Promise<ResourceRecord[]> {
    try {
      this.assertWritable();
      for (const op of ops) {
        if (typeof op.resourceType !== 'string' || !op.resourceType || typeof op.id !== 'string' || !op.id) {
          throw new Error('WriteOp needs a resourceType and an id');
        }
        if (op.resource && op.resource.resourceType !== op.resourceType) {
          throw new Error(`WriteOp for ${op.resourceType}/${op.id} carries a ${op.resource.resourceType}`);
        }
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.loop) return;
    this.loop = this.runLoop().finally(() => {
      this.loop = undefined;
      if (this.queue.length > 0 || this.switchWaiters.length > 0) this.kick();
    });
  }

  /** The committer: one batch (one append + one fsync) at a time; arrivals meanwhile form the next. */
  private async runLoop(): Promise<void> {
    while (this.queue.length > 0 || this.switchWaiters.length > 0) {
      if (this.state === 'failed') {
        const err = new StoreUnavailableError('Embedded store failed writing its journal; restart to recover', {
          cause: this.failure,
        });
        for (const req of this.queue.splice(0)) req.reject(err);
        for (const w of this.switchWaiters.splice(0)) w.reject(err);
        return;
      }
      if (this.switchWaiters.length > 0) {
        const waiters = this.switchWaiters.splice(0);
        try {
          const gen = await this.switchJournal();
          for (const w of waiters) w.resolve(gen);
        } catch (err) {
          for (const w of waiters) w.reject(err);
        }
        continue;
      }
      let ops = 0;
      let n = 0;
      while (n < this.queue.length && (n === 0 || ops + this.queue[n].ops.length <= MAX_BATCH_OPS)) {
        ops += this.queue[n].ops.length;
        n++;
      }
      await this.commitBatch(this.queue.splice(0, n));
    }
  }

  private instant(): string {
    let ms = Date.parse(this.now());
    if (!Number.isFinite(ms)) throw new Error('The store clock returned an invalid instant');
    if (ms <= this.lastInstantMs) ms = this.lastInstantMs + 1;
    this.lastInstantMs = ms;
    return new Date(ms).toISOString();
  }

  private async commitBatch(batch: PendingRequest[]): Promise<void> {
    // 1. Check preconditions in arrival order against committed state plus earlier requests of this
    //    batch, assign versions and instants, and serialise the journal records.
    const overlay = new Map<string, { v: number; deleted: boolean }>();
    const accepted: { req: PendingRequest; planned: PlannedOp[] }[] = [];
    const refused: { req: PendingRequest; err: unknown }[] = [];
    const frames: Buffer[] = [];
    for (const req of batch) {
      try {
        const local = new Map<string, { v: number; deleted: boolean }>();
        const planned: PlannedOp[] = [];
        const u = this.instant();
        for (const op of req.ops) {
          const key = `${op.resourceType}/${op.id}`;
          const cur = local.get(key) ?? overlay.get(key) ?? this.currentOf(op.resourceType, op.id);
          checkPrecondition(op, cur);
          const v = (cur?.v ?? 0) + 1;
          const stamped = op.resource ? stampMeta(op.resource, op.id, v, u) : undefined;
          const j = stamped ? JSON.stringify(stamped) : null;
          const s = op.resource ? JSON.stringify(op.index ?? {}) : '{}';
          local.set(key, { v, deleted: !op.resource });
          planned.push({ t: op.resourceType, id: op.id, v, u, j, s, stamped });
        }
        const payload =
          `{"q":${this.seq + 1},"o":[` +
          planned
            .map((p) => `{"t":${JSON.stringify(p.t)},"i":${JSON.stringify(p.id)},"v":${p.v},"u":"${p.u}","r":${p.j ?? 'null'},"s":${p.s}}`)
            .join(',') +
          ']}';
        frames.push(frame(payload));
        this.seq++;
        for (const [k, v] of local) overlay.set(k, v);
        accepted.push({ req, planned });
      } catch (err) {
        refused.push({ req, err });
      }
    }

    // 2. One append + fsync for the whole batch. Memory changes only once it is durable.
    if (frames.length > 0) {
      const buf = frames.length === 1 ? frames[0] : Buffer.concat(frames);
      try {
        await this.append(buf);
      } catch (err) {
        const failure = new StoreUnavailableError('Embedded store could not write its journal', { cause: err });
        for (const { req } of accepted) req.reject(failure);
        for (const { req } of refused) req.reject(failure);
        return;
      }
    }

    // 3. Apply and answer.
    for (const { req, planned } of accepted) {
      const records = planned.map((p): ResourceRecord => {
        this.applyVersion(p.t, p.id, p.v, p.u, p.j, p.j === null ? {} : (JSON.parse(p.s) as SearchIndex), false);
        // The stamped copy shares nested objects only with the caller's own input, never with
        // stored state (which is the JSON string), so it is returned without another deep copy.
        const rec: ResourceRecord = { resourceType: p.t, id: p.id, versionId: p.v, lastUpdated: p.u, deleted: p.j === null };
        if (p.stamped) rec.resource = p.stamped;
        return rec;
      });
      req.resolve(records);
    }
    for (const { req, err } of refused) req.reject(err);

    if (
      this.journalSize > this.compactAfterBytes &&
      !this.compaction &&
      this.state === 'open' &&
      Date.now() >= this.compactRetryAt
    ) {
      this.compact().catch((err) => {
        this.compactRetryAt = Date.now() + 60_000;
        console.error('[embedded-store] compaction failed; will retry later', err);
      });
    }
  }

  private currentOf(t: string, id: string): { v: number; deleted: boolean } | undefined {
    const entry = this.types.get(t)?.entries.get(id);
    if (!entry) return undefined;
    return { v: entry.doc.versionId, deleted: entry.doc.deleted };
  }

  /** Appends at the end of the journal and fsyncs. On failure the tail is cut back, or the store fails. */
  private async append(buf: Buffer): Promise<void> {
    const fh = this.journal!;
    const start = this.journalSize;
    let written = false;
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off, start + off);
        off += bytesWritten;
      }
      written = true;
      await fh.datasync();
      this.journalSize = start + buf.length;
    } catch (err) {
      // A failed write (e.g. ENOSPC) is cut off so later records follow good ones. After a failed
      // fsync the page cache state is unknown, so the store stops taking writes until restarted.
      if (!written && (await cutBack(fh, start))) throw err;
      this.state = 'failed';
      this.failure = err;
      throw err;
    }
  }

  private typeState(t: string): TypeState {
    let ts = this.types.get(t);
    if (!ts) {
      ts = {
        entries: new Map(),
        log: [],
        indexes: (this.indexConfig[t] ?? []).map((p) => new HashIndex<Entry>(p)),
      };
      this.types.set(t, ts);
    }
    return ts;
  }

  private applyVersion(t: string, id: string, v: number, u: string, j: string | null, s: SearchIndex, recovering: boolean): Version {
    const ts = this.typeState(t);
    let entry = ts.entries.get(id);
    if (!entry) {
      entry = { t, id, versions: [], doc: undefined as unknown as StoredDoc };
      ts.entries.set(id, entry);
    }
    const ver: Version = { v, u, j, e: entry };
    const old = entry.versions.length > 0 ? entry.doc : undefined;
    entry.versions.push(ver);
    entry.doc = makeDoc(ver, s);
    for (const index of ts.indexes) {
      if (old && !old.deleted) index.remove(entry, old);
      if (j !== null) index.add(entry, entry.doc);
    }
    if (recovering) {
      ts.log.push(ver);
      this.systemLog.push(ver);
    } else {
      insertSorted(ts.log, ver);
      insertSorted(this.systemLog, ver);
    }
    const ms = Date.parse(u);
    if (ms > this.lastInstantMs) this.lastInstantMs = ms;
    return ver;
  }

  // ---------------------------------------------------------------- locks

  /** In-process mutex per key: the lock file guarantees this is the only process on DATA_DIR. */
  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.locks.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  // ---------------------------------------------------------------- compaction

  /**
   * Writes a snapshot of everything and drops the journals it covers. Writes continue meanwhile:
   * the committer only pauses to switch to a fresh journal (generation N+1); the snapshot is then
   * written from live memory in chunks. It may already contain some versions that are also in
   * journal N+1; replay skips versions a resource already has, so recovery stays exact.
   */
  async compact(): Promise<void> {
    while (this.compaction) await this.compaction.catch(() => undefined);
    this.assertWritable();
    this.compaction = this.runCompaction().finally(() => {
      this.compaction = undefined;
    });
    return this.compaction;
  }

  private async runCompaction(): Promise<void> {
    const gen = await new Promise<number>((resolve, reject) => {
      this.switchWaiters.push({ resolve, reject });
      this.kick();
    });
    await this.writeSnapshot(gen);
    await this.removeFilesBefore(gen);
  }

  /** Runs inside the committer, between batches. */
  private async switchJournal(): Promise<number> {
    const gen = this.gen + 1;
    const path = join(this.dataDir, journalName(gen));
    const fh = await open(path, 'w');
    try {
      await fh.write(JOURNAL_MAGIC, 0, HEADER_BYTES, 0);
      await fh.sync();
      await fsyncDir(this.dataDir);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw err;
    }
    const old = this.journal;
    this.journal = fh;
    this.journalSize = HEADER_BYTES;
    this.gen = gen;
    await old?.close().catch(() => undefined); // already fsynced by its last batch
    return gen;
  }

  private async writeSnapshot(gen: number): Promise<void> {
    const tmp = join(this.dataDir, `${snapshotName(gen)}.tmp`);
    const fh = await open(tmp, 'w');
    let pos = 0;
    const chunks: Buffer[] = [];
    let pending = 0;
    const flush = async () => {
      if (pending === 0) return;
      const buf = Buffer.concat(chunks);
      chunks.length = 0;
      pending = 0;
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off, pos + off);
        off += bytesWritten;
      }
      pos += buf.length;
    };
    try {
      chunks.push(SNAPSHOT_MAGIC);
      pending += SNAPSHOT_MAGIC.length;
      let entries = 0;
      // Maps iterate entries added during the awaits too; each entry is serialised synchronously,
      // so it is always a consistent prefix of its own versions.
      for (const [t, ts] of this.types) {
        for (const entry of ts.entries.values()) {
          const versions = entry.versions.map((ver) => `[${ver.v},"${ver.u}",${ver.j === null ? 'null' : JSON.stringify(ver.j)}]`);
          const payload = `{"t":${JSON.stringify(t)},"i":${JSON.stringify(entry.id)},"s":${JSON.stringify(entry.doc.s)},"v":[${versions.join(',')}]}`;
          const framed = frame(payload);
          chunks.push(framed);
          pending += framed.length;
          entries++;
          if (pending >= this.snapshotChunkBytes) {
            await flush(); // also yields to the event loop, so writes go on
            await this.onSnapshotChunk?.();
          }
        }
      }
      const trailer = frame(`{"end":true,"gen":${gen},"entries":${entries}}`);
      chunks.push(trailer);
      pending += trailer.length;
      await flush();
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    await rename(tmp, join(this.dataDir, snapshotName(gen)));
    await fsyncDir(this.dataDir);
  }

  private async removeFilesBefore(gen: number): Promise<void> {
    let removed = false;
    for (const name of await readdir(this.dataDir)) {
      const m = FILE_RE.exec(name);
      if (m && Number(m[2]) < gen) {
        await unlink(join(this.dataDir, name)).catch(() => undefined);
        removed = true;
      }
    }
    if (removed) await fsyncDir(this.dataDir);
  }

  // ---------------------------------------------------------------- recovery

  private async recover(): Promise<void> {
    const names = await readdir(this.dataDir);
    for (const name of names) {
      if (name.endsWith('.tmp')) await unlink(join(this.dataDir, name)).catch(() => undefined);
    }
    const snapshots: number[] = [];
    const journals: number[] = [];
    for (const name of names) {
      const m = FILE_RE.exec(name);
      if (!m) continue;
      (m[1] === 'snapshot' ? snapshots : journals).push(Number(m[2]));
    }
    snapshots.sort((a, b) => a - b);
    journals.sort((a, b) => a - b);

    // The newest snapshot is complete by construction (written to .tmp, fsynced, renamed).
    const snapGen = snapshots.length > 0 ? snapshots[snapshots.length - 1] : 0;
    if (snapshots.length > 0) await this.loadSnapshot(join(this.dataDir, snapshotName(snapGen)), snapGen);

    const replay = journals.filter((g) => g >= snapGen);
    for (let i = 1; i < replay.length; i++) {
      if (replay[i] !== replay[i - 1] + 1) {
        throw new Error(`Embedded store: journal generations ${replay[i - 1]} and ${replay[i]} are not contiguous in ${this.dataDir}`);
      }
    }
    if (replay.length > 0 && snapshots.length > 0 && replay[0] !== snapGen) {
      throw new Error(`Embedded store: journal ${snapGen} after snapshot ${snapGen} is missing in ${this.dataDir}`);
    }
    for (let i = 0; i < replay.length; i++) {
      const last = i === replay.length - 1;
      const path = join(this.dataDir, journalName(replay[i]));
      const result = await readFramed(path, JOURNAL_MAGIC, (payload) => this.replayRecord(payload));
      if (!result.headerOk && result.fileSize >= HEADER_BYTES) {
        throw new Error(`Embedded store: ${path} is not a journal file`);
      }
      if (result.goodEnd < result.fileSize || !result.headerOk) {
        if (!last) {
          throw new Error(
            `Embedded store: ${path} is corrupt at byte ${result.goodEnd} but newer journals follow; refusing to guess`
          );
        }
        // A torn tail: the crash interrupted an append that was never acknowledged. Cut it off.
        if (result.headerOk) {
          console.warn(
            `[embedded-store] dropped a torn journal tail of ${result.fileSize - result.goodEnd} bytes in ${path}`
          );
          await truncate(path, result.goodEnd);
        }
      }
    }

    // Versions were replayed in journal order, which a fuzzy snapshot can interleave: sort once.
    for (const ts of this.types.values()) ts.log.sort(cmpVersion);
    this.systemLog.sort(cmpVersion);

    const gen = replay.length > 0 ? replay[replay.length - 1] : snapGen;
    const path = join(this.dataDir, journalName(gen));
    const fh = await open(path, replay.includes(gen) ? 'r+' : 'w+');
    this.journal = fh;
    this.gen = gen;
    const size = (await fh.stat()).size;
    if (size < HEADER_BYTES) {
      await fh.truncate(0);
      await fh.write(JOURNAL_MAGIC, 0, HEADER_BYTES, 0);
      this.journalSize = HEADER_BYTES;
    } else {
      this.journalSize = size;
    }
    await fh.sync();
    await fsyncDir(this.dataDir);
    // Files older than the snapshot are leftovers of a compaction interrupted before its cleanup.
    if (snapGen > 0) await this.removeFilesBefore(snapGen);
  }

  private replayRecord(payload: string): void {
    const rec = JSON.parse(payload) as {
      q: number;
      o: { t: string; i: string; v: number; u: string; r: Resource | null; s: SearchIndex }[];
    };
    if (rec.q > this.seq) this.seq = rec.q;
    for (const op of rec.o) {
      const entry = this.types.get(op.t)?.entries.get(op.i);
      const have = entry?.versions.length ?? 0;
      if (op.v <= have) continue; // already in the snapshot
      if (op.v !== have + 1) {
        throw new Error(`Embedded store: journal has ${op.t}/${op.i} version ${op.v} but only ${have} before it`);
      }
      const j = op.r === null ? null : JSON.stringify(op.r);
      this.applyVersion(op.t, op.i, op.v, op.u, j, j === null ? {} : op.s, true);
    }
  }

  private async loadSnapshot(path: string, gen: number): Promise<void> {
    let entries = 0;
    let ended = false;
    const result = await readFramed(path, SNAPSHOT_MAGIC, (payload) => {
      if (ended) throw new Error(`Embedded store: data after the end of snapshot ${path}`);
      const rec = JSON.parse(payload) as
        | { end: true; gen: number; entries: number }
        | { t: string; i: string; s: SearchIndex; v: [number, string, string | null][] };
      if ('end' in rec) {
        if (rec.entries !== entries || rec.gen !== gen) throw new Error(`Embedded store: snapshot ${path} trailer mismatch`);
        ended = true;
        return;
      }
      const last = rec.v.length - 1;
      rec.v.forEach(([v, u, j], i) => {
        this.applyVersion(rec.t, rec.i, v, u, j, i === last && j !== null ? rec.s : {}, true);
      });
      entries++;
    });
    if (!result.headerOk || !ended || result.goodEnd !== result.fileSize) {
      throw new Error(`Embedded store: snapshot ${path} is incomplete or corrupt (at byte ${result.goodEnd})`);
    }
  }
}

async function cutBack(fh: FileHandle, size: number): Promise<boolean> {
  try {
    await fh.truncate(size);
    await fh.datasync();
    return true;
  } catch {
    return false;
  }
}

function checkPrecondition(op: WriteOp, cur: { v: number; deleted: boolean } | undefined): void {
  const expected: VersionPrecondition = op.ifVersion ?? 'any';
  if (expected === 'any') return;
  if (expected === 'absent') {
    if (!cur || cur.deleted) return;
  } else if (cur && cur.v === expected) {
    return;
  }
  throw new VersionConflictError(op.resourceType, op.id, expected, cur?.v);
}
