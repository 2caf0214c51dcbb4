// "Launch app" on a patient's record in a real browser (Debian's chromium through playwright-core)
// against a real server: the clinic web app is the EHR of a SMART EHR launch. A nurse opens Ava's
// record, opens "Launch app" and picks the registered app (keyboard only), the browser lands on the app's
// launch URL with iss and launch; the app (a tiny page on a loopback port, its code exchange done
// with openid-client) sends the browser to /auth/authorize with the launch scope: no sign-in form
// and no patient picker, only the consent screen, and the token names Ava. axe-core and the layout
// checks run on the record with the control and with its list of apps open; a record the nurse may not
// open has no control.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppClients } from '../../src/signin/app-clients.js';
import { patient, sharingConsent, type TestServer } from '../helpers/server.js';
import { browserMissingReason } from './browser.js';
import { checkEverySize, tabTo } from './keyboard.js';
import { CLINIC, OTHER_CLINIC, seedRegistry, type Seeded } from './seed.js';
import { signInUser } from './sign-in.js';
import { startWebAppStack } from './stack.js';

const missing = browserMissingReason();
if (missing) console.log(`clinic web app EHR launch browser tests SKIPPED: ${missing}`);

describe.skipIf(Boolean(missing))('clinic web app: Launch app (SMART EHR launch)', () => {
  let server: TestServer;
  let browser: Browser;
  let seeded: Seeded;
  let origin: string;
  let hiddenId: string;
  /** The SMART app's own web server: its launch page and its redirect URI (loopback). */
  let appServer: Server;
  let appOrigin: string;
  const problems: string[] = [];

  beforeAll(async () => {
    ({ server, browser, origin } = await startWebAppStack());
    seeded = await seedRegistry(server);
    appServer = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><head><title>Growth chart</title></head><body><main><h1>Growth chart</h1><p>${req.url?.startsWith('/cb') ? 'Back from sign-in' : 'Launching'}</p></main></body></html>`);
    });
    await new Promise<void>((resolve) => appServer.listen(0, '127.0.0.1', resolve));
    appOrigin = `http://127.0.0.1:${(appServer.address() as AddressInfo).port}`;
    await new AppClients(server.store).register({ clientId: 'growth-chart', name: 'Growth chart', redirectUris: [`${appOrigin}/cb`], public: true, launchUri: `${appOrigin}/launch`, askConsent: true });
    // A child whose family said No to sharing with the nurse's clinic (recorded by the other clinic).
    hiddenId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Private', given: ['Pia'] }], birthDate: '2022-03-04' }) })).body.id;
    const objection = await server.fhir('POST', 'Consent', {
      body: sharingConsent(hiddenId, { organization: [{ reference: OTHER_CLINIC }], provision: { type: 'deny' }, policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] } }),
    });
    expect(objection.status).toBe(201);
  }, 90_000);

  afterAll(async () => {
    if (problems.length) console.log(`browser problems:\n  ${problems.join('\n  ')}`);
    await browser?.close();
    await server?.close();
    await new Promise((resolve) => appServer?.close(resolve));
  });

  const newTab = async (): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    const tab = await context.newPage();
    tab.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    return tab;
  };

  it('opens the app for the patient from the record, keyboard only: launch URL with iss + launch, then the token names the patient without a picker', async () => {
    const tab = await newTab();
    await signInUser(tab, origin, server.token(), { username: 'nurse.launch', password: 'launch nurse pass', organization: CLINIC, role: 'clinician' });
    await tab.goto(`${origin}/app/patients/${seeded.ava.id}`);
    await tab.getByRole('heading', { level: 1, name: 'Ava Lucia Rivera' }).waitFor();
    // The contract's stable names are still there.
    for (const name of ['Immunizations', 'Forecast', 'Data sharing']) await tab.getByRole('heading', { level: 2, name }).waitFor();
    await tab.getByRole('button', { name: 'Record immunization' }).waitFor();
    const control = tab.getByRole('button', { name: 'Launch app' });
    await control.waitFor();
    expect(await checkEverySize(tab, 'ehr-launch-01-record')).toEqual([]);

    await tabTo(tab, 'Launch app');
    await tab.keyboard.press('Enter');
    await expect(control.getAttribute('aria-expanded')).resolves.toBe('true');
    const list = tab.getByRole('list', { name: 'Apps that can open this patient' });
    await list.getByRole('button', { name: 'Growth chart' }).waitFor();
    expect(await checkEverySize(tab, 'ehr-launch-02-apps')).toEqual([]);
    await tab.getByRole('heading', { level: 1 }).focus();
    await tabTo(tab, 'Growth chart');
    await tab.keyboard.press('Enter');
    await tab.waitForURL(`${appOrigin}/launch?**`);
    const launchUrl = new URL(tab.url());
    expect(launchUrl.searchParams.get('iss')).toBe(server.baseUrl);
    const launch = launchUrl.searchParams.get('launch') as string;
    expect(launch).toMatch(/^[\w-]{43}$/);

    // The app, as SMART says: discovery from iss, then /auth/authorize with launch.
    const smart = await (await fetch(`${launchUrl.searchParams.get('iss')}/.well-known/smart-configuration`)).json();
    expect(smart.capabilities).toEqual(expect.arrayContaining(['launch-ehr', 'context-ehr-patient']));
    const cfg = await oidc.discovery(new URL(smart.issuer), 'growth-chart', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const authorize = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: `${appOrigin}/cb`,
      scope: 'openid fhirUser launch patient/Patient.rs patient/Immunization.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'gc',
      aud: server.baseUrl,
      launch,
    });
    await tab.goto(authorize.toString());
    // The nurse is signed in already (the web app's session): the consent screen, naming Ava.
    await tab.getByRole('button', { name: /Allow/ }).waitFor();
    expect(await tab.getByLabel('Password').count()).toBe(0);
    await tab.getByText(/Ava/).first().waitFor();
    await tab.getByRole('button', { name: /Allow/ }).click();
    await tab.waitForURL(`${appOrigin}/cb?**`);
    const tokens = await oidc.authorizationCodeGrant(cfg, new URL(tab.url()), { pkceCodeVerifier: verifier, expectedState: 'gc' });
    expect(tokens.patient).toBe(seeded.ava.id);
    const read = await fetch(`${server.baseUrl}/Immunization?patient=Patient/${seeded.ava.id}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(read.status).toBe(200);
    expect((await read.json()).entry.length).toBe(seeded.ava.doses);
  }, 60_000);

  it('a record the nurse may not open (data sharing No) offers no launch', async () => {
    const tab = await newTab();
    await signInUser(tab, origin, server.token(), { username: 'nurse.launch2', password: 'launch nurse pass', organization: CLINIC, role: 'clinician' });
    await tab.goto(`${origin}/app/patients/${hiddenId}`);
    await tab.getByRole('alert').first().waitFor();
    expect(await tab.getByRole('button', { name: 'Launch app' }).count()).toBe(0);
  }, 60_000);
});
