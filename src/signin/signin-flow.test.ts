// The whole authorization-code flow over HTTP with a certified client library (openid-client):
// a public PKCE client and a confidential one, refresh, introspection, revocation, userinfo, and
// the access token used on the FHIR API.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';
import { TestAgent, type AgentResponse } from './test-agent.js';

let server: TestServer;
const REDIRECT = 'http://127.0.0.1:9/callback';

beforeAll(async () => {
  server = await startTestServer('embedded', { signin: { adminUsername: 'ph.admin', adminPassword: 'public health 1' } });
  await server.fhir('PUT', 'Organization/clinic-a', { body: { resourceType: 'Organization', id: 'clinic-a', name: 'Clinic A', active: true } });
  await signinOf(server).users.create({ username: 'nurse.joy', password: 'pallet town 1', role: 'clinician', organization: 'Organization/clinic-a' });
  await signinOf(server).clients.register({ clientId: 'ehr-app', redirectUris: [REDIRECT], public: false });
  await signinOf(server).clients.register({ clientId: 'phone-app', redirectUris: [REDIRECT], public: true });
});
afterAll(async () => {
  await server?.close();
});

async function discover(clientId: string, auth?: oidc.ClientAuth): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(`${server.url}/auth`), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

/** Signs in on the server's pages and allows the app; returns the redirect back to the app. */
async function signIn(agent: TestAgent, authorizeUrl: URL, username = 'nurse.joy', password = 'pallet town 1'): Promise<AgentResponse> {
  const loginPage = await agent.follow(await agent.get(authorizeUrl.toString()), REDIRECT);
  expect(loginPage.html).toContain('<label for="username">Username</label>');
  expect(loginPage.html).toContain('<label for="password">Password</label>');
  expect(loginPage.html).toMatch(/<button type="submit">Sign in<\/button>/);
  const afterLogin = await agent.follow(await agent.post(agent.formAction(loginPage), { username, password }), REDIRECT);
  if (afterLogin.location?.startsWith(REDIRECT)) return afterLogin;
  expect(afterLogin.html).toContain('<h1>Allow');
  return agent.follow(await agent.post(agent.formAction(afterLogin, 'decision'), { decision: 'allow' }), REDIRECT);
}

