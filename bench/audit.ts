// The audit trail's cost, in process (no HTTP): building one AuditEvent, its search values and its
// JSON, then the AuditLog's store writes on a new embedded store with events recorded 1 and 3 ms
// apart (one client's requests) or 8 at a time, for batchDelayMs 0 and the default. Prints CPU per
// event (process: the fsync and lmdb's threads included). See src/audit/README.md.
//   npx tsx bench/audit.ts [--events 1000]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { embeddedIndexes, embeddedUncounted } from '../src/app/open-store.js';
import { buildAuditEvent, type AccessEvent } from '../src/audit/audit-event.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { directAuditSearchIndex } from '../src/audit/search-values.js';
import { parseScopes } from '../src/auth/scopes.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000' } } });
const EVENTS = Math.max(10, Number(values.events));
const SERVER = 'http://localhost/fhir';
loadDefinitions();
const caller = { sub: 'bench', scope: 'system/*.rs', scopes: parseScopes('system/*.rs'), clientId: 'ph' };
/** A patient's Immunizations search, as bench:search sends them. */
const access = (i: number): AccessEvent => ({
  caller,
  interaction: 'search-type',
  resourceType: 'Immunization',
  query: `patient=Patient/p-${i}`,
  patientRefs: [`Patient/p-${i}`],
  outcome: 200,
  requestId: `r-${i}`,
});

function cpuPerCall(n: number, f: () => void): number {
  const start = process.cpuUsage();
  f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

const N = 20_000;
for (let round = 0; round < 2; round++) {
  const build = cpuPerCall(N, () => {
    for (let i = 0; i < N; i++) buildAuditEvent(access(i), SERVER);
  });
  const events = Array.from({ length: N }, (_, i) => buildAuditEvent(access(i), SERVER));
  const index = cpuPerCall(N, () => {
    for (const e of events) directAuditSearchIndex(e);
  });
  const json = cpuPerCall(N, () => {
    for (const e of events) JSON.stringify(e);
  });
  if (round === 1) console.log(`per event (µs of CPU): build ${build.toFixed(1)}, search values ${index.toFixed(1)}, JSON.stringify ${json.toFixed(1)}`);
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-audit-'));
const store = new EmbeddedStore({ dataDir: path.join(dir, 'store'), indexes: embeddedIndexes(), uncounted: embeddedUncounted });
await store.init();
const logger = { debug() {}, info() {}, warn() {}, error() {} };
try {
  let next = 0;
  for (const spacing of ['1 ms', '3 ms', '8 at a time'] as const) {
    for (const batchDelayMs of [0, undefined]) {
      const audit = new AuditLog({ store, logger, serverUrl: SERVER, batchDelayMs });
      const started = Date.now();
      const cpu = process.cpuUsage();
      for (let i = 0; i < EVENTS; i++) {
        audit.recordAccess(access(next++));
        if (spacing === '8 at a time') {
          if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
        } else await new Promise((resolve) => setTimeout(resolve, spacing === '1 ms' ? 1 : 3));
      }
      await audit.flush();
      const used = process.cpuUsage(cpu);
      console.log(
        `${EVENTS} events ${spacing.padEnd(11)} apart, batchDelayMs ${String(batchDelayMs ?? 'default').padEnd(7)}: ` +
          `${((used.user + used.system) / EVENTS).toFixed(0)} µs process CPU per event (timers included), ${Date.now() - started} ms`,
      );
    }
  }
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
