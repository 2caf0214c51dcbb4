// A fresh embedded store in a temp directory for the sign-in unit tests.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import type { Store } from '../store/store.js';
import { AppClients, webAppClient } from './app-clients.js';
import { UserDirectory } from './users.js';

/** The users and apps of a running test server (they live in its store). */
export function signinOf(server: { store: Store; url: string }): { users: UserDirectory; clients: AppClients } {
  return { users: new UserDirectory(server.store, { hashParams: FAST_HASH }), clients: new AppClients(server.store, [webAppClient(server.url)], FAST_HASH) };
}

/** scrypt parameters that keep tests fast; production uses the memory-hard defaults. */
export const FAST_HASH = { N: 1024, r: 8, p: 1 };

export async function tempStore(): Promise<{ store: Store; dispose(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iis-signin-'));
  const store = new EmbeddedStore({ dataDir: dir, indexes: {} });
  await store.init();
  return {
    store,
    async dispose() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
