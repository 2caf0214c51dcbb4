// The caller-scoped store view: built once per request by the pipeline from the caller's token,
// and the only store a handler, an operation, a Bundle entry or an export scan ever sees. The
// access policy is applied here, inside every read path, so no code path can forget it:
//  - read / vread of a resource the caller may not see: 403 (with the data-sharing rule code),
//  - search / count / scan: the policy's filter ANDed onto the query (chains, `_has`, includes and
//    conditional matches all query through here), and search results checked once more,
//  - history: hidden versions left out (pages still fill up), no count that could reveal them,
//  - writes: content a patient/ token writes must stay inside its compartment.
import type { Patient, Resource } from '@medplum/fhirtypes';
import type {
  Filter,
  HistoryQuery,
  ResourceRecord,
  ScanOptions,
  Store,
  StoreQuery,
  StoreReader,
  WriteOp,
} from '../store/store.js';
import { findMatches } from '../matching/candidates.js';
import { extractSearchIndex } from '../search/extract.js';
import type { AccessPolicy } from './access.js';
import { asksAboutHiddenMember, hidesGroupMembers, withHiddenMembersKept, withoutHiddenMembers } from './group-members.js';
import { hidesPatientReferences, withHiddenPatientReferencesKept, withoutHiddenPatientReferences } from './patient-references.js';

/** Told about every committed write (e.g. the terminology code sets reload on a CodeSystem change). */
export type CommitObserver = (records: ResourceRecord[]) => void;

export class ScopedStore implements StoreReader {
  /** The unscoped store: a JavaScript private field, so not even a cast reaches it from a handler. */
  readonly #base: Store;
  /**
   * The current Patient versions this view read (read, search) as stored, before they were shown
   * reshaped: a handler writes a Patient back after reading it, so what the caller could not see
   * is put back from here without reading the record a second time.
   */
  readonly #patientsAsStored = new Map<string, Resource>();

  constructor(
    base: Store,
    readonly policy: AccessPolicy,
    private readonly onCommitted: CommitObserver = () => undefined,
    /** Resources this request read by id (including ones it was refused), for the AuditEvent. */
    readonly touched: Resource[] = []
  ) {
    this.#base = base;
  }

  get kind(): Store['kind'] {
    return this.#base.kind;
  }

  get supportsTransactions(): boolean {
    return this.#base.supportsTransactions;
  }

  /** The current version, or undefined; 403 when the caller may not see it. */
  async read(resourceType: string, id: string): Promise<ResourceRecord | undefined> {
    const record = await this.#base.read(resourceType, id);
    // A deletion has no content to check: whose it was decides (a 410 would tell the caller that
    // a hidden child's record existed, when it went, and how many versions it had).
    if (record?.deleted) await this.assertWasVisible(resourceType, id, record.versionId);
    const checked = this.checked(record);
    if (checked) this.rememberAsStored(checked);
    return this.shown(checked);
  }

  async vread(resourceType: string, id: string, versionId: number): Promise<ResourceRecord | undefined> {
    const record = await this.#base.vread(resourceType, id, versionId);
    // Likewise a version that does not exist (or is a deletion) of a hidden record: a 404 past the
    // last version would count a hidden child's changes.
    if (!record || record.deleted) await this.assertWasVisible(resourceType, id);
    return this.shown(this.checked(record));
  }

  async search(resourceType: string, query: StoreQuery): Promise<ResourceRecord[]> {
    // A search for one visible patient's records (`{'s.patient': 'Patient/x'}`, x not hidden)
    // already stays inside the policy: ANDing the policy's `$nin` of every hidden patient would
    // only make the store test each match against it. The results are checked below all the same.
    if (resourceType === 'Group' && hidesGroupMembers(this.policy) && asksAboutHiddenMember(query.filter, this.policy)) return [];
    const access = this.policy.accessFilter(resourceType);
    const filter = access && withinAccess(query.filter, access) ? query.filter : this.scoped(resourceType, query.filter);
    const records = await this.#base.search(resourceType, { ...query, filter });
    // The filter already hides what the policy hides; checking again costs little and guards
    // against a search value that was not indexed as the filter expects.
    if (!this.policy.restricts) return records;
    const visible = records.filter((r) => isVisible(r, this.policy));
    if (!reshapes(resourceType, this.policy)) return visible;
    for (const r of visible) this.rememberAsStored(r);
    return visible.map((r) => shownTo(r, this.policy));
  }

