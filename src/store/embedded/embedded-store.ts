// The embedded store: LMDB (memory-mapped B+trees, ACID, readers never block) in DATA_DIR through
// the `lmdb` package. Resources, every history version, ordered search indexes and their counts
// live in LMDB databases (layout.ts); the Node heap holds no per-resource state, so start-up is
// opening a file whatever the data size. See README.md here.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { open, type Database, type RootDatabase } from 'lmdb';
import { scanPredicate } from '../filter-predicate.js';
import { filterQuery, type FilterQuery } from '../mingo-query.js';
import {
  nextInstantMs,
  stampMeta,
  StoreUnavailableError,
  VersionConflictError,
  type Filter,
  type HistoryCursor,
  type HistoryQuery,
  type ResourceRecord,
  type ScanOptions,
  type SearchIndex,
  type SortKey,
  type Store,
  type StoredDoc,
  type StoreQuery,
  type VersionPrecondition,
  type WriteOp,
} from '../store.js';
import { dateSpan, indexDef, indexTuples, indexValues, isPlainJsonData, MAX_INDEXED_CHARS, truncated, type IndexDef, type Scalar } from './index-values.js';
import {
  currentResourceBytes,
  currentResourceJson,
  currentSearchJson,
  CurrentEncoder,
  decodeCurrentHead,
  encodeVersionBytes,
  LAYOUT,
  STORE_LAYOUT,
  STORE_LAYOUT_ALL_COUNTED,
  MAX_KEY_STRING,
  versionInstant,
  versionJson,
  type CurrentHead,
} from './layout.js';
import { latencyTrace, type LatencyTrace } from '../../latency-trace.js';
import { absorbCommitFailure, absorbLmdbCommitFailureEchoes } from './commit-failure-echoes.js';
import { acquireLockFile, releaseLockFile } from './lock-file.js';
import { checkNamespace, type ExpiringRecords } from '../expiring.js';
import { EmbeddedExpiringRecords, type ExpiringHost } from './expiring-records.js';
import { elemMatchTest, type QuickTest } from './elem-match.js';
import { DictionaryCompressor } from './lz4-dictionary.js';
import { compoundCondition, conditionsOf, hasPositionalSegment, hull, isPoint, point, requiredStrings, type Condition, type Interval, type PathCondition } from './planner.js';
import { compareValues, sortValue } from './sort.js';

export interface EmbeddedStoreOptions {
  dataDir: string;
  /** resourceType → StoredDoc paths (e.g. `s.patient`, `s.identifier.c`, `s._sort.family`) kept in ordered indexes. */
  indexes?: Record<string, string[]>;
  /** Clock for lastUpdated (ISO instants); values are forced strictly increasing. */
  now?: () => string;
  /**
   * Sorted searches with at most this many candidates are fetched, filtered and sorted in memory;
   * beyond it an ordered index walk streams the page (default 4,000; tests lower it).
   */
  materialiseLimit?: number;
  /**
   * Indexes whose entries per value are not counted in `stats` (by type and path). Without it each
   * stored index stays as it is (a new one is counted), so a tool opening a store leaves it alone.
   * A counter costs every write a read and a put per value it changes; for an index whose values
   * each hold a few entries (instants, identifiers, matching keys) the entries themselves are
   * counted as cheaply where a count is needed (a cursor walk that stops past a cap: estimates, the
   * "counted 0: no walk" short cuts, `count` of one value).
   */
  uncounted?: (resourceType: string, path: string) => boolean;
}

/** lmdb's declared key type leaves out null, which ordered-binary encodes (lowest of all): keys are typed loosely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKey = any;
/** Ordered-binary array keys: strings, numbers and null. */
type Key = AnyKey[];
type StoreState = 'new' | 'open' | 'closing' | 'closed';

const MATERIALISE_LIMIT = 4000;
/** Distinct values summed when estimating a range before it counts as "large". */
const ESTIMATE_VALUES = 2000;
/** A condition with at most this many values is checked per candidate by key look-ups. */
const POINT_CHECK_VALUES = 8;
/**
 * Raw records kept between writes of the record (`liveRawRecord`): matching's knownCandidates
 * (1,024 records) compares the text it kept with the one read, so as many.
 */
const RAW_READS_KEPT = 1024;
const EMPTY = Buffer.alloc(0);
/** Values of `cur` and `ver` from this size on are compressed (with the dictionary: nearly all). */
const COMPRESS_FROM_BYTES = 64;

/** The compression dictionary a new store copies into its meta database (scripts/embedded-dictionary.ts). */
function shippedDictionary(): Buffer {
  return readFileSync(new URL('./dictionary.txt', import.meta.url));
}

/**
 * `size` bytes of a buffer lmdb shares between reads, as a buffer of their own: Node's pool for
 * small ones. (lmdb sets `length` on its shared buffer, whose memory is larger: hence the size.)
 */
function copyBytes(shared: Uint8Array, size: number): Buffer {
  const copy = Buffer.allocUnsafe(size);
  copy.set(shared.subarray(0, size));
  return copy;
}

/** lmdb's value decoder for `curScan`: lmdb hands it the shared buffer (decoderCopies), it copies. */
const COPYING_DECODER = {
  decode: (bytes: Uint8Array, size?: number) => copyBytes(bytes, size ?? bytes.length),
  encode: (): Buffer => {
    throw new Error('Embedded store: the scan handle of `cur` is read-only');
  },
};

/** One pending write request (a single write or a transaction) inside the batch being committed. */
type Outcome = { records: ResourceRecord[] } | { conflict: VersionConflictError };

/**
 * Write requests gathered into one callback of lmdb's batched write transaction (see `commit`):
 * each request's outcome, or the error that made its own child transaction roll back.
 */
