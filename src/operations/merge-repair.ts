// Repair at start: Patients that `$merge` stored with an empty list before 38c99bf. Merging two
// records that carried no identifiers wrote the survivor with `identifier: []`, which FHIR R4 forbids
// (ele-1: no empty arrays): every answer showing it was R4-invalid (read, search, bulk export), and
// a client writing the record back as read had it refused. Since 38c99bf `$merge` leaves an empty
// list out; this gives each record stored before then a new version without it.
//
// Why a repair and not a fix on read: reads, searches and exports hand out the stored JSON as it is
// (raw bytes, never parsed on the hot paths), so a fix on read would cost every answer a parse to
// mend a few merged records. Only a `$merge` survivor can carry such a list, and every survivor has
// a same-person `link` (`replaces`), which the search index holds: the repair reads only the
// Patients with a link to another Patient (merges are rare), by id in pages, so a start with
// nothing to repair costs one indexed walk over the merged records. The versions stored before
// the repair stay in history as they were stored (history is never rewritten).
//
// - Idempotent: a record without an empty top-level list is left as it is; each repair is a new
//   version written against the version read (a write meanwhile: read again and judged as it is).
// - Runs in the background at start (src/server.ts), stopped by close(); audited as a system
//   change (one AuditEvent per page that repaired records, naming them).
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { AccessEvent } from '../audit/audit-event.js';
import type { Caller } from '../fhir/request.js';
import { indexFor } from '../interactions/write-support.js';
import type { Logger } from '../logger.js';
import { VersionConflictError, type ResourceRecord, type Store } from '../store/store.js';

/** Every relative Patient reference the search index holds for `link` (`Patient/` ≤ value < `Patient0`). */
const HAS_PATIENT_LINK = { 's.link': { $gte: 'Patient/', $lt: 'Patient0' } };

export const MERGE_REPAIR_CALLER: Caller = { sub: 'system:merge-empty-list-repair', scopes: [], scope: 'system/Patient.ru' };

export interface MergeRepairOptions {
  store: Store;
  /** Records the AuditEvent of a page that repaired records (AuditLog.recordAccess). */
  audit: (event: AccessEvent) => void;
  logger?: Logger;
  /** Linked Patients per page (default 200). */
  pageSize?: number;
  /** Checked between pages: true stops the run (the server is closing); the next start runs it again. */
  stopped?: () => boolean;
}

export interface MergeRepairResult {
  /** Linked Patients looked at. */
  examined: number;
  /** Records given a new version without their empty lists. */
  repaired: number;
}

export async function repairMergedEmptyLists(options: MergeRepairOptions): Promise<MergeRepairResult> {
  const { store } = options;
  const pageSize = Math.max(1, options.pageSize ?? 200);
  const result: MergeRepairResult = { examined: 0, repaired: 0 };
  let after = '';
  for (;;) {
    if (options.stopped?.()) break;
    const page = await store.search('Patient', {
      filter: after ? { ...HAS_PATIENT_LINK, _id: { $gt: after } } : HAS_PATIENT_LINK,
      sort: [{ field: '_id', direction: 1 }],
      limit: pageSize,
      raw: true,
    });
    const repaired: string[] = [];
    for (const record of page) {
      if (record.deleted || !mayHoldEmptyList(record)) continue;
      if (await repairRecord(store, record)) repaired.push(`Patient/${record.id}`);
    }
    result.examined += page.length;
    result.repaired += repaired.length;
    if (repaired.length > 0) {
      options.audit({
        caller: { ...MERGE_REPAIR_CALLER, clientId: 'iis-server' },
        interaction: 'update',
        resourceType: 'Patient',
        patientRefs: repaired,
        outcome: 200,
        outcomeDesc: `${repaired.length} merged Patient(s) stored with an empty list (identifier: [], FHIR ele-1) given a version without it`,
        requestId: randomUUID(),
      });
    }
    if (page.length < pageSize) break;
    after = page[page.length - 1].id;
  }
  if (result.repaired > 0) options.logger?.info('merged Patients with empty lists repaired', { ...result });
  return result;
}

/** The resource without its empty top-level lists, or undefined when it has none. */
export function withoutEmptyLists(resource: Resource): Resource | undefined {
  const entries = Object.entries(resource);
  if (!entries.some(([, value]) => Array.isArray(value) && value.length === 0)) return undefined;
  return Object.fromEntries(entries.filter(([, value]) => !(Array.isArray(value) && value.length === 0))) as unknown as Resource;
}

/** A cheap look at the stored JSON before parsing it: almost every record has no `[]` at all. */
function mayHoldEmptyList(record: ResourceRecord): boolean {
  if (record.resource) return withoutEmptyLists(record.resource) !== undefined;
  const text = record.json ?? (record.jsonBytes ? Buffer.from(record.jsonBytes.buffer, record.jsonBytes.byteOffset, record.jsonBytes.byteLength).toString('utf8') : '');
  if (!/:\s*\[\s*\]/.test(text)) return false;
  record.resource = JSON.parse(text) as Resource;
  return withoutEmptyLists(record.resource) !== undefined;
}

/** Writes the record again without its empty lists; a write meanwhile is read again. Answers whether it wrote. */
async function repairRecord(store: Store, first: ResourceRecord): Promise<boolean> {
  let record: ResourceRecord | undefined = first;
  for (let attempt = 0; attempt < 5 && record?.resource && !record.deleted; attempt++) {
    const fixed = withoutEmptyLists(record.resource);
    if (!fixed) return false;
    try {
      await store.write({ resourceType: 'Patient', id: record.id, resource: fixed, ifVersion: record.versionId, index: indexFor(fixed) });
      return true;
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      record = await store.read('Patient', record.id);
    }
  }
  return false;
}
