// The $export operations (Bulk Data Access 2.0), served under /fhir through the normal pipeline
// (token, audit), with per-type scope checks here:
//   GET|POST [base]/$export, [base]/Patient/$export, [base]/Group/[id]/$export   kick-off → 202
//   GET|DELETE [base]/$export-poll-status?_jobId=…                               status, cancel
//   GET [base]/$export-download?_jobId=…&_file=…                                  NDJSON file
// Status and files answer only the client that started the job (same token issuer, client and
// organization) and only while its token still reads the file's type.
import { randomUUID } from 'node:crypto';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Caller } from '../fhir/request.js';
import { grants } from '../auth/scopes.js';
import { badRequest, FhirError, forbidden, makeIssue, notFound, outcome } from '../fhir/outcome.js';
import { ID_PATTERN, SUPPORTED_TYPES } from '../fhir/resource-types.js';
import type { FhirRequest, FhirResponse, Handler, HandlerContext } from '../interactions/types.js';
import { parseQuery } from '../fhir/url.js';
import { parseCriteria } from '../search/parse.js';
import { typesReachedByCriteria } from '../search/reach.js';
import { FileNotFoundError } from '../store/files.js';
import { nextInstant } from '../store/store.js';
import { ACTIVE_STATES, type ExportFile, type ExportJob } from './jobs.js';
import { COMPARTMENT_TYPES, exportPairs, parseExportParams, type ExportLevel } from './params.js';
import type { BulkExports } from './service.js';

export const STATUS_OPERATION = 'export-poll-status';
export const DOWNLOAD_OPERATION = 'export-download';
export const NDJSON = 'application/fhir+ndjson';

/** The three handlers, serving the exports of this server process (registered by src/app). */
export function bulkExportOperations(bulk: BulkExports): { kickOff: Handler; status: Handler; download: Handler } {
  return {
    kickOff: (req, ctx) => exportOperation(bulk, req, ctx),
    status: (req, ctx) => exportStatusOperation(bulk, req, ctx),
    download: (req, ctx) => exportDownloadOperation(bulk, req, ctx),
  };
}

/** Kick-off at every level. */
async function exportOperation(bulk: BulkExports, req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const caller = ctx.caller;
  const level = levelOf(req);
  if (!req.prefer.respondAsync) {
    throw badRequest('$export runs asynchronously: send the header "Prefer: respond-async" (FHIR Bulk Data Access)');
  }
  const params = parseExportParams(exportPairs(req.method, req.query, req.body), {
    level,
    method: req.method,
    lenient: req.prefer.handling === 'lenient',
    baseUrl: ctx.baseUrl,
  });

  const readable = (type: string) => grants(caller.scopes, type, ['r', 's'], ['user', 'system']);
  const scopeHint = 'bulk export needs user/ or system/ scopes with read and search (rs) on every exported type';
  if (level === 'group' && !grants(caller.scopes, 'Group', ['r'], ['user', 'system'])) {
    throw forbidden(`The token's scopes do not allow reading Group/${req.id} (${scopeHint})`);
  }
  let types: string[];
  if (params.types) {
    const denied = params.types.filter((t) => !readable(t));
    if (denied.length > 0) throw forbidden(`The token's scopes do not allow exporting ${denied.join(', ')} (${scopeHint})`);
    types = params.types;
  } else {
    const candidates: readonly string[] = level === 'system' && !params.organizeOutputBy ? SUPPORTED_TYPES : COMPARTMENT_TYPES;
    types = candidates.filter(readable);
    if (types.length === 0) throw forbidden(`The token's scopes allow exporting none of ${candidates.join(', ')} (${scopeHint})`);
  }
  const deniedFilters = params.typeFilters.filter((f) => !readable(f.type)).map((f) => f.type);
  if (deniedFilters.length > 0) throw forbidden(`The token's scopes do not allow exporting ${deniedFilters.join(', ')} (${scopeHint})`);
  // A _typeFilter's chains and _has search other types (Patient?_has:Immunization:…): those need
  // search rights too, or the export would answer questions about resources the token cannot read.
  const reached = new Set(
    params.typeFilters.flatMap((f) => [...typesReachedByCriteria(f.type, parseCriteria(f.type, parseQuery(f.query), ctx.baseUrl)).keys()])
  );
  const unsearchable = [...reached].filter((type) => !grants(caller.scopes, type, ['s'], ['user', 'system']));
  if (unsearchable.length > 0) {
    throw forbidden(`The token's scopes do not allow searching ${unsearchable.join(', ')}, which _typeFilter reaches through a chain or _has (${scopeHint})`);
  }

  if (level === 'group') {
    const group = await ctx.store.read('Group', req.id as string);
    if (!group?.resource || group.deleted) throw notFound(`Group/${req.id} is not known to this server`);
  }

  const fields: JobFields = { request: kickoffUrl(ctx.baseUrl, req, level), level, types, typeFilters: params.typeFilters };
  if (level === 'group') fields.groupId = req.id;
  if (params.since) fields.since = params.since;
  if (params.until) fields.until = params.until;
  if (params.organizeOutputBy) fields.organizeOutputBy = params.organizeOutputBy;
  if (params.patients) fields.patients = params.patients;
  if (params.elements) fields.elements = params.elements;
  const job = await enqueueJob(bulk, ctx, fields);
  const notes = [...params.issues];
  if (job.until !== undefined && job.until > job.transactionTime) {
    // The manifest's transactionTime bounds every export: later changes are not in it.
    notes.push(
      makeIssue('information', 'informational', `Parameter "_until": ${job.until} is after this export's transactionTime (${job.transactionTime}); resources changed after transactionTime are not included`, { expression: '_until' })
    );
  }
  const body: OperationOutcome = outcome([
    makeIssue('information', 'informational', `Export job ${job.id} accepted: poll ${statusUrl(ctx.baseUrl, job.id)}`),
    ...notes,
  ]);
  return { status: 202, headers: { 'Content-Location': statusUrl(ctx.baseUrl, job.id) }, body };
}

