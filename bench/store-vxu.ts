// npm run bench:store-vxu: what the embedded store's work costs a VXU, measured in process. A server
// runs in this process (embedded store, temp DATA_DIR) and VXU^V04 messages of bench/hl7v2.ts's shape
// go through POST /soap over loopback; the store's methods are wrapped so that the time of their
// synchronous work (a search, read or history is synchronous inside; a write's work is the
// `apply` callback lmdb runs in its write transaction) is summed per kind of call:
//   - the PID-3 look-up (Patient search by identifier), matching's blocking searches (`s._m`), the
//     ORC-3 conditional update's Immunization search, reads, history reads (the Consent stamp);
//   - the write callback of the VXU's transaction (Patient + Immunization) and of AuditEvents.
// Printed: calls per message, µs of this thread's CPU per call and per message, records per search call (from the thread's
// schedstat, read before and after each section: ~2 µs of the figure per call is that read itself;
// the process's CPU per message is printed too). One client at a time by default
// (STORE_VXU_CONCURRENCY), after STORE_VXU_WARMUP messages (default 1,500) of warm-up.
//   [BENCH_DIST=1] npx tsx bench/store-vxu.ts [messages, default 1500]
import { openSync, readSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as ConfigModule from '../src/config.js';
import type * as OpenStoreModule from '../src/app/open-store.js';
import type * as ServerModule from '../src/server.js';
import type { EmbeddedStore } from '../src/store/embedded/embedded-store.js';
import type { StoreQuery, WriteOp } from '../src/store/store.js';
import { SECRET, sent, submitVxus } from './vxu-messages.js';

const MESSAGES = Number(process.argv[2] ?? '1500');
const WARM_UP = Number(process.env.STORE_VXU_WARMUP ?? '1500');
const CONCURRENCY = Number(process.env.STORE_VXU_CONCURRENCY ?? '1');
const LOOPS = Number(process.env.STORE_VXU_LOOPS ?? '2000');
// The messages are bench/hl7v2.ts's (bench/vxu-messages.ts, sent by its submitVxus): a new child with
// one dose, one in five a further dose for a child already sent.

/**
 * This thread's CPU time in ns (/proc/thread-self/schedstat, read again through one open file):
 * what a synchronous section cost the request thread, whatever else runs on the machine.
 */
const schedstat = openSync('/proc/thread-self/schedstat', 'r');
const statBuffer = Buffer.alloc(128);
function threadNs(): number {
  const n = readSync(schedstat, statBuffer, 0, 128, 0);
  return Number(statBuffer.toString('latin1', 0, n).split(' ')[0]);
}

const lmdbCalls = new Map<string, number>();
const totals = new Map<string, { calls: number; ms: number; records: number }>();
let measuring = false;
function add(kind: string, ms: number): void {
  if (!measuring) return;
  const t = totals.get(kind) ?? { calls: 0, ms: 0, records: 0 };
  t.calls++;
  t.ms += ms;
  totals.set(kind, t);
}

function searchKind(resourceType: string, query: StoreQuery): string {
  const text = JSON.stringify(query.filter);
  if (resourceType === 'Patient' && text.includes('"s._m"')) return 'search: matching blocking key';
  if (resourceType === 'Patient' && text.includes('identifier')) return 'search: PID-3 look-up';
  if (resourceType === 'Immunization' && text.includes('identifier')) return 'search: ORC-3 conditional update';
  return `search: ${resourceType} other`;
}

/** Counts the store's LMDB calls (its databases exist once it is open). */
function countLmdbCalls(store: EmbeddedStore): void {
  // LMDB calls per message (deterministic, unlike CPU on a shared machine): reads, walks started (getKeys,
  // getRange), puts (a `get` may call `getBinaryFast` inside lmdb: both are counted).
  // With STORE_VXU_READS=1 each call is also counted by its caller (the store method or section
  // running), with the reads that met nothing and the keys read again in the same message.
  const s = store as unknown as Record<string, unknown>;
  for (const db of ['cur', 'idx', 'stats', 'thist', 'meta', 'ver']) {
    const handle = s[db] as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ['get', 'getBinaryFast', 'getKeys', 'getRange', 'getKeysCount', 'putSync', 'removeSync']) {
      const original = handle[method]?.bind(handle);
      if (!original) continue;
      handle[method] = (...args: unknown[]) => {
        if (measuring) lmdbCalls.set(`${db}.${method}`, (lmdbCalls.get(`${db}.${method}`) ?? 0) + 1);
        if (!measuring || !BY_CALLER) return original(...args);
        // lmdb's `get` reads through `getBinaryFast`: the outer call is the one counted.
        if (nestedLmdb) return original(...args);
        nestedLmdb = true;
        let result: unknown;
        try {
          result = original(...args);
        } finally {
          nestedLmdb = false;
        }
        const isWalk = method === 'getKeys' || method === 'getRange';
        const isPut = method === 'putSync' || method === 'removeSync';
        const keyText = isWalk || method === 'getKeysCount' ? undefined : `${db}:${JSON.stringify(args[0])}`;
        const row = byCaller.get(`${caller} | ${db}.${method}`) ?? { calls: 0, empty: 0, repeated: 0 };
        byCaller.set(`${caller} | ${db}.${method}`, row);
        row.calls++;
        if (keyText !== undefined) {
          const before = keysThisMessage.get(keyText);
          if (before !== undefined) {
            row.repeated++;
            const pair = `${before} → ${caller} ${isPut ? 'put' : 'read'} ${db}`;
            repeats.set(pair, (repeats.get(pair) ?? 0) + 1);
          }
          keysThisMessage.set(keyText, `${caller} ${isPut ? 'put' : 'read'} ${db}`);
        }
        if (!isPut && !isWalk && result === undefined) row.empty++;
        if (isWalk) {
          const iterable = result as Iterable<unknown>;
          return {
            *[Symbol.iterator]() {
              let n = 0;
              try {
                for (const item of iterable) {
                  n++;
                  yield item;
                }
              } finally {
                if (n === 0) row.empty++;
              }
            },
          };
        }
        return result;
      };
    }
  }
}

