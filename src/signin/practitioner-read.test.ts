// The fhirUser of a sign-in resolves: an app (openid-client) signs a nurse in with `openid fhirUser`,
// GETs the fhirUser URL of the id_token with its access token and gets her Practitioner; other
// people's, other tokens' and a token without the fhirUser scope are refused. On both stores (the
// user directory is the store's).
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode } from './test-agent.js';

const REDIRECT = 'http://127.0.0.1:9/fhiruser-callback';

function fhirUserSuite(kind: StoreKind): void {
  describe(`GET the fhirUser of a sign-in (${kind} store)`, () => {
    let server: TestServer;
    let nurseId: string;
    let otherId: string;

    beforeAll(async () => {
      server = await startTestServer(kind);
      await server.fhir('PUT', 'Organization/clinic-a', { body: { resourceType: 'Organization', id: 'clinic-a', name: 'Clinic A', active: true } });
      const { users, clients } = signinOf(server);
      nurseId = (await users.create({ username: 'nurse.joy', password: 'pallet town 1', name: 'Joy Pallet', role: 'clinician', organization: 'Organization/clinic-a' })).id;
      otherId = (await users.create({ username: 'clerk.b', password: 'clinic a clerk', role: 'data-entry', organization: 'Organization/clinic-a' })).id;
      await clients.register({ clientId: 'who-app', redirectUris: [REDIRECT], public: true });
    }, 60_000);
    afterAll(async () => {
      await server?.close();
    });

    async function signIn(scope: string): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
      const config = await oidc.discovery(new URL(`${server.url}/auth`), 'who-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      return signInWithCode(config, { redirectUri: REDIRECT, scope, username: 'nurse.joy', password: 'pallet town 1', params: { aud: server.baseUrl } });
    }
    const get = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });

    it("the id_token's fhirUser URL answers her Practitioner with her access token", async () => {
      const tokens = await signIn('openid fhirUser user/Patient.rs');
      const fhirUser = tokens.claims()?.fhirUser as string;
      expect(fhirUser).toBe(`${server.baseUrl}/Practitioner/${nurseId}`);
      const res = await get(fhirUser, tokens.access_token);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      expect(await res.json()).toMatchObject({
        resourceType: 'Practitioner',
        id: nurseId,
        active: true,
        identifier: [{ system: `${server.url}/auth/users`, value: 'nurse.joy' }],
        name: [{ text: 'Joy Pallet' }],
      });
      // The same read inside a batch.
      const batch = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Practitioner/${nurseId}` } }] }, headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(batch.body.entry[0].response.status).toMatch(/^200/);
      expect(batch.body.entry[0].resource.id).toBe(nurseId);
    });

    it("another person's Practitioner, a token without the fhirUser scope and a system token are 403; writes 405; no search", async () => {
      const tokens = await signIn('openid fhirUser user/Patient.rs');
      const other = await get(`${server.baseUrl}/Practitioner/${otherId}`, tokens.access_token);
      expect(other.status).toBe(403);
      expect(JSON.stringify(await other.json())).not.toContain('clerk.b');
      // An id nobody has is the same 403: no way to learn who exists.
      expect((await get(`${server.baseUrl}/Practitioner/u-nobody`, tokens.access_token)).status).toBe(403);
      const withoutScope = await signIn('openid user/Patient.rs');
      const refused = await get(`${server.baseUrl}/Practitioner/${nurseId}`, withoutScope.access_token);
      expect(refused.status).toBe(403);
      expect((await refused.json()).issue[0].diagnostics).toMatch(/fhirUser scope/);
      expect((await get(`${server.baseUrl}/Practitioner/${nurseId}`, server.token({ scope: 'system/*.cruds' }))).status).toBe(403);
      const put = await fetch(`${server.baseUrl}/Practitioner/${nurseId}`, { method: 'PUT', headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Practitioner', id: nurseId }) });
      expect(put.status).toBe(405);
      expect((await get(`${server.baseUrl}/Practitioner?identifier=nurse.joy`, tokens.access_token)).status).toBe(404);
      expect((await get(`${server.baseUrl}/Practitioner`, server.token({ scope: 'system/*.cruds' }))).status).toBe(404);
    });

    it('the CapabilityStatement lists the Practitioner read', async () => {
      const metadata = await server.fhir('GET', 'metadata', { headers: { authorization: '' } });
      expect(metadata.body.rest[0].resource.find((r: { type: string }) => r.type === 'Practitioner')).toMatchObject({ interaction: [{ code: 'read' }] });
    });
  });
}

fhirUserSuite('embedded');
if (testMongoUrl()) {
  fhirUserSuite('mongodb');
} else {
  console.warn('[fhirUser] the MongoDB tier is skipped: TEST_MONGODB_URL is not set (.ci/run starts FerretDB and sets it)');
  describe('GET the fhirUser of a sign-in (mongodb store)', () => {
    it.skip('needs TEST_MONGODB_URL', () => {});
  });
}
