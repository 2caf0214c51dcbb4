// GET /fhir/$reminder-recall (CONTRACT.md "Reminder/recall and coverage"): an organization's
// patients with a dose due or overdue as of a date, from the CDSi forecast of each patient.
//   organization=Organization/{id} (required), asOf=YYYY-MM-DD (default today), vaccineGroup (CDSi
//   names, repeatable or comma-separated), status=due|overdue, ageMin / ageMax (whole years on asOf),
//   _count (patients per page, default 50, at most 1000) and _cursor (from the next link).
// JSON: a searchset Bundle page, each Patient (search.mode match) followed by its
// ImmunizationRecommendation (search.mode include) holding the groups due or overdue.
// _format=text/csv: the whole list, one row per patient and vaccine group, streamed as computed.
// The caller's data-sharing restrictions apply to every query (src/population/cohort.ts).
import { csvCell } from '../csv/cell.js';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, BundleLink, ImmunizationRecommendation, Patient } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import { cohortBatches, parseSubject, readsConditions, type CohortMember, type CohortOptions, type CohortSubject, type RunContext } from './cohort.js';
import { addDays, addMonths, isDate } from './dates.js';
import type { DueItem, DueStatus } from './due.js';
import { canonicalGroup } from './forecast.js';
import { inThreadRunner, type ForecastRunner } from './forecast-runner.js';
import type { DueResult, PopulationTask } from './patient-task.js';
import { PatientDisclosures } from './disclosure.js';
import { pipelined } from './pipelined.js';

export const CSV_TYPE = 'text/csv';
const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;
const BATCH = 200;
const FIRST_BATCH = 25;

export interface ReminderRecallParams {
  subject: CohortSubject;
  asOf: string;
  groups?: string[];
  statuses?: Set<DueStatus>;
  ageMin?: number;
  ageMax?: number;
  count: number;
  cursor?: string;
  /** Read the patients' Conditions (the caller's token may read them). */
  conditions?: boolean;
}

export function readReminderParams(req: Pick<FhirRequest, 'query' | 'prefer'>): ReminderRecallParams {
  let organization: string | undefined;
  let asOf = new Date().toISOString().slice(0, 10);
  const groups: string[] = [];
  let statuses: Set<DueStatus> | undefined;
  let ageMin: number | undefined;
  let ageMax: number | undefined;
  let count = DEFAULT_COUNT;
  let cursor: string | undefined;
  const years = (name: string, value: string): number => {
    if (!/^\d{1,3}$/.test(value)) throw badRequest(`${name} must be a whole number of years, got "${value}"`, { expression: name });
    return Number(value);
  };
  // One value each (vaccineGroup and status are lists): a second one is a 400, never silently preferred.
  const single = new Set(['organization', 'asOf', 'ageMin', 'ageMax', '_count', '_cursor']);
  const given = new Set<string>();
  for (const [name, value] of req.query) {
    if (single.has(name)) {
      if (given.has(name)) throw badRequest(`${name} is given more than once; give it once`, { expression: name });
      given.add(name);
    }
    switch (name) {
      case 'organization':
        organization = value;
        break;
      case 'asOf':
        if (!isDate(value)) throw badRequest(`asOf must be a date YYYY-MM-DD, got "${value}"`, { expression: 'asOf' });
        asOf = value;
        break;
      case 'vaccineGroup':
        for (const g of value.split(',')) if (g.trim() !== '') groups.push(canonicalGroup(g));
        break;
      case 'status':
        statuses = new Set();
        for (const s of value.split(',')) {
          if (s !== 'due' && s !== 'overdue') throw badRequest(`status must be due or overdue, got "${s}"`, { expression: 'status' });
          statuses.add(s);
        }
        break;
      case 'ageMin':
        ageMin = years(name, value);
        break;
      case 'ageMax':
        ageMax = years(name, value);
        break;
      case '_count':
        if (!/^\d+$/.test(value) || Number(value) < 1) throw badRequest(`_count must be a positive whole number, got "${value}"`, { expression: '_count' });
        count = Math.min(Number(value), MAX_COUNT);
        break;
      case '_cursor':
        if (!/^[A-Za-z0-9\-.]{1,64}$/.test(value)) throw badRequest('_cursor is not one this server gave', { expression: '_cursor' });
        cursor = value;
        break;
      default:
        if (req.prefer.handling !== 'lenient') throw badRequest(`Unknown $reminder-recall parameter "${name}"`, { expression: name });
    }
  }
  if (!organization) throw badRequest('organization (Organization/{id}) is required', { expression: 'organization' });
  const subject = parseSubject(organization);
  if (subject.kind !== 'organization') throw badRequest('organization must be an Organization/{id} reference', { expression: 'organization' });
  if (ageMin !== undefined && ageMax !== undefined && ageMin > ageMax) throw badRequest('ageMin is greater than ageMax', { expression: 'ageMin' });
  return { subject, asOf, groups: groups.length > 0 ? [...new Set(groups)] : undefined, statuses, ageMin, ageMax, count, cursor };
}

