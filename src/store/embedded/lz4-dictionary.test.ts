// The JavaScript compressor must produce values lmdb's own reader decompresses to the same bytes,
// with the store's dictionary: checked through a real LMDB environment (raw handle writes, the
// compressing handle reads), on generated values of every shape and length.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { open, type Database, type RootDatabase } from 'lmdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DictionaryCompressor } from './lz4-dictionary.js';

const dictionary = readFileSync(new URL('./dictionary.txt', import.meta.url));
const dictText = dictionary.toString('latin1');

let dir: string;
let env: RootDatabase;
let reading: Database<Buffer, string>;
let raw: Database<Buffer, string>;
let native: Database<Buffer, string>;
const compressor = new DictionaryCompressor(dictionary);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'iis-lz4-'));
  env = open({ path: path.join(dir, 'x.mdb'), maxDbs: 4 });
  reading = env.openDB<Buffer, string>('v', { encoding: 'binary', compression: { threshold: 64, dictionary } });
  raw = env.openDB<Buffer, string>('v', { encoding: 'binary' });
  native = env.openDB<Buffer, string>('n', { encoding: 'binary', compression: { threshold: 64, dictionary } });
});

afterAll(async () => {
  await env.close();
  await rm(dir, { recursive: true, force: true });
});

async function roundTrip(value: Buffer): Promise<Buffer> {
  const packed = compressor.compress(value);
  expect(packed[0]).toBe(254);
  await env.transaction(() => raw.putSync('k', packed));
  return Buffer.from(reading.get('k') as Buffer);
}

/** Text built from pieces of the dictionary, its last bytes, repeats and random characters. */
const resourceLike = fc
  .array(
    fc.oneof(
      fc.tuple(fc.nat(dictText.length - 1), fc.integer({ min: 1, max: 300 })).map(([at, len]) => dictText.slice(at, at + len)),
      fc.integer({ min: 1, max: 64 }).map((len) => dictText.slice(((dictionary.length >> 3) << 3) - len, (dictionary.length >> 3) << 3)),
      fc.string({ maxLength: 40 }),
      fc.tuple(fc.string({ minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 400 })).map(([s, k]) => s.repeat(k)),
      fc.uuid()
    ),
    { maxLength: 30 }
  )
  .map((parts) => Buffer.from(parts.join(''), 'utf8'));

describe('DictionaryCompressor', () => {
  it('gives lmdb the same bytes back for generated values (text from the dictionary, repeats, random text)', async () => {
    await fc.assert(
      fc.asyncProperty(resourceLike, async (value) => {
        expect((await roundTrip(value)).equals(value)).toBe(true);
      }),
      { numRuns: 400 }
    );
  });

  it('gives lmdb the same bytes back for random bytes of every small length', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 3000 }), async (bytes) => {
        const value = Buffer.from(bytes);
        expect((await roundTrip(value)).equals(value)).toBe(true);
      }),
      { numRuns: 200 }
    );
    for (let n = 0; n < 80; n++) {
      const value = Buffer.from('a'.repeat(n));
      expect((await roundTrip(value)).equals(value)).toBe(true);
    }
  });

  it('handles long runs and long literals (extra length bytes)', async () => {
    const run = Buffer.from('x'.repeat(70_000));
    expect((await roundTrip(run)).equals(run)).toBe(true);
    const noise = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251));
    expect((await roundTrip(noise)).equals(noise)).toBe(true);
  });

  it('compresses a stored Immunization record about as well as lmdb does with the same dictionary', async () => {
    const record = Buffer.from(
      JSON.stringify({
        resourceType: 'Immunization',
        id: '3f9a0c1e-5b7d-4e2a-9c8b-1d2e3f4a5b6c',
        meta: { versionId: '1', lastUpdated: '2026-12-06T13:00:00.000Z' },
        status: 'completed',
        vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] },
        patient: { reference: 'Patient/8d7c6b5a-4f3e-2d1c-0b9a-8f7e6d5c4b3a' },
        occurrenceDateTime: '2024-03-14',
        primarySource: true,
        lotNumber: 'L123456',
      })
    );
    await env.transaction(() => native.putSync('k', record));
    const nativeSize = native.getBinary('k') ? (env.openDB<Buffer, string>('n', { encoding: 'binary' }).get('k') as Buffer).length : 0;
    const ours = compressor.compress(record).length;
    expect(ours).toBeLessThan(record.length / 2);
    expect(ours).toBeLessThanOrEqual(nativeSize * 1.1);
    expect((await roundTrip(record)).equals(record)).toBe(true);
  });
});
