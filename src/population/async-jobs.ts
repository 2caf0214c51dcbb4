// Population runs as Bulk-style asynchronous jobs (`Prefer: respond-async` on $reminder-recall or
// $evaluate-measure): the kick-off answers 202 with Content-Location
// `[base]/$export-poll-status?_jobId=…`, polled, downloaded, cancelled and expired exactly like an
// `$export` — the jobs are the bulk module's (src/bulk: stored jobs, leases, heartbeats, hand-back on
// shutdown, retention sweep), as tasks registered by name with its worker (`populationJobTasks`).
// Outputs (in the manifest's `output`):
//   $reminder-recall: NDJSON `Patient` (the patients due or overdue) and `ImmunizationRecommendation`
//     (one per patient, its `patient` naming it, holding the groups due), the whole list, no paging;
//     with `_outputFormat=text/csv` (Bulk Data's parameter for the files' format; `_format` and
//     Accept name the kick-off answer's format) the synchronous CSV instead, in files of `type`
//     `reminder-recall` (`text/csv` on download), each starting with the header line;
//   $evaluate-measure: one NDJSON `MeasureReport`.
// The job runs with the caller's data-sharing policy (the job keeps the caller's organization and
// the bulk worker scopes the store to it), so an organization never gets a hidden patient. The
// patients a reminder/recall job writes are audited as they are written (disclosure.ts), with the
// kick-off's caller, query and request id.
import { randomUUID } from 'node:crypto';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { grants } from '../auth/scopes.js';
import type { AuditLog } from '../audit/audit-log.js';
import { patientRefsOf } from '../audit/audit-event.js';
import type { ExportFile, ExportJob } from '../bulk/jobs.js';
import type { JobTask, JobTaskContext } from '../bulk/exporter.js';
import { enqueueJob, statusUrl } from '../bulk/operations.js';
import type { BulkExports } from '../bulk/service.js';
import { badRequest, forbidden, makeIssue, outcome } from '../fhir/outcome.js';
import type { Caller, FhirRequest, FhirResponse, Handler, HandlerContext } from '../interactions/types.js';
import { evaluate, evaluateMeasureHandler, loadMeasure, readEvaluateParams, type EvaluateParams } from './evaluate-measure.js';
import { readsConditions } from './cohort.js';
import type { ForecastRunner } from './forecast-runner.js';
import { parseMeasure } from './measure-definition.js';
import { PatientDisclosures, type RecordDisclosure } from './disclosure.js';
import { CSV_HEADER_LINE, CSV_NEWLINE, csvRows, duePatients, readReminderParams, reminderRecallHandler, type DuePatient } from './reminder-recall.js';

export const REMINDER_TASK = 'reminder-recall';
export const MEASURE_TASK = 'evaluate-measure';
/** The manifest `type` of a reminder/recall job's CSV files (rows of the list, not FHIR resources). */
export const CSV_OUTPUT_TYPE = 'reminder-recall';
/** Bulk Data's kick-off parameter for the format of the files. */
export const OUTPUT_FORMAT = '_outputFormat';

type OutputFormat = 'ndjson' | 'csv';

const OUTPUT_FORMATS: Record<string, OutputFormat> = {
  'application/fhir+ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  ndjson: 'ndjson',
  'text/csv': 'csv',
  csv: 'csv',
};

/** `_outputFormat` (at most once): NDJSON (Bulk Data's default and its short forms) or CSV. */
function outputFormatOf(query: Array<[string, string]>): OutputFormat {
  const values = query.filter(([k]) => k === OUTPUT_FORMAT).map(([, v]) => v);
  if (values.length === 0) return 'ndjson';
  if (values.length > 1) throw badRequest(`${OUTPUT_FORMAT} may appear only once`, { expression: OUTPUT_FORMAT });
  const format = OUTPUT_FORMATS[values[0].trim().toLowerCase()];
  if (!format) throw badRequest(`${OUTPUT_FORMAT} "${values[0]}" is not offered by $reminder-recall: use application/fhir+ndjson or text/csv`, { expression: OUTPUT_FORMAT });
  return format;
}

/** The caller's fields its AuditEvents name (the parsed scopes are not kept: the scope string is). */
function auditedCaller(caller: Caller): JobAudit['caller'] {
  const kept: JobAudit['caller'] = { scope: caller.scope };
  if (caller.sub !== undefined) kept.sub = caller.sub;
  if (caller.clientId !== undefined) kept.clientId = caller.clientId;
  if (caller.issuer !== undefined) kept.issuer = caller.issuer;
  if (caller.organization !== undefined) kept.organization = caller.organization;
  return kept;
}

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

