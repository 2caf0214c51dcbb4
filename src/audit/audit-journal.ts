// The write-ahead journal of the AuditLog: every event is appended to a file of DATA_DIR before the
// request that caused it is answered, and released once the store (or the spill file) holds it.
// Why: the AuditLog writes events off the response path, batched (up to 10 ms of gathering, then
// a commit), so a process killed right after answering (kill -9, an OOM kill, a crash) lost the
// events still queued: 29 of 2,000 acknowledged reads had no AuditEvent after a kill -9 within a
// millisecond of the last answer. A synchronous write() to a file is in the kernel's page cache
// when it returns, so it survives the death of the process (not a power cut: no fsync per request,
// which would cost a disk flush per read). The next start replays what the journal still holds;
// events already stored count as written (their ids are stored with ifVersion 'absent').
//
// Files: `audit-journal-<pid>-<start ms>-<journal>-<n>.ndjson`, one line per event. The current file is
// truncated whenever every event in it is released (at idle the journal is empty); past
// SEGMENT_BYTES a new file is started and the old one removed once its events are released, so
// under steady load the journal holds about what is queued, not everything ever recorded.
// Several processes may share DATA_DIR (the CLIs next to the server): a process replays only the
// journals of processes that are no longer running.
import { closeSync, ftruncateSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';

const PREFIX = 'audit-journal-';
const SUFFIX = '.ndjson';
/** A journal file past this size is closed and a new one started. */
export const SEGMENT_BYTES = 1 << 20;

export interface JournalSegment {
  readonly file: string;
  fd: number;
  /** Events appended to it and not yet released. */
  pending: number;
  bytes: number;
}

let journals = 0;

export class AuditJournal {
  private current?: JournalSegment;
  private sequence = 0;
  /** This journal's files' name part: several AuditLogs of one process (tests, CLIs) never share a file. */
  private readonly runId = `${process.pid}-${Date.now()}-${++journals}`;
  /** Set after a failed append: logged once, the events are then only in memory, as before. */
  private broken = false;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    private readonly segmentBytes = SEGMENT_BYTES
  ) {}

  /**
   * Appends one event (its JSON line) and returns the file holding it, or undefined when the
   * journal cannot be written (then the event is only queued in memory; the failure is logged).
   */
  append(line: string): JournalSegment | undefined {
    if (this.broken) return undefined;
    try {
      const segment = this.current ?? this.open();
      const bytes = Buffer.byteLength(line) + 1;
      writeSync(segment.fd, `${line}\n`);
      segment.pending++;
      segment.bytes += bytes;
      if (segment.bytes >= this.segmentBytes) this.current = undefined; // the next event starts a new file
      return segment;
    } catch (err) {
      this.broken = true;
      this.logger.error('audit journal not writable: events are queued in memory only until it is', { dir: this.dir, error: (err as Error).message });
      return undefined;
    }
  }

  /** An event of `segment` is stored (or spilled): its file is emptied or removed once all are. */
  release(segment: JournalSegment): void {
    if (--segment.pending > 0) return;
    try {
      if (segment === this.current) {
        ftruncateSync(segment.fd, 0);
        segment.bytes = 0;
      } else {
        closeSync(segment.fd);
        unlinkSync(segment.file);
      }
    } catch (err) {
      this.logger.warn('audit journal file not emptied (its events are stored; a restart replays them harmlessly)', { file: segment.file, error: (err as Error).message });
    }
  }

  /** Closes the current file and removes it when it holds no unreleased event (a clean shutdown). */
  close(): void {
    const segment = this.current;
    this.current = undefined;
    if (!segment) return;
    try {
      closeSync(segment.fd);
      if (segment.pending === 0) unlinkSync(segment.file);
    } catch {
      // Left for the next start, which replays it harmlessly.
    }
  }

  /** The journal files of processes that are no longer running (this run's own excluded). */
  orphans(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((name) => name.startsWith(PREFIX) && name.endsWith(SUFFIX) && !name.startsWith(`${PREFIX}${this.runId}-`))
      .filter((name) => !running(Number(name.slice(PREFIX.length).split('-')[0])))
      .sort()
      .map((name) => path.join(this.dir, name));
  }

  private open(): JournalSegment {
    const file = path.join(this.dir, `${PREFIX}${this.runId}-${++this.sequence}${SUFFIX}`);
    const segment: JournalSegment = { file, fd: openSync(file, 'a', 0o600), pending: 0, bytes: 0 };
    this.current = segment;
    return segment;
  }
}

/** Whether a process with this id runs (this process's own id counts as not: it is a past run's, as in a container whose server is always pid 1). */
function running(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
