// The export worker of one server process. Any process sharing the store can run any job:
//  - poll: queued jobs, and running jobs whose lease has expired (their node crashed or hung), are
//    claimed with a versioned write (state running, lease = this node until now + leaseMs); of
//    several nodes claiming the same version exactly one wins.
//  - heartbeat: every leaseMs/3 the lease is renewed (and progress recorded) by another versioned
//    write. A conflict means someone else changed the job: cancelled (stop, remove the files) or
//    taken over after our lease lapsed (stop quietly: the new owner continues after the last
//    committed part, job.cursor).
//  - shutdown: running jobs stop and are handed back (state queued) for another node or restart.
//  - sweep: outputs of jobs past their expiry are removed with the job, and files of jobs that no
//    longer exist (a crash between writing and recording them) are removed too.
import type { Logger } from '../logger.js';
import { StoreUnavailableError, VersionConflictError } from '../store/store.js';
import { runJob, type ExportDeps, type ExportProgress } from './exporter.js';
import type { ExportFile, ExportJob, JobRepository, VersionedJob } from './jobs.js';

/** Why a running export stopped before its end. */
export class ExportStopped extends Error {
  constructor(readonly reason: 'cancelled' | 'lease-lost' | 'shutdown') {
    super(`export stopped: ${reason}`);
    this.name = 'ExportStopped';
  }
}

export interface WorkerDeps extends ExportDeps {
  repo: JobRepository;
  logger?: Logger;
  nodeId: string;
}

interface Running {
  abort: AbortController;
  done: Promise<void>;
  run: LeasedRun;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class ExportWorker {
  private readonly running = new Map<string, Running>();
  private pollTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private sweeping: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: WorkerDeps) {}

  start(): void {
    this.stopped = false;
    this.pollTimer = setInterval(() => this.kick(), this.deps.options.pollMs);
    this.pollTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), this.deps.options.sweepMs);
    this.sweepTimer.unref();
    this.kick();
    void this.sweep();
  }

  /** Look for work now (after a kick-off on this node, or when a job here ended). */
  kick(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.poll()
      .catch((err: unknown) => this.deps.logger?.warn('bulk export poll failed', { error: String(err) }))
      .finally(() => {
        this.polling = undefined;
        if (this.pollAgain) {
          this.pollAgain = false;
          this.kick();
        }
      });
  }

  /** Jobs running here right now. */
  runningJobs(): string[] {
    return [...this.running.keys()];
  }

  /** Live progress of a job running here (the stored one is only as fresh as the last heartbeat). */
  progressOf(jobId: string): ExportProgress | undefined {
    return this.running.get(jobId)?.run.currentProgress();
  }

  /** Stops a job running here (cancel on this node: no need to wait for the next heartbeat). */
  abortLocal(jobId: string, reason: ExportStopped): void {
    const r = this.running.get(jobId);
    if (r && !r.abort.signal.aborted) r.abort.abort(reason);
  }

  /** Stops polling and hands running jobs back (state queued), waiting up to timeoutMs for them. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearInterval(this.sweepTimer);
    await this.polling;
    for (const r of this.running.values()) r.abort.abort(new ExportStopped('shutdown'));
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    await this.sweeping;
  }

  private async poll(): Promise<void> {
    const { repo, options, nodeId } = this.deps;
    if (this.running.size >= options.workers) return;
    const now = Date.now();
    for (const { job, version } of await repo.active()) {
      if (this.stopped || this.running.size >= options.workers) return;
      if (this.running.has(job.id)) continue;
      if (job.state === 'running' && job.lease && Date.parse(job.lease.until) > now) continue;
      let next: ExportJob;
      if (job.attempts >= options.maxAttempts) {
        next = this.ended(job, 'failed', `gave up after ${job.attempts} attempts (the nodes running it stopped or failed)`);
      } else {
        next = { ...job, state: 'running', lease: { node: nodeId, until: iso(now + options.leaseMs) }, attempts: job.attempts + 1, startedAt: job.startedAt ?? iso(now) };
      }
      let claimed: VersionedJob;
      try {
        claimed = await repo.save(next, version);
      } catch (err) {
        if (err instanceof VersionConflictError) continue; // another node was faster
        throw err;
      }
      if (claimed.job.state === 'running') this.launch(claimed);
    }
  }

  private ended(job: ExportJob, state: 'completed' | 'failed', error?: string): ExportJob {
    const now = Date.now();
    const next: ExportJob = { ...job, state, finishedAt: iso(now), expiresAt: iso(now + this.deps.options.retentionMs) };
    delete next.lease;
    delete next.progress;
    delete next.cursor;
    if (error) next.error = error;
    return next;
  }

  private launch(claimed: VersionedJob): void {
    const abort = new AbortController();
    const run = new LeasedRun(this.deps, claimed, abort);
    const done = this.execute(run).finally(() => {
      this.running.delete(claimed.job.id);
      this.kick();
    });
    this.running.set(claimed.job.id, { abort, done, run });
  }

  private async execute(run: LeasedRun): Promise<void> {
    const { files, logger, options } = this.deps;
    const id = run.job.id;
    const heartbeat = setInterval(() => void run.heartbeat(), Math.max(50, Math.floor(options.leaseMs / 3)));
    heartbeat.unref();
    try {
      // Files a previous owner wrote but did not commit (after its last part) are redone: remove them first.
      const kept = new Set(run.job.files.map((f) => f.name));
      for (const f of await files.list(`${id}/`)) if (!kept.has(f.name)) await files.remove(f.name);
      logger?.info('bulk export started', { job: id, types: run.job.types, attempt: run.job.attempts, resumedAfter: run.job.done, resumeAt: run.job.cursor });
      const errorFiles = await runJob(run.job, this.deps, {
        signal: run.abort.signal,
        progress: (p) => run.setProgress(p),
        checkpoint: async (type, written) => {
          await run.save((j) => {
            const next: ExportJob = { ...j, done: [...j.done, type], files: [...j.files, ...written] };
            delete next.cursor;
            return next;
          });
        },
        part: async (written, cursor) => {
          await run.save((j) => ({ ...j, files: [...j.files, ...written], cursor }));
        },
      });
      clearInterval(heartbeat);
      const finished = await run.save((j) => ({ ...this.ended(j, 'completed'), files: [...j.files, ...errorFiles] }));
      const count = finished.files.filter((f) => f.section === 'output').reduce((n, f) => n + f.count, 0);
      logger?.info('bulk export completed', { job: id, resources: count, files: finished.files.length });
    } catch (err) {
      clearInterval(heartbeat);
      await this.afterFailure(run, err);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async afterFailure(run: LeasedRun, err: unknown): Promise<void> {
    const { files, logger, options } = this.deps;
    const id = run.job.id;
    const stopped = run.abort.signal.aborted ? run.abort.signal.reason : err;
    const removeAll = async () => {
      for (const f of await files.list(`${id}/`)) await files.remove(f.name).catch(() => undefined);
    };
    try {
      if (stopped instanceof ExportStopped) {
        logger?.info('bulk export stopped', { job: id, reason: stopped.reason });
        if (stopped.reason === 'cancelled') await removeAll();
        else if (stopped.reason === 'shutdown') await run.release(true);
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof StoreUnavailableError && run.job.attempts < options.maxAttempts) {
        logger?.warn('bulk export interrupted; it will be retried', { job: id, error: message });
        await run.release(false);
        return;
      }
      logger?.error('bulk export failed', { job: id, error: message });
      await run.save((j) => ({ ...this.ended(j, 'failed', message), files: [] }));
      await removeAll();
    } catch (e) {
      // The lease lapses and another attempt (here or elsewhere) picks the job up.
      logger?.warn('bulk export could not record its end', { job: id, error: String(e) });
    }
  }

  /** Removes expired jobs with their outputs, and files no job accounts for. */
  async sweep(): Promise<void> {
    if (this.sweeping) return this.sweeping;
    this.sweeping = this.sweepOnce()
      .catch((err: unknown) => this.deps.logger?.warn('bulk export sweep failed', { error: String(err) }))
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const { repo, files } = this.deps;
    for (const { job, version } of await repo.expired(iso(Date.now()))) {
      if (this.running.has(job.id)) continue;
      for (const f of await files.list(`${job.id}/`)) await files.remove(f.name);
      try {
        await repo.remove(job.id, version);
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err;
      }
    }
    const byJob = new Set((await files.list('')).map((f) => f.name.split('/')[0]));
    for (const id of byJob) {
      if (this.running.has(id) || (await repo.get(id))) continue;
      for (const f of await files.list(`${id}/`)) await files.remove(f.name);
    }
  }
}