/** What a kick-off decides about a job; the rest (owner, state, instants) is set by enqueueJob. */
export type JobFields = Pick<ExportJob, 'request' | 'level' | 'types' | 'typeFilters'> &
  Partial<Pick<ExportJob, 'groupId' | 'since' | 'until' | 'organizeOutputBy' | 'patients' | 'elements' | 'task'>>;

/**
 * Queues a job for the caller (an export, or a registered task such as a population run started
 * with `Prefer: respond-async`): at most BULK_MAX_JOBS_PER_CLIENT active per client (429 beyond),
 * polled at `$export-poll-status?_jobId=` like an export.
 */
export async function enqueueJob(bulk: BulkExports, ctx: HandlerContext, fields: JobFields): Promise<ExportJob> {
  const caller = ctx.caller;
  const owner = ownerOf(caller);
  // Count and insert under one per-client store lock (race-safe across processes on both stores):
  // concurrent kick-offs of one client never get past BULK_MAX_JOBS_PER_CLIENT together.
  const job = await ctx.store.withLock(`bulk-kickoff:${owner}`, async () => {
    const running = await bulk.repo.active(owner);
    if (running.length >= bulk.options.maxJobsPerClient) {
      throw new FhirError(
        429,
        outcome([
          makeIssue('error', 'throttled', `This client already has ${running.length} jobs queued or running (at most ${bulk.options.maxJobsPerClient}); wait for one to finish or cancel it`),
        ]),
        { 'Retry-After': String(Math.max(5, Math.round(bulk.options.pollMs / 1000) * 5)) }
      );
    }

    const now = nextInstant();
    const job: ExportJob = {
      resourceType: 'BulkExportJob',
      id: randomUUID(),
      state: 'queued',
      owner,
      compression: bulk.options.compression,
      // Everything committed before the kick-off answered is in the export; later changes are not.
      transactionTime: now,
      createdAt: now,
      attempts: 0,
      done: [],
      files: [],
      ...fields,
    };
    if (caller.organization) job.organization = caller.organization;
    await bulk.repo.create(job);
    return job;
  });
  bulk.worker.kick();
  return job;
}