function cohortOptions(p: ReminderRecallParams, ordered: boolean): CohortOptions {
  return {
    batchSize: BATCH,
    // A CSV's first rows leave after a small first batch.
    firstBatchSize: ordered ? BATCH : FIRST_BATCH,
    ordered,
    after: p.cursor,
    conditions: p.conditions === true,
    // Age in whole years on asOf between ageMin and ageMax.
    ...(p.ageMin !== undefined ? { bornTo: addMonths(p.asOf, -12 * p.ageMin) } : {}),
    ...(p.ageMax !== undefined ? { bornFrom: addDays(addMonths(p.asOf, -12 * (p.ageMax + 1)), 1) } : {}),
  };
}

export interface DuePatient {
  patient: Patient;
  items: DueItem[];
  recommendation: ImmunizationRecommendation;
}

/**
 * Patients with something due, batch by batch, in the cohort's order. While the runner (a worker
 * thread) forecasts one batch, the next is read from the store (pipelined, order kept).
 */
export async function* duePatients(ctx: RunContext, p: ReminderRecallParams, runner: ForecastRunner, ordered: boolean): AsyncGenerator<DuePatient[]> {
  const task: PopulationTask = { kind: 'due', asOf: p.asOf, groups: p.groups, statuses: p.statuses ? [...p.statuses] : undefined };
  const results = pipelined(cohortBatches(ctx.store, p.subject, cohortOptions(p, ordered)), async (batch: CohortMember[]) => {
    const due = await runner(task, batch);
    const out: DuePatient[] = [];
    batch.forEach((m, i) => {
      const d = due[i] as DueResult;
      if (d) out.push({ patient: m.patient, items: d.items, recommendation: d.recommendation });
    });
    return out;
  });
  yield* results;
}

