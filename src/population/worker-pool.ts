// Population work off the request thread: a fixed pool of worker threads (forecast-worker.ts),
// each with its own copy of CDC's supporting data (parsed when the thread starts). A batch is split
// evenly across the workers; the thread that reads the store sends each patient with its doses as
// the store's JSON text (a string copy, no structured clone of resources) and gets back only the
// small result (due items, or in/out of a numerator). The caller keeps reading the next batch
// while a worker computes this one (reminder-recall.ts, evaluate-measure.ts), so a run uses both
// cores even on a 2-core machine. POPULATION_WORKERS sets the size (0: the request thread).
// The workers are unref'd: an idle pool never keeps the process alive; close() ends them.
import { Worker } from 'node:worker_threads';
import { inThreadRunner, type ForecastRunner } from './forecast-runner.js';
import type { PatientInput, PopulationTask } from './patient-task.js';

interface Pending {
  resolve: (results: unknown[]) => void;
  reject: (err: Error) => void;
}

class ForecastWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private busy = 0;
  /** True once the thread has loaded the CDSi data; false again if it dies. */
  ready = false;
  readonly started: Promise<void>;

  constructor() {
    // forecast-worker.mjs loads forecast-worker.js (compiled) or registers tsx for the .ts source.
    this.worker = new Worker(new URL('./forecast-worker.mjs', import.meta.url));
    this.worker.unref();
    let started: () => void = () => undefined;
    this.started = new Promise((resolve) => (started = resolve));
    this.worker.on('message', (msg: { id?: number; ready?: boolean; results?: unknown[]; error?: string }) => {
      if (msg.ready) {
        this.ready = true;
        started();
      }
      if (msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (--this.busy === 0) this.worker.unref();
      if (msg.error !== undefined) p.reject(new Error(`forecast worker: ${msg.error}`));
      else p.resolve(msg.results ?? []);
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => {
      this.failAll(new Error(`forecast worker exited (${code})`));
      started();
    });
  }

  run(task: PopulationTask, inputs: PatientInput[]): Promise<unknown[]> {
    const id = ++this.seq;
    // Referenced while it has work, so the process waits for answers it asked for.
    if (this.busy++ === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, task, inputs });
    });
  }

  private failAll(err: Error): void {
    this.ready = false;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.busy = 0;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * The threads start with the first population run (a server that never runs one never pays for
 * them); until they have loaded the CDSi data, batches run in the request thread.
 */
export class ForecastPool {
  private workers: ForecastWorker[] | undefined;

  constructor(readonly size: number) {}

  private started(): ForecastWorker[] {
    this.workers ??= Array.from({ length: Math.max(0, Math.floor(this.size)) }, () => new ForecastWorker());
    return this.workers;
  }

  /** Starts the threads and waits until each has loaded the CDSi data (or died). */
  async whenReady(): Promise<void> {
    await Promise.all(this.started().map((w) => w.started));
  }

  /** The batch split across the ready workers (the request thread when there is none). */
  readonly runner: ForecastRunner = async (task, inputs) => {
    const ready = this.size > 0 ? this.started().filter((w) => w.ready) : [];
    if (ready.length === 0 || inputs.length === 0) return inThreadRunner(task, inputs);
    const per = Math.ceil(inputs.length / ready.length);
    const parts = await Promise.all(
      ready.map((w, i) => {
        const slice = inputs.slice(i * per, (i + 1) * per);
        return slice.length > 0 ? w.run(task, slice) : Promise.resolve([]);
      })
    );
    return parts.flat() as never;
  };

  async close(): Promise<void> {
    await Promise.all((this.workers ?? []).map((w) => w.terminate()));
  }
}
