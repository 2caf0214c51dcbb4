// Disk use of an embedded store (LMDB), per database and per resource:
//   npm run embedded:stats -- --data-dir ./data
// Opens DATA_DIR/store.mdb read-only (a running server may keep it open: LMDB allows readers in
// other processes) and prints entries, pages and MB of each database, live resources per type, and
// the file size per live resource.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';

const { values } = parseArgs({ options: { 'data-dir': { type: 'string' } } });
const dir = path.resolve(values['data-dir'] ?? process.env.DATA_DIR ?? './data');
const file = path.join(dir, 'store.mdb');
const env = open({ path: file, maxDbs: 12, readOnly: true });

interface Stats {
  pageSize: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
  entryCount: number;
}

let usedPages = 0;
let pageSize = 4096;
for (const name of ['cur', 'ver', 'hist', 'thist', 'idx', 'stats', 'meta', 'exp']) {
  let s: Stats;
  try {
    s = env.openDB(name, { encoding: 'binary' }).getStats() as Stats;
  } catch {
    continue; // not in this store (`hist`: written by stores before 2026-12-06 only; `exp`: short-lived records, since 2026-12-07)
  }
  const pages = s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
  usedPages += pages;
  pageSize = s.pageSize;
  console.log(`${name.padEnd(6)} ${String(s.entryCount).padStart(10)} entries ${((pages * s.pageSize) / 1048576).toFixed(1).padStart(9)} MB`);
}
const meta = env.openDB<unknown, Array<string | number>>('meta', {});
let live = 0;
for (const { key, value } of meta.getRange({ start: ['count'], end: ['count', '\uffff'] })) {
  console.log(`live ${String(key[1])}: ${String(value)}`);
  live += value as number;
}
const size = (await stat(file)).size;
const usedMb = (usedPages * pageSize) / 1048576;
console.log(`file ${(size / 1048576).toFixed(0)} MB (pages in use ${usedMb.toFixed(0)} MB; the rest is LMDB's free list, reused by later writes)`);
if (live > 0) console.log(`per live resource: ${Math.round(size / live)} B of file, ${Math.round((usedPages * pageSize) / live)} B in use`);
await env.close();
