// What people may do once signed in: the standalone-launch patient picker searches as the user
// (data sharing applies), a site-admin manages its own facility's users only and cannot raise its
// own role, a disabled account stops working, lockout and the second factor on the sign-in form,
// and the idle timeout of refresh tokens.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, sharingConsent, startTestServer, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode, TestAgent } from './test-agent.js';
import { currentTotp } from './totp.js';

const REDIRECT = 'http://127.0.0.1:9/launch-callback';
let server: TestServer;
let visibleId: string;
let hiddenId: string;

beforeAll(async () => {
  server = await startTestServer('embedded', { signin: { adminUsername: 'ph.admin', adminPassword: 'public health 1', lockoutAttempts: 3 } });
  for (const id of ['clinic-a', 'clinic-b']) {
    await server.fhir('PUT', `Organization/${id}`, { body: { resourceType: 'Organization', id, name: id, active: true } });
  }
  const visible = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Visible', given: ['Ava'] }], birthDate: '2021-03-04' }) });
  const hidden = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Hidden', given: ['Oscar'] }], birthDate: '2021-06-07' }) });
  visibleId = visible.body.id;
  hiddenId = hidden.body.id;
  await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${visibleId}`, { occurrenceDateTime: '2021-03-05' }) });
  await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${hiddenId}`, { occurrenceDateTime: '2021-06-08' }) });
  // Oscar's family objected to sharing: only clinic-b (where the objection was recorded) sees him.
  const objection = await server.fhir('POST', 'Consent', {
    body: sharingConsent(hiddenId, { organization: [{ reference: 'Organization/clinic-b' }], provision: { type: 'deny' }, policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] } }),
  });
  expect(objection.status).toBe(201);
  const { users, clients } = signinOf(server);
  await users.create({ username: 'nurse.joy', password: 'pallet town 1', role: 'clinician', organization: 'Organization/clinic-a' });
  await users.create({ username: 'admin.a', password: 'clinic a admin', role: 'site-admin', organization: 'Organization/clinic-a' });
  await users.create({ username: 'nurse.b', password: 'clinic b nurse', role: 'clinician', organization: 'Organization/clinic-b' });
  await clients.register({ clientId: 'launch-app', redirectUris: [REDIRECT], public: true, askConsent: true });
});
afterAll(async () => {
  await server?.close();
});

async function config(clientId: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(`${server.url}/auth`), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
}

/** Tokens of the built-in web app for a user (sign-in form only). */
async function webAppTokens(username: string, password: string, scope = 'openid fhirUser offline_access user/*.cruds') {
  const cfg = await config('iis-web-app');
  return signInWithCode(cfg, { redirectUri: `${server.url}/app/callback`, scope, username, password });
}

