// One-time backfill: records stored before HL7 v2 OBX 59784-9 / 30945-0 also became Conditions have
// them only as the dose's extensions. This makes the Condition a VXU makes today from each such
// extension (observationConditionOf: the same code, identifier, subject and evidence), so the
// patient's record, the web app, FHIR searches and bulk export show them as they show new ones.
//
// - Runs in the server, in the background, at start (src/server.ts) until it has finished once; the
//   progress record (`ObservationConditionBackfill/v1`, an internal type: no FHIR API, no history in
//   `_history`) says where it is. `npm run backfill:conditions` (cli.ts) runs or shows it from a shell.
// - Bounded: the doses are read in pages of `pageSize` by id (`_id > last`, sorted by id: the store's
//   id walk), never all at once; the page's last id is saved after each page, so a stopped run
//   (server stopped, process killed) resumes after the last page saved.
// - Idempotent and safe beside the server: each Condition is a conditional create by its identifier
//   under the same store lock a VXU's conditional create takes (a resend arriving meanwhile cannot
//   make a second), committed together with a check that the dose is still the version read
//   (`verifyOnly`): a dose deleted or changed meanwhile is read again and judged as it is now. A
//   Condition that exists (a VXU made it, an earlier run, a clinician's change) is left as it is.
// - Only doses last written before the first run started (`until`): what this version stores has its
//   Conditions made by the VXU path already.
// - Skipped, so that no forecast changes: doses entered in error (the forecast ignores their
//   extensions), doses without an occurrenceDateTime (the Condition's onset would differ from the
//   date the extension is counted at), and values that map to no CDSi observation (as for a VXU).
// - Audited as a system change: one AuditEvent per page that made Conditions (create of Condition,
//   by `system:observation-conditions-backfill`, naming every patient touched).
import { randomUUID } from 'node:crypto';
import type { Condition, Immunization, Reference, Resource } from '@medplum/fhirtypes';
import type { AccessEvent } from '../audit/audit-event.js';
import type { Caller } from '../fhir/request.js';
import { newResourceId } from '../fhir/resource-id.js';
import { conditionalLockKey, indexFor } from '../interactions/write-support.js';
import type { Logger } from '../logger.js';
import { findMatches } from '../search/execute.js';
import { VersionConflictError, type ResourceRecord, type Store } from '../store/store.js';
import { cvxOf, OBSERVATION_EXTENSIONS } from '../forecast/fhir.js';
import { token } from './identifiers.js';
import { EXT, LOINC_OBX, observationConditionOf } from './vxu-to-fhir.js';

export const BACKFILL_TYPE = 'ObservationConditionBackfill';
const BACKFILL_ID = 'v1';

export interface BackfillProgress {
  /** Doses last written up to this instant are looked at (the first run's start). */
  until: string;
  /** The last dose id of the last page saved ('' before the first). */
  after: string;
  examined: number;
  made: number;
  done: boolean;
  startedAt: string;
  finishedAt?: string;
}

export interface BackfillOptions {
  store: Store;
  /** Records the AuditEvent of a page that made Conditions (AuditLog.recordAccess). */
  audit: (event: AccessEvent) => void;
  logger?: Logger;
  /** Doses per page (default 500). */
  pageSize?: number;
  /**
   * A pause between pages, so a run beside the server leaves the event loop to requests (a page's
   * read is synchronous in the embedded store: ~12 µs per dose). Default 0.
   */
  pauseMs?: number;
  /** Stop after this many pages (a resumable run in parts; default: to the end). */
  maxPages?: number;
  /** Checked between pages: true stops the run (the server is closing). */
  stopped?: () => boolean;
  /** Who runs it, for the AuditEvent's client (`iis-server`, `iis-cli`). */
  clientId?: string;
}

export const BACKFILL_CALLER: Caller = { sub: 'system:observation-conditions-backfill', scopes: [], scope: 'system/Condition.c system/Immunization.r' };

export async function readBackfillProgress(store: Store): Promise<BackfillProgress | undefined> {
  const record = await store.read(BACKFILL_TYPE, BACKFILL_ID);
  return record && !record.deleted && record.resource ? progressOf(record.resource) : undefined;
}

