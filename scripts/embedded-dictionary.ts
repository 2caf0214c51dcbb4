// Writes the embedded store's compression dictionary (src/store/embedded/dictionary.txt) from
// resources of a data directory (normally one seeded by `npm run seed`):
//   npm run embedded:dictionary -- --data-dir DIR
// LZ4 compresses a small record well only with a shared dictionary of text like it: this one holds a
// few resources of each common type exactly as the store keeps them (stamped resource JSON followed
// by its search values), Immunizations last (nearest the data: LZ4 reaches 64 KB back). A new store
// copies the dictionary into its own meta database and always uses that copy, so changing this file
// later only affects stores created afterwards.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { indexFor } from '../src/interactions/write-support.js';
import { embeddedIndexes, embeddedUncounted } from '../src/app/open-store.js';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.js';

const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, out: { type: 'string' } } });
const dir = path.resolve(values['data-dir'] ?? process.env.DATA_DIR ?? './data');
const out = values.out ?? path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'src', 'store', 'embedded', 'dictionary.txt');
/** Samples per type, most frequent type last; about 48 KB in all (LZ4's window is 64 KB). */
const PLAN: Array<[string, number]> = [
  ['Organization', 2],
  ['Consent', 3],
  ['Patient', 7],
  ['Immunization', 9],
];

loadDefinitions();
const store = new EmbeddedStore({ dataDir: dir, indexes: embeddedIndexes(), uncounted: embeddedUncounted });
await store.init();
const parts: string[] = [];
try {
  for (const [type, wanted] of PLAN) {
    const total = await store.count(type, {});
    const every = Math.max(1, Math.floor(total / wanted));
    let i = 0;
    let taken = 0;
    for await (const rec of store.scan(type, {}, { raw: true })) {
      if (i++ % every !== every >> 1) continue;
      const json = rec.json ?? JSON.stringify(rec.resource);
      parts.push(json + JSON.stringify(indexFor(JSON.parse(json))));
      if (++taken >= wanted) break;
    }
  }
} finally {
  await store.close();
}
const text = parts.join('\n');
writeFileSync(out, text);
console.log(`dictionary: ${parts.length} resources, ${Buffer.byteLength(text)} bytes → ${out}`);
