// The embedded store's share of ingest, in process (no HTTP, no validation, no rules): 100-entry
// transactions of new Immunizations (the shape bench/run.ts posts), two in flight like the bench's
// two clients, committed with store.transact. Prints Immunizations/s and the CPU per Immunization of
// the whole process and of this (the request) thread, so a populated registry and an empty store
// can be compared for what the store alone costs.
//   npm run bench:store-write -- --data-dir DIR [--bundles 120] [--warmup 20] [--size 100]
// DIR is written to (pass a copy of a seeded registry, or a new directory for an empty store) and
// must not be open in a running server (DATA_DIR is locked).
import { randomUUID } from 'node:crypto';
import { newResourceId } from '../src/fhir/resource-id.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Immunization } from '@medplum/fhirtypes';
import { embeddedIndexes, embeddedUncounted } from '../src/app/open-store.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { indexFor } from '../src/interactions/write-support.js';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.js';
import type { WriteOp } from '../src/store/store.js';
import { benchImmunization } from './ingest-data.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    bundles: { type: 'string', default: '120' },
    warmup: { type: 'string', default: '20' },
    // Entries per transaction: 100 is a Bundle's shape; 1-2 is a single write's or a VXU's (a commit each).
    size: { type: 'string', default: '100' },
  },
});

/** This thread's CPU so far (user + kernel) and its kernel part alone, in µs. */
function threadCpu(): { total: number; kernel: number } {
  const stat = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { total: (Number(fields[11]) + Number(fields[12])) * 10_000, kernel: Number(fields[12]) * 10_000 };
}

/** Bytes this process caused to be written to storage so far (/proc/self/io). */
function writtenBytes(): number {
  return Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0);
}

function faults(): [number, number] {
  const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[7]), Number(fields[9])];
}

const size = Math.max(1, Math.floor(Number(values.size)));

function bundleOps(patientIds: string[]): WriteOp[] {
  return Array.from({ length: size }, () => {
    const id = newResourceId(); // as the server assigns them (time-ordered)
    const resource: Immunization = { ...benchImmunization(patientIds), id };
    return { resourceType: 'Immunization', id, resource, ifVersion: 'absent' as const, index: indexFor(resource) };
  });
}

async function run(store: EmbeddedStore, bundles: number, patientIds: string[]): Promise<number[]> {
  let next = 0;
  const latencies: number[] = [];
  await Promise.all(
    [0, 1].map(async () => {
      while (next < bundles) {
        next++;
        const ops = bundleOps(patientIds);
        const t = performance.now();
        await store.transact(ops);
        latencies.push(performance.now() - t);
      }
    })
  );
  return latencies.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  if (!values['data-dir']) throw new Error('--data-dir DIR is required (a copy of a registry, or a new directory)');
  loadDefinitions();
  const store = new EmbeddedStore({ dataDir: path.resolve(values['data-dir']), indexes: embeddedIndexes(), uncounted: embeddedUncounted });
  await store.init();
  try {
    const patientIds = Array.from({ length: 6000 }, () => randomUUID());
    console.log(`store holds ${await store.count('Immunization', {})} Immunizations`);
    await run(store, Number(values.warmup), patientIds);
    const bundles = Number(values.bundles);
    const cpu0 = process.cpuUsage();
    const thread0 = threadCpu();
    const written0 = writtenBytes();
    const f0 = faults();
    const t0 = performance.now();
    const latencies = await run(store, bundles, patientIds);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`faults per entry: minor ${((faults()[0] - f0[0]) / (bundles * size)).toFixed(1)}, major ${((faults()[1] - f0[1]) / (bundles * size)).toFixed(2)}`);
    const cpu = process.cpuUsage(cpu0);
    const thread = threadCpu();
    const n = bundles * size;
    const per = (us: number) => Math.round(us / n);
    console.log(
      `${bundles} transactions of ${size} Immunization${size === 1 ? '' : 's'} (2 in flight): ${Math.round(n / seconds).toLocaleString('en-US')} /s, ` +
        `${per(cpu.user + cpu.system)} µs process CPU (${per(thread.total - thread0.total)} µs on this thread, ${per(thread.kernel - thread0.kernel)} of it in the kernel) per Immunization; ` +
        `${Math.round((writtenBytes() - written0) / n / 1024)} KB written, transact p50 ${latencies[Math.floor(latencies.length / 2)].toFixed(1)} ms, p90 ${latencies[Math.floor(latencies.length * 0.9)].toFixed(1)} ms`
    );
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
