// Preloaded into the server by `npm run bench:search -- --gc` (node --require): records every GC
// pause (start as a wall-clock time in ms, duration in ms, kind: 1 scavenge, 2 minor mark-sweep,
// 4 mark-compact, 8 incremental marking, 16 weak callbacks) and writes them as JSON to
// GC_OBSERVER_OUT when the process exits. The bench lines them up with its own request timings.
'use strict';
const { PerformanceObserver, performance } = require('node:perf_hooks');
const { writeFileSync } = require('node:fs');

const out = process.env.GC_OBSERVER_OUT;
if (out) {
  const pauses = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([performance.timeOrigin + e.startTime, e.duration, e.detail ? e.detail.kind : e.kind]);
  }).observe({ entryTypes: ['gc'] });
  process.on('exit', () => writeFileSync(out, JSON.stringify(pauses)));
}
