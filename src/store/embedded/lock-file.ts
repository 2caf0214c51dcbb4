// An exclusive lock file so two processes never open the same DATA_DIR. It holds the owner's pid; a
// lock whose pid is no longer running (the owner crashed) is stale and taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';

/** Lock files this process holds. A lock naming our own pid that is not in here was left by an
 * earlier process that had the same pid (typical for pid 1 in a restarted container): stale. */
const held = new Set<string>();

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLockFile(lockPath: string): Promise<void> {
  const path = resolve(lockPath);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx');
      held.add(path);
      try {
        await fh.writeFile(`${process.pid}\n`);
        await fh.sync();
      } catch (err) {
        held.delete(path);
        await unlink(path).catch(() => undefined);
        throw err;
      } finally {
        await fh.close();
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    } catch {
      // vanished or unreadable between open and read: retry
    }
    const alive = (pid: number) => (pid === process.pid ? held.has(path) : Number.isInteger(pid) && pid > 0 && isRunning(pid));
    if (alive(owner)) {
      const who = owner === process.pid ? 'this process (another store instance)' : `process ${owner}`;
      throw new Error(`Data directory is locked by ${who}: ${path}. Another server is using it; stop it first.`);
    }
    if (Number.isNaN(owner)) {
      // A lock being written right now has no pid yet; give its owner a moment.
      await new Promise((r) => setTimeout(r, 50));
      try {
        owner = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
      } catch {
        continue;
      }
      if (alive(owner)) {
        throw new Error(`Data directory is locked by process ${owner}: ${path}. Another server is using it; stop it first.`);
      }
    }
    // stale: its owner is gone
    await unlink(path).catch(() => undefined);
  }
  throw new Error(`Could not acquire the data directory lock ${path}`);
}

export async function releaseLockFile(lockPath: string): Promise<void> {
  const path = resolve(lockPath);
  if (!held.delete(path)) return;
  try {
    const owner = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    if (owner === process.pid) await unlink(path);
  } catch {
    // already gone
  }
}
