// Failed sign-ins per client address: one password tried across many usernames from one address
// is held off (429, Retry-After) although no account reaches its lockout; X-Forwarded-For names the
// client only when TRUST_PROXY says the proxy may.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { addressKey, FailedSignInsByAddress } from './address-throttle.js';
import { signinOf } from './test-helpers.js';
import { TestAgent } from './test-agent.js';

describe('FailedSignInsByAddress', () => {
  it('holds an address off after its failures in the window, until the oldest ages out; other addresses and successes are free', () => {
    let now = 1_000_000;
    const throttle = new FailedSignInsByAddress({ attempts: 3, windowMinutes: 10 }, () => now);
    const fail = (address: string) => {
      const attempt = throttle.begin(address);
      if ('retryAfterSeconds' in attempt) throw new Error('held off');
      attempt.settle(true);
    };
    fail('10.0.0.1');
    now += 60_000;
    fail('10.0.0.1');
    const ok = throttle.begin('10.0.0.1');
    if ('retryAfterSeconds' in ok) throw new Error('held off too soon');
    ok.settle(false); // a success: no count
    fail('10.0.0.1');
    expect(throttle.begin('10.0.0.1')).toEqual({ retryAfterSeconds: 9 * 60 });
    expect('settle' in throttle.begin('10.0.0.2')).toBe(true);
    now += 9 * 60_000; // the first failure leaves the window
    expect('settle' in throttle.begin('10.0.0.1')).toBe(true);
  });

  it('counts an IPv6 client by its /64 (one host has all of it) and an IPv4-mapped address as its IPv4 address', () => {
    expect(addressKey('2001:db8:0:1:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:0db8:0000:0001::1')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('203.0.113.9')).toBe('203.0.113.9');
    const throttle = new FailedSignInsByAddress({ attempts: 2, windowMinutes: 10 });
    for (const address of ['2001:db8:0:1::a', '2001:db8:0:1::b']) {
      const attempt = throttle.begin(address);
      if ('settle' in attempt) attempt.settle(true);
    }
    expect(throttle.begin('2001:db8:0:1:ffff::c')).toMatchObject({ retryAfterSeconds: expect.any(Number) });
    expect('settle' in throttle.begin('2001:db8:0:2::a')).toBe(true);
  });

  it('sign-ins in progress hold a place: a burst sent at once gets no more than the limit', () => {
    const throttle = new FailedSignInsByAddress({ attempts: 2, windowMinutes: 10 });
    const first = throttle.begin('a');
    const second = throttle.begin('a');
    expect('settle' in first && 'settle' in second).toBe(true);
    expect(throttle.begin('a')).toEqual({ retryAfterSeconds: 1 });
    if ('settle' in first) first.settle(false);
    expect('settle' in throttle.begin('a')).toBe(true);
  });
});

describe('the sign-in form counts failures per client address', () => {
  let direct: TestServer;
  let proxied: TestServer;
  const password = 'one common guess';

  beforeAll(async () => {
    direct = await startTestServer('embedded', { signin: { addressAttempts: 3, addressWindowMinutes: 15 } });
    proxied = await startTestServer('embedded', { signin: { addressAttempts: 3, addressWindowMinutes: 15 }, trustProxy: 'loopback' });
    for (const server of [direct, proxied]) {
      const { users } = signinOf(server);
      for (const name of ['ada', 'bob', 'cy', 'dee']) await users.create({ username: `nurse.${name}`, password: `${name}'s own password`, role: 'clinician', organization: 'Organization/clinic-a' });
    }
  });
  afterAll(async () => {
    await direct?.close();
    await proxied?.close();
  });

  async function trySignIn(server: TestServer, username: string, secret: string, headers: Record<string, string> = {}) {
    const cfg = await oidc.discovery(new URL(`${server.url}/auth`), 'iis-web-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const callback = `${server.url}/app/callback`;
    const url = oidc.buildAuthorizationUrl(cfg, { redirect_uri: callback, scope: 'openid user/Patient.rs', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: 's' });
    const agent = new TestAgent();
    const form = await agent.follow(await agent.get(url.toString()), callback);
    return agent.post(agent.formAction(form), { username, password: secret }, headers);
  }

  it('one password across many usernames: 401 until the limit, then 429 with Retry-After for any username, no account locked', async () => {
    for (const name of ['ada', 'bob', 'cy']) expect((await trySignIn(direct, `nurse.${name}`, password)).status).toBe(401);
    const held = await trySignIn(direct, 'nurse.dee', "dee's own password");
    expect(held.status).toBe(429);
    const retryAfter = Number(held.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(14 * 60);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(held.html).toContain('Too many failed sign-ins from your network address');
    // Each account saw one failure only (no lockout), and dee's password was never checked.
    const { users } = signinOf(direct);
    for (const name of ['ada', 'bob', 'cy']) expect((await users.findByUsername(`nurse.${name}`))?.failedAttempts).toBe(1);
    expect((await users.findByUsername('nurse.dee'))?.failedAttempts ?? 0).toBe(0);
    // X-Forwarded-For is not believed without TRUST_PROXY: a client cannot pick a fresh address.
    expect((await trySignIn(direct, 'nurse.dee', "dee's own password", { 'x-forwarded-for': '203.0.113.9' })).status).toBe(429);
  });

  it('with TRUST_PROXY, X-Forwarded-For names the client: another address is not held off by the first', async () => {
    const from = (address: string) => ({ 'x-forwarded-for': address });
    for (const name of ['ada', 'bob', 'cy']) expect((await trySignIn(proxied, `nurse.${name}`, password, from('198.51.100.7'))).status).toBe(401);
    expect((await trySignIn(proxied, 'nurse.dee', password, from('198.51.100.7'))).status).toBe(429);
    const other = await trySignIn(proxied, 'nurse.dee', "dee's own password", from('198.51.100.8'));
    expect(other.status).toBe(303);
  });
});

describe('SOAP credentials (src/hl7v2) count failures per client address too', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded', { signin: { addressAttempts: 3, addressWindowMinutes: 15 } });
    const { users } = signinOf(server);
    for (const name of ['eve', 'fay', 'gus', 'hal']) await users.create({ username: `clerk.${name}`, password: `${name}'s soap password`, role: 'data-entry', organization: 'Organization/clinic-a' });
  });
  afterAll(async () => {
    await server?.close();
  });

  const submit = async (username: string, password: string) => {
    const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    const envelope =
      '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><submitSingleMessage xmlns="urn:cdc:iisb:2011">' +
      `<username>${xml(username)}</username><password>${xml(password)}</password><facilityID>clinic-a</facilityID>` +
      '<hl7Message>MSH|^~\\&amp;|A|B|C|D|20240101||VXU^V04^VXU_V04|X1|P|2.5.1</hl7Message></submitSingleMessage></soap:Body></soap:Envelope>';
    const res = await fetch(`${server.url}/soap`, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: envelope });
    return res.text();
  };

  it('one password across usernames: SecurityFault from the limit on, even for the right password of another user', async () => {
    expect(await submit('clerk.hal', "hal's soap password")).not.toContain('SecurityFault');
    for (const name of ['eve', 'fay', 'gus']) expect(await submit(`clerk.${name}`, 'one common guess')).toContain('SecurityFault');
    expect(await submit('clerk.hal', "hal's soap password")).toContain('SecurityFault');
    await server.audit.flush();
    const audit = await server.fhir('GET', 'AuditEvent?_count=200');
    expect(JSON.stringify(audit.body)).toContain('address-throttled');
  });
});

