// Runs the forecasts of one batch of patients. In the request thread by default; a pool of worker
// threads (worker-pool.ts) can take the batch instead, so the CPU-bound CDSi work of a large run
// leaves the event loop free and uses the other cores.
import type { ForecastOutput } from '../forecast/index.js';
import { isFhirError } from '../fhir/outcome.js';
import { forecastGroups, type PopulationForecastInput } from './forecast.js';

/** One forecast per input, undefined where CDSi cannot forecast (no full birth date). */
export type ForecastRunner = (inputs: PopulationForecastInput[], groups?: readonly string[]) => Promise<Array<ForecastOutput | undefined>>;

/** A patient CDSi refuses (400: no full birth date) is left out of the run, not a failed run. */
export function forecastOrSkip(input: PopulationForecastInput, groups?: readonly string[]): ForecastOutput | undefined {
  try {
    return forecastGroups(input, groups);
  } catch (err) {
    if (isFhirError(err) && err.status === 400) return undefined;
    throw err;
  }
}

export const inThreadRunner: ForecastRunner = async (inputs, groups) => inputs.map((input) => forecastOrSkip(input, groups));
