// Writes NDJSON lines into a sequence of files (`<prefix>-1.ndjson`, `-2`, …) in the file store,
// gzip-compressed or plain, closing a file and starting the next at a line or byte limit.
// Lines are collected and written in chunks of about 1 MiB; a chunk waits for its file stream to
// drain, so a slow store holds the producer back and memory stays flat.
// Compression runs on libuv's thread pool, one thread per gzip stream: once a type has produced
// more than a few chunks, its chunks are spread over `lanes` files open at once, so that many
// threads compress in parallel (NDJSON lines have no order, so each file stays valid on its own).
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { concatUtf8 } from '../fhir/stored-json.js';
import type { FileStore } from '../store/files.js';

export interface WrittenFile {
  name: string;
  count: number;
  /** NDJSON bytes before compression. */
  bytes: number;
}

export interface NdjsonWriterOptions {
  files: FileStore;
  /** Stored names are `<prefix>-<n>.ndjson`. */
  prefix: string;
  compression: 'gzip' | 'none';
  gzipLevel?: number;
  maxLines: number;
  maxBytes: number;
  /** Bytes collected before they are written (default 1 MiB). */
  chunkBytes?: number;
  /** Files written at once once the output is large (default 1). */
  lanes?: number;
  /** Number of the first file (a resumed export continues after the files it already has). */
  firstNumber?: number;
  /** Another line-based text format (a task's CSV): extension, line terminator and header. */
  format?: LineFormat;
}

/**
 * A line-based text format other than NDJSON, for a task's outputs (the reminder/recall CSV):
 * files `<prefix>-<n>.<extension>`, lines ended by `newline`, `header` (with its terminator)
 * first in every file so each file stands alone (not counted as a line). Lines are text only.
 */
export interface LineFormat {
  extension: string;
  newline: string;
  header?: string;
}

/** Output below this stays in one file at a time (small types get one file, not one per lane). */
const LANE_THRESHOLD = 8 * 1024 * 1024;

interface OpenFile {
  n: number;
  name: string;
  sink: Writable;
  done: Promise<void>;
  lines: number;
  bytes: number;
}

export class NdjsonWriter {
  /** Lines waiting for flush: text, or UTF-8 bytes (a store's stored JSON, copied as they are). */
  private pending: Array<string | Uint8Array> = [];
  private pendingChars = 0;
  private readonly lanes: Array<OpenFile | undefined>;
  private lane = 0;
  private next = 1;
  private readonly written: Array<WrittenFile & { n: number }> = [];
  /** How many of `written` were handed out by takePart already. */
  private taken = 0;
  private readonly chunkBytes: number;
  /** Lines accepted so far (all files). */
  lines = 0;
  /** Bytes written so far (all files, before compression). */
  bytes = 0;

  constructor(private readonly options: NdjsonWriterOptions) {
    this.chunkBytes = options.chunkBytes ?? 1024 * 1024;
    this.lanes = new Array<OpenFile | undefined>(Math.max(1, options.lanes ?? 1)).fill(undefined);
    this.next = Math.max(1, options.firstNumber ?? 1);
  }

  /** True once a file was closed at its limits since the last takePart: a part is ready to be committed. */
  get partReady(): boolean {
    return this.written.length > this.taken;
  }

  /**
   * Ends a part: flushes, closes every open file, and returns the files closed since the last
   * part. Every line pushed so far is then in a returned or earlier file, so the caller can record
   * them together with how far its input got (a resume point), and start the next part.
   */
  async takePart(): Promise<WrittenFile[]> {
    await this.flush();
    await Promise.all(this.lanes.map((_, i) => this.closeLane(i)));
    const part = this.written.slice(this.taken).sort((a, b) => a.n - b.n);
    this.taken = this.written.length;
    return part.map(({ name, count, bytes }) => ({ name, count, bytes }));
  }

