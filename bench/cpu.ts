// Server CPU time per operation, read from /proc (clock ticks of 10 ms): steadier than wall time on
// a shared machine. Two figures: the whole process (request thread, validation workers, LMDB's
// and libuv's threads) and the request thread alone (task <pid>), whose time per operation bounds
// the rate one process can reach when the other threads have a core of their own.
import { readFile } from 'node:fs/promises';

export interface CpuSnapshot {
  process: number;
  requestThread: number;
}

async function ticksOf(file: string): Promise<number> {
  const stat = await readFile(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** User + system CPU time so far, in µs. */
export async function cpuSnapshot(pid: number): Promise<CpuSnapshot> {
  return { process: await ticksOf(`/proc/${pid}/stat`), requestThread: await ticksOf(`/proc/${pid}/task/${pid}/stat`) };
}

/** "N µs server CPU (M on the request thread) per <what>" since a snapshot. */
export async function cpuPer(pid: number, since: CpuSnapshot, operations: number, what: string): Promise<string> {
  const now = await cpuSnapshot(pid);
  const per = (v: number) => Math.round(v / operations).toLocaleString('en-US');
  return `${per(now.process - since.process)} µs server CPU (${per(now.requestThread - since.requestThread)} µs on the request thread) per ${what}`;
}
