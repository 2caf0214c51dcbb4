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
