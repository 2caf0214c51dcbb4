// Runs one export job: per type, a store scan (the caller's data-sharing filter, the patient
// cohort and the `_typeFilter` queries ANDed/ORed into one filter document, resources changed
// after transactionTime left for the next `_since` export) streamed as NDJSON into rotated files.
// A finished type is a checkpoint: a job taken over after a crash resumes with the next type.
import { randomUUID } from 'node:crypto';
import type { Bundle, Group, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { accessPolicyFor } from '../consent/access.js';
import { localReference } from '../consent/data-sharing.js';
import { ScopedStore } from '../consent/scoped-store.js';
import type { SharingIndex } from '../consent/sharing-index.js';
import { parseQuery } from '../fhir/url.js';
import { and, compileCriteria, type CompileContext } from '../search/compile.js';
import { extractSearchIndex } from '../search/extract.js';
import { parseCriteria } from '../search/parse.js';
import { scanPredicate } from '../store/filter-predicate.js';
import type { FileStore } from '../store/files.js';
import { isFhirError } from '../fhir/outcome.js';
import type { Filter, HistoryCursor, ResourceRecord, Store, StoredDoc, StoreReader } from '../store/store.js';
import type { BulkOptions } from './config.js';
import { elementsShaper } from './elements.js';
import { exportUpperBound, type ExportCursor, type ExportFile, type ExportJob } from './jobs.js';
import { NdjsonWriter, type LineFormat, type WrittenFile } from './ndjson.js';

/** Patients per scan when the export is limited to a cohort (Group members, `patient`). */
const COHORT_CHUNK = 5000;
const HISTORY_PAGE = 1000;

export interface ExportDeps {
  store: Store;
  files: FileStore;
  sharing: SharingIndex;
  baseUrl: string;
  options: BulkOptions;
  /** Job kinds other than exports (ExportJob.task), by name; registered by src/app. */
  tasks?: ReadonlyMap<string, JobTask>;
}

/** What a registered task gets to run one job. */
export interface JobTaskContext {
  job: ExportJob;
  /** The store as the job's caller sees it (its data-sharing policy applied to every read). */
  store: StoreReader;
  baseUrl: string;
  signal: AbortSignal;
  /**
   * A writer for the job's files named `<stem>-<n>.ndjson`, or of another line format
   * (`<stem>-<n>.<extension>`, e.g. CSV), written one file at a time so the files keep the lines' order.
   */
  output(stem: string, format?: LineFormat): NdjsonWriter;
  progress(p: ExportProgress): void;
}

/** Runs one job of a task kind; answers the files it wrote (section, type, and `of` for the scope check on download). */
export type JobTask = (ctx: JobTaskContext) => Promise<ExportFile[]>;

/** Runs a job: a registered task, or an export. */
export async function runJob(job: ExportJob, deps: ExportDeps, hooks: ExportHooks): Promise<ExportFile[]> {
  if (!job.task) return runExport(job, deps, hooks);
  const task = deps.tasks?.get(job.task.kind);
  if (!task) throw new Error(`no task "${job.task.kind}" is registered on this server`);
  const policy = await accessPolicyFor({ organization: job.organization, scopes: [], scope: '' }, undefined, deps.sharing);
  return task({
    job,
    store: new ScopedStore(deps.store, policy),
    baseUrl: deps.baseUrl,
    signal: hooks.signal,
    output: (stem, format) => new NdjsonWriter(format ? { ...writerOptions(job, deps, stem), format, lanes: 1 } : writerOptions(job, deps, stem)),
    progress: hooks.progress,
  });
}

export interface ExportProgress {
  type: string;
  index: number;
  exported: number;
  total?: number;
}

export interface ExportHooks {
  signal: AbortSignal;
  /** Called as resources are written (cheap: the caller samples it on its heartbeat). */
  progress(p: ExportProgress): void;
  /** Called when a type's files are complete; the job records them before the next type starts. */
  checkpoint(type: string, files: ExportFile[]): Promise<void>;
  /**
   * Called when files of the type in progress are closed: the job records them together with the
   * resume point they reach, before the export goes on.
   */
  part(files: ExportFile[], cursor: ExportCursor): Promise<void>;
}

/** Exports every type of the job not done yet; returns the error files (OperationOutcome lines). */
export async function runExport(job: ExportJob, deps: ExportDeps, hooks: ExportHooks): Promise<ExportFile[]> {
  // Every read of the export goes through the store view scoped to the job's caller: an
  // organization's export never holds patients whose data sharing is No or Unknown.
  const policy = await accessPolicyFor({ organization: job.organization, scopes: [], scope: '' }, undefined, deps.sharing);
  const view = new ScopedStore(deps.store, policy);
  const problems: OperationOutcome[] = [];
  const cohort = await resolveCohort(job, view, problems);
  const compile: CompileContext = { store: view, baseUrl: deps.baseUrl };

  if (job.organizeOutputBy && !job.done.includes(ORGANIZED)) {
    throwIfAborted(hooks.signal);
    const files: ExportFile[] = (await writeOrganized(job, cohort, view, compile, deps, hooks)).map((f) => ({ ...f, section: 'output' as const, type: 'Patient', of: job.types.join(',') }));
    if (job.since !== undefined) {
      for (const type of job.types) {
        const deleted = await writeDeleted(job, type, await filtersFor(job, type, cohort, compile), view, deps, hooks);
        files.push(...deleted.map((f) => ({ ...f, section: 'deleted' as const, type: 'Bundle', of: type })));
      }
    }
    await hooks.checkpoint(ORGANIZED, files);
  }

  for (let index = 0; index < job.types.length; index++) {
    const type = job.types[index];
    if (job.done.includes(type) || job.organizeOutputBy) continue;
    throwIfAborted(hooks.signal);
    const filters = await filtersFor(job, type, cohort, compile);
    const files: ExportFile[] = [];
    const outputs = await writeType(job, type, index, filters, view, deps, hooks);
    files.push(...outputs.map((f) => outputFile(f, type)));
    if (job.since !== undefined) {
      const deleted = await writeDeleted(job, type, filters, view, deps, hooks);
      files.push(...deleted.map((f) => ({ ...f, section: 'deleted' as const, type: 'Bundle', of: type })));
    }
    await hooks.checkpoint(type, files);
  }

  if (problems.length === 0) return [];
  const writer = new NdjsonWriter(writerOptions(job, deps, 'OperationOutcome'));
  for (const p of problems) if (writer.push(JSON.stringify(p))) await writer.flush();
  const written = await writer.close();
  return written.map((f) => ({ ...f, section: 'error' as const, type: 'OperationOutcome', of: 'OperationOutcome' }));
}

function outputFile(f: WrittenFile, type: string): ExportFile {
  return { ...f, section: 'output', type, of: type };
}

/** The number after the last file `<job>/<stem>-<n>.ndjson` the job already has (1 when none). */
function nextFileNumber(job: ExportJob, stem: string): number {
  const prefix = `${job.id}/${stem}-`;
  let last = 0;
  for (const f of job.files) {
    if (!f.name.startsWith(prefix)) continue;
    const n = /^(\d+)\.ndjson$/.exec(f.name.slice(prefix.length));
    if (n) last = Math.max(last, Number(n[1]));
  }
  return last + 1;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
}

function writerOptions(job: ExportJob, deps: ExportDeps, stem: string) {
  return {
    files: deps.files,
    prefix: `${job.id}/${stem}`,
    compression: job.compression,
    gzipLevel: deps.options.gzipLevel,
    maxLines: deps.options.fileMaxLines,
    maxBytes: deps.options.fileMaxBytes,
    lanes: job.compression === 'gzip' ? deps.options.gzipStreams : 1,
  };
}

/**
 * The patient ids the export is limited to (Group members, the `patient` parameter), or undefined
 * for every patient. Patients named by `patient` that the caller cannot see (unknown, deleted, or
 * hidden by their data-sharing choice) are reported alike, so nothing is revealed about them.
 */
async function resolveCohort(job: ExportJob, view: ScopedStore, problems: OperationOutcome[]): Promise<string[] | undefined> {
  let ids: string[] | undefined;
  if (job.level === 'group' && job.groupId) {
    const rec = await view.read('Group', job.groupId);
    if (!rec?.resource || rec.deleted) throw new Error(`Group/${job.groupId} no longer exists`);
    const members = new Set<string>();
    for (const m of (rec.resource as Group).member ?? []) {
      if (m.inactive) continue;
      // Relative, versioned (`Patient/1/_history/2`) or absolute: the same member (as $reminder-recall reads it).
      const patient = localReference('Patient', m.entity?.reference);
      if (patient) members.add(patient.slice('Patient/'.length));
    }
    ids = [...members];
    if (job.patients) {
      const listed = new Set(job.patients);
      for (const p of job.patients) {
        if (!members.has(p)) problems.push(problemOf(`Patient/${p} is not an active member of Group/${job.groupId}`));
      }
      ids = ids.filter((id) => listed.has(id));
    }
  } else if (job.patients) {
    ids = [...job.patients];
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += COHORT_CHUNK) {
      const chunk = ids.slice(i, i + COHORT_CHUNK);
      for await (const r of view.scan('Patient', { _id: { $in: chunk } }, { raw: true })) found.add(r.id);
    }
    for (const id of ids) if (!found.has(id)) problems.push(problemOf(`Patient/${id} is not known to this server or not visible to this client`));
    ids = ids.filter((id) => found.has(id));
  }
  // Sorted: the cohort's chunks (one scan each) are the same at every attempt, so a resume point
  // (scan number, id) means the same thing to the process that takes the job over.
  return ids?.sort();
}

