// The record's Conditions section in a real browser (Debian's chromium through playwright-core)
// against a real server: a nurse records evidence of immunity and a contraindication from the
// Condition suggestions (the server's CodeSystem/cdsi-observation, built from the CDSi supporting
// data), sees them listed with since when and by which facility, sees the Forecast change (varicella
// Immune, then Contraindicated), and marks them entered in error / resolved (the forecast goes back).
// The cases are CDC's: 2016-UC-0020 (024, provider-verified varicella history: Immune) and
// 2016-UC-0021 (089, anaphylaxis after a varicella dose: Contraindicated), on a 13-month-old due
// varicella. Roles and data sharing over HTTP with role-scoped tokens, and in the browser for the users whose
// rights stop short (reports: no Conditions; site-admin: reads, cannot save). axe-core and the
// layout checks run on the new screens (test/webapp/keyboard.ts checkEverySize).
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roleScope, type Role } from '../../src/signin/roles.js';
import { sharingConsent, type TestServer } from '../helpers/server.js';
import { browserMissingReason, screenshot } from './browser.js';
import { checkEverySize, tabTo } from './keyboard.js';
import { CLINIC, isoDaysAgo, OTHER_CLINIC, seedRegistry, type Seeded } from './seed.js';
import { signInUser } from './sign-in.js';
import { startWebAppStack } from './stack.js';

const missing = browserMissingReason();
if (missing) console.log(`clinic web app Conditions browser tests SKIPPED: ${missing}`);

const CDSI = 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html';
const VARICELLA_HISTORY = 'Healthcare provider verified history of or diagnosis of Varicella';
const VARICELLA_ALLERGY = 'Severe allergic reaction after previous dose of Varicella';
// The form's fields by their labels (a required field's label ends in " *"); not the table "Patient conditions".
const CONDITION_FIELD = /^Condition( \*)?$/;
const DATE_FIELD = /^Date( \*)?$/;

