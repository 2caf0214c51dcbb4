// npm run bench:store-vxu-writes: what one VXU writes to the embedded store, counted (deterministic,
// unlike CPU on a shared machine). A server runs in this process (embedded store, temp DATA_DIR) and
// VXU^V04 messages of bench/hl7v2.ts's shape go through POST /soap; every LMDB call the store makes is
// counted per database, per index (`idx`/`stats` keys start with the index number) and per kind of
// write request (the VXU's transaction, the AuditLog's batches), inside the write callback or outside
// it (the searches' reads). By default the messages counted are bench:hl7v2's open loop (numbers
// 2,901-3,800 of the run, which meet probable matches: see bench/vxu-messages.ts), 8 at a time.
//   npx tsx bench/store-vxu-writes.ts [messages, default 900]
// STORE_VXU_WARMUP (default 2900) messages first, STORE_VXU_CONCURRENCY (default 8);
// STORE_VXU_DUMP_DIR=DIR writes one write request of each kind as JSON (for microbenchmarks).
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createStore } from '../src/app/open-store.js';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import type { EmbeddedStore } from '../src/store/embedded/embedded-store.js';
import type { WriteOp } from '../src/store/store.js';
import { SECRET, warmThenMeasure } from './vxu-messages.js';

const MESSAGES = Number(process.argv[2] ?? '900');
const WARM_UP = Number(process.env.STORE_VXU_WARMUP ?? '2900');
const CONCURRENCY = Number(process.env.STORE_VXU_CONCURRENCY ?? '8');
const DUMP_DIR = process.env.STORE_VXU_DUMP_DIR;

/** The write request running (its resource types), or 'searches and reads' outside any. */
let kind = 'searches and reads (outside the write callback)';
let measuring = false;
const counts = new Map<string, Map<string, number>>();
const requests = new Map<string, { calls: number; ops: number }>();
const dumped = new Set<string>();

function count(what: string): void {
  if (!measuring) return;
  let byCall = counts.get(kind);
  if (!byCall) counts.set(kind, (byCall = new Map()));
  byCall.set(what, (byCall.get(what) ?? 0) + 1);
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-store-vxu-writes-'));
  const config = { ...loadConfig({ ...process.env, DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', PORT: '0' }), port: 0 };
  const store = (await createStore(config)) as EmbeddedStore;
  if (store.kind !== 'embedded') throw new Error('bench:store-vxu-writes counts the embedded store (unset MONGODB_URL)');
  const running = await startServer(config, { store });
  type Handle = Record<string, (...args: unknown[]) => unknown>;
  const internals = store as unknown as {
    defs: Map<string, Array<{ n: number; path: string }>>;
    apply: (ops: WriteOp[], ...rest: unknown[]) => unknown;
    applyTally: (...args: unknown[]) => unknown;
  } & Record<string, Handle>;
  const indexName = (n: unknown): string => {
    for (const [type, defs] of internals.defs) for (const d of defs) if (d.n === n) return `${type} ${d.path}`;
    return `index ${String(n)}`;
  };
  // `curWrite`/`verWrite` are the handles the compressed `cur`/`ver` values are put through.
  for (const db of ['cur', 'curWrite', 'ver', 'verWrite', 'idx', 'stats', 'thist', 'meta']) {
    const handle = internals[db];
    for (const method of ['get', 'putSync', 'removeSync']) {
      const original = handle[method].bind(handle);
      handle[method] = (...args: unknown[]) => {
        const result = original(...args);
        const key = args[0] as unknown[];
        let what = `${db.replace(/Write$/, '')}.${method === 'get' ? 'read' : method === 'putSync' ? 'put' : 'remove'}`;
        if (db === 'idx' || db === 'stats') what += ` ${indexName(key[0])}`;
        else if (db === 'meta') what += ` ${String(key[0])}`;
        if (db === 'stats' && method === 'get' && result === undefined) what += ' (absent)';
        count(what);
        return result;
      };
    }
  }
  const apply = internals.apply.bind(store);
  internals.apply = (ops: WriteOp[], ...rest: unknown[]) => {
    const outer = kind;
    kind = `write callback: ${[...new Set(ops.map((op) => op.resourceType))].join(' + ')}`;
    if (measuring) {
      const r = requests.get(kind) ?? { calls: 0, ops: 0 };
      r.calls++;
      r.ops += ops.length;
      requests.set(kind, r);
      if (DUMP_DIR && !dumped.has(kind)) {
        dumped.add(kind);
        writeFileSync(path.join(DUMP_DIR, `${kind.replace(/\W+/g, '-')}.json`), JSON.stringify(ops));
      }
    }
    try {
      return apply(ops, ...rest);
    } finally {
      kind = outer;
    }
  };
  // The counters of a write group's requests are put once for the group, after their callbacks.
  const applyTally = internals.applyTally.bind(store);
  internals.applyTally = (...args: unknown[]) => {
    const outer = kind;
    if (!kind.startsWith('write callback')) kind = 'write callback: a write group\'s summed counters';
    try {
      return applyTally(...args);
    } finally {
      kind = outer;
    }
  };
  try {
    await warmThenMeasure(running, { warmUp: WARM_UP, messages: MESSAGES, concurrency: CONCURRENCY }, (on) => void (measuring = on));
    console.log(`${MESSAGES} VXU after ${WARM_UP} (${CONCURRENCY} at a time); LMDB calls per message:`);
    for (const [k, byCall] of counts) {
      const r = requests.get(k);
      console.log(`${k}${r ? `: ${(r.calls / MESSAGES).toFixed(3)} requests per message, ${(r.ops / r.calls).toFixed(2)} resources each` : ''}`);
      let writes = 0;
      for (const [what, n] of [...byCall].sort((a, b) => a[0].localeCompare(b[0]))) {
        if (/\.(put|remove)/.test(what)) writes += n;
        console.log(`  ${what.padEnd(58)} ${(n / MESSAGES).toFixed(2).padStart(6)}`);
      }
      console.log(`  ${'puts and removes in all'.padEnd(58)} ${(writes / MESSAGES).toFixed(2).padStart(6)}`);
    }
  } finally {
    await running.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
