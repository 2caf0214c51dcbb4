// Child process of the durability test in mongo-store.test.ts (not a test itself).
// Usage: node --import tsx durability-child.ts <mongodb-url> <dbName>
// Writes Patients (create, then one update each) through MongoStore with several writes in flight,
// printing `start <id>` before a write and `ack <id> <versionId>` once the store acknowledged it,
// until the parent SIGKILLs it.
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { MongoStore } from './mongo-store.js';

const [url, dbName] = process.argv.slice(2);
if (!url || !dbName) {
  console.error('usage: durability-child.ts <mongodb-url> <dbName>');
  process.exit(2);
}

const store = new MongoStore({ url, dbName, transactions: false });
await store.init();
process.stdout.write('ready\n');

const patient = (id: string, version: number): Resource =>
  ({ resourceType: 'Patient', id, name: [{ family: `${id}-v${version}` }] }) as Resource;

async function worker(): Promise<never> {
  for (;;) {
    const id = randomUUID();
    process.stdout.write(`start ${id}\n`);
    const v1 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 1), ifVersion: 'absent', index: { family: `${id}-v1` } });
    process.stdout.write(`ack ${id} ${v1.versionId}\n`);
    const v2 = await store.write({ resourceType: 'Patient', id, resource: patient(id, 2), ifVersion: 1, index: { family: `${id}-v2` } });
    process.stdout.write(`ack ${id} ${v2.versionId}\n`);
  }
}

await Promise.all(Array.from({ length: 8 }, () => worker()));
