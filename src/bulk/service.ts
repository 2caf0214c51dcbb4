// The bulk export machinery of one server process: job repository, worker and file store,
// started and stopped with the server; src/app hands it to the $export handlers it registers.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { SharingIndex } from '../consent/sharing-index.js';
import type { Logger } from '../logger.js';
import type { FileStore } from '../store/files.js';
import type { Store } from '../store/store.js';
import type { BulkOptions } from './config.js';
import type { JobTask } from './exporter.js';
import { JobRepository } from './jobs.js';
import { StatusPollThrottle } from './poll-throttle.js';
import { ExportStopped, ExportWorker } from './worker.js';

export interface BulkExportsDeps {
  store: Store;
  files: FileStore;
  sharing: SharingIndex;
  baseUrl: string;
  options: BulkOptions;
  logger?: Logger;
  /** Job kinds other than exports, run by the same workers (ExportJob.task). */
  tasks?: ReadonlyMap<string, JobTask>;
}

export class BulkExports {
  readonly repo: JobRepository;
  readonly worker: ExportWorker;
  readonly files: FileStore;
  readonly options: BulkOptions;
  readonly nodeId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  /** Status polls of this process, when BULK_STATUS_POLL_LIMIT is on. */
  readonly statusPolls: StatusPollThrottle | undefined;

  constructor(deps: BulkExportsDeps) {
    this.repo = new JobRepository(deps.store);
    this.files = deps.files;
    this.options = deps.options;
    this.statusPolls = deps.options.throttleStatusPolls ? new StatusPollThrottle() : undefined;
    this.worker = new ExportWorker({ ...deps, repo: this.repo, nodeId: this.nodeId });
  }

  start(): void {
    this.worker.start();
  }

  /** Hands running jobs back to the queue (another node, or this one after a restart, resumes them). */
  async stop(): Promise<void> {
    await this.worker.stop();
  }

  /** Stops a job running on this node at once (other nodes notice on their next heartbeat). */
  stopLocal(jobId: string): void {
    this.worker.abortLocal(jobId, new ExportStopped('cancelled'));
  }
}