describe.skipIf(Boolean(missing))('clinic web app: Conditions on the record', () => {
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
    if (problems.length) console.log(`browser problems:\n  ${problems.join('\n  ')}`);
    await browser?.close();
    await server?.close();
  });

  const newTab = async (): Promise<{ tab: Page; context: BrowserContext }> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    const tab = await context.newPage();
    tab.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    tab.on('console', (msg) => {
      if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    return { tab, context };
  };

  /** A role's token as the sign-in server would issue it to the app (its scopes are the role's). */
  const roleToken = (role: Role, organization: string) => server.token({ scope: roleScope(role), organization, sub: `${role}-user` });
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const varicellaStatus = async (tab: Page) => (await tab.getByRole('table', { name: 'Forecast by vaccine group' }).getByRole('row', { name: /^Varicella/ }).textContent()) ?? '';
  const waitForVaricella = async (tab: Page, status: RegExp) => {
    const row = tab.getByRole('table', { name: 'Forecast by vaccine group' }).getByRole('row', { name: /^Varicella/ });
    await row.filter({ hasText: status }).waitFor();
  };

  it('records evidence of immunity and a contraindication, lists them, and the forecast changes each time', async () => {
    const { tab, context } = await newTab();
    try {
      await signInUser(tab, origin, server.token(), { username: 'nurse.oak', password: 'oak nurse password', organization: CLINIC, role: 'clinician' });
      await tab.goto(`${origin}/app/patients/${seeded.ava.id}`);
      await tab.getByRole('heading', { level: 1, name: 'Ava Lucia Rivera' }).waitFor();
      for (const name of ['Immunizations', 'Forecast', 'Data sharing', 'Conditions']) await tab.getByRole('heading', { level: 2, name }).waitFor();
      await tab.getByText('No conditions recorded.').waitFor();
      // A 13-month-old with no varicella dose: due.
      await waitForVaricella(tab, /Due now|Overdue/);

      // Evidence of immunity, found by words of its name.
      await tab.getByRole('button', { name: 'Record condition' }).click();
      await tab.getByRole('form', { name: 'Record condition' }).waitFor();
      await tab.getByLabel(CONDITION_FIELD).fill('varicella history');
      await tab.getByRole('option', { name: `024 ${VARICELLA_HISTORY}` }).click();
      await expect(tab.getByLabel(CONDITION_FIELD).inputValue()).resolves.toBe(`024 ${VARICELLA_HISTORY}`);
      await tab.getByText(/Condition: CDSi 024 .*Evidence of immunity \(Varicella\)/).waitFor();
      await tab.getByLabel(DATE_FIELD).fill(isoDaysAgo(120));
      expect(await checkEverySize(tab, 'conditions-01-form')).toEqual([]);
      await tab.getByRole('button', { name: 'Save' }).click();
      await tab.getByText(`Recorded: ${VARICELLA_HISTORY}. The forecast was updated.`).waitFor();
      const table = tab.getByRole('table', { name: 'Patient conditions' });
      const immunityRow = table.getByRole('row', { name: new RegExp(VARICELLA_HISTORY) });
      // The facility's name is read after the list (the Condition carries its reference).
      await immunityRow.filter({ hasText: 'Maple Pediatrics' }).waitFor();
      await expect(immunityRow.textContent()).resolves.toMatch(/CDSi 024.*Evidence of immunity.*Active.*Maple Pediatrics/);
      // The forecast was asked again: the stored Condition makes varicella Immune.
      await waitForVaricella(tab, /Immune/);
      // Focus is back on the button that opened the form.
      await expect(tab.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Record condition');
      expect(await checkEverySize(tab, 'conditions-02-recorded')).toEqual([]);

      const stored = (await server.fhir('GET', `Condition?patient=Patient/${seeded.ava.id}`)).body.entry.map((e: any) => e.resource);
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({
        code: { coding: [{ system: CDSI, code: '024' }] },
        onsetDateTime: isoDaysAgo(120),
        clinicalStatus: { coding: [{ code: 'active' }] },
        extension: [{ valueReference: { reference: CLINIC } }],
      });

      // Entered in error, after a confirmation in words: no longer evidence, the forecast goes back to due.
      await tab.getByRole('button', { name: `Mark ${VARICELLA_HISTORY} entered in error` }).click();
      await tab.getByRole('group', { name: 'Mark as entered in error?' }).getByText('the forecast no longer reads it').waitFor();
      expect(await checkEverySize(tab, 'conditions-02b-confirm')).toEqual([]);
      await tab.getByRole('button', { name: 'Yes, entered in error' }).click();
      await immunityRow.filter({ hasText: 'Entered in error' }).waitFor();
      await waitForVaricella(tab, /Due now|Overdue/);

      // A contraindication, found by its CDSi code, keyboard only: varicella Contraindicated; resolved: due again.
      await tab.getByRole('heading', { level: 2, name: 'Conditions' }).click();
      await tabTo(tab, 'Record condition');
      await tab.keyboard.press('Enter');
      await tabTo(tab, 'Condition');
      await tab.keyboard.type('89');
      // The exact code leads the list once both digits are in.
      await tab.getByRole('option').first().filter({ hasText: `089 ${VARICELLA_ALLERGY}` }).waitFor();
      const option = tab.getByRole('option', { name: `089 ${VARICELLA_ALLERGY}` });
      // Mantine marks the option the arrow keys reached with data-combobox-selected.
      for (let i = 0; i < 15 && (await option.getAttribute('data-combobox-selected')) === null; i++) await tab.keyboard.press('ArrowDown');
      await tab.keyboard.press('Enter');
      await expect(tab.getByLabel(CONDITION_FIELD).inputValue()).resolves.toBe(`089 ${VARICELLA_ALLERGY}`);
      await tabTo(tab, 'Save');
      await tab.keyboard.press('Enter');
      await tab.getByText(`Recorded: ${VARICELLA_ALLERGY}. The forecast was updated.`).waitFor();
      await waitForVaricella(tab, /Contraindicated/);
      await expect(table.getByRole('row', { name: new RegExp(VARICELLA_ALLERGY) }).textContent()).resolves.toMatch(/Contraindication.*Active/);
      // The current one is listed first.
      await expect(table.locator('tbody tr').first().textContent()).resolves.toMatch(VARICELLA_ALLERGY);
      expect(await checkEverySize(tab, 'conditions-03-contraindicated')).toEqual([]);
      // Cancel changes nothing and gives focus back to the row's button.
      await tab.getByRole('button', { name: `Mark ${VARICELLA_ALLERGY} resolved` }).click();
      await tab.getByRole('button', { name: 'Cancel' }).click();
      await expect(tab.evaluate(() => document.activeElement?.getAttribute('aria-label'))).resolves.toBe(`Mark ${VARICELLA_ALLERGY} resolved`);
      await expect(table.getByRole('row', { name: new RegExp(VARICELLA_ALLERGY) }).textContent()).resolves.toMatch(/Active/);
      await tab.getByRole('button', { name: `Mark ${VARICELLA_ALLERGY} resolved` }).click();
      await tab.getByRole('button', { name: 'Yes, resolved' }).click();
      await table.getByRole('row', { name: new RegExp(VARICELLA_ALLERGY) }).filter({ hasText: /Resolved \d+ \w+ \d{4}/ }).waitFor();
      await waitForVaricella(tab, /Due now|Overdue/);
      expect(await varicellaStatus(tab)).not.toMatch(/Contraindicated/);

      // A form that cannot be saved says why, per field, and sends nothing.
      await tab.getByRole('button', { name: 'Record condition' }).click();
      await tab.getByLabel(CONDITION_FIELD).fill('no such condition');
      await tab.getByLabel(DATE_FIELD).fill('13/45/2024');
      await tab.getByRole('button', { name: 'Save' }).click();
      await tab.getByText('Choose a condition from the suggestions, or type its CDSi code').waitFor();
      await tab.getByText('Enter the date, e.g. 2024-03-05 or 03/05/2024').waitFor();
      expect((await server.fhir('GET', `Condition?patient=Patient/${seeded.ava.id}`)).body.entry).toHaveLength(2);
    } finally {
      await screenshot(tab, 'conditions-zz-last').catch(() => undefined);
      await context.close();
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('a site-admin sees the conditions but its Save gets the server 403 in words; a reports user gets no conditions', async () => {
    // Sofia's own Condition, recorded over HTTP (this test does not lean on the one before).
    const recorded = await server.fhir('POST', 'Condition', {
      body: { resourceType: 'Condition', subject: { reference: `Patient/${seeded.sofia.id}` }, code: { coding: [{ system: CDSI, code: '089' }] }, onsetDateTime: isoDaysAgo(10) },
    });
    expect(recorded.status).toBe(201);
    const admin = await newTab();
    try {
      await signInUser(admin.tab, origin, server.token(), { username: 'admin.oak', password: 'oak admin password', organization: CLINIC, role: 'site-admin' });
      await admin.tab.goto(`${origin}/app/patients/${seeded.sofia.id}`);
      await admin.tab.getByRole('table', { name: 'Patient conditions' }).getByRole('row', { name: new RegExp(VARICELLA_ALLERGY) }).waitFor();
      await admin.tab.getByRole('button', { name: 'Record condition' }).click();
      await admin.tab.getByLabel(CONDITION_FIELD).fill('007');
      await admin.tab.getByRole('option', { name: /^007 Pregnant/ }).click();
      await admin.tab.getByRole('button', { name: 'Save' }).click();
      const refused = admin.tab.getByRole('alert').filter({ hasText: 'The condition was not saved' });
      await refused.waitFor();
      await expect(refused.textContent()).resolves.toMatch(/not allowed to do this/);
      expect(await checkEverySize(admin.tab, 'conditions-04-not-allowed')).toEqual([]);
    } finally {
      await admin.context.close();
    }
    const reports = await newTab();
    try {
      await signInUser(reports.tab, origin, server.token(), { username: 'manager.oak', password: 'oak manager password', organization: CLINIC, role: 'reports' });
      await reports.tab.goto(`${origin}/app/patients/${seeded.sofia.id}`);
      // Reports run reminder/recall and coverage only: the record itself does not open.
      const refused = reports.tab.getByRole('alert').filter({ hasText: 'The record could not be opened' });
      await refused.waitFor();
      await expect(refused.textContent()).resolves.toMatch(/not allowed to do this/);
      await expect(reports.tab.getByRole('table', { name: 'Patient conditions' }).count()).resolves.toBe(0);
      await expect(reports.tab.getByRole('button', { name: 'Record condition' }).count()).resolves.toBe(0);
    } finally {
      await reports.context.close();
    }
    expect(problems).toEqual([]);
  }, 90_000);

  it('over HTTP: the observation list for every role, writes by role, and data sharing No hides them from another facility', async () => {
    // Every role reads the list the Condition field suggests from.
    for (const role of ['clinician', 'data-entry', 'reports', 'site-admin'] as const) {
      const cs = await server.fhir('GET', 'CodeSystem/cdsi-observation', { headers: as(roleToken(role, CLINIC)) });
      expect(cs.status, role).toBe(200);
      expect(cs.body.url).toBe(CDSI);
      expect(cs.body.concept.find((c: any) => c.code === '024').display).toBe(VARICELLA_HISTORY);
    }
    // The server's terminology operations know the codes too.
    const lookup = await server.fhir('GET', `CodeSystem/$lookup?system=${encodeURIComponent(CDSI)}&code=089`, { headers: as(roleToken('clinician', CLINIC)) });
    expect(lookup.status).toBe(200);
    expect(lookup.body.parameter.find((p: any) => p.name === 'display').valueString).toBe(VARICELLA_ALLERGY);
    const condition = {
      resourceType: 'Condition',
      subject: { reference: `Patient/${seeded.sofia.id}` },
      code: { coding: [{ system: CDSI, code: '089' }] },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      onsetDateTime: isoDaysAgo(30),
    };
    // data-entry records and updates; reports and site-admin may not write; reports may not even read.
    const created = await server.fhir('POST', 'Condition', { body: condition, headers: as(roleToken('data-entry', CLINIC)) });
    expect(created.status).toBe(201);
    const { clinicalStatus: _c, ...inError } = { ...created.body, verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'entered-in-error' }] } };
    for (const role of ['reports', 'site-admin'] as const) {
      expect((await server.fhir('POST', 'Condition', { body: condition, headers: as(roleToken(role, CLINIC)) })).status, role).toBe(403);
      expect((await server.fhir('PUT', `Condition/${created.body.id}`, { body: inError, headers: as(roleToken(role, CLINIC)) })).status, role).toBe(403);
    }
    expect((await server.fhir('GET', `Condition?patient=Patient/${seeded.sofia.id}`, { headers: as(roleToken('reports', CLINIC)) })).status).toBe(403);
    const updated = await server.fhir('PUT', `Condition/${created.body.id}`, { body: inError, headers: { ...as(roleToken('data-entry', CLINIC)), 'if-match': `W/"${created.body.meta.versionId}"` } });
    expect(updated.status).toBe(200);
    // A stale If-Match (the app sends the version it listed) is refused, not overwritten.
    const stale = await server.fhir('PUT', `Condition/${created.body.id}`, { body: created.body, headers: { ...as(roleToken('clinician', CLINIC)), 'if-match': `W/"${created.body.meta.versionId}"` } });
    expect(stale.status).toBe(412);

    // The family says No at the other clinic: this clinic sees nothing of Sofia's Conditions.
    const active = await server.fhir('POST', 'Condition', { body: condition, headers: as(roleToken('clinician', OTHER_CLINIC)) });
    expect(active.status).toBe(201);
    const deny = sharingConsent(seeded.sofia.id, { dateTime: new Date().toISOString(), organization: [{ reference: OTHER_CLINIC }], provision: { type: 'deny' } });
    expect((await server.fhir('POST', 'Consent', { body: deny })).status).toBe(201);
    const nurse = as(roleToken('clinician', CLINIC));
    const search = await server.fhir('GET', `Condition?patient=Patient/${seeded.sofia.id}`, { headers: nurse });
    expect(search.status).toBe(200);
    expect(search.body.entry ?? []).toEqual([]);
    const read = await server.fhir('GET', `Condition/${active.body.id}`, { headers: nurse });
    expect(read.status).toBe(403);
    expect(JSON.stringify(read.body)).toContain('data-sharing-restricted');
    // The facility that recorded the No still sees them.
    const own = await server.fhir('GET', `Condition?patient=Patient/${seeded.sofia.id}`, { headers: as(roleToken('clinician', OTHER_CLINIC)) });
    expect(own.body.entry.map((e: any) => e.resource.id)).toEqual(expect.arrayContaining([created.body.id, active.body.id]));
  });
});
