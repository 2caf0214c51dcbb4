// A failed LMDB commit (disk full, I/O error) must reach the requests in it as StoreUnavailableError
// (503) and nothing else. lmdb-js 3.5.6 also rejects two promises nobody can handle: the commit
// promise of the event-turn batch it starts itself (write.js writeBatchStart, dropped there) and the
// shared `commitError` promise every rejected write points to. Unhandled, Node 20 ends the process
// on the first failed commit: a full disk crashed the server instead of answering 503.
//
// These echoes are recognised by their shape and marked handled; every other unhandled rejection is
// thrown on as before, so it still ends the process.

const LMDB_COMMIT_FAILED = 'Commit failed (see commitError for details)';

interface LmdbCommitFailure extends Error {
  commitError: Promise<unknown>;
}

function isLmdbCommitFailure(reason: unknown): reason is LmdbCommitFailure {
  return reason instanceof Error && reason.message === LMDB_COMMIT_FAILED && typeof (reason as Partial<LmdbCommitFailure>).commitError?.then === 'function';
}

/** The commitError promises of failures seen: their own rejection is the same failure again. */
const seenCommitErrors = new WeakSet<Promise<unknown>>();

/** Marks a commit failure's shared commitError promise handled (its requests already got the failure). */
export function absorbCommitFailure(err: unknown): void {
  if (!isLmdbCommitFailure(err) || seenCommitErrors.has(err.commitError)) return;
  seenCommitErrors.add(err.commitError);
  err.commitError.catch(() => undefined);
}

let installed = false;

/** Installs, once per process, the listener that absorbs lmdb's commit-failure echoes. */
export function absorbLmdbCommitFailureEchoes(): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason, promise) => {
    if (isLmdbCommitFailure(reason)) {
      absorbCommitFailure(reason);
      return;
    }
    if (seenCommitErrors.has(promise)) return;
    // Not ours: as without this listener, an unhandled rejection ends the process.
    throw reason;
  });
}
