// Reads a sampling heap profile (bench/heap-sampler.cjs, started and stopped around bench/run.ts's
// timed Bundles when HEAP_SAMPLER_OUT is set) and prints the bytes allocated per operation, by
// function (self: allocated in the function itself, inlined callees included):
//   npx tsx bench/heap-window.ts PROFILE.json OPS [TOP]
import { readFileSync } from 'node:fs';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

process.stdout.on('error', () => process.exit(0));
const [file, opsArg, topArg] = process.argv.slice(2);
const ops = Number(opsArg);
const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
const self = new Map<string, number>();
let total = 0;
const walk = (node: HeapNode): void => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? url.replace(/^.*\/(dist|src)\//, '').replace(/^.*\/node_modules\//, '') : '';
  const key = `${functionName || '(anonymous)'} ${where}${functionName ? '' : `:${lineNumber + 1}`}`;
  self.set(key, (self.get(key) ?? 0) + node.selfSize);
  total += node.selfSize;
  for (const c of node.children) walk(c);
};
walk(profile.head);
console.log(`allocated (sampled): ${(total / ops / 1024).toFixed(2)} KB per op`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? '40'))) {
  console.log(`${(v / ops).toFixed(0).padStart(7)} B  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
}