describe('authorization code flow with openid-client', () => {
  it('public client with PKCE: code → tokens → FHIR read → refresh → revoke', async () => {
    const config = await discover('phone-app', oidc.None());
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid fhirUser offline_access user/Patient.rs user/Immunization.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      aud: server.baseUrl,
    });
    const back = await signIn(new TestAgent(), url);
    expect(back.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.scope?.split(' ')).toEqual(expect.arrayContaining(['openid', 'fhirUser', 'offline_access', 'user/Patient.rs', 'user/Immunization.rs']));
    const claims = decodeJwt(tokens.access_token);
    const user = await signinOf(server).users.findByUsername('nurse.joy');
    expect(claims).toMatchObject({
      iss: `${server.url}/auth`,
      aud: server.baseUrl,
      sub: user?.id,
      fhirUser: `${server.baseUrl}/Practitioner/${user?.id}`,
      organization: 'Organization/clinic-a',
      client_id: 'phone-app',
    });
    expect(String(claims.scope).split(' ')).toContain('user/Patient.rs');
    expect(tokens.claims()?.fhirUser).toBe(`${server.baseUrl}/Practitioner/${user?.id}`);

    // The FHIR API accepts the token.
    const read = await fetch(`${server.baseUrl}/Organization/clinic-a`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(read.status).toBe(403); // Organization is not in the granted scopes
    const search = await fetch(`${server.baseUrl}/Patient?family=Nobody`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(search.status).toBe(200);

    expect(tokens.claims()?.sub).toBe(user?.id);

    // Refresh: a new access token, and the refresh token rotates.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token as string)).rejects.toThrow();

    // Revocation ends the refresh token.
    await oidc.tokenRevocation(config, refreshed.refresh_token as string);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token as string)).rejects.toThrow();
  });

  it('public client without PKCE is refused', async () => {
    const config = await discover('phone-app', oidc.None());
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid user/Patient.rs', state: 'x' });
    const res = await new TestAgent().get(url.toString());
    const target = new URL(res.location ?? '', url);
    expect(target.searchParams.get('error')).toBe('invalid_request');
    expect(target.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('confidential client with client_secret_basic, and introspection', async () => {
    const registered = await signinOf(server).clients.get('ehr-app');
    const config = await discover('ehr-app', oidc.ClientSecretBasic(registered?.secret));
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid fhirUser user/*.cruds',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 's1',
    });
    const back = await signIn(new TestAgent(), url);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 's1' });
    // A clinician asking for everything gets what her role allows: no Group writes, no AuditEvent.
    const scope = String(decodeJwt(tokens.access_token).scope).split(' ');
    expect(scope).toEqual(expect.arrayContaining(['user/Patient.cruds', 'user/Immunization.cruds', 'user/Consent.cruds', 'user/Group.rs']));
    expect(scope).not.toContain('user/*.cruds');
    expect(tokens.scope?.split(' ')).toEqual(expect.arrayContaining(scope));
    const introspected = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(introspected.active).toBe(true);
    expect(String(introspected.scope).split(' ')).not.toContain('user/*.cruds');

    // A wrong secret is refused at the token endpoint.
    const wrong = await discover('ehr-app', oidc.ClientSecretBasic('not-the-secret'));
    const refused = await oidc.refreshTokenGrant(wrong, 'whatever').catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 401 });
  });

  it('a wrong password shows the form again with an error, and is audited', async () => {
    const config = await discover('phone-app', oidc.None());
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid user/Patient.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 's2',
    });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), REDIRECT);
    const failed = await agent.post(agent.formAction(loginPage), { username: 'nurse.joy', password: 'wrong password' });
    expect(failed.status).toBe(401);
    expect(failed.html).toContain('role="alert"');
    expect(failed.html).toContain('The username or password is not right');
    await server.audit.flush();
    const events = await server.fhir("GET", "AuditEvent?_count=100");
    const signins = (events.body.entry ?? []).map((e: { resource: { subtype?: Array<{ code: string }>; outcome: string } }) => e.resource).filter((r: { subtype?: Array<{ code: string }> }) => r.subtype?.some((c) => c.code === "110122"));
    expect(signins.some((r: { outcome: string; subtype?: Array<{ code: string }> }) => r.outcome === "4" && r.subtype?.some((c) => c.code === "invalid-credentials"))).toBe(true);
    expect(signins.some((r: { outcome: string }) => r.outcome === "0")).toBe(true);
  });
});

describe('the built-in web app client (iis-web-app)', () => {
  it('signs in with the form and comes straight back to /app/callback (first party: no consent screen)', async () => {
    const config = await discover('iis-web-app', oidc.None());
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = `${server.url}/app/callback`;
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callback,
      scope: 'openid fhirUser offline_access user/*.cruds',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'w1',
    });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), callback);
    const back = await agent.follow(await agent.post(agent.formAction(loginPage), { username: 'ph.admin', password: 'public health 1' }), callback);
    expect(back.location?.startsWith(`${callback}?code=`)).toBe(true);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'w1' });
    const claims = decodeJwt(tokens.access_token);
    // The public-health admin (IIS_ADMIN_USERNAME bootstrap) acts for no facility.
    expect(claims.organization).toBeUndefined();
    expect(claims.scope).toBe('user/*.cruds');
    expect(tokens.refresh_token).toBeTruthy();
    const other = oidc.buildAuthorizationUrl(config, { redirect_uri: 'https://evil.example/cb', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    const refused = await new TestAgent().get(other.toString());
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('redirect_uri');
  });
});

describe('backend services keep working next to the new flows', () => {
  it('client_credentials at /auth/token still goes to the backend-services endpoint', async () => {
    const res = await fetch(`${server.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=system/*.rs',
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('invalid_request');
  });
});
