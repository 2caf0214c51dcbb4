// Ending a sign-in in the clinic web app, in a real browser (Debian's chromium through
// playwright-core) against a real server: "Sign in again" after the registry answered 401 on the
// very page the sign-in server sent the browser back to (/app/callback, where fhirclient keeps the
// sign-in server's `iss` of RFC 9207 as the page's URL), and "Sign out" ending the sign-in
// server's session too, so the next visit to /app (another tab, the next person at a shared clinic
// computer) asks for the password again. axe runs on the sign-in server's sign-out confirmation.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebApp } from '../../scripts/build-web.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { browserMissingReason, describeViolations, launchChromium, seriousViolations } from './browser.js';
import { CLINIC } from './seed.js';
import { signInUser } from './sign-in.js';

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
    const [, started, launched] = await Promise.all([buildWebApp({ ifStale: true, quiet: true }), startTestServer('embedded'), launchChromium()]);
    server = started;
    browser = launched;
    origin = new URL(server.baseUrl).origin;
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

  it('"Sign out" ends the sign-in server session: the sign-in form comes back, in this tab and in a new one', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    // The sign-in server asks to confirm (OpenID Connect RP-initiated logout).
    await page.getByRole('heading', { level: 1, name: 'Sign out' }).waitFor();
    const violations = await seriousViolations(page);
    expect(violations, describeViolations(violations)).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Username').waitFor();
    expect(new URL(page.url()).pathname).toMatch(/^\/auth\//);

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
