// The MongoDB store's journal: the `history` collection holds every version (including delete
// markers); the current document of a resource is derived from its newest history entry, so a
// write that crashed between the two is rolled forward from history alone.
import type { Resource } from '@medplum/fhirtypes';
import { toRecord } from '../records.js';
import { nextInstant, stampMeta, type Filter, type HistoryQuery, type ResourceRecord, type SearchIndex, type StoredDoc, type WriteOp } from '../store.js';

export const HISTORY_SORT = { lastUpdated: -1, resourceType: -1, id: -1, versionId: -1 } as const;

/** Collection names come from resource types: keep them to plain identifiers. */
const TYPE_PATTERN = /^[A-Z][A-Za-z0-9]{0,63}$/;

/** One entry of the `history` collection. */
export interface HistoryDoc {
  _id: string;
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  resource: Resource | null;
  /** Search values of this version, so a crashed write can be rolled forward from history alone. */
  s: SearchIndex;
}

export function checkType(resourceType: string): void {
  if (!TYPE_PATTERN.test(resourceType)) throw new Error(`invalid resource type for a collection name: "${resourceType}"`);
}

export function historyId(resourceType: string, id: string, versionId: number): string {
  return `${resourceType}/${id}/${versionId}`;
}

export function historyToRecord(doc: HistoryDoc): ResourceRecord {
  return toRecord(doc.resourceType, { ...doc, _id: doc.id });
}

export function currentFromHistory(h: HistoryDoc): StoredDoc {
  return { _id: h.id, versionId: h.versionId, lastUpdated: h.lastUpdated, deleted: h.deleted, resource: h.resource, s: h.s ?? {} };
}

/** The new version of op as history entry, current document and returned record. */
export function buildVersion(op: WriteOp, versionId: number): { hist: HistoryDoc; current: StoredDoc; record: ResourceRecord } {
  const lastUpdated = nextInstant();
  const deleted = op.resource === undefined;
  const resource = deleted ? null : stampMeta(op.resource as Resource, op.id, versionId, lastUpdated);
  const s = deleted ? {} : (op.index ?? {});
  const hist: HistoryDoc = {
    _id: historyId(op.resourceType, op.id, versionId),
    resourceType: op.resourceType,
    id: op.id,
    versionId,
    lastUpdated,
    deleted,
    resource,
    s,
  };
  const current: StoredDoc = { _id: op.id, versionId, lastUpdated, deleted, resource, s };
  return { hist, current, record: toRecord(op.resourceType, current) };
}

export function historyFilter(query: Omit<HistoryQuery, 'after' | 'count'>): Filter {
  const filter: Filter = {};
  if (query.resourceType !== undefined) {
    checkType(query.resourceType);
    filter.resourceType = query.resourceType;
    if (query.id !== undefined) filter.id = query.id;
  } else if (query.resourceTypes !== undefined) {
    for (const type of query.resourceTypes) checkType(type);
    filter.resourceType = { $in: [...query.resourceTypes] };
  }
  const range: Record<string, string> = {};
  if (query.since !== undefined) range.$gte = query.since;
  if (query.before !== undefined) range.$lte = query.before;
  if (Object.keys(range).length > 0) filter.lastUpdated = range;
  return filter;
}
