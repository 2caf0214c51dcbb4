// The narrow database API every interaction uses. Two implementations (embedded, MongoDB) keep
// one behaviour, proved by the shared contract suite in store-contract.test.ts.
//
// Stored document shape (both stores; search filters are MongoDB filter documents over it and are
// evaluated by MongoDB itself or, in the embedded store, by mingo):
//   { _id: <resource id>, versionId: number, lastUpdated: ISO-8601 UTC string with milliseconds,
//     deleted: boolean, resource: Resource | null, s: SearchIndex }
// Current versions live per resource type; every version (including deletes) is kept in history.
import type { Resource } from '@medplum/fhirtypes';
import type { ExpiringRecords } from './expiring.js';

/** Normalised search values extracted at write time (src/search). Keyed by search parameter code. */
export type SearchIndex = Record<string, unknown>;

/** A MongoDB filter document over StoredDoc fields (`_id`, `lastUpdated`, `s.<code>` …). */
export type Filter = Record<string, unknown>;

export interface StoredDoc {
  _id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  resource: Resource | null;
  s: SearchIndex;
}

/** One version of one resource as the store returns it. */
export interface ResourceRecord {
  resourceType: string;
  id: string;
  versionId: number;
  /** ISO-8601 UTC instant with milliseconds; also in resource.meta.lastUpdated. */
  lastUpdated: string;
  deleted: boolean;
  /** Absent for a delete marker. meta.versionId / meta.lastUpdated are set by the store. */
  resource?: Resource;
  /**
   * The stamped resource as JSON text, only from `scan`, `search` or `history` with `raw: true` (which may
   * then leave `resource` out; a scan with `rawBytes` may give `jsonBytes` instead): lets bulk
   * export stream resources without a parse/serialise round trip, and the matching engine look at
   * a candidate's birth date before parsing it.
   */
  json?: string;
  /**
   * The stamped resource's JSON as the store holds it (UTF-8, exactly `JSON.stringify(resource)`),
   * when a store has the bytes at hand: the embedded store's search results (beside `resource`) and
   * scans with `rawBytes` (instead of `json`). A response or an export copies them instead of
   * serialising the resource again. Read-only.
   */
  jsonBytes?: Uint8Array;
}

/**
 * Version precondition checked inside the write itself (race-safe):
 *  - 'any': no precondition (a plain update or create-or-update),
 *  - 'absent': the resource must not exist yet, or exist only as deleted (create),
 *  - number: the current versionId must equal it (If-Match, or what a transaction read).
 */
export type VersionPrecondition = 'any' | 'absent' | number;

export interface WriteOp {
  resourceType: string;
  id: string;
  /** The new content; absent means delete (a versioned delete marker). */
  resource?: Resource;
  ifVersion?: VersionPrecondition;
  /** Search values for the new content (ignored for deletes). */
  index?: SearchIndex;
  /**
   * Write nothing: only check `ifVersion` (a version number, required) inside the store's write,
   * as a write would, and give back the current record as `read` would. An internal caller that
   * found its content equal to the stored version uses it to keep the version precondition (the
   * record must not have changed, been deleted or merged away since it was read) without adding an
   * identical version. In a transaction a failing check rejects the whole request, like a failing
   * `ifVersion` of a write. `resource` may carry the (unchanged) content for access checks; it is
   * not stored.
   */
  verifyOnly?: boolean;
}

export interface SortKey {
  /** StoredDoc field path, e.g. `lastUpdated`, `_id`, `s.birthdate.lo`. */
  field: string;
  direction: 1 | -1;
}

export interface StoreQuery {
  filter: Filter;
  sort?: SortKey[];
  /** Maximum records to return. */
  limit: number;
  skip?: number;
  /**
   * Records may carry `json` (the stamped resource as JSON text) instead of `resource`; a hint
   * (a store may still parse), with the same records, limit and order as without it.
   */
  raw?: boolean;
}