async function admin(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('standalone launch with launch/patient', () => {
  it('the picker lists only the patients the nurse may see; the app gets the chosen patient', async () => {
    const cfg = await config('launch-app');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: REDIRECT,
      scope: 'openid fhirUser launch/patient patient/Patient.rs patient/Immunization.rs user/Patient.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'l1',
      aud: server.baseUrl,
    });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), REDIRECT);
    const picker = await agent.follow(await agent.post(agent.formAction(loginPage), { username: 'nurse.joy', password: 'pallet town 1' }), REDIRECT);
    expect(picker.html).toContain('<h1>Choose a patient</h1>');
    const search = agent.formAction(picker, 'family');

    // Oscar's family objected to sharing with clinic-a: he is not found, not even by name.
    const none = await agent.get(`${search}?family=Hidden`);
    expect(none.html).toContain('No patient you may see matches this search.');
    expect(none.html).not.toContain(hiddenId);
    const found = await agent.get(`${search}?family=Visible&birthdate=2021-03-04`);
    expect(found.html).toContain('Ava Visible');
    expect(found.html).toContain(`value="${visibleId}"`);

    // A forged choice of Oscar is refused.
    const forged = await agent.post(agent.formAction(found, 'patient'), { patient: hiddenId });
    expect(forged.status).toBe(400);
    expect(forged.html).toContain('That patient cannot be opened');

    const consent = await agent.follow(await agent.post(agent.formAction(found, 'patient'), { patient: visibleId }), REDIRECT);
    expect(consent.html).toContain('Patient: <strong>Ava Visible, born 2021-03-04</strong>');
    const back = await agent.follow(await agent.post(agent.formAction(consent, 'decision'), { decision: 'allow' }), REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(cfg, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'l1' });
    expect(tokens.patient).toBe(visibleId);
    // SMART 2: no EHR frame around the app shows who the patient is.
    expect(tokens.need_patient_banner).toBe(true);
    expect(decodeJwt(tokens.access_token)).toMatchObject({ patient: visibleId, organization: 'Organization/clinic-a' });

    const auth = { authorization: `Bearer ${tokens.access_token}` };
    const shots = await (await fetch(`${server.baseUrl}/Immunization?patient=${visibleId}`, { headers: auth })).json();
    expect(shots.entry).toHaveLength(1);
    // With her own user/ scope the nurse still cannot read Oscar: data sharing.
    const oscar = await fetch(`${server.baseUrl}/Patient/${hiddenId}`, { headers: auth });
    expect(oscar.status).toBe(403);
    expect(JSON.stringify(await oscar.json())).toContain('data-sharing-restricted');
    const byName = await (await fetch(`${server.baseUrl}/Patient?family=Hidden`, { headers: auth })).json();
    expect(byName.entry ?? []).toHaveLength(0);
  });

  it('patient/ scopes without launch/patient: the picker comes all the same, and the token names the patient (it had patient/ scopes and no patient, useless)', async () => {
    const cfg = await config('launch-app');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(cfg, { redirect_uri: REDIRECT, scope: 'openid patient/Immunization.rs', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'i1' });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), REDIRECT);
    const picker = await agent.follow(await agent.post(agent.formAction(loginPage), { username: 'nurse.joy', password: 'pallet town 1' }), REDIRECT);
    expect(picker.html).toContain('<h1>Choose a patient</h1>');
    const found = await agent.get(`${agent.formAction(picker, 'family')}?family=Visible`);
    const consent = await agent.follow(await agent.post(agent.formAction(found, 'patient'), { patient: visibleId }), REDIRECT);
    const back = await agent.follow(await agent.post(agent.formAction(consent, 'decision'), { decision: 'allow' }), REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(cfg, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'i1' });
    expect(tokens.patient).toBe(visibleId);
    const shots = await fetch(`${server.baseUrl}/Immunization?patient=${visibleId}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(shots.status).toBe(200);
  });

  it('a clinic-b nurse finds Oscar (the objection was recorded with her clinic)', async () => {
    const tokens = await webAppTokens('nurse.b', 'clinic b nurse');
    const res = await fetch(`${server.baseUrl}/Patient/${hiddenId}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.status).toBe(200);
  });

  it('choosing a patient again gives the new patient, not the one of an earlier launch', async () => {
    const cfg = await config('launch-app');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: REDIRECT,
      scope: 'openid launch/patient patient/Immunization.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'l2',
    });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), REDIRECT);
    const picker = await agent.follow(await agent.post(agent.formAction(loginPage), { username: 'nurse.b', password: 'clinic b nurse' }), REDIRECT);
    const found = await agent.get(`${agent.formAction(picker, 'family')}?family=Hidden`);
    const consent = await agent.follow(await agent.post(agent.formAction(found, 'patient'), { patient: hiddenId }), REDIRECT);
    const back = await agent.follow(await agent.post(agent.formAction(consent, 'decision'), { decision: 'allow' }), REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(cfg, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'l2' });
    expect(tokens.patient).toBe(hiddenId);
  });

  it('a reports user asking for launch/patient: access_denied back at the app saying why (the picker’s searches were answered as raw 403 OperationOutcome JSON)', async () => {
    // A facility of its own, so the other tests' lists of clinic-a's users stay as they are.
    await server.fhir('PUT', 'Organization/clinic-r', { body: { resourceType: 'Organization', id: 'clinic-r', name: 'clinic-r', active: true } });
    await signinOf(server).users.create({ username: 'reports.launch', password: 'clinic r reports', role: 'reports', organization: 'Organization/clinic-r' });
    const cfg = await config('launch-app');
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: REDIRECT,
      scope: 'openid launch/patient patient/Immunization.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'r1',
    });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), REDIRECT);
    const back = await agent.follow(await agent.post(agent.formAction(loginPage), { username: 'reports.launch', password: 'clinic r reports' }), REDIRECT);
    expect(back.location, back.html.slice(0, 300)).toBeDefined();
    const answer = new URL(back.location as string);
    expect(`${answer.origin}${answer.pathname}`).toBe(REDIRECT);
    expect(answer.searchParams.get('error')).toBe('access_denied');
    expect(answer.searchParams.get('error_description')).toMatch(/reports role opens no patient's record/);
    expect(answer.searchParams.get('state')).toBe('r1');
  });

  it('scopes this server does not know are invalid_scope before any sign-in; scopes the role excludes altogether are access_denied with the reason', async () => {
    const cfg = await config('launch-app');
    const authorize = async (scope: string, state: string) =>
      oidc.buildAuthorizationUrl(cfg, { redirect_uri: REDIRECT, scope, code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', state });
    // .sr breaks SMART v2's order of cruds; Observation is no type of this server.
    for (const scope of ['user/Patient.sr', 'user/Observation.rs patient/Foo.read']) {
      const res = await new TestAgent().get((await authorize(scope, 'u1')).toString());
      const back = new URL(res.location as string);
      expect(`${back.origin}${back.pathname}`, scope).toBe(REDIRECT);
      expect(back.searchParams.get('error'), scope).toBe('invalid_scope');
      expect(back.searchParams.get('error_description'), scope).toContain(`none of the requested scopes (${scope})`);
      expect(back.searchParams.get('state')).toBe('u1');
    }
    // One known scope among unknown ones: the flow goes on (the unknown ones are not granted).
    const browser = new TestAgent();
    const mixed = await browser.follow(await browser.get((await authorize('user/Observation.rs user/Patient.rs', 'u2')).toString()), REDIRECT);
    expect(mixed.html).toContain('name="username"');

    await server.fhir('PUT', 'Organization/clinic-q', { body: { resourceType: 'Organization', id: 'clinic-q', name: 'clinic-q', active: true } });
    await signinOf(server).users.create({ username: 'reports.scope', password: 'clinic q reports', role: 'reports', organization: 'Organization/clinic-q' });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get((await authorize('user/Consent.rs', 'u3')).toString()), REDIRECT);
    const back = await agent.follow(await agent.post(agent.formAction(loginPage), { username: 'reports.scope', password: 'clinic q reports' }), REDIRECT);
    const answer = new URL(back.location as string);
    expect(answer.searchParams.get('error')).toBe('access_denied');
    expect(answer.searchParams.get('error_description')).toBe('the reports role allows none of the requested scopes (user/Consent.rs)');
  });

  it('denying on the consent screen sends access_denied to the app', async () => {
    const cfg = await config('launch-app');
    const url = oidc.buildAuthorizationUrl(cfg, { redirect_uri: REDIRECT, scope: 'openid user/Patient.rs', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: 'd1' });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), REDIRECT);
    const consent = await agent.follow(await agent.post(agent.formAction(loginPage), { username: 'nurse.joy', password: 'pallet town 1' }), REDIRECT);
    const back = await agent.follow(await agent.post(agent.formAction(consent, 'decision'), { decision: 'deny' }), REDIRECT);
    expect(new URL(back.location as string).searchParams.get('error')).toBe('access_denied');
  });
});