  /**
   * Before a block of `lines` lines that must stay in one file (organized output: one patient):
   * closes the current file first if the block would take it past maxLines. A block larger than
   * the limit gets a file of its own. Push the block, then flush.
   */
  async keepTogether(lines: number): Promise<void> {
    const current = (this.lanes[this.lane]?.lines ?? 0) + this.pending.length;
    if (current > 0 && current + lines > this.options.maxLines) {
      await this.flush();
      await this.closeLane(this.lane);
    }
  }

  /** Adds a line (no newline in it). True when the caller should `await flush()` before the next push. */
  push(line: string | Uint8Array): boolean {
    this.pending.push(line);
    this.pendingChars += line.length + 1;
    this.lines++;
    const fileLines = (this.lanes[this.lane]?.lines ?? 0) + this.pending.length;
    return this.pendingChars >= this.chunkBytes || fileLines >= this.options.maxLines;
  }

  /** Writes what was collected, waiting for the file to drain; rotates the file at its limits. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const lane = this.lane;
    const file = this.lanes[lane] ?? (this.lanes[lane] = await this.open());
    const buf = joinLines(this.pending, this.options.format?.newline);
    file.lines += this.pending.length;
    file.bytes += buf.length;
    this.bytes += buf.length;
    this.pending = [];
    this.pendingChars = 0;
    if (this.bytes >= LANE_THRESHOLD) this.lane = (lane + 1) % this.lanes.length;
    if (!file.sink.write(buf)) await Promise.race([once(file.sink, 'drain'), file.done]);
    if (file.lines >= this.options.maxLines || file.bytes >= this.options.maxBytes) await this.closeLane(lane);
  }

  /** Flushes, closes the open files and returns every file written (none when there were no lines). */
  async close(): Promise<WrittenFile[]> {
    await this.flush();
    await Promise.all(this.lanes.map((_, i) => this.closeLane(i)));
    return this.files();
  }

  /** Stops writing: open files are discarded; files already closed are returned for the caller to remove. */
  async abort(): Promise<WrittenFile[]> {
    this.pending = [];
    const open = this.lanes.filter((f): f is OpenFile => f !== undefined);
    this.lanes.fill(undefined);
    for (const file of open) {
      file.sink.destroy();
      await file.done.catch(() => undefined);
      await this.options.files.remove(file.name).catch(() => undefined);
    }
    return this.files();
  }

  private files(): WrittenFile[] {
    return [...this.written].sort((a, b) => a.n - b.n).map(({ name, count, bytes }) => ({ name, count, bytes }));
  }

  private async open(): Promise<OpenFile> {
    const n = this.next++;
    const name = `${this.options.prefix}-${n}.${this.options.format?.extension ?? 'ndjson'}`;
    const out = await this.options.files.create(name);
    let sink: Writable = out;
    let done: Promise<void>;
    if (this.options.compression === 'gzip') {
      const gzip = createGzip({ level: this.options.gzipLevel ?? 1, chunkSize: 256 * 1024 });
      sink = gzip;
      done = pipeline(gzip, out);
    } else {
      done = new Promise<void>((resolve, reject) => {
        out.once('finish', resolve);
        out.once('error', reject);
      });
    }
    done.catch(() => undefined); // observed by flush/close
    const header = this.options.format?.header;
    if (header === undefined) return { n, name, sink, done, lines: 0, bytes: 0 };
    const head = Buffer.from(header, 'utf8');
    sink.write(head);
    this.bytes += head.length;
    return { n, name, sink, done, lines: 0, bytes: head.length };
  }

  private async closeLane(lane: number): Promise<void> {
    const file = this.lanes[lane];
    if (!file) return;
    this.lanes[lane] = undefined;
    file.sink.end();
    await file.done;
    this.written.push({ n: file.n, name: file.name, count: file.lines, bytes: file.bytes });
  }
}

/** The lines, each followed by a newline, as one UTF-8 buffer (byte lines copied as they are). */
function joinLines(lines: Array<string | Uint8Array>, newline = '\n'): Buffer {
  if (lines.every((l) => typeof l === 'string')) return Buffer.from(`${lines.join(newline)}${newline}`, 'utf8');
  if (newline !== '\n') throw new Error('byte lines are NDJSON only');
  return concatUtf8(lines, 0x0a);
}
