// Shared by the fast-check tests of what the embedded store keeps between writes of a type
// (newest-version.test.ts, raw-reads.test.ts): random groups of concurrent writes, checked before,
// while a group is in flight, and after it settles. A refused write (a conflict) is part of the mix.
import type { Resource } from '@medplum/fhirtypes';
import type { Store, WriteOp } from '../store.js';

export interface GroupWrite {
  type: string;
  id: string;
  remove: boolean;
  /** Written with ifVersion 'absent': refused when the resource exists. */
  absent: boolean;
  note: string;
  /** A verify-only op at this version (WriteOp.verifyOnly): writes nothing. */
  verify?: number;
}

/** The WriteOp of one generated write (`extra` adds what a test needs, e.g. search values). */
export function groupWriteOp(w: GroupWrite, extra?: Partial<WriteOp>): WriteOp {
  const op: WriteOp = { resourceType: w.type, id: w.id, ...(w.absent ? { ifVersion: 'absent' as const } : {}) };
  if (!w.remove) {
    op.resource = { resourceType: w.type, id: w.id, text: { status: 'generated', div: w.note } } as unknown as Resource;
    Object.assign(op, extra);
  }
  if (w.verify !== undefined) Object.assign(op, { ifVersion: w.verify, verifyOnly: true });
  return op;
}

/** Runs each group's writes at once, calling `check` before, while they are in flight and after. */
export async function runConcurrentGroups<W>(store: Store, groups: W[][], opOf: (w: W) => WriteOp, check: () => Promise<void>): Promise<void> {
  await check();
  for (const group of groups) {
    const writes = group.map((w) => store.write(opOf(w)).catch(() => undefined));
    await check(); // in flight
    await Promise.all(writes);
    await check();
  }
}
