// Short-lived keyed records next to the resources: what a front door keeps for minutes or hours
// (the sign-in server's sessions, authorization codes, grants and refresh tokens). Not resources:
// never versioned, never in history, search or export; each record expires and is then never
// returned again, and `sweep` removes expired ones by walking an expiry order (only the expired
// records, never the whole set). Both stores keep them durably: a put or a removal has reached
// the disk (embedded) or the write concern (MongoDB) when its promise resolves.
// One contract (expiring-contract.ts) runs against the embedded store, MongoDB and the in-memory
// version below.

export interface ExpiringRecord {
  /** The record's key, unique within its namespace. */
  key: string;
  /** The content: plain JSON data (objects, arrays, strings, finite numbers, booleans, null). */
  value: Record<string, unknown>;
  /** Milliseconds since the epoch; from then on the record is gone. */
  expiresAt: number;
  /**
   * Other keys the record is found (`findBy`) and removed (`removeBy`) by: name → value, e.g.
   * `{ grant: '…' }` for every record a grant owns. Names are letters and digits.
   */
  lookups?: Record<string, string>;
}

/** The short-lived records of one namespace (a feature: `signin`). */
export interface ExpiringRecords {
  /** Stores the record, replacing the one with the same key (and its lookups). */
  put(record: ExpiringRecord): Promise<void>;
  /** The live record under key, or undefined (never stored, removed or expired). */
  get(key: string): Promise<ExpiringRecord | undefined>;
  /** A live record whose lookup `name` is `value` (one of them when several are). */
  findBy(name: string, value: string): Promise<ExpiringRecord | undefined>;
  /**
   * Sets top-level fields of a live record's value (its expiry and lookups stay); false when there
   * is no live record under key. Field names are letters, digits and `_`.
   */
  update(key: string, fields: Record<string, unknown>): Promise<boolean>;
  /** Removes the record (absent: nothing to do). */
  remove(key: string): Promise<void>;
  /**
   * Removes the live record under key and returns it, in one atomic step: of two takes of the same
   * record, only one gets it (single-use credentials). Undefined when there is no live record.
   */
  take(key: string): Promise<ExpiringRecord | undefined>;
  /**
   * Every live record whose lookup `name` is `value`, at most `limit` of them (in no particular
   * order): what a process reads to learn the records other processes wrote (revoked tokens).
   */
  listBy(name: string, value: string, limit?: number): Promise<ExpiringRecord[]>;
  /** Removes every record, live or expired, whose lookup `name` is `value`; how many there were. */
  removeBy(name: string, value: string): Promise<number>;
  /** Removes up to `limit` expired records, earliest expiry first; how many it removed. */
  sweep(limit?: number): Promise<number>;
}

export const DEFAULT_SWEEP_LIMIT = 1000;
export const DEFAULT_LIST_LIMIT = 10_000;

const NAMESPACE = /^[a-z][a-z0-9-]{0,31}$/;
const LOOKUP_NAME = /^[A-Za-z][A-Za-z0-9]{0,31}$/;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Throws unless the namespace is lower-case letters, digits and `-` (it names storage). */
export function checkNamespace(namespace: string): string {
  if (!NAMESPACE.test(namespace)) throw new Error(`Invalid namespace of expiring records "${namespace}"`);
  return namespace;
}

/** Throws unless the record can be stored as given (a programming error otherwise). */
export function checkRecord(record: ExpiringRecord): void {
  if (typeof record.key !== 'string' || record.key === '' || record.key.length > 256) throw new Error('An expiring record needs a key of 1-256 characters');
  if (!Number.isFinite(record.expiresAt)) throw new Error(`Expiring record ${record.key}: expiresAt must be a number of milliseconds`);
  if (record.value === null || typeof record.value !== 'object' || Array.isArray(record.value)) throw new Error(`Expiring record ${record.key}: the value must be an object`);
  for (const [name, value] of Object.entries(record.lookups ?? {})) {
    checkLookup(name, value);
  }
}

export function checkLookup(name: string, value: string): void {
  if (!LOOKUP_NAME.test(name)) throw new Error(`Invalid lookup name "${name}"`);
  if (typeof value !== 'string' || value === '' || value.length > 256) throw new Error(`Lookup ${name}: the value must be a string of 1-256 characters`);
}

export function checkFields(fields: Record<string, unknown>): void {
  for (const name of Object.keys(fields)) if (!FIELD_NAME.test(name)) throw new Error(`Invalid field name "${name}"`);
}

/** A deep copy through JSON: what a store gives back is never the caller's object. */
export function jsonCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * Short-lived records in process memory, for stores that live in memory themselves (the search
 * tests' TestStore); same contract, nothing durable.
 */
export class MemoryExpiringRecords implements ExpiringRecords {
  private readonly records = new Map<string, ExpiringRecord>();

  constructor(private readonly now: () => number = Date.now) {}

  async put(record: ExpiringRecord): Promise<void> {
    checkRecord(record);
    this.records.set(record.key, jsonCopy({ key: record.key, value: record.value, expiresAt: record.expiresAt, ...(record.lookups ? { lookups: record.lookups } : {}) }));
  }

  async get(key: string): Promise<ExpiringRecord | undefined> {
    const record = this.records.get(key);
    return record && record.expiresAt > this.now() ? jsonCopy(record) : undefined;
  }

  async findBy(name: string, value: string): Promise<ExpiringRecord | undefined> {
    checkLookup(name, value);
    const now = this.now();
    for (const record of this.records.values()) if (record.lookups?.[name] === value && record.expiresAt > now) return jsonCopy(record);
    return undefined;
  }

  async listBy(name: string, value: string, limit = DEFAULT_LIST_LIMIT): Promise<ExpiringRecord[]> {
    checkLookup(name, value);
    const now = this.now();
    return [...this.records.values()].filter((r) => r.lookups?.[name] === value && r.expiresAt > now).slice(0, limit).map((r) => jsonCopy(r));
  }

  async update(key: string, fields: Record<string, unknown>): Promise<boolean> {
    checkFields(fields);
    const record = this.records.get(key);
    if (!record || record.expiresAt <= this.now()) return false;
    Object.assign(record.value, jsonCopy(fields));
    return true;
  }

  async remove(key: string): Promise<void> {
    this.records.delete(key);
  }

  async take(key: string): Promise<ExpiringRecord | undefined> {
    const record = this.records.get(key);
    this.records.delete(key);
    return record && record.expiresAt > this.now() ? record : undefined;
  }

  async removeBy(name: string, value: string): Promise<number> {
    checkLookup(name, value);
    let n = 0;
    for (const [key, record] of this.records) if (record.lookups?.[name] === value && this.records.delete(key)) n++;
    return n;
  }

  async sweep(limit = DEFAULT_SWEEP_LIMIT): Promise<number> {
    const now = this.now();
    const expired = [...this.records.values()].filter((r) => r.expiresAt <= now).sort((a, b) => a.expiresAt - b.expiresAt);
    for (const record of expired.slice(0, limit)) this.records.delete(record.key);
    return Math.min(limit, expired.length);
  }
}
