// A tiny in-memory Store for the search tests: documents in the StoredDoc shape, filters evaluated
// by mingo (as in the embedded store), so the filter documents the compiler emits are proven.
import type { Resource } from '@medplum/fhirtypes';
import { find, Query } from 'mingo';
import {
  nextInstant,
  stampMeta,
  TransactionsUnsupportedError,
  VersionConflictError,
  type Filter,
  type HistoryCursor,
  type HistoryQuery,
  type ResourceRecord,
  type ScanOptions,
  type StoredDoc,
  type StoreQuery,
  type Store,
  type WriteOp,
} from '../store/store.js';
import { checkNamespace, MemoryExpiringRecords, type ExpiringRecords } from '../store/expiring.js';
import { extractSearchIndex } from './extract.js';

export class TestStore implements Store {
  readonly kind = 'embedded' as const;
  readonly sharedByProcesses = false;
  readonly supportsTransactions = false;
  readonly docs = new Map<string, Map<string, StoredDoc>>();
  /** Every query the store answered (type + filter), for assertions on what was pushed down. */
  readonly queries: Array<{ type: string; query: StoreQuery | { filter: Filter } }> = [];

  private readonly expiring = new Map<string, MemoryExpiringRecords>();

  expiringRecords(namespace: string): ExpiringRecords {
    let records = this.expiring.get(checkNamespace(namespace));
    if (!records) this.expiring.set(namespace, (records = new MemoryExpiringRecords()));
    return records;
  }

  async init(): Promise<void> {}
  async close(): Promise<void> {}
  async ping(): Promise<void> {}

  private table(type: string): Map<string, StoredDoc> {
    let t = this.docs.get(type);
    if (!t) this.docs.set(type, (t = new Map()));
    return t;
  }

  async read(resourceType: string, id: string): Promise<ResourceRecord | undefined> {
    const d = this.docs.get(resourceType)?.get(id);
    return d ? toRecord(resourceType, d) : undefined;
  }

  async vread(resourceType: string, id: string, versionId: number): Promise<ResourceRecord | undefined> {
    const r = await this.read(resourceType, id);
    return r?.versionId === versionId ? r : undefined;
  }

  async write(op: WriteOp): Promise<ResourceRecord> {
    const t = this.table(op.resourceType);
    const cur = t.get(op.id);
    const actual = cur ? cur.versionId : undefined;
    if (op.ifVersion === 'absent' && cur && !cur.deleted) throw new VersionConflictError(op.resourceType, op.id, 'absent', actual);
    if (typeof op.ifVersion === 'number' && (op.ifVersion !== actual || (op.verifyOnly && cur?.deleted))) {
      throw new VersionConflictError(op.resourceType, op.id, op.ifVersion, actual);
    }
    if (op.verifyOnly) {
      if (typeof op.ifVersion !== 'number') throw new Error('A verifyOnly WriteOp needs a version number');
      return toRecord(op.resourceType, cur as StoredDoc);
    }
    const versionId = (cur?.versionId ?? 0) + 1;
    const lastUpdated = nextInstant();
    const resource = op.resource ? stampMeta(op.resource, op.id, versionId, lastUpdated) : null;
    const doc: StoredDoc = {
      _id: op.id,
      versionId,
      lastUpdated,
      deleted: !op.resource,
      resource,
      s: op.resource ? (op.index ?? extractSearchIndex(resource as Resource)) : {},
    };
    t.set(op.id, doc);
    return toRecord(op.resourceType, doc);
  }

  async transact(): Promise<ResourceRecord[]> {
    throw new TransactionsUnsupportedError('test store');
  }

  async search(resourceType: string, query: StoreQuery): Promise<ResourceRecord[]> {
    this.queries.push({ type: resourceType, query });
    const docs = [...(this.docs.get(resourceType)?.values() ?? [])].filter((d) => !d.deleted);
    let cursor = find(docs, query.filter as Record<string, unknown>);
    if (query.sort && query.sort.length > 0) {
      cursor = cursor.sort(Object.fromEntries(query.sort.map((k) => [k.field, k.direction])));
    }
    if (query.skip) cursor = cursor.skip(query.skip);
    cursor = cursor.limit(query.limit);
    return (cursor.all() as unknown as StoredDoc[]).map((d) => toRecord(resourceType, d));
  }

  async count(resourceType: string, filter: Filter): Promise<number> {
    this.queries.push({ type: resourceType, query: { filter } });
    const q = new Query(filter as Record<string, unknown>);
    let n = 0;
    for (const d of this.docs.get(resourceType)?.values() ?? []) if (!d.deleted && q.test(d as unknown as Record<string, unknown>)) n++;
    return n;
  }

  async *scan(resourceType: string, filter: Filter, options: ScanOptions = {}): AsyncGenerator<ResourceRecord> {
    this.queries.push({ type: resourceType, query: { filter } });
    const q = new Query(filter as Record<string, unknown>);
    for (const d of [...(this.docs.get(resourceType)?.values() ?? [])]) {
      if (d.deleted || !q.test(d as unknown as Record<string, unknown>)) continue;
      if ((options.since && d.lastUpdated < options.since) || (options.until && d.lastUpdated > options.until)) continue;
      const r = toRecord(resourceType, d);
      if (options.raw) r.json = JSON.stringify(r.resource);
      yield r;
    }
  }

  async history(_query: HistoryQuery): Promise<ResourceRecord[]> {
    return [];
  }

  async newestVersion(): Promise<HistoryCursor | undefined> {
    return undefined;
  }

  async historyCount(): Promise<number> {
    return 0;
  }

  async withLock<T>(_key: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
}

function toRecord(resourceType: string, d: StoredDoc): ResourceRecord {
  const r: ResourceRecord = { resourceType, id: d._id, versionId: d.versionId, lastUpdated: d.lastUpdated, deleted: d.deleted };
  if (d.resource) r.resource = d.resource;
  return r;
}
