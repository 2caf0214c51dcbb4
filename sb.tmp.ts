// in-process: CPU per Immunization of EmbeddedStore.transact with 100 ops
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { EmbeddedStore } from '/work/wt/ingest/src/store/embedded/embedded-store.js';
import { embeddedIndexes } from '/work/wt/ingest/src/app/open-store.js';
import { extractSearchIndex } from '/work/wt/ingest/src/search/extract.js';
import { loadDefinitions } from '/work/wt/ingest/src/fhir/definitions.js';
loadDefinitions();
const dir = mkdtempSync('/tmp/ing-sb-');
const store = new EmbeddedStore({ dataDir: dir, indexes: embeddedIndexes() });
await store.init();
const CVX = ['08', '20', '10', '03', '21', '83', '133', '116', '115', '62', '141', '208'];
const pats = Array.from({ length: 200 }, () => randomUUID());
const bundle = () => Array.from({ length: 100 }, () => {
  const resource: any = { resourceType: 'Immunization', status: 'completed', vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: CVX[Math.floor(Math.random() * CVX.length)] }] }, patient: { reference: `Patient/${pats[Math.floor(Math.random() * 200)]}` }, occurrenceDateTime: '2024-03-1' + Math.floor(Math.random() * 9), primarySource: true, lotNumber: `L${Math.floor(Math.random() * 1e6)}` };
  const id = randomUUID();
  resource.id = id;
  return { resourceType: 'Immunization', id, resource, index: extractSearchIndex(resource) };
});
for (let i = 0; i < 20; i++) await store.transact(bundle());
const bundles = Array.from({ length: 60 }, bundle);
const t = process.cpuUsage();
for (const b of bundles) await store.transact(b);
const u = process.cpuUsage(t);
console.log(`store.transact: ${((u.user + u.system) / 6000).toFixed(1)} us CPU per Immunization (process: includes fsync syscalls)`);
await store.close();
rmSync(dir, { recursive: true, force: true });
