// What one VXU reads from the embedded store, counted (deterministic, unlike CPU on a shared
// machine; the reading counterpart of store-vxu-writes.ts): a server runs in this process (embedded
// store, temp DATA_DIR), VXU^V04 messages of bench/hl7v2.ts's shape go through POST /soap, and every
// store search (by its filter's shape), read, directWalk, record read (liveRecord: one `cur` read and
// decompression), kept raw record (liveRawRecord), entry count and planned step, and every LMDB read
// call under them, is counted per message outside the write callback. Also printed: the wall time
// inside the synchronous steps (indicative only on a shared machine).
//   npx tsx bench/store-vxu-reads.ts [messages, default 900]
// STORE_VXU_WARMUP (default 2900) messages first, STORE_VXU_CONCURRENCY (default 8).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createStore } from '../src/app/open-store.js';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import type { EmbeddedStore } from '../src/store/embedded/embedded-store.js';
import { SECRET, warmThenMeasure } from './vxu-messages.js';

const MESSAGES = Number(process.argv[2] ?? '900');
const WARM_UP = Number(process.env.STORE_VXU_WARMUP ?? '2900');
const CONCURRENCY = Number(process.env.STORE_VXU_CONCURRENCY ?? '8');
let measuring = false;
let inWrite = false;
const counts = new Map<string, number>();
const nanos = new Map<string, bigint>();
const stack: string[] = [];
function count(what: string): void {
  if (!measuring || inWrite) return;
  counts.set(what, (counts.get(what) ?? 0) + 1);
}

function shape(filter: unknown): string {
  return JSON.stringify(filter, (_k, v) => (typeof v === 'string' ? 'S' : v)).replace(/"S"(,"S")*/g, 'S…');
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-store-vxu-reads-'));
  const config = { ...loadConfig({ ...process.env, DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', PORT: '0' }), port: 0 };
  const store = (await createStore(config)) as EmbeddedStore;
  const running = await startServer(config, { store });
  const s = store as unknown as Record<string, any>;
  for (const db of ['cur', 'ver', 'idx', 'stats', 'thist', 'meta']) {
    const handle = s[db];
    for (const method of ['get', 'getBinaryFast', 'getKeys', 'getRange']) {
      const original = handle[method].bind(handle);
      handle[method] = (...args: unknown[]) => {
        count(`  lmdb ${db}.${method} [${stack.join(' > ')}]`);
        return original(...args);
      };
    }
  }
  const wrapSync = (name: string, label?: (...a: any[]) => string) => {
    const original = s[name].bind(store);
    s[name] = (...args: any[]) => {
      const l = label ? `${name} ${label(...args)}` : name;
      count(l);
      stack.push(name);
      const t0 = process.hrtime.bigint();
      try {
        return original(...args);
      } finally {
        if (measuring && !inWrite) nanos.set(name, (nanos.get(name) ?? 0n) + process.hrtime.bigint() - t0);
        stack.pop();
      }
    };
  };
  // Counted when called; the LMDB calls of their synchronous part are listed under their label.
  const wrapAsync = (name: string, label?: (...a: any[]) => string) => {
    const original = s[name].bind(store);
    s[name] = (...args: any[]) => {
      const l = label ? `${name} ${label(...args)}` : name;
      count(l);
      stack.push(l);
      try {
        return original(...args);
      } finally {
        stack.pop();
      }
    };
  };
  wrapAsync('search', (t, q) => `${t} ${shape(q.filter)} sort=${JSON.stringify(q.sort ?? [])} raw=${q.raw === true}`);
  wrapAsync('read', (t) => t);
  wrapAsync('count', (t) => t);
  wrapSync('directWalk');
  wrapSync('liveRecord');
  wrapSync('liveRawRecord');
  wrapSync('entryCount');
  wrapSync('requiresUncounted');
  wrapSync('sortInMemory');
  wrapSync('plan');
  // The write callback's own reads are the write side's (store-vxu-writes.ts): not counted here.
  for (const name of ['apply', 'applyTally']) {
    const original = s[name].bind(store);
    s[name] = (...args: unknown[]) => {
      inWrite = true;
      try {
        return original(...args);
      } finally {
        inWrite = false;
      }
    };
  }
  try {
    await warmThenMeasure(running, { warmUp: WARM_UP, messages: MESSAGES, concurrency: CONCURRENCY }, (on) => void (measuring = on));
    console.log(`${MESSAGES} VXU after ${WARM_UP} (${CONCURRENCY} at a time); reads per message outside the write callback:`);
    for (const [what, n] of [...counts].sort((a, b) => a[0].localeCompare(b[0]))) console.log(`${(n / MESSAGES).toFixed(2).padStart(7)} ${what}`);
    console.log('µs per message inside (wall, synchronous; nested calls counted in each):');
    for (const [what, ns] of nanos) console.log(`${(Number(ns) / 1000 / MESSAGES).toFixed(1).padStart(7)} ${what}`);
  } finally {
    await running.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