function problemOf(text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'not-found', diagnostics: text, details: { text } }] };
}

/** One filter per scan: the cohort (in chunks) and the ORed `_typeFilter` queries (the view adds the access filter). */
async function filtersFor(job: ExportJob, type: string, cohort: string[] | undefined, compile: CompileContext): Promise<Filter[]> {
  const typeFilter = await typeFilterOf(job, type, compile);
  if (!cohort) return [and([typeFilter])];
  const out: Filter[] = [];
  for (let i = 0; i < cohort.length; i += COHORT_CHUNK) {
    const chunk = cohort.slice(i, i + COHORT_CHUNK);
    const param: [string, string] = type === 'Patient' ? ['_id', chunk.join(',')] : ['patient', chunk.map((id) => `Patient/${id}`).join(',')];
    const members = await compileCriteria(type, parseCriteria(type, [param], compile.baseUrl), compile);
    out.push(and([members, typeFilter]));
  }
  return out;
}

/** The checkpoint name (job.done, job.cursor.type) of an organized export's patient blocks. */
const ORGANIZED = 'organizeOutputBy=Patient';
/** Most patients whose blocks are gathered at once (their resources are held in memory together); BULK_BATCH_SIZE when smaller. */
const BLOCK_BATCH = 200;
const PATIENT_REFERENCE = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})$/;