/** One job held under this node's lease: every write to it is serialised and version-checked. */
class LeasedRun {
  job: ExportJob;
  private version: number;
  private chain: Promise<unknown> = Promise.resolve();
  private progress: ExportProgress | undefined;

  constructor(
    private readonly deps: WorkerDeps,
    claimed: VersionedJob,
    readonly abort: AbortController
  ) {
    this.job = claimed.job;
    this.version = claimed.version;
  }

  setProgress(p: ExportProgress): void {
    this.progress = p;
  }

  currentProgress(): ExportProgress | undefined {
    return this.progress ? { ...this.progress } : undefined;
  }

  heartbeat(): Promise<unknown> {
    return this.save((j) => {
      const next: ExportJob = { ...j, lease: { node: this.deps.nodeId, until: iso(Date.now() + this.deps.options.leaseMs) } };
      if (this.progress) next.progress = { ...this.progress };
      return next;
    }).catch((err: unknown) => {
      if (!(err instanceof ExportStopped)) this.deps.logger?.warn('bulk export heartbeat failed', { job: this.job.id, error: String(err) });
    });
  }

  /**
   * Hands the job back (state queued, no lease) if this node still holds it. A shutdown does not
   * count as a failed attempt (refund); a failure does.
   */
  release(refund: boolean): Promise<unknown> {
    return this.save((j) => {
      const next: ExportJob = { ...j, state: 'queued', attempts: refund ? Math.max(0, j.attempts - 1) : j.attempts };
      delete next.lease;
      delete next.progress;
      return next;
    }).catch(() => undefined);
  }

  save(mutate: (job: ExportJob) => ExportJob): Promise<ExportJob> {
    const run = this.chain.then(async () => {
      for (let attempt = 0; ; attempt++) {
        const next = mutate(this.job);
        try {
          const saved = await this.deps.repo.save(next, this.version);
          this.job = saved.job;
          this.version = saved.version;
          return saved.job;
        } catch (err) {
          if (!(err instanceof VersionConflictError) || attempt > 0) throw err;
          // Someone else wrote the job: find out who.
          const fresh = await this.deps.repo.get(this.job.id);
          let stop: ExportStopped | undefined;
          if (!fresh || fresh.job.state === 'cancelled') stop = new ExportStopped('cancelled');
          else if (fresh.job.state !== 'running' || fresh.job.lease?.node !== this.deps.nodeId) stop = new ExportStopped('lease-lost');
          if (stop) {
            if (!this.abort.signal.aborted) this.abort.abort(stop);
            throw stop;
          }
          this.job = { ...fresh!.job, files: this.job.files, done: this.job.done, cursor: this.job.cursor };
          if (!this.job.cursor) delete this.job.cursor;
          this.version = fresh!.version;
        }
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

export type { ExportFile };
