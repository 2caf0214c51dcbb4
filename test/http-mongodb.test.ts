import { describe, it } from 'vitest';
import { runDataSharingContract } from './data-sharing-contract.js';
import { runConcurrencyContract, runHttpContract } from './http-contract.js';
import { testMongoUrl } from './helpers/server.js';
import { runWriteEquivalenceContract } from './write-equivalence-contract.js';

if (testMongoUrl()) {
  runHttpContract('mongodb');
  runConcurrencyContract('mongodb');
  runDataSharingContract('mongodb');
  runWriteEquivalenceContract('mongodb');
} else {
  console.warn('[mongodb tier] skipped: TEST_MONGODB_URL is not set (.ci/run starts FerretDB and sets it)');
  describe('HTTP contract on the mongodb store', () => {
    it.skip('needs TEST_MONGODB_URL', () => {});
  });
}
