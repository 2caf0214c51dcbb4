// Submitter report (IIP aggregate acknowledgment guidance): per submitting facility and day, the
// messages received, accepted (AA), accepted with errors (AE), rejected (AR) and the most frequent
// error codes. Counts are kept in memory and added to one stored document per organization,
// facility and day every few seconds and at shutdown (internal type Hl7SubmitterDay, never served
// over FHIR), with the version read as precondition so several server processes add up correctly.
import { csvCell } from '../csv/cell.js';
import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { latencyTrace } from '../latency-trace.js';
import type { Logger } from '../logger.js';
import { VersionConflictError, type Store } from '../store/store.js';
import type { MessageResult } from './messages.js';

export const REPORT_TYPE = 'Hl7SubmitterDay';

export interface DayCounts {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  /** MSH-4 of the messages. */
  facility: string;
  /** `Organization/<id>` the submitter acted for; '' for public-health clients. */
  organization: string;
  received: number;
  accepted: number;
  acceptedWithErrors: number;
  rejected: number;
  /** Error/warning code → count: the IIS rule code, else `HL7-0357:<code>`. */
  errorCodes: Record<string, number>;
}

export interface ReportRow extends Omit<DayCounts, 'errorCodes'> {
  topErrors: Array<{ code: string; count: number }>;
}

const TOP = 5;

export class SubmitterReport {
  private pending = new Map<string, DayCounts>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly options: { flushMs?: number; logger?: Logger } = {}
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushMs ?? 2000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  /** Counts one answered message. */
  record(result: MessageResult, organization: string | undefined, at = new Date()): void {
    const day = at.toISOString().slice(0, 10);
    const facility = result.facility || '(none)';
    const org = organization ?? '';
    const key = keyOf(day, facility, org);
    let counts = this.pending.get(key);
    if (!counts) {
      counts = emptyCounts(day, facility, org);
      this.pending.set(key, counts);
    }
    counts.received += 1;
    if (result.code === 'AA') counts.accepted += 1;
    else if (result.code === 'AE') counts.acceptedWithErrors += 1;
    else counts.rejected += 1;
    for (const issue of result.issues) {
      if (issue.severity === 'I') continue;
      const code = issue.ruleCode ?? `HL7-0357:${issue.hl7Code}`;
      counts.errorCodes[code] = (counts.errorCodes[code] ?? 0) + 1;
    }
  }

  /** Adds the pending counts to the stored documents (one flush at a time). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow());
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    const batch = [...this.pending.values()];
    this.pending.clear();
    const started = latencyTrace?.now() ?? 0;
    for (const delta of batch) {
      try {
        await this.add(delta);
      } catch (err) {
        // Keep the counts for the next flush rather than lose them.
        this.options.logger?.error('submitter report flush failed', { error: String(err) });
        mergeInto(this.pendingFor(delta), delta);
      }
    }
    latencyTrace?.event('report-flush', started, latencyTrace.now(), { documents: batch.length });
  }

  private pendingFor(delta: DayCounts): DayCounts {
    const key = keyOf(delta.day, delta.facility, delta.organization);
    let counts = this.pending.get(key);
    if (!counts) {
      counts = emptyCounts(delta.day, delta.facility, delta.organization);
      this.pending.set(key, counts);
    }
    return counts;
  }

  private async add(delta: DayCounts): Promise<void> {
    const id = idOf(delta);
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.store.read(REPORT_TYPE, id);
      const stored = current && !current.deleted && current.resource ? (current.resource as unknown as DayCounts) : emptyCounts(delta.day, delta.facility, delta.organization);
      const next = mergeInto({ ...stored, errorCodes: { ...stored.errorCodes } }, delta);
      try {
        await this.store.write({
          resourceType: REPORT_TYPE,
          id,
          resource: { resourceType: REPORT_TYPE, id, ...next } as unknown as Resource,
          ifVersion: current && !current.deleted ? current.versionId : 'absent',
          index: { day: next.day, facility: next.facility, organization: next.organization },
        });
        return;
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err;
      }
    }
    throw new Error(`submitter report ${delta.day} ${delta.facility}: too many concurrent changes`);
  }

  /**
   * The rows of one day (or a range), optionally for one facility; `organization` limits them to
   * what that organization submitted. This process's pending counts are flushed first, so the
   * answer is what the store holds (other processes add theirs within a flush interval).
   */
  async rows(query: { from: string; to: string; facility?: string; organization?: string }): Promise<ReportRow[]> {
    await this.flush();
    const filter: Record<string, unknown> = { 's.day': { $gte: query.from, $lte: query.to } };
    if (query.facility) filter['s.facility'] = query.facility;
    if (query.organization !== undefined) filter['s.organization'] = query.organization;
    const records = await this.store.search(REPORT_TYPE, { filter, limit: 10_000 });
    return records
      .map((rec) => pick(rec.resource as unknown as DayCounts))
      .sort((a, b) => a.day.localeCompare(b.day) || a.facility.localeCompare(b.facility) || a.organization.localeCompare(b.organization))
      .map(({ errorCodes, ...rest }) => ({
        ...rest,
        topErrors: Object.entries(errorCodes)
          .map(([code, count]) => ({ code, count }))
          .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code))
          .slice(0, TOP),
      }));
  }
}

function pick(c: DayCounts): DayCounts {
  return {
    day: c.day,
    facility: c.facility,
    organization: c.organization,
    received: c.received ?? 0,
    accepted: c.accepted ?? 0,
    acceptedWithErrors: c.acceptedWithErrors ?? 0,
    rejected: c.rejected ?? 0,
    errorCodes: { ...(c.errorCodes ?? {}) },
  };
}

function emptyCounts(day: string, facility: string, organization: string): DayCounts {
  return { day, facility, organization, received: 0, accepted: 0, acceptedWithErrors: 0, rejected: 0, errorCodes: {} };
}

function mergeInto(target: DayCounts, delta: DayCounts): DayCounts {
  target.received += delta.received;
  target.accepted += delta.accepted;
  target.acceptedWithErrors += delta.acceptedWithErrors;
  target.rejected += delta.rejected;
  for (const [code, n] of Object.entries(delta.errorCodes)) target.errorCodes[code] = (target.errorCodes[code] ?? 0) + n;
  return target;
}

function keyOf(day: string, facility: string, organization: string): string {
  return JSON.stringify([day, facility, organization]);
}

function idOf(c: DayCounts): string {
  return createHash('sha256').update(keyOf(c.day, c.facility, c.organization)).digest('hex').slice(0, 40);
}

/** CSV with a header line; the top error codes as `code:count` separated by spaces. */
export function reportCsv(rows: ReportRow[]): string {
  const header = ['day', 'facility', 'organization', 'received', 'accepted', 'accepted_with_errors', 'rejected', 'top_error_codes'];
  const lines = rows.map((r) =>
    [r.day, r.facility, r.organization, r.received, r.accepted, r.acceptedWithErrors, r.rejected, r.topErrors.map((e) => `${e.code}:${e.count}`).join(' ')].map(csvCell).join(',')
  );
  return `${[header.join(','), ...lines].join('\r\n')}\r\n`;
}