describe('administration: a site-admin manages its own facility only', () => {
  it('cannot touch another facility’s users, grant admin, or change its own role; public health can', async () => {
    const siteAdmin = (await webAppTokens('admin.a', 'clinic a admin')).access_token;
    expect((await admin(siteAdmin, 'POST', '/auth/admin/users', { username: 'new.b', password: 'new nurse b1', role: 'clinician', organization: 'Organization/clinic-b' })).status).toBe(403);
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/nurse.b', { active: false })).status).toBe(403);
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/nurse.b', { password: 'taken over 1' })).status).toBe(403);
    expect((await admin(siteAdmin, 'GET', '/auth/admin/users/nurse.b')).status).toBe(403);
    expect((await admin(siteAdmin, 'GET', '/auth/admin/users?organization=Organization/clinic-b')).status).toBe(403);
    const own = await admin(siteAdmin, 'GET', '/auth/admin/users');
    expect(own.body.users.map((u: { username: string }) => u.username).sort()).toEqual(['admin.a', 'nurse.joy']);
    expect(JSON.stringify(own.body)).not.toMatch(/scrypt|passwordHash|secret/);
    // No raising its own role, nor anyone's to public health.
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/admin.a', { role: 'admin' })).status).toBe(403);
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/admin.a', { role: 'clinician' })).status).toBe(403);
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/nurse.joy', { role: 'admin' })).status).toBe(403);
    expect((await admin(siteAdmin, 'POST', '/auth/admin/users', { username: 'boss', password: 'new boss 123', role: 'admin' })).status).toBe(403);
    expect((await signinOf(server).users.findByUsername('admin.a'))?.role).toBe('site-admin');
    // Its own facility: create, change role, reset password.
    const created = await admin(siteAdmin, 'POST', '/auth/admin/users', { username: 'clerk.a', password: 'clerk a 1234', role: 'data-entry' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'clerk.a', organization: 'Organization/clinic-a', role: 'data-entry' });
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/clerk.a', { role: 'reports' })).body.role).toBe('reports');
    expect((await admin(siteAdmin, 'POST', '/auth/admin/users', { username: 'x', password: 'p' })).status).toBe(400);
    // A commonly used password, at creation or reset (NIST SP 800-63B 5.1.1.2): 400 naming why.
    const common = await admin(siteAdmin, 'POST', '/auth/admin/users', { username: 'clerk.common', password: 'sunshine1', role: 'data-entry' });
    expect(common.status).toBe(400);
    expect(JSON.stringify(common.body)).toMatch(/most commonly used/);
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/clerk.a', { password: 'Password1' })).status).toBe(400);
    // The operator's `npm run users` (a full public-health system client, not a person): CONTRACT.md's
    // bootstrap command takes any password of the length rules, so it is set (the CLI warns).
    const operator = server.token({ scope: 'system/*.cruds' });
    expect((await admin(operator, 'POST', '/auth/admin/users', { username: 'clerk.ops', password: 'password123', role: 'data-entry', organization: 'Organization/clinic-a' })).status).toBe(201);
    expect((await admin(operator, 'PATCH', '/auth/admin/users/clerk.ops', { password: 'test1234' })).status).toBe(200);
    // People administering accounts are refused it, public health's administrators too.
    const phAdmin = (await webAppTokens('ph.admin', 'public health 1')).access_token;
    expect((await admin(phAdmin, 'PATCH', '/auth/admin/users/clerk.ops', { password: 'secret123' })).status).toBe(400);
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/clerk.a', { colour: 'red' })).status).toBe(400);
    // A clinician administers nothing; without a token, 401.
    const nurse = (await webAppTokens('nurse.joy', 'pallet town 1')).access_token;
    expect((await admin(nurse, 'GET', '/auth/admin/users')).status).toBe(403);
    expect((await fetch(`${server.url}/auth/admin/users`)).status).toBe(401);
    // A read-only public-health system client administers nothing either.
    expect((await admin(server.token({ scope: 'system/*.rs' }), 'GET', '/auth/admin/users')).status).toBe(403);
    expect((await admin(server.token({ scope: 'system/*.cruds', organization: 'Organization/clinic-a' }), 'GET', '/auth/admin/users')).status).toBe(403);
    // Public health manages every facility.
    const ph = (await webAppTokens('ph.admin', 'public health 1')).access_token;
    expect((await admin(ph, 'GET', '/auth/admin/users?organization=Organization/clinic-b')).body.users.map((u: { username: string }) => u.username)).toEqual(['nurse.b']);
    expect((await admin(ph, 'PATCH', '/auth/admin/users/nurse.b', { unlock: true })).status).toBe(200);

    await server.audit.flush();
    const audit = await server.fhir('GET', 'AuditEvent?_count=200');
    const changes = (audit.body.entry ?? []).map((e: { resource: any }) => e.resource).filter((r: any) => ['110136', '110137'].includes(r.type?.code));
    expect(changes.some((r: any) => r.outcome === '4' && r.subtype?.[0]?.code === 'change-role')).toBe(true);
    expect(changes.some((r: any) => r.outcome === '0' && r.subtype?.[0]?.code === 'create' && JSON.stringify(r.entity).includes('clerk.a'))).toBe(true);
  });

  it('her site-admin disables the nurse: she cannot sign in, and her refresh token stops working', async () => {
    const nurse = await webAppTokens('nurse.joy', 'pallet town 1');
    const siteAdmin = (await webAppTokens('admin.a', 'clinic a admin')).access_token;
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/admin.a', { active: false })).status).toBe(403);
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/nurse.joy', { active: false })).body.active).toBe(false);
    await expect(oidc.refreshTokenGrant(await config('iis-web-app'), nurse.refresh_token as string)).rejects.toThrow();
    const cfg = await config('iis-web-app');
    const url = oidc.buildAuthorizationUrl(cfg, { redirect_uri: `${server.url}/app/callback`, scope: 'openid user/Patient.rs', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), `${server.url}/app/callback`);
    const refused = await agent.post(agent.formAction(loginPage), { username: 'nurse.joy', password: 'pallet town 1' });
    expect(refused.status).toBe(401);
    expect(refused.html).toContain('This account is disabled');
    expect((await admin(siteAdmin, 'PATCH', '/auth/admin/users/nurse.joy', { active: true })).body.active).toBe(true);
    // Tokens issued up to the second of the disabling stay refused after the enabling (iat counts
    // whole seconds: src/signin/revocations.ts); the next test signs her in again in a later second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
  });
});