/** What a reminder/recall job keeps from its kick-off (ExportJob.task.params). */
interface ReminderJobParams {
  /**
   * The kick-off's query without _count, _cursor and _outputFormat, as a query string: FerretDB
   * (the MongoDB store's test server) refuses nested arrays, so name/value pairs are not stored as
   * such (jobs queued by an older server may still hold the pairs).
   */
  query: string | Array<[string, string]>;
  lenient: boolean;
  conditions?: boolean;
  /** The files' format (`_outputFormat`); absent in jobs queued before the CSV existed: NDJSON. */
  format?: OutputFormat;
  /** Who started it and how, for the AuditEvents naming the patients written to its files. */
  audit?: JobAudit;
}

interface JobAudit {
  caller: Pick<Caller, 'sub' | 'clientId' | 'issuer' | 'organization' | 'scope'>;
  requestId: string;
  /** The kick-off's whole query (a query string), as its own AuditEvent names it. */
  query: string;
}

/** Name/value pairs of a stored query (a query string, or the pairs an older server stored). */
function pairsOf(query: string | Array<[string, string]>): Array<[string, string]> {
  return typeof query === 'string' ? [...new URLSearchParams(query)] : query;
}

/**
 * The patients a job writes to its files, audited as they are written (see disclosure.ts): each
 * event is of the kick-off (its caller, query and request id; outcome its 202) and names the job.
 * A job queued before the kick-off kept these falls back to the job's owner and organization.
 */
function jobDisclosures(job: ExportJob, audit: AuditLog | undefined, params: ReminderJobParams, answer: string): PatientDisclosures | undefined {
  if (!audit) return undefined;
  return new PatientDisclosures(jobRecord(job, audit, params.audit, pairsOf(params.audit?.query ?? params.query), REMINDER_TASK), answer);
}

/** Records one event of a job's kick-off naming patients its files hold (`kept` absent: the job's owner). */
function jobRecord(job: ExportJob, audit: AuditLog, kept: JobAudit | undefined, query: Array<[string, string]>, operation: string = MEASURE_TASK): RecordDisclosure {
  const caller: Caller = { ...(kept?.caller ?? { sub: job.owner, organization: job.organization, scope: '' }), scopes: [] };
  return (patientRefs, description) =>
    audit.recordAccess({
      caller,
      interaction: 'operation',
      operation,
      query,
      patientRefs,
      outcome: 202,
      outcomeDesc: `asynchronous job ${job.id}, ${description}`,
      requestId: kept?.requestId ?? job.id,
    });
}

async function reminderJob(ctx: JobTaskContext, runner: ForecastRunner, audit: AuditLog | undefined): Promise<ExportFile[]> {
  const { job } = ctx;
  const params = job.task?.params as unknown as ReminderJobParams;
  const p = { ...readReminderParams({ query: pairsOf(params.query), prefer: params.lenient ? { handling: 'lenient' } : {} }), conditions: params.conditions === true };
  const patientsDue = duePatients(ctx, { ...p, cursor: undefined }, runner, false);
  if (params.format === 'csv') return reminderCsvJob(ctx, patientsDue, jobDisclosures(job, audit, params, 'written to its CSV files'));
  const disclosures = jobDisclosures(job, audit, params, 'written to its NDJSON files');
  const patients = ctx.output('Patient');
  const recommendations = ctx.output('ImmunizationRecommendation');
  let done = 0;
  try {
    for await (const batch of patientsDue) {
      ctx.signal.throwIfAborted();
      for (const d of batch) {
        if (patients.push(JSON.stringify(d.patient))) await patients.flush();
        const rec = { ...d.recommendation, id: randomUUID() };
        if (recommendations.push(JSON.stringify(rec))) await recommendations.flush();
        disclosures?.add(d.patient.id as string);
      }
      done += batch.length;
      ctx.progress({ type: 'patients due or overdue', index: 0, exported: done });
    }
    return [...outputs(await patients.close(), 'Patient', 'Patient'), ...outputs(await recommendations.close(), 'ImmunizationRecommendation', 'Patient')];
  } catch (err) {
    await Promise.allSettled([patients.close(), recommendations.close()]);
    throw err;
  } finally {
    disclosures?.flush();
  }
}

/**
 * `_outputFormat=text/csv`: the synchronous CSV's rows (csvRows: same columns, same rows, same
 * order) in files `reminder-recall-<n>.csv`, each starting with the header line; the manifest's
 * `count` is a file's rows.
 */
async function reminderCsvJob(ctx: JobTaskContext, patientsDue: AsyncIterable<DuePatient[]>, disclosures: PatientDisclosures | undefined): Promise<ExportFile[]> {
  const rows = ctx.output(CSV_OUTPUT_TYPE, { extension: 'csv', newline: CSV_NEWLINE, header: CSV_HEADER_LINE });
  let done = 0;
  try {
    for await (const batch of patientsDue) {
      ctx.signal.throwIfAborted();
      for (const d of batch) {
        for (const row of csvRows(d)) if (rows.push(row)) await rows.flush();
        disclosures?.add(d.patient.id as string);
      }
      done += batch.length;
      ctx.progress({ type: 'patients due or overdue', index: 0, exported: done });
    }
    return outputs(await rows.close(), CSV_OUTPUT_TYPE, 'Patient');
  } catch (err) {
    await Promise.allSettled([rows.close()]);
    throw err;
  } finally {
    disclosures?.flush();
  }
}

