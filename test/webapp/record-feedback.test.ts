// What the clinic web app tells the user after Save, in a real browser (Debian's chromium through
// playwright-core) against a real server: the rule warnings the registry stored a dose with are
// shown on the record, and focused, even when Save was pressed before the checks-while-typing came back; a
// refused save keeps the form, marks the field the registry names (aria-invalid, its words linked
// by aria-describedby) and moves the focus there; choosing Yes / No for data sharing with the
// keyboard keeps the focus on the choice and stores the Consent CONTRACT.md "Data sharing" reads;
// Search and Run reminder/recall keep the focus while they work; a slow Save does not pull a user
// who went elsewhere back to the record; a merged-away record leads to the one it was merged into.
// axe runs on each state.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import { browserMissingReason, expectNoSeriousViolations } from './browser.js';
import { focusedName, tabTo } from './keyboard.js';
import { CLINIC, isoDaysAgo, OTHER_CLINIC } from './seed.js';
import { signInUser, signedInPage } from './sign-in.js';
import { startWebAppStack } from './stack.js';

const missing = browserMissingReason();
if (missing) console.log(`clinic web app save-feedback browser tests SKIPPED: ${missing}`);

const NURSE = { username: 'nurse.feedback', password: 'feedback nurse password', organization: CLINIC, role: 'clinician' };

