// Where the open loop's slowest requests spent their time, from the server's LATENCY_TRACE file
// (src/latency-trace.ts) and the client's send times: `BENCH_HL7_TRACE=FILE npm run bench:hl7v2`
// prints it after the run, or `npx tsx bench/latency-breakdown.ts FILE` again later (the bench
// stores the client's side in FILE.client.json).
// Per request, from the client's send (epoch ms) to its reply:
//   before arrival   send → the server's 'request' event (the socket waited for a busy event loop)
//   to handler+gate  'request' → answerSoap (the body read; waiting at the message gate, src/hl7v2/gate.ts)
//   match & search   answerSoap → the transaction's start (envelope, parse, caller, matching)
//   prepare          transaction start → commit asked (resolving, validation in the workers, rules)
//   group wait       commit asked → its write group's callback starts on the request thread
//   group callback   the callback (every request of the group applied, in this thread)
//   commit+fsync     callback end → the commit settles (lmdb's write thread: commit, fsync; then
//                    the resolution waits for the request thread)
//   resume           commit settled → the transaction continues
//   answer           committed → the SOAP answer written (ACK, audit queued)
//   reply            answer written → 'finish' → the client has read it
// Then the slowest 1 % against the middle (45th–55th percentile), and the events each met while
// in flight: GC pauses by kind, event-loop stalls, group callbacks, map growth, audit batches,
// submitter-report flushes; and the queue (arrivals, completions, in flight) and the request
// thread's utilisation per 100 ms around the slow ones.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

type TraceEvent = [kind: string, start: number, end: number, detail?: Record<string, number>];
interface Trace {
  requests: Record<string, Record<string, number>>;
  events: TraceEvent[];
}
export interface ClientRequest {
  id: string;
  /** Epoch ms (performance.timeOrigin + performance.now()). */
  sent: number;
  ms: number;
}

const GC_KINDS: Record<number, string> = { 1: 'scavenge', 2: 'minor-ms', 4: 'mark-compact', 8: 'incr-marking', 16: 'weak-cb' };
const COMPONENTS = ['before arrival', 'to handler+gate', 'match & search', 'prepare', 'group wait', 'group callback', 'commit+fsync', 'resume', 'answer', 'reply'] as const;
type Component = (typeof COMPONENTS)[number];

interface Row {
  id: string;
  sent: number;
  ms: number;
  parts: Record<Component, number>;
  groupRequests: number;
  groupOps: number;
  meets: Record<string, number>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
}
const mean = (values: number[]) => (values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length);

/** The overlap in ms of [a0, a1] and [b0, b1]. */
const overlap = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));

