// Found probing the clinic web app as clinic staff use it, in a real browser (Debian's chromium
// through playwright-core) against a real server: a search matching more patients than the screen
// shows says so (it said "20 patients found" of 27); a child can be found by date of birth alone;
// a date the form cannot read moves the focus to it and clears the old rows; the Vaccine field is
// an ARIA combobox whose open suggestion list axe accepts; at 320 px (WCAG 1.4.10 reflow) a
// record's tables that scroll sideways can be reached and scrolled with the keyboard; the checks
// while typing are a status, not an alert; a dose stored with a bare CVX code is named.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import { browserMissingReason, expectNoSeriousViolations } from './browser.js';
import { CLINIC, isoDaysAgo } from './seed.js';
import { signInUser, signedInPage } from './sign-in.js';
import { startWebAppStack } from './stack.js';

const missing = browserMissingReason();
if (missing) console.log(`clinic web app search / suggestions / reflow browser tests SKIPPED: ${missing}`);

const NURSE = { username: 'nurse.reflow', password: 'reflow nurse password', organization: CLINIC, role: 'clinician' };
const NGUYENS = 27;

describe.skipIf(Boolean(missing))('clinic web app: many results, date of birth only, suggestions, 320 px', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  let childId: string;
  const childBirth = isoDaysAgo(430);

  beforeAll(async () => {
    ({ server, browser, origin } = await startWebAppStack());
    await server.fhir('PUT', CLINIC, { body: { resourceType: 'Organization', id: CLINIC.split('/')[1], name: 'Maple Pediatrics', active: true } });
    // Siblings and cousins of one common surname, none born on the child's birth date.
    for (let i = 0; i < NGUYENS; i++) {
      const created = await server.fhir('POST', 'Patient', {
        body: { resourceType: 'Patient', name: [{ family: 'Nguyen', given: [`Minh${String.fromCharCode(65 + (i % 26))}${i}`] }], gender: i % 2 ? 'male' : 'female', birthDate: isoDaysAgo(900 + i * 41), managingOrganization: { reference: CLINIC } },
      });
      expect(created.status).toBe(201);
    }
    const child = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Smith-Jones', given: ['Anna-Maria'] }], gender: 'female', birthDate: childBirth, managingOrganization: { reference: CLINIC } },
    });
    expect(child.status).toBe(201);
    childId = child.body.id;
    for (const [cvx, age] of [
      ['08', 0],
      ['20', 61],
      ['10', 61],
    ] as const) {
      const given = new Date(`${childBirth}T00:00:00Z`);
      given.setUTCDate(given.getUTCDate() + age);
      const dose = await server.fhir('POST', 'Immunization', {
        body: {
          resourceType: 'Immunization',
          status: 'completed',
          vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
          patient: { reference: `Patient/${childId}` },
          occurrenceDateTime: given.toISOString().slice(0, 10),
          primarySource: true,
          lotNumber: `LOT${cvx}`,
          performer: [{ actor: { reference: CLINIC } }],
        },
      });
      expect(dose.status).toBe(201);
    }
    ({ context, page } = await signedInPage(browser, origin, server.token(), NURSE));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
  });

  const summary = () => page.getByTestId('search-summary');
  const resultLinks = () => page.getByRole('table', { name: 'Search results' }).getByRole('link');

  it('says when more patients match than are shown, and not when all are', async () => {
    await page.goto(`${origin}/app/`);
    await page.getByLabel('Last name').fill('Nguyen');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => summary().innerText()).toMatch(/^More than 20 patients match: the first 20 are shown/);
    await expect(resultLinks().count()).resolves.toBe(20);
    await expectNoSeriousViolations(page);
    // Narrowed by first name: one child, and the count is the truth.
    await page.getByLabel('First name').fill('MinhC2');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => summary().innerText()).toMatch(/^1 patient found/);
  });

  it('finds a child by date of birth alone', async () => {
    await page.goto(`${origin}/app/`);
    await page.getByLabel('Date of birth').fill(childBirth);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => summary().innerText()).toMatch(/^1 patient found/);
    await expect(resultLinks().allInnerTexts()).resolves.toEqual(['Anna-Maria Smith-Jones']);
    await expectNoSeriousViolations(page);
    // Open the record, then Back: the same search is shown again.
    await resultLinks().first().click();
    await page.getByRole('heading', { name: 'Immunizations' }).waitFor();
    await page.goBack();
    await expect.poll(() => resultLinks().allInnerTexts()).toEqual(['Anna-Maria Smith-Jones']);
    await expect(page.getByLabel('Date of birth').inputValue()).resolves.toBe(childBirth);
  });

  it('a date it cannot read moves the focus to the field and clears the last rows', async () => {
    await page.goto(`${origin}/app/`);
    await page.getByLabel('Last name').fill('smith-j');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => resultLinks().count()).toBe(1);
    await page.getByLabel('Date of birth').fill('13/45/2020');
    await page.getByRole('button', { name: 'Search' }).click();
    const field = page.getByLabel('Date of birth');
    await expect.poll(() => field.getAttribute('aria-invalid')).toBe('true');
    await expect(field.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    await expect(resultLinks().count()).resolves.toBe(0);
    await expectNoSeriousViolations(page);
  });

  it('the Vaccine field is a combobox: its open suggestion list is announced and passes axe', async () => {
    await page.goto(`${origin}/app/patients/${childId}/immunizations/new`);
    const vaccine = page.getByRole('combobox', { name: 'Vaccine' });
    await vaccine.waitFor();
    await expect(vaccine.getAttribute('aria-expanded')).resolves.toBe('false');
    // "hep" matches more vaccines than the list shows at once: the list scrolls.
    await vaccine.fill('hep');
    const list = page.getByRole('listbox', { name: 'Matching codes' });
    await list.waitFor();
    await expect(vaccine.getAttribute('aria-expanded')).resolves.toBe('true');
    await expect(list.evaluate((el) => el.scrollHeight > el.clientHeight)).resolves.toBe(true);
    await expectNoSeriousViolations(page);
    // The arrow keys name the option they reach.
    await page.keyboard.press('ArrowDown');
    const active = await vaccine.getAttribute('aria-activedescendant');
    expect(active).toBeTruthy();
    await expect(page.locator(`[id="${active}"]`).getAttribute('role')).resolves.toBe('option');
    await page.keyboard.press('Escape');
    // No lot number: a warning while typing, said politely (a status), not as an alert.
    await vaccine.fill('08');
    await page.keyboard.press('Escape');
    const checks = page.getByRole('status').filter({ hasText: 'Data-quality checks' });
    await checks.filter({ hasText: 'Warnings (the dose can still be saved)' }).waitFor();
    await expect(checks.innerText()).resolves.toMatch(/lotNumber|lot number/i);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
  });

  it('names each dose of the history even when it was stored with a bare CVX code', async () => {
    await page.goto(`${origin}/app/patients/${childId}`);
    const history = page.getByRole('table', { name: 'Immunization history' });
    await history.waitFor();
    await expect.poll(() => history.innerText()).toMatch(/Hep B, adolescent or pediatric \(CVX 08\)/);
    await expect(history.innerText()).resolves.not.toMatch(/Vaccine \(CVX/);
  });

  it('a data-entry user sees the data-sharing status but no choice its account cannot record, and no Add user form', async () => {
    const entryContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    entryContext.setDefaultTimeout(10_000);
    try {
      const tab = await entryContext.newPage();
      await signInUser(tab, origin, server.token(), { username: 'entry.reflow', password: 'reflow entry password', organization: CLINIC, role: 'data-entry' });
      const consentWrites: string[] = [];
      tab.on('request', (r) => r.method() === 'POST' && /\/fhir\/Consent$/.test(r.url()) && consentWrites.push(r.url()));
      await tab.goto(`${origin}/app/patients/${childId}`);
      await tab.getByRole('heading', { name: 'Data sharing' }).waitFor();
      await tab.getByText('Your account cannot record this choice').waitFor();
      await expect(tab.getByRole('radio', { name: 'No' }).isDisabled()).resolves.toBe(true);
      await expect(tab.getByRole('radio', { name: 'Yes' }).isDisabled()).resolves.toBe(true);
      await tab.getByRole('radio', { name: 'No' }).click({ force: true });
      await tab.waitForTimeout(300);
      expect(consentWrites).toEqual([]);
      await expectNoSeriousViolations(tab);
      // The Users address (not in its menu): the reason, and no form its account would be refused.
      await tab.goto(`${origin}/app/users`);
      await tab.getByRole('alert').filter({ hasText: 'The users could not be listed' }).waitFor();
      await expect(tab.getByRole('button', { name: 'Add user' }).count()).resolves.toBe(0);
      await expect(tab.getByLabel(/^New username/).count()).resolves.toBe(0);
    } finally {
      await entryContext.close();
    }
    // A clinician still chooses.
    await page.goto(`${origin}/app/patients/${childId}`);
    await page.getByRole('heading', { name: 'Data sharing' }).waitFor();
    await expect(page.getByRole('radio', { name: 'No' }).isEnabled()).resolves.toBe(true);
  });

  it('at 320 px a record never scrolls sideways, and its wide tables scroll with the keyboard', async () => {
    await page.setViewportSize({ width: 320, height: 720 });
    try {
      await page.goto(`${origin}/app/patients/${childId}`);
      const forecast = page.getByRole('table', { name: /^Forecast/ }).first();
      await forecast.waitFor();
      await page.getByRole('table', { name: 'Immunization history' }).waitFor();
      await expect(page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).resolves.toBeLessThanOrEqual(0);
      await expectNoSeriousViolations(page);
      // The history's scroll box is a named region in the tab order; the arrow keys scroll it.
      const box = page.getByRole('region', { name: 'Immunization history' });
      await expect(box.getAttribute('tabindex')).resolves.toBe('0');
      await box.focus();
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowRight');
      await expect.poll(() => box.evaluate((el) => el.scrollLeft)).toBeGreaterThan(0);
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    // Wide enough for the table: no extra tab stop.
    await page.goto(`${origin}/app/patients/${childId}`);
    await page.getByRole('table', { name: 'Immunization history' }).waitFor();
    await expect(page.getByRole('region', { name: 'Immunization history' }).count()).resolves.toBe(0);
  });
});