/** The patient a compartment resource belongs to (Immunization.patient, Consent.patient, Condition.subject). */
function patientOf(resource: Record<string, unknown>): string | undefined {
  const ref = ((resource.patient ?? resource.subject) as { reference?: unknown } | undefined)?.reference;
  return typeof ref === 'string' ? PATIENT_REFERENCE.exec(ref)?.[1] : undefined;
}

/**
 * Organized output (`organizeOutputBy=Patient`): files of patient blocks, each a header
 * `Parameters` naming the patient, then the Patient, then the patient's resources of the other
 * requested types. The patients the caller may see (the cohort, data sharing) are walked in id
 * order; for each batch of them, every type is scanned once with its own filters and the
 * `_since`/`_until` window, and the lines are grouped by patient. A patient with nothing to export
 * gets no block. A block never straddles two files: a file is closed before a block that would
 * take it past BULK_FILE_MAX_LINES. Each closed file is committed with the last patient it holds
 * (job.cursor), so a takeover continues with the next patient.
 */
async function writeOrganized(job: ExportJob, cohort: string[] | undefined, view: ScopedStore, compile: CompileContext, deps: ExportDeps, hooks: ExportHooks): Promise<WrittenFile[]> {
  const { options } = deps;
  const stem = 'patients';
  const resume = job.cursor?.type === ORGANIZED ? job.cursor : undefined;
  const writer = new NdjsonWriter({ ...writerOptions(job, deps, stem), lanes: 1, firstNumber: nextFileNumber(job, stem) });
  const since = sinceBound(job.since);
  const until = exportUpperBound(job);
  const typeFilters = new Map<string, Filter | undefined>();
  for (const type of job.types) typeFilters.set(type, await typeFilterOf(job, type, compile));
  const shapers = new Map(job.types.map((t) => [t, elementsShaper(t, job.elements)]));
  const committed = new Set<string>();
  let exported = resume?.exported ?? 0;
  const progress = () => hooks.progress({ type: 'Patient blocks', index: 0, exported });
  progress();

  const commits = commitPacer(options);
  const commit = async (scan: number, afterId: string) => {
    const part = await writer.takePart();
    await hooks.part(part.map((f) => ({ ...f, section: 'output' as const, type: 'Patient', of: job.types.join(',') })), { type: ORGANIZED, scan, afterId, exported });
    for (const f of part) committed.add(f.name);
  };

  const writeBatch = async (scan: number, ids: string[], lastBefore: string | undefined): Promise<string | undefined> => {
    const lines = new Map<string, Array<string | Uint8Array>>(ids.map((id) => [id, []]));
    for (const type of job.types) {
      const param: [string, string] = type === 'Patient' ? ['_id', ids.join(',')] : ['patient', ids.map((id) => `Patient/${id}`).join(',')];
      const members = await compileCriteria(type, parseCriteria(type, [param], compile.baseUrl), compile);
      const shape = shapers.get(type);
      for await (const rec of view.scan(type, and([members, typeFilters.get(type)]), { raw: true, since, until, batchSize: options.batchSize, orderById: true })) {
        const text = rec.json ?? (rec.jsonBytes ? Buffer.from(rec.jsonBytes).toString('utf8') : JSON.stringify(rec.resource));
        const resource = JSON.parse(text) as Record<string, unknown>;
        const owner = type === 'Patient' ? rec.id : patientOf(resource);
        const block = owner === undefined ? undefined : lines.get(owner);
        if (!block) continue; // another patient's (a resource naming several)
        block.push(shape ? JSON.stringify(shape(resource as unknown as Resource)) : text);
      }
    }
    let last = lastBefore;
    for (const id of ids) {
      const block = lines.get(id) as Array<string | Uint8Array>;
      if (block.length > 0) {
        await writer.keepTogether(block.length + 1);
        if (writer.partReady && commits.due()) await commit(scan, last ?? '');
        writer.push(JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'header', valueReference: { reference: `Patient/${id}` } }] }));
        for (const line of block) writer.push(line);
        await writer.flush();
        exported += block.length;
        if (writer.partReady && commits.due()) await commit(scan, id);
      }
      last = id;
    }
    progress();
    throwIfAborted(hooks.signal);
    if (options.throttleMs > 0) await new Promise((r) => setTimeout(r, options.throttleMs));
    return last;
  };

  try {
    const scans = cohortScans(cohort);
    for (let scan = resume?.scan ?? 0; scan < scans.length; scan++) {
      const afterId = scan === resume?.scan ? resume.afterId : undefined;
      let last = afterId;
      let batch: string[] = [];
      const members = scans[scan] === undefined ? {} : await compileCriteria('Patient', parseCriteria('Patient', [['_id', (scans[scan] as string[]).join(',')]], compile.baseUrl), compile);
      // Every patient the caller may see, changed or not: with `_since` a block may hold only
      // resources changed in the window.
      for await (const rec of view.scan('Patient', members, { raw: true, batchSize: options.batchSize, orderById: true, afterId })) {
        batch.push(rec.id);
        if (batch.length >= Math.min(BLOCK_BATCH, options.batchSize)) {
          last = await writeBatch(scan, batch, last);
          batch = [];
        }
      }
      if (batch.length > 0) last = await writeBatch(scan, batch, last);
    }
    throwIfAborted(hooks.signal);
    const files = await writer.takePart();
    progress();
    return files;
  } catch (err) {
    for (const f of await writer.abort()) if (!committed.has(f.name)) await deps.files.remove(f.name).catch(() => undefined);
    throw err;
  }
}

