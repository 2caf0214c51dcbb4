// DATA_DIR must be a directory this process can write: the embedded store, the token and signing
// keys, bulk export files and undelivered audit events live there (with MONGODB_URL too). Checked
// once before anything starts, so a read-only, unwritable or impossible DATA_DIR stops the server
// with one sentence naming it, not a stack trace from whichever component touched it first.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The server cannot start on this DATA_DIR; the message says why and what to do. */
export class DataDirUnusableError extends Error {
  override readonly name = 'DataDirUnusableError';
}

const REASONS: Record<string, string> = {
  EROFS: 'it is on a read-only file system',
  EACCES: 'this process may not write there (permission denied)',
  EPERM: 'this process may not write there (operation not permitted)',
  ENOTDIR: 'a part of its path is a file, not a directory',
  // What Node's recursive mkdir reports below a read-only directory, among others.
  ENOENT: 'it does not exist and could not be created',
  ENOSPC: 'its disk is full',
  EDQUOT: 'its disk quota is used up',
};

export function assertDataDirUsable(dataDir: string): void {
  const probe = path.join(dataDir, `.write-check-${process.pid}`);
  try {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const reason = REASONS[code] ?? (err as Error).message;
    throw new DataDirUnusableError(
      `DATA_DIR ${dataDir} cannot be used: ${reason} (${code || 'error'}). The server keeps its store, keys and export files there: set DATA_DIR to a writable directory.`,
      { cause: err }
    );
  }
}
