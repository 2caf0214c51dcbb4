// Signing a clinic user in through the app's SMART launch, as a person would: the user is created
// through the sign-in server's account API (with a public-health system token), then signs in on
// the server's own sign-in page.
import type { Browser, BrowserContext, Page } from 'playwright-core';

export interface ClinicUser {
  username: string;
  password: string;
  organization: string;
  role?: string;
}

/** A desktop-sized tab of its own (10 s default timeout) with `user` signed in at /app/. */
export async function signedInPage(browser: Browser, origin: string, systemToken: string, user: ClinicUser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  await signInUser(page, origin, systemToken, user);
  return { context, page };
}

/** Creates the user where needed and signs in at /app/; answers ms from "Sign in" to a usable first screen (search, or Reports for a reports user). */
export async function signInUser(
  page: Page,
  origin: string,
  systemToken: string,
  user: ClinicUser,
  onSignInPage?: () => Promise<void>
): Promise<number> {
  await createUser(origin, systemToken, user);
  await page.goto(`${origin}/app/`);
  await page.getByLabel('Username').waitFor();
  await onSignInPage?.();
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  const started = Date.now();
  let callbackAt = 0;
  const onNavigated = (frame: { url(): string }) => {
    if (!callbackAt && frame.url().includes('/app/callback')) callbackAt = Date.now();
  };
  page.on('framenavigated', onNavigated);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // A reports user's first screen is Reports (it may not search patients); everyone else's the search.
  const firstScreen = user.role === 'reports' ? page.getByRole('button', { name: 'Run reminder/recall' }) : page.getByLabel('Last name');
  await firstScreen.waitFor({ state: 'visible' });
  page.off('framenavigated', onNavigated);
  if (!(await firstScreen.isEnabled())) throw new Error('the first screen is not usable after sign-in');
  const total = Date.now() - started;
  lastSignInBreakdown = callbackAt ? `sign-in server ${callbackAt - started} ms, then app (load, token exchange, first screen) ${total - (callbackAt - started)} ms` : '';
  return total;
}

/** Creates the user through the sign-in server's account API (an existing user is kept). */
export async function createUser(origin: string, systemToken: string, user: ClinicUser): Promise<void> {
  const discovery = (await (await fetch(`${origin}/fhir/.well-known/smart-configuration`)).json()) as { authorization_endpoint?: string };
  if (!discovery.authorization_endpoint) throw new Error('the server offers no authorization_endpoint: no sign-in for people');
  const res = await fetch(`${origin}/auth/admin/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${systemToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username: user.username, password: user.password, organization: user.organization, role: user.role ?? 'clinician' }),
  });
  if (res.status !== 201 && res.status !== 409) throw new Error(`could not create ${user.username}: ${res.status} ${await res.text()}`);
}

/** Where the last sign-in's time went (sign-in server vs the app after the redirect back). */
export let lastSignInBreakdown = '';
