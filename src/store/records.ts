// Helpers both store implementations share: a write's version precondition, and a stored
// document as the ResourceRecord the Store interface returns.
import { VersionConflictError, type ResourceRecord, type StoredDoc, type VersionPrecondition, type WriteOp } from './store.js';

/** Throws VersionConflictError unless op.ifVersion holds for the current version (null: none). */
export function checkPrecondition(op: WriteOp, current: { versionId: number; deleted: boolean } | null): void {
  const expected: VersionPrecondition = op.ifVersion ?? 'any';
  if (expected === 'any') return;
  const actual = current?.versionId;
  const holds = expected === 'absent' ? current === null || current.deleted : actual === expected;
  if (!holds) throw new VersionConflictError(op.resourceType, op.id, expected, actual);
}

export function toRecord(resourceType: string, doc: Pick<StoredDoc, '_id' | 'versionId' | 'lastUpdated' | 'deleted' | 'resource'>): ResourceRecord {
  const record: ResourceRecord = {
    resourceType,
    id: doc._id,
    versionId: doc.versionId,
    lastUpdated: doc.lastUpdated,
    deleted: doc.deleted,
  };
  if (!doc.deleted && doc.resource) record.resource = doc.resource;
  return record;
}
