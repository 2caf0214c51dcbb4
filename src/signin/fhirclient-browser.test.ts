// The SMART JS client (fhirclient) in headless Chromium doing a standalone launch against this
// server: a small SMART app (served by the test from another origin, no outside assets) sends the
// browser to /auth/authorize; the nurse signs in on our form, picks a patient of her clinic, allows
// the app; the app then reads that child's Immunizations with its token. axe-core checks the
// sign-in, picker and consent pages (WCAG 2.1 A/AA: no serious or critical violations).
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissingReason, describeViolations, launchChromium, seriousViolations } from '../../test/webapp/browser.js';
import { immunization, patient, sharingConsent, startTestServer, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';

const require = createRequire(import.meta.url);
const missing = browserMissingReason();
if (missing) console.warn(`[fhirclient-browser.test] skipped: ${missing}`);

let server: TestServer;
let app: Server;
let appOrigin: string;
let browser: Browser;
let childId: string;
let hiddenId: string;

/** The SMART app: launch.html starts the launch, index.html (the redirect URI) reads the data. */
function appPages(fhirBase: string): Record<string, string> {
  const head = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test SMART app</title><script src="/fhir-client.js"></script></head>';
  return {
    '/launch.html': `${head}<body><main><h1>Launching…</h1><script>
FHIR.oauth2.authorize({ iss: ${JSON.stringify(fhirBase)}, clientId: 'smart-test-app', pkceMode: 'required',
  scope: 'openid fhirUser launch/patient patient/Patient.rs patient/Immunization.rs', redirectUri: 'index.html' });
</script></main></body></html>`,
    '/index.html': `${head}<body><main><h1>Immunizations</h1><pre id="out"></pre><script>
FHIR.oauth2.ready()
  .then(async (client) => {
    const bundle = await client.request('Immunization?patient=' + client.patient.id);
    const who = client.getFhirUser();
    // fhirclient's own read of the signed-in user: a GET of the id_token's fhirUser URL.
    const me = await client.user.read();
    document.getElementById('out').textContent = JSON.stringify({ patient: client.patient.id, fhirUser: who, user: { resourceType: me.resourceType, id: me.id },
      immunizations: (bundle.entry || []).map((e) => e.resource.vaccineCode.coding[0].code) });
  })
  .catch((err) => { document.getElementById('out').textContent = JSON.stringify({ error: String(err) }); });
</script></main></body></html>`,
  };
}

beforeAll(async () => {
  if (missing) return;
  server = await startTestServer('embedded');
  await server.fhir('PUT', 'Organization/clinic-a', { body: { resourceType: 'Organization', id: 'clinic-a', name: 'Clinic A', active: true } });
  childId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Lopez', given: ['Mia'] }], birthDate: '2022-02-02' }) })).body.id;
  hiddenId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Lopez', given: ['Noah'] }], birthDate: '2020-01-01' }) })).body.id;
  await server.fhir('POST', 'Consent', { body: sharingConsent(hiddenId, { organization: [{ reference: 'Organization/clinic-z' }], provision: { type: 'deny' } }) });
  await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${childId}`, { occurrenceDateTime: '2022-02-03' }) });
  await server.fhir('POST', 'Immunization', {
    body: immunization(`Patient/${childId}`, { occurrenceDateTime: '2022-04-05', vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '110' }] } }),
  });
  await signinOf(server).users.create({ username: 'nurse.joy', password: 'pallet town 1', role: 'clinician', organization: 'Organization/clinic-a' });

  const bundle = readFileSync(require.resolve('fhirclient/build/fhir-client.js'), 'utf8');
  app = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/fhir-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      return;
    }
    const html = appPages(server.baseUrl)[path];
    if (html) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const address = app.address();
  appOrigin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  await signinOf(server).clients.register({ clientId: 'smart-test-app', redirectUris: [`${appOrigin}/index.html`], public: true, askConsent: true });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (app ? app.close(resolve) : resolve(undefined)));
  await server?.close();
});

describe.skipIf(Boolean(missing))('fhirclient standalone launch in Chromium', () => {
  it('signs in, picks the patient, and reads her Immunizations', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${appOrigin}/launch.html`);
      await page.getByLabel('Username').waitFor();
      expect(page.url()).toContain(`${server.url}/auth/interaction/`);
      expect(await seriousViolations(page), describeViolations(await seriousViolations(page))).toEqual([]);
      await page.getByLabel('Username').fill('nurse.joy');
      await page.getByLabel('Password').fill('pallet town 1');
      await page.getByRole('button', { name: 'Sign in' }).click();

      await page.getByRole('heading', { name: 'Choose a patient' }).waitFor();
      await page.getByLabel('Last name').fill('Lopez');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByRole('status').filter({ hasText: 'found' }).waitFor();
      expect(await seriousViolations(page), describeViolations(await seriousViolations(page))).toEqual([]);
      // Noah's family objected to sharing with her clinic: only Mia is listed.
      expect(await page.getByRole('button', { name: /^Choose / }).count()).toBe(1);
      await page.getByRole('button', { name: 'Choose Mia Lopez' }).click();

      await page.getByRole('button', { name: 'Allow' }).waitFor();
      expect(await page.getByText('Mia Lopez, born 2022-02-02').count()).toBe(1);
      expect(await seriousViolations(page), describeViolations(await seriousViolations(page))).toEqual([]);
      await page.getByRole('button', { name: 'Allow' }).click();

      await page.waitForURL(`${appOrigin}/index.html*`);
      await page.waitForFunction(() => (document.getElementById('out')?.textContent ?? '') !== '', undefined, { timeout: 15_000 });
      const result = JSON.parse((await page.locator('#out').textContent()) ?? '{}');
      expect(result.error).toBeUndefined();
      expect(result.patient).toBe(childId);
      expect(result.fhirUser).toMatch(/^Practitioner\/u-[0-9a-f]{32}$/);
      expect(`${result.user.resourceType}/${result.user.id}`).toBe(result.fhirUser);
      expect(result.immunizations.sort()).toEqual(['08', '110']);
    } finally {
      await page.close();
    }
  }, 60_000);
});
