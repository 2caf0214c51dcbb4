// Reads a V8 .cpuprofile (node --cpu-prof) and prints where the profiled thread's time went,
// optionally only inside a window on the monotonic clock (bench/run.ts prints its timed Bundles'
// window when the server is profiled), per operation when told how many there were:
//   npx tsx bench/profile-window.ts PROFILE [--window START END] [--ops N] [--top 40]
//   npx tsx bench/profile-window.ts --diff A.cpuprofile B.cpuprofile --window-a S E --window-b S E --ops-a N --ops-b N
// Self time: the function on top of the stack. Inclusive: any frame of the function on the stack
// (counted once per sample). Functions are keyed by name and file (the path after dist/ or
// node_modules/; anonymous ones also by line), so two builds' profiles compare function by function.
import { readFileSync } from 'node:fs';

process.stdout.on('error', () => process.exit(0)); // piped into head

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Tally {
  /** µs of samples inside the window. */
  total: number;
  self: Map<string, number>;
  inclusive: Map<string, number>;
}

function keyOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (!url) return functionName || '(anonymous)';
  const file = url.replace(/^.*\/(dist|src)\//, '').replace(/^.*\/node_modules\//, '').replace(/^file:\/\//, '');
  // Named functions without their line, so two builds whose files differ still compare.
  return functionName ? `${functionName} ${file}` : `(anonymous) ${file}:${lineNumber + 1}`;
}

export function tally(file: string, window?: [number, number]): Tally {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keys = new Map(profile.nodes.map((n) => [n.id, keyOf(n)]));
  const result: Tally = { total: 0, self: new Map(), inclusive: new Map() };
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    // A sample's time is the gap to the next sample (the last one: to the profile's end).
    const next = i + 1 < profile.samples.length ? profile.timeDeltas[i + 1] : profile.endTime - at;
    if (window && (at < window[0] || at > window[1])) continue;
    const id = profile.samples[i];
    const self = keys.get(id) as string;
    if (self === '(idle)') continue;
    result.total += next;
    result.self.set(self, (result.self.get(self) ?? 0) + next);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const k = keys.get(n) as string;
      if (seen.has(k) || !byId.has(n)) continue;
      seen.add(k);
      result.inclusive.set(k, (result.inclusive.get(k) ?? 0) + next);
    }
  }
  return result;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function windowArg(name: string): [number, number] | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? [Number(process.argv[i + 1]), Number(process.argv[i + 2])] : undefined;
}

function top(map: Map<string, number>, n: number): Array<[string, number]> {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
}

function main(): void {
  const n = Number(arg('--top') ?? '40');
  if (process.argv.includes('--diff')) {
    const i = process.argv.indexOf('--diff');
    const a = tally(process.argv[i + 1], windowArg('--window-a'));
    const b = tally(process.argv[i + 2], windowArg('--window-b'));
    const opsA = Number(arg('--ops-a') ?? '1');
    const opsB = Number(arg('--ops-b') ?? '1');
    console.log(`total: ${(a.total / opsA).toFixed(1)} → ${(b.total / opsB).toFixed(1)} µs per op (idle excluded)`);
    for (const kind of ['self', 'inclusive'] as const) {
      const keys = new Set([...a[kind].keys(), ...b[kind].keys()]);
      const rows = [...keys].map((k) => {
        const x = (a[kind].get(k) ?? 0) / opsA;
        const y = (b[kind].get(k) ?? 0) / opsB;
        return { k, x, y, d: y - x };
      });
      console.log(`\n${kind}: largest differences (µs per op, A → B)`);
      for (const r of rows.sort((p, q) => Math.abs(q.d) - Math.abs(p.d)).slice(0, n)) {
        console.log(`${r.d >= 0 ? '+' : ''}${r.d.toFixed(1).padStart(7)}  ${r.x.toFixed(1).padStart(7)} → ${r.y.toFixed(1).padStart(7)}  ${r.k}`);
      }
    }
    return;
  }
  const file = process.argv[2];
  const ops = Number(arg('--ops') ?? '1');
  const t = tally(file, windowArg('--window'));
  console.log(`total ${(t.total / ops).toFixed(1)} µs per op (idle excluded), ${(t.total / 1e6).toFixed(2)} s`);
  for (const kind of ['self', 'inclusive'] as const) {
    console.log(`\n${kind} (µs per op, % of total)`);
    for (const [k, v] of top(t[kind], n)) console.log(`${(v / ops).toFixed(1).padStart(8)} ${((100 * v) / t.total).toFixed(1).padStart(5)}%  ${k}`);
  }
}

main();
