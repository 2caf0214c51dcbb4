// GridFS file store (bulk export output): the file store contract on the MongoDB tier.
// Needs TEST_MONGODB_URL (e.g. FerretDB from scripts/ferretdb.sh); each run uses a fresh database.
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, describe, it } from 'vitest';
import { runFileStoreContract } from '../file-store-contract.js';
import { GridFsFileStore } from './gridfs-file-store.js';

const TEST_URL = process.env.TEST_MONGODB_URL;

if (TEST_URL) {
  const url = new URL(TEST_URL);
  url.pathname = `/iis_files_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  runFileStoreContract('gridfs', async () => new GridFsFileStore({ url: url.toString() }));
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