export function breakdown(trace: Trace, client: ClientRequest[]): string {
  const lines: string[] = [];
  const groups = trace.events.filter((e) => e[0] === 'group').sort((a, b) => a[2] - b[2]);
  const groupSettles = groups.map((g) => g[2]);
  /** The group whose settling the request's commit waited on: the last settled at or before `committed`. */
  const groupOf = (committed: number): TraceEvent | undefined => {
    let lo = 0;
    let hi = groupSettles.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (groupSettles[mid] <= committed) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : groups[found];
  };
  const others = trace.events.filter((e) => e[0] !== 'group' && e[0] !== 'busy' && e[0] !== 'validate' && e[0] !== 'index');
  const busy = trace.events.filter((e) => e[0] === 'busy');
  const rows: Row[] = [];
  let missing = 0;
  for (const c of client) {
    const r = trace.requests[c.id];
    if (!r || r.arrive === undefined || r.committed === undefined || r.finish === undefined) {
      missing++;
      continue;
    }
    const end = c.sent + c.ms;
    const group = groupOf(r.committed);
    const cbStart = group?.[3]?.callbackStart ?? r.commitAsked;
    const cbEnd = group?.[3]?.callbackEnd ?? r.commitAsked;
    const settled = group?.[2] ?? r.committed;
    const parts: Record<Component, number> = {
      'before arrival': r.arrive - c.sent,
      'to handler+gate': r.handler - r.arrive,
      'match & search': r.transaction - r.handler,
      prepare: r.commitAsked - r.transaction,
      'group wait': cbStart - r.commitAsked,
      'group callback': cbEnd - cbStart,
      'commit+fsync': settled - cbEnd,
      resume: r.committed - settled,
      answer: r.answered - r.committed,
      reply: end - r.answered,
    };
    const meets: Record<string, number> = {};
    for (const [kind, start, stop, detail] of others) {
      const o = overlap(c.sent, end, start, stop);
      if (o <= 0) continue;
      const name = kind === 'gc' ? `gc ${GC_KINDS[detail?.gcKind ?? 0] ?? detail?.gcKind}` : kind;
      meets[name] = (meets[name] ?? 0) + o;
    }
    // The request thread's time on a core and waiting for one while the request was in flight
    // (the 100 ms windows, prorated).
    for (const b of busy) {
      const o = overlap(c.sent, end, b[1], b[2]);
      if (o <= 0) continue;
      const share = o / Math.max(1e-9, b[2] - b[1]);
      meets['thread ran'] = (meets['thread ran'] ?? 0) + share * (b[3]?.ranMs ?? 0);
      meets['thread waited'] = (meets['thread waited'] ?? 0) + share * (b[3]?.waitedMs ?? 0);
    }
    // The group callbacks (this thread's time) that ran while the request was in flight.
    for (const g of groups) {
      const s = g[3]?.callbackStart ?? 0;
      const e = g[3]?.callbackEnd ?? 0;
      const o = overlap(c.sent, end, s, e);
      if (o > 0) meets['group callbacks'] = (meets['group callbacks'] ?? 0) + o;
    }
    rows.push({ id: c.id, sent: c.sent, ms: c.ms, parts, groupRequests: group?.[3]?.requests ?? 0, groupOps: group?.[3]?.ops ?? 0, meets });
  }
  if (rows.length === 0) return `latency breakdown: no traced request (${missing} without a full trace)`;
  const byLatency = [...rows].sort((a, b) => a.ms - b.ms);
  const slow = byLatency.slice(Math.floor(byLatency.length * 0.99));
  const middle = byLatency.slice(Math.floor(byLatency.length * 0.45), Math.ceil(byLatency.length * 0.55));
  lines.push(`latency breakdown of ${rows.length} open-loop requests (${missing} without a full trace): mean ms per request, the slowest 1 % (${slow.length}, from ${slow[0].ms.toFixed(1)} ms) vs the middle 10 % (45th–55th percentile)`);
  const fmt = (n: number) => n.toFixed(2).padStart(8);
  lines.push(`  ${'component'.padEnd(16)} ${'slowest'.padStart(8)} ${'middle'.padStart(8)}`);
  for (const c of COMPONENTS) lines.push(`  ${c.padEnd(16)} ${fmt(mean(slow.map((r) => r.parts[c])))} ${fmt(mean(middle.map((r) => r.parts[c])))}`);
  lines.push(`  ${'total'.padEnd(16)} ${fmt(mean(slow.map((r) => r.ms)))} ${fmt(mean(middle.map((r) => r.ms)))}`);
  lines.push(`  ${'group requests'.padEnd(16)} ${fmt(mean(slow.map((r) => r.groupRequests)))} ${fmt(mean(middle.map((r) => r.groupRequests)))}  (the request's own write group)`);
  lines.push(`  ${'group ops'.padEnd(16)} ${fmt(mean(slow.map((r) => r.groupOps)))} ${fmt(mean(middle.map((r) => r.groupOps)))}`);
  const kinds = [...new Set(rows.flatMap((r) => Object.keys(r.meets)))].sort();
  lines.push('  met while in flight (mean ms of overlap; share of requests that met one):');
  for (const k of kinds) {
    const share = (rs: Row[]) => `${((100 * rs.filter((r) => (r.meets[k] ?? 0) > 0).length) / rs.length).toFixed(0)}%`;
    lines.push(`    ${k.padEnd(16)} ${fmt(mean(slow.map((r) => r.meets[k] ?? 0)))} ${share(slow).padStart(5)} ${fmt(mean(middle.map((r) => r.meets[k] ?? 0)))} ${share(middle).padStart(5)}`);
  }
  // Event summaries over the whole open loop.
  const first = Math.min(...rows.map((r) => r.sent));
  const last = Math.max(...rows.map((r) => r.sent + r.ms));
  const inLoop = (e: TraceEvent) => e[2] >= first && e[1] <= last;
  const loopGroups = groups.filter(inLoop);
  const callbacks = loopGroups.map((g) => (g[3]?.callbackEnd ?? 0) - (g[3]?.callbackStart ?? 0));
  const commits = loopGroups.map((g) => g[2] - (g[3]?.callbackEnd ?? 0));
  const sortedCb = [...callbacks].sort((a, b) => a - b);
  const sortedCommit = [...commits].sort((a, b) => a - b);
  const q = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  lines.push(
    `  write groups in the loop: ${loopGroups.length}, requests per group mean ${mean(loopGroups.map((g) => g[3]?.requests ?? 0)).toFixed(1)} max ${Math.max(...loopGroups.map((g) => g[3]?.requests ?? 0))}; callback ms p50 ${q(sortedCb, 0.5).toFixed(2)} p99 ${q(sortedCb, 0.99).toFixed(2)} max ${q(sortedCb, 1).toFixed(2)}; commit+fsync+settle ms p50 ${q(sortedCommit, 0.5).toFixed(2)} p99 ${q(sortedCommit, 0.99).toFixed(2)} max ${q(sortedCommit, 1).toFixed(2)}`
  );
  const sizes = loopGroups.map((g) => g[3]?.mapSize ?? 0);
  const growth = sizes.filter((s, i) => i > 0 && s !== sizes[i - 1]).length;
  lines.push(`  LMDB map: ${sizes[0]} → ${sizes[sizes.length - 1]} bytes in the loop (${growth} growths)`);
  const jobs = trace.events.filter((e) => (e[0] === 'validate' || e[0] === 'index') && inLoop(e));
  const jobMs = jobs.map((e) => e[2] - e[1]).sort((a, b) => a - b);
  lines.push(`  worker jobs in the loop: ${jobs.length}, posted → answered ms p50 ${q(jobMs, 0.5).toFixed(2)} p99 ${q(jobMs, 0.99).toFixed(2)} max ${q(jobMs, 1).toFixed(2)}`);
  for (const kind of ['gc', 'loop-late', 'audit-batch', 'report-flush']) {
    const es = trace.events.filter((e) => e[0] === kind && inLoop(e));
    const ms = es.map((e) => e[2] - e[1]).sort((a, b) => a - b);
    if (kind === 'gc') {
      for (const [k, name] of Object.entries(GC_KINDS)) {
        const ks = es.filter((e) => e[3]?.gcKind === Number(k)).map((e) => e[2] - e[1]);
        if (ks.length) lines.push(`  gc ${name}: ${ks.length} pauses, ${ks.reduce((a, b) => a + b, 0).toFixed(1)} ms in all, max ${Math.max(...ks).toFixed(1)} ms`);
      }
    } else if (es.length) lines.push(`  ${kind}: ${es.length}, ms p50 ${q(ms, 0.5).toFixed(1)} max ${q(ms, 1).toFixed(1)}, ${ms.reduce((a, b) => a + b, 0).toFixed(0)} ms in all`);
  }
  // The longest event-loop stalls of the loop, and what ran in them.
  const at = (t: number) => `${((t - first) / 1000).toFixed(3)}s`;
  lines.push("  the loop's longest event-loop stalls (start, ms, this thread's ms on a core / waiting for one; what overlapped):");
  const stalls = trace.events.filter((e) => e[0] === 'loop-late' && inLoop(e)).sort((a, b) => b[2] - b[1] - (a[2] - a[1]));
  for (const st of stalls.slice(0, 8)) {
    const seen: string[] = [];
    for (const e of trace.events) {
      if (e[0] === 'loop-late' || e[0] === 'busy' || e[0] === 'validate' || e[0] === 'index') continue;
      const s0 = e[0] === 'group' ? (e[3]?.callbackStart ?? 0) : e[1];
      const s1 = e[0] === 'group' ? (e[3]?.callbackEnd ?? 0) : e[2];
      if (overlap(st[1] - 5, st[2], s0, s1) <= 0 || (e[0] === 'group' && s1 - s0 < 2)) continue;
      const what = e[0] === 'gc' ? `gc ${GC_KINDS[e[3]?.gcKind ?? 0]}` : e[0] === 'group' ? `group callback (${e[3]?.requests} requests, ${e[3]?.ops} ops)` : e[0];
      seen.push(`${what} ${at(s0)} ${(s1 - s0).toFixed(1)} ms`);
    }
    lines.push(`    ${at(st[1])} ${(st[2] - st[1]).toFixed(1)} ms (ran ${(st[3]?.ranMs ?? 0).toFixed(1)}, waited ${(st[3]?.waitedMs ?? 0).toFixed(1)}): ${seen.join('; ') || 'nothing recorded'}`);
  }
  const grown = loopGroups.filter((g, i) => i > 0 && g[3]?.mapSize !== loopGroups[i - 1][3]?.mapSize);
  for (const g of grown) lines.push(`  map grew to ${g[3]?.mapSize} bytes in the group settled at ${at(g[2])}: callback ${((g[3]?.callbackEnd ?? 0) - (g[3]?.callbackStart ?? 0)).toFixed(1)} ms, commit ${(g[2] - (g[3]?.callbackEnd ?? 0)).toFixed(1)} ms`);
  // The queue per 100 ms: arrivals (sends), completions, in flight at the window's end, utilisation.
  const windowOf = (t: number) => Math.floor((t - first) / 100);
  const windows = windowOf(last) + 1;
  const sends = new Array(windows).fill(0);
  const dones = new Array(windows).fill(0);
  const slowIn = new Array(windows).fill(0);
  for (const r of rows) {
    sends[windowOf(r.sent)]++;
    dones[windowOf(r.sent + r.ms)]++;
  }
  for (const r of slow) slowIn[windowOf(r.sent)]++;
  const utilisation = (w: number) => {
    const s = first + w * 100;
    const weighted = busy.map((b) => [overlap(s, s + 100, b[1], b[2]), b[3]?.utilisation ?? 0]).filter(([o]) => o > 0);
    const total = weighted.reduce((a, [o]) => a + o, 0);
    return total === 0 ? NaN : weighted.reduce((a, [o, u]) => a + o * u, 0) / total;
  };
  const allUtil = Array.from({ length: windows }, (_, w) => utilisation(w)).filter((u) => !Number.isNaN(u));
  lines.push(`  request thread busy (event-loop utilisation) over the loop: mean ${(100 * mean(allUtil)).toFixed(0)}%, windows ≥ 95%: ${allUtil.filter((u) => u >= 0.95).length} of ${allUtil.length}`);
  const totalOf = (key: string) => busy.filter(inLoop).reduce((a, b) => a + (b[3]?.[key] ?? 0), 0);
  lines.push(`  request thread over the loop: ${totalOf('ranMs').toFixed(0)} ms on a core, ${totalOf('waitedMs').toFixed(0)} ms waiting for one`);
  lines.push('  windows of 100 ms around the slow requests (sent, done, in flight at the end, busy %, thread ms ran/waited, slow sent, gc ms, stall ms):');
  let inFlight = 0;
  const flight: number[] = [];
  for (let w = 0; w < windows; w++) {
    inFlight += sends[w] - dones[w];
    flight.push(inFlight);
  }
  const slowWindows = new Set<number>();
  for (let w = 0; w < windows; w++) if (slowIn[w] > 0) for (let d = -5; d <= 2; d++) if (w + d >= 0 && w + d < windows) slowWindows.add(w + d);
  let previous = -2;
  for (const w of [...slowWindows].sort((a, b) => a - b)) {
    if (w !== previous + 1) lines.push('    …');
    previous = w;
    const s = first + w * 100;
    const gcMs = trace.events.filter((e) => e[0] === 'gc').reduce((a, e) => a + overlap(s, s + 100, e[1], e[2]), 0);
    const stallMs = trace.events.filter((e) => e[0] === 'loop-late').reduce((a, e) => a + overlap(s, s + 100, e[1], e[2]), 0);
    const sched = busy.filter((b) => overlap(s, s + 100, b[1], b[2]) > 50)[0]?.[3];
    lines.push(
      `    t=${(w / 10).toFixed(1).padStart(5)}s sent ${String(sends[w]).padStart(3)} done ${String(dones[w]).padStart(3)} in flight ${String(flight[w]).padStart(4)} busy ${(100 * utilisation(w)).toFixed(0).padStart(3)}% ran ${(sched?.ranMs ?? 0).toFixed(0).padStart(3)} waited ${(sched?.waitedMs ?? 0).toFixed(0).padStart(3)} slow ${String(slowIn[w]).padStart(2)} gc ${gcMs.toFixed(1).padStart(5)} stall ${stallMs.toFixed(1).padStart(5)}`
    );
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: npx tsx bench/latency-breakdown.ts TRACE_FILE');
  const trace = JSON.parse(readFileSync(file, 'utf8')) as Trace;
  const client = JSON.parse(readFileSync(`${file}.client.json`, 'utf8')) as ClientRequest[];
  console.log(breakdown(trace, client));
}
