// Access tokens revoked before their exp (RFC 7009): by the app at /auth/revoke, or with their
// grant (the refresh token revoked, the user signed out). Refused at the FHIR endpoint at once
// (cached tokens too), inactive at introspection, on both stores; another process's revocation
// within the poll interval; other tokens of the user untouched.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { DEFAULT_REVOCATION_POLL_SECONDS } from './revocations.js';
import { RevokedAccessTokens } from './revoked-tokens.js';
import { ARTIFACTS_NAMESPACE } from './provider-adapter.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode, TestAgent } from './test-agent.js';

describe('RevokedAccessTokens (in memory)', () => {
  it("names only its own issuer's tokens, by jti or grant_ref, until they expire", async () => {
    const { MemoryExpiringRecords } = await import('../store/expiring.js');
    const revoked = new RevokedAccessTokens(new MemoryExpiringRecords(), 'https://iis.example/auth', 900);
    const exp = Math.floor(Date.now() / 1000) + 600;
    expect(revoked.isRevoked({ issuer: 'https://iis.example/auth', jti: 'j1' })).toBe(false);
    await revoked.revokeToken('j1', exp);
    expect(revoked.isRevoked({ issuer: 'https://iis.example/auth', jti: 'j1' })).toBe(true);
    expect(revoked.isRevoked({ issuer: 'https://iis.example/auth', jti: 'j2' })).toBe(false);
    // A backend-services or external issuer's token with the same jti is not ours to refuse.
    expect(revoked.isRevoked({ issuer: 'https://other.example', jti: 'j1' })).toBe(false);
    // An entry whose token has long expired is gone.
    await revoked.revokeToken('old', Math.floor(Date.now() / 1000) - 120);
    expect(revoked.isRevoked({ issuer: 'https://iis.example/auth', jti: 'old' })).toBe(false);
  });
});

describe('RevokedAccessTokens: a removed app (in memory)', () => {
  it("refuses the app's tokens issued up to its removal, not later ones nor other apps'; another process reads it", async () => {
    const { MemoryExpiringRecords } = await import('../store/expiring.js');
    const records = new MemoryExpiringRecords();
    const issuer = 'https://iis.example/auth';
    const revoked = new RevokedAccessTokens(records, issuer, 900);
    const now = Math.floor(Date.now() / 1000);
    expect(revoked.isRevoked({ issuer, client: 'dyn-a', issuedAt: now - 60 })).toBe(false);
    await revoked.revokeClient('dyn-a');
    expect(revoked.isRevoked({ issuer, client: 'dyn-a', issuedAt: now - 60 })).toBe(true);
    expect(revoked.isRevoked({ issuer, client: 'dyn-a' })).toBe(true);
    // Registered again under the same id (an administrator's app): its new tokens work.
    expect(revoked.isRevoked({ issuer, client: 'dyn-a', issuedAt: now + 5 })).toBe(false);
    expect(revoked.isRevoked({ issuer, client: 'dyn-b', issuedAt: now - 60 })).toBe(false);
    expect(revoked.isRevoked({ issuer: 'https://other.example', client: 'dyn-a', issuedAt: now - 60 })).toBe(false);
    // Another process on the same store learns it at its next read.
    const elsewhere = new RevokedAccessTokens(records, issuer, 900);
    expect(elsewhere.isRevoked({ issuer, client: 'dyn-a', issuedAt: now - 60 })).toBe(false);
    await elsewhere.refresh();
    expect(elsewhere.isRevoked({ issuer, client: 'dyn-a', issuedAt: now - 60 })).toBe(true);
  });
});

