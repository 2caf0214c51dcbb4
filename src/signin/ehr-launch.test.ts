// SMART EHR launch from the clinic web app (ehr-launch.ts), on both stores: the web app's user asks
// for a launch of a registered app on a patient's record, the app is opened with iss + launch and
// gets the patient without a picker; a launch id that is reused, unknown, expired, another user's
// or another app's is an OAuth error back at the app; a patient hidden by data sharing cannot be
// launched. The app side uses openid-client (a certified client library).
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patient, sharingConsent, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { EhrLaunches } from './ehr-launch.js';
import { ARTIFACTS_NAMESPACE } from './provider-adapter.js';
import { signinOf } from './test-helpers.js';
import { TestAgent, type AgentResponse } from './test-agent.js';

const REDIRECT = 'http://127.0.0.1:9/ehr-callback';
const LAUNCH_URI = 'http://127.0.0.1:9/ehr-launch';
const APP_SCOPE = 'openid fhirUser launch patient/Patient.rs patient/Immunization.rs';

function ehrLaunchSuite(kind: StoreKind): void {
  describe(`EHR launch (${kind} store)`, () => {
    let server: TestServer;
    let visibleId: string;
    let hiddenId: string;

    beforeAll(async () => {
      server = await startTestServer(kind);
      for (const id of ['clinic-a', 'clinic-b']) await server.fhir('PUT', `Organization/${id}`, { body: { resourceType: 'Organization', id, name: id, active: true } });
      visibleId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Launched', given: ['Lia'] }], birthDate: '2022-01-02' }) })).body.id;
      hiddenId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Private', given: ['Pia'] }], birthDate: '2022-03-04' }) })).body.id;
      // Pia's family said No to sharing: clinic-a does not see her.
      const objection = await server.fhir('POST', 'Consent', {
        body: sharingConsent(hiddenId, { organization: [{ reference: 'Organization/clinic-b' }], provision: { type: 'deny' }, policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] } }),
      });
      expect(objection.status).toBe(201);
      const { users, clients } = signinOf(server);
      await users.create({ username: 'nurse.joy', password: 'pallet town 1', role: 'clinician', organization: 'Organization/clinic-a' });
      await users.create({ username: 'nurse.b', password: 'clinic b nurse', role: 'clinician', organization: 'Organization/clinic-b' });
      await clients.register({ clientId: 'growth-chart', name: 'Growth chart', redirectUris: [REDIRECT], public: true, launchUri: LAUNCH_URI, askConsent: true });
      await clients.register({ clientId: 'no-launch-app', redirectUris: [REDIRECT], public: true });
    });
    afterAll(async () => {
      await server?.close();
    });

    const discover = (clientId: string) => oidc.discovery(new URL(`${server.url}/auth`), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });

    /** Signs the user in to the web app in this browser (agent): its session cookie and its token. */
    async function webAppSignIn(agent: TestAgent, username: string, password: string): Promise<string> {
      const cfg = await discover('iis-web-app');
      const verifier = oidc.randomPKCECodeVerifier();
      const callback = `${server.url}/app/callback`;
      const url = oidc.buildAuthorizationUrl(cfg, { redirect_uri: callback, scope: 'openid fhirUser profile user/*.cruds', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'w' });
      const form = await agent.follow(await agent.get(url.toString()), callback);
      const back = await agent.follow(await agent.post(agent.formAction(form), { username, password }), callback);
      const tokens = await oidc.authorizationCodeGrant(cfg, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'w' });
      return tokens.access_token;
    }

    const launchApi = async (token: string, method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await fetch(`${server.url}/auth${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };

    /** The app, opened at its launch URL, goes to /auth/authorize; returns what comes back to it (after consent, when asked). */
    async function appAuthorize(agent: TestAgent, launch: string | undefined, scope = APP_SCOPE): Promise<{ back: AgentResponse; pages: string[]; verifier: string; cfg: oidc.Configuration }> {
      const cfg = await discover('growth-chart');
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(cfg, { redirect_uri: REDIRECT, scope, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'e', aud: server.baseUrl, ...(launch ? { launch } : {}) });
      const pages: string[] = [];
      let back = await agent.follow(await agent.get(url.toString()), REDIRECT);
      if (!back.location?.startsWith(REDIRECT)) {
        pages.push(back.html);
        back = await agent.follow(await agent.post(agent.formAction(back, 'decision'), { decision: 'allow' }), REDIRECT);
      }
      return { back, pages, verifier, cfg };
    }

    const oauthError = (back: AgentResponse) => {
      const params = new URL(back.location as string).searchParams;
      return { error: params.get('error'), description: params.get('error_description') ?? '', code: params.get('code') };
    };

    it('is advertised in smart-configuration', async () => {
      const doc = await (await fetch(`${server.url}/.well-known/smart-configuration`)).json();
      expect(doc.capabilities).toEqual(expect.arrayContaining(['launch-ehr', 'context-ehr-patient', 'launch-standalone', 'context-standalone-patient']));
      expect(doc.scopes_supported).toEqual(expect.arrayContaining(['launch', 'launch/patient']));
    });

    it('from a patient record: the app is opened with iss + launch and gets the patient without a picker; the launch works once', async () => {
      const browser = new TestAgent();
      const webToken = await webAppSignIn(browser, 'nurse.joy', 'pallet town 1');
      const apps = await launchApi(webToken, 'GET', '/launch/apps');
      expect(apps).toEqual({ status: 200, body: { apps: [{ clientId: 'growth-chart', name: 'Growth chart' }] } });
      const made = await launchApi(webToken, 'POST', '/launch', { clientId: 'growth-chart', patient: visibleId });
      expect(made.status).toBe(201);
      const launchUrl = new URL(made.body.launchUrl);
      expect(`${launchUrl.origin}${launchUrl.pathname}`).toBe(LAUNCH_URI);
      expect(launchUrl.searchParams.get('iss')).toBe(server.baseUrl);
      const launch = launchUrl.searchParams.get('launch') as string;
      expect(launch).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // Only the id's hash is kept.
      expect(await server.store.expiringRecords(ARTIFACTS_NAMESPACE).get(launch)).toBeUndefined();

      const { back, pages, verifier, cfg } = await appAuthorize(browser, launch);
      // Signed in already (the web app's session): straight to the consent screen, no sign-in form, no picker.
      expect(pages).toHaveLength(1);
      expect(pages[0]).toContain('name="decision"');
      expect(pages[0]).not.toContain('name="password"');
      expect(pages[0]).toContain('Launched');
      const tokens = await oidc.authorizationCodeGrant(cfg, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'e' });
      expect(tokens.patient).toBe(visibleId);
      expect(tokens.need_patient_banner).toBe(true);
      expect(decodeJwt(tokens.access_token)).toMatchObject({ patient: visibleId, client_id: 'growth-chart' });
      expect(String(tokens.scope).split(' ')).toEqual(expect.arrayContaining(['launch', 'patient/Patient.rs']));
      const read = await fetch(`${server.baseUrl}/Patient/${visibleId}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(read.status).toBe(200);

      // The same launch again: refused at the authorization endpoint, back at the app.
      const again = await appAuthorize(browser, launch);
      expect(oauthError(again.back)).toMatchObject({ error: 'invalid_request', code: null });
      expect(oauthError(again.back).description).toMatch(/launch is unknown, expired, already used/);
    });

    it('unknown, missing, expired or another app\'s launch ids are OAuth errors at the app, never 5xx', async () => {
      const browser = new TestAgent();
      const webToken = await webAppSignIn(browser, 'nurse.joy', 'pallet town 1');
      expect(oauthError((await appAuthorize(browser, 'x'.repeat(43))).back).error).toBe('invalid_request');
      expect(oauthError((await appAuthorize(browser, undefined)).back)).toMatchObject({ error: 'invalid_request', description: expect.stringMatching(/launch parameter/) });
      // A launch that lives 0.2 s, used after it expired.
      const shortLived = new EhrLaunches(server.store.expiringRecords(ARTIFACTS_NAMESPACE), 0.2);
      const user = await signinOf(server).users.findByUsername('nurse.joy');
      const expired = await shortLived.mint({ userId: user?.id as string, organization: 'Organization/clinic-a', clientId: 'growth-chart', patient: visibleId });
      await new Promise((r) => setTimeout(r, 300));
      expect(oauthError((await appAuthorize(browser, expired)).back).error).toBe('invalid_request');
      // Made for growth-chart, presented by another app.
      const made = await launchApi(webToken, 'POST', '/launch', { clientId: 'growth-chart', patient: visibleId });
      const launch = new URL(made.body.launchUrl).searchParams.get('launch') as string;
      const other = await discover('no-launch-app');
      const url = oidc.buildAuthorizationUrl(other, { redirect_uri: REDIRECT, scope: APP_SCOPE, code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', launch });
      const refused = await browser.follow(await browser.get(url.toString()), REDIRECT);
      expect(oauthError(refused).error).toBe('invalid_request');
      // …and the right app can still use it.
      const { back } = await appAuthorize(browser, launch);
      expect(oauthError(back).code).toBeTruthy();
    });

    it("another user's launch is refused after sign-in, and is used up", async () => {
      const joy = new TestAgent();
      const joyToken = await webAppSignIn(joy, 'nurse.joy', 'pallet town 1');
      const made = await launchApi(joyToken, 'POST', '/launch', { clientId: 'growth-chart', patient: visibleId });
      const launch = new URL(made.body.launchUrl).searchParams.get('launch') as string;
      // Nurse B's browser (her own web-app session) gets Joy's launch link.
      const other = new TestAgent();
      await webAppSignIn(other, 'nurse.b', 'clinic b nurse');
      const { back } = await appAuthorize(other, launch);
      expect(oauthError(back)).toMatchObject({ error: 'invalid_request', code: null });
      expect(oauthError(back).description).toMatch(/another user/);
      // Taken by that attempt: not usable by Joy either.
      expect(oauthError((await appAuthorize(joy, launch)).back).error).toBe('invalid_request');
    });

    it('a patient hidden by data sharing, an app without a launch URL, or a token of another app cannot make a launch', async () => {
      const browser = new TestAgent();
      const webToken = await webAppSignIn(browser, 'nurse.joy', 'pallet town 1');
      const hidden = await launchApi(webToken, 'POST', '/launch', { clientId: 'growth-chart', patient: hiddenId });
      expect(hidden.status).toBe(403);
      expect(hidden.body.resourceType).toBe('OperationOutcome');
      expect((await launchApi(webToken, 'POST', '/launch', { clientId: 'no-launch-app', patient: visibleId })).status).toBe(404);
      expect((await launchApi(webToken, 'POST', '/launch', { clientId: 'growth-chart', patient: 'no-such-patient' })).status).toBe(403);
      expect((await launchApi(webToken, 'POST', '/launch', {})).status).toBe(400);
      // Nurse B's clinic recorded the No: she may launch Pia.
      const bToken = await webAppSignIn(new TestAgent(), 'nurse.b', 'clinic b nurse');
      expect((await launchApi(bToken, 'POST', '/launch', { clientId: 'growth-chart', patient: hiddenId })).status).toBe(201);
      // The launched app's own token cannot make launches (only the EHR, the web app, does).
      const made = await launchApi(webToken, 'POST', '/launch', { clientId: 'growth-chart', patient: visibleId });
      const { back, verifier, cfg } = await appAuthorize(browser, new URL(made.body.launchUrl).searchParams.get('launch') as string);
      const appTokens = await oidc.authorizationCodeGrant(cfg, new URL(back.location as string), { pkceCodeVerifier: verifier, expectedState: 'e' });
      expect((await launchApi(appTokens.access_token, 'POST', '/launch', { clientId: 'growth-chart', patient: visibleId })).status).toBe(403);
      expect((await launchApi('nonsense', 'GET', '/launch/apps')).status).toBe(401);
    });
  });
}

ehrLaunchSuite('embedded');
if (testMongoUrl()) {
  ehrLaunchSuite('mongodb');
} else {
  console.warn('[ehr launch] the MongoDB tier is skipped: TEST_MONGODB_URL is not set (.ci/run starts FerretDB and sets it)');
  describe('EHR launch (mongodb store)', () => {
    it.skip('needs TEST_MONGODB_URL', () => {});
  });
}
