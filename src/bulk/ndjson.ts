// Writes NDJSON lines into a sequence of files (`<prefix>-1.ndjson`, `-2`, …) in the file store,
// gzip-compressed or plain, closing a file and starting the next at a line or byte limit.
// Lines are collected and written in chunks of about 1 MiB; a chunk waits for the file stream to
// drain, so a slow store holds the producer back and memory stays flat.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
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
}

interface OpenFile {
  name: string;
  sink: Writable;
  done: Promise<void>;
  lines: number;
  bytes: number;
}

export class NdjsonWriter {
  private pending: string[] = [];
  private pendingChars = 0;
  private current: OpenFile | undefined;
  private next = 1;
  private readonly written: WrittenFile[] = [];
  private readonly chunkBytes: number;
  /** Lines accepted so far (all files). */
  lines = 0;
  /** Bytes written so far (all files, before compression). */
  bytes = 0;

  constructor(private readonly options: NdjsonWriterOptions) {
    this.chunkBytes = options.chunkBytes ?? 1024 * 1024;
  }

  /** Adds a line (no newline in it). True when the caller should `await flush()` before the next push. */
  push(line: string): boolean {
    this.pending.push(line);
    this.pendingChars += line.length + 1;
    this.lines++;
    const fileLines = (this.current?.lines ?? 0) + this.pending.length;
    return this.pendingChars >= this.chunkBytes || fileLines >= this.options.maxLines;
  }

  /** Writes what was collected, waiting for the file to drain; rotates the file at its limits. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const file = this.current ?? (this.current = await this.open());
    const buf = Buffer.from(`${this.pending.join('\n')}\n`, 'utf8');
    file.lines += this.pending.length;
    file.bytes += buf.length;
    this.bytes += buf.length;
    this.pending = [];
    this.pendingChars = 0;
    if (!file.sink.write(buf)) await Promise.race([once(file.sink, 'drain'), file.done]);
    if (file.lines >= this.options.maxLines || file.bytes >= this.options.maxBytes) await this.closeCurrent();
  }

  /** Flushes, closes the last file and returns every file written (none when there were no lines). */
  async close(): Promise<WrittenFile[]> {
    await this.flush();
    await this.closeCurrent();
    return [...this.written];
  }

  /** Stops writing: the open file is discarded; files already closed are returned for the caller to remove. */
  async abort(): Promise<WrittenFile[]> {
    this.pending = [];
    const file = this.current;
    this.current = undefined;
    if (file) {
      file.sink.destroy();
      await file.done.catch(() => undefined);
      await this.options.files.remove(file.name).catch(() => undefined);
    }
    return [...this.written];
  }

  private async open(): Promise<OpenFile> {
    const name = `${this.options.prefix}-${this.next++}.ndjson`;
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
    return { name, sink, done, lines: 0, bytes: 0 };
  }

  private async closeCurrent(): Promise<void> {
    const file = this.current;
    if (!file) return;
    this.current = undefined;
    file.sink.end();
    await file.done;
    this.written.push({ name: file.name, count: file.lines, bytes: file.bytes });
  }
}