/** What a measure job keeps from its kick-off (ExportJob.task.params). */
interface MeasureJobParams {
  measure: string;
  evaluate: EvaluateParams;
  /** Who started it and how, for the AuditEvents naming the patients a subject-list report lists. */
  audit?: JobAudit;
}

async function measureJob(ctx: JobTaskContext, runner: ForecastRunner, audit: AuditLog | undefined): Promise<ExportFile[]> {
  const { job } = ctx;
  const params = job.task?.params as unknown as MeasureJobParams;
  const def = parseMeasure(await loadMeasure(ctx, params.measure));
  const report = await evaluate(ctx, def, params.evaluate, runner, ctx.signal);
  const out = ctx.output('MeasureReport');
  try {
    out.push(JSON.stringify({ ...report, id: randomUUID() }));
    const files = outputs(await out.close(), 'MeasureReport', 'Measure');
    // A subject-list report names its patients (who is, and is not, up to date): audited as the
    // synchronous answer's event names them, by events of the kick-off naming the job.
    const listed = patientRefsOf([report]);
    if (audit && listed.length > 0) {
      const disclosures = new PatientDisclosures(jobRecord(job, audit, params.audit, pairsOf(params.audit?.query ?? '')), 'written to its MeasureReport file');
      for (const ref of listed) disclosures.add(ref.slice('Patient/'.length));
      disclosures.flush();
    }
    return files;
  } catch (err) {
    await Promise.allSettled([out.close()]);
    throw err;
  }
}

/**
 * The tasks the bulk worker runs for population jobs (registered where the server is built);
 * `audit` records the patients a reminder/recall job writes to its files, and those a subject-list
 * MeasureReport lists.
 */
export function populationJobTasks(runner: ForecastRunner, audit?: AuditLog): Map<string, JobTask> {
  return new Map<string, JobTask>([
    [REMINDER_TASK, (ctx) => reminderJob(ctx, runner, audit)],
    [MEASURE_TASK, (ctx) => measureJob(ctx, runner, audit)],
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
      if (!req.prefer.respondAsync) {
        // Meaningless without a job: refused, or ignored like any parameter under lenient handling.
        if (req.prefer.handling !== 'lenient' && req.query.some(([k]) => k === OUTPUT_FORMAT)) {
          throw badRequest(`${OUTPUT_FORMAT} names the files of an asynchronous run (with "Prefer: respond-async"); for the CSV now use _format=text/csv`, { expression: OUTPUT_FORMAT });
        }
        return reminderNow(req, ctx);
      }
      if (req.wantsCsv) {
        // _format / Accept name the format of this answer (the kick-off's 202), not of the job's files.
        throw badRequest(`An asynchronous $reminder-recall answers 202 and writes files: ask for CSV files with ${OUTPUT_FORMAT}=text/csv (Bulk Data), not _format or Accept`, { expression: '_format' });
      }
      const format = outputFormatOf(req.query);
      const query = req.query.filter(([k]) => k !== OUTPUT_FORMAT);
      readReminderParams({ query, prefer: req.prefer });
      const params: ReminderJobParams = {
        query: new URLSearchParams(query.filter(([k]) => k !== '_count' && k !== '_cursor')).toString(),
        lenient: req.prefer.handling === 'lenient',
        conditions: readsConditions(ctx.caller),
        format,
        audit: { caller: auditedCaller(ctx.caller), requestId: ctx.requestId, query: new URLSearchParams(req.query).toString() },
      };
      const types = format === 'csv' ? [CSV_OUTPUT_TYPE] : ['Patient', 'ImmunizationRecommendation'];
      return startPopulationJob(bulk, req, ctx, REMINDER_TASK, params as unknown as Record<string, unknown>, types);
    },
    evaluateMeasure: async (req, ctx) => {
      if (!req.prefer.respondAsync) return measureNow(req, ctx);
      if (req.resourceType !== 'Measure' || req.id === undefined) return measureNow(req, ctx); // its 400
      const evaluateParams = { ...readEvaluateParams(req), conditions: readsConditions(ctx.caller) };
      parseMeasure(await loadMeasure(ctx, req.id)); // unknown or unreadable Measure: 404 / 400 now
      const params: MeasureJobParams = {
        measure: req.id,
        evaluate: evaluateParams,
        audit: { caller: auditedCaller(ctx.caller), requestId: ctx.requestId, query: new URLSearchParams(req.query).toString() },
      };
      return startPopulationJob(bulk, req, ctx, MEASURE_TASK, params as unknown as Record<string, unknown>, ['MeasureReport']);
    },
  };
}