/**
 * When closed files are committed (one job write each time): the first at once, then at most once
 * per heartbeat period (a third of the lease). Files closed in between wait for the next commit;
 * a takeover redoes at most that much. Committing every file would write the job (and, on
 * MongoDB, its history) once per file, which small BULK_FILE_MAX_LINES make a lot of writes.
 */
function commitPacer(options: BulkOptions): { due(): boolean } {
  let last = 0;
  return {
    due() {
      const now = Date.now();
      if (now - last < options.leaseMs / 3) return false;
      last = now;
      return true;
    },
  };
}

/** The cohort in chunks of COHORT_CHUNK ids, or one unlimited scan ([undefined]). */
function cohortScans(cohort: string[] | undefined): Array<string[] | undefined> {
  if (!cohort) return [undefined];
  const out: string[][] = [];
  for (let i = 0; i < cohort.length; i += COHORT_CHUNK) out.push(cohort.slice(i, i + COHORT_CHUNK));
  return out;
}

/** The type's `_typeFilter` queries, ORed (undefined when it has none). */
async function typeFilterOf(job: ExportJob, type: string, compile: CompileContext): Promise<Filter | undefined> {
  const queries = job.typeFilters.filter((f) => f.type === type);
  if (queries.length === 0) return undefined;
  const branches: Filter[] = [];
  for (const q of queries) branches.push(await compileCriteria(type, parseCriteria(type, parseQuery(q.query), compile.baseUrl), compile));
  return branches.length === 1 ? branches[0] : { $or: branches };
}