/** Status (GET) and cancel (DELETE). */
async function exportStatusOperation(bulk: BulkExports, req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const caller = ctx.caller;
  const id = jobIdOf(req);
  // Per job and caller: another client's key never holds a due instant, so it gets its 403 below.
  const pollKey = `${id}|${ownerOf(caller)}`;
  if (req.method !== 'DELETE') {
    const early = bulk.statusPolls?.secondsEarly(pollKey) ?? 0;
    if (early > 0) {
      throw new FhirError(
        429,
        outcome([makeIssue('error', 'throttled', `Export job ${id} was polled before the Retry-After of the last status answer; poll again in ${early} s`)]),
        { 'Retry-After': String(early) }
      );
    }
  }
  const job = await ownedJob(bulk, id, caller);

  if (req.method === 'DELETE') {
    bulk.statusPolls?.forget(pollKey);
    const terminal = job.state === 'completed' || job.state === 'failed';
    await bulk.repo.modify(id, (j) => {
      if (j.state === 'cancelled') return undefined;
      const next: ExportJob = { ...j, state: 'cancelled', finishedAt: j.finishedAt ?? nextInstant(), expiresAt: nextInstant() };
      delete next.lease;
      delete next.progress;
      return next;
    });
    bulk.stopLocal(id);
    if (terminal) for (const f of await bulk.files.list(`${id}/`)) await bulk.files.remove(f.name).catch(() => undefined);
    return {
      status: 202,
      body: outcome([makeIssue('information', 'informational', `Export job ${id} ${terminal ? 'deleted: its files are removed' : 'cancelled'}`)]),
    };
  }

  switch (job.state) {
    case 'queued':
    case 'running': {
      const wait = retryAfter(job);
      bulk.statusPolls?.record(pollKey, wait);
      return { status: 202, headers: { 'X-Progress': progressText(job, bulk.worker.progressOf(id)), 'Retry-After': String(wait) } };
    }
    case 'failed':
      throw new FhirError(500, outcome([makeIssue('error', 'exception', `Export job ${id} failed: ${job.error ?? 'unknown error'}`)]));
    case 'completed': {
      const fileUrl = (f: ExportFile) => ({ type: f.type, url: downloadUrl(ctx.baseUrl, id, f.name), count: f.count });
      const manifest: Record<string, unknown> = {
        transactionTime: job.transactionTime,
        request: job.request,
        requiresAccessToken: true,
      };
      const outputs = job.files.filter((f) => f.section === 'output');
      if (job.organizeOutputBy) {
        // Organized output (Bulk Data manifest): outputOrganizedBy, and no `type` on output entries
        // (a file holds several). No block is split across files, so no continuesInFile either.
        manifest.outputOrganizedBy = job.organizeOutputBy;
        manifest.output = outputs.map((f) => ({ url: downloadUrl(ctx.baseUrl, id, f.name), count: f.count }));
      } else {
        manifest.output = outputs.map(fileUrl);
      }
      if (job.since !== undefined) manifest.deleted = job.files.filter((f) => f.section === 'deleted').map(fileUrl);
      manifest.error = job.files.filter((f) => f.section === 'error').map(fileUrl);
      const headers: Record<string, string> = {};
      if (job.expiresAt) headers.Expires = new Date(job.expiresAt).toUTCString();
      return { status: 200, headers, raw: { contentType: 'application/json; charset=utf-8', data: JSON.stringify(manifest) } };
    }
    default:
      throw notFound(`No export job ${id}`);
  }
}

/** One output file, streamed (gzip when the client accepts it). */
async function exportDownloadOperation(bulk: BulkExports, req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const caller = ctx.caller;
  const id = jobIdOf(req);
  const file = singleParam(req, '_file');
  const job = await ownedJob(bulk, id, caller);
  const entry = job.state === 'completed' ? job.files.find((f) => f.name === `${id}/${file}`) : undefined;
  if (!entry) throw notFound(`Export job ${id} has no file ${file}`);
  const denied = entry.section === 'error' ? [] : entry.of.split(',').filter((t) => !grants(caller.scopes, t, ['r', 's'], ['user', 'system']));
  if (denied.length > 0) throw forbidden(`The token's scopes do not allow reading ${denied.join(', ')} (needs rs)`);
  const headers: Record<string, string> = { 'Cache-Control': 'private, no-store' };
  if (job.expiresAt) headers.Expires = new Date(job.expiresAt).toUTCString();
  const encoding = job.compression === 'gzip' ? ('gzip' as const) : ('identity' as const);
  const contentType = contentTypeOf(entry.name);
  if (req.method === 'HEAD') {
    const [info] = await bulk.files.list(entry.name);
    if (!info) throw notFound(`Export job ${id} has no file ${file}`);
    return { status: 200, headers, raw: { contentType, open: async () => { throw new Error('HEAD'); }, encoding, length: info.size } };
  }
  let opened;
  try {
    opened = await bulk.files.open(entry.name);
  } catch (err) {
    if (err instanceof FileNotFoundError) throw notFound(`Export job ${id} has no file ${file} (expired?)`);
    throw err;
  }
  const stream = opened.stream;
  return { status: 200, headers, raw: { contentType, open: async () => stream, encoding, length: opened.size } };
}

