// Summarises the GC pauses bench/gc-observer.cjs recorded (GC_OBSERVER_OUT) inside a window of
// epoch ms (bench/run.ts prints its timed Bundles' window when GC_OBSERVER_OUT is set):
//   npx tsx bench/gc-window.ts FILE START END [OPS]
// Per kind (scavenge, minor mark-sweep, mark-compact, incremental marking, weak callbacks): the
// number of pauses, their total and largest duration, and µs of pause per operation when OPS is given.
import { readFileSync } from 'node:fs';

const KINDS: Record<number, string> = { 1: 'scavenge', 2: 'minor mark-sweep', 4: 'mark-compact', 8: 'incremental marking', 16: 'weak callbacks' };
const [file, start, end, ops] = process.argv.slice(2);
const pauses = JSON.parse(readFileSync(file, 'utf8')) as Array<[number, number, number]>;
const inside = pauses.filter(([at]) => at >= Number(start) && at <= Number(end));
const byKind = new Map<number, { n: number; total: number; max: number }>();
for (const [, ms, kind] of inside) {
  const k = byKind.get(kind) ?? { n: 0, total: 0, max: 0 };
  k.n += 1;
  k.total += ms;
  k.max = Math.max(k.max, ms);
  byKind.set(kind, k);
}
for (const [kind, k] of [...byKind].sort((a, b) => a[0] - b[0])) {
  const per = ops ? `, ${((k.total * 1000) / Number(ops)).toFixed(1)} µs per op` : '';
  console.log(`${KINDS[kind] ?? kind}: ${k.n} pauses, ${k.total.toFixed(1)} ms in all, max ${k.max.toFixed(1)} ms${per}`);
}