const shown = new Set<string>();
const BY_CALLER = process.env.STORE_VXU_READS === '1';
/** The store method (and section of it) running now: what an LMDB call is counted under. */
let caller = 'outside the store';
let nestedLmdb = false;
const byCaller = new Map<string, { calls: number; empty: number; repeated: number }>();
/** Keys read or written in the current message (a message starts with its PID-3 look-up), by who touched them last. */
const keysThisMessage = new Map<string, string>();
const repeats = new Map<string, number>();

/** Labels a private section of the store (its LMDB calls counted under `outer > label`). */
function section(store: EmbeddedStore, name: string, label: string): void {
  const s = store as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = s[name].bind(store);
  s[name] = (...args: unknown[]) => {
    const outer = caller;
    caller = `${outer} > ${label}`;
    try {
      return original(...args);
    } finally {
      caller = outer;
    }
  };
}

/** The store's methods before `instrument` wrapped them. */
const originals = new Map<string, (...args: unknown[]) => unknown>();

/** Wraps the store's methods (their synchronous work timed; see the header). */
function instrument(store: EmbeddedStore): void {
  const s = store as unknown as Record<string, (...args: unknown[]) => unknown>;
  const wrap = (name: string, kindOf: (args: unknown[]) => string) => {
    const original = s[name].bind(store);
    originals.set(name, original);
    s[name] = (...args: unknown[]) => {
      const t = threadNs();
      let result: unknown;
      const outer = caller;
      caller = kindOf(args);
      if (caller === 'search: PID-3 look-up') keysThisMessage.clear();
      if (process.env.STORE_VXU_SHOW && measuring && !shown.has(caller)) { shown.add(caller); console.log(caller, JSON.stringify(args)); }
      try {
        result = original(...args);
        return result;
      } finally {
        caller = outer;
        const kind = kindOf(args);
        add(kind, (threadNs() - t) / 1e6);
        // Records a search returned (a blocking key that meets many records costs their reads).
        if (name === 'search' && measuring) void (result as Promise<unknown[]>).then((records) => void (totals.get(kind)!.records += records.length));
      }
    };
  };
  wrap('search', (a) => searchKind(a[0] as string, a[1] as StoreQuery));
  wrap('read', (a) => `read: ${a[0] as string}`);
  wrap('history', () => 'history read');
  wrap('count', (a) => `count: ${a[0] as string}`);
  if (BY_CALLER) {
    section(store, 'applyTally', 'counters (applyTally)');
    section(store, 'plan', 'plan');
    section(store, 'directWalk', 'directWalk');
    section(store, 'newestVersion', 'newestVersion');
  }
  wrap('apply', (a) => `write callback: ${[...new Set((a[0] as WriteOp[]).map((op) => op.resourceType))].join(' + ')}`);
}

