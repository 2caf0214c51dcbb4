import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { embeddedIndexes } from '../src/app/open-store.js';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.js';
import { buildAuditEvent } from '../src/audit/audit-event.js';
import { directAuditSearchIndex } from '../src/audit/search-values.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { parseScopes } from '../src/auth/scopes.js';
loadDefinitions();
const caller = { sub: 'a', scope: 'system/*.rs', scopes: parseScopes('system/*.rs'), clientId: 'ph' };
const acc = (i: number) => ({ caller, interaction: 'search-type', resourceType: 'Immunization', query: 'patient=Patient/p-' + i, patientRefs: ['Patient/p-' + i], outcome: 200, requestId: 'r' + i }) as any;
const N = 20000;
function cpu(f: () => void) { const p = process.cpuUsage(); f(); const d = process.cpuUsage(p); return (d.user + d.system) / N; }
const dir = await mkdtemp(path.join(os.tmpdir(), 'ac-'));
const store = new EmbeddedStore({ dataDir: path.join(dir, 's'), indexes: embeddedIndexes() });
await store.init();
const logger = { debug() {}, info() {}, warn() {}, error() {} };
for (const delay of [0, 2, 5, 10]) for (const gap of [1, 3]) {
  const audit = new AuditLog({ store, logger, serverUrl: 'http://x/fhir', batchDelayMs: delay });
  const M = 1000; const p = process.cpuUsage(); const t0 = Date.now();
  for (let i = 0; i < M; i++) { audit.recordAccess(acc(i)); if (gap) await new Promise((r) => setTimeout(r, gap)); else if (i % 8 === 7) await new Promise((r) => setImmediate(r)); }
  await audit.flush();
  const d = process.cpuUsage(p);
  console.log(`delay ${delay} recordAccess+store, gap ${gap} ms: process µs/event ${((d.user + d.system) / M).toFixed(0)} wall ${Date.now() - t0} ms`);
}
await store.close(); await rm(dir, { recursive: true, force: true });
