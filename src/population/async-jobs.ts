// Population runs as Bulk-style asynchronous jobs (`Prefer: respond-async` on $reminder-recall or
// $evaluate-measure): the kick-off answers 202 with Content-Location
// `[base]/$export-poll-status?_jobId=…`, polled, downloaded, cancelled and expired exactly like an
// `$export` — the jobs are the bulk module's (src/bulk: stored jobs, leases, heartbeats, hand-back on
// shutdown, retention sweep), as tasks registered by name with its worker (`populationJobTasks`).
// Outputs (NDJSON, in the manifest's `output`):
//   $reminder-recall: `Patient` (the patients due or overdue) and `ImmunizationRecommendation`
//     (one per patient, its `patient` naming it, holding the groups due), the whole list, no paging;
//   $evaluate-measure: one `MeasureReport`.
// The job runs with the caller's data-sharing policy (the job keeps the caller's organization and
// the bulk worker scopes the store to it), so an organization never gets a hidden patient.
import { randomUUID } from 'node:crypto';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { grants } from '../auth/scopes.js';
import type { ExportFile } from '../bulk/jobs.js';
import type { JobTask, JobTaskContext } from '../bulk/exporter.js';
import { enqueueJob, statusUrl } from '../bulk/operations.js';
import type { BulkExports } from '../bulk/service.js';
import { badRequest, forbidden, makeIssue, outcome } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse, Handler, HandlerContext } from '../interactions/types.js';
import { evaluate, evaluateMeasureHandler, loadMeasure, readEvaluateParams, type EvaluateParams } from './evaluate-measure.js';
import { readsConditions } from './cohort.js';
import type { ForecastRunner } from './forecast-runner.js';
import { parseMeasure } from './measure-definition.js';
import { duePatients, readReminderParams, reminderRecallHandler } from './reminder-recall.js';

export const REMINDER_TASK = 'reminder-recall';
export const MEASURE_TASK = 'evaluate-measure';

/** Queues a population run for the caller and answers 202 + Content-Location (the status URL). */
export async function startPopulationJob(
  bulk: BulkExports,
  req: FhirRequest,
  ctx: HandlerContext,
  kind: typeof REMINDER_TASK | typeof MEASURE_TASK,
  params: Record<string, unknown>,
  types: string[]
): Promise<FhirResponse> {
  // As for $export: a patient/ token (one patient's app) does not run jobs over a population.
  for (const type of ['Patient', 'Immunization']) {
    if (!grants(ctx.caller.scopes, type, ['r', 's'], ['user', 'system'])) {
      throw forbidden(`An asynchronous ${kind} needs user/ or system/ scopes with read and search (rs) on Patient and Immunization`);
    }
  }
  const query = req.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const path = kind === REMINDER_TASK ? '$reminder-recall' : `Measure/${req.id}/$evaluate-measure`;
  const job = await enqueueJob(bulk, ctx, {
    request: `${ctx.baseUrl}/${path}${query ? `?${query}` : ''}`,
    level: 'system',
    types,
    typeFilters: [],
    task: { kind, params },
  });
  const body: OperationOutcome = outcome([makeIssue('information', 'informational', `Job ${job.id} accepted: poll ${statusUrl(ctx.baseUrl, job.id)}`)]);
  return { status: 202, headers: { 'Content-Location': statusUrl(ctx.baseUrl, job.id) }, body };
}

function outputs(files: Array<{ name: string; count: number; bytes: number }>, type: string, of: string): ExportFile[] {
  return files.map((f) => ({ ...f, section: 'output' as const, type, of }));
}

async function reminderJob(ctx: JobTaskContext, runner: ForecastRunner): Promise<ExportFile[]> {
  const { job } = ctx;
  const params = job.task?.params as { query: Array<[string, string]>; lenient: boolean; conditions?: boolean };
  const p = { ...readReminderParams({ query: params.query, prefer: params.lenient ? { handling: 'lenient' } : {} }), conditions: params.conditions === true };
  const patients = ctx.output('Patient');
  const recommendations = ctx.output('ImmunizationRecommendation');
  let done = 0;
  try {
    for await (const batch of duePatients(ctx, { ...p, cursor: undefined }, runner, false)) {
      ctx.signal.throwIfAborted();
      for (const d of batch) {
        if (patients.push(JSON.stringify(d.patient))) await patients.flush();
        const rec = { ...d.recommendation, id: randomUUID() };
        if (recommendations.push(JSON.stringify(rec))) await recommendations.flush();
      }
      done += batch.length;
      ctx.progress({ type: 'patients due or overdue', index: 0, exported: done });
    }
    return [...outputs(await patients.close(), 'Patient', 'Patient'), ...outputs(await recommendations.close(), 'ImmunizationRecommendation', 'Patient')];
  } catch (err) {
    await Promise.allSettled([patients.close(), recommendations.close()]);
    throw err;
  }
}

async function measureJob(ctx: JobTaskContext, runner: ForecastRunner): Promise<ExportFile[]> {
  const params = ctx.job.task?.params as { measure: string; evaluate: EvaluateParams };
  const def = parseMeasure(await loadMeasure(ctx, params.measure));
  const report = await evaluate(ctx, def, params.evaluate, runner, ctx.signal);
  const out = ctx.output('MeasureReport');
  try {
    out.push(JSON.stringify({ ...report, id: randomUUID() }));
    return outputs(await out.close(), 'MeasureReport', 'Measure');
  } catch (err) {
    await Promise.allSettled([out.close()]);
    throw err;
  }
}

/** The tasks the bulk worker runs for population jobs (registered where the server is built). */
export function populationJobTasks(runner: ForecastRunner): Map<string, JobTask> {
  return new Map<string, JobTask>([
    [REMINDER_TASK, (ctx) => reminderJob(ctx, runner)],
    [MEASURE_TASK, (ctx) => measureJob(ctx, runner)],
  ]);
}


/**
 * $reminder-recall and $evaluate-measure: answered at once, or with `Prefer: respond-async` queued
 * as a job (the parameters are checked at kick-off: a bad one is a 400 then, not a failed job).
 */
export function populationOperations(runner: ForecastRunner, bulk: BulkExports): { reminderRecall: Handler; evaluateMeasure: Handler } {
  const reminderNow = reminderRecallHandler(runner);
  const measureNow = evaluateMeasureHandler(runner);
  return {
    reminderRecall: async (req, ctx) => {
      if (!req.prefer.respondAsync) return reminderNow(req, ctx);
      if (req.wantsCsv) throw badRequest('An asynchronous $reminder-recall answers NDJSON files (Patient, ImmunizationRecommendation); ask for the CSV without "Prefer: respond-async"');
      readReminderParams(req);
      const params = { query: req.query.filter(([k]) => k !== '_count' && k !== '_cursor'), lenient: req.prefer.handling === 'lenient', conditions: readsConditions(ctx.caller) };
      return startPopulationJob(bulk, req, ctx, REMINDER_TASK, params, ['Patient', 'ImmunizationRecommendation']);
    },
    evaluateMeasure: async (req, ctx) => {
      if (!req.prefer.respondAsync) return measureNow(req, ctx);
      if (req.resourceType !== 'Measure' || req.id === undefined) return measureNow(req, ctx); // its 400
      const evaluateParams = { ...readEvaluateParams(req), conditions: readsConditions(ctx.caller) };
      parseMeasure(await loadMeasure(ctx, req.id)); // unknown or unreadable Measure: 404 / 400 now
      return startPopulationJob(bulk, req, ctx, MEASURE_TASK, { measure: req.id, evaluate: evaluateParams }, ['MeasureReport']);
    },
  };
}
