// Child process for the disk-full test, run under a file size limit (ulimit -f) so the store's file
// cannot grow: writes Patients of incompressible text until 50 writes in a row were refused, and
// prints one line per write:
//   ack <id> <versionId>      acknowledged
//   refused <id> <error name>  refused
// then closes the store and exits 0. A crash (exit code ≠ 0) is the failure the parent looks for.
import type { Resource } from '@medplum/fhirtypes';
import { EmbeddedStore } from './embedded-store.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: disk-full-writer.fixture.ts <dataDir>');

const store = new EmbeddedStore({ dataDir, indexes: { Patient: ['s.family'] } });
await store.init();

const out = (line: string) => process.stdout.write(`${line}\n`);
/** Random text LZ4 cannot shrink, so each write takes its size on disk. */
const noise = () => Array.from({ length: 500 }, () => Math.random().toString(36).slice(2, 10)).join('');

let refusedInARow = 0;
async function worker(w: number): Promise<void> {
  for (let i = 0; refusedInARow < 50; i++) {
    const id = `full-${w}-${i}`;
    const resource = { resourceType: 'Patient', id, name: [{ family: id }], text: { status: 'generated', div: `<div>${noise()}</div>` } } as Resource;
    try {
      const rec = await store.write({ resourceType: 'Patient', id, resource, ifVersion: 'absent', index: { family: id } });
      refusedInARow = 0;
      out(`ack ${id} ${rec.versionId}`);
    } catch (err) {
      refusedInARow++;
      out(`refused ${id} ${(err as Error).name}`);
    }
  }
}
await Promise.all([worker(1), worker(2), worker(3)]);
await store.close();
