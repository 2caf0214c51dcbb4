// Quick throughput figures of the MongoDB store against a server (FerretDB by default).
//   scripts/ferretdb.sh start /tmp/iis-ferretdb 27117
//   npx tsx scripts/ferretdb-bench.ts mongodb://127.0.0.1:27117/ [writes=300] [batches=5]
// Uses (and drops) a fresh database. Writes are Patients with a realistic search index.
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { MongoStore } from '../src/store/mongo/mongo-store.js';

const url = process.argv[2] ?? process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27117/';
const writes = Number(process.argv[3] ?? 300);
const batches = Number(process.argv[4] ?? 5);

const patient = (id: string, n: number): Resource =>
  ({
    resourceType: 'Patient',
    id,
    identifier: [{ system: 'urn:mrn', value: id }],
    name: [{ family: `Bench${n % 50}`, given: ['Ann', 'Marie'] }],
    gender: n % 2 ? 'female' : 'male',
    birthDate: `20${String(10 + (n % 14)).padStart(2, '0')}-0${1 + (n % 9)}-1${n % 10}`,
  }) as Resource;
const index = (id: string, n: number) => ({
  identifier: [{ s: 'urn:mrn', c: id }],
  family: [`bench${n % 50}`],
  gender: [{ c: n % 2 ? 'female' : 'male' }],
  birthdate: [{ lo: '2010-01-01T00:00:00.000Z', hi: '2010-01-01T23:59:59.999Z' }],
});

const store = new MongoStore({ url, dbName: `iis_bench_${Date.now().toString(36)}` });
await store.init();
console.log(`server: ${url}  capabilities: ${JSON.stringify(store.capabilities)}`);

const rate = (label: string, ops: number, ms: number) =>
  console.log(`${label.padEnd(44)} ${String(ops).padStart(5)} ops in ${ms.toFixed(0).padStart(6)} ms = ${(ops / (ms / 1000)).toFixed(0).padStart(5)} ops/s (${(ms / ops).toFixed(2)} ms/op)`);

try {
  const ids: string[] = [];
  let t = performance.now();
  for (let i = 0; i < writes; i++) {
    const id = randomUUID();
    ids.push(id);
    await store.write({ resourceType: 'Patient', id, resource: patient(id, i), ifVersion: 'absent', index: index(id, i) });
  }
  rate('single creates, one after another', writes, performance.now() - t);

  t = performance.now();
  for (let i = 0; i < writes; i++) {
    const id = ids[i]!;
    await store.write({ resourceType: 'Patient', id, resource: patient(id, i + 1), ifVersion: 1, index: index(id, i + 1) });
  }
  rate('single updates (If-Match), one after another', writes, performance.now() - t);

  t = performance.now();
  for (let b = 0; b < batches; b++) {
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        const id = randomUUID();
        return store.write({ resourceType: 'Patient', id, resource: patient(id, i), ifVersion: 'absent', index: index(id, i) });
      })
    );
  }
  rate('100-op batches of creates (concurrent)', batches * 100, performance.now() - t);

  t = performance.now();
  for (let b = 0; b < batches; b++) {
    const slice = ids.slice(0, 100);
    await Promise.all(
      slice.map((id, i) => store.write({ resourceType: 'Patient', id, resource: patient(id, i + b + 2), ifVersion: b + 2, index: index(id, i) }))
    );
  }
  rate('100-op batches of updates (concurrent)', batches * Math.min(100, ids.length), performance.now() - t);

  const n = Math.min(100, ids.length);
  t = performance.now();
  for (let i = 0; i < n; i++) await store.read('Patient', ids[i]!);
  rate('reads by id', n, performance.now() - t);

  const total = await store.count('Patient', {});
  t = performance.now();
  for (let i = 0; i < 20; i++) await store.search('Patient', { filter: { 's.identifier': { $elemMatch: { s: 'urn:mrn', c: ids[i] } } }, limit: 10 });
  rate(`identifier search ($elemMatch) over ${total}`, 20, performance.now() - t);

  t = performance.now();
  for (let i = 0; i < 20; i++) await store.history({ resourceType: 'Patient', id: ids[i]!, count: 50 });
  rate('instance history', 20, performance.now() - t);
} finally {
  const { MongoClient } = await import('mongodb');
  const admin = new MongoClient(url);
  await admin.db(store.databaseName).dropDatabase();
  await admin.close();
  await store.close();
}
