// Runs one batch of a population run (patient-task.ts per patient). In the request thread by
// default; a pool of worker threads (worker-pool.ts) can take the batch instead, so the CPU-bound
// CDSi work (and the parsing of the doses) leaves the thread that reads the store and streams.
import type { CodeSets } from '../terminology/code-sets.js';
import { dosesTextWithCvxFromNdc, withCvxFromNdc } from '../terminology/forecast-codes.js';
import { runTask, type PatientInput, type PopulationTask, type TaskResult } from './patient-task.js';

/** One result per input, in order. */
export type ForecastRunner = <T extends PopulationTask>(task: T, inputs: PatientInput[]) => Promise<Array<TaskResult<T>>>;

export const inThreadRunner: ForecastRunner = async (task, inputs) => inputs.map((input) => runTask(task, input));

/**
 * The runner with each patient's NDC-only doses given the CVX of their NDC first (in this thread:
 * the code sets are the server's, and workers have none), so reminder/recall and coverage count
 * them as $immds-forecast does; doses with a CVX pass unparsed.
 */
export function withCvxForNdcDoses(runner: ForecastRunner, codeSets: CodeSets | undefined): ForecastRunner {
  if (!codeSets) return runner;
  return (task, inputs) =>
    runner(
      task,
      inputs.map((input) => {
        const doses = input.immunizations;
        const read = typeof doses === 'string' ? dosesTextWithCvxFromNdc(doses, codeSets) : doses.map((imm) => withCvxFromNdc(imm, codeSets));
        return read === doses || (Array.isArray(read) && Array.isArray(doses) && read.every((imm, i) => imm === doses[i])) ? input : { ...input, immunizations: read };
      })
    );
}
