// A worker thread of the forecast pool (worker-pool.ts): forecasts the inputs it is sent with the
// same code as the request thread (forecast-runner.ts) and answers the outputs in order.
import { parentPort } from 'node:worker_threads';
import { forecastOrSkip } from './forecast-runner.js';
import type { PopulationForecastInput } from './forecast.js';

interface Job {
  id: number;
  inputs: PopulationForecastInput[];
  groups?: string[];
}

parentPort?.on('message', (job: Job) => {
  try {
    parentPort?.postMessage({ id: job.id, outputs: job.inputs.map((input) => forecastOrSkip(input, job.groups)) });
  } catch (err) {
    parentPort?.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) });
  }
});