export interface ScanOptions {
  /** Documents fetched (MongoDB) or examined (embedded) per step; the scan yields to the event loop between steps. Default 1000. */
  batchSize?: number;
  /** Only resources whose current version has lastUpdated >= since (ISO instant). */
  since?: string;
  /** Only resources whose current version has lastUpdated <= until (ISO instant), e.g. an export's transactionTime. */
  until?: string;
  /** Records carry `json` (the stamped resource as JSON text) and may leave `resource` out. */
  raw?: boolean;
  /**
   * With `raw`: a store that holds the JSON as UTF-8 bytes may give `jsonBytes` instead of `json`
   * (the embedded store does; bulk export writes them as they are). A hint: check for either.
   */
  rawBytes?: boolean;
  /**
   * Yield in ascending id order (byte order of the ids), so a scan can be resumed where it
   * stopped: bulk export checkpoints the last id written and resumes with `afterId`.
   */
  orderById?: boolean;
  /** Only resources whose id sorts after it (implies orderById). */
  afterId?: string;
}

export interface HistoryQuery {
  /** Absent: system history (all types). */
  resourceType?: string;
  /** With resourceType: instance history. */
  id?: string;
  /** System history only: keep versions of these types (absent: every type). */
  resourceTypes?: string[];
  /** Only versions with lastUpdated >= since (ISO instant). */
  since?: string;
  /** Only versions with lastUpdated <= at (ISO instant), for `_at`-style bounds. */
  before?: string;
  /**
   * Keyset cursor from a previous page: only entries strictly older than it in the
   * (lastUpdated desc, resourceType desc, id desc, versionId desc) order.
   */
  after?: HistoryCursor;
  count: number;
  /**
   * Records may carry `json` (the stamped resource as JSON text) instead of `resource`; a hint (a
   * store may still parse), with the same versions in the same order as without it.
   */
  raw?: boolean;
}

export interface HistoryCursor {
  lastUpdated: string;
  resourceType: string;
  id: string;
  versionId: number;
}

/**
 * The read side of a store: what search compilation, matching and includes need. The caller-scoped
 * view (src/consent/scoped-store.ts) implements it with the caller's access policy applied.
 */
export interface StoreReader {
  readonly kind: Store['kind'];
  read(resourceType: string, id: string): Promise<ResourceRecord | undefined>;
  vread(resourceType: string, id: string, versionId: number): Promise<ResourceRecord | undefined>;
  search(resourceType: string, query: StoreQuery): Promise<ResourceRecord[]>;
  count(resourceType: string, filter: Filter): Promise<number>;
  scan(resourceType: string, filter: Filter, options?: ScanOptions): AsyncIterable<ResourceRecord>;
}

export interface Store {
  readonly kind: 'embedded' | 'mongodb';
  /** True when transact() can commit several writes atomically. */
  readonly supportsTransactions: boolean;
  /**
   * True when several server processes may use the store at once (MongoDB), so what they must
   * agree on (failed sign-ins per address) is kept in the store; false when one process owns it
   * (the embedded store: one process per DATA_DIR), where that process's memory is enough.
   */
  readonly sharedByProcesses: boolean;

  /** Open, recover, create indexes. */
  init(): Promise<void>;
  /** Flush everything acknowledged and release resources. */
  close(): Promise<void>;
  /** Throws StoreUnavailableError when the store cannot answer. */
  ping(): Promise<void>;

  /** The current version (a delete marker comes back with deleted: true), or undefined. */
  read(resourceType: string, id: string): Promise<ResourceRecord | undefined>;
  vread(resourceType: string, id: string, versionId: number): Promise<ResourceRecord | undefined>;

  /** One versioned write. Throws VersionConflictError when ifVersion does not hold. */
  write(op: WriteOp): Promise<ResourceRecord>;
  /**
   * All or nothing: every precondition holds and every write lands, or nothing is stored.
   * Throws TransactionsUnsupportedError when supportsTransactions is false.
   */
  transact(ops: WriteOp[]): Promise<ResourceRecord[]>;

  /** Current, non-deleted resources matching the filter. */
  search(resourceType: string, query: StoreQuery): Promise<ResourceRecord[]>;
  /** Count without loading documents. */
  count(resourceType: string, filter: Filter): Promise<number>;
  /**
   * Every current, non-deleted resource of the type matching the filter, streamed: memory stays
   * flat whatever the number of matches (bulk export). Each resource that exists and matches
   * throughout the scan is yielded exactly once; resources written meanwhile may or may not be.
   * The order is the store's own (stable for unchanged data), not a sort order. Breaking out of
   * the loop releases the cursor.
   */
  scan(resourceType: string, filter: Filter, options?: ScanOptions): AsyncIterable<ResourceRecord>;

