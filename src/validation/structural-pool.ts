// Structural validation (validate-resource.ts) off the request thread: a fixed pool of worker
// threads, each with its own copy of the FHIR definitions. Validation is about a third of the CPU
// a write costs (the @medplum/core validator walks every element of the type); in a worker it runs
// on another core while the request thread resolves, matches and commits other writes.
// VALIDATION_WORKERS sets the size (0: the request thread). The same function runs either way, so
// the issues are the same; a worker that fails or exits hands its jobs back to the request thread.
// The workers start with the first write and take work once warm (request thread until then); they
// are unref'd while idle: an idle pool never keeps the process alive; close() ends them.
// The workers also extract the search values of AuditEvents (src/audit writes one or two per
// request, off the response path): the same extractSearchIndex, on definitions they hold anyway.
import { Worker } from 'node:worker_threads';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { latencyTrace } from '../latency-trace.js';
import { extractSearchIndex } from '../search/extract.js';
import type { SearchIndex } from '../store/store.js';
import { markMalformed, validateResource, type ValidationExpectations } from './validate-resource.js';

/** Structural validation of one body: every issue found (see validateResource). */
export type StructuralValidator = (input: unknown, expect: ValidationExpectations) => Promise<OperationOutcomeIssue[]>;

/**
 * Structural validation as a write uses it. `prefetch` (pools only) starts validating a body that
 * will be validated soon (the entries of a transaction, validated one after another): a later
 * `validate` of equal content and expectations takes that result instead of asking again.
 */
export interface StructuralValidation {
  validate: StructuralValidator;
  prefetch?: (input: unknown, expect: ValidationExpectations) => void;
}

/** In the request thread. */
export const inThreadValidator: StructuralValidator = (input, expect) => Promise.resolve(validateResource(input, expect));

/** What a worker is asked (posted as is, with an id). */
export type WorkerRequest = { kind: 'validate'; input: unknown; expect: ValidationExpectations } | { kind: 'index'; resource: Resource };

/** What it answers. */
export type WorkerAnswer =
  | { id: number; issues: OperationOutcomeIssue[]; malformed: number[] }
  | { id: number; index: SearchIndex }
  | { id: number; error: string };

interface Job {
  request: WorkerRequest;
  /** LATENCY_TRACE only: when it was posted to the worker. */
  posted?: number;
  resolve: (value: never) => void;
  reject: (err: unknown) => void;
}

class ValidationWorker {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private seq = 0;
  /** Its definitions are loaded (it said so): until then writes are validated in the request thread. */
  ready = false;
  broken = false;

  constructor(private readonly number = 0) {
    this.worker = new Worker(new URL('./structural-worker.mjs', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (answer: WorkerAnswer | 'ready') => {
      if (answer === 'ready') {
        this.ready = true;
        return;
      }
      const job = this.jobs.get(answer.id);
      if (!job) return;
      this.jobs.delete(answer.id);
      if (latencyTrace && job.posted !== undefined) latencyTrace.event(job.request.kind, job.posted, latencyTrace.now(), { worker: this.number, queued: this.jobs.size });
      if (this.jobs.size === 0) this.worker.unref();
      if ('issues' in answer && job.request.kind === 'validate') {
        for (const i of answer.malformed) markMalformed(answer.issues[i]);
        job.resolve(answer.issues as never);
      } else if ('index' in answer && job.request.kind === 'index') {
        job.resolve(answer.index as never);
      } else {
        // The worker could not do it: the request thread does, with the same function.
        settleInThread(job);
      }
    });
    this.worker.on('error', () => this.fail());
    this.worker.on('exit', () => this.fail());
  }

  get load(): number {
    return this.jobs.size;
  }

  run(job: Job): void {
    const id = ++this.seq;
    // Referenced while it has work, so the process waits for answers it asked for.
    if (this.jobs.size === 0) this.worker.ref();
    this.jobs.set(id, job);
    if (latencyTrace) job.posted = latencyTrace.now();
    try {
      this.worker.postMessage({ id, ...job.request });
    } catch {
      // Not cloneable (cannot happen for parsed JSON): validate here.
      this.jobs.delete(id);
      settleInThread(job);
    }
  }

  private fail(): void {
    this.broken = true;
    const left = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of left) settleInThread(job);
  }

