// The whole authorization-code flow over HTTP with a certified client library (openid-client):
// a public PKCE client and a confidential one, refresh, introspection, revocation, userinfo, and
// the access token used on the FHIR API.
import * as oidc from 'openid-client';
import type { AuditEvent } from '@medplum/fhirtypes';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';
import { TestAgent, type AgentResponse } from './test-agent.js';

let server: TestServer;
const REDIRECT = 'http://127.0.0.1:9/callback';
/** The confidential app's secret, as registration showed it (the store keeps only its hash). */
let ehrSecret: string;

beforeAll(async () => {
  server = await startTestServer('embedded', { signin: { adminUsername: 'ph.admin', adminPassword: 'public health 1' } });
  await server.fhir('PUT', 'Organization/clinic-a', { body: { resourceType: 'Organization', id: 'clinic-a', name: 'Clinic A', active: true } });
  await signinOf(server).users.create({ username: 'nurse.joy', password: 'pallet town 1', role: 'clinician', organization: 'Organization/clinic-a' });
  ehrSecret = (await signinOf(server).clients.register({ clientId: 'ehr-app', redirectUris: [REDIRECT], public: false })).secret as string;
  await signinOf(server).clients.register({ clientId: 'phone-app', redirectUris: [REDIRECT], public: true });
  await signinOf(server).clients.register({ clientId: 'asking-app', name: 'Asking app', redirectUris: [REDIRECT], public: true, askConsent: true });
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

    // Each token request is audited (IHE BALP IUA.71 Get Access Token): the code exchange and the
    // refresh for the user, and the refused reuse of a rotated refresh token.
    await server.audit.flush(5000);
    const events = await server.fhir('GET', 'AuditEvent?_count=1000');
    const tokenEvents = (events.body.entry ?? [])
      .map((e: { resource: AuditEvent }) => e.resource)
      .filter((e: AuditEvent) => e.subtype?.some((c) => c.code === 'ITI-71') && e.agent?.some((a) => a.who?.identifier?.value === 'phone-app'));
    const summary = tokenEvents.map((e: AuditEvent) => [
      e.type?.code,
      e.entity?.[0]?.detail?.find((d) => d.type === 'grant_type')?.valueString,
      e.outcome,
      e.agent?.find((a) => a.who?.reference)?.who?.reference,
    ]);
    expect(summary).toEqual(
      expect.arrayContaining([
        ['110114', 'authorization_code', '0', `Practitioner/${user?.id}`],
        ['110114', 'refresh_token', '0', `Practitioner/${user?.id}`],
        ['110114', 'refresh_token', '4', undefined],
      ])
    );
    expect(JSON.stringify(tokenEvents)).not.toContain(tokens.access_token);
    expect(JSON.stringify(tokenEvents)).not.toContain(tokens.refresh_token as string);
  });

  it('online_access: a refresh token that works while the user stays signed in and is refused after Sign out; offline_access outlives it', async () => {
    const config = await discover('phone-app', oidc.None());
    const agent = new TestAgent();
    const signInFor = async (scope: string, state: string) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
      // The same browser: the second authorization is answered from the live session (no password).
      let back = await agent.follow(await agent.get(url.toString()), REDIRECT);
      if (back.html.includes('name="username"')) back = await agent.follow(await agent.post(agent.formAction(back), { username: 'nurse.joy', password: 'pallet town 1' }), REDIRECT);
      if (back.html.includes('name="decision"')) back = await agent.follow(await agent.post(agent.formAction(back, 'decision'), { decision: 'allow' }), REDIRECT);
      return oidc.authorizationCodeGrant(config, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: state });
    };
    const online = await signInFor('openid online_access user/Patient.rs', 'on1');
    expect(online.refresh_token).toBeTruthy();
    expect(online.scope?.split(' ')).toContain('online_access');
    // Rotated like any refresh token, and the new one is bound to the session too.
    const onlineAgain = await oidc.refreshTokenGrant(config, online.refresh_token as string);
    expect(onlineAgain.refresh_token).toBeTruthy();
    const offline = await signInFor('openid offline_access user/Patient.rs', 'off1');
    expect(offline.refresh_token).toBeTruthy();

    const confirm = await agent.get(`${server.url}/auth/logout`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.html)?.[1] ?? '';
    const done = await agent.follow(await agent.post(agent.formAction(confirm), { xsrf, logout: 'yes' }), REDIRECT);
    expect(done.html).toContain('You are signed out');
    await expect(oidc.refreshTokenGrant(config, onlineAgain.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.refreshTokenGrant(config, offline.refresh_token as string)).access_token).toBeTruthy();
    // Discovery says so.
    const smart = await (await fetch(`${server.url}/.well-known/smart-configuration`)).json();
    expect(smart.capabilities).toContain('permission-online');
    expect(smart.scopes_supported).toContain('online_access');
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
    const config = await discover('ehr-app', oidc.ClientSecretBasic(ehrSecret));
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

    // Revoking the access token (a confidential app authenticating) ends it: introspection says so
    // (revoked-tokens.test.ts: the FHIR endpoint refuses it, both stores).
    await oidc.tokenRevocation(config, tokens.access_token);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    // An unknown token is still 200 (RFC 7009: nothing to revoke).
    await oidc.tokenRevocation(config, 'not-a-token-of-this-server');

    // A wrong secret is refused at the token endpoint.
    const wrong = await discover('ehr-app', oidc.ClientSecretBasic('not-the-secret'));
    const refused = await oidc.refreshTokenGrant(wrong, 'whatever').catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 401 });
  });

  it('client_secret_post (the secret in the form, as discovery lists) authenticates too; a wrong one is invalid_client', async () => {
    const config = await discover('ehr-app', oidc.ClientSecretPost(ehrSecret));
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid offline_access user/Patient.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'p1',
    });
    const back = await signIn(new TestAgent(), url);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'p1' });
    expect(decodeJwt(tokens.access_token).client_id).toBe('ehr-app');
    const wrong = await discover('ehr-app', oidc.ClientSecretPost(`${ehrSecret.slice(0, -1)}x`));
    await expect(oidc.refreshTokenGrant(wrong, tokens.refresh_token as string)).rejects.toMatchObject({ status: 401, error: 'invalid_client' });
    expect((await oidc.refreshTokenGrant(config, tokens.refresh_token as string)).access_token).toBeTruthy();
  });

  it('client_secret_basic is checked against the stored hash: the right secret gets tokens, a wrong one invalid_client (401)', async () => {
    const stored = await server.store.read('SigninClient', 'ehr-app');
    expect(JSON.stringify(stored?.resource)).not.toContain(ehrSecret);
    expect((stored?.resource as { secretHash?: string }).secretHash).toMatch(/^scrypt\$/);
    const exchange = (secret: string) => codeExchange('ehr-app', secret);
    const ok = await exchange(ehrSecret);
    expect(ok.status).toBe(200);
    expect(ok.body.access_token).toBeTruthy();
    // RFC 6749 §5.1: a response with tokens is never cached.
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(ok.headers.get('pragma')).toBe('no-cache');
    for (const wrong of [`${ehrSecret.slice(0, -1)}x`, (stored?.resource as unknown as { secretHash: string }).secretHash]) {
      const refused = await exchange(wrong);
      expect(refused.status).toBe(401);
      expect(refused.body.error).toBe('invalid_client');
      expect(refused.headers.get('cache-control')).toBe('no-store');
      expect(refused.headers.get('pragma')).toBe('no-cache');
    }
  });

  it('an app registered before secrets were hashed (secret in the clear) still authenticates, and its record is rewritten with the hash', async () => {
    const legacySecret = 'legacy-secret-stored-in-the-clear-0123456789';
    await server.store.write({
      resourceType: 'SigninClient',
      id: 'legacy-app',
      resource: { resourceType: 'SigninClient', id: 'legacy-app', clientId: 'legacy-app', redirectUris: [REDIRECT], public: false, secret: legacySecret, createdAt: '2026-01-01T00:00:00.000Z' } as never,
      ifVersion: 'absent',
      index: {},
    });
    const wrong = await codeExchange('legacy-app', 'not-the-legacy-secret');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    expect((await server.store.read('SigninClient', 'legacy-app'))?.resource).toMatchObject({ secret: legacySecret });
    const ok = await codeExchange('legacy-app', legacySecret);
    expect(ok.status).toBe(200);
    const upgraded = (await server.store.read('SigninClient', 'legacy-app'))?.resource as { secret?: string; secretHash?: string };
    expect(upgraded.secret).toBeUndefined();
    expect(upgraded.secretHash).toMatch(/^scrypt\$/);
    expect(JSON.stringify(upgraded)).not.toContain(legacySecret);
    // The hash now authenticates the same secret.
    expect((await codeExchange('legacy-app', legacySecret)).status).toBe(200);
    expect((await codeExchange('legacy-app', 'not-the-legacy-secret')).status).toBe(401);
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

/** Signs nurse.joy in for a confidential app and exchanges the code with client_secret_basic (this secret). */
async function codeExchange(clientId: string, secret: string): Promise<{ status: number; body: any; headers: Headers }> {
  const verifier = oidc.randomPKCECodeVerifier();
  const config = await discover(clientId, oidc.None());
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid user/Patient.rs',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'c1',
  });
  const back = await signIn(new TestAgent(), url);
  const code = new URL(back.location as string).searchParams.get('code') as string;
  const res = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

describe('consent: given with the sign-in for apps public health registered, a screen for those that ask and for dynamic registrations', () => {
  /** The authorization request of a public app, up to the answer to the password POST. */
  async function afterPassword(clientId: string, scope: string): Promise<{ agent: TestAgent; answer: AgentResponse; config: oidc.Configuration; verifier: string }> {
    const config = await discover(clientId, oidc.None());
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 's1' });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), REDIRECT);
    const answer = await agent.follow(await agent.post(agent.formAction(loginPage), { username: 'nurse.joy', password: 'pallet town 1' }), REDIRECT);
    return { agent, answer, config, verifier };
  }

  it('an app registered by public health (npm run clients -- add) gets its code right after the password, its scopes within the role', async () => {
    // CONTRACT.md's sign-in is the form with username and password: an outside client posting it
    // is sent back to its redirect URI with a code, no page between.
    const { answer, config, verifier } = await afterPassword('phone-app', 'openid fhirUser offline_access user/Patient.rs user/Immunization.rs system/Patient.rs');
    expect(answer.html).not.toContain('name="decision"');
    expect(answer.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(answer.location as string), { pkceCodeVerifier: verifier, expectedState: 's1' });
    const scopes = tokens.scope?.split(' ') ?? [];
    expect(scopes).toEqual(expect.arrayContaining(['openid', 'fhirUser', 'offline_access', 'user/Patient.rs', 'user/Immunization.rs']));
    expect(scopes).not.toContain('system/Patient.rs');
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('an app registered with askConsent shows the consent screen, and Deny sends the app access_denied', async () => {
    const { agent, answer } = await afterPassword('asking-app', 'openid user/Patient.rs');
    expect(answer.html).toContain('<h1>Allow Asking app');
    const denied = await agent.follow(await agent.post(agent.formAction(answer, 'decision'), { decision: 'deny' }), REDIRECT);
    expect(denied.location).toMatch(/error=access_denied/);
  });

  it('a dynamically registered app (RFC 7591) shows the consent screen', async () => {
    const issued = await fetch(`${server.url}/auth/admin/registration-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token({ scope: 'system/*.cruds', sub: 'ph-operator' })}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(issued.status).toBe(201);
    const { token } = (await issued.json()) as { token: string };
    const res = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', client_name: 'Self-registered' }),
    });
    expect(res.status).toBe(201);
    const { client_id: clientId } = (await res.json()) as { client_id: string };
    const { answer } = await afterPassword(clientId, 'openid user/Patient.rs');
    expect(answer.html).toContain('<h1>Allow Self-registered');
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
    // As the web app sends it (web/src/fhir.ts): prompt=consent, so that offline_access is granted.
    url.searchParams.set('prompt', 'consent');
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), callback);
    // The consent is given with the sign-in: the password's answer resumes the authorization, whose
    // answer is the redirect back to the app (no consent step: 3 requests, not 5).
    const afterPassword = await agent.post(agent.formAction(loginPage), { username: 'ph.admin', password: 'public health 1' });
    expect(afterPassword.status).toBe(303);
    expect(new URL(afterPassword.location as string, afterPassword.url).pathname).toMatch(/^\/auth\/authorize\/[\w-]+$/);
    const resumed = await agent.get(new URL(afterPassword.location as string, afterPassword.url).toString());
    expect(resumed.location?.startsWith(`${callback}?code=`)).toBe(true);
    const back = resumed;
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'w1' });
    const claims = decodeJwt(tokens.access_token);
    // The public-health admin (IIS_ADMIN_USERNAME bootstrap) acts for no facility.
    expect(claims.organization).toBeUndefined();
    // The resource scope as granted, and the OpenID scopes named as in the token response.
    expect(String(claims.scope).split(' ').sort()).toEqual(['fhirUser', 'offline_access', 'openid', 'user/*.cruds']);
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
