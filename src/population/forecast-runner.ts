// Runs one batch of a population run (patient-task.ts per patient). In the request thread by
// default; a pool of worker threads (worker-pool.ts) can take the batch instead, so the CPU-bound
// CDSi work (and the parsing of the doses) leaves the thread that reads the store and streams.
import { runTask, type PatientInput, type PopulationTask, type TaskResult } from './patient-task.js';

/** One result per input, in order. */
export type ForecastRunner = <T extends PopulationTask>(task: T, inputs: PatientInput[]) => Promise<Array<TaskResult<T>>>;

export const inThreadRunner: ForecastRunner = async (task, inputs) => inputs.map((input) => runTask(task, input));