  count(resourceType: string, filter: Filter): Promise<number> {
    if (resourceType === 'Group' && hidesGroupMembers(this.policy) && asksAboutHiddenMember(filter, this.policy)) return Promise.resolve(0);
    return this.#base.count(resourceType, this.scoped(resourceType, filter));
  }

  scan(resourceType: string, filter: Filter, options?: ScanOptions): AsyncIterable<ResourceRecord> {
    // As in search: a scan that asks only allowed values of the field the policy constrains (a
    // population run reading the doses of a batch of visible patients) needs no $nin evaluated per
    // record. The fields involved are single-valued (a record's patient), so nothing hidden can match.
    // As search does, the records are still checked one by one when the $nin was left out.
    const access = this.policy.accessFilter(resourceType);
    if (resourceType === 'Group' && hidesGroupMembers(this.policy)) {
      return shown(this.#base.scan(resourceType, asksAboutHiddenMember(filter, this.policy) ? { _id: { $in: [] } } : filter, options), this.policy);
    }
    const records =
      !access || !withinAccess(filter, access)
        ? this.#base.scan(resourceType, this.scoped(resourceType, filter), options)
        : visibleOnly(this.#base.scan(resourceType, filter, options), this.policy);
    return reshapes(resourceType, this.policy) ? shown(records, this.policy) : records;
  }

  /**
   * Versions newest first, leaving out those the caller may not see. A page is filled from further
   * versions when some were hidden, so paging by the last returned entry neither stops early nor
   * repeats.
   */
  async history(query: HistoryQuery): Promise<ResourceRecord[]> {
    if (!this.policy.restricts) return this.#base.history(query);
    const kept: ResourceRecord[] = [];
    let after = query.after;
    for (;;) {
      const page = await this.#base.history({ ...query, after });
      for (const record of page) {
        if (record.resource ? !this.policy.visible(record.resource) : !(await this.wasVisible(record.resourceType, record.id, record.versionId))) continue;
        kept.push(shownTo(record, this.policy));
        if (kept.length === query.count) return kept;
      }
      if (page.length < query.count) return kept;
      const last = page[page.length - 1];
      after = { lastUpdated: last.lastUpdated, resourceType: last.resourceType, id: last.id, versionId: last.versionId };
    }
  }

  /** The number of versions, or undefined for a caller whose policy hides some (a count would reveal them). */
  async historyCount(query: Omit<HistoryQuery, 'after' | 'count'>): Promise<number | undefined> {
    if (this.policy.restricts) return undefined;
    return this.#base.historyCount(query);
  }

  async write(op: WriteOp): Promise<ResourceRecord> {
    this.checkWrite(op);
    op = await this.keepingHiddenMembers(op);
    const record = await this.#base.write(op);
    if (!op.verifyOnly) this.onCommitted([record]);
    return this.shown(record) as ResourceRecord;
  }

  async transact(ops: WriteOp[]): Promise<ResourceRecord[]> {
    for (const op of ops) this.checkWrite(op);
    ops = await Promise.all(ops.map((op) => this.keepingHiddenMembers(op)));
    const records = await this.#base.transact(ops);
    // A verify-only op wrote nothing: its record is no committed change.
    this.onCommitted(ops.some((op) => op.verifyOnly) ? records.filter((_, i) => !ops[i].verifyOnly) : records);
    return records.map((r) => shownTo(r, this.policy));
  }

  /**
   * The stored records hidden from this organization (data sharing No or Unknown) that `patient`
   * probably or certainly is: the same child registered elsewhere, which the caller's own
   * matching could not see. Only for the review mark a follow-up writes (hidden-duplicates.ts):
   * nothing of them may reach the caller's answer. None for callers who see every record.
   */
  async probableMatchesHiddenFromCaller(patient: Patient): Promise<ResourceRecord[]> {
    const hidden = this.policy.kind === 'organization' ? (this.policy.hiddenPatients ?? []) : [];
    if (hidden.length === 0) return [];
    // The blocking searches as the create's own matching runs them (bounded by their keys), the
    // hidden ones kept below: an `_id $in` of every hidden child could walk thousands of ids.
    const ranked = await findMatches(this.#base, patient, { excludeId: patient.id });
    const records: ResourceRecord[] = [];
    for (const candidate of ranked) {
      if (candidate.decision.grade !== 'certain' && candidate.decision.grade !== 'probable') continue;
      if (!hidden.includes(`Patient/${candidate.patient.id}`)) continue;
      const record = await this.#base.read('Patient', candidate.patient.id as string);
      if (record?.resource && !record.deleted && !this.policy.visible(record.resource)) records.push(record);
    }
    return records;
  }

  withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.#base.withLock(key, fn);
  }

  /** Throws 403 unless the policy lets the caller write this content. */
  checkWrite(op: WriteOp): void {
    // The content as it will be stored, with the op's id: the resource itself when it already
    // carries that id (the policies only read it; a spread copy per written resource was V8's slow
    // path on Node 20, a spread followed by a member).
    if (op.resource) this.policy.assertWritable(op.resource.id === op.id ? op.resource : ({ ...op.resource, id: op.id } as Resource));
  }

  /** A Group or Patient as this caller may see it (src/consent/group-members.ts, patient-references.ts). */
  private shown(record: ResourceRecord | undefined): ResourceRecord | undefined {
    return record && shownTo(record, this.policy);
  }

  /** A Group or Patient this caller writes keeps what the stored version names that the caller could not see. */
  private async keepingHiddenMembers(op: WriteOp): Promise<WriteOp> {
    // A create (ifVersion 'absent') has no stored version to keep anything of.
    if (!op.resource || op.verifyOnly || op.ifVersion === 'absent' || !reshapes(op.resourceType, this.policy)) return op;
    const stored = (op.resourceType === 'Patient' ? this.#patientsAsStored.get(op.id) : undefined) ?? (await this.#base.read(op.resourceType, op.id))?.resource;
    const kept =
      op.resourceType === 'Group'
        ? withHiddenMembersKept(op.resource, stored, this.policy)
        : withHiddenPatientReferencesKept(op.resource, stored, this.policy);
    if (op.resourceType === 'Patient') this.#patientsAsStored.set(op.id, kept ?? op.resource);
    return kept ? { ...op, resource: kept, index: extractSearchIndex(kept) } : op;
  }

  /** Keeps a current Patient version as stored, when this caller is shown Patients reshaped. */
  private rememberAsStored(record: ResourceRecord): void {
    if (record.resourceType !== 'Patient' || !record.resource || record.deleted || !reshapes('Patient', this.policy)) return;
    this.#patientsAsStored.set(record.id, record.resource);
  }

  /** 403 (as a read of it would be) when the record's last content is hidden from the caller. */
  private async assertWasVisible(resourceType: string, id: string, before?: number): Promise<void> {
    if (!this.policy.restricts) return;
    const content = await this.lastContent(resourceType, id, before);
    if (content) this.policy.assertVisible(content);
  }

  private async wasVisible(resourceType: string, id: string, before: number): Promise<boolean> {
    const content = await this.lastContent(resourceType, id, before);
    return !content || this.policy.visible(content);
  }

  /**
   * The content a deleted or missing version stands for: a Patient is its own id; any other type
   * its newest version with content (before `before`, else the current one's or, deleted, the
   * one before). Undefined when there never was any.
   */
  private async lastContent(resourceType: string, id: string, before?: number): Promise<Resource | undefined> {
    if (resourceType === 'Patient') return { resourceType: 'Patient', id };
    let versionId = before;
    if (versionId === undefined) {
      const current = await this.#base.read(resourceType, id);
      if (!current) return undefined;
      if (current.resource) return current.resource;
      versionId = current.versionId;
    }
    // A deletion follows a version with content (deleting a deleted record writes nothing), so
    // this looks back one version, rarely more.
    for (let v = versionId - 1; v >= 1; v--) {
      const earlier = await this.#base.vread(resourceType, id, v);
      if (earlier?.resource) return earlier.resource;
    }
    return undefined;
  }

  private checked(record: ResourceRecord | undefined): ResourceRecord | undefined {
    if (record?.resource) {
      this.touched.push(record.resource);
      this.policy.assertVisible(record.resource);
    }
    return record;
  }

  private scoped(resourceType: string, filter: Filter): Filter {
    const access = this.policy.accessFilter(resourceType);
    if (!access) return filter;
    if (Object.keys(filter).length === 0) return access;
    return { $and: [filter, access] };
  }
}

/** Whether records of this type are shown to the caller reshaped (hidden patients they name taken out). */
function reshapes(resourceType: string, policy: AccessPolicy): boolean {
  if (resourceType === 'Group') return hidesGroupMembers(policy);
  return resourceType === 'Patient' && hidesPatientReferences(policy);
}

/** The record as the caller may see it: Groups without hidden members, Patients without references to hidden patients. */
function shownTo(record: ResourceRecord, policy: AccessPolicy): ResourceRecord {
  if (!reshapes(record.resourceType, policy)) return record;
  return record.resourceType === 'Group' ? withoutHiddenMembers(record, policy) : withoutHiddenPatientReferences(record, policy);
}

async function* shown(records: AsyncIterable<ResourceRecord>, policy: AccessPolicy): AsyncIterable<ResourceRecord> {
  for await (const record of records) yield shownTo(record, policy);
}

async function* visibleOnly(records: AsyncIterable<ResourceRecord>, policy: AccessPolicy): AsyncIterable<ResourceRecord> {
  for await (const record of records) if (isVisible(record, policy)) yield record;
}

/**
 * The per-record check of search and scan. A raw record (stored JSON, no parsed resource) is parsed
 * for it and keeps the parsed resource, so the caller need not parse it again; only a deleted
 * record (no content at all) passes without a check, as it has nothing to show.
 */
function isVisible(record: ResourceRecord, policy: AccessPolicy): boolean {
  if (!record.resource && (record.json !== undefined || record.jsonBytes !== undefined)) {
    const bytes = record.jsonBytes;
    const text = record.json ?? Buffer.from(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength).toString('utf8');
    record.resource = JSON.parse(text) as Resource;
  }
  return !record.resource || policy.visible(record.resource);
}

/**
 * Whether `filter` alone keeps within `access`: it asks one value (or an `$in` list) of the very
 * field the access filter constrains (top-level keys are ANDed), and every value asked is the one
 * access allows or is not among those it excludes.
 */
export function withinAccess(filter: Filter, access: Filter): boolean {
  const fields = Object.keys(access);
  if (fields.length !== 1) return false;
  const field = fields[0]!;
  const asked = askedValues((filter as Record<string, unknown>)[field]);
  if (!asked) return false;
  const allowed = (access as Record<string, unknown>)[field];
  if (typeof allowed === 'string') return asked.every((v) => v === allowed);
  if (allowed && typeof allowed === 'object' && !Array.isArray(allowed)) {
    const ops = Object.keys(allowed);
    const excluded = (allowed as { $nin?: unknown }).$nin;
    if (ops.length !== 1 || !Array.isArray(excluded)) return false;
    const hidden = new Set(excluded);
    return asked.every((v) => !hidden.has(v));
  }
  return false;
}

/** The values a condition asks for: one string, or `{ $in: [strings…] }` (non-empty). */
function askedValues(condition: unknown): string[] | undefined {
  if (typeof condition === 'string') return [condition];
  if (!condition || typeof condition !== 'object' || Array.isArray(condition)) return undefined;
  const ops = Object.keys(condition);
  const list = (condition as { $in?: unknown }).$in;
  if (ops.length !== 1 || !Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string')) return undefined;
  return list as string[];
}
