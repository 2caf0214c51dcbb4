// Export jobs live in the store as documents of the internal type BulkExportJob (never served
// over REST: not in SUPPORTED_TYPES, so no read, search, history or export reaches them). Every
// change is a versioned write with the version read as precondition, which makes the lease safe
// across server processes: of two nodes claiming or renewing a job from the same version only
// one write lands, the other gets a VersionConflictError and backs off.
import type { Resource } from '@medplum/fhirtypes';
import { VersionConflictError, type ResourceRecord, type Store } from '../store/store.js';
import type { ExportLevel, TypeFilter } from './params.js';

export const JOB_TYPE = 'BulkExportJob';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export const ACTIVE_STATES: JobState[] = ['queued', 'running'];

export interface ExportFile {
  /** Stored name: `<job>/<file>`. */
  name: string;
  section: 'output' | 'deleted' | 'error';
  /** resourceType of the lines (Bundle for deletions, OperationOutcome for errors). */
  type: string;
  /** The exported type the file is about (scope check on download); a patient-block file lists every type it may hold, comma-separated. */
  of: string;
  count: number;
  /** NDJSON bytes before compression. */
  bytes: number;
}

/** A resume point inside one type's scans (scans run in id order, one per cohort chunk). */
export interface ExportCursor {
  type: string;
  /** Index of the scan (cohort chunk) the last committed resource came from. */
  scan: number;
  /** Id of the last committed resource of that scan: the scan resumes after it. */
  afterId: string;
  /** Resources of the type in the committed files (progress). */
  exported: number;
}

export interface ExportJob {
  resourceType: typeof JOB_TYPE;
  id: string;
  state: JobState;
  /** Who may poll, download and cancel: token issuer, client and organization. */
  owner: string;
  /** The caller's organization claim: its data-sharing filter applies. */
  organization?: string;
  /** The kick-off URL (manifest `request`). */
  request: string;
  level: ExportLevel;
  groupId?: string;
  types: string[];
  /** Exclusive lower bound on lastUpdated (ISO, ms). */
  since?: string;
  /**
   * `_until`: inclusive upper bound on lastUpdated (ISO, ms). The export never goes past
   * transactionTime, so the bound used is the earlier of the two (exportUpperBound).
   */
  until?: string;
  typeFilters: TypeFilter[];
  /** Files of patient blocks (Bulk Data `organizeOutputBy=Patient`), not one type per file. */
  organizeOutputBy?: 'Patient';
  patients?: string[];
  elements?: string[];
  compression: 'gzip' | 'none';
  transactionTime: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** When outputs and the job are removed (set once it ends). */
  expiresAt?: string;
  lease?: { node: string; until: string };
  attempts: number;
  /** Types whose files are complete (checkpoints: a takeover resumes after them). */
  done: string[];
  /**
   * Within the type in progress: how far its committed files go. Written together with the files
   * of the part it closes, so a takeover keeps those files and continues after `afterId`.
   */
  cursor?: ExportCursor;
  files: ExportFile[];
  progress?: { type: string; index: number; exported: number; total?: number };
  error?: string;
  /**
   * A job that is not an export: a task registered with the worker by name (e.g. a population run,
   * src/population/async-jobs.ts), with its parameters. Polled, downloaded, cancelled and expired
   * exactly like an export; `types` names its output types.
   */
  task?: { kind: string; params: Record<string, unknown> };
}

/** The last instant whose changes the job exports: `_until` when given and earlier, else transactionTime. */
export function exportUpperBound(job: Pick<ExportJob, 'until' | 'transactionTime'>): string {
  return job.until !== undefined && job.until < job.transactionTime ? job.until : job.transactionTime;
}

export interface VersionedJob {
  job: ExportJob;
  version: number;
}

export class JobRepository {
  constructor(private readonly store: Store) {}

  async create(job: ExportJob): Promise<VersionedJob> {
    const rec = await this.store.write({ resourceType: JOB_TYPE, id: job.id, resource: toResource(job), ifVersion: 'absent', index: indexOf(job) });
    return { job, version: rec.versionId };
  }

  async get(id: string): Promise<VersionedJob | undefined> {
    return fromRecord(await this.store.read(JOB_TYPE, id));
  }

  /** Writes the new state if the job is still at `version`; else throws VersionConflictError. */
  async save(job: ExportJob, version: number): Promise<VersionedJob> {
    const rec = await this.store.write({ resourceType: JOB_TYPE, id: job.id, resource: toResource(job), ifVersion: version, index: indexOf(job) });
    return { job, version: rec.versionId };
  }

  /** Read-modify-write, retried on conflicts. mutate returns undefined to leave the job as it is. */
  async modify(id: string, mutate: (job: ExportJob) => ExportJob | undefined): Promise<VersionedJob | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await this.get(id);
      if (!cur) return undefined;
      const next = mutate(cur.job);
      if (!next) return cur;
      try {
        return await this.save(next, cur.version);
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err;
      }
    }
    throw new Error(`export job ${id}: too many concurrent changes`);
  }

  async remove(id: string, version: number): Promise<void> {
    await this.store.write({ resourceType: JOB_TYPE, id, ifVersion: version });
  }

  /** Queued jobs and running ones (whose lease may have expired), oldest first. */
  async active(owner?: string): Promise<VersionedJob[]> {
    const filter: Record<string, unknown> = { 's.state': { $in: ACTIVE_STATES } };
    if (owner !== undefined) filter['s.owner'] = owner;
    const records = await this.store.search(JOB_TYPE, { filter, limit: 1000 });
    return records
      .map(fromRecord)
      .filter((j): j is VersionedJob => j !== undefined)
      .sort((a, b) => (a.job.createdAt < b.job.createdAt ? -1 : a.job.createdAt > b.job.createdAt ? 1 : 0));
  }

  /** Ended jobs whose outputs have expired. */
  async expired(now: string): Promise<VersionedJob[]> {
    const records = await this.store.search(JOB_TYPE, { filter: { 's.expires': { $lte: now } }, limit: 1000 });
    return records.map(fromRecord).filter((j): j is VersionedJob => j !== undefined);
  }
}

function toResource(job: ExportJob): Resource {
  return JSON.parse(JSON.stringify(job)) as Resource; // drops undefined fields
}

function indexOf(job: ExportJob): Record<string, unknown> {
  const s: Record<string, unknown> = { state: job.state, owner: job.owner };
  if (job.expiresAt) s.expires = job.expiresAt;
  return s;
}

function fromRecord(rec: ResourceRecord | undefined): VersionedJob | undefined {
  if (!rec || rec.deleted || !rec.resource) return undefined;
  const job = { ...(rec.resource as unknown as ExportJob) };
  delete (job as { meta?: unknown }).meta;
  return { job, version: rec.versionId };
}