describe.skipIf(Boolean(missing))('clinic web app: what Save tells the user', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  let patientId: string;
  const birthDate = isoDaysAgo(70);

  beforeAll(async () => {
    ({ server, browser, origin } = await startWebAppStack());
    const created = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ family: "O'Brien", given: ['Siobhán'] }], gender: 'female', birthDate, managingOrganization: { reference: CLINIC } },
    });
    expect(created.status).toBe(201);
    patientId = created.body.id;
    ({ context, page } = await signedInPage(browser, origin, server.token(), NURSE));
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
  });


  /** The text an element's aria-describedby points at. */
  const description = (label: string) =>
    page.getByLabel(label).evaluate((el) =>
      (el.getAttribute('aria-describedby') ?? '')
        .split(/\s+/)
        .map((id) => (id ? (document.getElementById(id)?.textContent ?? '') : ''))
        .join(' ')
    );

  it('shows the warnings the dose was stored with on the record, even when Save came before the checks', async () => {
    await page.goto(`${origin}/app/patients/${patientId}/immunizations/new`);
    await page.getByLabel('Vaccine').waitFor();
    // CVX 01 (DTP) is inactive today; no lot number: saved with two warnings. Save at once, before
    // the form's debounced $validate could answer.
    await page.getByLabel('Vaccine').fill('01');
    await page.getByRole('button', { name: 'Save' }).click();
    const saved = page.getByRole('status').filter({ hasText: 'The immunization was recorded.' });
    await saved.waitFor();
    const text = await saved.innerText();
    expect(text).toContain('data-quality warnings');
    expect(text).toMatch(/Vaccine: CVX 01 \(DTP\) is Inactive/);
    expect(text).toMatch(/Lot number: .*no lotNumber/);
    // The focus is on that notice, so a screen reader reads what the save answered.
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent ?? '')).toContain('The immunization was recorded.');
    await page.getByRole('table', { name: 'Immunization history' }).getByText('CVX 01').waitFor();
    await expectNoSeriousViolations(page);
    // Said once: a reload of the record does not announce the save again.
    await page.reload();
    await page.getByRole('table', { name: 'Immunization history' }).getByText('CVX 01').waitFor();
    await expect(page.getByText('The immunization was recorded.').count()).resolves.toBe(0);
    expect(new URL(page.url()).search).toBe('');
  });

  it('keeps a refused form, marks the field the registry names, and moves the focus to it', async () => {
    await page.getByRole('button', { name: 'Record immunization' }).click();
    await page.getByLabel('Vaccine').fill('20');
    await page.getByLabel('Lot number').fill('LOT-7');
    await page.getByLabel('Date given').fill(isoDaysAgo(100));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').filter({ hasText: 'The immunization was not saved' }).waitFor();
    // The focus is on the field to correct, which says what is wrong (not on the page's body).
    await expect.poll(() => focusedName(page)).toBe('Date given');
    await expect(page.getByLabel('Date given').getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(description('Date given')).resolves.toMatch(/before the patient's birth date/);
    // Nothing typed was lost.
    await expect(page.getByLabel('Vaccine').inputValue()).resolves.toBe('20');
    await expect(page.getByLabel('Lot number').inputValue()).resolves.toBe('LOT-7');
    await expectNoSeriousViolations(page);
    // Correcting the date clears the mark; Save then records the dose without warnings.
    await page.getByLabel('Date given').fill(isoDaysAgo(0));
    await expect(page.getByLabel('Date given').getAttribute('aria-invalid')).resolves.not.toBe('true');
    await page.getByRole('button', { name: 'Save' }).click();
    const saved = page.getByRole('status').filter({ hasText: 'The immunization was recorded.' });
    await saved.waitFor();
    expect(await saved.innerText()).not.toContain('warnings');
  });

  it('records No with the keyboard, keeps the focus on the choice, and stores the contract Consent', async () => {
    await page.getByRole('heading', { name: 'Data sharing' }).waitFor();
    await tabTo(page, 'Yes');
    await page.keyboard.press('ArrowRight');
    await page.getByText('Recorded: the family objects to sharing this record.').waitFor();
    await expect(focusedName(page)).resolves.toBe('No');
    await expectNoSeriousViolations(page);

    const consents = await server.fhir('GET', `Consent?patient=Patient/${patientId}`);
    expect(consents.status).toBe(200);
    const stored = (consents.body.entry ?? []).map((e: { resource: any }) => e.resource);
    expect(stored).toHaveLength(1);
    const [consent] = stored;
    expect(consent.status).toBe('active');
    expect(consent.scope.coding).toContainEqual(expect.objectContaining({ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }));
    expect(consent.category.flatMap((c: { coding: unknown[] }) => c.coding)).toContainEqual(expect.objectContaining({ system: 'http://loinc.org', code: '59284-0' }));
    expect(consent.patient.reference).toBe(`Patient/${patientId}`);
    expect(consent.provision.type).toBe('deny');
    expect(consent.organization.map((o: { reference: string }) => o.reference)).toEqual([CLINIC]);
    expect(Number.isNaN(Date.parse(consent.dateTime))).toBe(false);
  });

  it('offers another facility no form for a child whose family said No, only why (the record form\'s address)', async () => {
    // The family's No was recorded by the clinic in the test before.
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    other.setDefaultTimeout(10_000);
    try {
      const tab = await other.newPage();
      await signInUser(tab, origin, server.token(), { username: 'nurse.elsewhere', password: 'elsewhere nurse password', organization: OTHER_CLINIC, role: 'clinician' });
      await tab.goto(`${origin}/app/patients/${patientId}/immunizations/new`);
      const refused = tab.getByRole('alert').filter({ hasText: 'The record could not be opened' });
      await refused.waitFor();
      await expect(refused.innerText()).resolves.toMatch(/chosen not to share this record/);
      await expect(tab.getByRole('alert').filter({ hasText: 'was not saved' }).count()).resolves.toBe(0);
      await expect(tab.getByLabel('Vaccine').count()).resolves.toBe(0);
      await expect(tab.getByRole('button', { name: 'Save' }).count()).resolves.toBe(0);
      await expectNoSeriousViolations(tab);
    } finally {
      await other.close();
    }
  });

  it('Add patient keeps every part of the address typed (a State and ZIP code alone were dropped)', async () => {
    await page.goto(`${origin}/app/patients/new`);
    await page.getByLabel(/^Last name/).fill("Ní Bhriain-O'Neill");
    await page.getByLabel(/^First name/).fill('Saoirse Éabha');
    await page.getByLabel(/^Date of birth/).fill(isoDaysAgo(200));
    await page.getByLabel('State').fill('MA');
    await page.getByLabel('ZIP code').fill('01001');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { level: 1, name: "Saoirse Éabha Ní Bhriain-O'Neill" }).waitFor();
    const id = new URL(page.url()).pathname.split('/').pop();
    const stored = await server.fhir('GET', `Patient/${id}`);
    expect(stored.body.name[0]).toMatchObject({ family: "Ní Bhriain-O'Neill", given: ['Saoirse', 'Éabha'] });
    expect(stored.body.address).toEqual([{ state: 'MA', postalCode: '01001' }]);
  });

  it('Add patient shows what the registry said about the new record (a test-like name)', async () => {
    const addTestLike = async () => {
      // Saved with the rule warning test-patient-name.
      await page.goto(`${origin}/app/patients/new`);
      await page.getByLabel(/^Last name/).fill('Testcase');
      await page.getByLabel(/^First name/).fill('Test');
      await page.getByLabel(/^Date of birth/).fill(isoDaysAgo(300));
      await page.getByLabel('Phone').fill('413-555-0142');
      await page.getByLabel('Street address').fill('12 Birch Lane');
      await page.getByLabel('City').fill('Amherst');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('heading', { level: 1, name: 'Test Testcase' }).waitFor();
      const saved = page.getByRole('status').filter({ hasText: 'The patient was saved.' });
      await saved.waitFor();
      return { id: new URL(page.url()).pathname.split('/').pop(), notice: await saved.innerText() };
    };
    const first = await addTestLike();
    expect(first.notice).toMatch(/looks like test data/);
    await expectNoSeriousViolations(page);
    const stored = await server.fhir('GET', `Patient/${first.id}`);
    expect(stored.body.name[0]).toMatchObject({ family: 'Testcase', given: ['Test'] });
  });

  it('Add patient: a refused save marks the date of birth the registry names and moves the focus there', async () => {
    await page.goto(`${origin}/app/patients/new`);
    await page.getByLabel(/^Last name/).fill('Oldest');
    await page.getByLabel(/^First name/).fill('Ada');
    // 130 years ago: birthdate-implausible, refused by the registry (the form only checks the format).
    await page.getByLabel(/^Date of birth/).fill(`${new Date().getUTCFullYear() - 130}-01-15`);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').filter({ hasText: 'The patient was not saved' }).waitFor();
    await expect.poll(() => focusedName(page)).toBe('Date of birth');
    await expect(page.getByLabel(/^Date of birth/).getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(description('Date of birth')).resolves.toMatch(/125 years/);
    await expect(page.getByLabel(/^Last name/).inputValue()).resolves.toBe('Oldest');
    await expectNoSeriousViolations(page);
  });

  it('a slow Save does not pull a user who went elsewhere meanwhile back to the record; the dose is stored once', async () => {
    const doses = async () => ((await server.fhir('GET', `Immunization?patient=Patient/${patientId}&lot-number=SLOW-SAVE-1`)).body.entry ?? []).length;
    await page.goto(`${origin}/app/patients/${patientId}/immunizations/new`);
    await page.getByLabel('Vaccine').fill('08');
    await page.keyboard.press('Escape');
    await page.getByLabel('Lot number').fill('SLOW-SAVE-1');
    // The registry is slow to answer this Save.
    let answered!: () => void;
    const saveAnswered = new Promise<void>((resolve) => (answered = resolve));
    await page.route(
      /\/fhir\/Immunization$/,
      async (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        await route.continue();
        answered();
      },
      { times: 1 }
    );
    await page.getByRole('button', { name: 'Save' }).click();
    // Meanwhile the nurse goes on to find the next child.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Find a patient' }).click();
    await page.getByLabel('Last name').fill('Next-Child');
    await saveAnswered;
    await page.waitForTimeout(500);
    expect(new URL(page.url()).pathname).toBe('/app/');
    await expect(page.getByLabel('Last name').inputValue()).resolves.toBe('Next-Child');
    await expect(doses()).resolves.toBe(1);
  });

  it('a record merged into another sends the user to the one it was merged into, and takes no dose', async () => {
    const make = async (family: string, birthDate: string) => {
      const created = await server.fhir('POST', 'Patient', {
        body: { resourceType: 'Patient', name: [{ family, given: ['Merle'] }], gender: 'female', birthDate, managingOrganization: { reference: CLINIC } },
      });
      expect(created.status).toBe(201);
      return created.body.id as string;
    };
    const source = await make('Oldrecord', isoDaysAgo(500));
    const target = await make('Keptrecord', isoDaysAgo(501));
    const merged = await server.fhir('POST', 'Patient/$merge', {
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'source-patient', valueReference: { reference: `Patient/${source}` } },
          { name: 'target-patient', valueReference: { reference: `Patient/${target}` } },
        ],
      },
    });
    expect(merged.status).toBe(200);
    await page.goto(`${origin}/app/patients/${source}`);
    const toSurvivor = page.getByRole('link', { name: 'Open the record it was merged into' });
    await toSurvivor.waitFor();
    await expectNoSeriousViolations(page);
    await toSurvivor.click();
    await expect.poll(() => new URL(page.url()).pathname).toBe(`/app/patients/${target}`);
    // The old record's form: no Save that the registry would refuse, the way to the kept record.
    await page.goto(`${origin}/app/patients/${source}/immunizations/new`);
    const there = page.getByRole('link', { name: 'Record the immunization there' });
    await there.waitFor();
    await expect(page.getByRole('button', { name: 'Save' }).count()).resolves.toBe(0);
    await expectNoSeriousViolations(page);
    await there.click();
    await expect.poll(() => new URL(page.url()).pathname).toBe(`/app/patients/${target}/immunizations/new`);
    await page.getByRole('button', { name: 'Save' }).waitFor();
  });

  it('keeps the focus on Search and on Run reminder/recall while they work and after (axe while busy)', async () => {
    await page.goto(`${origin}/app/`);
    await page.getByLabel('Last name').fill("O'Brien");
    await tabTo(page, 'Search');
    await page.keyboard.press('Enter');
    await page.getByRole('table', { name: 'Search results' }).getByRole('link', { name: "Siobhán O'Brien" }).waitFor();
    await expect(focusedName(page)).resolves.toBe('Search');

    await page.goto(`${origin}/app/reports`);
    await page.getByRole('button', { name: 'Run reminder/recall' }).waitFor();
    // Hold the list's answer for a moment, to look at the page while it is being computed.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route(/\$reminder-recall/, async (route) => {
      await held;
      await route.continue();
    });
    await tabTo(page, 'Run reminder/recall');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('button', { name: 'Run reminder/recall' }).getAttribute('aria-busy')).toBe('true');
    await expect(focusedName(page)).resolves.toBe('Run reminder/recall');
    await expectNoSeriousViolations(page);
    release();
    await page.getByRole('link', { name: 'Download CSV' }).waitFor();
    await expect(page.getByRole('button', { name: 'Run reminder/recall' }).getAttribute('aria-busy')).resolves.toBeNull();
    await expect(focusedName(page)).resolves.toBe('Run reminder/recall');
    await page.unroute(/\$reminder-recall/);
  });
});