/** NDJSON, or the CSV of a task that writes one (a reminder/recall job with `_outputFormat=text/csv`). */
function contentTypeOf(fileName: string): string {
  return fileName.endsWith('.csv') ? 'text/csv; charset=utf-8' : NDJSON;
}

// ---------------------------------------------------------------------------------------------

function levelOf(req: FhirRequest): ExportLevel {
  if (req.resourceType === undefined) return 'system';
  if (req.resourceType === 'Patient' && req.id === undefined) return 'patient';
  if (req.resourceType === 'Group' && req.id !== undefined) return 'group';
  throw notFound(
    req.id === undefined
      ? `$export is defined on the system, on Patient and on Group/[id], not on ${req.resourceType}`
      : `$export is defined on Group/[id] instances, not on ${req.resourceType}/${req.id}`
  );
}

/**
 * Who a job belongs to: token issuer, client (or subject) and organization, and for a signed-in
 * person (fhirUser) that person: the users of one app at one facility do not share their exports
 * (nor a reports user a clinician's files). Without a person the key is as before, so jobs started
 * before stay their client's.
 */
export function ownerOf(caller: Caller): string {
  const key = [caller.issuer ?? '', caller.clientId ?? caller.sub ?? '', caller.organization ?? ''];
  if (caller.fhirUser) key.push(caller.fhirUser);
  return key.join('|');
}

function singleParam(req: FhirRequest, name: string): string {
  const values = req.query.filter(([k]) => k === name).map(([, v]) => v);
  if (values.length !== 1 || values[0] === '') throw badRequest(`Parameter "${name}" is required once`, { expression: name });
  return values[0];
}

function jobIdOf(req: FhirRequest): string {
  const id = singleParam(req, '_jobId');
  if (!ID_PATTERN.test(id)) throw badRequest(`"${id}" is not an export job id`, { expression: '_jobId' });
  return id;
}

async function ownedJob(bulk: BulkExports, id: string, caller: Caller): Promise<ExportJob> {
  const found = await bulk.repo.get(id);
  const job = found?.job;
  const expired = job?.expiresAt !== undefined && Date.parse(job.expiresAt) <= Date.now();
  if (!job || job.state === 'cancelled' || expired) throw notFound(`No export job ${id} (unknown, cancelled or expired)`);
  if (job.owner !== ownerOf(caller)) throw forbidden(`Export job ${id} belongs to another client`);
  return job;
}

function progressText(job: ExportJob, live: ExportJob['progress']): string {
  if (job.state === 'queued') return job.attempts > 0 ? 'queued (resuming)' : 'queued';
  const p = live ?? job.progress;
  if (!p) return 'starting';
  if (job.task) return `${job.task.kind}: ${p.exported}${p.total !== undefined ? ` of ${p.total}` : ''} ${p.type}`;
  if (job.organizeOutputBy) return `exporting patient blocks: ${p.exported} resources of ${job.types.join(', ')}`;
  const of = p.total !== undefined ? ` of ${p.total}` : '';
  return `exporting ${p.type} (type ${p.index + 1} of ${job.types.length}): ${p.exported}${of} resources`;
}

/** Seconds until the next poll: 1 s at first, growing with the job's age up to 10 s. */
function retryAfter(job: ExportJob): number {
  const age = (Date.now() - Date.parse(job.createdAt)) / 1000;
  return Math.min(10, Math.max(1, Math.round(age / 10)));
}

function kickoffUrl(baseUrl: string, req: FhirRequest, level: ExportLevel): string {
  const path = level === 'system' ? '' : level === 'patient' ? 'Patient/' : `Group/${req.id}/`;
  const query = req.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `${baseUrl}/${path}$export${query ? `?${query}` : ''}`;
}

export function statusUrl(baseUrl: string, id: string): string {
  return `${baseUrl}/$${STATUS_OPERATION}?_jobId=${id}`;
}

function downloadUrl(baseUrl: string, id: string, name: string): string {
  return `${baseUrl}/$${DOWNLOAD_OPERATION}?_jobId=${id}&_file=${encodeURIComponent(name.slice(id.length + 1))}`;
}

export { ACTIVE_STATES };
