// What apps discover (CONTRACT.md "Users, facilities and sign-in"), and the idle timeout.
import http from 'node:http';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode } from './test-agent.js';

let server: TestServer;

beforeAll(async () => {
  // Idle timeout of 3 seconds: an unused refresh token dies after it.
  server = await startTestServer('embedded', { signin: { idleMinutes: 0.05 } });
  await signinOf(server).users.create({ username: 'nurse.idle', password: 'idle nurse 12', role: 'clinician', organization: 'Organization/clinic-a' });
});
afterAll(async () => {
  await server?.close();
});

describe('SMART discovery of the sign-in flow', () => {
  it.each(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'])('%s lists the endpoints and capabilities', async (p) => {
    const doc = await (await fetch(`${server.url}${p}`)).json();
    expect(doc).toMatchObject({
      issuer: `${server.url}/auth`,
      authorization_endpoint: `${server.url}/auth/authorize`,
      token_endpoint: `${server.url}/auth/token`,
      revocation_endpoint: `${server.url}/auth/revoke`,
      introspection_endpoint: `${server.url}/auth/introspect`,
      jwks_uri: `${server.url}/auth/jwks.json`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
    });
    expect(doc.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(doc.capabilities).toEqual(
      expect.arrayContaining(['launch-standalone', 'client-public', 'client-confidential-symmetric', 'context-standalone-patient', 'permission-user', 'permission-patient', 'permission-v2', 'sso-openid-connect', 'context-passthrough-banner'])
    );
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['openid', 'fhirUser', 'launch/patient', 'offline_access', 'patient/Immunization.rs', 'user/*.cruds']));
  });

  it('metadata names every OAuth endpoint in oauth-uris', async () => {
    const res = await server.fhir('GET', 'metadata', { headers: { authorization: '' } });
    const uris = res.body.rest[0].security.extension.find((e: { url: string }) => e.url.endsWith('/oauth-uris'));
    expect(Object.fromEntries(uris.extension.map((e: { url: string; valueUri: string }) => [e.url, e.valueUri]))).toEqual({
      authorize: `${server.url}/auth/authorize`,
      token: `${server.url}/auth/token`,
      revoke: `${server.url}/auth/revoke`,
      introspect: `${server.url}/auth/introspect`,
      register: `${server.url}/auth/register`,
    });
    // The same URLs as the SMART configuration's.
    const smart = await (await fetch(`${server.url}/.well-known/smart-configuration`)).json();
    expect(Object.fromEntries(uris.extension.map((e: { url: string; valueUri: string }) => [e.url, e.valueUri]))).toEqual({
      authorize: smart.authorization_endpoint,
      token: smart.token_endpoint,
      revoke: smart.revocation_endpoint,
      introspect: smart.introspection_endpoint,
      register: smart.registration_endpoint,
    });
  });

  it('the OpenID configuration and the key set agree with the tokens', async () => {
    const openid = await (await fetch(`${server.url}/auth/.well-known/openid-configuration`)).json();
    expect(openid.issuer).toBe(`${server.url}/auth`);
    expect(openid.code_challenge_methods_supported).toEqual(['S256']);
    const jwks = await (await fetch(`${server.url}/auth/jwks.json`)).json();
    expect(jwks.keys.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'ES384']);
    expect(JSON.stringify(jwks)).not.toContain('"d"');
  });

  it("the OpenID configuration's endpoints are PUBLIC_BASE_URL's whatever Host the request names (a proxy that rewrites it)", async () => {
    // fetch cannot set Host: a raw request naming the address a proxy would forward to.
    const body = await new Promise<string>((resolve, reject) => {
      const target = new URL(`${server.url}/auth/.well-known/openid-configuration`);
      const req = http.get(target, { headers: { host: 'iis-internal.local:9000' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
    });
    const openid = JSON.parse(body);
    const endpoints = Object.entries(openid).filter(([field]) => field.endsWith('_endpoint'));
    expect(endpoints.map(([field]) => field)).toEqual(expect.arrayContaining(['authorization_endpoint', 'token_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'end_session_endpoint']));
    for (const [field, value] of endpoints) expect(value, field).toMatch(new RegExp(`^${server.url}/auth/`));
    expect(body).not.toContain('iis-internal.local');
  });

  it('the OpenID configuration and the SMART configuration describe the same server (issuer, keys, endpoints, grants, client authentication)', async () => {
    const openid = await (await fetch(`${server.url}/auth/.well-known/openid-configuration`)).json();
    const smart = await (await fetch(`${server.url}/.well-known/smart-configuration`)).json();
    for (const field of ['issuer', 'jwks_uri', 'authorization_endpoint', 'token_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'registration_endpoint']) {
      expect(openid[field], field).toBe(smart[field]);
    }
    for (const field of ['grant_types_supported', 'token_endpoint_auth_methods_supported', 'token_endpoint_auth_signing_alg_values_supported', 'code_challenge_methods_supported', 'response_types_supported']) {
      expect([...openid[field]].sort(), field).toEqual([...smart[field]].sort());
    }
    // Every method listed is one the token endpoint takes (signin-flow.test.ts: client_secret_post too).
    expect(smart.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']));
    // The key set named there verifies the sign-in's id_tokens (its ES256 key is in it).
    const jwks = await (await fetch(openid.jwks_uri)).json();
    expect(jwks.keys.map((k: { alg: string }) => k.alg)).toContain('ES256');
  });
});

describe('idle timeout', () => {
  it('a refresh token unused for longer than SIGNIN_IDLE_MINUTES is refused; used in time, it keeps the session going', async () => {
    const cfg = await oidc.discovery(new URL(`${server.url}/auth`), 'iis-web-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const tokens = await signInWithCode(cfg, { redirectUri: `${server.url}/app/callback`, scope: 'openid offline_access user/Patient.rs', username: 'nurse.idle', password: 'idle nurse 12' });
    await new Promise((r) => setTimeout(r, 1500));
    const kept = await oidc.refreshTokenGrant(cfg, tokens.refresh_token as string);
    await new Promise((r) => setTimeout(r, 1500));
    const keptAgain = await oidc.refreshTokenGrant(cfg, kept.refresh_token as string);
    await new Promise((r) => setTimeout(r, 4000));
    await expect(oidc.refreshTokenGrant(cfg, keptAgain.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  }, 30_000);
});