export function reminderRecallHandler(runner: ForecastRunner = inThreadRunner) {
  return async (req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> => {
    if (req.resourceType !== undefined || req.id !== undefined) throw badRequest('$reminder-recall is a system-level operation: GET /fhir/$reminder-recall');
    const params = { ...readReminderParams(req), conditions: readsConditions(ctx.caller) };
    if (req.wantsCsv) {
      return {
        status: 200,
        headers: { 'Content-Disposition': `attachment; filename="reminder-recall-${params.asOf}.csv"` },
        raw: {
          contentType: `${CSV_TYPE}; charset=utf-8`,
          live: true,
          open: async () => {
            // The rows leave after this request's AuditEvent: their patients are audited as they go.
            const disclosures = ctx.auditDisclosed ? new PatientDisclosures(ctx.auditDisclosed, '$reminder-recall CSV') : undefined;
            return Readable.from(csvLines(duePatients(ctx, { ...params, cursor: undefined }, runner, false), disclosures));
          },
        },
      };
    }
    return { status: 200, body: await page(ctx, req, params, runner) };
  };
}

export const reminderRecallOperation = reminderRecallHandler();

async function page(ctx: HandlerContext, req: FhirRequest, p: ReminderRecallParams, runner: ForecastRunner): Promise<Bundle> {
  const entry: BundleEntry[] = [];
  let included = 0;
  let lastId: string | undefined;
  let more = false;
  outer: for await (const batch of duePatients(ctx, p, runner, true)) {
    for (const d of batch) {
      if (included === p.count) {
        more = true;
        break outer;
      }
      entry.push({ fullUrl: `${ctx.baseUrl}/Patient/${d.patient.id}`, resource: d.patient, search: { mode: 'match' } });
      entry.push({ fullUrl: `urn:uuid:${randomUUID()}`, resource: d.recommendation, search: { mode: 'include' } });
      included++;
      lastId = d.patient.id;
    }
  }
  const link: BundleLink[] = [{ relation: 'self', url: linkUrl(ctx, req, p.cursor) }];
  if (more && lastId) link.push({ relation: 'next', url: linkUrl(ctx, req, lastId) });
  return { resourceType: 'Bundle', type: 'searchset', link, ...(entry.length ? { entry } : {}) };
}

function linkUrl(ctx: HandlerContext, req: FhirRequest, cursor: string | undefined): string {
  const q = new URLSearchParams(req.query.filter(([k]) => k !== '_cursor'));
  if (cursor) q.set('_cursor', cursor);
  return `${ctx.baseUrl}/$reminder-recall?${q.toString()}`;
}

export const CSV_HEADER = ['id', 'name', 'birthDate', 'phone', 'address', 'vaccineGroup', 'dose', 'recommended', 'pastDue', 'status'];

function nameOf(p: Patient): string {
  const name = p.name?.find((n) => n.use === 'official') ?? p.name?.find((n) => n.use !== 'old') ?? p.name?.[0];
  if (!name) return '';
  return name.text ?? [...(name.given ?? []), name.family ?? ''].join(' ').trim();
}

function addressOf(p: Patient): string {
  const a = p.address?.find((x) => x.use === 'home') ?? p.address?.[0];
  if (!a) return '';
  const place = [a.city, [a.state, a.postalCode].filter(Boolean).join(' ')].filter(Boolean).join(', ');
  return [...(a.line ?? []), place].filter((x) => x && x !== '').join(', ');
}

function phoneOf(p: Patient): string {
  return p.telecom?.find((t) => t.system === 'phone' || t.system === 'sms')?.value ?? '';
}

/** The CSV's line terminator (RFC 4180) and its header line. */
export const CSV_NEWLINE = '\r\n';
export const CSV_HEADER_LINE = `${CSV_HEADER.join(',')}${CSV_NEWLINE}`;

/** The CSV rows of one patient (one per vaccine group due or overdue), without their terminators. */
export function csvRows(d: DuePatient): string[] {
  const fixed = [d.patient.id, nameOf(d.patient), d.patient.birthDate, phoneOf(d.patient), addressOf(d.patient)];
  return d.items.map((item) => [...fixed, item.vaccineGroup, item.dose, item.recommended, item.pastDue, item.status].map(csvCell).join(','));
}

/**
 * One CSV line per patient and vaccine group, header first; lines leave as each batch is done.
 * The patients of each batch are given to `disclosures` (the audit) before its lines leave; what is
 * left is recorded when the stream ends, however it ends (the client gone: a batch may be named
 * that did not reach it, never one that did without being named).
 */
export async function* csvLines(patients: AsyncIterable<DuePatient[]>, disclosures?: PatientDisclosures): AsyncGenerator<string> {
  yield CSV_HEADER_LINE;
  try {
    for await (const batch of patients) {
      let chunk = '';
      for (const d of batch) {
        const rows = csvRows(d);
        if (rows.length === 0) continue;
        for (const row of rows) chunk += `${row}${CSV_NEWLINE}`;
        disclosures?.add(d.patient.id as string);
      }
      if (chunk !== '') yield chunk;
    }
  } finally {
    disclosures?.flush();
  }
}
