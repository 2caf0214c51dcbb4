// A user disabled after signing in: the access tokens already issued stop working at the FHIR API
// and at userinfo on the next request when the disabling is this server's (the admin API), and
// within the poll interval when another process changed the store; cached tokens included.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { DEFAULT_REVOCATION_POLL_SECONDS } from './revocations.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode } from './test-agent.js';

function revocationSuite(kind: StoreKind): void {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(kind);
    const { users } = signinOf(server);
    await users.create({ username: 'nurse.soon', password: 'soon disabled 1', role: 'clinician', organization: 'Organization/clinic-a' });
    await users.create({ username: 'nurse.other', password: 'other process 1', role: 'clinician', organization: 'Organization/clinic-a' });
  });
  afterAll(async () => {
    await server?.close();
  });

  async function webAppToken(username: string, password: string): Promise<string> {
    const cfg = await oidc.discovery(new URL(`${server.url}/auth`), 'iis-web-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    return (await signInWithCode(cfg, { redirectUri: `${server.url}/app/callback`, scope: 'openid fhirUser user/*.cruds', username, password })).access_token;
  }

  const fhirStatus = async (token: string) => (await fetch(`${server.baseUrl}/Patient?_count=1`, { headers: { authorization: `Bearer ${token}` } })).status;
  const setActive = (username: string, active: boolean) =>
    fetch(`${server.url}/auth/admin/users/${username}`, { method: 'PATCH', headers: { authorization: `Bearer ${server.token()}`, 'content-type': 'application/json' }, body: JSON.stringify({ active }) });

  describe(`access tokens of a disabled user (${kind} store)`, () => {
    it('disabled through this server: refused at the next request (cached token too), also after enabling again; new tokens work', async () => {
      const token = await webAppToken('nurse.soon', 'soon disabled 1');
      expect(await fhirStatus(token)).toBe(200);
      expect(await fhirStatus(token)).toBe(200); // now from the verified-token cache
      expect((await setActive('nurse.soon', false)).status).toBe(200);
      const refused = await fetch(`${server.baseUrl}/Patient?_count=1`, { headers: { authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(401);
      expect(JSON.stringify(await refused.json())).toMatch(/disabled since it was issued/);
      expect((await fetch(`${server.url}/auth/userinfo`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
      expect((await setActive('nurse.soon', true)).status).toBe(200);
      expect(await fhirStatus(token)).toBe(401);
      // A token issued after the enabling (a later second than the disabling).
      await new Promise((r) => setTimeout(r, 1100));
      expect(await fhirStatus(await webAppToken('nurse.soon', 'soon disabled 1'))).toBe(200);
    });

    it('disabled by another process sharing the store: refused within the poll interval', async () => {
      const token = await webAppToken('nurse.other', 'other process 1');
      expect(await fhirStatus(token)).toBe(200);
      // Another server process's directory (no notice reaches this one but the store).
      const { users } = signinOf(server);
      await users.update((await users.findByUsername('nurse.other'))?.id as string, (u) => ({ ...u, active: false }));
      const deadline = Date.now() + (DEFAULT_REVOCATION_POLL_SECONDS + 2) * 1000;
      let status = await fhirStatus(token);
      while (status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        status = await fhirStatus(token);
      }
      expect(status).toBe(401);
    }, 20_000);
  });
}

revocationSuite('embedded');
if (testMongoUrl()) {
  revocationSuite('mongodb');
} else {
  console.warn('[signin revocations] the MongoDB tier is skipped: TEST_MONGODB_URL is not set (.ci/run starts FerretDB and sets it)');
  describe('access tokens of a disabled user (mongodb store)', () => {
    it.skip('needs TEST_MONGODB_URL', () => {});
  });
}
