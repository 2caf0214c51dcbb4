// Benches start the server as a child process and wait for /readyz before measuring.
import type { ChildProcess } from 'node:child_process';

/**
 * Polls `url` until it answers 2xx. The default allows 5 minutes: tsx compiles the whole server at
 * start, and an LMDB store over a large data set may build indexes first, slow on a loaded machine.
 * With `child`, a server that exits while starting fails at once instead of after the timeout.
 */
export async function waitReady(url: string, options: { timeoutMs?: number; child?: ChildProcess } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  while (Date.now() < deadline) {
    if (options.child && options.child.exitCode !== null) throw new Error(`server exited with ${options.child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server at ${url} did not become ready`);
}
