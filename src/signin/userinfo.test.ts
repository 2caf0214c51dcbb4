// The OpenID Connect UserInfo endpoint, with the JWT access tokens apps really get (openid-client's
// fetchUserInfo, which also checks `sub` against the id_token), and its RFC 6750 refusals.
import * as oidc from 'openid-client';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServerKey } from '../auth/server-key.js';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode } from './test-agent.js';

let server: TestServer;
const REDIRECT = 'http://127.0.0.1:9/callback';

beforeAll(async () => {
  server = await startTestServer('embedded');
  await signinOf(server).users.create({ username: 'nurse.info', password: 'info nurse 12', role: 'clinician', organization: 'Organization/clinic-a', name: 'Ina Info' });
  await signinOf(server).users.create({ username: 'nurse.gone', password: 'gone nurse 12', role: 'clinician', organization: 'Organization/clinic-a' });
  await signinOf(server).clients.register({ clientId: 'info-app', redirectUris: [REDIRECT], public: true });
});
afterAll(async () => {
  await server?.close();
});

async function signIn(scope: string, username = 'nurse.info', password = 'info nurse 12'): Promise<{ config: oidc.Configuration; tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers }> {
  const config = await oidc.discovery(new URL(`${server.url}/auth`), 'info-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
  const tokens = await signInWithCode(config, { redirectUri: REDIRECT, scope, username, password });
  return { config, tokens };
}

const userinfo = (authorization?: string, method = 'GET') => fetch(`${server.url}/auth/userinfo`, { method, headers: authorization ? { authorization } : {} });

describe('userinfo', () => {
  it('is discovered, and answers sub, fhirUser and the profile claims for a token issued with openid profile', async () => {
    const openid = await (await fetch(`${server.url}/auth/.well-known/openid-configuration`)).json();
    expect(openid.userinfo_endpoint).toBe(`${server.url}/auth/userinfo`);
    const { config, tokens } = await signIn('openid fhirUser profile user/Patient.rs');
    const user = await signinOf(server).users.findByUsername('nurse.info');
    const sub = tokens.claims()?.sub as string;
    const info = await oidc.fetchUserInfo(config, tokens.access_token, sub);
    expect(info).toEqual({ sub: user?.id, fhirUser: `${server.baseUrl}/Practitioner/${user?.id}`, preferred_username: 'nurse.info', name: 'Ina Info' });
    // POST works too (OIDC Core 5.3.1); the token still works at the FHIR API (its scope names openid too).
    const posted = await userinfo(`Bearer ${tokens.access_token}`, 'POST');
    expect(posted.status).toBe(200);
    expect(posted.headers.get('cache-control')).toBe('no-store');
    const read = await fetch(`${server.baseUrl}/Patient?_count=1`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(read.status).toBe(200);
  });

  it('without profile: sub and fhirUser only; after a refresh the new token works too', async () => {
    const { tokens, config } = await signIn('openid fhirUser offline_access user/Patient.rs');
    const res = await userinfo(`Bearer ${tokens.access_token}`);
    expect(res.status).toBe(200);
    expect(Object.keys(await res.json()).sort()).toEqual(['fhirUser', 'sub']);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
    expect((await userinfo(`Bearer ${refreshed.access_token}`)).status).toBe(200);
  });

  it('a token without openid is 403 insufficient_scope', async () => {
    const { tokens } = await signIn('user/Patient.rs');
    const res = await userinfo(`Bearer ${tokens.access_token}`);
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="insufficient_scope"/);
    expect((await res.json()).error).toBe('insufficient_scope');
  });

  it('no token, a malformed, tampered, expired or system token: 401 with WWW-Authenticate, never 5xx', async () => {
    const none = await userinfo();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="${server.url}/auth"`);
    const { tokens } = await signIn('openid user/Patient.rs');
    const [h, p, sig] = tokens.access_token.split('.');
    const tampered = `${h}.${p}.${sig.slice(0, -4)}${sig.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    // Signed with the sign-in key itself, but expired a minute ago.
    const { key } = await loadServerKey(server.dataDir, 'signin');
    const expired = await new SignJWT({ scope: 'openid', fhirUser: `${server.baseUrl}/Practitioner/x`, client_id: 'info-app' })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuer(`${server.url}/auth`)
      .setAudience(server.baseUrl)
      .setSubject('x')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key.privateKey);
    for (const authorization of ['Bearer', 'Bearer not-a-jwt', `Bearer ${tampered}`, `Bearer ${expired}`, `Bearer ${server.token({ scope: 'openid system/*.rs' })}`, 'Basic dXNlcjpwYXNz']) {
      const res = await userinfo(authorization);
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate'), authorization).toMatch(/^Bearer realm="[^"]+", error="invalid_token", error_description="[^"]+"$/);
      expect((await res.json()).error).toBe('invalid_token');
    }
  });

  it('a user disabled since the token was issued is refused', async () => {
    const { tokens } = await signIn('openid user/Patient.rs', 'nurse.gone', 'gone nurse 12');
    expect((await userinfo(`Bearer ${tokens.access_token}`)).status).toBe(200);
    const { users } = signinOf(server);
    await users.update((await users.findByUsername('nurse.gone'))?.id as string, (u) => ({ ...u, active: false }));
    const res = await userinfo(`Bearer ${tokens.access_token}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});
