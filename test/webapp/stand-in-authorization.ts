// A stand-in for the SMART authorization server, inside the browser context only (Playwright
// routes): used when the server under test does not offer an authorization_endpoint yet. It
// shows a sign-in form with the contract's labels, checks PKCE, and issues an HS256 access token
// signed with the test secret for a clinic user.
import { createHash } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { BrowserContext } from 'playwright-core';
import { TEST_SECRET } from '../helpers/server.js';

export interface StandInUser {
  username: string;
  password: string;
  organization: string;
  fhirUser: string;
}

export async function installStandInAuthorization(context: BrowserContext, origin: string, users: StandInUser[]): Promise<void> {
  const pending = new Map<string, { challenge: string; user: StandInUser; redirectUri: string }>();
  const config = {
    authorization_endpoint: `${origin}/stand-in-auth/authorize`,
    token_endpoint: `${origin}/stand-in-auth/token`,
    grant_types_supported: ['authorization_code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: ['launch-standalone', 'client-public', 'permission-user', 'permission-v2'],
  };
  for (const url of [`${origin}/.well-known/smart-configuration`, `${origin}/fhir/.well-known/smart-configuration`]) {
    await context.route(url, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(config) }));
  }
  await context.route(`${origin}/stand-in-auth/authorize?**`, (route) => {
    const query = new URL(route.request().url()).searchParams;
    const hidden = ['redirect_uri', 'state', 'code_challenge']
      .map((name) => `<input type="hidden" name="${name}" value="${escape(query.get(name) ?? '')}">`)
      .join('');
    return route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: `<!doctype html><html lang="en"><head><title>Sign in</title></head><body><main><h1>Sign in</h1>
<form method="get" action="${origin}/stand-in-auth/approve">${hidden}
<label for="u">Username</label> <input id="u" name="username" autocomplete="username">
<label for="p">Password</label> <input id="p" name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button></form></main></body></html>`,
    });
  });
  await context.route(`${origin}/stand-in-auth/approve?**`, (route) => {
    const query = new URL(route.request().url()).searchParams;
    const user = users.find((u) => u.username === query.get('username') && u.password === query.get('password'));
    const redirectUri = query.get('redirect_uri') ?? '';
    if (!user) return route.fulfill({ status: 401, contentType: 'text/html', body: '<!doctype html><html lang="en"><title>Sign in</title><p>Wrong username or password.</p></html>' });
    const code = `code-${pending.size + 1}-${Date.now()}`;
    pending.set(code, { challenge: query.get('code_challenge') ?? '', user, redirectUri });
    return route.fulfill({ status: 302, headers: { location: `${redirectUri}?code=${code}&state=${encodeURIComponent(query.get('state') ?? '')}` } });
  });
  await context.route(`${origin}/stand-in-auth/token`, (route) => {
    const form = new URLSearchParams(route.request().postData() ?? '');
    const grant = pending.get(form.get('code') ?? '');
    const verifier = form.get('code_verifier') ?? '';
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (!grant || grant.challenge !== challenge || form.get('client_id') !== 'iis-web-app' || form.get('redirect_uri') !== grant.redirectUri) {
      return route.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ error: 'invalid_grant' }) });
    }
    pending.delete(form.get('code') ?? '');
    const scope = 'openid fhirUser profile user/*.cruds';
    const accessToken = jwt.sign(
      { sub: grant.user.username, preferred_username: grant.user.username, scope, organization: grant.user.organization, fhirUser: grant.user.fhirUser },
      TEST_SECRET,
      { algorithm: 'HS256', expiresIn: 3600 }
    );
    return route.fulfill({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expires_in: 3600, scope }),
    });
  });
}

function escape(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