function revokedTokensSuite(kind: StoreKind): void {
  let server: TestServer;
  const callback = () => `${server.url}/app/callback`;

  beforeAll(async () => {
    server = await startTestServer(kind);
    await signinOf(server).users.create({ username: 'nurse.revoke', password: 'revoke me soon 1', role: 'clinician', organization: 'Organization/clinic-a' });
  });
  afterAll(async () => {
    await server?.close();
  });

  const webApp = () => oidc.discovery(new URL(`${server.url}/auth`), 'iis-web-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });

  async function signIn(scope: string, agent = new TestAgent()) {
    const cfg = await webApp();
    return { cfg, agent, tokens: await signInWithCode(cfg, { redirectUri: callback(), scope, username: 'nurse.revoke', password: 'revoke me soon 1', agent }) };
  }

  const fhir = (token: string) => fetch(`${server.baseUrl}/Patient?_count=1`, { headers: { authorization: `Bearer ${token}` } });
  const fhirStatus = async (token: string) => (await fhir(token)).status;

  describe(`revoked access tokens (${kind} store)`, () => {
    it('an access token revoked by its app is refused at once (cached too), inactive at introspection and userinfo; the grant lives on', async () => {
      const { cfg, tokens } = await signIn('openid fhirUser offline_access user/*.cruds');
      const other = await signIn('openid fhirUser user/*.cruds');
      expect(decodeJwt(tokens.access_token).jti).toEqual(expect.any(String));
      expect(await fhirStatus(tokens.access_token)).toBe(200);
      expect(await fhirStatus(tokens.access_token)).toBe(200); // from the verified-token cache now
      await oidc.tokenRevocation(cfg, tokens.access_token, { token_type_hint: 'access_token' });
      const refused = await fhir(tokens.access_token);
      expect(refused.status).toBe(401);
      expect(JSON.stringify(await refused.json())).toMatch(/revoked before it expired/);
      expect((await oidc.tokenIntrospection(cfg, tokens.access_token)).active).toBe(false);
      expect((await fetch(`${server.url}/auth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
      // Revoking it again (or any token no longer valid) is still 200 (RFC 7009 §2.2).
      await oidc.tokenRevocation(cfg, tokens.access_token);
      // The user's other sign-in, and the refresh token of this one (only the access token was revoked).
      expect(await fhirStatus(other.tokens.access_token)).toBe(200);
      const refreshed = await oidc.refreshTokenGrant(cfg, tokens.refresh_token as string);
      expect(await fhirStatus(refreshed.access_token)).toBe(200);
    });

    it("another app's access token is not revoked: invalid_request, as for oidc-provider's own tokens", async () => {
      const { tokens } = await signIn('openid fhirUser user/*.cruds');
      await signinOf(server).clients.register({ clientId: 'revoke-other-app', redirectUris: [callback()], public: true, name: 'Other' });
      const otherApp = await oidc.discovery(new URL(`${server.url}/auth`), 'revoke-other-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      await expect(oidc.tokenRevocation(otherApp, tokens.access_token)).rejects.toMatchObject({ status: 400, error: 'invalid_request' });
      expect(await fhirStatus(tokens.access_token)).toBe(200);
    });

    it('revoking the refresh token ends the access tokens of its grant (RFC 7009 §2.1), not those of another grant', async () => {
      const { cfg, tokens } = await signIn('openid fhirUser offline_access user/*.cruds');
      const refreshed = await oidc.refreshTokenGrant(cfg, tokens.refresh_token as string);
      const other = await signIn('openid fhirUser offline_access user/*.cruds');
      expect(await fhirStatus(tokens.access_token)).toBe(200);
      expect(await fhirStatus(refreshed.access_token)).toBe(200);
      await oidc.tokenRevocation(cfg, refreshed.refresh_token as string, { token_type_hint: 'refresh_token' });
      expect(await fhirStatus(tokens.access_token)).toBe(401);
      expect(await fhirStatus(refreshed.access_token)).toBe(401);
      expect((await oidc.tokenIntrospection(cfg, refreshed.access_token)).active).toBe(false);
      expect(await fhirStatus(other.tokens.access_token)).toBe(200);
    });

    it('signing out ends the access tokens of the sign-in', async () => {
      const agent = new TestAgent();
      const { tokens } = await signIn('openid fhirUser user/*.cruds', agent);
      expect(await fhirStatus(tokens.access_token)).toBe(200);
      const confirm = await agent.get(`${server.url}/auth/logout`);
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.html)?.[1] ?? '';
      const done = await agent.follow(await agent.post(agent.formAction(confirm), { xsrf, logout: 'yes' }), callback());
      expect(done.html).toContain('You are signed out');
      expect(await fhirStatus(tokens.access_token)).toBe(401);
    });

    it("another process's revocation (a record of the shared store) is refused within the poll interval", async () => {
      const { tokens } = await signIn('openid fhirUser user/*.cruds');
      expect(await fhirStatus(tokens.access_token)).toBe(200);
      const claims = decodeJwt(tokens.access_token);
      const elsewhere = new RevokedAccessTokens(server.store.expiringRecords(ARTIFACTS_NAMESPACE), String(claims.iss), 900);
      await elsewhere.revokeToken(String(claims.jti), Number(claims.exp));
      const deadline = Date.now() + (DEFAULT_REVOCATION_POLL_SECONDS + 2) * 1000;
      let status = await fhirStatus(tokens.access_token);
      while (status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        status = await fhirStatus(tokens.access_token);
      }
      expect(status).toBe(401);
    }, 20_000);
  });
}

revokedTokensSuite('embedded');
if (testMongoUrl()) {
  revokedTokensSuite('mongodb');
} else {
  console.warn('[signin revoked tokens] the MongoDB tier is skipped: TEST_MONGODB_URL is not set (.ci/run starts FerretDB and sets it)');
  describe('revoked access tokens (mongodb store)', () => {
    it.skip('needs TEST_MONGODB_URL', () => {});
  });
}