/** Exclusive `_since` as the store's inclusive bound (instants have millisecond precision). */
function sinceBound(since: string | undefined): string | undefined {
  return since === undefined ? undefined : new Date(Date.parse(since) + 1).toISOString();
}

/**
 * The type's resources, scan by scan in id order. Whenever files close at their limits, they are
 * committed (hooks.part) with the id of the last resource written: a job taken over after a crash
 * continues after it (job.cursor), with no resource lost or written twice. The last files are
 * returned for the type's own checkpoint.
 */
async function writeType(job: ExportJob, type: string, index: number, filters: Filter[], store: ScopedStore, deps: ExportDeps, hooks: ExportHooks): Promise<WrittenFile[]> {
  const { options } = deps;
  const shape = elementsShaper(type, job.elements);
  const resume = job.cursor?.type === type ? job.cursor : undefined;
  const writer = new NdjsonWriter({ ...writerOptions(job, deps, type), firstNumber: nextFileNumber(job, type) });
  const since = sinceBound(job.since);
  let total: number | undefined;
  if (store.kind === 'embedded' && !job.since && !job.until) {
    // Counting is cheap in memory (and only an estimate: changes after transactionTime are left out).
    total = 0;
    for (const f of filters) total += await store.count(type, f);
  }
  const committed = new Set<string>();
  const commits = commitPacer(options);
  let exported = resume?.exported ?? 0;
  hooks.progress({ type, index, exported, total });
  try {
    for (let scan = resume?.scan ?? 0; scan < filters.length; scan++) {
      const afterId = scan === resume?.scan ? resume.afterId : undefined;
      const scanOptions = { raw: !shape, rawBytes: !shape, since, until: exportUpperBound(job), batchSize: options.batchSize, orderById: true, afterId };
      for await (const rec of store.scan(type, filters[scan], scanOptions)) {
        let line: string | Uint8Array;
        if (shape) line = JSON.stringify(shape(rec.resource ?? (JSON.parse(rec.json ?? Buffer.from(rec.jsonBytes as Uint8Array).toString('utf8')) as Resource)));
        else line = rec.jsonBytes ?? rec.json ?? JSON.stringify(rec.resource);
        ++exported;
        if (writer.push(line)) {
          await writer.flush();
          if (writer.partReady && commits.due()) {
            const part = await writer.takePart();
            await hooks.part(part.map((f) => outputFile(f, type)), { type, scan, afterId: rec.id, exported });
            for (const f of part) committed.add(f.name);
          }
        }
        if (exported % options.batchSize === 0) {
          hooks.progress({ type, index, exported, total });
          throwIfAborted(hooks.signal);
          if (options.throttleMs > 0) await new Promise((r) => setTimeout(r, options.throttleMs));
        }
      }
    }
    throwIfAborted(hooks.signal);
    const files = await writer.takePart();
    hooks.progress({ type, index, exported, total });
    return files;
  } catch (err) {
    // Files of committed parts belong to the job now (a takeover keeps them); only the others go.
    for (const f of await writer.abort()) if (!committed.has(f.name)) await deps.files.remove(f.name).catch(() => undefined);
    throw err;
  }
}