  terminate(): Promise<number> {
    this.broken = true;
    return this.worker.terminate();
  }
}

function contentKey(input: unknown, expect: ValidationExpectations): string | undefined {
  try {
    return JSON.stringify([expect.resourceType, expect.id, expect.requireId, expect.forbidId, input]);
  } catch {
    return undefined; // not JSON (a cycle): validated when asked, not ahead
  }
}

function settleInThread(job: Job): void {
  try {
    const { request } = job;
    job.resolve((request.kind === 'validate' ? validateResource(request.input, request.expect) : extractSearchIndex(request.resource)) as never);
  } catch (err) {
    job.reject(err);
  }
}

/** Prefetched validations kept at most (oldest dropped first: one not asked for again is only lost work). */
const MAX_PREFETCHED = 5_000;

export class StructuralValidationPool implements StructuralValidation {
  private workers: ValidationWorker[] = [];
  /** start() ran: asked on every write, it makes the workers once (none for a pool of size 0). */
  private started = false;
  private closed = false;
  /** Validations started ahead, by content (JSON of expectations and body): a pure function of it. */
  private readonly prefetched = new Map<string, Promise<OperationOutcomeIssue[]>>();

  /**
   * The workers start with the first write (a server that only reads never pays for their memory)
   * and take validations once they have loaded the definitions; `start` starts them now.
   */
  constructor(readonly size: number) {}

  start(): void {
    if (this.closed || this.started) return;
    this.started = true;
    this.workers = Array.from({ length: Math.max(0, Math.floor(this.size)) }, (_, i) => new ValidationWorker(i));
  }

  /** Resolves once every worker can take validations (tests; benches). */
  async warm(timeoutMs = 60_000): Promise<void> {
    this.start();
    const deadline = Date.now() + timeoutMs;
    while (this.workers.some((w) => !w.ready && !w.broken) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  readonly prefetch = (input: unknown, expect: ValidationExpectations): void => {
    this.start();
    if (!this.workers.some((w) => w.ready && !w.broken)) return;
    const key = contentKey(input, expect);
    if (key === undefined || this.prefetched.has(key)) return;
    const pending = this.dispatch(input, expect);
    pending.catch(() => undefined); // asked for again by validate, which then sees the error
    this.prefetched.set(key, pending);
    if (this.prefetched.size > MAX_PREFETCHED) this.prefetched.delete(this.prefetched.keys().next().value as string);
  };

  readonly validate: StructuralValidator = (input, expect) => {
    this.start();
    if (this.prefetched.size > 0) {
      const key = contentKey(input, expect);
      const ahead = key === undefined ? undefined : this.prefetched.get(key);
      if (ahead) {
        this.prefetched.delete(key as string);
        return ahead;
      }
    }
    return this.dispatch(input, expect);
  };

  /**
   * The search values of a resource (extractSearchIndex), in a warm worker when there is one. Does
   * not start the workers: the audit trail of a server that only reads stays in this thread.
   */
  readonly searchIndexOf = (resource: Resource): Promise<SearchIndex> => {
    const worker = this.leastBusy();
    if (!worker) return Promise.resolve(extractSearchIndex(resource));
    return new Promise((resolve, reject) => worker.run({ request: { kind: 'index', resource }, resolve: resolve as (v: never) => void, reject }));
  };

  /** Validates in the least busy live worker (in the request thread when there is none). */
  private dispatch(input: unknown, expect: ValidationExpectations): Promise<OperationOutcomeIssue[]> {
    const worker = this.leastBusy();
    if (!worker) return inThreadValidator(input, expect);
    return new Promise((resolve, reject) => worker.run({ request: { kind: 'validate', input, expect }, resolve: resolve as (v: never) => void, reject }));
  }

  private leastBusy(): ValidationWorker | undefined {
    let best: ValidationWorker | undefined;
    for (const w of this.workers) if (w.ready && !w.broken && (!best || w.load < best.load)) best = w;
    return best;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.prefetched.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
