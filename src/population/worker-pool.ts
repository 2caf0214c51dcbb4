// Forecasts off the request thread: a fixed pool of worker threads (forecast-worker.ts), each with
// its own copy of CDC's supporting data (parsed on its first job). A batch is split evenly across
// the workers, so a population run uses the other cores and the event loop stays free to serve
// other requests and to stream the CSV. POPULATION_WORKERS sets the size (0: the request thread;
// default 0 below 4 cores, where the workers' own copies of the CDSi data cost more than they gain).
// The workers are unref'd: an idle pool never keeps the process alive; close() ends them.
import { Worker } from 'node:worker_threads';
import type { ForecastOutput } from '../forecast/index.js';
import type { PopulationForecastInput } from './forecast.js';
import { inThreadRunner, type ForecastRunner } from './forecast-runner.js';

interface Pending {
  resolve: (outputs: Array<ForecastOutput | undefined>) => void;
  reject: (err: Error) => void;
}

class ForecastWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private busy = 0;

  constructor() {
    // forecast-worker.mjs registers tsx in the thread, then loads forecast-worker.ts.
    this.worker = new Worker(new URL('./forecast-worker.mjs', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; outputs?: Array<ForecastOutput | undefined>; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (--this.busy === 0) this.worker.unref();
      if (msg.error !== undefined) p.reject(new Error(`forecast worker: ${msg.error}`));
      else p.resolve(msg.outputs ?? []);
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => this.failAll(new Error(`forecast worker exited (${code})`)));
  }

  run(inputs: PopulationForecastInput[], groups?: readonly string[]): Promise<Array<ForecastOutput | undefined>> {
    const id = ++this.seq;
    // Referenced while it has work, so the process waits for answers it asked for.
    if (this.busy++ === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, inputs, groups: groups ? [...groups] : undefined });
    });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.busy = 0;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class ForecastPool {
  private readonly workers: ForecastWorker[];

  constructor(readonly size: number) {
    this.workers = Array.from({ length: Math.max(0, Math.floor(size)) }, () => new ForecastWorker());
  }

  /** The batch split across the workers (the request thread when the pool is empty). */
  readonly runner: ForecastRunner = async (inputs, groups) => {
    if (this.workers.length === 0 || inputs.length === 0) return inThreadRunner(inputs, groups);
    const per = Math.ceil(inputs.length / this.workers.length);
    const parts = await Promise.all(
      this.workers.map((w, i) => {
        const slice = inputs.slice(i * per, (i + 1) * per);
        return slice.length > 0 ? w.run(slice, groups) : Promise.resolve([]);
      })
    );
    return parts.flat();
  };

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