/** The progress fields of the stored record (not its resourceType, id and meta). */
function progressOf(resource: Resource): BackfillProgress {
  const { until, after, examined, made, done, startedAt, finishedAt } = resource as unknown as BackfillProgress;
  return { until, after, examined, made, done, startedAt, ...(finishedAt ? { finishedAt } : {}) };
}

/** Runs (or resumes) the backfill until done, stopped or maxPages; answers the progress saved. */
export async function backfillObservationConditions(options: BackfillOptions): Promise<BackfillProgress> {
  const { store } = options;
  const pageSize = Math.max(1, options.pageSize ?? 500);
  let progress = await readBackfillProgress(store);
  if (progress?.done) return progress;
  if (!progress) {
    const now = new Date().toISOString();
    progress = await saveProgress(store, { until: now, after: '', examined: 0, made: 0, done: false, startedAt: now });
    options.logger?.info('observation Conditions backfill started', { until: progress.until });
  }
  for (let pages = 0; options.maxPages === undefined || pages < options.maxPages; pages++) {
    if (pages > 0 && options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    if (options.stopped?.()) break;
    const page = await store.search('Immunization', {
      // By id alone, so both stores walk their id order and stop at the page (a lastUpdated
      // condition could make the embedded planner collect and sort every match); `until` below.
      filter: progress.after ? { _id: { $gt: progress.after } } : {},
      sort: [{ field: '_id', direction: 1 }],
      limit: pageSize,
      raw: true,
    });
    const patients = new Set<string>();
    let made = 0;
    for (const record of page) {
      if (record.lastUpdated > progress.until || !mayCarryObservation(record)) continue;
      made += await backfillDose(store, record, patients);
    }
    if (made > 0) {
      options.audit({
        caller: { ...BACKFILL_CALLER, clientId: options.clientId ?? 'iis-server' },
        interaction: 'create',
        resourceType: 'Condition',
        patientRefs: [...patients],
        outcome: 201,
        outcomeDesc: `${made} Condition(s) made from the HL7 v2 observations (OBX 59784-9 / 30945-0) stored on doses`,
        requestId: randomUUID(),
      });
    }
    const last = page.at(-1)?.id ?? progress.after;
    const done = page.length < pageSize;
    progress = await saveProgress(store, {
      ...progress,
      after: last,
      examined: progress.examined + page.length,
      made: progress.made + made,
      done,
      ...(done ? { finishedAt: new Date().toISOString() } : {}),
    });
    if (progress.done) {
      options.logger?.info('observation Conditions backfill finished', { examined: progress.examined, made: progress.made });
      break;
    }
  }
  return progress;
}

/** A cheap look at the stored JSON before parsing it: most doses carry no such extension. */
function mayCarryObservation(record: ResourceRecord): boolean {
  if (record.resource) return (record.resource as Immunization).extension !== undefined;
  const text = record.json ?? (record.jsonBytes ? Buffer.from(record.jsonBytes.buffer, record.jsonBytes.byteOffset, record.jsonBytes.byteLength).toString('utf8') : '');
  if (!OBSERVATION_EXTENSIONS.some((url) => text.includes(url))) return false;
  record.resource = JSON.parse(text) as Resource;
  return true;
}

/** The Conditions of one dose's observations that do not exist yet; answers how many were made. */
async function backfillDose(store: Store, first: ResourceRecord, patients: Set<string>): Promise<number> {
  let record: ResourceRecord | undefined = first;
  let made = 0;
  // Each Condition is committed with a check of the dose's version: a dose changed meanwhile is read again.
  for (let attempt = 0; attempt < 5 && record; attempt++) {
    const dose = record.resource as Immunization;
    try {
      for (const condition of conditionsOf(dose)) {
        if (await createUnlessExists(store, record, condition)) {
          made += 1;
          patients.add(condition.subject.reference as string);
        }
      }
      return made;
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      const reread = await store.read('Immunization', record.id);
      record = reread && !reread.deleted ? reread : undefined;
    }
  }
  return made;
}

/** The Conditions a VXU would make from the dose's observation extensions (none for a dose entered in error or without a date). */
export function conditionsOf(dose: Immunization): Condition[] {
  if (dose.status === 'entered-in-error' || !dose.occurrenceDateTime || !dose.patient?.reference || !dose.id) return [];
  const identity = dose.identifier?.find((i) => !i.type?.coding?.some((c) => c.code === 'PLAC')) ?? { system: '', value: `Immunization/${dose.id}` };
  const recorder = organizationOf(dose);
  const out: Condition[] = [];
  const seen = new Set<string>();
  for (const extension of dose.extension ?? []) {
    if (!(OBSERVATION_EXTENSIONS as readonly string[]).includes(extension.url) || !extension.valueCodeableConcept) continue;
    const made = observationConditionOf({
      dose: identity,
      loinc: extension.url === EXT.evidenceOfImmunity ? LOINC_OBX.evidenceOfImmunity : LOINC_OBX.contraindication,
      concept: extension.valueCodeableConcept,
      vaccine: cvxOf(dose),
      onset: dose.occurrenceDateTime,
      recordedDate: dose.recorded,
      recorder,
    });
    if (!made || seen.has(made.identifier.value as string)) continue;
    seen.add(made.identifier.value as string);
    out.push({ ...made.condition, subject: { reference: dose.patient.reference }, evidence: [{ detail: [{ reference: `Immunization/${dose.id}` }] }] });
  }
  return out;
}

/** The Organization that gave the dose, when the record names one (the VXU path names the submitter). */
function organizationOf(dose: Immunization): Reference | undefined {
  const actor = dose.performer?.find((p) => p.actor?.reference?.startsWith('Organization/'))?.actor;
  return actor?.reference ? { reference: actor.reference } : undefined;
}

/** A conditional create by the Condition's identifier, under the lock a VXU's If-None-Exist takes, with the dose's version checked. */
async function createUnlessExists(store: Store, dose: ResourceRecord, condition: Condition): Promise<boolean> {
  const identifier = condition.identifier?.[0];
  if (!identifier) return false;
  const query = `identifier=${encodeURIComponent(token(identifier))}`;
  return store.withLock(conditionalLockKey('Condition', query), async () => {
    if ((await findMatches(store, 'Condition', query, 1, { baseUrl: '' })).length > 0) return false;
    const id = newResourceId();
    const resource = { ...condition, id } as Condition;
    const create = { resourceType: 'Condition', id, resource, ifVersion: 'absent' as const, index: indexFor(resource) };
    if (store.supportsTransactions) {
      await store.transact([{ resourceType: 'Immunization', id: dose.id, resource: dose.resource, ifVersion: dose.versionId, verifyOnly: true }, create]);
    } else {
      // Without transactions: the dose's version checked just before (a change in between is not seen).
      const now = await store.read('Immunization', dose.id);
      if (!now || now.deleted || now.versionId !== dose.versionId) throw new VersionConflictError('Immunization', dose.id, dose.versionId, now?.versionId);
      await store.write(create);
    }
    return true;
  });
}

/**
 * Records the backfill as done without running it, for a store whose every dose was written by
 * this version's code (a generated data set): nothing there can lack its Conditions, and the
 * server's first start then does not walk every dose of it looking for observations.
 */
export async function recordBackfillNotNeeded(store: Store): Promise<BackfillProgress> {
  const now = new Date().toISOString();
  return saveProgress(store, { until: now, after: '', examined: 0, made: 0, done: true, startedAt: now, finishedAt: now });
}

/** Saves the progress; beside another runner (another server process on MongoDB) the furthest point wins. */
async function saveProgress(store: Store, progress: BackfillProgress): Promise<BackfillProgress> {
  for (let attempt = 0; ; attempt++) {
    const current = await store.read(BACKFILL_TYPE, BACKFILL_ID);
    const stored = current && !current.deleted && current.resource ? progressOf(current.resource) : undefined;
    const next: BackfillProgress = stored && (stored.done || stored.after > progress.after) ? { ...stored } : { ...progress, ...(stored ? { until: stored.until, startedAt: stored.startedAt } : {}) };
    try {
      await store.write({
        resourceType: BACKFILL_TYPE,
        id: BACKFILL_ID,
        resource: { resourceType: BACKFILL_TYPE, id: BACKFILL_ID, ...next } as unknown as Resource,
        ifVersion: current && !current.deleted ? current.versionId : 'absent',
        index: { done: next.done },
      });
      return next;
    } catch (err) {
      if (!(err instanceof VersionConflictError) || attempt >= 20) throw err;
    }
  }
}
