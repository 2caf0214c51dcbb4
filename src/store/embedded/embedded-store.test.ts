import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { runStoreContract } from '../store-contract.js';
import { TransactionsUnsupportedError, type Store } from '../store.js';
import { EmbeddedStore, type EmbeddedStoreOptions } from './embedded-store.js';

const dirs: string[] = [];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function fresh(options: Omit<EmbeddedStoreOptions, 'dataDir'> = {}): Promise<EmbeddedStore> {
  const dir = await mkdtemp(join(tmpdir(), 'iis-embedded-contract-'));
  dirs.push(dir);
  return new EmbeddedStore({ dataDir: dir, ...options });
}

runStoreContract('embedded', () => fresh({ indexes: { Patient: ['s.family', 's.identifier', 's.tag'], Observation: ['s.tag'] } }));

// The same with every index kept without per-value counters (the entries counted where read).
runStoreContract('embedded (indexes uncounted)', () =>
  fresh({ indexes: { Patient: ['s.family', 's.identifier', 's.tag'], Observation: ['s.tag'] }, uncounted: () => true })
);

// Without indexes every filter is answered by walking the type (the planner has nothing to use).
runStoreContract('embedded (no indexes)', () => fresh({ indexes: {} }));

// Exercises the contract's own "no transactions" branch, as a MongoDB standalone server takes it.
runStoreContract(
  'embedded posing as a store without transactions',
  async () => {
    const inner = await fresh();
    return new Proxy(inner, {
      get(target, prop) {
        if (prop === 'supportsTransactions') return false;
        if (prop === 'transact') {
          return async () => {
            throw new TransactionsUnsupportedError('this test double has no transactions');
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;
  },
  { transactions: false }
);
