// A worker thread of the population pool (worker-pool.ts): runs the task for each patient it is
// sent with the same code as the request thread (patient-task.ts) and answers the results in order.
import { parentPort } from 'node:worker_threads';
import { defaultSupportingData } from '../forecast/index.js';
import { runTask, type PatientInput, type PopulationTask } from './patient-task.js';

interface Job {
  id: number;
  task: PopulationTask;
  inputs: PatientInput[];
}

// CDC's supporting data is parsed once, when the thread starts, not on the first batch of a run.
defaultSupportingData();
parentPort?.postMessage({ ready: true });

parentPort?.on('message', (job: Job) => {
  try {
    parentPort?.postMessage({ id: job.id, results: job.inputs.map((input) => runTask(job.task, input)) });
  } catch (err) {
    parentPort?.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) });
  }
});
