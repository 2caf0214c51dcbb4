// The clinic web app in a real browser (Debian's chromium through playwright-core) against a real
// server with seeded data: sign in, find a patient, read the record, record a dose, record the
// family's data-sharing choice, open a closed (Unknown) record, reports, duplicate review. axe-core
// runs on every screen at desktop, tablet (768 px) and 200 % zoom (0 serious/critical violations, no
// sideways scrolling); screenshots go to .tmp/webapp-screenshots.
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBuild, JS_BUDGET_BYTES } from '../../scripts/build-web.js';
import type { TestServer } from '../helpers/server.js';
import { browserMissingReason, screenshot } from './browser.js';
import { CLINIC, isoDaysAgo, OTHER_CLINIC, seedRegistry, type Seeded } from './seed.js';
import { checkEverySize, focusedName, retype, tabTo } from './keyboard.js';
import { createUser, lastSignInBreakdown, signInUser } from './sign-in.js';
import { startWebAppStack } from './stack.js';

const missing = browserMissingReason();
if (missing) console.log(`clinic web app browser tests SKIPPED: ${missing}`);

const NURSE = { username: 'nurse.maple', password: 'correct horse battery', organization: CLINIC, role: 'clinician' };

describe.skipIf(Boolean(missing))('clinic web app in a browser', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let seeded: Seeded;
  let origin: string;
  const problems: string[] = [];
  const figures: string[] = [];

  beforeAll(async () => {
    const stack = await startWebAppStack();
    ({ server, browser, origin } = stack);
    figures.push(describeBuild(stack.build));
    expect(stack.build.jsGzipBytes).toBeLessThanOrEqual(JS_BUDGET_BYTES);
    seeded = await seedRegistry(server);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    context.setDefaultTimeout(8000);
    page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  }, 90_000);

  afterAll(async () => {
    if (page) await screenshot(page, 'zz-last-state').catch(() => undefined);
    if (problems.length) console.log(`browser problems:\n  ${problems.join('\n  ')}`);
    if (figures.length) console.log(`clinic web app figures:\n  ${figures.join('\n  ')}`);
    await context?.close();
    await browser?.close();
    await server?.close();
  });

  // Every screen at desktop, tablet (768 px) and 200 % zoom: no sideways scrolling, axe 0 serious/critical.
  const accessible = async (name: string, on: Page = page) => {
    expect(await checkEverySize(on, name)).toEqual([]);
  };

  it('signs in through the authorization server and lands on a usable search screen', async () => {
    const usable = await signInUser(page, origin, server.token(), NURSE, () => accessible('00-sign-in'));
    figures.push(`first screen usable ${usable} ms after "Sign in" (goal < 1500 ms): ${lastSignInBreakdown}`);
    expect(page.url()).toBe(`${origin}/app/`);
    await expect(page.getByRole('heading', { level: 1, name: 'Find a patient' }).isVisible()).resolves.toBe(true);
    await accessible('01-find-patient');
  });

  it('finds a patient from another provider, ranked by $match with its grade', async () => {
    await page.getByLabel('Last name').fill('Rivera');
    await page.getByLabel('First name').fill('Ava');
    await page.getByLabel('Date of birth').fill(seeded.ava.birthDate);
    const started = Date.now();
    await page.getByRole('button', { name: 'Search' }).click();
    const link = page.getByRole('table', { name: 'Search results' }).getByRole('link', { name: 'Ava Lucia Rivera' });
    await link.waitFor();
    figures.push(`search results shown ${Date.now() - started} ms after "Search" (small registry; goal < 300 ms)`);
    const firstRow = page.getByRole('table', { name: 'Search results' }).locator('tbody tr').first();
    await expect(firstRow.textContent()).resolves.toMatch(/Ava Lucia Rivera.*(certain|probable) \d+%/);
    await accessible('02-search-results');
  });

  it('offers to add a patient the search does not find, and saves the new record', async () => {
    await page.getByLabel('Last name').fill('Delacroix');
    await page.getByLabel('First name').fill('Maya');
    await page.getByLabel('Date of birth').fill('03/14/2025');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No patient matches these details.').waitFor();
    await page.getByRole('button', { name: 'Add patient' }).click();
    await page.getByRole('heading', { level: 1, name: 'Add patient' }).waitFor();
    await expect(page.getByLabel('Last name').inputValue()).resolves.toBe('Delacroix');
    await expect(page.getByLabel('Date of birth').inputValue()).resolves.toBe('2025-03-14');
    await page.getByLabel('Gender').selectOption('female');
    await accessible('03-add-patient');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { level: 1, name: 'Maya Delacroix' }).waitFor();
    await page.getByText('The patient was saved.').waitFor();
    const stored = await server.fhir('GET', 'Patient?family=Delacroix');
    expect(stored.body.entry).toHaveLength(1);
    expect(stored.body.entry[0].resource.managingOrganization.reference).toBe(CLINIC);
  });

  it("shows the record: demographics, history with its CDSi evaluation, the forecast and data sharing", async () => {
    await page.goto(`${origin}/app/?family=Rivera&given=Ava&birthDate=${seeded.ava.birthDate}`);
    await page.getByRole('link', { name: 'Ava Lucia Rivera' }).click();
    await page.getByRole('heading', { level: 1, name: 'Ava Lucia Rivera' }).waitFor();
    for (const name of ['Immunizations', 'Forecast', 'Data sharing']) {
      await expect(page.getByRole('heading', { level: 2, name }).isVisible()).resolves.toBe(true);
    }
    const history = page.getByRole('table', { name: 'Immunization history' });
    await history.waitFor();
    await expect(history.locator('tbody tr').count()).resolves.toBe(seeded.ava.doses);
    await expect(page.getByText('413-555-0142').isVisible()).resolves.toBe(true);
    // The forecast ($immds-forecast on the stored record): due and overdue groups flagged in words.
    const forecast = page.getByRole('table', { name: 'Forecast by vaccine group' });
    await forecast.waitFor();
    await expect(forecast.getByRole('row', { name: /DTaP\/Tdap\/Td/ }).textContent()).resolves.toMatch(/Overdue|Due now/);
    await expect(forecast.getByRole('row', { name: /^MMR/ }).textContent()).resolves.toMatch(/Due now/);
    // Each dose carries its CDSi evaluation per antigen.
    await expect(history.getByRole('row', { name: /DTaP/ }).first().textContent()).resolves.toMatch(/ValidDiphtheria.*ValidPertussis/);
    await accessible('04-patient-record');
  });

  it('records an immunization: vaccine suggestions, data-quality warnings before saving, then Save', async () => {
    await page.getByRole('button', { name: 'Record immunization' }).click();
    await page.getByRole('heading', { level: 1, name: 'Record immunization' }).waitFor();
    for (const name of ['Vaccine', 'Date given', 'Lot number']) await expect(page.getByLabel(name).count()).resolves.toBe(1);
    await page.getByLabel('Vaccine').fill('MMR');
    await page.getByRole('option', { name: /^CVX 03 MMR/ }).click();
    await expect(page.getByLabel('Vaccine').inputValue()).resolves.toMatch(/^CVX 03 MMR/);
    await expect(page.getByLabel('Date given').inputValue()).resolves.toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // No lot number yet: the server's lot-number-missing warning shows before saving.
    await page.getByText(/lot/i).filter({ hasText: /Warnings|lot number/i }).first().waitFor();
    await page.getByLabel('Lot number').fill('MMR2291');
    await page.getByLabel('Expiration date').fill(isoDaysAgo(10));
    await page.getByText(/expir/i).filter({ hasText: /Expiration date:|expired/i }).first().waitFor();
    await accessible('05-record-immunization-warnings');
    await page.getByLabel('Expiration date').fill(isoDaysAgo(-200));
    await page.getByLabel('Site').selectOption('LT');
    await page.getByLabel('Route').selectOption('SQ');
    await page.getByLabel('VIS date').fill('2021-08-06');
    await page.getByLabel('Funding').selectOption('V02');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('The immunization was recorded.').waitFor();
    const history = page.getByRole('table', { name: 'Immunization history' });
    await history.getByText('MMR2291').waitFor();
    const stored = await server.fhir('GET', `Immunization?patient=Patient/${seeded.ava.id}&lot-number=MMR2291`);
    const dose = stored.body.entry?.[0]?.resource ?? (await server.fhir('GET', `Immunization?patient=Patient/${seeded.ava.id}`)).body.entry.map((e: any) => e.resource).find((r: any) => r.lotNumber === 'MMR2291');
    expect(dose.vaccineCode.coding[0]).toMatchObject({ system: 'http://hl7.org/fhir/sid/cvx', code: '03' });
    expect(dose.site.coding[0].code).toBe('LT');
    expect(dose.route.coding[0].code).toBe('SQ');
    expect(dose.programEligibility[0].coding[0].code).toBe('V02');
    expect(dose.education[0].publicationDate).toBe('2021-08-06');
    expect(dose.performer[0].actor.reference).toBe(CLINIC);
  });

  it('shows a refused save in plain words, with the field to fix', async () => {
    await page.getByRole('button', { name: 'Record immunization' }).click();
    await page.getByLabel('Vaccine').fill('03');
    await page.getByLabel('Date given').fill(isoDaysAgo(3000));
    await page.getByLabel('Lot number').fill('X1');
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'did not accept' });
    await alert.waitFor();
    await expect(alert.textContent()).resolves.toMatch(/Date given:/);
    await accessible('06-record-immunization-refused');
    await page.getByRole('button', { name: 'Cancel' }).click();
  });

  it("records the family's objection to sharing and its withdrawal, keeping the history", async () => {
    await page.getByRole('heading', { level: 2, name: 'Data sharing' }).waitFor();
    // The contract's names stay unambiguous however a test looks them up (label text is matched
    // as a substring, so no other label on the record may contain "yes" or "no").
    for (const name of ['Yes', 'No']) await expect(page.getByLabel(name).count()).resolves.toBe(1);
    await page.getByRole('radio', { name: 'No' }).check();
    await page.getByText('Recorded: the family objects to sharing this record.').waitFor();
    await page.getByRole('table', { name: 'Data-sharing history' }).getByRole('cell', { name: 'No' }).waitFor();
    await page.getByRole('radio', { name: 'Yes' }).check();
    await page.getByText('Recorded: the family agrees to share this record.').waitFor();
    const rows = page.getByRole('table', { name: 'Data-sharing history' }).locator('tbody tr');
    await expect(rows.count()).resolves.toBe(2);
    const consents = await server.fhir('GET', `Consent?patient=Patient/${seeded.ava.id}`);
    expect(consents.body.entry.map((e: any) => e.resource.provision.type).sort()).toEqual(['deny', 'permit']);
    await accessible('07-data-sharing');
  });

  it('keeps an Unknown record closed until Yes or No is recorded', async () => {
    await page.goto(`${origin}/app/patients/${seeded.noah.id}`);
    await page.getByText('Record closed').waitFor();
    await expect(page.getByRole('heading', { name: 'Immunizations' }).count()).resolves.toBe(0);
    await accessible('08-record-closed');
    await page.getByRole('radio', { name: 'Yes' }).check();
    await page.getByRole('heading', { level: 1, name: 'Noah Whitfield' }).waitFor();
    await expect(page.getByRole('heading', { level: 2, name: 'Immunizations' }).isVisible()).resolves.toBe(true);
  });

  it('works with the keyboard only: search, open a record', async () => {
    await page.goto(`${origin}/app/`);
    await page.getByRole('heading', { level: 1, name: 'Find a patient' }).waitFor();
    // The page's heading takes focus when a screen opens; the next Tab reaches the first field.
    await expect(page.evaluate(() => document.activeElement?.tagName)).resolves.toBe('H1');
    const focusedLabel = () => page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.labels?.[0]?.textContent ?? document.activeElement?.textContent ?? '');
    await page.keyboard.press('Tab');
    await expect(focusedLabel()).resolves.toMatch(/^Last name/);
    await page.keyboard.type('Rivera');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Ava');
    await page.keyboard.press('Tab');
    await page.keyboard.type(seeded.ava.birthDate);
    await page.keyboard.press('Enter');
    await page.getByRole('link', { name: 'Ava Lucia Rivera' }).waitFor();
    for (let i = 0; i < 12 && (await focusedLabel()) !== 'Ava Lucia Rivera'; i++) await page.keyboard.press('Tab');
    await expect(focusedLabel()).resolves.toBe('Ava Lucia Rivera');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Ava Lucia Rivera' }).waitFor();
    await expect(page.evaluate(() => document.activeElement?.tagName)).resolves.toBe('H1');
  });

  it('runs the reminder/recall list with a CSV download, and the coverage chart', async () => {
    await page.getByRole('link', { name: 'Reports' }).click();
    await page.getByRole('heading', { level: 1, name: 'Reports' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/app/reports');
    await expect(page.getByLabel('Practice (organization)').inputValue()).resolves.toBe(CLINIC);
    await page.getByRole('button', { name: 'Run reminder/recall' }).click();
    const recall = page.getByRole('table', { name: 'Reminder/recall list' });
    await expect(recall.textContent()).resolves.toMatch(/Ava Lucia Rivera/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
    const csv = await readFile((await download.path()) as string, 'utf8');
    expect(csv).toMatch(/Rivera/);
    figures.push(`reminder/recall CSV: ${csv.trim().split('\n').length} lines`);
    // A clinician's token reads Measures: the practice's coverage chart, with its figures as a table.
    await page.getByRole('button', { name: 'Show coverage' }).click();
    await page.getByRole('img', { name: /Coverage by vaccine and age group/ }).waitFor();
    await page.getByRole('table', { name: 'Coverage figures' }).waitFor();
    await accessible('09-reports');
  });

  it('reviews a possible duplicate side by side and merges it after a preview', async () => {
    await page.getByRole('link', { name: 'Possible duplicates' }).click();
    await page.getByRole('heading', { level: 1, name: 'Possible duplicates' }).waitFor();
    await page.getByRole('link', { name: 'Liam Okafor' }).waitFor();
    await accessible('10-duplicates');
    await page.getByRole('link', { name: 'Liam Okafor' }).click();
    const table = page.getByRole('table', { name: 'Records side by side' });
    await table.waitFor();
    await expect(table.textContent()).resolves.toMatch(/Baby Boy Okafor/);
    await page.getByRole('button', { name: 'Preview merge' }).click();
    await page.getByText(/Would merge/).waitFor();
    await accessible('11-duplicate-review');
    await page.getByRole('button', { name: 'Merge records' }).click();
    await page.getByText(/^Merged Patient/).waitFor();
    await page.getByRole('link', { name: 'Open the merged record' }).waitFor();
    await accessible('11a-duplicate-merged');
    const source = await server.fhir('GET', `Patient/${seeded.duplicate.id}`);
    expect(source.body.active).toBe(false);
    expect(source.body.link[0]).toMatchObject({ type: 'replaced-by', other: { reference: `Patient/${seeded.duplicate.of}` } });
  });

  it('keeps twins apart: "Not the same child" after a confirmation, and the pair leaves the list', async () => {
    const before = (await server.fhir('GET', `Patient/${seeded.twin.id}`)).body;
    await page.goto(`${origin}/app/duplicates`);
    await page.getByRole('heading', { level: 1, name: 'Possible duplicates' }).waitFor();
    await page.getByRole('link', { name: 'Efua Mensah' }).click();
    const table = page.getByRole('table', { name: 'Records side by side' });
    await table.waitFor();
    await expect(table.textContent()).resolves.toMatch(/Baby Girl Mensah/);
    await page.getByRole('button', { name: 'Not the same child' }).click();
    const confirm = page.getByRole('group', { name: 'Not the same child?' });
    await confirm.waitFor();
    await expect(confirm.textContent()).resolves.toMatch(/two different children.*Nothing else changes/);
    expect(await focusedName(page)).toBe('Not the same child?');
    await accessible('11b-not-same-confirm');
    // Cancel changes nothing and gives the focus back.
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    expect(await focusedName(page)).toBe('Not the same child');
    expect((await server.fhir('GET', `Patient/${seeded.twin.id}`)).body.meta.versionId).toBe(before.meta.versionId);

    await page.getByRole('button', { name: 'Not the same child' }).click();
    await confirm.getByRole('button', { name: 'Yes, keep them separate' }).click();
    const done = page.getByRole('status').filter({ hasText: 'recorded as different children' });
    await done.waitFor();
    await expect(done.textContent()).resolves.toMatch(/no longer waiting for review/);
    await accessible('11c-not-same-done');

    const after = (await server.fhir('GET', `Patient/${seeded.twin.id}`)).body;
    expect(after.meta.tag).toEqual([{ system: 'https://example.org/clinic-flags', code: 'twin', display: 'Multiple birth' }]);
    expect(after.extension ?? []).toEqual((before.extension ?? []).filter((x: { url: string }) => !x.url.endsWith('/possible-duplicate-of')));
    expect(after.active).not.toBe(false);
    const content = ({ meta, extension, ...rest }: Record<string, unknown>) => rest;
    expect(content(after)).toEqual(content(before));
    expect(Number(after.meta.versionId)).toBe(Number(before.meta.versionId) + 1);
    const other = (await server.fhir('GET', `Patient/${seeded.twin.of}`)).body;
    expect(other.active).not.toBe(false);

    await page.getByRole('link', { name: 'Back to possible duplicates' }).click();
    await page.getByRole('heading', { level: 1, name: 'Possible duplicates' }).waitFor();
    await page.getByText('No records are waiting for review.').waitFor();
    await expect(page.getByRole('link', { name: 'Efua Mensah' }).count()).resolves.toBe(0);
  });

  it('says plainly when the record changed before "Not the same child" was confirmed (412)', async () => {
    // A second look-alike pair, made here: the page is opened, then the record changes underneath.
    const birthDate = isoDaysAgo(60);
    const first = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Lindqvist', given: ['Baby Boy'] }], birthDate, gender: 'male', address: [{ line: ['3 Pine Lane'], city: 'Hadley', state: 'MA', postalCode: '01035' }] } });
    const second = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Lindqvist', given: ['Oskar'] }], birthDate, gender: 'male' } });
    expect(first.status).toBe(201);
    expect(second.body.meta.tag.some((t: { code: string }) => t.code === 'possible-duplicate')).toBe(true);
    await page.goto(`${origin}/app/duplicates/${second.body.id}`);
    await page.getByRole('table', { name: 'Records side by side' }).waitFor();
    const changed = await server.fhir('PUT', `Patient/${second.body.id}`, { body: { ...second.body, telecom: [{ system: 'phone', value: '413-555-0123' }] } });
    expect(changed.status).toBe(200);
    await page.getByRole('button', { name: 'Not the same child' }).click();
    await page.getByRole('button', { name: 'Yes, keep them separate' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Nothing was changed' });
    await alert.waitFor();
    await expect(alert.textContent()).resolves.toMatch(/record changed after the page was opened.*Reload the page/);
    await accessible('11d-not-same-changed');
    const now = (await server.fhir('GET', `Patient/${second.body.id}`)).body;
    expect(now.meta.versionId).toBe(changed.body.meta.versionId);
    expect(now.meta.tag.some((t: { code: string }) => t.code === 'possible-duplicate')).toBe(true);
  });

  it("lets a site administrator manage the facility's users", async () => {
    const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    adminContext.setDefaultTimeout(8000);
    const adminPage = await adminContext.newPage();
    try {
      await signInUser(adminPage, origin, server.token(), { username: 'admin.maple', password: 'site admin password', organization: CLINIC, role: 'site-admin' });
      await adminPage.getByRole('link', { name: 'Users' }).click();
      await adminPage.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
      const users = adminPage.getByRole('table', { name: 'Users' });
      await users.getByRole('rowheader', { name: 'nurse.maple' }).waitFor();
      await adminPage.getByLabel('New username').fill('clerk.maple');
      await adminPage.getByLabel('Initial password').fill('clerk password 1');
      await adminPage.getByLabel('Role', { exact: true }).selectOption('data-entry');
      await adminPage.getByRole('button', { name: 'Add user' }).click();
      await users.getByRole('rowheader', { name: 'clerk.maple' }).waitFor();
      await adminPage.getByRole('button', { name: 'Disable clerk.maple' }).click();
      await adminPage.getByText('clerk.maple is disabled.').waitFor();
      await accessible('13-users', adminPage);
      // A site-admin's token may read every type of its facility, Measures included: the coverage chart.
      await adminPage.getByRole('link', { name: 'Reports' }).click();
      await adminPage.getByRole('button', { name: 'Show coverage' }).click();
      await adminPage.getByRole('img', { name: /Coverage by vaccine and age group/ }).waitFor();
      const figures = adminPage.getByRole('table', { name: 'Coverage figures' });
      // Mia (30 months, all childhood doses here) is the childhood measure's one patient.
      await expect(figures.getByRole('row', { name: /^Combined 7-series/ }).textContent()).resolves.toMatch(/Children 24–35 months\d+1\d/);
      await accessible('15-coverage-chart', adminPage);
    } finally {
      await adminContext.close();
    }
  });

  it('raised no errors in the browser along the way', () => {
    expect(problems).toEqual([]);
  });

  it('says in words when the sign-in has ended, and signs in again to the same page', async () => {
    await page.evaluate(() => {
      const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
      const state = JSON.parse(sessionStorage.getItem(key) ?? '{}');
      state.tokenResponse.access_token = 'no-longer-valid';
      sessionStorage.setItem(key, JSON.stringify(state));
    });
    await page.goto(`${origin}/app/patients/${seeded.ava.id}`);
    await page.getByRole('heading', { level: 1, name: 'Signed out' }).waitFor();
    await expect(page.getByText('Your sign-in has ended').isVisible()).resolves.toBe(true);
    await accessible('14-signed-out');
    await page.getByRole('button', { name: 'Sign in again' }).click();
    // The sign-in server may still hold the user's session (no form then); otherwise sign in.
    const record = page.getByRole('heading', { level: 1, name: 'Ava Lucia Rivera' });
    await page.getByLabel('Username').or(record).first().waitFor();
    if (await page.getByLabel('Username').count()) {
      await page.getByLabel('Username').fill(NURSE.username);
      await page.getByLabel('Password').fill(NURSE.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await record.waitFor();
    expect(new URL(page.url()).pathname).toBe(`/app/patients/${seeded.ava.id}`);
  });
});

// The "Done when", tried as a new user would, with the keyboard only, every screen checked
// at desktop, tablet (768 px) and 200 % zoom with axe: a nurse signs in, finds a new patient's
// record from other providers, sees what is due today, records the dose she gives, records the
// family's objection to sharing, and the clinic manager downloads this month's reminder/recall list.
describe.skipIf(Boolean(missing))('the nurse and the clinic manager, end to end, keyboard only', () => {
  let server: TestServer;
  let browser: Browser;
  let seeded: Seeded;
  let origin: string;
  const problems: string[] = [];

  beforeAll(async () => {
    ({ server, browser, origin } = await startWebAppStack());
    seeded = await seedRegistry(server);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A new tab for a new user; browser errors are collected as problems. */
  const newTab = async (): Promise<{ tab: Page; context: BrowserContext }> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    context.setDefaultTimeout(10_000);
    const tab = await context.newPage();
    tab.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    return { tab, context };
  };

  const signInWithKeyboard = async (tab: Page, user: { username: string; password: string; organization: string; role: string }, screen?: string) => {
    await createUser(origin, server.token(), user);
    await tab.goto(`${origin}/app/`);
    await tab.getByLabel('Username').waitFor();
    if (screen) problems.push(...(await checkEverySize(tab, `story-${screen}`)));
    await tabTo(tab, 'Username');
    await tab.keyboard.type(user.username);
    await tabTo(tab, 'Password');
    await tab.keyboard.type(user.password);
    await tab.keyboard.press('Enter');
    // A reports user may not search patients: its first screen is Reports.
    await tab.getByRole('heading', { level: 1, name: user.role === 'reports' ? 'Reports' : 'Find a patient' }).waitFor();
    // The screen opens with its heading focused, so the next Tab starts at the page's content.
    await expect(tab.evaluate(() => document.activeElement?.tagName)).resolves.toBe('H1');
  };

  const search = async (tab: Page, family: string, given: string, birthDate: string) => {
    await tabTo(tab, 'Last name');
    await retype(tab, family);
    await tabTo(tab, 'First name');
    await retype(tab, given);
    await tabTo(tab, 'Date of birth');
    await retype(tab, birthDate);
    await tab.keyboard.press('Enter');
  };

  it('signs in, finds, reads what is due, records the dose and the objection; the manager downloads the list', async () => {
    const nurse = { username: 'nurse.birch', password: 'birch nurse password', organization: CLINIC, role: 'clinician' };
    const { tab, context } = await newTab();
    try {
      // 1. Sign in on the registry's own sign-in page.
      await signInWithKeyboard(tab, nurse, 'sign-in');
      problems.push(...(await checkEverySize(tab, 'story-find-patient')));

      // 2. A first try with the family name and the birth year wrong: nobody found, adding is offered.
      const usDate = (iso: string) => `${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(0, 4)}`;
      const wrongYear = `${Number(seeded.sofia.birthDate.slice(0, 4)) - 4}${seeded.sofia.birthDate.slice(4)}`;
      await search(tab, 'Delgado', 'Sofia', usDate(wrongYear));
      await tab.getByText('No patient matches these details.').waitFor();
      await tabTo(tab, 'Add patient');
      problems.push(...(await checkEverySize(tab, 'story-not-found')));

      // 3. The right date: her record from the other clinic, ranked with its grade; open it.
      await search(tab, 'Marquez', 'Sofia', usDate(seeded.sofia.birthDate));
      const results = tab.getByRole('table', { name: 'Search results' });
      await results.getByRole('link', { name: 'Sofia Marquez' }).waitFor();
      await expect(results.locator('tbody tr').first().textContent()).resolves.toMatch(/Sofia Marquez.*(certain|probable) \d+%/);
      problems.push(...(await checkEverySize(tab, 'story-search-results')));
      await tabTo(tab, 'Sofia Marquez');
      await tab.keyboard.press('Enter');
      await tab.getByRole('heading', { level: 1, name: 'Sofia Marquez' }).waitFor();

      // 4. What is due today: the forecast says so in words and flags each group.
      const forecast = tab.getByRole('table', { name: 'Forecast by vaccine group' });
      await forecast.waitFor();
      await expect(tab.getByText(/\d+ vaccine groups are due or overdue/).isVisible()).resolves.toBe(true);
      await expect(forecast.getByRole('row', { name: /^MMR/ }).textContent()).resolves.toMatch(/Due now|Overdue/);
      await expect(tab.getByRole('table', { name: 'Immunization history' }).locator('tbody tr').count()).resolves.toBe(seeded.sofia.doses);
      problems.push(...(await checkEverySize(tab, 'story-patient-record')));

      // 5. The dose she gives: MMR chosen from the suggestions, a wrong date refused in words first.
      await tabTo(tab, 'Record immunization');
      await tab.keyboard.press('Enter');
      await tab.getByRole('heading', { level: 1, name: 'Record immunization' }).waitFor();
      await tabTo(tab, 'Vaccine');
      await tab.keyboard.type('MMR');
      const option = tab.getByRole('option', { name: /^CVX 03 MMR/ });
      await option.waitFor();
      for (let i = 0; i < 15 && (await option.getAttribute('aria-selected')) !== 'true'; i++) await tab.keyboard.press('ArrowDown');
      await tab.keyboard.press('Enter');
      await expect(tab.getByLabel('Vaccine').inputValue()).resolves.toMatch(/^CVX 03 MMR/);
      await tabTo(tab, 'Date given');
      await retype(tab, usDate(isoDaysAgo(500)));
      await tabTo(tab, 'Lot number');
      await tab.keyboard.type('MMR7781');
      await tabTo(tab, 'Save');
      await tab.keyboard.press('Enter');
      const refused = tab.getByRole('alert').filter({ hasText: 'did not accept' });
      await refused.waitFor();
      // What went wrong, in words, naming the field to correct.
      await expect(refused.textContent()).resolves.toMatch(/Correct them and save again.*Date given:.*birth/);
      problems.push(...(await checkEverySize(tab, 'story-record-immunization-refused')));
      await tabTo(tab, 'Date given', { backwards: true });
      await retype(tab, isoDaysAgo(0));
      await tabTo(tab, 'Save');
      await tab.keyboard.press('Enter');
      await tab.getByText('The immunization was recorded.').waitFor();
      await tab.getByRole('table', { name: 'Immunization history' }).getByText('MMR7781').waitFor();
      await expect(forecast.getByRole('row', { name: /^MMR/ }).textContent()).resolves.not.toMatch(/Due now|Overdue/);

      // 6. The family objects to sharing: "No", recorded at once, with its history.
      await tabTo(tab, /^(Yes|No)$/);
      if ((await focusedName(tab)) === 'Yes') await tab.keyboard.press('ArrowRight');
      await tab.getByText('Recorded: the family objects to sharing this record.').waitFor();
      await tab.getByRole('table', { name: 'Data-sharing history' }).getByRole('cell', { name: 'No' }).waitFor();
      problems.push(...(await checkEverySize(tab, 'story-data-sharing-no')));
      const consents = await server.fhir('GET', `Consent?patient=Patient/${seeded.sofia.id}`);
      expect(consents.body.entry.map((e: any) => [e.resource.provision.type, e.resource.organization[0].reference])).toEqual([['deny', CLINIC]]);
      const dose = (await server.fhir('GET', `Immunization?patient=Patient/${seeded.sofia.id}`)).body.entry.map((e: any) => e.resource).find((r: any) => r.lotNumber === 'MMR7781');
      expect(dose).toMatchObject({ occurrenceDateTime: isoDaysAgo(0), vaccineCode: { coding: [{ code: '03' }] }, performer: [{ actor: { reference: CLINIC } }] });
    } finally {
      await context.close();
    }

    // 7. The other clinic no longer finds her, and her record's address says why, in words.
    const other = await newTab();
    try {
      await signInWithKeyboard(other.tab, { username: 'nurse.river', password: 'river nurse password', organization: OTHER_CLINIC, role: 'clinician' });
      await search(other.tab, 'Marquez', 'Sofia', seeded.sofia.birthDate);
      await other.tab.getByText('No patient matches these details.').waitFor();
      await other.tab.goto(`${origin}/app/patients/${seeded.sofia.id}`);
      await other.tab.getByRole('alert').filter({ hasText: 'chosen not to share' }).waitFor();
      problems.push(...(await checkEverySize(other.tab, 'story-record-not-shared')));
    } finally {
      await other.context.close();
    }

    // 8. The clinic manager runs this month's reminder/recall list and downloads it (one CSV request).
    const manager = await newTab();
    try {
      const csvRequests: string[] = [];
      manager.tab.on('request', (r) => {
        if (/\$reminder-recall\?.*_format=text%2Fcsv/.test(r.url())) csvRequests.push(r.url());
      });
      await signInWithKeyboard(manager.tab, { username: 'manager.birch', password: 'birch manager password', organization: CLINIC, role: 'reports' });
      await tabTo(manager.tab, 'Reports');
      await manager.tab.keyboard.press('Enter');
      await manager.tab.getByRole('heading', { level: 1, name: 'Reports' }).waitFor();
      const endOfMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 0)).toISOString().slice(0, 10);
      await tabTo(manager.tab, 'As of');
      await retype(manager.tab, endOfMonth);
      await manager.tab.keyboard.press('Enter');
      const list = manager.tab.getByRole('table', { name: 'Reminder/recall list' });
      // By name, not as links: a reports user cannot open the records.
      await list.getByRole('cell', { name: 'Sofia Marquez' }).first().waitFor();
      await expect(list.getByRole('link').count()).resolves.toBe(0);
      expect(csvRequests, 'running the list asks for no CSV').toEqual([]);
      problems.push(...(await checkEverySize(manager.tab, 'story-reminder-recall')));
      await tabTo(manager.tab, 'Download CSV');
      const [download] = await Promise.all([manager.tab.waitForEvent('download'), manager.tab.keyboard.press('Enter')]);
      expect(download.suggestedFilename()).toBe(`reminder-recall-${endOfMonth}.csv`);
      const csv = await readFile((await download.path()) as string, 'utf8');
      expect(csv.split(/\r?\n/)[0]).toBe('id,name,birthDate,phone,address,vaccineGroup,dose,recommended,pastDue,status');
      expect(csv).toMatch(new RegExp(`^${seeded.sofia.id},[^\\n]*Marquez[^\\n]*413-555-0187`, 'm'));
      expect(csvRequests, 'the CSV is fetched once').toHaveLength(1);
    } finally {
      await manager.context.close();
    }
    expect(problems).toEqual([]);
  }, 240_000);
});
