// Dynamic client registration (RFC 7591, registration.ts), on both stores: only with an initial
// access token a public-health administrator issued, once per token; public or private_key_jwt
// clients only (keys inline), redirect URIs https or http on loopback; every registration and
// every refused one is an AuditEvent; the registered app then signs a user in (openid-client).
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode } from './test-agent.js';

const REDIRECT = 'http://127.0.0.1:9/dyn-callback';
const USER = { username: 'nurse.dyn', password: 'dynamic nurse 1' };

function registrationSuite(kind: StoreKind): void {
  describe(`dynamic client registration (${kind} store)`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(kind);
      await signinOf(server).users.create({ ...USER, role: 'clinician', organization: 'Organization/clinic-a' });
    });
    afterAll(async () => {
      await server?.close();
    });

    const adminApi = (token: string, body: unknown) =>
      fetch(`${server.url}/auth/admin/registration-tokens`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const registrationToken = async (): Promise<string> => {
      const res = await adminApi(server.token({ scope: 'system/*.cruds', sub: 'ph-operator' }), {});
      expect(res.status).toBe(201);
      return (await res.json()).token;
    };
    const register = async (token: string | undefined, metadata: unknown) => {
      const res = await fetch(`${server.url}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: typeof metadata === 'string' ? metadata : JSON.stringify(metadata),
      });
      return { status: res.status, headers: res.headers, body: await res.json() };
    };

    it('a public app registers with a token, once; it then signs a user in', async () => {
      const token = await registrationToken();
      const made = await register(token, { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', client_name: 'Dyn app' });
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({ client_id: expect.stringMatching(/^dyn-/), token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], client_name: 'Dyn app' });
      expect(made.body.client_secret).toBeUndefined();
      // The token was for one registration.
      const again = await register(token, { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' });
      expect(again.status).toBe(401);
      expect(again.headers.get('www-authenticate')).toContain('invalid_token');

      const cfg = await oidc.discovery(new URL(`${server.url}/auth`), made.body.client_id, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      const tokens = await signInWithCode(cfg, { redirectUri: REDIRECT, scope: 'openid user/Patient.rs', ...USER });
      expect(tokens.access_token).toBeTruthy();
    });

    it('a private_key_jwt app registers its public keys inline and authenticates with them', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'dyn-es', alg: 'ES384' };
      const made = await register(await registrationToken(), { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [expect.objectContaining({ kid: 'dyn-es' })] } });
      const cfg = await oidc.discovery(
        new URL(`${server.url}/auth`),
        made.body.client_id,
        undefined,
        oidc.PrivateKeyJwt({ key: privateKey, kid: 'dyn-es' }, { [oidc.modifyAssertion]: (_h, payload) => void (payload.aud = `${server.url}/auth/token`) }),
        { execute: [oidc.allowInsecureRequests] }
      );
      expect((await signInWithCode(cfg, { redirectUri: REDIRECT, scope: 'openid user/Patient.rs', ...USER })).access_token).toBeTruthy();
    });

    it('refuses without a valid token (401), and bad metadata (400) without spending the token', async () => {
      expect((await register(undefined, { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' })).status).toBe(401);
      expect((await register(randomUUID().replace(/-/g, ''), { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' })).status).toBe(401);
      const token = await registrationToken();
      const bad: Array<[string, unknown, string]> = [
        ['http elsewhere', { redirect_uris: ['http://app.example/cb'], token_endpoint_auth_method: 'none' }, 'invalid_redirect_uri'],
        ['custom scheme', { redirect_uris: ['javascript:alert(1)'], token_endpoint_auth_method: 'none' }, 'invalid_redirect_uri'],
        ['fragment', { redirect_uris: ['https://app.example/cb#x'], token_endpoint_auth_method: 'none' }, 'invalid_redirect_uri'],
        ['no redirect', { token_endpoint_auth_method: 'none' }, 'invalid_redirect_uri'],
        ['a secret (the RFC default)', { redirect_uris: [REDIRECT] }, 'invalid_client_metadata'],
        ['client_secret_basic', { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata'],
        ['jwks_uri', { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://keys.example/jwks' }, 'invalid_client_metadata'],
        ['private key', { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'a', y: 'b', d: 'c', kid: 'k' }] } }, 'invalid_client_metadata'],
        ['implicit grant', { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['implicit'] }, 'invalid_client_metadata'],
        ['client_credentials', { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
        ['not JSON', 'redirect_uris=x', 'invalid_client_metadata'],
        ['a space before the URI (the URL parser drops it)', { redirect_uris: [' https://app.example/cb'], token_endpoint_auth_method: 'none' }, 'invalid_redirect_uri'],
        ['a line break inside the URI', { redirect_uris: ['https://app.example/c\nb'], token_endpoint_auth_method: 'none' }, 'invalid_redirect_uri'],
      ];
      for (const [what, metadata, error] of bad) {
        const res = await register(token, metadata);
        expect({ what, status: res.status, error: res.body.error }).toEqual({ what, status: 400, error });
      }
      expect((await register(token, { redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' })).status).toBe(201);
    });

    it('tokens are issued by public health only; registrations and refusals are audited with the issuer', async () => {
      expect((await adminApi(server.token({ scope: 'system/*.cruds', organization: 'Organization/clinic-a' }), {})).status).toBe(403);
      expect((await adminApi(server.token({ scope: 'system/*.rs' }), {})).status).toBe(403);
      expect((await adminApi(server.token({ scope: 'system/*.cruds' }), { hours: 0 })).status).toBe(400);
      const token = await registrationToken();
      await register(token, { redirect_uris: ['http://evil.example/cb'], token_endpoint_auth_method: 'none' });
      const made = await register(token, { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' });
      await server.audit.flush();
      const events = ((await server.fhir('GET', 'AuditEvent?_count=500')).body.entry ?? []).map((e: { resource: any }) => e.resource);
      const dynamic = events.filter((r: any) => r.subtype?.[0]?.code === 'client-register-dynamic');
      const text = JSON.stringify(dynamic);
      expect(dynamic.some((r: any) => r.outcome === '0' && JSON.stringify(r.entity).includes(made.body.client_id))).toBe(true);
      expect(dynamic.some((r: any) => r.outcome === '4')).toBe(true);
      expect(text).toContain('ph-operator (registration token)');
      expect(events.some((r: any) => r.subtype?.[0]?.code === 'registration-token')).toBe(true);
    });

    it('RFC 7592: the app reads, replaces and deletes its registration with its registration access token; deleted, its tokens stop working', async () => {
      const made = await register(await registrationToken(), { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', client_name: 'Managed app' });
      expect(made.status).toBe(201);
      const clientId: string = made.body.client_id;
      const uri = `${server.url}/auth/register/${clientId}`;
      expect(made.body.registration_client_uri).toBe(uri);
      expect(made.body.registration_access_token).toMatch(/^[\w-]{40,}$/);
      const manage = async (method: string, token: string | undefined, body?: unknown) => {
        const res = await fetch(uri, {
          method,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, headers: res.headers, body: res.status === 204 ? undefined : await res.json() };
      };
      const first: string = made.body.registration_access_token;

      // Read: the registration as registered, with the token; none, another token, or the initial access token: 401.
      const read = await manage('GET', first);
      expect(read.status).toBe(200);
      expect(read.headers.get('cache-control')).toBe('no-store');
      expect(read.body).toMatchObject({ client_id: clientId, redirect_uris: [REDIRECT], client_name: 'Managed app', token_endpoint_auth_method: 'none', registration_client_uri: uri, registration_access_token: first });
      // The auth scheme is case-insensitive (RFC 7235 §2.1).
      expect((await fetch(uri, { headers: { authorization: `bearer ${first}` } })).status).toBe(200);
      // A client id that is not percent-encoded text: the address is named, not a body a GET never had.
      const undecodable = await fetch(uri.replace(/[^/]+$/, '%ZZ'), { headers: { authorization: `Bearer ${first}` } });
      expect({ status: undecodable.status, error: (await undecodable.json()).error }).toEqual({ status: 400, error: 'invalid_request' });
      for (const token of [undefined, randomUUID().replace(/-/g, ''), await registrationToken()]) {
        const refused = await manage('GET', token);
        expect(refused.status).toBe(401);
        expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
      }
      // Another dynamically registered app's token does not manage this one.
      const other = await register(await registrationToken(), { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' });
      expect((await manage('GET', other.body.registration_access_token)).status).toBe(401);

      // A user signs in to the app: an access token and a refresh token.
      const cfg = await oidc.discovery(new URL(`${server.url}/auth`), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      const tokens = await signInWithCode(cfg, { redirectUri: REDIRECT, scope: 'openid offline_access user/Patient.rs', ...USER });
      expect(tokens.refresh_token).toBeTruthy();
      const fhirWith = (accessToken: string) => fetch(`${server.baseUrl}/Patient?family=Nobody`, { headers: { authorization: `Bearer ${accessToken}` } });
      expect((await fhirWith(tokens.access_token)).status).toBe(200);

      // Replace: the metadata as sent (the name dropped), the rules of registering, a new token; the old one stops working.
      const NEW_REDIRECT = 'http://127.0.0.1:9/dyn-callback-2';
      expect((await manage('PUT', first, { client_id: 'someone-else', redirect_uris: [NEW_REDIRECT], token_endpoint_auth_method: 'none' })).status).toBe(400);
      const badUri = await manage('PUT', first, { client_id: clientId, redirect_uris: ['http://evil.example/cb'], token_endpoint_auth_method: 'none' });
      expect({ status: badUri.status, error: badUri.body.error }).toEqual({ status: 400, error: 'invalid_redirect_uri' });
      expect((await manage('PUT', first, { client_id: clientId, redirect_uris: [NEW_REDIRECT], token_endpoint_auth_method: 'client_secret_basic' })).body.error).toBe('invalid_client_metadata');
      const replaced = await manage('PUT', first, { client_id: clientId, redirect_uris: [REDIRECT, NEW_REDIRECT], token_endpoint_auth_method: 'none', registration_client_uri: uri });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ client_id: clientId, redirect_uris: [REDIRECT, NEW_REDIRECT], registration_client_uri: uri });
      expect(replaced.body.client_name).toBeUndefined();
      const second: string = replaced.body.registration_access_token;
      expect(second).not.toBe(first);
      expect((await manage('GET', first)).status).toBe(401);
      expect((await manage('GET', second)).body.redirect_uris).toEqual([REDIRECT, NEW_REDIRECT]);
      // The new redirect URI is the app's now: a sign-in comes back to it.
      expect((await signInWithCode(cfg, { redirectUri: NEW_REDIRECT, scope: 'openid user/Patient.rs', ...USER })).access_token).toBeTruthy();
      // The user's tokens outlive an update.
      expect((await fhirWith(tokens.access_token)).status).toBe(200);

      // Delete: 204; the registration is gone (401), and so are its tokens.
      expect((await manage('DELETE', first)).status).toBe(401);
      expect((await manage('POST', second)).status).toBe(405);
      expect((await manage('DELETE', second)).status).toBe(204);
      expect((await manage('GET', second)).status).toBe(401);
      expect((await manage('DELETE', second)).status).toBe(401);
      const refused = await fhirWith(tokens.access_token);
      expect(refused.status).toBe(401);
      expect(JSON.stringify(await refused.json())).toContain('revoked');
      await expect(oidc.refreshTokenGrant(cfg, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_client' });
      const authorize = await fetch(`${server.url}/auth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`, { redirect: 'manual' });
      expect(authorize.status).toBe(400);
      // The other app is untouched.
      expect((await manage('GET', other.body.registration_access_token)).status).toBe(401); // its own URI is another
      expect((await fetch(other.body.registration_client_uri, { headers: { authorization: `Bearer ${other.body.registration_access_token}` } })).status).toBe(200);

      await server.audit.flush();
      const events = ((await server.fhir('GET', 'AuditEvent?_count=500')).body.entry ?? []).map((e: { resource: any }) => e.resource);
      const managed = events.filter((r: any) => ['client-update-dynamic', 'client-remove-dynamic'].includes(r.subtype?.[0]?.code) && JSON.stringify(r).includes(clientId));
      expect(managed.map((r: any) => `${r.subtype[0].code} ${r.outcome}`).sort()).toEqual(expect.arrayContaining(['client-remove-dynamic 0', 'client-update-dynamic 0', 'client-update-dynamic 4']));
    });

    it("an app an administrator removes (DELETE /auth/admin/clients/<id>) loses its users' access tokens too", async () => {
      const admin = server.token({ scope: 'system/*.cruds', sub: 'ph-operator' });
      const added = await fetch(`${server.url}/auth/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: 'removed-app', redirectUris: [REDIRECT], public: true }),
      });
      expect(added.status).toBe(201);
      const cfg = await oidc.discovery(new URL(`${server.url}/auth`), 'removed-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      const tokens = await signInWithCode(cfg, { redirectUri: REDIRECT, scope: 'openid user/Patient.rs', ...USER });
      const fhirStatus = async () => (await fetch(`${server.baseUrl}/Patient?family=Nobody`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status;
      expect(await fhirStatus()).toBe(200);
      expect((await fetch(`${server.url}/auth/admin/clients/removed-app`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } })).status).toBe(204);
      expect(await fhirStatus()).toBe(401);
    });

    it("an app removed and registered again under the same id does not bring back the old registration's refresh tokens", async () => {
      const admin = server.token({ scope: 'system/*.cruds', sub: 'ph-operator' });
      const add = () =>
        fetch(`${server.url}/auth/admin/clients`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ clientId: 'again-app', redirectUris: [REDIRECT], public: true }),
        });
      expect((await add()).status).toBe(201);
      const cfg = await oidc.discovery(new URL(`${server.url}/auth`), 'again-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      const tokens = await signInWithCode(cfg, { redirectUri: REDIRECT, scope: 'openid offline_access user/Patient.rs', ...USER });
      // Grants carry their time of issue in seconds: the new registration comes in a later second.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await fetch(`${server.url}/auth/admin/clients/again-app`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } })).status).toBe(204);
      expect((await add()).status).toBe(201);
      await expect(oidc.refreshTokenGrant(cfg, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    });

    it('discovery names the registration endpoint', async () => {
      expect((await (await fetch(`${server.url}/.well-known/smart-configuration`)).json()).registration_endpoint).toBe(`${server.url}/auth/register`);
      expect((await (await fetch(`${server.url}/auth/.well-known/openid-configuration`)).json()).registration_endpoint).toBe(`${server.url}/auth/register`);
    });
  });
}

registrationSuite('embedded');
if (testMongoUrl()) {
  registrationSuite('mongodb');
} else {
  console.warn('[dynamic registration] the MongoDB tier is skipped: TEST_MONGODB_URL is not set (.ci/run starts FerretDB and sets it)');
  describe('dynamic client registration (mongodb store)', () => {
    it.skip('needs TEST_MONGODB_URL', () => {});
  });
}
