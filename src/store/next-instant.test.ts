// One strictly increasing clock per process: `nextInstant` (ISO text, used by bulk export's
// transaction times and the MongoDB journal) and `nextInstantMs` (the embedded store's writes, which
// skip formatting and parsing the text back) take turns on the same sequence, so an export's
// transaction time is always after the lastUpdated of a write made before it, and the reverse.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EmbeddedStore } from './embedded/embedded-store.js';
import { nextInstant, nextInstantMs } from './store.js';

describe('nextInstant / nextInstantMs', () => {
  it('give strictly increasing instants however the calls interleave', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 2, maxLength: 200 }), (asText) => {
        const ms = asText.map((text) => (text ? Date.parse(nextInstant()) : nextInstantMs()));
        for (let i = 1; i < ms.length; i++) expect(ms[i]).toBeGreaterThan(ms[i - 1]);
        expect(ms.every(Number.isInteger)).toBe(true);
      })
    );
  });

  it('orders the embedded store writes with the other users of the clock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iis-next-instant-'));
    const store = new EmbeddedStore({ dataDir: dir });
    await store.init();
    try {
      for (let i = 0; i < 50; i++) {
        const before = nextInstant();
        const id = `p${i}`;
        const rec = await store.write({ resourceType: 'Patient', id, resource: { resourceType: 'Patient', id } as Resource });
        const after = nextInstant();
        expect(rec.lastUpdated > before && rec.lastUpdated < after).toBe(true);
        expect(rec.lastUpdated).toBe(new Date(Date.parse(rec.lastUpdated)).toISOString());
      }
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
