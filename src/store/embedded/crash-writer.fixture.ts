// Child process for the crash test: writes in a loop (single writes, updates, deletes and
// transactions) and prints one line per acknowledged write:
//   ack <resourceType> <id> <versionId> <marker|-deleted>
// The parent SIGKILLs it mid-stream and checks every acknowledged write survived.
import type { Resource } from '@medplum/fhirtypes';
import { EmbeddedStore } from './embedded-store.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: crash-writer.fixture.ts <dataDir>');

const store = new EmbeddedStore({
  dataDir,
  indexes: { Patient: ['s.family'] },
});
await store.init();

let counter = 0;
const out = (line: string) => process.stdout.write(`${line}\n`);
const patient = (id: string, marker: string): Resource =>
  ({ resourceType: 'Patient', id, name: [{ family: marker }], text: { status: 'generated', div: `<div>${'x'.repeat(200)}</div>` } }) as Resource;

async function worker(w: number): Promise<never> {
  for (let i = 0; ; i++) {
    const marker = `m${w}-${counter++}`;
    if (i % 10 === 9) {
      const ops = Array.from({ length: 5 }, (_, k) => ({
        resourceType: 'Patient',
        id: `tx-${w}-${i}-${k}`,
        resource: patient(`tx-${w}-${i}-${k}`, `${marker}-${k}`),
        ifVersion: 'absent' as const,
        index: { family: `${marker}-${k}` },
      }));
      const recs = await store.transact(ops);
      recs.forEach((r, k) => out(`ack Patient ${r.id} ${r.versionId} ${marker}-${k}`));
    } else if (i % 7 === 6) {
      const id = `p-${w}-${i % 5}`;
      const rec = await store.write({ resourceType: 'Patient', id, ifVersion: 'any' });
      out(`ack Patient ${id} ${rec.versionId} -deleted`);
    } else {
      const id = `p-${w}-${i % 5}`;
      const rec = await store.write({ resourceType: 'Patient', id, resource: patient(id, marker), ifVersion: 'any', index: { family: marker } });
      out(`ack Patient ${id} ${rec.versionId} ${marker}`);
    }
  }
}

out('ready');
await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