/**
 * Resources of the type deleted after `_since` (and still deleted at the export's upper bound:
 * `_until` when earlier than transactionTime, else transactionTime), as one
 * transaction Bundle with a DELETE entry per line. Whether a deleted resource belonged to the
 * export (cohort, `_typeFilter`, data sharing) is decided on its last version before the delete.
 */
async function writeDeleted(job: ExportJob, type: string, filters: Filter[], store: ScopedStore, deps: ExportDeps, hooks: ExportHooks): Promise<WrittenFile[]> {
  const tests = filters.map((f) => scanPredicate(f));
  const writer = new NdjsonWriter(writerOptions(job, deps, `${type}-deleted`));
  const seen = new Set<string>();
  let after: HistoryCursor | undefined;
  try {
    for (;;) {
      throwIfAborted(hooks.signal);
      const page = await store.history({ resourceType: type, since: sinceBound(job.since), before: exportUpperBound(job), count: HISTORY_PAGE, after });
      for (const rec of page) {
        // Newest first: the first version met per id is its state at the upper bound.
        if (seen.has(rec.id)) continue;
        seen.add(rec.id);
        if (!rec.deleted || rec.versionId < 2) continue;
        const prev = await visibleVersion(store, type, rec.id, rec.versionId - 1);
        if (!prev?.resource) continue;
        const doc: StoredDoc = { _id: rec.id, versionId: prev.versionId, lastUpdated: prev.lastUpdated, deleted: false, resource: prev.resource, s: extractSearchIndex(prev.resource) };
        if (!tests.some((t) => !t || t(doc))) continue;
        const bundle: Bundle = {
          resourceType: 'Bundle',
          id: randomUUID(),
          meta: { lastUpdated: rec.lastUpdated },
          type: 'transaction',
          entry: [{ request: { method: 'DELETE', url: `${type}/${rec.id}` } }],
        };
        if (writer.push(JSON.stringify(bundle))) await writer.flush();
      }
      if (page.length < HISTORY_PAGE) break;
      const last = page[page.length - 1];
      after = { lastUpdated: last.lastUpdated, resourceType: last.resourceType, id: last.id, versionId: last.versionId };
    }
    return await writer.close();
  } catch (err) {
    for (const f of await writer.abort()) await deps.files.remove(f.name).catch(() => undefined);
    throw err;
  }
}

/** A version the view shows, or undefined when it is absent or hidden from the export's caller. */
async function visibleVersion(store: ScopedStore, type: string, id: string, versionId: number): Promise<ResourceRecord | undefined> {
  try {
    return await store.vread(type, id, versionId);
  } catch (err) {
    if (isFhirError(err) && err.status === 403) return undefined;
    throw err;
  }
}