async function main(): Promise<void> {
  // BENCH_DIST=1: the compiled server (dist/, `npm run -s prestart` first), as the other benches.
  const root = process.env.BENCH_DIST === '1' ? '../dist' : '../src';
  const { loadConfig } = (await import(`${root}/config.js`)) as typeof ConfigModule;
  const { createStore } = (await import(`${root}/app/open-store.js`)) as typeof OpenStoreModule;
  const { startServer } = (await import(`${root}/server.js`)) as typeof ServerModule;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-store-vxu-'));
  const config = { ...loadConfig({ ...process.env, DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', PORT: '0' }), port: 0 };
  const store = await createStore(config);
  if (store.kind !== 'embedded') throw new Error('bench:store-vxu measures the embedded store (unset MONGODB_URL)');
  instrument(store as EmbeddedStore);
  const running = await startServer(config, { store });
  countLmdbCalls(store as EmbeddedStore);
  const url = `${running.url}/soap`;
  const run = (n: number) => submitVxus(url, n, CONCURRENCY);
  try {
    await run(WARM_UP);
    await running.audit.flush();
    measuring = true;
    const cpu = process.cpuUsage();
    const t = performance.now();
    await run(MESSAGES);
    const used = process.cpuUsage(cpu);
    const seconds = (performance.now() - t) / 1000;
    measuring = false;
    console.log(
      `${MESSAGES} VXU (after ${WARM_UP} warm-up, ${CONCURRENCY} at a time): ${(MESSAGES / seconds).toFixed(0)} /s, process CPU ${Math.round((used.user + used.system) / MESSAGES)} µs per message (client included); load ${os.loadavg()[0].toFixed(2)}`
    );
    let sum = 0;
    for (const [kind, { calls, ms, records }] of [...totals].sort((a, b) => a[0].localeCompare(b[0]))) {
      const perMessage = (ms * 1000) / MESSAGES;
      sum += perMessage;
      const found = kind.startsWith('search') ? `, ${(records / calls).toFixed(2)} records per call` : '';
      console.log(`  ${kind.padEnd(45)} ${(calls / MESSAGES).toFixed(2).padStart(6)} per message, ${((ms * 1000) / calls).toFixed(1).padStart(7)} µs per call, ${perMessage.toFixed(0).padStart(5)} µs per message${found}`);
    }
    if (process.env.STORE_VXU_LOOP) {
      const search = originals.get('search') as EmbeddedStore['search'];
      const shapes: Array<[string, string, StoreQuery]> = [
        ['pid3 new', 'Patient', { filter: { 's.identifier': { $elemMatch: { c: 'B-none-1', s: 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/BENCHRX' } } }, sort: [{ field: 'lastUpdated', direction: 1 }, { field: '_id', direction: 1 }], limit: 21 }],
        ['pid3 known', 'Patient', { filter: { 's.identifier': { $elemMatch: { c: sent[5].mrn, s: 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/BENCHRX' } } }, sort: [{ field: 'lastUpdated', direction: 1 }, { field: '_id', direction: 1 }], limit: 21 }],
        ['block empty', 'Patient', { filter: { 's._m': 'ph:0000000000' }, limit: 200, raw: true }],
        ['block 3 empty', 'Patient', { filter: { 's._m': { $in: ['mm:X:1', 'mm:X:2', 'mm:X:3'] } }, limit: 200, raw: true }],
        ['orc3 new', 'Immunization', { filter: { 's.identifier': { $elemMatch: { c: 'BENCH-none', s: 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/BENCHRX' } } }, limit: 2, sort: [{ field: '_id', direction: 1 }] }],
      ];
      for (const [name, type, q] of shapes.filter(([n]) => !process.env.STORE_VXU_LOOP_ONLY || n === process.env.STORE_VXU_LOOP_ONLY)) {
        for (let r = 0; r < 500; r++) await search(type, q);
        const t = threadNs();
        for (let r = 0; r < LOOPS; r++) void search(type, q);
        console.log(`  loop ${name}: ${((threadNs() - t) / LOOPS / 1000).toFixed(1)} µs per call`);
      }
    }
    console.log(
      `  LMDB calls per message: ${[...lmdbCalls]
        .sort((x, y) => x[0].localeCompare(y[0]))
        .map(([k, n]) => `${k} ${(n / MESSAGES).toFixed(1)}`)
        .join(', ')}`
    );
    if (BY_CALLER) {
      console.log('  LMDB calls per message by caller (calls, of them meeting nothing, of them keys already touched in the message):');
      for (const [key, { calls, empty, repeated }] of [...byCaller].sort((x, y) => x[0].localeCompare(y[0]))) {
        console.log(`    ${key.padEnd(95)} ${(calls / MESSAGES).toFixed(2).padStart(6)}  empty ${(empty / MESSAGES).toFixed(2).padStart(6)}  again ${(repeated / MESSAGES).toFixed(2).padStart(6)}`);
      }
      console.log('  keys touched again in one message (first toucher → again):');
      for (const [pair, n] of [...repeats].sort((x, y) => y[1] - x[1])) console.log(`    ${(n / MESSAGES).toFixed(2).padStart(6)}  ${pair}`);
    }
    console.log(`  ${'store work in all'.padEnd(45)} ${sum.toFixed(0).padStart(40)} µs per message`);
  } finally {
    await running.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
