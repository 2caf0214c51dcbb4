// CONTRACT.md "Clinic web app" names the fields, buttons, headings and links outside checks drive
// the app by. A check may find them several ways (getByLabel with or without exact, getByRole with
// the name, getByText), so each name must be found by each of them, once, for every role that sees
// it, on a desktop and at 320 px. Found probing: the required Vaccine and Date given fields carried
// Mantine's asterisk inside their <label> ("Vaccine *"): the accessible name was exact (the asterisk
// is aria-hidden) but getByLabel('Vaccine', { exact: true }) and the label's text did not match.
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import { browserMissingReason, expectNoSeriousViolations } from './browser.js';
import { CLINIC, isoDaysAgo } from './seed.js';
import { signInUser } from './sign-in.js';
import { startWebAppStack } from './stack.js';

const missing = browserMissingReason();
if (missing) console.log(`clinic web app contract names browser tests SKIPPED: ${missing}`);

type FieldRole = 'textbox' | 'combobox' | 'radio';

/** Every way an outside check could find a labelled field finds exactly this one, visible. */
async function expectField(page: Page, name: string, role: FieldRole): Promise<void> {
  const ways: Array<[string, Locator]> = [
    [`getByLabel('${name}', { exact: true })`, page.getByLabel(name, { exact: true })],
    [`getByLabel('${name}')`, page.getByLabel(name)],
    [`getByRole('${role}', { name: '${name}', exact: true })`, page.getByRole(role, { name, exact: true })],
  ];
  for (const [way, locator] of ways) {
    await expect(locator.count(), way).resolves.toBe(1);
    await expect(locator.isVisible(), `${way} visible`).resolves.toBe(true);
  }
  // The label's own words, as a check reading its text (getByText, textContent) sees them.
  const labelTexts = await page.getByLabel(name, { exact: true }).evaluate((input) =>
    Array.from((input as HTMLInputElement).labels ?? []).map((label) => label.textContent)
  );
  expect(labelTexts, `the <label> text of ${name}`).toEqual([name]);
  await expect(page.getByText(name, { exact: true }).count(), `getByText('${name}', { exact: true })`).resolves.toBe(1);
}

/** A heading, button or link: found by its role and name, and by its text, exactly once. */
async function expectNamed(page: Page, name: string, role: 'heading' | 'button' | 'link'): Promise<void> {
  const byRole = page.getByRole(role, { name, exact: true });
  await byRole.waitFor({ state: 'visible' });
  await expect(byRole.count(), `getByRole('${role}', { name: '${name}', exact: true })`).resolves.toBe(1);
  const byText = page.getByText(name, { exact: true });
  await expect(byText.count(), `getByText('${name}', { exact: true })`).resolves.toBe(1);
  await expect(byText.isVisible(), `getByText('${name}') visible`).resolves.toBe(true);
}

const ROLES = ['clinician', 'data-entry', 'site-admin', 'reports'] as const;
const WIDTHS = [1280, 320] as const;

describe.skipIf(Boolean(missing))('clinic web app: the contract names, by every locator, every role, desktop and 320 px', () => {
  let server: TestServer;
  let browser: Browser;
  let origin: string;
  const family = 'Okonkwo';
  const given = 'Adaeze';
  const birthDate = isoDaysAgo(420);
  let patientId: string;

  beforeAll(async () => {
    ({ server, browser, origin } = await startWebAppStack());
    await server.fhir('PUT', CLINIC, { body: { resourceType: 'Organization', id: CLINIC.split('/')[1], name: 'Maple Pediatrics', active: true } });
    const child = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ family, given: [given] }], gender: 'female', birthDate, managingOrganization: { reference: CLINIC } },
    });
    expect(child.status).toBe(201);
    patientId = child.body.id;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const role of ROLES) {
    for (const width of WIDTHS) {
      it(`${role} at ${width} px`, async () => {
        const context: BrowserContext = await browser.newContext({ viewport: { width, height: 900 } });
        context.setDefaultTimeout(10_000);
        const page = await context.newPage();
        try {
          const user = { username: `names.${role}.${width}`, password: `contract names ${role} password`, organization: CLINIC, role };
          await signInUser(page, origin, server.token(), user, async () => {
            await expectField(page, 'Username', 'textbox');
            // A password field has no ARIA role: getByLabel is how a check finds it.
            await expect(page.getByLabel('Password', { exact: true }).count()).resolves.toBe(1);
            await expect(page.getByLabel('Password').count()).resolves.toBe(1);
            await expectNamed(page, 'Sign in', 'button');
            // Not exact, getByText is a case-insensitive substring search: the heading and the note
            // said "Sign in" / "sign in" too, so getByText('Sign in').click() met three elements.
            await expect(page.getByText('Sign in').count(), "getByText('Sign in')").resolves.toBe(1);
          });

          if (role !== 'reports') {
            for (const name of ['Last name', 'First name', 'Date of birth']) await expectField(page, name, 'textbox');
            await expectNamed(page, 'Search', 'button');
            await page.getByLabel('Last name', { exact: true }).fill(family);
            await page.getByLabel('Date of birth', { exact: true }).fill(birthDate);
            await page.getByRole('button', { name: 'Search', exact: true }).click();
            await page.getByRole('link', { name: new RegExp(`${given}.*${family}|${family}.*${given}`) }).click();
            await page.waitForURL(`**/app/patients/${patientId}`);
            for (const name of ['Immunizations', 'Forecast', 'Data sharing']) await expectNamed(page, name, 'heading');
            for (const name of ['Yes', 'No']) await expectField(page, name, 'radio');
            await expectNamed(page, 'Record immunization', 'button');
            await expectNoSeriousViolations(page);

            await page.getByRole('button', { name: 'Record immunization', exact: true }).click();
            await page.getByRole('form', { name: 'Record immunization' }).waitFor();
            await expectField(page, 'Vaccine', 'combobox');
            await expectField(page, 'Date given', 'textbox');
            await expectField(page, 'Lot number', 'textbox');
            await expectNamed(page, 'Save', 'button');
            // Still announced as required (the asterisk's job), with the label left to the contract's words.
            for (const name of ['Vaccine', 'Date given']) {
              await expect(page.getByLabel(name, { exact: true }).evaluate((input) => (input as HTMLInputElement).required), `${name} required`).resolves.toBe(true);
            }
            await expectNoSeriousViolations(page);
          }

          await page.goto(`${origin}/app/reports`);
          await expectNamed(page, 'Run reminder/recall', 'button');
          await page.getByRole('button', { name: 'Run reminder/recall', exact: true }).click();
          await expectNamed(page, 'Download CSV', 'link');
          await expectNoSeriousViolations(page);
        } finally {
          await context.close();
        }
      }, 90_000);
    }
  }
});
