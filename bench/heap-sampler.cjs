// Preloaded into the server by `npm run bench:search -- --alloc` (node --require): V8's sampling heap
// profiler, counting every allocation (also objects a scavenge or mark-compact later collects),
// started by the first SIGUSR2 and stopped by the next one, which writes the profile as JSON to
// HEAP_SAMPLER_OUT.<n>.json (n = 1, 2, … per start/stop pair). The bench divides the sampled bytes by
// the requests sent in between: bytes allocated per request, and where (by function).
// HEAP_SAMPLER_SURVIVORS=1 leaves out the objects a scavenge collected: what survived one (and was
// copied or promoted), which is what makes a scavenge's pause long.
'use strict';
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');

const out = process.env.HEAP_SAMPLER_OUT;
if (out) {
  const session = new inspector.Session();
  session.connect();
  const interval = Number(process.env.HEAP_SAMPLER_INTERVAL || 1024);
  let running = false;
  let n = 0;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('HeapProfiler.startSampling', { samplingInterval: interval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.HEAP_SAMPLER_SURVIVORS !== '1' });
      return;
    }
    running = false;
    session.post('HeapProfiler.stopSampling', (err, result) => {
      n += 1;
      writeFileSync(`${out}.${n}.json`, JSON.stringify(err ? { error: String(err) } : result.profile));
    });
  });
}
