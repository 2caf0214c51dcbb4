// SMART `client-confidential-asymmetric` for people's apps (private_key_jwt), on both stores: an app
// registered with its public keys inline or with a JWKS URL (served here on loopback) signs in a
// user and authenticates at POST /auth/token with a signed assertion (RS384 and ES384; openid-client,
// a certified client library, as the app); a replayed jti, an assertion living longer than
// 5 minutes, one for another audience, signed with another key or alg, and a key set that cannot be
// fetched are all `invalid_client` (401), never a 5xx. The key set URL is fetched once and cached.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode } from './test-agent.js';

const REDIRECT = 'http://127.0.0.1:9/asym-callback';
const USER = { username: 'nurse.asym', password: 'asymmetric 12' };
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface AppKey {
  alg: 'RS384' | 'ES384';
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function appKey(alg: AppKey['alg']): Promise<AppKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg}-${randomUUID().slice(0, 8)}`;
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A loopback server playing the apps' key set hosts: counts fetches per path. */
async function keyHost(routes: Record<string, () => { status: number; body: string }>): Promise<{ url: string; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes[path];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    const { status, body } = route();
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function asymmetricSuite(kind: StoreKind): void {
  describe(`private_key_jwt for people's apps (${kind} store)`, () => {
    let server: TestServer;
    let host: Awaited<ReturnType<typeof keyHost>>;
    let esKey: AppKey;
    let rsKey: AppKey;
    let strangerKey: AppKey;
    let tokenUrl: string;

    beforeAll(async () => {
      [esKey, rsKey, strangerKey] = await Promise.all([appKey('ES384'), appKey('RS384'), appKey('ES384')]);
      host = await keyHost({
        '/rs/jwks.json': () => ({ status: 200, body: JSON.stringify({ keys: [rsKey.publicJwk] }) }),
        '/huge/jwks.json': () => ({ status: 200, body: JSON.stringify({ keys: [rsKey.publicJwk], padding: 'x'.repeat(200_000) }) }),
        '/broken/jwks.json': () => ({ status: 500, body: '{}' }),
      });
      server = await startTestServer(kind);
      tokenUrl = `${server.url}/auth/token`;
      const { users, clients } = signinOf(server);
      await users.create({ ...USER, role: 'clinician', organization: 'Organization/clinic-a' });
      await clients.register({ clientId: 'asym-inline', redirectUris: [REDIRECT], public: false, jwks: { keys: [esKey.publicJwk] } });
      await clients.register({ clientId: 'asym-url', redirectUris: [REDIRECT], public: false, jwksUri: `${host.url}/rs/jwks.json` });
      await clients.register({ clientId: 'asym-huge', redirectUris: [REDIRECT], public: false, jwksUri: `${host.url}/huge/jwks.json` });
      await clients.register({ clientId: 'asym-broken', redirectUris: [REDIRECT], public: false, jwksUri: `${host.url}/broken/jwks.json` });
    });
    afterAll(async () => {
      await server?.close();
      await host?.close();
    });

    /** openid-client as the app, signing its assertions with `key` (aud: the token endpoint, as SMART asks). */
    const discover = (clientId: string, key: AppKey) =>
      oidc.discovery(
        new URL(`${server.url}/auth`),
        clientId,
        undefined,
        oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }, { [oidc.modifyAssertion]: (_header, payload) => void (payload.aud = tokenUrl) }),
        { execute: [oidc.allowInsecureRequests] }
      );

    /** Signs the user in for the app and exchanges the code (openid-client). */
    async function signIn(clientId: string, key: AppKey) {
      const cfg = await discover(clientId, key);
      return { cfg, tokens: await signInWithCode(cfg, { redirectUri: REDIRECT, scope: 'openid fhirUser offline_access user/Patient.rs', ...USER }) };
    }

    /** An assertion as a hand-written app would make it; `claims` override the valid ones. */
    const assertion = (clientId: string, key: AppKey, claims: Record<string, unknown> = {}, alg: string = key.alg) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ jti: randomUUID(), ...claims })
        .setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience((claims.aud as string) ?? tokenUrl)
        .setIssuedAt(now)
        .setExpirationTime((claims.exp as number) ?? now + 240)
        .sign(key.privateKey);
    };

    const refresh = async (refreshToken: string, clientAssertion?: string, clientId?: string) => {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
      if (clientAssertion) form.set('client_assertion', clientAssertion), form.set('client_assertion_type', ASSERTION_TYPE);
      if (clientId) form.set('client_id', clientId);
      const res = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
      return { status: res.status, body: (await res.json()) as Record<string, string> };
    };

    it('ES384 with the keys registered inline: code and refresh exchanges, a token the FHIR API accepts', async () => {
      const { cfg, tokens } = await signIn('asym-inline', esKey);
      expect(decodeJwt(tokens.access_token)).toMatchObject({ client_id: 'asym-inline', sub: expect.any(String) });
      const read = await server.fhir('GET', 'Patient?_count=1', { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(read.status).toBe(200);
      const again = await oidc.refreshTokenGrant(cfg, tokens.refresh_token as string);
      expect(again.access_token).toBeTruthy();
    });

    it('RS384 with a JWKS URL: the server fetches the set once and reuses it', async () => {
      const before = host.hits.get('/rs/jwks.json') ?? 0;
      const { cfg, tokens } = await signIn('asym-url', rsKey);
      await oidc.refreshTokenGrant(cfg, tokens.refresh_token as string);
      expect(host.hits.get('/rs/jwks.json')! - before).toBeLessThanOrEqual(1);
      expect(host.hits.get('/rs/jwks.json')).toBe(1);
    });

    it('refuses with invalid_client (401): replayed jti, exp over 5 minutes, aud naming another server, another key, another alg, no assertion', async () => {
      const { tokens } = await signIn('asym-inline', esKey);
      let refreshToken = tokens.refresh_token as string;
      const refusals: Array<[string, string | undefined, string | undefined]> = [
        ['exp 10 minutes ahead', await assertion('asym-inline', esKey, { exp: Math.floor(Date.now() / 1000) + 600 }), undefined],
        ['aud another server', await assertion('asym-inline', esKey, { aud: 'https://elsewhere.example/token' }), undefined],
        ['expired', await assertion('asym-inline', esKey, { exp: Math.floor(Date.now() / 1000) - 60 }), undefined],
        ['signed by a key not registered', await assertion('asym-inline', { ...strangerKey, kid: esKey.kid }), undefined],
        ['no assertion, client_id only', undefined, 'asym-inline'],
        ['another app\'s assertion', await assertion('asym-url', rsKey), 'asym-inline'],
      ];
      for (const [what, clientAssertion, clientId] of refusals) {
        const res = await refresh(refreshToken, clientAssertion, clientId);
        expect(res.status, what).toBeLessThan(500);
        expect([400, 401], what).toContain(res.status);
        if (what !== "another app's assertion") expect({ what, status: res.status, error: res.body.error }).toEqual({ what, status: 401, error: 'invalid_client' });
      }
      // An HS256 assertion (alg outside RS384/ES384) made with a shared secret.
      const hs = await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'HS256' }).setIssuer('asym-inline').setSubject('asym-inline').setAudience(tokenUrl).setIssuedAt().setExpirationTime('2m').sign(new TextEncoder().encode('x'.repeat(32)));
      expect(await refresh(refreshToken, hs)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });

      // The same assertion twice: the second is a replay.
      const once = await assertion('asym-inline', esKey);
      const first = await refresh(refreshToken, once);
      expect(first.status).toBe(200);
      refreshToken = first.body.refresh_token;
      expect(await refresh(refreshToken, once)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      // A fresh assertion works with the same refresh token (the refusal did not spend it).
      const fresh = await refresh(refreshToken, await assertion('asym-inline', esKey));
      expect(fresh.status).toBe(200);
      // aud = the issuer identifier (RFC 7523; openid-client's default) names this server too.
      const byIssuer = await refresh(fresh.body.refresh_token, await assertion('asym-inline', esKey, { aud: `${server.url}/auth` }));
      expect(byIssuer.status, JSON.stringify(byIssuer.body)).toBe(200);
    });

    it('aud = the token endpoint the discovery names is accepted whatever Host the request reached the server with (a proxy that rewrites it)', async () => {
      const { tokens } = await signIn('asym-inline', esKey);
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string, client_assertion: await assertion('asym-inline', esKey), client_assertion_type: ASSERTION_TYPE });
      // fetch cannot set Host: a raw request naming the address a proxy would forward to.
      const answer = await new Promise<{ status: number; body: Record<string, string> }>((resolve, reject) => {
        const req = httpRequest(tokenUrl, { method: 'POST', headers: { host: 'iis-internal.local:9000', 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end(form.toString());
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body.access_token).toBeTruthy();
    });

    it("openid-client's own private_key_jwt (aud: the issuer, no override) signs in and refreshes", async () => {
      const cfg = await oidc.discovery(new URL(`${server.url}/auth`), 'asym-inline', undefined, oidc.PrivateKeyJwt({ key: esKey.privateKey, kid: esKey.kid }), {
        execute: [oidc.allowInsecureRequests],
      });
      const tokens = await signInWithCode(cfg, { redirectUri: REDIRECT, scope: 'openid fhirUser offline_access user/Patient.rs', ...USER });
      expect(tokens.access_token).toBeTruthy();
      const again = await oidc.refreshTokenGrant(cfg, tokens.refresh_token as string);
      expect(again.access_token).toBeTruthy();
    });

    it('a key set that cannot be fetched (too large, HTTP 500, nothing listening) is invalid_client, not a 5xx', async () => {
      const closed = await keyHost({});
      await closed.close();
      await signinOf(server).clients.register({ clientId: 'asym-gone', redirectUris: [REDIRECT], public: false, jwksUri: `${closed.url}/jwks.json` });
      for (const clientId of ['asym-huge', 'asym-broken', 'asym-gone']) {
        // A refresh token of another app stands in: the client is refused before the grant is read.
        const res = await refresh('not-a-real-refresh-token', await assertion(clientId, rsKey));
        expect({ clientId, status: res.status, error: res.body.error }).toEqual({ clientId, status: 401, error: 'invalid_client' });
        expect(res.body.error_description).toMatch(/key set/);
      }
      expect(host.hits.get('/huge/jwks.json')).toBe(1);
    });

    it('an unknown kid with a JWKS URL is refused; the set is fetched again at most once per cooldown', async () => {
      const hitsBefore = host.hits.get('/rs/jwks.json') ?? 0;
      const { tokens } = await signIn('asym-url', rsKey);
      const rogue = { ...rsKey, kid: 'unknown-kid' };
      for (let i = 0; i < 3; i++) expect(await refresh(tokens.refresh_token as string, await assertion('asym-url', rogue))).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      expect((host.hits.get('/rs/jwks.json') ?? 0) - hitsBefore).toBeLessThanOrEqual(1);
    });

    it('registration: public keys only, https or loopback URLs, one way of giving keys; listed without secrets', async () => {
      const { clients } = signinOf(server);
      const privateJwk = { ...(await exportJWK(esKey.privateKey)), kid: 'p' };
      const bad: Array<[string, Record<string, unknown>]> = [
        ['private key', { jwks: { keys: [privateJwk] } }],
        ['empty set', { jwks: { keys: [] } }],
        ['http elsewhere', { jwksUri: 'http://keys.example/jwks.json' }],
        ['both', { jwks: { keys: [esKey.publicJwk] }, jwksUri: `${host.url}/rs/jwks.json` }],
        ['public with keys', { public: true, jwks: { keys: [esKey.publicJwk] } }],
        ['no kid', { jwks: { keys: [{ ...esKey.publicJwk, kid: undefined }] } }],
      ];
      for (const [what, extra] of bad) {
        await expect(clients.register({ clientId: `bad-${randomUUID().slice(0, 6)}`, redirectUris: [REDIRECT], public: false, ...extra }), what).rejects.toMatchObject({ status: 400 });
      }
      const made = await clients.register({ clientId: 'asym-ok', redirectUris: [REDIRECT], public: false, jwksUri: 'https://keys.example/jwks.json' });
      expect(made.secret).toBeUndefined();
      expect((await clients.get('asym-ok'))?.secretHash).toBeUndefined();
    });

    it('the admin API registers an asymmetric app (keys inline, no secret) that then signs in', async () => {
      const adminToken = server.token({ scope: 'system/*.cruds' });
      const res = await fetch(`${server.url}/auth/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: 'asym-admin', redirectUris: [REDIRECT], jwks: { keys: [esKey.publicJwk] } }),
      });
      expect(res.status).toBe(201);
      const body = await res.json();
      expect(body).toMatchObject({ clientId: 'asym-admin', public: false, jwks: { keys: [expect.objectContaining({ kid: esKey.kid })] } });
      expect(body.secret).toBeUndefined();
      const { tokens } = await signIn('asym-admin', esKey);
      expect(tokens.access_token).toBeTruthy();
    });

    it('discovery advertises private_key_jwt with RS384 and ES384', async () => {
      const smart = await (await fetch(`${server.url}/.well-known/smart-configuration`)).json();
      expect(smart.capabilities).toContain('client-confidential-asymmetric');
      expect(smart.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
      expect(smart.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS384', 'ES384']));
      const openid = await (await fetch(`${server.url}/auth/.well-known/openid-configuration`)).json();
      expect(openid.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
      expect(openid.token_endpoint_auth_signing_alg_values_supported.sort()).toEqual(['ES384', 'RS384']);
    });
  });
}

asymmetricSuite('embedded');
if (testMongoUrl()) {
  asymmetricSuite('mongodb');
} else {
  console.warn('[private_key_jwt] the MongoDB tier is skipped: TEST_MONGODB_URL is not set (.ci/run starts FerretDB and sets it)');
  describe("private_key_jwt for people's apps (mongodb store)", () => {
    it.skip('needs TEST_MONGODB_URL', () => {});
  });
}
