// LATENCY_TRACE=FILE: a recorder of where each request's time goes, for bench/hl7v2.ts's
// breakdown of the slowest requests (bench/latency-breakdown.ts). Off by default: `latencyTrace` is
// then undefined and every call site is one optional-chained call that does nothing.
// On, it keeps in memory, in epoch milliseconds (performance.timeOrigin + performance.now(), the
// clock bench/gc-observer.cjs uses):
//  - per request (by request id): the moments named by `mark` (arrival at the 'request' event,
//    the handler's start, the store commit asked for and done, the answer written, 'finish');
//  - events: each LMDB write group (opened, its callback's start and end on this thread, the
//    commit settled: the write thread's commit and fsync), each validation worker job (posted,
//    answered), GC pauses (kind), the event loop's lateness (a 5 ms timer's delay), its
//    utilisation per 100 ms, and the audit and submitter-report flushes;
// and writes them as JSON to FILE when the process exits.
import { readFileSync, writeFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

export type TraceEvent = [kind: string, start: number, end: number, detail?: Record<string, number | string>];

export class LatencyTrace {
  private readonly requests = new Map<string, Record<string, number>>();
  private readonly events: TraceEvent[] = [];

  constructor(file: string) {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const start = performance.timeOrigin + e.startTime;
        this.events.push(['gc', start, start + e.duration, { gcKind: (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0 }]);
      }
    }).observe({ entryTypes: ['gc'] });
    // The loop's lateness: a timer due every 5 ms, and how late it ran (a stall shows as one late
    // tick), with what this thread did meanwhile: ms it ran, ms it waited for a core (schedstat).
    let due = performance.now() + 5;
    let tick = schedstat();
    setInterval(() => {
      const now = performance.now();
      const sched = schedstat();
      if (now - due > 2) {
        this.events.push(['loop-late', performance.timeOrigin + due, performance.timeOrigin + now, { ranMs: sched[0] - tick[0], waitedMs: sched[1] - tick[1] }]);
      }
      tick = sched;
      due = now + 5;
    }, 5).unref();
    // How busy this thread was in each 100 ms (event-loop utilisation: 1 = never idle), and its ms
    // on a core and waiting for one.
    let utilisation = performance.eventLoopUtilization();
    let windowStart = this.now();
    let windowSched = schedstat();
    setInterval(() => {
      const next = performance.eventLoopUtilization();
      const end = this.now();
      const sched = schedstat();
      const utilised = performance.eventLoopUtilization(next, utilisation).utilization;
      this.events.push(['busy', windowStart, end, { utilisation: utilised, ranMs: sched[0] - windowSched[0], waitedMs: sched[1] - windowSched[1] }]);
      utilisation = next;
      windowStart = end;
      windowSched = sched;
    }, 100).unref();
    process.on('exit', () => writeFileSync(file, JSON.stringify({ requests: Object.fromEntries(this.requests), events: this.events })));
  }

  now(): number {
    return performance.timeOrigin + performance.now();
  }

  /** The moment `phase` of request `requestId` (the first time it is marked: a request's first commit, say). */
  mark(requestId: string, phase: string): void {
    let phases = this.requests.get(requestId);
    if (!phases) this.requests.set(requestId, (phases = {}));
    phases[phase] ??= this.now();
  }

  /** Adds a to the phase's total (e.g. the time a request waited on several commits). */
  add(requestId: string, phase: string, ms: number): void {
    const phases = this.requests.get(requestId);
    if (phases) phases[phase] = (phases[phase] ?? 0) + ms;
  }

  event(kind: string, start: number, end: number, detail?: Record<string, number | string>): void {
    this.events.push(detail ? [kind, start, end, detail] : [kind, start, end]);
  }
}

/** This thread's ms on a core and ms waiting for one so far (Linux schedstat; zeros elsewhere). */
function schedstat(): [ran: number, waited: number] {
  try {
    const [ran, waited] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    return [Number(ran) / 1e6, Number(waited) / 1e6];
  } catch {
    return [0, 0];
  }
}

export const latencyTrace: LatencyTrace | undefined = process.env.LATENCY_TRACE ? new LatencyTrace(process.env.LATENCY_TRACE) : undefined;