describe('roles at the FHIR endpoint', () => {
  it('a reports user runs reminder/recall but cannot open a patient’s record in any other way', async () => {
    await signinOf(server).users.create({ username: 'reports.a', password: 'clinic a reports', role: 'reports', organization: 'Organization/clinic-a' });
    const { access_token: token } = await webAppTokens('reports.a', 'clinic a reports');
    expect(decodeJwt(token).role).toBe('reports');
    const as = (path: string, init: { method?: string; body?: unknown } = {}) =>
      server.fhir(init.method ?? 'GET', path, { body: init.body, headers: { authorization: `Bearer ${token}` } });
    const list = await as('$reminder-recall?organization=Organization/clinic-a');
    expect(list.status).toBe(200);
    expect(list.body.resourceType).toBe('Bundle');
    for (const path of [`Patient/${visibleId}`, `Patient?_id=${visibleId}`, `Immunization?patient=Patient/${visibleId}`, `Patient/${visibleId}/$everything`, `Patient/${visibleId}/_history`]) {
      expect((await as(path)).status, path).toBe(403);
    }
    const batch = await as('', { method: 'POST', body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${visibleId}` } }] } });
    expect(batch.body.entry[0].response.status).toMatch(/^403/);
    expect((await as('Organization?_id=clinic-a&_revinclude=Patient:organization')).body.entry.some((e: any) => e.resource.resourceType === 'Patient')).toBe(false);
    expect((await server.fhir('GET', 'Patient/$export', { headers: { authorization: `Bearer ${token}`, prefer: 'respond-async' } })).status).toBe(403);
    // Not the record, but what reports are made of: measures and the facility.
    expect((await as('Organization/clinic-a')).status).toBe(200);
    // A clinician's token of the same sign-in path still reads the record.
    const nurse = (await webAppTokens('nurse.joy', 'pallet town 1')).access_token;
    expect((await server.fhir('GET', `Patient/${visibleId}`, { headers: { authorization: `Bearer ${nurse}` } })).status).toBe(200);
  });
});

describe('the sign-in form: lockout and the second factor', () => {
  it('locks the account after repeated failures (the right password is then refused too)', async () => {
    await signinOf(server).users.create({ username: 'forgetful', password: 'right password 1', role: 'reports', organization: 'Organization/clinic-a' });
    const cfg = await config('iis-web-app');
    const callback = `${server.url}/app/callback`;
    const url = oidc.buildAuthorizationUrl(cfg, { redirect_uri: callback, scope: 'openid user/Patient.rs', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), callback);
    const action = agent.formAction(loginPage);
    for (let i = 0; i < 2; i++) expect((await agent.post(action, { username: 'forgetful', password: `wrong ${i}` })).html).toContain('not right');
    expect((await agent.post(action, { username: 'forgetful', password: 'wrong 3' })).html).toContain('locked');
    const locked = await agent.post(action, { username: 'forgetful', password: 'right password 1' });
    expect(locked.status).toBe(401);
    expect(locked.html).toContain('locked for 15 minutes');
  });

  it('asks for the one-time code of a user with TOTP and accepts the current one', async () => {
    const ph = (await webAppTokens('ph.admin', 'public health 1')).access_token;
    await admin(ph, 'POST', '/auth/admin/users', { username: 'careful', password: 'careful nurse 1', role: 'clinician', organization: 'Organization/clinic-a' });
    const enabled = await admin(ph, 'PATCH', '/auth/admin/users/careful', { totp: 'enable' });
    expect(enabled.body.totpUri).toMatch(/^otpauth:\/\/totp\//);
    const callback = `${server.url}/app/callback`;
    const cfg = await config('iis-web-app');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(cfg, { redirect_uri: callback, scope: 'openid user/Patient.rs', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 't' });
    const agent = new TestAgent();
    const loginPage = await agent.follow(await agent.get(url.toString()), callback);
    const ask = await agent.post(agent.formAction(loginPage), { username: 'careful', password: 'careful nurse 1' });
    expect(ask.html).toContain('<label for="code">One-time code</label>');
    const wrong = await agent.post(agent.formAction(ask), { username: 'careful', password: 'careful nurse 1', code: '000000' === currentTotp(enabled.body.totpSecret) ? '111111' : '000000' });
    expect(wrong.html).toContain('The one-time code is not right');
    const back = await agent.follow(await agent.post(agent.formAction(wrong), { username: 'careful', password: 'careful nurse 1', code: currentTotp(enabled.body.totpSecret) }), callback);
    expect(back.location?.startsWith(callback)).toBe(true);
  });
});

describe('IIS_ADMIN_PASSWORD', () => {
  it('bootstraps the administrator with a commonly used password too (CONTRACT.md: the operator chooses it), with a warning', async () => {
    const own = await startTestServer('embedded', { signin: { adminUsername: 'ph.weak', adminPassword: 'password123' } });
    try {
      expect(await signinOf(own).users.authenticate('ph.weak', 'password123')).toMatchObject({ ok: true, user: { role: 'admin' } });
    } finally {
      await own.close();
    }
  });
});
