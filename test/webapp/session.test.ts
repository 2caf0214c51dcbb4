// Ending a sign-in in the clinic web app, in a real browser (Debian's chromium through
// playwright-core) against a real server: "Sign in again" after the registry answered 401 on the
// very page the sign-in server sent the browser back to (/app/callback, where fhirclient keeps the
// sign-in server's `iss` of RFC 9207 as the page's URL), and "Sign out" ending the sign-in
// server's session too, so the next visit to /app (another tab, the next person at a shared clinic
// computer) asks for the password again and the tab's refresh token stops working; and a user at
// work whose access token runs out is refreshed (offline_access), not signed out; a sign-in that
// ends while a dose is being typed keeps what was typed through "Sign in again". axe runs on the
// sign-in server's sign-out confirmation. A reports user (reminder/recall and coverage only) opens
// on Reports and is offered no patient search or record links; a site-admin's "Add a user" marks
// the fields at fault.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import { browserMissingReason, expectNoSeriousViolations } from './browser.js';
import { CLINIC, isoDaysAgo } from './seed.js';
import { signInUser } from './sign-in.js';
import { startWebAppStack } from './stack.js';

const missing = browserMissingReason();
if (missing) console.log(`clinic web app session browser tests SKIPPED: ${missing}`);

const NURSE = { username: 'nurse.session', password: 'session nurse password', organization: CLINIC, role: 'clinician' };

