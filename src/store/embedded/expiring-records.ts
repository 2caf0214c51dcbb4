// Short-lived records (../expiring.ts) in the embedded store: the LMDB database `exp` of store.mdb,
// beside the resources. Keys (ordered-binary arrays):
//   ['r', namespace, key]                      → { v: value, x: expiresAt, l?: lookups }  (JSON)
//   ['x', namespace, expiresAt, key]           → null the expiry order `sweep` walks (only expired)
//   ['l', namespace, name, value, key]         → null lookups (findBy, listBy, removeBy)
// Every change is one write transaction of lmdb's batch, like the resources' writes: its promise
// resolves once the commit is on disk (overlappingSync off), and requests made in the same event
// turn share the commit.
import type { Database, RootDatabase } from 'lmdb';
import { checkFields, checkLookup, checkRecord, DEFAULT_LIST_LIMIT, DEFAULT_SWEEP_LIMIT, jsonCopy, type ExpiringRecord, type ExpiringRecords } from '../expiring.js';
import { MAX_KEY_STRING } from './layout.js';

/** lmdb's declared key type leaves out some of what ordered-binary encodes: keys are typed loosely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKey = any;

interface StoredRecord {
  v: Record<string, unknown>;
  x: number;
  l?: Record<string, string>;
}

/** What the store lends the records: its environment, its state check and its count of writes in flight. */
export interface ExpiringHost {
  env: RootDatabase;
  db: Database<StoredRecord | null, AnyKey>;
  /** Throws StoreUnavailableError unless the store is open for writes. */
  assertWritable(): void;
  /** Throws StoreUnavailableError unless the store can be read. */
  assertReadable(): void;
  /** Runs a write transaction the store waits for before it closes; resolves once it is on disk. */
  write(fn: () => void): Promise<void>;
}

export class EmbeddedExpiringRecords implements ExpiringRecords {
  constructor(
    private readonly host: ExpiringHost,
    private readonly ns: string,
    private readonly now: () => number = Date.now
  ) {}

  async put(record: ExpiringRecord): Promise<void> {
    checkRecord(record);
    this.host.assertWritable();
    const stored: StoredRecord = { v: jsonCopy(record.value), x: record.expiresAt, ...(record.lookups && Object.keys(record.lookups).length > 0 ? { l: { ...record.lookups } } : {}) };
    await this.host.write(() => {
      this.removeNow(record.key);
      const { db } = this.host;
      db.putSync(['r', this.ns, record.key], stored);
      db.putSync(['x', this.ns, stored.x, record.key], null as never);
      for (const [name, value] of Object.entries(stored.l ?? {})) db.putSync(['l', this.ns, name, value, record.key], null as never);
    });
  }

  async get(key: string): Promise<ExpiringRecord | undefined> {
    this.host.assertReadable();
    return this.live(key, this.now());
  }

  async findBy(name: string, value: string): Promise<ExpiringRecord | undefined> {
    checkLookup(name, value);
    this.host.assertReadable();
    const now = this.now();
    for (const k of this.lookupKeys(name, value)) {
      const key = String(k[4]);
      const record = this.live(key, now);
      if (record?.lookups?.[name] === value) return record;
    }
    return undefined;
  }

  async listBy(name: string, value: string, limit = DEFAULT_LIST_LIMIT): Promise<ExpiringRecord[]> {
    checkLookup(name, value);
    this.host.assertReadable();
    const now = this.now();
    const found: ExpiringRecord[] = [];
    for (const k of this.lookupKeys(name, value)) {
      if (found.length >= limit) break;
      const record = this.live(String(k[4]), now);
      if (record?.lookups?.[name] === value) found.push(record);
    }
    return found;
  }

  async update(key: string, fields: Record<string, unknown>): Promise<boolean> {
    checkFields(fields);
    this.host.assertWritable();
    const copy = jsonCopy(fields);
    let updated = false;
    await this.host.write(() => {
      const stored = this.host.db.get(['r', this.ns, key]);
      if (!stored || stored.x <= this.now()) return;
      this.host.db.putSync(['r', this.ns, key], { ...stored, v: { ...stored.v, ...copy } });
      updated = true;
    });
    return updated;
  }

  async remove(key: string): Promise<void> {
    this.host.assertWritable();
    await this.host.write(() => this.removeNow(key));
  }

  async take(key: string): Promise<ExpiringRecord | undefined> {
    this.host.assertWritable();
    let taken: ExpiringRecord | undefined;
    // Read and removal in one write transaction: LMDB runs write transactions one at a time.
    await this.host.write(() => {
      taken = this.live(key, this.now());
      this.removeNow(key);
    });
    return taken;
  }

  async removeBy(name: string, value: string): Promise<number> {
    checkLookup(name, value);
    this.host.assertWritable();
    let removed = 0;
    await this.host.write(() => {
      for (const k of [...this.lookupKeys(name, value)]) {
        const key = String(k[4]);
        const stored = this.host.db.get(['r', this.ns, key]);
        if (stored && stored.l?.[name] === value) {
          this.removeNow(key);
          removed++;
        } else {
          // An entry its record no longer has (cannot happen: put and remove keep them together).
          this.host.db.removeSync(k);
        }
      }
    });
    return removed;
  }

  async sweep(limit = DEFAULT_SWEEP_LIMIT): Promise<number> {
    this.host.assertWritable();
    let removed = 0;
    await this.host.write(() => {
      const now = this.now();
      // The expiry order holds [ns, expiresAt, key]: the walk stops at the first live record.
      const expired = [...this.host.db.getKeys({ start: ['x', this.ns, null] as AnyKey, end: ['x', this.ns, now, MAX_KEY_STRING], limit })] as AnyKey[];
      for (const k of expired) {
        const key = String(k[3]);
        const stored = this.host.db.get(['r', this.ns, key]);
        if (stored && stored.x === k[2]) this.removeNow(key);
        else this.host.db.removeSync(k);
        removed++;
      }
    });
    return removed;
  }

  private live(key: string, now: number): ExpiringRecord | undefined {
    const stored = this.host.db.get(['r', this.ns, key]);
    if (!stored || stored.x <= now) return undefined;
    return { key, value: jsonCopy(stored.v), expiresAt: stored.x, ...(stored.l ? { lookups: { ...stored.l } } : {}) };
  }

  private lookupKeys(name: string, value: string): Iterable<AnyKey> {
    return this.host.db.getKeys({ start: ['l', this.ns, name, value], end: ['l', this.ns, name, value, MAX_KEY_STRING] }) as Iterable<AnyKey>;
  }

  /** Inside a write transaction: the record and its expiry and lookup entries. */
  private removeNow(key: string): void {
    const { db } = this.host;
    const stored = db.get(['r', this.ns, key]);
    if (!stored) return;
    db.removeSync(['r', this.ns, key]);
    db.removeSync(['x', this.ns, stored.x, key]);
    for (const [name, value] of Object.entries(stored.l ?? {})) db.removeSync(['l', this.ns, name, value, key]);
  }
}