interface WriteGroup {
  readonly requests: WriteOp[][];
  readonly outcomes: Array<Outcome | { failure: unknown }>;
  /** Settles when the batch holding the group has committed (on disk) or failed. */
  committed: Promise<unknown>;
}

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const;
  readonly sharedByProcesses = false;
  readonly supportsTransactions = true;

  /** Documents the last search or count evaluated its filter on (diagnostics: index use). */
  lastScanned = 0;

  private readonly dataDir: string;
  private readonly lockPath: string;
  private readonly indexConfig: Record<string, string[]>;
  /** The clock given in the options (ISO instants), or undefined for the process's own (`nextInstantMs`). */
  private readonly now: (() => string) | undefined;
  private readonly materialiseLimit: number;
  private readonly uncountedOption: ((resourceType: string, path: string) => boolean) | undefined;
  private state: StoreState = 'new';

  private env!: RootDatabase;
  private cur!: Database<Buffer, AnyKey>;
  private ver!: Database<Buffer, AnyKey>;
  /** The same databases without lmdb's compression: values are compressed by `compressor` (same format). */
  private curWrite!: Database<Buffer, AnyKey>;
  /**
   * `cur` read for scans: each value is copied out of lmdb's shared read buffer into Node's pooled
   * buffers (lmdb's binary reads give every value a fresh ArrayBuffer of its own: 1.9 s of an
   * export's 1.1 M resources).
   */
  private curScan!: Database<Buffer, AnyKey>;
  private verWrite!: Database<Buffer, AnyKey>;
  private compressor!: DictionaryCompressor;
  private readonly currentEncoder = new CurrentEncoder();
  private thist!: Database<Buffer, AnyKey>;
  private idx!: Database<Buffer, AnyKey>;
  private stats!: Database<number, AnyKey>;
  private meta!: Database<unknown, AnyKey>;
  /** Short-lived records (expiring-records.ts), JSON values. */
  private exp!: ExpiringHost['db'];

  /** Index definitions per type (a handful per type: configuration, not data). */
  private readonly defs = new Map<string, IndexDef[]>();
  /** The numbers of the indexes configured uncounted (no `stats` entries: see `entryCount`). */
  private readonly uncountedIndexes = new Set<number>();
  private readonly pending = new Set<Promise<unknown>>();
  /** The write group lmdb has not started running yet: a new request joins it (see `commit`). */
  private openGroup: WriteGroup | undefined;
  /** Index definitions whose `multi` flag the running group attempt raised (put back if it rolls back). */
  private multiRaised: IndexDef[] | undefined;
  private readonly locks = new Map<string, Promise<void>>();
  private lastInstantMs = 0;
  /** Bumped when a write starts and when it ends: cached counts hold only while it is unchanged. */
  private writeSeq = 0;
  /** The number of matches of the last filter a search evaluated completely. */
  private lastCount: { key: string; seq: number; n: number } | undefined;
  /**
   * Per type: a counter raised when a write request of that type starts and again when it ends
   * (like `writeSeq`), and the newest history entry read at a counter's value (`newestEntry`).
   */
  private readonly typeSeq = new Map<string, number>();
  private readonly newestVersions = new Map<string, { seq: number; entry: { u: string; id: string; v: number } | null }>();
  /** Raw records directWalk read, per type by id, until a write request of the record starts or ends (see `liveRawRecord`). */
  private readonly rawReads = new Map<string, Map<string, ResourceRecord | null>>();
  /** Per type: its index definitions by path, for the planner (see `indexesOf`). */
  private readonly byPathCache = new Map<string, { defs: IndexDef[]; size: number; byPath: Map<string, IndexDef> }>();

  constructor(options: EmbeddedStoreOptions) {
    this.dataDir = options.dataDir;
    this.lockPath = join(options.dataDir, 'LOCK');
    this.indexConfig = options.indexes ?? {};
    this.now = options.now;
    this.materialiseLimit = options.materialiseLimit ?? MATERIALISE_LIMIT;
    this.uncountedOption = options.uncounted;
  }

  // ---------------------------------------------------------------- lifecycle

  async init(): Promise<void> {
    if (this.state !== 'new') throw new Error(`EmbeddedStore.init called twice (state ${this.state})`);
    await mkdir(this.dataDir, { recursive: true });
    await acquireLockFile(this.lockPath);
    absorbLmdbCommitFailureEchoes();
    try {
      this.env = open({ path: join(this.dataDir, 'store.mdb'), maxDbs: 12, overlappingSync: false });
      this.thist = this.env.openDB<Buffer, AnyKey>('thist', { encoding: 'binary' });
      this.idx = this.env.openDB<Buffer, AnyKey>('idx', { encoding: 'binary' });
      this.stats = this.env.openDB<number, AnyKey>('stats', {});
      this.meta = this.env.openDB<unknown, AnyKey>('meta', {});
      this.exp = this.env.openDB<Parameters<ExpiringHost['db']['putSync']>[1], AnyKey>('exp', { encoding: 'json' });
      const dictionary = await this.dictionary();
      const compression = { threshold: COMPRESS_FROM_BYTES, dictionary };
      this.cur = this.env.openDB<Buffer, AnyKey>('cur', { encoding: 'binary', compression });
      this.ver = this.env.openDB<Buffer, AnyKey>('ver', { encoding: 'binary', compression });
      // lmdb's own compression re-hashes the whole dictionary for every value (~115 µs a put with
      // ours): writes are compressed in lz4-dictionary.ts instead, into lmdb's format, and go
      // through handles without compression; reads decompress as before.
      this.curWrite = this.env.openDB<Buffer, AnyKey>('cur', { encoding: 'binary' });
      // `encoder` is an option lmdb's typings declare on the root only (a variable passes it on).
      const scanOptions = { compression, encoder: COPYING_DECODER };
      this.curScan = this.env.openDB<Buffer, AnyKey>('cur', scanOptions);
      this.verWrite = this.env.openDB<Buffer, AnyKey>('ver', { encoding: 'binary' });
      this.compressor = new DictionaryCompressor(dictionary);
      await this.prepareIndexes();
      for (const t of this.types()) {
        const [last] = [...this.thist.getKeys({ start: [t, MAX_KEY_STRING], end: [t], reverse: true, limit: 1 })] as Key[];
        if (last) this.lastInstantMs = Math.max(this.lastInstantMs, Date.parse(String(last[1])));
      }
      this.state = 'open';
    } catch (err) {
      await this.env?.close().catch(() => undefined);
      await releaseLockFile(this.lockPath);
      this.state = 'closed';
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    try {
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
      await this.env.close();
    } finally {
      await releaseLockFile(this.lockPath);
      this.state = 'closed';
    }
  }

  async ping(): Promise<void> {
    if (this.state !== 'open') throw new StoreUnavailableError(`Embedded store is ${this.state === 'new' ? 'not open' : this.state}`);
  }

  private assertReadable(): void {
    if (this.state !== 'open' && this.state !== 'closing') {
      throw new StoreUnavailableError(`Embedded store is ${this.state === 'new' ? 'not open' : this.state}`);
    }
  }

  /**
   * The compression dictionary of this store: copied from the shipped one when the store is
   * created, read from meta afterwards (records compressed with it stay readable whatever later
   * releases ship). A data directory of an older layout is refused (nothing was released with it:
   * seed it again).
   */
  private async dictionary(): Promise<Buffer> {
    const layout = this.meta.get(['layout']) as number | undefined;
    if (layout === undefined) {
      const [anyVersion] = [...this.thist.getKeys({ limit: 1 })];
      if (anyVersion !== undefined) {
        throw new Error(`${this.dataDir} holds an embedded store of an older layout: seed it again (npm run seed) into an empty directory`);
      }
      const dictionary = shippedDictionary();
      await this.env.transaction(() => {
        this.meta.putSync(['layout'], STORE_LAYOUT);
        this.meta.putSync(['dictionary'], dictionary);
      });
      return dictionary;
    }
    if (layout === STORE_LAYOUT_ALL_COUNTED) await this.env.transaction(() => this.meta.putSync(['layout'], STORE_LAYOUT));
    else if (layout !== STORE_LAYOUT) throw new Error(`${this.dataDir} holds an embedded store of layout ${layout}; this version reads layout ${STORE_LAYOUT}`);
    return Buffer.from(this.meta.get(['dictionary']) as Uint8Array);
  }

  // ---------------------------------------------------------------- index definitions

  /**
   * Loads the index definitions, creates the configured ones that are missing (filling them from
   * the stored resources) and drops the ones no longer configured.
   */
  private async prepareIndexes(): Promise<void> {
    const stored = new Map<string, number>();
    for (const { key, value } of this.meta.getRange({ start: ['index'], end: ['index', MAX_KEY_STRING] })) {
      stored.set(`${key[1]}\u0000${key[2]}`, value as number);
    }
    const types = new Set<string>(Object.keys(this.indexConfig));
    for (const key of this.meta.getKeys({ start: ['type'], end: ['type', MAX_KEY_STRING] })) types.add(String(key[1]));
    const wanted = new Set<string>();
    for (const type of types) {
      for (const path of this.pathsOf(type)) wanted.add(`${type}\u0000${path}`);
    }
    // Dropped from the configuration: remove its entries so a later re-creation starts clean.
    for (const [name, n] of stored) {
      if (wanted.has(name)) continue;
      const [type, path] = name.split('\u0000');
      await this.env.transaction(() => {
        for (const key of this.idx.getKeys({ start: [n], end: [n + 1] })) this.idx.removeSync(key);
        for (const key of this.stats.getKeys({ start: [n], end: [n + 1] })) this.stats.removeSync(key);
        this.meta.removeSync(['index', type, path]);
        this.meta.removeSync(['multi', n]);
        this.meta.removeSync(['uncounted', n]);
      });
      stored.delete(name);
    }
    for (const type of types) {
      const defs: IndexDef[] = [];
      const missing: IndexDef[] = [];
      for (const path of this.pathsOf(type)) {
        let n = stored.get(`${type}\u0000${path}`);
        const isNew = n === undefined;
        const uncounted = this.uncountedOption ? this.uncountedOption(type, path) : n !== undefined && this.meta.get(['uncounted', n]) === true;
        if (n === undefined) {
          n = ((this.meta.get(['nextIndex']) as number | undefined) ?? 1) as number;
          await this.env.transaction(() => {
            this.meta.putSync(['nextIndex'], (n as number) + 1);
            this.meta.putSync(['index', type, path], n as number);
            if (uncounted) this.meta.putSync(['uncounted', n as number], true);
          });
        }
        const def = indexDef(n, type, path, this.meta.get(['multi', n]) === true, uncounted);
        if (uncounted) this.uncountedIndexes.add(n);
        defs.push(def);
        if (isNew) missing.push(def);
        else await this.matchCounts(def);
      }
      this.defs.set(type, defs);
      if (missing.length > 0) await this.backfill(type, missing);
    }
  }

  /**
   * Makes `stats` hold counts for exactly the counted indexes (an index's mark in meta says which
   * it holds): an index configured uncounted is marked, then its counts are removed (in chunks: a
   * chunk left by a crash is removed at the next start); one configured counted again is counted
   * from its entries, in the transaction that removes its mark.
   */
  private async matchCounts(def: IndexDef): Promise<void> {
    const { n } = def;
    const marked = this.meta.get(['uncounted', n]) === true;
    if (def.counted && marked) {
      await this.env.transaction(() => {
        const tally = new Tally();
        for (const key of this.idx.getKeys({ start: [n], end: [n + 1] }) as Iterable<Key>) {
          const tuple = key.slice(1, -1) as Array<Scalar | null>;
          if (!tuple.includes(null)) tally.entry(n, tuple as Scalar[], 1);
        }
        this.applyTally(tally);
        this.meta.removeSync(['uncounted', n]);
      });
      return;
    }
    if (def.counted) return;
    if (!marked) await this.env.transaction(() => this.meta.putSync(['uncounted', n], true));
    for (;;) {
      const keys = [...this.stats.getKeys({ start: [n], end: [n + 1], limit: 20_000 })];
      if (keys.length === 0) return;
      await this.env.transaction(() => {
        for (const key of keys) this.stats.removeSync(key);
      });
    }
  }

  private pathsOf(type: string): string[] {
    return [...new Set(['lastUpdated', ...(this.indexConfig[type] ?? [])])];
  }

  /** Fills new indexes from the live resources of the type, in chunks of one transaction each. */
  private async backfill(type: string, defs: IndexDef[]): Promise<void> {
    let start: Key = [type, ''];
    for (;;) {
      const chunk = [...this.cur.getRange({ start, end: [type, MAX_KEY_STRING], limit: 2000 })];
      if (chunk.length === 0) return;
      await this.env.transaction(() => {
        const tally = new Tally();
        for (const { key, value } of chunk) {
          const c = decodeCurrentHead(value);
          if (c.deleted) continue;
          const doc = { _id: key[1], lastUpdated: c.lastUpdated, s: JSON.parse(currentSearchJson(value)) as SearchIndex };
          this.addEntries(type, String(key[1]), doc, defs, tally);
        }
        this.applyTally(tally);
      });
      start = [type, String(chunk[chunk.length - 1].key[1]), MAX_KEY_STRING];
    }
  }

  /** Registers a type the first time it is written (so its `lastUpdated` index exists). */
  private async ensureType(type: string): Promise<void> {
    if (this.defs.has(type)) return;
    const n = (await this.env.transaction(() => {
      this.meta.putSync(['type', type], true);
      const existing = this.meta.get(['index', type, 'lastUpdated']) as number | undefined;
      if (existing !== undefined) return existing;
      const next = (this.meta.get(['nextIndex']) as number | undefined) ?? 1;
      this.meta.putSync(['nextIndex'], next + 1);
      this.meta.putSync(['index', type, 'lastUpdated'], next);
      if (this.uncountedOption?.(type, 'lastUpdated') === true) this.meta.putSync(['uncounted', next], true);
      return next;
    })) as number;
    // An index found here was made by a concurrent call: counted as its mark says.
    if (this.defs.has(type)) return;
    const uncounted = this.meta.get(['uncounted', n]) === true;
    if (uncounted) this.uncountedIndexes.add(n);
    this.defs.set(type, [indexDef(n, type, 'lastUpdated', false, uncounted)]);
  }

  private defOf(type: string, path: string): IndexDef | undefined {
    return this.defs.get(type)?.find((d) => d.path === path);
  }

  /**
   * Puts the document's index entries, or adds their keys to `later` (put by the caller, in key
   * order). For an update of a live resource (`oldDoc`: the superseded version's document) the
   * entries of the old version only are removed and those both versions hold are left as they are:
   * removing and putting them again gave the same store (their counts net to zero) for two LMDB
   * writes each, and a resent Patient keeps nearly all its ~20 entries.
   */
  private addEntries(type: string, id: string, doc: unknown, defs: IndexDef[], tally: Tally, later?: Key[], oldDoc?: unknown): void {
    for (const def of defs) {
      if (def.span) {
        const span = dateSpan(doc, def.span.segments);
        if (span !== undefined) tally.span(type, def.span.base, span);
      }
      if (def.parts === undefined && this.addValueEntries(id, doc, def, tally, later, oldDoc)) continue;
      const tuples = indexTuples(doc, def);
      if (tuples.length > 1 && !def.multi) this.raiseMulti(def);
      const counted = def.counted;
      let kept: Set<string> | undefined; // the entries both versions hold (an update only)
      if (oldDoc !== undefined) {
        kept = new Set();
        const names = new Set(tuples.map(tupleName));
        for (const t of indexTuples(oldDoc, def)) {
          const name = tupleName(t);
          if (names.has(name)) {
            kept.add(name);
            continue;
          }
          this.idx.removeSync([def.n, ...t, id]);
          if (counted && !t.includes(null)) tally.entry(def.n, t as Scalar[], -1);
        }
      }
      for (const t of tuples) {
        if (kept !== undefined && kept.size > 0 && kept.has(tupleName(t))) continue;
        if (later) later.push([def.n, ...t, id]);
        else this.idx.putSync([def.n, ...t, id], EMPTY);
        if (counted && !t.includes(null)) tally.entry(def.n, t as Scalar[], 1);
      }
    }
  }

  /**
   * addEntries for an index of one path (not a compound): the same entries and counts, from the
   * values themselves (no tuple arrays, no tuple names). Returns false, having done nothing, when a
   * value is -0 (which a Set does not tell from 0; the tuple path keeps them apart).
   */
  private addValueEntries(id: string, doc: unknown, def: IndexDef, tally: Tally, later?: Key[], oldDoc?: unknown): boolean {
    const values = indexValues(doc, def);
    const oldValues = oldDoc === undefined ? undefined : indexValues(oldDoc, def);
    if (hasNegativeZero(values) || (oldValues !== undefined && hasNegativeZero(oldValues))) return false;
    if (values.length > 1 && !def.multi) this.raiseMulti(def);
    let kept: Set<Scalar | null> | undefined; // the values both versions hold (an update only)
    if (oldValues !== undefined) {
      kept = new Set();
      const now = new Set(values);
      for (const v of oldValues) {
        if (now.has(v)) {
          kept.add(v);
          continue;
        }
        this.idx.removeSync([def.n, v, id]);
        if (v !== null && def.counted) tally.value(def.n, v, -1);
      }
    }
    for (const v of values) {
      if (kept !== undefined && kept.has(v)) continue;
      const key: Key = [def.n, v, id];
      if (later) later.push(key);
      else this.idx.putSync(key, EMPTY);
      if (v !== null && def.counted) tally.value(def.n, v, 1);
    }
    return true;
  }

  /** Marks an index as holding several values per document (stored in meta, kept in memory). */
  private raiseMulti(def: IndexDef): void {
    this.meta.putSync(['multi', def.n], true);
    // Put back if the child transaction rolls back (inChild): a later request of the index with
    // several values must store the flag again.
    def.multi = true;
    this.multiRaised?.push(def);
  }

  private removeEntries(id: string, doc: unknown, defs: IndexDef[], tally: Tally): void {
    for (const def of defs) {
      const counted = def.counted;
      for (const t of indexTuples(doc, def)) {
        this.idx.removeSync([def.n, ...t, id]);
        if (counted && !t.includes(null)) tally.entry(def.n, t as Scalar[], -1);
      }
    }
  }

  /** Writes the counters a request changed, once per key (many resources share values). */
  private applyTally(tally: Tally): void {
    // In key order, like the index puts (see apply).
    const entries = [...tally.entries.values()];
    for (const byValue of tally.values.values()) for (const e of byValue.values()) entries.push(e);
    entries.sort((a, b) => compareKeys(a.key, b.key));
    for (const { key, delta } of entries) {
      if (delta === 0) continue;
      const left = (this.stats.get(key) ?? 0) + delta;
      if (left > 0) this.stats.putSync(key, left);
      else this.stats.removeSync(key);
    }
    for (const [type, delta] of tally.live) if (delta !== 0) this.meta.putSync(['count', type], this.liveCount(type) + delta);
    for (const { key, span } of tally.spans.values()) {
      const known = this.meta.get(key) as number | undefined;
      if (known === undefined || span > known) this.meta.putSync(key, span);
    }
  }

  // ---------------------------------------------------------------- reads

  async read(resourceType: string, id: string): Promise<ResourceRecord | undefined> {
    this.assertReadable();
    const buf = this.cur.get([resourceType, id]);
    return buf ? currentRecord(resourceType, id, buf) : undefined;
  }

  async vread(resourceType: string, id: string, versionId: number): Promise<ResourceRecord | undefined> {
    this.assertReadable();
    if (!Number.isInteger(versionId) || versionId < 1) return undefined;
    return this.versionRecord(resourceType, id, versionId);
  }

  /** One version (raw: its JSON text as `json`, unparsed). */
  private versionRecord(resourceType: string, id: string, versionId: number, raw = false): ResourceRecord | undefined {
    const cur = this.cur.get([resourceType, id]);
    if (cur && cur.readUInt32LE(2) === versionId) return currentRecord(resourceType, id, cur, raw);
    const buf = this.ver.get([resourceType, id, versionId]);
    if (!buf) return undefined;
    const json = versionJson(buf);
    const rec: ResourceRecord = { resourceType, id, versionId, lastUpdated: versionInstant(buf), deleted: json === null };
    if (json !== null) {
      if (raw) rec.json = json;
      else rec.resource = JSON.parse(json) as Resource;
    }
    return rec;
  }

  private liveCount(resourceType: string): number {
    return (this.meta.get(['count', resourceType]) as number | undefined) ?? 0;
  }

  async search(resourceType: string, query: StoreQuery): Promise<ResourceRecord[]> {
    this.assertReadable();
    const limit = Math.max(0, Math.floor(query.limit));
    const skip = Math.max(0, Math.floor(query.skip ?? 0));
    this.lastScanned = 0;
    if (limit === 0 || !this.defs.has(resourceType)) return [];
    const sort = query.sort ?? [];
    if (sort.length === 0) {
      const direct = this.directWalk(resourceType, query.filter, limit, skip, query.raw === true);
      if (direct) return direct;
    }
    // A string the filter requires that the index counts 0 (a new child's PID-3 look-up, a new
    // dose's ORC-3: their identifier's code): the empty answer, without planning. The counts read
    // here are the planner's first estimates otherwise (read once).
    const counted = new Map<string, number>();
    if (this.requiresUncounted(resourceType, query.filter, counted)) return [];
    const plan = this.plan(resourceType, query.filter, counted);
    // Nothing to walk: the empty answer, without setting up a sort or the count key of a result
    // that is known to be empty.
    if (plan.meetsNone) return [];
    const docs: RecordDoc[] = [];
    if (sort.length === 0 && !plan.needsDoc) {
      // Any order, and nothing to evaluate on the document (the index walk, key look-ups and id
      // exclusions decide): each match is read once, as the record returned (the matching engine's
      // blocking queries; a candidate used to be decoded twice, once to test it, once to return it).
      const records: ResourceRecord[] = [];
      let skipped = 0;
      for (const id of plan.candidates()) {
        const rec = plan.acceptedRecord(id, query.raw === true);
        if (!rec) continue;
        if (skipped < skip) {
          skipped++;
          continue;
        }
        records.push(rec);
        if (records.length >= limit) break;
      }
      this.lastScanned = plan.scanned;
      return records;
    }
    if (sort.length === 0) {
      // Any order will do: take matches as the best source gives them.
      let skipped = 0;
      for (const id of plan.candidates()) {
        const doc = plan.acceptedDoc(id);
        if (!doc) continue;
        if (skipped < skip) {
          skipped++;
          continue;
        }
        docs.push(doc);
        if (docs.length >= limit) break;
      }
    } else {
      // Without a usable condition every document is a candidate: an ordered walk (when an index
      // gives the order) stops at the page whatever the size; with one, small sets sort in memory.
      const ordered = !plan.best || plan.estimate > this.materialiseLimit ? this.orderedSource(resourceType, plan, sort) : undefined;
      // Streaming in order pays off when the walk is itself narrowed by the most selective
      // condition, or when the filter is not selective (matches come soon); otherwise fetching the
      // candidates of the selective condition and sorting them costs less than skipping through
      // the ordered walk.
      const stream =
        ordered !== undefined &&
        (!plan.best || ordered.covers.includes(plan.best) || plan.estimate * 4 > this.liveCount(resourceType));
      if (stream) this.streamSorted(ordered, sort, plan, skip + limit, docs);
      else this.sortInMemory(resourceType, plan, sort, skip + limit, docs);
      docs.splice(0, skip);
    }
    this.lastScanned = plan.scanned;
    // The page's records come from the bytes each candidate was checked on: read once.
    return docs.slice(0, limit).map((doc) => doc.record());
  }

  /**
   * A filter that is one indexed value or `$in` of values the index holds whole (`exactIndexed`),
   * in any order: the matching engine's blocking keys, 6–8 per new child, most of them meeting no
   * one. What the planned search does for it, without planning: the planner would find this one
   * condition, count each value (a value counted 0 is not walked), walk the values in the `$in`'s
   * order and return each live record once — its cost (conditions, estimates, the Plan) was about
   * half of such a search's. Undefined when the filter is not of that shape (the planned path).
   */
  private directWalk(resourceType: string, filter: Filter, limit: number, skip: number, raw: boolean): ResourceRecord[] | undefined {
    const { byPath } = this.indexesOf(resourceType);
    const exact = exactIndexed(filter, byPath);
    if (!exact) return undefined;
    const def = byPath.get(Object.keys(filter)[0])!;
    // The planner drops conditions on such paths (array positions); compound indexes are counted
    // differently: both go the planned way.
    if (def.parts || hasPositionalSegment(def.path)) return undefined;
    const records: ResourceRecord[] = [];
    const seen = new Set<string>();
    let scanned = 0;
    let skipped = 0;
    walk: for (const v of exact.values) {
      // Counted 0: no entries, no walk. An uncounted value is walked at once: a look at its first
      // entry costs the cursor the walk does (a walk alone, ~1 value in 3 present: 1.6 µs a value,
      // as a counter and then the walk; a look and then the walk 2.1 µs).
      if (!this.uncountedIndexes.has(exact.n) && this.entryCount(exact.n, v) === 0) continue;
      const interval = point(v);
      for (const key of this.idx.getKeys({ start: startKey(exact.n, interval), end: endKey(exact.n, interval) })) {
        const id = String(key[key.length - 1]);
        if (seen.has(id)) continue;
        seen.add(id);
        scanned++;
        const rec = raw ? this.liveRawRecord(resourceType, id) : this.liveRecord(resourceType, id);
        if (!rec) continue;
        if (skipped < skip) {
          skipped++;
          continue;
        }
        records.push(rec);
        if (records.length >= limit) break walk;
      }
    }
    this.lastScanned = scanned;
    return records;
  }

  /**
   * Whether the filter requires a string value (planner.ts `requiredStrings`) that an exactly
   * counted index (one part, not a sort path, no array positions: the counts `estimatePath` takes
   * as exact) counts 0: then no live document holds it, and the filter meets no record, sorted or
   * not — the answer the planned search gives (`meetsNone`, or a walk of candidates that all fail),
   * for a third of its cost. `counted` receives each count read (`countKey`), for the planner.
   */
  private requiresUncounted(resourceType: string, filter: Filter, counted: Map<string, number>): boolean {
    const { byPath } = this.indexesOf(resourceType);
    return requiredStrings(filter, (path, value) => {
      const def = byPath.get(path);
      if (!def || def.parts || def.sort || path === 'lastUpdated' || value.length > MAX_INDEXED_CHARS || hasPositionalSegment(path)) return false;
      // An uncounted index is only asked whether the value has an entry: a count of 1 would pass for
      // the value's estimate (`counted`), which is exact only at 0 there.
      const n = this.entryCount(def.n, value, def.counted ? Infinity : 0);
      if (def.counted || n === 0) counted.set(pointKey(def.n, value), n);
      return n === 0;
    });
  }

  async count(resourceType: string, filter: Filter): Promise<number> {
    this.assertReadable();
    this.lastScanned = 0;
    if (!this.defs.has(resourceType)) return 0;
    if (Object.keys(filter).length === 0) return this.liveCount(resourceType);
    const last = this.lastCount;
    if (last && last.seq === this.writeSeq && last.key === countKey(resourceType, filter)) return last.n;
    const plan = this.plan(resourceType, filter);
    if (plan.exactSingleValue !== undefined) return plan.exactSingleValue;
    let n = 0;
    for (const id of plan.candidates()) if (plan.accepts(id)) n++;
    this.lastScanned = plan.scanned;
    return n;
  }

  /**
   * Streams the current matches: by the most selective index when it is small, by `lastUpdated`
   * when `since` is given, else a cursor over the type's current versions (renewing its read
   * transaction as it goes, so a long export never pins old pages). Yields to the event loop every
   * batchSize entries examined.
   */
  async *scan(resourceType: string, filter: Filter, options: ScanOptions = {}): AsyncGenerator<ResourceRecord> {
    this.assertReadable();
    if (!this.defs.has(resourceType)) return;
    const batch = Math.max(1, Math.floor(options.batchSize ?? 1000));
    const since = options.since === undefined ? undefined : normaliseInstant(options.since);
    const until = options.until === undefined ? undefined : normaliseInstant(options.until);
    const test = scanPredicate(filter);
    const raw = options.raw === true;
    const rawBytes = raw && options.rawBytes === true;
    const plan = Object.keys(filter).length === 0 ? undefined : this.plan(resourceType, filter);
    let source: Iterable<{ id: string; value?: Buffer }>;
    // When the index walk is the whole filter (`{path: v}` / `{path: {$in: [...]}}` on an indexed
    // path), every id it yields matches: the filter need not be evaluated (no parse of the search values).
    let walkIsFilter = false;
    // A full pass over the type whose filter is one indexed condition the index holds whole (its
    // values met by a quarter of the type or more, so not walked): the record's index entries
    // decide (a key look-up per value) instead of parsing its search values to evaluate the filter
    // (~15 µs a record: an organization's doses when it gave most of them, reminder/recall).
    let indexDecides: ((id: string) => boolean) | undefined;
    const afterId = options.afterId;
    if (options.orderById || afterId !== undefined) {
      // Id order: the current versions' own keys are in it. A selective index walk (or a small
      // `since` range) is not, so its ids are collected and sorted (bounded: the walk is chosen
      // only below a quarter of the type, and the range is abandoned past that).
      const cap = this.liveCount(resourceType) / 4;
      let ids: string[] | undefined;
      if (plan?.best && plan.estimate < cap) {
        ids = [...new Set(this.candidateIds(resourceType, plan.best))];
        walkIsFilter = plan.walkAnswersFilter;
      } else if (since !== undefined && this.defOf(resourceType, 'lastUpdated')) {
        const n = this.defOf(resourceType, 'lastUpdated')!.n;
        const end: Key = until === undefined ? [n + 1] : [n, until, MAX_KEY_STRING];
        ids = [];
        for (const key of this.idx.getKeys({ start: [n, since], end })) {
          if (ids.length > cap) {
            ids = undefined;
            break;
          }
          ids.push(String(key[2]));
        }
      }
      if (ids) {
        const sorted = (afterId === undefined ? ids : ids.filter((id) => id > afterId)).sort();
        source = sorted.map((id) => ({ id }));
      } else {
        const start: Key = [resourceType, afterId ?? ''];
        source = mapIterable(this.curScan.getRange({ start, end: [resourceType, MAX_KEY_STRING], snapshot: false }), (e) => ({ id: String(e.key[1]), value: e.value }));
        indexDecides = plan?.indexDecides();
      }
    } else if (plan?.best && plan.estimate < this.liveCount(resourceType) / 4) {
      source = mapIterable(this.candidateIds(resourceType, plan.best), (id) => ({ id }));
      walkIsFilter = plan.walkAnswersFilter;
    } else if (since !== undefined && this.defOf(resourceType, 'lastUpdated')) {
      const n = this.defOf(resourceType, 'lastUpdated')!.n;
      const end: Key = until === undefined ? [n + 1] : [n, until, MAX_KEY_STRING];
      source = mapIterable(this.idx.getKeys({ start: [n, since], end, snapshot: false }), (key) => ({ id: String(key[2]) }));
    } else {
      source = mapIterable(this.curScan.getRange({ start: [resourceType, ''], end: [resourceType, MAX_KEY_STRING], snapshot: false }), (e) => ({
        id: String(e.key[1]),
        value: e.value,
      }));
      indexDecides = plan?.indexDecides();
    }
    let examined = 0;
    for (const { id, value } of source) {
      if (afterId !== undefined && id <= afterId) continue; // the range starts at afterId itself
      if (++examined % batch === 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.assertReadable();
      }
      const buf = value ?? this.currentCopy(resourceType, id);
      if (!buf) continue;
      const head = decodeCurrentHead(buf);
      if (head.deleted) continue;
      const u = head.lastUpdated;
      if ((since !== undefined && u < since) || (until !== undefined && u > until)) continue;
      if (indexDecides) {
        if (!indexDecides(id)) continue;
      } else if (test && !walkIsFilter && !test(new RecordDoc(resourceType, id, head, buf))) continue;
      const rec: ResourceRecord = { resourceType, id, versionId: head.versionId, lastUpdated: u, deleted: false };
      // rawBytes: the stored bytes (a view of this record's own copy), never decoded and re-encoded.
      if (rawBytes) rec.jsonBytes = currentResourceBytes(buf) as Buffer;
      else if (raw) rec.json = currentResourceJson(buf) as string;
      else rec.resource = JSON.parse(currentResourceJson(buf) as string) as Resource;
      yield rec;
    }
  }

  // ---------------------------------------------------------------- planning

  /** `counted`: entry counts of string point values already read in this step (`pointKey`), not read again. */
  private plan(resourceType: string, filter: Filter, counted?: Map<string, number>): Plan {
    const { defs, byPath } = this.indexesOf(resourceType);
    const conditions = conditionsOf(filter, {
      indexed: (path) => path === '_id' || byPath.has(path),
      singleValued: (path) => path === '_id' || byPath.get(path)?.multi === false,
      span: (base) => this.meta.get(['span', resourceType, base]) as number | undefined,
    });
    for (const def of defs) {
      if (!def.parts || def.sort) continue;
      const compound = compoundCondition(def.path, conditions);
      if (compound) conditions.push(compound);
    }
    // Estimates stop counting past `cap` (the best so far): a wide range is not summed value by
    // value once a narrower condition is known. A capped estimate is a lower bound above the cap.
    const estimates = new Map<Condition, number>();
    const pointCounts = new Map<Interval, number>();
    const estimate = (c: Condition, cap = Infinity): number => {
      let e = estimates.get(c);
      if (e === undefined) {
        if (c.kind === 'or') {
          e = 0;
          for (const branch of c.branches) {
            let narrowest = Infinity;
            for (const b of branch) narrowest = Math.min(narrowest, estimate(b, Math.min(narrowest, cap - e)));
            e += narrowest;
            if (e > cap) break;
          }
        } else {
          e = this.estimatePath(resourceType, c, byPath, cap, pointCounts, counted);
        }
        estimates.set(c, e);
      }
      return e;
    };
    // Cheap, usually narrow conditions first (equalities), so wide ranges are cut short.
    const order = (c: Condition) => (c.kind === 'or' ? 3 : c.intervals.every(isPoint) ? 0 : c.path.includes('+') ? 1 : 2);
    let best: Condition | undefined;
    let bestEstimate = Infinity;
    for (const c of [...conditions].sort((a, b) => order(a) - order(b))) {
      // Nothing is narrower than no entry at all (estimates are counts): the rest need no estimate
      // (the PID-3 and ORC-3 look-ups of a new child: the identifier's code is counted 0, its
      // system would be looked up for nothing).
      if (best && bestEstimate === 0) break;
      const e = estimate(c, bestEstimate);
      if (!best || e < bestEstimate) {
        best = c;
        bestEstimate = e;
      }
    }
    return new Plan(this, resourceType, filter, conditions, best, best ? bestEstimate : this.liveCount(resourceType), byPath, (c) => estimate(c), pointCounts);
  }

  /** The type's index definitions and the same by path (rebuilt only when the type's definitions are replaced). */
  private indexesOf(resourceType: string): { defs: IndexDef[]; byPath: Map<string, IndexDef> } {
    const defs = this.defs.get(resourceType) ?? [];
    let cached = this.byPathCache.get(resourceType);
    if (cached?.defs !== defs || cached.size !== defs.length) {
      cached = { defs, size: defs.length, byPath: new Map(defs.map((d) => [d.path, d])) };
      this.byPathCache.set(resourceType, cached);
    }
    return cached;
  }

  /**
   * Index entries a path condition covers (from the per-value counts; "large" past ESTIMATE_VALUES values).
   * `pointCounts` receives the entry count of each point value looked up on an index whose values
   * are all counted (see `addEntries`), exact at 0: a value counted 0 has no entries, so its walk is
   * skipped. An uncounted index's entries are walked instead, up to the cap or ESTIMATE_VALUES
   * entries ("large" past those).
   */
  private estimatePath(
    resourceType: string,
    c: PathCondition,
    byPath: Map<string, IndexDef>,
    cap = Infinity,
    pointCounts?: Map<Interval, number>,
    counted?: Map<string, number>
  ): number {
    if (c.path === '_id') return c.intervals.every(isPoint) ? c.intervals.length : this.liveCount(resourceType);
    const def = byPath.get(c.path)!;
    const n = def.n;
    const exactCounts = pointCounts !== undefined && !def.parts;
    let total = 0;
    for (const interval of c.intervals) {
      if (total > cap) return total;
      if (!def.counted) {
        const known = counted !== undefined && isPoint(interval) && typeof interval.lo!.v === 'string' ? counted.get(pointKey(n, interval.lo!.v)) : undefined;
        const limit = Math.min(ESTIMATE_VALUES, cap - total);
        const count = known ?? this.walkCount(startKey(n, interval), endKey(n, interval), limit);
        if (exactCounts && isPoint(interval)) pointCounts.set(interval, count);
        total += count;
        if (count > ESTIMATE_VALUES) return total + this.liveCount(resourceType);
        continue;
      }
      if (isPoint(interval)) {
        const v = interval.lo!.v;
        const known = counted !== undefined && typeof v === 'string' ? counted.get(pointKey(n, v)) : undefined;
        const count = known ?? (this.stats.get([n, truncated(v)]) as number | undefined) ?? 0;
        if (exactCounts) pointCounts.set(interval, count);
        total += count;
        continue;
      }
      if (interval.prefix !== undefined && interval.lo && interval.hi && interval.lo.v === interval.hi.v && interval.lo.inclusive && interval.hi.inclusive) {
        total += this.stats.get([n, truncated(interval.prefix), truncated(interval.lo.v)]) ?? 0;
        continue;
      }
      let values = 0;
      for (const { value } of this.stats.getRange({ start: startKey(n, interval), end: endKey(n, interval) })) {
        total += value;
        if (total > cap) return total;
        if (++values >= ESTIMATE_VALUES) return total + this.liveCount(resourceType);
      }
    }
    return total;
  }

  /** Ids a condition covers (may repeat an id), in index order; every live resource when there is none. */
  /**
   * `pointCounts` (a plan's, used in the same synchronous step as it was made: the same read
   * snapshot) gives values known to have no entries, whose walks are skipped.
   */
  candidateIds(resourceType: string, c: Condition | undefined, seen = new Set<string>(), pointCounts?: Map<Interval, number>): Iterable<string> {
    const store = this;
    const unique = function* (source: Iterable<string>): Generator<string> {
      for (const id of source) {
        if (seen.has(id)) continue;
        seen.add(id);
        yield id;
      }
    };
    if (!c) return mapIterable(this.cur.getKeys({ start: [resourceType, ''], end: [resourceType, MAX_KEY_STRING] }), (k) => String(k[1]));
    if (c.kind === 'or') {
      return (function* () {
        for (const branch of c.branches) {
          let narrowest = branch[0];
          for (const b of branch) if (store.roughEstimate(resourceType, b) < store.roughEstimate(resourceType, narrowest)) narrowest = b;
          yield* store.candidateIds(resourceType, narrowest, seen, pointCounts);
        }
      })();
    }
    return unique(this.pathIds(resourceType, c, false, undefined, pointCounts));
  }

  private roughEstimate(resourceType: string, c: Condition): number {
    if (c.kind === 'or') return c.branches.reduce((sum, b) => sum + Math.min(...b.map((x) => this.roughEstimate(resourceType, x))), 0);
    return this.estimatePath(resourceType, c, this.indexesOf(resourceType).byPath);
  }

  private *pathIds(resourceType: string, c: PathCondition, reverse = false, from?: string, pointCounts?: Map<Interval, number>): Generator<string> {
    if (c.path === '_id') {
      for (const interval of c.intervals) {
        if (isPoint(interval)) {
          if (typeof interval.lo!.v === 'string') yield interval.lo!.v;
          continue;
        }
        if (interval.kind !== 'string') continue;
        const start: Key = [resourceType, ...boundKey(interval.lo, 'lo', '')];
        const end: Key = interval.hi ? [resourceType, ...boundKey(interval.hi, 'hi', '')] : [resourceType, MAX_KEY_STRING];
        for (const key of this.cur.getKeys({ start, end })) yield String(key[1]);
      }
      return;
    }
    const n = this.defOf(resourceType, c.path)!.n;
    const intervals = reverse ? [...c.intervals].reverse() : c.intervals;
    for (const interval of intervals) {
      if (pointCounts?.get(interval) === 0) continue; // counted: no entries
      let start = startKey(n, interval);
      let end = endKey(n, interval);
      if (from !== undefined && isPoint(interval)) {
        // An id-ordered walk of one value, resumed after a keyset boundary.
        const v = truncated(interval.lo!.v);
        if (reverse) end = [n, v, from];
        else start = [n, v, from];
      }
      const range = reverse ? this.idx.getKeys({ start: end, end: start, reverse: true }) : this.idx.getKeys({ start, end });
      for (const key of range) yield String(key[key.length - 1]);
    }
  }

  /**
   * An ordered walk for the first sort key, narrowed by the filter's conditions on it:
   * `_id` (the primary keys, or the ids of the smallest single-value condition, which an index
   * keeps in id order), or an indexed sort path. Undefined when no index gives the order.
   */
  private orderedSource(resourceType: string, plan: Plan, sort: SortKey[]): OrderedSource | undefined {
    const first = sort[0];
    const reverse = first.direction === -1;
    const onPath = (path: string) =>
      plan.conditions.filter((c): c is PathCondition => c.kind === 'path' && c.path === path && c.intervals.length === 1);
    if (first.field === '_id') {
      const idRange = hull(onPath('_id').map((c) => c.intervals[0]));
      const points = plan.conditions.filter(
        (c): c is PathCondition => c.kind === 'path' && c.path !== '_id' && c.intervals.length === 1 && isPoint(c.intervals[0])
      );
      let driver: PathCondition | undefined;
      for (const c of points) if (!driver || plan.estimateOf(c) < plan.estimateOf(driver)) driver = c;
      if (driver) {
        const from = reverse ? (idRange?.hi ? String(idRange.hi.v) + MAX_KEY_STRING : undefined) : idRange?.lo ? String(idRange.lo.v) : undefined;
        const d = driver;
        return {
          field: '_id',
          driver: d,
          covers: [d, ...onPath('_id')],
          entries: mapIterable(this.pathIds(resourceType, d, reverse, from, plan.pointCounts), (id) => ({ id, value: id })),
        };
      }
      const interval: Interval = idRange ?? { kind: 'string' };
      const start: Key = [resourceType, ...boundKey(interval.lo, 'lo', '')];
      const end: Key = interval.hi ? [resourceType, ...boundKey(interval.hi, 'hi', '')] : [resourceType, MAX_KEY_STRING];
      const keys = reverse ? this.cur.getKeys({ start: end, end: start, reverse: true }) : this.cur.getKeys({ start, end });
      return { field: '_id', covers: onPath('_id'), entries: mapIterable(keys, (k) => ({ id: String(k[1]), value: String(k[1]) })) };
    }
    // A compound of the first two sort keys (same direction) walks in their order; else the first's.
    const second = sort[1];
    const pair = second && second.direction === first.direction ? this.defOf(resourceType, `${first.field}+${second.field}`) : undefined;
    const def = pair?.sort ? pair : this.defOf(resourceType, first.field);
    if (!def?.sort) return undefined;
    // Documents without a value sort first ascending: the walk starts at the null entries unless
    // the filter bounds the key from below (then those documents cannot match).
    const range = hull(onPath(first.field).map((c) => c.intervals[0]));
    const start: Key = range?.lo ? startKey(def.n, range) : [def.n];
    const end: Key = range?.hi ? endKey(def.n, range) : [def.n + 1];
    const keys = reverse ? this.idx.getKeys({ start: end, end: start, reverse: true }) : this.idx.getKeys({ start, end });
    if (def.parts) {
      // Ties are groups of equal (first, second) values: a key of both (strings, numbers or null).
      const tie = (k: Key) => JSON.stringify([k[1], k[2]]);
      return { field: first.field, covers: onPath(first.field), entries: mapIterable(keys, (k) => ({ id: String(k[k.length - 1]), value: tie(k) })) };
    }
    return { field: first.field, covers: onPath(first.field), entries: mapIterable(keys, (k) => ({ id: String(k[2]), value: k[1] as Scalar | null })) };
  }

  /** Walks the ordered source; ties on the first key are sorted by the remaining keys in memory. */
  private streamSorted(source: OrderedSource, sort: SortKey[], plan: Plan, want: number, out: RecordDoc[]): void {
    let group: RecordDoc[] = [];
    let groupValue: unknown = Symbol('none');
    const flush = () => {
      if (group.length > 1 && sort.length > 1) sortDocs(group, sort);
      for (const d of group) out.push(d);
      group = [];
    };
    for (const { id, value } of source.entries) {
      if (value !== groupValue) {
        if (out.length + group.length >= want) break;
        flush();
        groupValue = value;
      }
      const doc = plan.acceptedDoc(id, source.driver);
      if (doc) group.push(doc);
    }
    flush();
  }

  private sortInMemory(resourceType: string, plan: Plan, sort: SortKey[], want: number, out: RecordDoc[]): void {
    const docs: RecordDoc[] = [];
    const seq = this.writeSeq;
    for (const id of plan.candidates()) {
      const doc = plan.acceptedDoc(id);
      if (doc) docs.push(doc);
    }
    // Every match was found: a count of the same filter that follows (a first page's total) is known.
    this.lastCount = { key: countKey(resourceType, plan.filter), seq, n: docs.length };
    sortDocs(docs, sort);
    for (let i = 0; i < docs.length && i < want; i++) out.push(docs[i]);
  }

  // Used by Plan (below): reads of the current version, key look-ups and entry counts.
  /**
   * The live current version as the StoredDoc a filter is evaluated on, over a copy of its record
   * (lmdb's read buffer is shared, overwritten by the next read): its search values and resource
   * are parsed only if looked at, and the record a search returns is built from the same bytes.
   */
  liveDoc(resourceType: string, id: string): RecordDoc | undefined {
    const buf = this.currentCopy(resourceType, id);
    if (!buf) return undefined;
    const head = decodeCurrentHead(buf);
    if (head.deleted) return undefined;
    return new RecordDoc(resourceType, id, head, buf);
  }

  /** The current version's record, copied out of lmdb's shared read buffer (into a pooled buffer). */
  private currentCopy(resourceType: string, id: string): Buffer | undefined {
    const buf = this.cur.getBinaryFast([resourceType, id]);
    return buf ? copyBytes(buf, buf.length) : undefined;
  }

  hasEntry(n: number, v: Scalar, id: string): boolean {
    return this.idx.getBinaryFast([n, truncated(v), id]) !== undefined;
  }

  /** The live current version as a record (one read), or undefined when absent or deleted. */
  liveRecord(resourceType: string, id: string, raw = false): ResourceRecord | undefined {
    // Decoded at once, so lmdb's shared read buffer need not be copied.
    const buf = this.cur.getBinaryFast([resourceType, id]);
    const rec = buf ? currentRecord(resourceType, id, buf, raw) : undefined;
    return rec && !rec.deleted ? rec : undefined;
  }

  /**
   * `liveRecord(…, raw)` of a record read before while no write request of that record came since:
   * matching's blocking queries meet the same records again, through several keys of one new child
   * (each query a search of its own) and through the keys of later children (other children of the
   * same birth months, surname codes and mothers' maiden names: in bench/hl7v2.ts's open loop most
   * records a VXU's blocking walks read were read by an earlier VXU and not written since). A
   * record is forgotten when a write request of it starts and again when it has committed (see
   * `commit`; lmdb renews the read snapshot before a commit's promise settles), so a record read
   * while its write is in flight is never kept past the commit. The first kept goes first: as
   * good as least recently used here (bench/store-vxu-reads.ts: 1.55 record reads per VXU against
   * 1.52, 4.48 before), without reordering the map at every use.
   * Each call returns a record object of its own (callers may set `resource` on a raw record); the
   * JSON text is shared (strings are immutable), so a caller comparing it with a text it kept
   * (knownCandidates) finds the same string.
   */
  private liveRawRecord(resourceType: string, id: string): ResourceRecord | undefined {
    let kept = this.rawReads.get(resourceType);
    if (kept === undefined) this.rawReads.set(resourceType, (kept = new Map()));
    let rec = kept.get(id);
    if (rec === undefined) {
      rec = this.liveRecord(resourceType, id, true) ?? null;
      if (kept.size >= RAW_READS_KEPT) kept.delete(kept.keys().next().value as string);
      kept.set(id, rec);
    }
    if (rec === null) return undefined;
    const { versionId, lastUpdated, json } = rec;
    return { resourceType, id, versionId, lastUpdated, deleted: false, json };
  }

  /** Forgets the raw records of a write request's resources (see `liveRawRecord`). */
  private forgetRawReads(ops: WriteOp[]): void {
    if (this.rawReads.size === 0) return;
    for (const op of ops) if (!op.verifyOnly) this.rawReads.get(op.resourceType)?.delete(op.id);
  }

  /**
   * The entries of one value of a single-path index: its counter, or for an uncounted index a walk
   * of the entries that stops past `cap` (then the count is a lower bound, cap + 1). Exact at 0
   * either way, and always exact when uncapped (`count` of one value).
   */
  entryCount(n: number, v: Scalar, cap = Infinity): number {
    if (!this.uncountedIndexes.has(n)) return this.stats.get([n, v]) ?? 0;
    const interval = point(v);
    if (cap === Infinity) return this.idx.getKeysCount({ start: startKey(n, interval), end: endKey(n, interval) });
    return this.walkCount(startKey(n, interval), endKey(n, interval), cap);
  }

  /** Index entries in [start, end), walked up to `cap` + 1 (a count past `cap` is a lower bound). */
  private walkCount(start: Key, end: Key, cap: number): number {
    let n = 0;
    for (const _ of this.idx.getKeys({ start, end, limit: cap + 1 })) n++;
    return n;
  }

  // ---------------------------------------------------------------- history

  async history(query: HistoryQuery): Promise<ResourceRecord[]> {
    this.assertReadable();
    const count = Math.max(0, Math.floor(query.count));
    const out: ResourceRecord[] = [];
    if (count === 0) return out;
    // A type's newest version (the data-sharing index asks for Consent's on every FHIR request, the
    // terminology poll for its types'): known without a walk while no write of the type came since.
    if (count === 1 && query.resourceType !== undefined && query.id === undefined && query.since === undefined && query.before === undefined && query.after === undefined) {
      const newest = this.newestEntry(query.resourceType);
      if (newest === null) return out;
      const rec = this.versionRecord(query.resourceType, newest.id, newest.v, query.raw === true);
      if (rec) return [rec];
    }
    for (const v of this.historyEntries(query)) {
      const rec = this.versionRecord(v.t, v.id, v.v, query.raw === true);
      if (rec) out.push(rec);
      if (out.length >= count) break;
    }
    return out;
  }

  async newestVersion(resourceType: string): Promise<HistoryCursor | undefined> {
    this.assertReadable();
    // The history key holds the version's place whole: no record is read or decoded.
    const newest = this.newestEntry(resourceType);
    return newest === null ? undefined : { lastUpdated: newest.u, resourceType, id: newest.id, versionId: newest.v };
  }

  async historyCount(query: Omit<HistoryQuery, 'after' | 'count'>): Promise<number> {
    this.assertReadable();
    const since = query.since === undefined ? undefined : normaliseInstant(query.since);
    const before = query.before === undefined ? undefined : normaliseInstant(query.before);
    if (query.resourceType !== undefined && query.id !== undefined) {
      let n = 0;
      for (const _ of this.historyEntries(query)) n++;
      return n;
    }
    const typeCount = (t: string) =>
      this.thist.getKeysCount({ start: since === undefined ? [t, ''] : [t, since], end: before === undefined ? [t, MAX_KEY_STRING] : [t, before, MAX_KEY_STRING] });
    if (query.resourceType !== undefined) return typeCount(query.resourceType);
    if (query.resourceTypes) return [...new Set(query.resourceTypes)].reduce((sum, t) => sum + typeCount(t), 0);
    return this.types().reduce((sum, t) => sum + typeCount(t), 0);
  }

  /**
   * The newest entry of a type's history (null: none), read once per value of the type's write
   * counter: a write request of the type raises it when it starts and when it has committed (so an
   * entry read while one is in flight is not kept past it), and nothing else adds or removes `thist`
   * keys. lmdb renews the read snapshot before a commit's promise settles, so a read after the
   * second raise sees the commit.
   */
  private newestEntry(t: string): { u: string; id: string; v: number } | null {
    const seq = this.typeSeq.get(t) ?? 0;
    const known = this.newestVersions.get(t);
    if (known !== undefined && known.seq === seq) return known.entry;
    let entry: { u: string; id: string; v: number } | null = null;
    for (const key of this.thist.getKeys({ start: [t, MAX_KEY_STRING], end: [t, ''], reverse: true, limit: 1 })) {
      entry = { u: String((key as Key)[1]), id: String((key as Key)[2]), v: Number((key as Key)[3]) };
    }
    this.newestVersions.set(t, { seq, entry });
    return entry;
  }

  private raiseTypeSeq(types: Set<string>): void {
    for (const t of types) this.typeSeq.set(t, (this.typeSeq.get(t) ?? 0) + 1);
  }

  /** Every resource type configured or ever written (prepareIndexes and ensureType define them). */
  private types(): string[] {
    return [...this.defs.keys()];
  }

  /** Versions newest first: (lastUpdated, type, id, versionId) descending, within the query's bounds. */
  private *historyEntries(query: Omit<HistoryQuery, 'count'>): Generator<{ t: string; id: string; v: number; u: string }> {
    const since = query.since === undefined ? undefined : normaliseInstant(query.since);
    const before = query.before === undefined ? undefined : normaliseInstant(query.before);
    const after = query.after ? { ...query.after, lastUpdated: normaliseInstant(query.after.lastUpdated) } : undefined;
    const older = (u: string, t: string, id: string, v: number): boolean => {
      if (!after) return true;
      if (u !== after.lastUpdated) return u < after.lastUpdated;
      if (t !== after.resourceType) return t < after.resourceType;
      if (id !== after.id) return id < after.id;
      return v < after.versionId;
    };
    const inWindow = (u: string) => (since === undefined || u >= since) && (before === undefined || u <= before);
    if (query.resourceType !== undefined && query.id !== undefined) {
      const t = query.resourceType;
      const id = query.id;
      // The current version (in `cur`), then the superseded ones (in `ver`), newest first.
      const buf = this.cur.get([t, id]);
      if (buf) {
        const { versionId: v, lastUpdated: u } = decodeCurrentHead(buf);
        if (inWindow(u) && older(u, t, id, v)) yield { t, id, v, u };
      }
      for (const { key, value } of this.ver.getRange({ start: [t, id, MAX_KEY_STRING], end: [t, id], reverse: true })) {
        const v = key[2] as number;
        const u = versionInstant(value);
        if (inWindow(u) && older(u, t, id, v)) yield { t, id, v, u };
      }
      return;
    }
    // Each type's walk starts at the cursor's instant (or the `before` bound); `older` drops the
    // versions at that instant the cursor already passed.
    const top = (t: string): Key => {
      if (after && (before === undefined || after.lastUpdated <= before)) return [t, after.lastUpdated, MAX_KEY_STRING];
      return before === undefined ? [t, MAX_KEY_STRING] : [t, before, MAX_KEY_STRING];
    };
    const walk = (t: string) =>
      mapIterable(this.thist.getKeys({ start: top(t), end: since === undefined ? [t, ''] : [t, since], reverse: true }), (key) => {
        const [, u, id, v] = key as [string, string, string, number];
        return { t, id, v, u };
      });
    const types = query.resourceType !== undefined ? [query.resourceType] : query.resourceTypes ? [...new Set(query.resourceTypes)] : this.types();
    // System history: the types' walks merged, newest first (a handful of types).
    for (const e of mergeNewestFirst(types.map(walk))) {
      if (inWindow(e.u) && older(e.u, e.t, e.id, e.v)) yield e;
    }
  }

  // ---------------------------------------------------------------- short-lived records

  expiringRecords(namespace: string): ExpiringRecords {
    const host: ExpiringHost = {
      env: this.env,
      db: this.exp,
      assertWritable: () => this.assertWritable(),
      assertReadable: () => this.assertReadable(),
      write: (fn) => this.writeExpiring(fn),
    };
    return new EmbeddedExpiringRecords(host, checkNamespace(namespace));
  }

  /** One write transaction of lmdb's batch for short-lived records; close() waits for it. */
  private async writeExpiring(fn: () => void): Promise<void> {
    this.assertWritable();
    await this.awaitCommit(this.env.transaction(fn));
  }

  /** Waits for a commit that close() waits for too; a failed commit is the store being unavailable. */
  private async awaitCommit<T>(task: Promise<T>): Promise<T> {
    this.pending.add(task);
    try {
      return await task;
    } catch (err) {
      absorbCommitFailure(err);
      throw new StoreUnavailableError('Embedded store could not commit the write', { cause: err });
    } finally {
      this.pending.delete(task);
    }
  }

  // ---------------------------------------------------------------- writes

  async write(op: WriteOp): Promise<ResourceRecord> {
    const [record] = await this.commit([op]);
    return record;
  }

  async transact(ops: WriteOp[]): Promise<ResourceRecord[]> {
    if (ops.length === 0) {
      this.assertWritable();
      return [];
    }
    return this.commit(ops);
  }

  private assertWritable(): void {
    if (this.state !== 'open') throw new StoreUnavailableError(`Embedded store is ${this.state === 'new' ? 'not open' : this.state}`);
  }

  /**
   * Requests share lmdb's batched write transaction: every request made before lmdb starts the
   * batch's callbacks is in it (the same event turn, or while the previous commit is being written):
   * one commit, one fsync (group commit). Here the requests lmdb would have run as consecutive
   * callbacks of one batch are gathered into one callback (`WriteGroup`, `applyGroup`), in the order
   * they were made. Each request checks every precondition before writing anything, so a refused
   * request leaves no trace, and each request commits or rolls back alone (see applyGroup). The
   * promise settles once the commit is on disk (overlappingSync off: the commit returns after the
   * fsync).
   */
  private async commit(ops: WriteOp[]): Promise<ResourceRecord[]> {
    this.assertWritable();
    for (const op of ops) {
      if (typeof op.resourceType !== 'string' || !op.resourceType || typeof op.id !== 'string' || !op.id) {
        throw new Error('WriteOp needs a resourceType and an id');
      }
      if (op.resource && op.resource.resourceType !== op.resourceType) {
        throw new Error(`WriteOp for ${op.resourceType}/${op.id} carries a ${op.resource.resourceType}`);
      }
      if (op.verifyOnly && typeof op.ifVersion !== 'number') throw new Error(`A verifyOnly WriteOp for ${op.resourceType}/${op.id} needs a version number`);
    }
    for (const t of new Set(ops.map((op) => op.resourceType))) await this.ensureType(t);
    // The types and records this request writes: a verify-only op writes nothing, so what is kept
    // per type while no write of it comes (newestEntry) and per record (liveRawRecord) stays
    // valid (a further VXU of an unchanged child keeps the Patient reads matching's walks reuse).
    const types = new Set<string>();
    for (const op of ops) if (!op.verifyOnly) types.add(op.resourceType);
    this.writeSeq++;
    this.raiseTypeSeq(types);
    this.forgetRawReads(ops);
    const group = this.openGroup ?? this.startGroup();
    const at = group.requests.push(ops) - 1;
    try {
      await this.awaitCommit(group.committed);
    } finally {
      this.writeSeq++;
      this.raiseTypeSeq(types);
      this.forgetRawReads(ops);
    }
    const outcome = group.outcomes[at];
    if (outcome === undefined) throw new StoreUnavailableError('Embedded store could not commit the write');
    if ('failure' in outcome) {
      if (outcome.failure instanceof VersionConflictError) throw outcome.failure;
      throw new StoreUnavailableError('Embedded store could not commit the write', { cause: outcome.failure });
    }
    if ('conflict' in outcome) throw outcome.conflict;
    return outcome.records;
  }

  /** A new write group, queued as one callback of lmdb's next write batch; requests join it until that callback starts. */
  private startGroup(): WriteGroup {
    const group: WriteGroup = { requests: [], outcomes: [], committed: Promise.resolve() };
    this.openGroup = group;
    if (latencyTrace) return this.startTracedGroup(group, latencyTrace);
    group.committed = this.env.transaction(() => {
      if (this.openGroup === group) this.openGroup = undefined;
      this.applyGroup(group);
    });
    return group;
  }

  /** startGroup with LATENCY_TRACE on: the group's moments as a 'group' event (src/latency-trace.ts). */
  private startTracedGroup(group: WriteGroup, trace: LatencyTrace): WriteGroup {
    const opened = trace.now();
    let callbackStart = 0;
    let callbackEnd = 0;
    group.committed = this.env.transaction(() => {
      if (this.openGroup === group) this.openGroup = undefined;
      callbackStart = trace.now();
      this.applyGroup(group);
      callbackEnd = trace.now();
    });
    const settled = () => {
      const ops = group.requests.reduce((n, r) => n + r.length, 0);
      trace.event('group', opened, trace.now(), { callbackStart, callbackEnd, requests: group.requests.length, ops, mapSize: this.mapSize() });
    };
    group.committed.then(settled, settled);
    return group;
  }

  /** The LMDB map's size in bytes (it grows as the store does: lmdb-js doubles it when full). */
  private mapSize(): number {
    return (this.env.getStats() as { mapSize?: number }).mapSize ?? 0;
  }

  /**
   * Runs a group's requests in order, each all-or-nothing. First all of them in ONE child
   * transaction (nested in lmdb's batch): a child of its own per request costs each request the
   * nested transaction's begin and commit and a copy of every B-tree page an earlier request of the
   * batch has already changed (~30 µs of CPU per request at ~10 requests per commit). Refused
   * requests (conflicts) write nothing, so they need no rollback. If any request throws, that child
   * is rolled back whole (nothing of the group is written) and every request runs again in a child
   * transaction of its own, as a lone request does: the one that fails rolls back alone, the others
   * are written. Nothing outside LMDB changes in an attempt except index definitions' `multi` flags,
   * which are put back with it (inChild).
   */
  private applyGroup(group: WriteGroup): void {
    const { requests, outcomes } = group;
    if (requests.length > 1) {
      try {
        this.inChild(() => {
          // One tally for the group: a counter several requests change (a vaccine code, the
          // performer, the live count of a type) is read and put once. Nothing in apply reads
          // `stats` or the counts in `meta`, so the sums put at the end are what the requests put
          // one after the other would leave.
          const tally = new Tally();
          for (let i = 0; i < requests.length; i++) outcomes[i] = this.apply(requests[i], tally);
          this.applyTally(tally);
        });
        return;
      } catch {
        outcomes.length = 0;
      }
    }
    for (let i = 0; i < requests.length; i++) {
      try {
        outcomes[i] = this.inChild(() => this.apply(requests[i]));
      } catch (err) {
        outcomes[i] = { failure: err };
      }
    }
  }

  /**
   * Runs `fn` in a child transaction of the running write transaction: committed into it, or, if
   * `fn` throws, rolled back (and the `multi` flags it raised in memory put back) and the error
   * thrown on.
   */
  private inChild<T>(fn: () => T): T {
    const raised: IndexDef[] = [];
    this.multiRaised = raised;
    try {
      // Inside a write transaction lmdb runs the child at once and returns fn's result (no promise).
      return this.env.childTransaction(fn) as unknown as T;
    } catch (err) {
      for (const def of raised) def.multi = false;
      throw err;
    } finally {
      this.multiRaised = undefined;
    }
  }

  /**
   * Runs inside the write transaction (synchronously). The request's counter changes go into
   * `groupTally` when given (put by the caller, see applyGroup), else are put here.
   */
  private apply(ops: WriteOp[], groupTally?: Tally): Outcome {
    const known = new Map<string, { v: number; deleted: boolean }>();
    /** The record each resource had before this request, read once here (reused below unless the request writes it twice). */
    const before = new Map<string, Buffer | undefined>();
    const versions: number[] = [];
    /** Resources this request writes once and that do not exist yet (creates): nothing to read again below. */
    const absent = new Set<string>();
    const repeated = new Set<string>();
    const seen = new Set<string>();
    for (const op of ops) {
      const key = `${op.resourceType}\u0000${op.id}`;
      if (seen.has(key)) repeated.add(key);
      seen.add(key);
      let cur = known.get(key);
      if (!cur) {
        const buf = this.cur.get([op.resourceType, op.id]);
        if (!before.has(key)) before.set(key, buf);
        if (buf) {
          const head = decodeCurrentHead(buf);
          cur = { v: head.versionId, deleted: head.deleted };
        } else if (!known.has(key)) absent.add(key);
      }
      const conflict = preconditionFails(op, cur);
      if (conflict) return { conflict };
      if (op.verifyOnly) {
        // Checked, not written (WriteOp.verifyOnly): the resource keeps its version. A delete marker
        // at the expected number cannot occur (versions only grow), but is refused all the same.
        if (cur?.deleted) return { conflict: new VersionConflictError(op.resourceType, op.id, op.ifVersion as number, cur.v) };
        versions.push((cur as { v: number }).v);
        continue;
      }
      const v = (cur?.v ?? 0) + 1;
      versions.push(v);
      known.set(key, { v, deleted: !op.resource });
    }
    const u = this.instant();
    const records: ResourceRecord[] = [];
    const tally = groupTally ?? new Tally();
    // When no resource is written twice in this request, no key is both put and removed here (every
    // key of `cur` and `idx` ends with the resource's id), so the `cur` and index puts can wait and
    // go in key order: neighbouring keys share B-tree pages, which stay in the CPU's caches between
    // puts (in a registry's 10 M-entry idx each put otherwise descends through pages the previous
    // one evicted): ~12 % less CPU in this callback at 1.1 M resources. Removals stay in place.
    const sorted = repeated.size === 0;
    const idxPuts: Key[] | undefined = sorted ? [] : undefined;
    const curPuts: Array<{ key: Key; value: Buffer; raw: boolean }> | undefined = sorted ? [] : undefined;
    ops.forEach((op, i) => {
      const { resourceType: t, id } = op;
      const v = versions[i];
      const defs = this.defs.get(t) ?? [];
      const key = `${t}\u0000${id}`;
      // lmdb's `get` of a binary value returns a copy, so the first read's record is still this one's
      // unless an earlier op of this request wrote the same resource.
      const oldBuf = repeated.has(key) ? this.cur.get([t, id]) : before.get(key);
      if (op.verifyOnly) {
        records.push(currentRecord(t, id, oldBuf as Buffer)); // the version checked above, as `read` gives it
        return;
      }
      const old = oldBuf ? decodeCurrentHead(oldBuf) : undefined;
      /** The superseded live version's document, when this op updates a live resource (its entries are changed below). */
      let oldDoc: { _id: string; lastUpdated: string; s: SearchIndex } | undefined;
      if (old) {
        // The version being superseded moves to `ver` (a store keeps only current ones in `cur`).
        this.putCompressed(this.verWrite, this.ver, [t, id, old.versionId], encodeVersionBytes(old.lastUpdated, currentResourceBytes(oldBuf as Buffer)));
        if (!old.deleted) {
          const oldS = JSON.parse(currentSearchJson(oldBuf as Buffer)) as SearchIndex;
          oldDoc = { _id: id, lastUpdated: old.lastUpdated, s: oldS };
          if (!op.resource) this.removeEntries(id, oldDoc, defs, tally);
        }
      }
      const stamped = op.resource ? stampMeta(op.resource, id, v, u) : undefined;
      const s: SearchIndex = op.resource ? (op.index ?? {}) : {};
      const sJson = JSON.stringify(s);
      this.thist.putSync([t, u, id, v], EMPTY);
      // Encoded into the encoder's buffer and stored form made at once (compressed: a buffer of its own).
      const encoded = this.currentEncoder.encode(v, u, stamped ? JSON.stringify(stamped) : null, sJson);
      const raw = this.compressor.accepts(encoded.length); // else lmdb's own compression (16 MB and more)
      const curValue = !raw ? Buffer.from(encoded) : encoded.length < COMPRESS_FROM_BYTES ? Buffer.from(encoded) : this.compressor.compress(encoded);
      if (curPuts) curPuts.push({ key: [t, id], value: curValue, raw });
      else (raw ? this.curWrite : this.cur).putSync([t, id], curValue);
      // The entries follow the JSON just written (a later update or delete removes them by it): the
      // search values as given when they are plain JSON data, else their parsed JSON.
      if (stamped) {
        const sStored = isPlainJsonData(s) ? s : (JSON.parse(sJson) as SearchIndex);
        const doc = { _id: id, lastUpdated: u, s: sStored };
        this.addEntries(t, id, doc, defs, tally, idxPuts, oldDoc);
      }
      const wasLive = old !== undefined && !old.deleted;
      if (wasLive !== !!stamped) tally.live.set(t, (tally.live.get(t) ?? 0) + (stamped ? 1 : -1));
      const rec: ResourceRecord = { resourceType: t, id, versionId: v, lastUpdated: u, deleted: !stamped };
      if (stamped) rec.resource = stamped;
      records.push(rec);
    });
    if (curPuts) {
      curPuts.sort((a, b) => compareKeys(a.key, b.key));
      for (const { key, value, raw } of curPuts) (raw ? this.curWrite : this.cur).putSync(key, value);
    }
    if (idxPuts) {
      idxPuts.sort(compareKeys);
      for (const k of idxPuts) this.idx.putSync(k, EMPTY);
    }
    if (!groupTally) this.applyTally(tally);
    return { records };
  }

  /**
   * Puts a `cur`/`ver` value as lmdb's compression would store it: small values as they are,
   * others compressed with the dictionary. What lmdb would treat otherwise (a first byte it reads
   * as a compression flag, values of 16 MB and more) goes through lmdb's own compression.
   */
  private putCompressed(raw: Database<Buffer, AnyKey>, compressing: Database<Buffer, AnyKey>, key: Key, value: Buffer): void {
    if (value[0] >= 250 || !this.compressor.accepts(value.length)) compressing.putSync(key, value);
    else raw.putSync(key, value.length < COMPRESS_FROM_BYTES ? value : this.compressor.compress(value));
  }

  private instant(): string {
    // The default clock's milliseconds directly: its ISO text parsed back is the same number (a
    // write's instant used to be formatted, parsed and formatted again).
    let ms = this.now ? Date.parse(this.now()) : nextInstantMs();
    if (!Number.isFinite(ms)) throw new Error('The store clock returned an invalid instant');
    if (ms <= this.lastInstantMs) ms = this.lastInstantMs + 1;
    this.lastInstantMs = ms;
    return new Date(ms).toISOString();
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
}

/**
 * One name per index tuple, distinct for distinct keys (as `Tally.entry` names them: strings
 * length-prefixed, -0 apart from 0, null as its own kind).
 */
function hasNegativeZero(values: Array<Scalar | null>): boolean {
  for (const v of values) if (v === 0 && Object.is(v, -0)) return true;
  return false;
}

function tupleName(tuple: Array<Scalar | null>): string {
  let name = '';
  for (const v of tuple) name += v === null ? '|z' : typeof v === 'string' ? `|s${v.length}:${v}` : `|n${Object.is(v, -0) ? '-0' : v}`;
  return name;
}

/** Counter changes of one write request (index value counts, live resources per type, date spans). */
class Tally {
  /** Counter changes of compound values (and of -0), by a name per key. */
  readonly entries = new Map<string, { key: Key; delta: number }>();
  /** Counter changes of single values (never -0): index number → value → change; no name built per entry. */
  readonly values = new Map<number, Map<Scalar, { key: Key; delta: number }>>();

  value(n: number, v: Scalar, delta: number): void {
    let byValue = this.values.get(n);
    if (byValue === undefined) this.values.set(n, (byValue = new Map()));
    const e = byValue.get(v);
    if (e) e.delta += delta;
    else byValue.set(v, { key: [n, v], delta });
  }

  readonly live = new Map<string, number>();
  readonly spans = new Map<string, { key: Key; span: number }>();

  entry(n: number, values: Scalar[], delta: number): void {
    // One entry per key whatever the path that counts it: a single value's changes all go to
    // `values` (two entries of one key would be applied one after the other, each clamped at 0).
    if (values.length === 1 && !Object.is(values[0], -0)) return this.value(n, values[0], delta);
    // One name per key, distinct for distinct keys: strings are length-prefixed (a value holding
    // the separator cannot make two keys of a compound index share a counter), and -0 is kept apart.
    let name = String(n);
    for (const v of values) name += typeof v === 'string' ? `|s${v.length}:${v}` : `|n${Object.is(v, -0) ? '-0' : v}`;
    const e = this.entries.get(name);
    if (e) e.delta += delta;
    else this.entries.set(name, { key: [n, ...values], delta });
  }

  span(type: string, base: string, span: number): void {
    const name = `${type}\u0000${base}`;
    const e = this.spans.get(name);
    if (!e) this.spans.set(name, { key: ['span', type, base], span });
    else if (span > e.span) e.span = span;
  }
}

interface OrderedSource {
  field: string;
  /** When the walk is one value of an index, that condition needs no re-check. */
  driver?: PathCondition;
  /** The conditions the walk's own range already applies. */
  covers: Condition[];
  entries: Iterable<{ id: string; value: unknown }>;
}

/**
 * A filter compiled against one type: its index conditions, the most selective one, and the check
 * of a candidate (key look-ups for the other single-value conditions, then the whole filter).
 */
class Plan {
  scanned = 0;
  /** The filter as one indexed value (or values) the index answers whole, if it is that. */
  private readonly exact: { n: number; values: Scalar[] } | undefined;
  /** The filter is one indexed condition the index answers whole: the walk of `best` yields exactly its matches. */
  readonly walkAnswersFilter: boolean;
  /** The filter left to evaluate on a candidate's document (none when the index answers it whole). */
  private readonly rest: Record<string, unknown> | undefined;
  /** `rest` compiled by mingo, when the first candidate's document is checked (see `query`). */
  private compiled: FilterQuery | undefined;
  /** `rest`'s test without mingo when it is an identifier's `$elemMatch` (elem-match.ts); null: none. */
  private quick: QuickTest | null | undefined;
  private readonly pointChecks: Array<{ n: number; values: Scalar[]; condition: PathCondition }>;
  private readonly excludedIds: Set<string> | undefined;

  constructor(
    private readonly store: EmbeddedStore,
    private readonly type: string,
    readonly filter: Filter,
    readonly conditions: Condition[],
    readonly best: Condition | undefined,
    readonly estimate: number,
    byPath: Map<string, IndexDef>,
    readonly estimateOf: (c: Condition) => number,
    /** Exact entry counts of the point values the planner looked up (see `estimatePath`). */
    readonly pointCounts: Map<Interval, number>
  ) {
    this.pointChecks = [];
    for (const c of conditions) {
      if (c.kind !== 'path' || c.path === '_id' || c.path.includes('+') || c === best) continue;
      if (c.intervals.length > POINT_CHECK_VALUES || !c.intervals.every(isPoint)) continue;
      this.pointChecks.push({ n: byPath.get(c.path)!.n, values: c.intervals.map((i) => i.lo!.v), condition: c });
    }
    // Ids ruled out by `_id: {$nin}` (an organization's hidden patients, ~1,500 at 100k) are a Set
    // checked before the doc is read: mingo would build a hash of the whole list for every candidate.
    const { rest, excludedIds } = splitIdExclusions(filter);
    this.excludedIds = excludedIds;
    const exact = exactIndexed(rest, byPath);
    this.exact = exact;
    this.rest = exact || Object.keys(rest).length === 0 ? undefined : (rest as Record<string, unknown>);
    this.walkAnswersFilter =
      !excludedIds && best?.kind === 'path' && best.path === Object.keys(rest)[0] && (exact !== undefined || isIdList(rest));
  }

  /** The exact number of matches when the filter is one indexed value (counted from index entries; read when asked). */
  get exactSingleValue(): number | undefined {
    const exact = this.exact;
    return exact && !this.excludedIds && exact.values.length === 1 ? this.store.entryCount(exact.n, exact.values[0]) : undefined;
  }

  /**
   * Whether a record matches, from its index entries alone, when the filter is one indexed
   * condition the index holds whole (exactIndexed) of at most POINT_CHECK_VALUES values (a key
   * look-up each; a longer list is left to the filter's Set test), with or without excluded ids;
   * undefined otherwise.
   */
  indexDecides(): ((id: string) => boolean) | undefined {
    const exact = this.exact;
    if (!exact || exact.values.length > POINT_CHECK_VALUES) return undefined;
    const { n, values } = exact;
    // `_id: {$nin}` beside it (an organization caller's hidden patients) is a Set checked first.
    const excluded = this.excludedIds;
    if (values.length === 1) return excluded ? (id) => !excluded.has(id) && this.store.hasEntry(n, values[0], id) : (id) => this.store.hasEntry(n, values[0], id);
    return (id) => !excluded?.has(id) && values.some((v) => this.store.hasEntry(n, v, id));
  }

  /**
   * The plan certainly meets no record: its walk is of point values every one of which the index
   * counted 0 (exact counts, see `estimatePath`), so `candidates()` yields nothing.
   */
  get meetsNone(): boolean {
    const best = this.best;
    return best?.kind === 'path' && best.intervals.length > 0 && best.intervals.every((i) => this.pointCounts.get(i) === 0);
  }

  /** Whether the check of a candidate needs its document (a filter left to evaluate on it). */
  get needsDoc(): boolean {
    return this.rest !== undefined;
  }

  /**
   * The compiled filter, built when a candidate first needs it: compiling costs more than most
   * searches' whole walk (~2 % of a VXU's request thread, perf), and many plans meet no candidate
   * (a new child's look-ups and matching's blocking keys).
   */
  private get query(): FilterQuery | undefined {
    if (this.rest !== undefined && this.compiled === undefined) this.compiled = filterQuery(this.rest);
    return this.compiled;
  }

  /**
   * The live record with this id when it matches, read once; only for plans that need no document
   * (the index walk, key look-ups and id exclusions decide).
   */
  acceptedRecord(id: string, raw = false): ResourceRecord | undefined {
    this.scanned++;
    if (this.excludedIds?.has(id)) return undefined;
    for (const check of this.pointChecks) {
      if (!check.values.some((v) => this.store.hasEntry(check.n, v, id))) return undefined;
    }
    return this.store.liveRecord(this.type, id, raw);
  }

  /** Whether the live resource with this id matches. */
  /** The ids `best` covers, in index order; point values the planner counted 0 are not walked. */
  candidates(): Iterable<string> {
    return this.store.candidateIds(this.type, this.best, new Set(), this.pointCounts);
  }

  accepts(id: string): boolean {
    return this.acceptedDoc(id) !== undefined;
  }

  acceptedDoc(id: string, skip?: PathCondition): RecordDoc | undefined {
    this.scanned++;
    if (this.excludedIds?.has(id)) return undefined;
    for (const check of this.pointChecks) {
      if (check.condition === skip) continue;
      if (!check.values.some((v) => this.store.hasEntry(check.n, v, id))) return undefined;
    }
    const doc = this.store.liveDoc(this.type, id);
    if (!doc) return undefined;
    if (this.rest !== undefined) {
      this.quick ??= elemMatchTest(this.rest) ?? null;
      const decided = this.quick?.(doc);
      if (decided === false) return undefined;
      if (decided === undefined && this.query?.test(doc as unknown as Record<string, unknown>) === false) return undefined;
    }
    return doc;
  }
}

/**
 * The Set of a frozen id list, made once: an organization caller's hidden patients come as one
 * frozen list per data-sharing snapshot (src/consent/access.ts), ANDed onto every search of the
 * request, and making the Set again for each search cost ~400 µs with 1,500 ids and ~3.6 ms with
 * 15,000 (a VXU's matching runs ~8 such searches). A frozen array cannot change, so its Set stays
 * right; the Set is never handed out to be changed (a plan only asks `has`).
 */
const frozenIdSets = new WeakMap<readonly string[], Set<string>>();

/**
 * Takes `_id: {$nin: [ids]}` out of a filter (top level, or members of a top-level `$and`) as one
 * Set; what remains is evaluated as before. Anything else about `_id` stays in the filter.
 */
export function splitIdExclusions(filter: Filter): { rest: Filter; excludedIds: Set<string> | undefined } {
  const ids = (cond: unknown): string[] | undefined => {
    if (!cond || typeof cond !== 'object' || Array.isArray(cond)) return undefined;
    const ops = Object.keys(cond);
    const list = (cond as { $nin?: unknown }).$nin;
    if (ops.length !== 1 || ops[0] !== '$nin' || !Array.isArray(list)) return undefined;
    if (frozenIdSets.has(list)) return list as string[];
    return list.every((v) => typeof v === 'string') ? (list as string[]) : undefined;
  };
  const lists: string[][] = [];
  const exclude = (list: string[]) => {
    lists.push(list);
  };
  const rest: Filter = {};
  for (const [key, cond] of Object.entries(filter)) {
    const topIds = key === '_id' ? ids(cond) : undefined;
    if (topIds) {
      exclude(topIds);
      continue;
    }
    if (key === '$and' && Array.isArray(cond)) {
      const kept: unknown[] = [];
      for (const member of cond as unknown[]) {
        const only = member && typeof member === 'object' && !Array.isArray(member) && Object.keys(member).length === 1 ? ids((member as Filter)._id) : undefined;
        if (only) exclude(only);
        else kept.push(member);
      }
      if (kept.length === 0) continue;
      // One member left and nothing else at the top: the member itself (so exactIndexed can see it).
      if (kept.length === 1 && Object.keys(filter).length === 1 && kept[0] && typeof kept[0] === 'object' && !Array.isArray(kept[0])) {
        Object.assign(rest, kept[0] as Filter);
        continue;
      }
      rest.$and = kept;
      continue;
    }
    rest[key] = cond;
  }
  if (lists.length === 0) return { rest: filter, excludedIds: undefined };
  if (lists.length === 1 && Object.isFrozen(lists[0])) {
    let known = frozenIdSets.get(lists[0]);
    if (!known) frozenIdSets.set(lists[0], (known = new Set(lists[0])));
    return { rest, excludedIds: known };
  }
  const excluded = new Set<string>();
  for (const list of lists) for (const id of list) excluded.add(id);
  return { rest, excludedIds: excluded };
}

/** `{_id: v}` / `{_id: {$in: [ids]}}`: the primary keys answer it whole. */
function isIdList(filter: Filter): boolean {
  const keys = Object.keys(filter);
  if (keys.length !== 1 || keys[0] !== '_id') return false;
  const cond = filter._id;
  if (typeof cond === 'string') return true;
  if (!cond || typeof cond !== 'object' || Array.isArray(cond)) return false;
  const list = (cond as { $in?: unknown }).$in;
  return Object.keys(cond).length === 1 && Array.isArray(list) && list.every((v) => typeof v === 'string');
}

/**
 * `{path: v}` / `{path: {$in: [...]}}` on an indexed path, with values the index holds whole: the
 * index alone answers it (no filter evaluation needed), and one value's count is its entry count.
 */
function exactIndexed(filter: Filter, byPath: Map<string, IndexDef>): { n: number; values: Scalar[] } | undefined {
  const keys = Object.keys(filter);
  if (keys.length !== 1 || keys[0] === 'lastUpdated') return undefined;
  const def = byPath.get(keys[0]);
  if (!def || def.sort) return undefined;
  const whole = (v: unknown): v is Scalar =>
    (typeof v === 'string' && v.length <= MAX_INDEXED_CHARS) || (typeof v === 'number' && Number.isFinite(v));
  const cond = filter[keys[0]];
  if (whole(cond)) return { n: def.n, values: [cond] };
  if (cond && typeof cond === 'object' && !Array.isArray(cond)) {
    const ops = Object.keys(cond);
    const list = (cond as { $in?: unknown }).$in;
    if (ops.length === 1 && ops[0] === '$in' && Array.isArray(list) && list.length > 0 && list.every(whole)) {
      return { n: def.n, values: [...new Set(list)] };
    }
  }
  return undefined;
}

/** The key of a string point value's entry count in a search's `counted` map. */
function pointKey(n: number, v: string): string {
  return `${n}\u0000${v}`;
}

function countKey(resourceType: string, filter: Filter): string {
  // Regexes and dates are tagged (JSON.stringify would turn a RegExp into {} and a Date into a string).
  const tagged = (_: string, v: unknown) => (v instanceof RegExp ? { $re: v.source, $flags: v.flags } : v instanceof Date ? { $date: v.getTime() } : v);
  return `${resourceType}\u0000${JSON.stringify(filter, function (this: Record<string, unknown>, k) {
    return tagged(k, this[k]);
  })}`;
}

/**
 * A current version as the StoredDoc a filter is evaluated on, over bytes of its own: the search
 * values and the resource are parsed when first looked at. Lazy fields are getters of the class,
 * not accessors defined per object: a per-object accessor gives each doc its own hidden class in
 * the old generation, whose pointer to the young closure kept every doc, its strings and its parsed
 * resource alive through the next scavenge (~2 MB promoted per scavenge in a search loop, against
 * ~0.4 MB this way).
 */
class RecordDoc implements StoredDoc {
  readonly versionId: number;
  readonly lastUpdated: string;
  readonly deleted: boolean;
  private parsedS: SearchIndex | undefined;
  private parsedResource: Resource | null | undefined;

  constructor(
    private readonly resourceType: string,
    readonly _id: string,
    head: CurrentHead,
    private readonly buf: Buffer
  ) {
    this.versionId = head.versionId;
    this.lastUpdated = head.lastUpdated;
    this.deleted = head.deleted;
  }

  get s(): SearchIndex {
    return (this.parsedS ??= JSON.parse(currentSearchJson(this.buf)) as SearchIndex);
  }

  get resource(): Resource | null {
    if (this.parsedResource === undefined) {
      const json = currentResourceJson(this.buf);
      this.parsedResource = json === null ? null : (JSON.parse(json) as Resource);
    }
    return this.parsedResource;
  }

  /** The record a search returns: its resource parsed from these bytes (once), and the bytes of its JSON. */
  record(): ResourceRecord {
    const rec: ResourceRecord = { resourceType: this.resourceType, id: this._id, versionId: this.versionId, lastUpdated: this.lastUpdated, deleted: this.deleted };
    const resource = this.resource;
    if (resource !== null) {
      rec.resource = resource;
      rec.jsonBytes = currentResourceBytes(this.buf) ?? undefined;
    }
    return rec;
  }
}

/**
 * Orders keys as their ordered-binary encodings do where it matters for locality (null, then
 * numbers, then strings; element by element): puts in this order touch neighbouring B-tree pages.
 */
export function compareKeys(a: Key, b: Key): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    const rx = x === null ? 0 : typeof x === 'number' ? 1 : 2;
    const ry = y === null ? 0 : typeof y === 'number' ? 1 : 2;
    if (rx !== ry) return rx - ry;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** The current version as a record (a delete marker comes back with deleted: true); `raw`: its JSON text, not parsed. */
function currentRecord(resourceType: string, id: string, buf: Buffer, raw = false): ResourceRecord {
  const head = decodeCurrentHead(buf);
  const rec: ResourceRecord = { resourceType, id, versionId: head.versionId, lastUpdated: head.lastUpdated, deleted: head.deleted };
  const json = currentResourceJson(buf);
  if (json !== null) {
    if (raw) rec.json = json;
    else rec.resource = JSON.parse(json) as Resource;
  }
  return rec;
}

function sortDocs(docs: StoredDoc[], sort: SortKey[]): void {
  const keyed = docs.map((doc) => ({ doc, keys: sort.map((k) => sortValue(doc, k.field, k.direction)) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < sort.length; i++) {
      const c = compareValues(a.keys[i], b.keys[i]);
      if (c !== 0) return sort[i].direction === 1 ? c : -c;
    }
    return 0;
  });
  keyed.forEach((k, i) => (docs[i] = k.doc));
}

/** Key elements for one end of an interval (after the index number or type). */
function boundKey(bound: { v: Scalar; inclusive: boolean } | undefined, end: 'lo' | 'hi', unboundedLo: Scalar): Key {
  if (!bound) return [unboundedLo];
  let v = bound.v;
  let inclusive = bound.inclusive;
  if (typeof v === 'string' && v.length > MAX_INDEXED_CHARS) {
    v = v.slice(0, MAX_INDEXED_CHARS);
    inclusive = true; // cut values compare equal to the cut bound
  }
  if (end === 'lo') return inclusive ? [v] : [v, MAX_KEY_STRING];
  return inclusive ? [v, MAX_KEY_STRING] : [v];
}

/** The index number, and a compound's first-part value when the interval is under one. */
function head(n: number, interval: Interval): Key {
  return interval.prefix === undefined ? [n] : [n, truncated(interval.prefix)];
}

function startKey(n: number, interval: Interval): Key {
  return [...head(n, interval), ...boundKey(interval.lo, 'lo', interval.kind === 'string' ? '' : -Infinity)];
}

function endKey(n: number, interval: Interval): Key {
  if (interval.hi) return [...head(n, interval), ...boundKey(interval.hi, 'hi', '')];
  if (interval.prefix !== undefined) return [...head(n, interval), interval.kind === 'string' ? MAX_KEY_STRING : ''];
  return interval.kind === 'string' ? [n + 1] : [n, ''];
}

type HistoryEntry = { t: string; id: string; v: number; u: string };

/**
 * Merges walks that are each newest first into one, newest first: (lastUpdated, type, id, versionId)
 * descending. The walks are closed however the merge ends: an lmdb walk left open keeps its read
 * transaction, and LMDB then reuses no page freed after it (a `history(count: 1)` at start-up used
 * to pin one for the life of the process: the data file grew by every page every later commit
 * freed, ~10× the data during an ingest).
 */
function* mergeNewestFirst(walks: Iterable<HistoryEntry>[]): Generator<HistoryEntry> {
  const its = walks.map((w) => w[Symbol.iterator]());
  try {
    const heads = its.map((it) => it.next());
    const newer = (a: HistoryEntry, b: HistoryEntry): boolean =>
      a.u !== b.u ? a.u > b.u : a.t !== b.t ? a.t > b.t : a.id !== b.id ? a.id > b.id : a.v > b.v;
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (!h.done && (best < 0 || newer(h.value, (heads[best] as IteratorYieldResult<HistoryEntry>).value))) best = i;
      }
      if (best < 0) return;
      yield (heads[best] as IteratorYieldResult<HistoryEntry>).value;
      heads[best] = its[best].next();
    }
  } finally {
    for (const it of its) it.return?.();
  }
}

function* mapIterable<A, B>(source: Iterable<A>, fn: (a: A) => B): Generator<B> {
  for (const a of source) yield fn(a);
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function normaliseInstant(value: string): string {
  if (ISO_MS.test(value)) return value;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new Error(`Not an ISO instant: ${value}`);
  return new Date(ms).toISOString();
}

function preconditionFails(op: WriteOp, cur: { v: number; deleted: boolean } | undefined): VersionConflictError | undefined {
  const expected: VersionPrecondition = op.ifVersion ?? 'any';
  if (expected === 'any') return undefined;
  if (expected === 'absent') {
    if (!cur || cur.deleted) return undefined;
  } else if (cur && cur.v === expected) {
    return undefined;
  }
  return new VersionConflictError(op.resourceType, op.id, expected, cur?.v);
}
