// Web-security headers as a browser and a security reviewer see them from outside: every answer is
// nosniff; the FHIR API, HL7 v2 and user administration are never cached (a children's records on a
// shared clinic computer's browser cache); HSTS only when PUBLIC_BASE_URL is https; and the HTML
// oidc-provider renders for the sign-in server (its error page, the Sign out confirmation, the
// auto-submitting forms) can never be framed by another site (clickjacking).
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patient, startTestServer, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from '../signin/test-helpers.js';
import { TestAgent, signInAndAllow } from '../signin/test-agent.js';
import { createHash } from 'node:crypto';

let server: TestServer;
const REDIRECT = 'http://127.0.0.1:9/callback';

beforeAll(async () => {
  server = await startTestServer('embedded', { signin: { adminUsername: 'ph.admin', adminPassword: 'public health 1' } });
  await signinOf(server).clients.register({ clientId: 'phone-app', redirectUris: [REDIRECT], public: true });
});
afterAll(async () => {
  await server?.close();
});

function expectNeverFramed(headers: Headers): void {
  expect(headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
  expect(headers.get('x-frame-options')).toBe('DENY');
  expect(headers.get('x-content-type-options')).toBe('nosniff');
}

describe('the FHIR API and other patient-data answers', () => {
  it('are nosniff and no-store: a read (fast lane), a create, a 401, HL7 v2', async () => {
    const created = await server.fhir('POST', 'Patient', { body: patient() });
    expect(created.status).toBe(201);
    const read = await server.fhir('GET', `Patient/${created.body.id}`);
    const unauthenticated = await server.fhir('GET', 'Patient', { headers: { authorization: '' } });
    expect(unauthenticated.status).toBe(401);
    const hl7 = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'junk' });
    await hl7.text();
    for (const [what, headers] of [
      ['read', read.headers],
      ['create', created.headers],
      ['401', unauthenticated.headers],
      ['hl7v2', hl7.headers],
    ] as const) {
      expect(headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(headers.get('cache-control'), what).toBe('no-store');
    }
  });

  it('keep the caching their handlers chose (SMART discovery) and send no HSTS over http', async () => {
    const discovery = await fetch(`${server.url}/fhir/.well-known/smart-configuration`);
    await discovery.text();
    expect(discovery.headers.get('cache-control')).toBe('public, max-age=3600');
    expect(discovery.headers.get('x-content-type-options')).toBe('nosniff');
    expect(discovery.headers.get('strict-transport-security')).toBeNull();
  });
});

describe('HSTS', () => {
  it('is sent on every answer when PUBLIC_BASE_URL is https', async () => {
    const https = await startTestServer('embedded', { publicBaseUrl: 'https://iis.example.org' });
    try {
      const port = (https.server.address() as AddressInfo).port;
      for (const path of ['/healthz', '/fhir/metadata', '/fhir/Patient/x']) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        await res.text();
        expect(res.headers.get('strict-transport-security'), path).toBe('max-age=31536000');
      }
    } finally {
      await https.close();
    }
  });

  it("and the sign-in server's cookies are Secure and its URLs https, whether or not the proxy sends X-Forwarded-Proto", async () => {
    const https = await startTestServer('embedded', { publicBaseUrl: 'https://iis.example.org' });
    try {
      const port = (https.server.address() as AddressInfo).port;
      const challenge = createHash('sha256').update('v'.repeat(50)).digest('base64url');
      const query = new URLSearchParams({
        client_id: 'iis-web-app',
        response_type: 'code',
        redirect_uri: 'https://iis.example.org/app/callback',
        scope: 'openid fhirUser user/Patient.rs',
        state: 's',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const proxies: Array<Record<string, string>> = [{}, { 'x-forwarded-proto': 'https' }];
      for (const forwarded of proxies) {
        const authorize = await fetch(`http://127.0.0.1:${port}/auth/authorize?${query}`, { redirect: 'manual', headers: forwarded });
        await authorize.text();
        expect(authorize.status).toBe(303);
        const cookies = authorize.headers.getSetCookie();
        expect(cookies.length).toBeGreaterThan(0);
        for (const cookie of cookies) expect(cookie, JSON.stringify(forwarded)).toMatch(/;\s*secure(;|$)/i);
        const logout = await fetch(`http://127.0.0.1:${port}/auth/logout`, { headers: forwarded });
        expect(await logout.text()).toMatch(/action="https:\/\/[^"]+\/auth\/logout\/confirm"/);
      }
    } finally {
      await https.close();
    }
  });
});

describe("the sign-in server's own pages are never framed", () => {
  const authorizeUrl = (): string => {
    const challenge = createHash('sha256').update('v'.repeat(50)).digest('base64url');
    const query = new URLSearchParams({
      client_id: 'phone-app',
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid fhirUser user/Patient.rs',
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      aud: server.baseUrl,
    });
    return `${server.url}/auth/authorize?${query}`;
  };

  it('the authorization error page', async () => {
    const res = await new TestAgent().get(`${server.url}/auth/authorize?client_id=no-such-app&response_type=code`);
    expect(res.status).toBe(400);
    expect(res.html).toContain('Sign-in problem');
    expectNeverFramed(res.headers);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
  });

  it('the Sign out confirmation of a signed-in user, and the signed-out page after it', async () => {
    const agent = new TestAgent();
    const back = await signInAndAllow(agent, authorizeUrl(), REDIRECT, 'ph.admin', 'public health 1');
    expect(back.location).toMatch(/code=/);
    const confirm = await agent.get(`${server.url}/auth/logout`);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('Sign out</button>');
    expectNeverFramed(confirm.headers);
    const done = await agent.follow(await agent.post(agent.formAction(confirm), { xsrf: /name="xsrf" value="([^"]+)"/.exec(confirm.html)?.[1] ?? '', logout: 'yes' }), REDIRECT);
    expect(done.html).toContain('You are signed out');
    expectNeverFramed(done.headers);
  });

  it("oidc-provider's auto-submitting form (logout without a session)", async () => {
    const res = await new TestAgent().get(`${server.url}/auth/logout`);
    expect(res.status).toBe(200);
    expect(res.html).toContain('document.forms[0].submit()');
    expectNeverFramed(res.headers);
  });
});
