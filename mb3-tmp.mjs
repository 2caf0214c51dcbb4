import { open } from 'lmdb';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
const dict = readFileSync('src/store/embedded/dictionary.txt');
const env = open({ path: join(mkdtempSync(join('/work/data', 'reads-mb3-')), 'x.mdb'), maxDbs: 4, overlappingSync: false });
const cur = env.openDB('cur', { encoding: 'binary', compression: { threshold: 64, dictionary: dict } });
const idx = env.openDB('idx', { encoding: 'binary' });
const val = Buffer.from(JSON.stringify({ x: 'y'.repeat(100), data: Array.from({ length: 40 }, (_, i) => ({ system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: String(i) })) }));
const E = Buffer.alloc(0);
const busy = (ms) => { const t = performance.now(); while (performance.now() - t < ms); };
for (const mode of ['async', 'txn', 'async', 'txn']) {
  const ps = [];
  const gaps = [];
  let last = performance.now();
  for (let i = 0; i < 500; i++) {
    const now = performance.now(); gaps.push(now - last); last = now;
    busy(1);
    if (mode === 'async') {
      ps.push(cur.ifNoExists(['k', i, Math.random()], () => { cur.put(['a', i, Math.random()], val); idx.put(['x', i, Math.random()], E); }));
      ps.push(env.childTransaction(() => { idx.get(['x']); }));
    } else ps.push(env.childTransaction(() => { cur.putSync(['a', i, Math.random()], val); idx.putSync(['x', i, Math.random()], E); }));
    await new Promise((r) => setTimeout(r, 1));
    last = performance.now() - (performance.now() - last); 
  }
  await Promise.all(ps);
  const g = gaps.slice(1).map((x) => x).sort((a, b) => a - b);
  const c = process.cpuUsage();
  console.log(mode, 'iteration ms p50', g[250].toFixed(2), 'p99', g[495].toFixed(2), 'max', g[g.length - 1].toFixed(2));
}
await env.close();
