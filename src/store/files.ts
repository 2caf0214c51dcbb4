// Files next to the store (bulk export output), so every server process sharing the store can
// serve them: a directory under DATA_DIR with the embedded store, GridFS with MongoDB.
// Names are relative paths of [A-Za-z0-9._-] segments separated by `/` (e.g. `<job>/Patient-1.ndjson`).
import type { Readable, Writable } from 'node:stream';

export interface FileInfo {
  name: string;
  /** Bytes stored. */
  size: number;
}

export interface OpenedFile extends FileInfo {
  stream: Readable;
}

export interface FileStore {
  readonly kind: 'directory' | 'gridfs';
  init(): Promise<void>;
  close(): Promise<void>;
  /**
   * A new file (replacing one of that name). It becomes visible to open() and list() only when
   * the stream has finished, and then durably (fsynced / written with the store's write concern);
   * a stream destroyed before that leaves nothing behind.
   */
  create(name: string): Promise<Writable>;
  /** Throws FileNotFoundError when there is no such (complete) file. */
  open(name: string): Promise<OpenedFile>;
  /** Removes the file; a missing file is not an error. */
  remove(name: string): Promise<void>;
  /** Complete files whose name starts with prefix. */
  list(prefix: string): Promise<FileInfo[]>;
}

export class FileNotFoundError extends Error {
  constructor(readonly fileName: string) {
    super(`No file ${fileName}`);
    this.name = 'FileNotFoundError';
  }
}

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,3}$/;

/** Throws unless name is a safe relative file name (no `..`, no absolute paths, no hidden files). */
export function checkFileName(name: string): string {
  if (!NAME.test(name) || name.split('/').some((s) => s.includes('..'))) throw new Error(`Invalid file name "${name}"`);
  return name;
}