describe.skipIf(Boolean(missing))('clinic web app: the sign-in ends', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;

  beforeAll(async () => {
    ({ server, browser, origin } = await startWebAppStack());
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
  });

  it('"Sign in again" after a 401 on the page the sign-in came back to signs in again, to the same search', async () => {
    await signInUser(page, origin, server.token(), NURSE);
    // The page has not been loaded since /app/callback. The registry answers the next search 401,
    // as it does once the session has ended (idle too long, or the user was disabled meanwhile).
    await page.route(
      /\/fhir\/Patient/,
      (route) =>
        route.fulfill({
          status: 401,
          contentType: 'application/fhir+json',
          body: JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'The access token has expired' }] }),
        }),
      { times: 1 }
    );
    await page.getByLabel('Last name').fill('Rivera');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('heading', { level: 1, name: 'Signed out' }).waitFor();
    await page.getByRole('button', { name: 'Sign in again' }).click();
    // The sign-in server still holds the session: no form, straight back to the same search.
    const back = page.getByRole('heading', { level: 1, name: 'Find a patient' });
    const failed = page.getByRole('heading', { level: 1, name: 'Sign-in did not complete' });
    await back.or(failed).first().waitFor();
    expect(await failed.count(), await page.locator('main').innerText()).toBe(0);
    expect(new URL(page.url()).pathname).toBe('/app/');
    expect(new URL(page.url()).searchParams.get('family')).toBe('Rivera');
  });

  it('back from the sign-in page, the code exchange starts before the screens’ code has loaded', async () => {
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    fresh.setDefaultTimeout(15_000);
    try {
      const tab = await fresh.newPage();
      let screensServedAt = 0;
      let exchangeSentAt = 0;
      // The script holding the screens (their words) comes 1.5 s late, as a slow parse at a load peak.
      await tab.route(/\/app\/assets\/.*\.js$/, async (route) => {
        const response = await route.fetch();
        const body = await response.text();
        const holdsScreens = body.includes('Find a patient');
        if (holdsScreens && new URL(tab.url()).pathname === '/app/callback') await new Promise((resolve) => setTimeout(resolve, 1_500));
        await route.fulfill({ response, body });
        if (holdsScreens && new URL(tab.url()).pathname === '/app/callback') screensServedAt ||= Date.now();
      });
      tab.on('request', (request) => {
        if (request.method() === 'POST' && request.url().endsWith('/auth/token') && !exchangeSentAt) exchangeSentAt = Date.now();
      });
      await signInUser(tab, origin, server.token(), { username: 'nurse.early', password: 'early nurse password', organization: CLINIC, role: 'clinician' });
      expect(exchangeSentAt, 'no code exchange').toBeGreaterThan(0);
      expect(screensServedAt, 'the screens were not loaded after the sign-in').toBeGreaterThan(0);
      expect(exchangeSentAt, 'the code exchange waited for the screens’ code').toBeLessThan(screensServedAt);
    } finally {
      await fresh.close();
    }
  });

  it('a reports user opens on Reports, is offered no patient search, and the list names are not links', async () => {
    const clinicManager = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    clinicManager.setDefaultTimeout(10_000);
    try {
      const tab = await clinicManager.newPage();
      await server.fhir('POST', 'Patient', {
        body: { resourceType: 'Patient', name: [{ family: 'Due', given: ['Dana'] }], gender: 'female', birthDate: isoDaysAgo(400), managingOrganization: { reference: CLINIC } },
      });
      await signInUser(tab, origin, server.token(), { username: 'manager.session', password: 'session manager password', organization: CLINIC, role: 'reports' });
      expect(new URL(tab.url()).pathname).toBe('/app/reports');
      await tab.getByRole('heading', { level: 1, name: 'Reports' }).waitFor();
      const menu = tab.getByRole('navigation', { name: 'Main' });
      await expect(menu.getByRole('link', { name: 'Reports' }).count()).resolves.toBe(1);
      await expect(menu.getByRole('link', { name: 'Find a patient' }).count()).resolves.toBe(0);
      await expect(menu.getByRole('link', { name: 'Possible duplicates' }).count()).resolves.toBe(0);
      await tab.getByRole('button', { name: 'Run reminder/recall' }).click();
      const list = tab.getByRole('table', { name: 'Reminder/recall list' });
      await list.getByRole('cell', { name: 'Dana Due' }).first().waitFor();
      await expect(list.getByRole('link').count()).resolves.toBe(0);
      await expectNoSeriousViolations(tab);
    } finally {
      await clinicManager.close();
    }
  });

  it('a site-admin adding a user with a bad username and a short password gets both fields marked, the first focused', async () => {
    const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    adminContext.setDefaultTimeout(10_000);
    try {
      const tab = await adminContext.newPage();
      await signInUser(tab, origin, server.token(), { username: 'admin.session', password: 'session admin password', organization: CLINIC, role: 'site-admin' });
      await tab.goto(`${origin}/app/users`);
      await tab.getByRole('table', { name: 'Users' }).waitFor();
      const posted: string[] = [];
      tab.on('request', (r) => r.method() === 'POST' && r.url().includes('/auth/admin/users') && posted.push(r.url()));
      await tab.getByLabel(/^New username/).fill('x');
      await tab.getByLabel(/^Initial password/).fill('short');
      await tab.getByRole('button', { name: 'Add user' }).click();
      const username = tab.getByLabel(/^New username/);
      const password = tab.getByLabel(/^Initial password/);
      await expect.poll(() => username.getAttribute('aria-invalid')).toBe('true');
      await expect(password.getAttribute('aria-invalid')).resolves.toBe('true');
      await expect(username.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
      const described = (field: typeof username) =>
        field.evaluate((el) => (el.getAttribute('aria-describedby') ?? '').split(/\s+/).map((id) => (id ? (document.getElementById(id)?.textContent ?? '') : '')).join(' '));
      await expect(described(username)).resolves.toMatch(/2 to 64 characters/);
      await expect(described(password)).resolves.toMatch(/at least 8 characters/);
      expect(posted, 'nothing is sent while the form says what to correct').toEqual([]);
      await expectNoSeriousViolations(tab);
      // Corrected, the user is added.
      await username.fill('nurse.added');
      await password.fill('a long enough password');
      await tab.getByRole('button', { name: 'Add user' }).click();
      await tab.getByText('Added nurse.added.').waitFor();
    } finally {
      await adminContext.close();
    }
  });

  /** The tab's fhirclient state (sessionStorage, as the app keeps it between page loads). */
  const tokenState = () =>
    page.evaluate(() => {
      const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
      return JSON.parse(sessionStorage.getItem(key) ?? '{}') as { expiresAt?: number; tokenResponse: { access_token?: string; refresh_token?: string } };
    });

  it('refreshes an access token about to run out instead of signing a user at work out', async () => {
    const before = await tokenState();
    expect(before.tokenResponse.refresh_token, 'the web app got no refresh token: it signs users out every SIGNIN_ACCESS_TOKEN_MINUTES').toBeTruthy();
    // The access token runs out in 5 s (as after SIGNIN_ACCESS_TOKEN_MINUTES at work).
    await page.evaluate(() => {
      const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
      const state = JSON.parse(sessionStorage.getItem(key) ?? '{}');
      state.expiresAt = Math.floor(Date.now() / 1000) + 5;
      sessionStorage.setItem(key, JSON.stringify(state));
    });
    // The first request after the page loads refreshes the token first.
    const refreshed = page.waitForResponse((res) => res.url().endsWith('/auth/token') && (res.request().postData() ?? '').includes('grant_type=refresh_token'));
    await page.reload();
    await page.getByLabel('Last name').waitFor();
    await page.getByLabel('Last name').fill('Rivera');
    await page.getByRole('button', { name: 'Search' }).click();
    expect((await refreshed).status()).toBe(200);
    await page.getByText('No patient matches these details.').waitFor();
    await expect(page.getByRole('heading', { level: 1, name: 'Signed out' }).count()).resolves.toBe(0);
    const after = await tokenState();
    expect(after.tokenResponse.access_token).not.toBe(before.tokenResponse.access_token);
    expect(after.tokenResponse.refresh_token).not.toBe(before.tokenResponse.refresh_token);
  });

  it('a sign-in that ends while a dose is typed keeps what was typed: after "Sign in again" it is back in the form, saved once', async () => {
    const child = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Halfway', given: ['Hana'] }], gender: 'female', birthDate: isoDaysAgo(200), managingOrganization: { reference: CLINIC } },
    });
    expect(child.status).toBe(201);
    const formPath = `/app/patients/${child.body.id}/immunizations/new`;
    await page.goto(`${origin}${formPath}`);
    await page.getByLabel('Vaccine').fill('08');
    await page.keyboard.press('Escape');
    await page.getByLabel('Lot number').fill('KEPT-LOT-42');
    await page.getByLabel('Site').selectOption('LT');
    // The nurse is called away, and the sign-in ends (SIGNIN_IDLE_MINUTES): the registry answers
    // Save with 401, as it does then.
    await page.route(
      /\/fhir\/Immunization$/,
      (route) =>
        route.request().method() === 'POST'
          ? route.fulfill({
              status: 401,
              contentType: 'application/fhir+json',
              body: JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'The access token has expired' }] }),
            })
          : route.continue(),
      { times: 1 }
    );
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { level: 1, name: 'Signed out' }).waitFor();
    await page.getByText('What you had typed is kept').waitFor();
    const doses = async () => ((await server.fhir('GET', `Immunization?patient=${child.body.id}`)).body.entry ?? []).length;
    await expect(doses()).resolves.toBe(0);
    await page.getByRole('button', { name: 'Sign in again' }).click();
    // The sign-in server still holds the session: straight back to the same form, filled in.
    await page.getByRole('heading', { level: 1, name: 'Record immunization' }).waitFor();
    expect(new URL(page.url()).pathname).toBe(formPath);
    await page.getByText('Your typing was kept').waitFor();
    await expect(page.getByLabel('Lot number').inputValue()).resolves.toBe('KEPT-LOT-42');
    await expect(page.getByLabel('Site').inputValue()).resolves.toBe('LT');
    await expect(page.getByLabel('Vaccine').inputValue()).resolves.toBe('08');
    await expectNoSeriousViolations(page);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'The immunization was recorded.' }).waitFor();
    await expect(doses()).resolves.toBe(1);
    // Kept once: the form opens empty the next time.
    await page.goto(`${origin}${formPath}`);
    await page.getByLabel('Lot number').waitFor();
    await expect(page.getByLabel('Lot number').inputValue()).resolves.toBe('');
    await expect(page.getByText('Your typing was kept').count()).resolves.toBe(0);
  });

  it('"Sign out" ends the sign-in server session: the sign-in form comes back, in this tab and in a new one', async () => {
    const { refresh_token: refreshToken } = (await tokenState()).tokenResponse;
    await page.getByRole('button', { name: 'Sign out' }).click();
    // The sign-in server asks to confirm (OpenID Connect RP-initiated logout).
    await page.getByRole('heading', { level: 1, name: 'Sign out' }).waitFor();
    await expectNoSeriousViolations(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Username').waitFor();
    expect(new URL(page.url()).pathname).toMatch(/^\/auth\//);
    // The tab's refresh token no longer works.
    const refresh = await fetch(`${origin}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: String(refreshToken), client_id: 'iis-web-app' }),
    });
    expect(refresh.status).toBe(400);
    expect(((await refresh.json()) as { error: string }).error).toBe('invalid_grant');

    const another = await context.newPage();
    try {
      await another.goto(`${origin}/app/`);
      const search = another.getByLabel('Last name');
      await another.getByLabel('Username').or(search).first().waitFor();
      expect(await search.count(), 'a new tab at /app was signed in without the password after Sign out').toBe(0);
    } finally {
      await another.close();
    }
    // Signing in again works as usual, and lands on the app.
    await page.getByLabel('Username').fill(NURSE.username);
    await page.getByLabel('Password').fill(NURSE.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Find a patient' }).waitFor();
  });
});
