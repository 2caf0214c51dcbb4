// The app registry: confidential apps' secrets are kept only as scrypt hashes; records from before
// the hash (secret in the clear) keep working and are rewritten with the hash.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/store.js';
import { AppClients, CLIENT_TYPE, clientMetadata } from './app-clients.js';
import { FAST_HASH, tempStore } from './test-helpers.js';

let store: Store;
let dispose: () => Promise<void>;
beforeEach(async () => {
  ({ store, dispose } = await tempStore());
});
afterEach(async () => {
  await dispose();
});

async function writeLegacy(id: string, secret: string): Promise<void> {
  const resource = { resourceType: CLIENT_TYPE, id, clientId: id, redirectUris: ['https://app.example/cb'], public: false, secret, createdAt: '2026-01-01T00:00:00.000Z' };
  await store.write({ resourceType: CLIENT_TYPE, id, resource: resource as never, ifVersion: 'absent', index: {} });
}

describe('confidential apps’ secrets at rest', () => {
  it('registration returns the secret once; the store holds only its scrypt hash, which checks it', async () => {
    const clients = new AppClients(store, [], FAST_HASH);
    const registered = await clients.register({ clientId: 'ehr', redirectUris: ['https://ehr.example/cb'], public: false });
    expect(registered.secret).toMatch(/^[\w-]{43}$/);
    const record = await store.read(CLIENT_TYPE, 'ehr');
    expect(JSON.stringify(record?.resource)).not.toContain(registered.secret);
    const stored = await clients.get('ehr');
    expect(stored?.secret).toBeUndefined();
    expect(stored?.secretHash).toMatch(/^scrypt\$1024\$8\$1\$/);
    const metadata = clientMetadata(stored!);
    expect(metadata.client_secret).toBe(stored?.secretHash);
    expect(await clients.secretMatches('ehr', metadata.client_secret as string, registered.secret)).toBe(true);
    expect(await clients.secretMatches('ehr', metadata.client_secret as string, `${registered.secret}x`)).toBe(false);
    expect(await clients.secretMatches('ehr', metadata.client_secret as string, stored?.secretHash)).toBe(false);
    expect(await clients.secretMatches('ehr', metadata.client_secret as string, undefined)).toBe(false);
    // A public app has neither.
    const pub = await clients.register({ clientId: 'phone', redirectUris: ['https://phone.example/cb'], public: true });
    expect(pub.secret).toBeUndefined();
    expect(await clients.get('phone')).not.toHaveProperty('secretHash');
  });

  it('a legacy clear secret authenticates (and only the right one), then is replaced by its hash', async () => {
    const clients = new AppClients(store, [], FAST_HASH);
    await writeLegacy('old', 'old-clear-secret');
    expect(await clients.secretMatches('old', 'old-clear-secret', 'wrong-secret')).toBe(false);
    expect((await clients.get('old'))?.secret).toBe('old-clear-secret');
    expect(await clients.secretMatches('old', 'old-clear-secret', 'old-clear-secret')).toBe(true);
    const upgraded = await clients.get('old');
    expect(upgraded?.secret).toBeUndefined();
    expect(await clients.secretMatches('old', upgraded?.secretHash as string, 'old-clear-secret')).toBe(true);
  });

  it('hashLegacySecrets (the sign-in server start) rewrites every legacy record and leaves hashed ones alone', async () => {
    const clients = new AppClients(store, [], FAST_HASH);
    await writeLegacy('old-1', 'first-clear-secret');
    await writeLegacy('old-2', 'second-clear-secret');
    const current = await clients.register({ clientId: 'new', redirectUris: ['https://new.example/cb'], public: false });
    const before = (await store.read(CLIENT_TYPE, 'new'))?.versionId;
    expect((await clients.hashLegacySecrets()).sort()).toEqual(['old-1', 'old-2']);
    expect(await clients.hashLegacySecrets()).toEqual([]);
    expect((await store.read(CLIENT_TYPE, 'new'))?.versionId).toBe(before);
    for (const [id, secret] of [['old-1', 'first-clear-secret'], ['old-2', 'second-clear-secret'], ['new', current.secret as string]]) {
      const client = await clients.get(id);
      expect(JSON.stringify((await store.read(CLIENT_TYPE, id))?.resource)).not.toContain(secret);
      expect(await clients.secretMatches(id, client?.secretHash as string, secret)).toBe(true);
    }
  });

  it('an app removed and registered again gets a new secret; the old one no longer matches', async () => {
    const clients = new AppClients(store, [], FAST_HASH);
    await writeLegacy('rotated', 'clear-secret-in-history');
    expect(await clients.remove('rotated')).toBe(true);
    const again = await clients.register({ clientId: 'rotated', redirectUris: ['https://app.example/cb'], public: false });
    const stored = await clients.get('rotated');
    expect(await clients.secretMatches('rotated', stored?.secretHash as string, again.secret)).toBe(true);
    expect(await clients.secretMatches('rotated', stored?.secretHash as string, 'clear-secret-in-history')).toBe(false);
  });
});
