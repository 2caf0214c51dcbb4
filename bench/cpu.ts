// Server CPU time per operation, read from /proc: steadier than wall time on a shared machine. The
// request thread's from its schedstat run time in ns where the kernel keeps it (first field of
// /proc/<pid>/task/<pid>/schedstat), else from clock ticks of 10 ms (/proc/<pid>/stat), as the whole
// process's always is: ticks move in 10 ms steps, which hid differences under ~100 µs per VXU in a
// round of a few hundred messages (session 11). Two figures: the whole process (request thread, validation workers, LMDB's
// and libuv's threads, V8's compiler and GC helpers) and the request thread alone (task <pid>),
// whose time per operation bounds the rate one process can reach when the other threads have a
// core of their own.
// BENCH_IO=1 adds the bytes the server had written to storage per operation (/proc/<pid>/io
// write_bytes: what the kernel writes back, e.g. whole page-cache folios for a 4 KB page changed),
// and the bytes the server passed to write calls (wchar: the store's pages as LMDB writes them, plus
// the responses sent, ~1 KB per Immunization of a transaction's reply).
import { readFile } from 'node:fs/promises';

export interface CpuSnapshot {
  process: number;
  requestThread: number;
  /** The request thread's share spent in the kernel (page faults on the store's map, system calls). */
  requestThreadSystem: number;
  /**
   * µs the request thread was ready to run but waited for a core (/proc/<pid>/task/<pid>/schedstat,
   * run_delay): time a request spends queued behind the server's other threads, the client or other
   * processes on the machine, which its CPU time does not show. Undefined where the kernel has no schedstat.
   */
  requestThreadWaitingForCore?: number;
  /** Bytes written to storage so far (BENCH_IO=1 only). */
  writtenBytes?: number;
  /** Bytes passed to write system calls so far (BENCH_IO=1 only). */
  writeCallBytes?: number;
}

/** User and system CPU time of a process or thread, in µs. */
async function ticksOf(file: string): Promise<{ user: number; system: number }> {
  const stat = await readFile(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 };
}

/**
 * A thread's schedstat so far in µs, or undefined where the kernel keeps none: its run time on a core
 * (first field, ns) and its run-queue delay, ready to run but waiting for a core (second field, ns).
 */
async function schedstatOf(file: string): Promise<{ runTime: number; runDelay: number } | undefined> {
  try {
    const [runTime, runDelay] = (await readFile(file, 'utf8')).split(' ').map(Number);
    return Number.isFinite(runTime) && Number.isFinite(runDelay) ? { runTime: runTime / 1000, runDelay: runDelay / 1000 } : undefined;
  } catch {
    return undefined;
  }
}

async function written(pid: number): Promise<{ storage: number; calls: number }> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8');
  return { storage: Number(/write_bytes: (\d+)/.exec(io)?.[1] ?? 0), calls: Number(/wchar: (\d+)/.exec(io)?.[1] ?? 0) };
}

/** User + system CPU time so far, in µs. */
export async function cpuSnapshot(pid: number): Promise<CpuSnapshot> {
  const whole = await ticksOf(`/proc/${pid}/stat`);
  const thread = await ticksOf(`/proc/${pid}/task/${pid}/stat`);
  const sched = await schedstatOf(`/proc/${pid}/task/${pid}/schedstat`);
  const snapshot: CpuSnapshot = {
    // The whole process stays in ticks: the sum of its threads' schedstat would leave out threads
    // that ended between two snapshots (a validation worker), which the process's ticks keep.
    process: whole.user + whole.system,
    requestThread: sched?.runTime ?? thread.user + thread.system,
    requestThreadSystem: thread.system,
  };
  snapshot.requestThreadWaitingForCore = sched?.runDelay;
  if (process.env.BENCH_IO) {
    const io = await written(pid);
    snapshot.writtenBytes = io.storage;
    snapshot.writeCallBytes = io.calls;
  }
  return snapshot;
}

/** "N µs server CPU (M on the request thread) per <what>" since a snapshot. */
export async function cpuPer(pid: number, since: CpuSnapshot, operations: number, what: string): Promise<string> {
  const now = await cpuSnapshot(pid);
  const per = (v: number) => Math.round(v / operations).toLocaleString('en-US');
  let text =
    `${per(now.process - since.process)} µs server CPU (${per(now.requestThread - since.requestThread)} µs on the request thread, ` +
    `${per(now.requestThreadSystem - since.requestThreadSystem)} of it in the kernel) per ${what}`;
  if (now.requestThreadWaitingForCore !== undefined && since.requestThreadWaitingForCore !== undefined) {
    text += `, the request thread waiting ${per(now.requestThreadWaitingForCore - since.requestThreadWaitingForCore)} µs for a core per ${what}`;
  }
  if (now.writtenBytes !== undefined && since.writtenBytes !== undefined) {
    text += `, ${per((now.writtenBytes - since.writtenBytes) / 1024)} KB written to storage per ${what}`;
    text += ` (${per(((now.writeCallBytes ?? 0) - (since.writeCallBytes ?? 0)) / 1024)} KB through write calls)`;
  }
  return text;
}