  /** Versions newest first, in the order of HistoryCursor. */
  history(query: HistoryQuery): Promise<ResourceRecord[]>;
  /**
   * Where the type's newest version stands in history (the first entry `history({ resourceType,
   * count: 1 })` returns), without reading its content; undefined when the type has none. A new
   * version of any resource of the type changes it: the data-sharing index compares it on every
   * request to know whether a Consent or a Patient was written since it last looked.
   */
  newestVersion(resourceType: string): Promise<HistoryCursor | undefined>;
  /** Count of versions a HistoryQuery (without cursor and count) would return. */
  historyCount(query: Omit<HistoryQuery, 'after' | 'count'>): Promise<number>;

  /**
   * Runs fn while holding an exclusive lock named key, across every server process sharing the
   * store (race-safe conditional create). A holder that crashed loses the lock after a timeout.
   */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;

  /**
   * A feature's short-lived records (expiring.ts: sessions, codes, refresh tokens of the sign-in
   * server), kept durably next to the resources but not as resources: no versions, no history, no
   * search; expired ones are never returned. `namespace`: lower-case letters, digits and `-`.
   */
  expiringRecords(namespace: string): ExpiringRecords;
}

/** A version precondition did not hold. */
export class VersionConflictError extends Error {
  constructor(
    readonly resourceType: string,
    readonly id: string,
    readonly expected: VersionPrecondition,
    readonly actual: number | undefined
  ) {
    super(
      `${resourceType}/${id}: expected version ${String(expected)}, found ${actual === undefined ? 'none' : actual}`
    );
    this.name = 'VersionConflictError';
  }
}

export class TransactionsUnsupportedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'TransactionsUnsupportedError';
  }
}

export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * `{ ...resource, id }`, the same object, built without V8's slow path for a property added to an
 * object literal after a spread (Node 20: ~1.8 µs for an Immunization whose copy gains its id,
 * ~11 µs for a 16-field request gaining 6, against ~0.14 µs here; writes make several such copies).
 * Object.assign copies the same own enumerable properties in the same order, and `id` keeps its
 * place when the resource has one. The one difference is an own "__proto__" key (JSON.parse makes
 * one from a body's `"__proto__"`): a spread defines it as data, Object.assign would set the copy's
 * prototype instead, so such a resource is copied by the spread as before. write-support.test.ts
 * compares both with fast-check.
 */
export function copyWithId<T extends object>(resource: T, id: string): T & { id: string } {
  if (Object.hasOwn(resource, '__proto__')) return { ...resource, id };
  const copy = Object.assign({}, resource) as T & { id: string };
  copy.id = id;
  return copy;
}

/** Sets meta.versionId and meta.lastUpdated on a copy of the resource. */
export function stampMeta(resource: Resource, id: string, versionId: number, lastUpdated: string): Resource {
  // The same object as `{ ...resource, id, meta: { ...resource.meta, versionId, lastUpdated } }`
  // (same keys in the same order), built as copyWithId builds its copy: without V8's slow path for a
  // spread followed by more properties (Node 20: ~4 µs instead of ~0.4 µs per write). A meta with an
  // own `__proto__` key is still spread (stamp-meta.test.ts compares the two).
  const meta = (resource.meta ?? {}) as object;
  if (Object.hasOwn(meta, '__proto__')) return stampMetaBySpread(resource, id, versionId, lastUpdated);
  const stamped = copyWithId(resource, id) as Resource & { meta: Record<string, unknown> };
  const stampedMeta = Object.assign({}, meta) as Record<string, unknown>;
  stampedMeta.versionId = String(versionId);
  stampedMeta.lastUpdated = lastUpdated;
  stamped.meta = stampedMeta;
  return stamped;
}

/** stampMeta by object spread (the reference for stampMeta, and its path for sources with an own `__proto__` key). */
export function stampMetaBySpread(resource: Resource, id: string, versionId: number, lastUpdated: string): Resource {
  return { ...resource, id, meta: { ...resource.meta, versionId: String(versionId), lastUpdated } } as Resource;
}

/** Strictly increasing ISO instants within one process, so versions never share a timestamp. */
let lastInstant = 0;
export function nextInstant(): string {
  return new Date(nextInstantMs()).toISOString();
}

/** `nextInstant` as epoch milliseconds (the same sequence: each call takes the next instant of either). */
export function nextInstantMs(): number {
  const now = Math.max(Date.now(), lastInstant + 1);
  lastInstant = now;
  return now;
}
