// GridFS file store (bulk export output): the file store contract on the MongoDB tier.
// Needs TEST_MONGODB_URL (e.g. FerretDB from scripts/ferretdb.sh); each run uses a fresh database.
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { runFileStoreContract } from '../file-store-contract.js';
import { StoreUnavailableError } from '../store.js';
import { GridFsFileStore } from './gridfs-file-store.js';
import { wedgeServerMonitor } from './test-wedge.js';

const TEST_URL = process.env.TEST_MONGODB_URL;

if (TEST_URL) {
  const url = new URL(TEST_URL);
  url.pathname = `/iis_files_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  runFileStoreContract('gridfs', async () => new GridFsFileStore({ url: url.toString() }));

  // The file store has its own client: a driver stuck after an outage must not leave export
  // downloads at 503 for the rest of the process's life (src/store/mongo/client-recovery.ts).
  it('reconnects when the driver\'s server monitor hangs', async () => {
    const files = new GridFsFileStore({ url: url.toString(), recoveryCheckMs: 200 });
    await files.init();
    try {
      await pipeline(Readable.from([Buffer.from('{"resourceType":"Patient"}\n')]), await files.create('wedge/Patient.ndjson'));
      await wedgeServerMonitor((files as unknown as { client: MongoClient }).client);
      const started = Date.now();
      let size: number | undefined;
      let failures = 0;
      while (Date.now() - started < 30_000 && size === undefined) {
        try {
          const opened = await files.open('wedge/Patient.ndjson');
          opened.stream.destroy();
          size = opened.size;
        } catch (err) {
          expect(err).toBeInstanceOf(StoreUnavailableError);
          failures += 1;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(failures).toBeGreaterThan(0);
      expect(size).toBe(27);
    } finally {
      await files.close();
    }
  }, 60_000);
  afterAll(async () => {
    const client = new MongoClient(url.toString(), { serverSelectionTimeoutMS: 3000 });
    try {
      await client.db().dropDatabase();
    } finally {
      await client.close();
    }
  });
} else {
  console.warn('[gridfs-file-store.test] SKIPPED: set TEST_MONGODB_URL (e.g. a FerretDB from scripts/ferretdb.sh) to run the GridFS file store tests');
  describe.skip('file store contract: gridfs (TEST_MONGODB_URL not set)', () => {
    it('needs a MongoDB server', () => undefined);
  });
}
