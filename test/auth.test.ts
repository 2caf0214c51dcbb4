// Auth through HTTP (CONTRACT.md "Auth"): HS256, RS/ES tokens from a JWKS issuer served on
// 127.0.0.1, the server's own SMART Backend Services token endpoint, SMART discovery, and every
// refusal (401 OperationOutcome for tokens; OAuth error JSON from the token endpoint).
import { createHmac, randomUUID } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader, exportSPKI, SignJWT } from 'jose';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, signWith, startJwksServer, type JwksServer, type TestKey } from './helpers/jwks-server.js';
import { patient, startTestServer, TEST_SECRET, type TestServer } from './helpers/server.js';

const ISSUER = 'https://issuer.test/realm';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let jwks: JwksServer;
let server: TestServer;
let jwksOnly: TestServer;
let tmp: string;
const keys: Record<string, TestKey> = {};

beforeAll(async () => {
  jwks = await startJwksServer();
  keys.rs256 = await makeKey('RS256', 'issuer-rs256');
  keys.rs384 = await makeKey('RS384', 'issuer-rs384');
  keys.es256 = await makeKey('ES256', 'issuer-es256');
  keys.es384 = await makeKey('ES384', 'issuer-es384');
  keys.ps256 = await makeKey('PS256', 'issuer-ps256');
  keys.rotated = await makeKey('RS384', 'issuer-rotated');
  keys.impostor = await makeKey('RS384', 'issuer-rs384'); // same kid, other key
  keys.clientEs = await makeKey('ES384', 'client-es');
  keys.clientRs = await makeKey('RS384', 'client-rs');
  keys.clientOrg = await makeKey('ES384', 'client-org');
  keys.clientRs256 = await makeKey('RS256', 'client-rs256');
  jwks.sets.set('/issuer/jwks.json', {
    keys: [keys.rs256, keys.rs384, keys.es256, keys.es384, keys.ps256].map((k) => k.publicJwk),
  });
  jwks.sets.set('/client/jwks.json', { keys: [keys.clientRs.publicJwk] });

  tmp = await mkdtemp(path.join(os.tmpdir(), 'iis-auth-'));
  const clientsFile = path.join(tmp, 'clients.json');
  await writeFile(
    clientsFile,
    JSON.stringify({
      clients: [
        { client_id: 'inline-es', jwks: { keys: [keys.clientEs.publicJwk, keys.clientRs256.publicJwk] }, scope: 'system/*.cruds' },
        { client_id: 'remote-rs', jwks_uri: `${jwks.url}/client/jwks.json`, scope: 'system/Patient.rs system/Immunization.cruds' },
        { client_id: 'facility', jwks: { keys: [keys.clientOrg.publicJwk] }, scope: 'user/*.cruds system/Patient.rs', organization: 'Organization/clinic-7' },
      ],
    })
  );
  server = await startTestServer('embedded', { authJwksUrl: `${jwks.url}/issuer/jwks.json`, authIssuer: ISSUER, authClientsFile: clientsFile });
  jwksOnly = await startTestServer('embedded', {
    authJwtSecret: undefined,
    authJwksUrl: `${jwks.url}/issuer/jwks.json`,
    authIssuer: ISSUER,
    authClientsFile: clientsFile,
  });
});

afterAll(async () => {
  await server?.close();
  await jwksOnly?.close();
  await jwks?.close();
  await rm(tmp, { recursive: true, force: true });
});

const read = (s: TestServer, token: string, what = 'Patient/x') => s.fhir('GET', what, { headers: { authorization: `Bearer ${token}` } });

function issuerClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, sub: 'analyst-1', scope: 'system/*.rs', exp: now() + 300, ...overrides };
}

async function expect401(s: TestServer, token: string, diagnostics?: RegExp): Promise<void> {
  const res = await read(s, token);
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].code).toBe('login');
  if (diagnostics) expect(res.body.issue[0].diagnostics).toMatch(diagnostics);
}

describe('access tokens at /fhir', () => {
  it.each(['rs256', 'rs384', 'es256', 'es384'])('accepts a %s token from the JWKS issuer (404 for an unknown Patient, not 401)', async (name) => {
    const token = await signWith(keys[name], issuerClaims());
    const res = await read(server, token);
    expect(res.status).toBe(404);
    expect((await read(jwksOnly, token)).status).toBe(404);
  });

  it('accepts a JWKS token whose aud is the FHIR base, and reads what it created', async () => {
    const token = await signWith(keys.es384, issuerClaims({ scope: 'system/Patient.cruds', aud: server.baseUrl }));
    const created = await server.fhir('POST', 'Patient', { body: patient(), headers: { authorization: `Bearer ${token}` } });
    expect(created.status).toBe(201);
    expect((await read(server, token, `Patient/${created.body.id}`)).status).toBe(200);
  });

  it('applies the JWKS token scopes (403, not 401, for a write with a read scope)', async () => {
    const token = await signWith(keys.rs384, issuerClaims({ scope: 'system/Patient.rs' }));
    const res = await server.fhir('POST', 'Patient', { body: patient(), headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
  });

  it('401 for alg none (any spelling), with or without a signature part', async () => {
    const claims = b64({ sub: 'x', scope: 'system/*.cruds', exp: now() + 300, iss: ISSUER });
    for (const alg of ['none', 'None', 'NONE']) {
      await expect401(server, `${b64({ alg, typ: 'JWT' })}.${claims}.`);
      await expect401(server, `${b64({ alg, typ: 'JWT' })}.${claims}.c2ln`);
    }
    await expect401(server, `${b64({ typ: 'JWT' })}.${claims}.`);
  });

  it('401 for an HS256 token signed with the issuer RSA public key (algorithm confusion)', async () => {
    const pem = await exportSPKI((await importPublic(keys.rs384)) as CryptoKey);
    for (const header of [{ alg: 'HS256', typ: 'JWT' }, { alg: 'HS256', typ: 'JWT', kid: keys.rs384.kid }]) {
      const input = `${b64(header)}.${b64(issuerClaims())}`;
      for (const secret of [pem, JSON.stringify(keys.rs384.publicJwk)]) {
        const signature = createHmac('sha256', secret).update(input).digest('base64url');
        await expect401(server, `${input}.${signature}`);
        await expect401(jwksOnly, `${input}.${signature}`);
      }
    }
  });

  it("401 for an HS256 token signed with the server's own public key (algorithm confusion)", async () => {
    const jwksDoc = await (await fetch(`${server.url}/auth/jwks.json`)).json();
    const own = jwksDoc.keys[0];
    const input = `${b64({ alg: 'HS256', kid: own.kid })}.${b64({ sub: 'x', scope: 'system/*.cruds', exp: now() + 300 })}`;
    const signature = createHmac('sha256', JSON.stringify(own)).update(input).digest('base64url');
    await expect401(server, `${input}.${signature}`);
    // An HS384 token is refused outright.
    const hs384 = jwt.sign({ scope: 'system/*.cruds' }, TEST_SECRET, { algorithm: 'HS384', expiresIn: 60 });
    await expect401(server, hs384, /HS384/);
  });

  it('401 for an expired JWKS token, and for one whose nbf is ahead', async () => {
    await expect401(server, await signWith(keys.rs384, issuerClaims({ exp: now() - 60 })), /expired/);
    await expect401(server, await signWith(keys.es384, issuerClaims({ nbf: now() + 120 })), /not valid yet/);
    await expect401(server, jwt.sign({ scope: 'system/*.cruds', nbf: now() + 120 }, TEST_SECRET, { expiresIn: 600 }), /not valid yet/);
  });

  it('401 for a wrong aud (JWKS and HS256 tokens)', async () => {
    await expect401(server, await signWith(keys.rs384, issuerClaims({ aud: 'https://other.example/fhir' })), /aud/);
    await expect401(server, jwt.sign({ scope: 'system/*.cruds' }, TEST_SECRET, { expiresIn: 60, audience: 'https://other.example/fhir' }), /aud/);
  });

  it('401 for a bad signature (another key under a known kid; a tampered payload)', async () => {
    await expect401(server, await signWith(keys.impostor, issuerClaims()), /signature/);
    const good = await signWith(keys.es384, issuerClaims({ scope: 'system/Patient.rs' }));
    const [h, , s] = good.split('.');
    await expect401(server, `${h}.${b64(issuerClaims({ scope: 'system/*.cruds' }))}.${s}`, /signature/);
  });

  it('401 for a JWKS token from another issuer, without exp, with an unknown kid, or with an algorithm not accepted', async () => {
    await expect401(server, await signWith(keys.rs384, issuerClaims({ iss: 'https://evil.example' })), /iss/);
    const { exp: _exp, ...noExp } = issuerClaims();
    await expect401(server, await signWith(keys.rs384, noExp), /exp/);
    await expect401(server, await signWith(keys.rotated, issuerClaims()), /kid/);
    await expect401(server, await signWith(keys.ps256, issuerClaims()), /PS256/);
  });

  it('HS256 is accepted only when a secret is configured', async () => {
    expect((await read(server, server.token())).status).toBe(404);
    await expect401(jwksOnly, server.token(), /HS256/);
  });

  it('picks up no unknown kid within the refetch cool-down (the JWKS is not refetched per token)', async () => {
    await read(server, await signWith(keys.rs384, issuerClaims())); // cache filled
    const before = jwks.hits.get('/issuer/jwks.json') ?? 0;
    jwks.sets.get('/issuer/jwks.json')?.keys.push(keys.rotated.publicJwk);
    const stranger = await signWith(keys.rotated, issuerClaims());
    for (let i = 0; i < 5; i++) await expect401(server, stranger);
    expect((jwks.hits.get('/issuer/jwks.json') ?? 0) - before).toBeLessThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------

async function assertion(key: TestKey, clientId: string, overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  return signWith(
    key,
    { iss: clientId, sub: clientId, aud: `${server.url}/auth/token`, exp: now() + 240, jti: randomUUID(), ...overrides },
    header
  );
}

async function tokenRequest(s: TestServer, form: Record<string, string>, contentType = 'application/x-www-form-urlencoded') {
  const res = await fetch(`${s.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: contentType === 'application/json' ? JSON.stringify(form) : new URLSearchParams(form).toString(),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

function form(clientAssertion: string, scope = 'system/*.rs'): Record<string, string> {
  return { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion, scope };
}

async function expectOAuthError(res: Awaited<ReturnType<typeof tokenRequest>>, status: number, error: string, description?: RegExp) {
  expect(res.status).toBe(status);
  expect(res.body.error).toBe(error);
  expect(typeof res.body.error_description).toBe('string');
  if (description) expect(res.body.error_description).toMatch(description);
  expect(res.body.access_token).toBeUndefined();
  expect(res.headers.get('cache-control')).toBe('no-store');
}

describe('SMART Backend Services: POST /auth/token', () => {
  it('issues a 300 s bearer token that then reads /fhir (404 for an unknown Patient, not 401)', async () => {
    const res = await tokenRequest(server, form(await assertion(keys.clientEs, 'inline-es'), 'system/*.rs'));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/*.rs' });
    const claims = decodeJwt(res.body.access_token);
    expect(claims).toMatchObject({ sub: 'inline-es', client_id: 'inline-es', aud: server.baseUrl, scope: 'system/*.rs' });
    expect((claims.exp as number) - now()).toBeLessThanOrEqual(300);
    expect(claims.organization).toBeUndefined();
    const header = decodeProtectedHeader(res.body.access_token);
    expect(header.alg).toBe('ES384');
    const published = await (await fetch(`${server.url}/auth/jwks.json`)).json();
    expect(published.keys.map((k: { kid: string }) => k.kid)).toContain(header.kid);
    expect(published.keys[0].d).toBeUndefined();
    expect((await read(server, res.body.access_token)).status).toBe(404);
    // read scope only: a write is 403
    const write = await server.fhir('POST', 'Patient', { body: patient(), headers: { authorization: `Bearer ${res.body.access_token}` } });
    expect(write.status).toBe(403);
    // the server's own tokens are accepted even when no HS256 secret is configured
    const own = await tokenRequest(jwksOnly, form(await signWith(keys.clientEs, { iss: 'inline-es', sub: 'inline-es', aud: `${jwksOnly.url}/auth/token`, exp: now() + 60, jti: randomUUID() })));
    expect(own.status).toBe(200);
    expect((await read(jwksOnly, own.body.access_token)).status).toBe(404);
    // …but not by another server (other key, other audience)
    await expect401(jwksOnly, res.body.access_token);
  });

  it('accepts RS384 from a jwks_uri client (with a matching jku) and narrows scopes to what is allowed', async () => {
    const res = await tokenRequest(
      server,
      form(await assertion(keys.clientRs, 'remote-rs', {}, { jku: `${jwks.url}/client/jwks.json` }), 'system/*.cruds launch openid system/Patient.read')
    );
    expect(res.status).toBe(200);
    expect(res.body.scope.split(' ')).toEqual(['system/Patient.rs', 'system/Immunization.cruds', 'system/Patient.read']);
    const token = res.body.access_token;
    const created = await server.fhir('POST', 'Immunization', {
      body: { resourceType: 'Immunization', status: 'completed' },
      headers: { authorization: `Bearer ${token}` },
    });
    expect([400, 422]).toContain(created.status); // authorized (validation answers), not 401/403
    expect((await server.fhir('DELETE', 'Patient/x', { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
  });

  it('grants the registered scopes when the request names none (RFC 6749 §3.3 default)', async () => {
    const { scope: _scope, ...noScope } = form(await assertion(keys.clientRs, 'remote-rs'));
    const res = await tokenRequest(server, noScope);
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Patient.rs system/Immunization.cruds');
  });

  it('puts the registered organization in issued tokens', async () => {
    const res = await tokenRequest(server, form(await assertion(keys.clientOrg, 'facility'), 'user/*.rs'));
    expect(res.status).toBe(200);
    expect(decodeJwt(res.body.access_token)).toMatchObject({ organization: 'Organization/clinic-7', scope: 'user/*.rs' });
  });

  it('invalid_client (401) for a wrong aud', async () => {
    const res = await tokenRequest(server, form(await assertion(keys.clientEs, 'inline-es', { aud: server.baseUrl })));
    await expectOAuthError(res, 401, 'invalid_client', /aud/);
  });

  it('invalid_client (401) for an expired assertion', async () => {
    const res = await tokenRequest(server, form(await assertion(keys.clientEs, 'inline-es', { exp: now() - 30 })));
    await expectOAuthError(res, 401, 'invalid_client', /expired/);
  });

  it('invalid_client (401) for an assertion expiring more than 5 minutes ahead', async () => {
    const res = await tokenRequest(server, form(await assertion(keys.clientEs, 'inline-es', { exp: now() + 600 })));
    await expectOAuthError(res, 401, 'invalid_client', /exp/);
  });

  it('invalid_client (401) for a reused jti', async () => {
    const once = await assertion(keys.clientEs, 'inline-es');
    expect((await tokenRequest(server, form(once))).status).toBe(200);
    await expectOAuthError(await tokenRequest(server, form(once)), 401, 'invalid_client', /jti/);
    // a new assertion with the same jti is refused too
    const { jti } = decodeJwt(once);
    await expectOAuthError(await tokenRequest(server, form(await assertion(keys.clientEs, 'inline-es', { jti }))), 401, 'invalid_client', /jti/);
  });

  it('invalid_client (401) without a jti or a kid', async () => {
    const noJti = await new SignJWT({ iss: 'inline-es', sub: 'inline-es', aud: `${server.url}/auth/token`, exp: now() + 60 })
      .setProtectedHeader({ alg: 'ES384', kid: 'client-es' })
      .sign(keys.clientEs.privateKey);
    await expectOAuthError(await tokenRequest(server, form(noJti)), 401, 'invalid_client', /jti/);
    const noKid = await new SignJWT({ iss: 'inline-es', sub: 'inline-es', aud: `${server.url}/auth/token`, exp: now() + 60, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES384' })
      .sign(keys.clientEs.privateKey);
    await expectOAuthError(await tokenRequest(server, form(noKid)), 401, 'invalid_client', /kid/);
  });

  it('invalid_client (401) for an unknown kid (inline and jwks_uri clients)', async () => {
    await expectOAuthError(await tokenRequest(server, form(await assertion(keys.clientEs, 'inline-es', {}, { kid: 'nope' }))), 401, 'invalid_client', /kid/);
    await expectOAuthError(await tokenRequest(server, form(await assertion(keys.clientRs, 'remote-rs', {}, { kid: 'nope' }))), 401, 'invalid_client', /kid/);
  });

  it('invalid_client (401) for a jku that is not the registered jwks_uri', async () => {
    const res = await tokenRequest(server, form(await assertion(keys.clientRs, 'remote-rs', {}, { jku: `${jwks.url}/issuer/jwks.json` })));
    await expectOAuthError(res, 401, 'invalid_client', /jku/);
    const inline = await tokenRequest(server, form(await assertion(keys.clientEs, 'inline-es', {}, { jku: `${jwks.url}/client/jwks.json` })));
    await expectOAuthError(inline, 401, 'invalid_client', /jku/);
  });

  it('invalid_scope (400) when no requested scope is allowed', async () => {
    const res = await tokenRequest(server, form(await assertion(keys.clientRs, 'remote-rs'), 'system/Consent.rs user/*.cruds'));
    await expectOAuthError(res, 400, 'invalid_scope', /remote-rs/);
  });

  it('invalid_client (401) for an unknown client', async () => {
    const res = await tokenRequest(server, form(await assertion(keys.clientEs, 'stranger')));
    await expectOAuthError(res, 401, 'invalid_client', /not registered/);
  });

  it('invalid_client (401) for a client secret on client_credentials, with the Basic challenge when it came in the header (RFC 6749 §5.2: an authentication method it does not take)', async () => {
    const basic = await fetch(`${server.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('inline-es:some-secret').toString('base64')}` },
      body: 'grant_type=client_credentials&scope=system/*.rs',
    });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toMatch(/^Basic realm="[^"]+\/auth", error="invalid_client"$/);
    expect(basic.headers.get('cache-control')).toBe('no-store');
    expect(await basic.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/signed client assertion/) });
    const post = await tokenRequest(server, { grant_type: 'client_credentials', client_id: 'inline-es', client_secret: 'some-secret', scope: 'system/*.rs' });
    await expectOAuthError(post, 401, 'invalid_client', /not a client secret/);
    expect(post.headers.get('www-authenticate')).toBeNull();
    // Nothing at all is still a malformed request.
    await expectOAuthError(await tokenRequest(server, { grant_type: 'client_credentials', scope: 'system/*.rs' }), 400, 'invalid_request', /client_assertion_type/);
  });

  it('unsupported_grant_type (400) for a grant type the server does not have', async () => {
    const f = form(await assertion(keys.clientEs, 'inline-es'));
    for (const grant of ['urn:ietf:params:oauth:grant-type:jwt-bearer', 'password']) {
      await expectOAuthError(await tokenRequest(server, { ...f, grant_type: grant }), 400, 'unsupported_grant_type');
    }
  });

  it('unauthorized_client (400) when a backend-services client asks for a grant of the sign-in flow (RFC 6749 §5.2); invalid_client first when its assertion fails', async () => {
    for (const grant of ['authorization_code', 'refresh_token']) {
      const f = form(await assertion(keys.clientEs, 'inline-es'));
      await expectOAuthError(await tokenRequest(server, { ...f, grant_type: grant, code: 'x', refresh_token: 'x' }), 400, 'unauthorized_client', /client_credentials only/);
    }
    const forged = await assertion(keys.clientOrg, 'inline-es', {}, { kid: 'client-es' });
    await expectOAuthError(await tokenRequest(server, { ...form(forged), grant_type: 'authorization_code', code: 'x' }), 401, 'invalid_client', /signature/);
  });

  it('invalid_client (401) for a bad signature, iss ≠ sub, an alg other than RS384/ES384, or a malformed assertion', async () => {
    const forged = await assertion(keys.clientOrg, 'inline-es', {}, { kid: 'client-es' });
    await expectOAuthError(await tokenRequest(server, form(forged)), 401, 'invalid_client', /signature/);
    await expectOAuthError(await tokenRequest(server, form(await assertion(keys.clientEs, 'inline-es', { sub: 'other' }))), 401, 'invalid_client', /sub/);
    await expectOAuthError(await tokenRequest(server, form(await assertion(keys.clientRs256, 'inline-es'))), 401, 'invalid_client', /RS256/);
    const none = `${b64({ alg: 'none' })}.${b64({ iss: 'inline-es', sub: 'inline-es', aud: `${server.url}/auth/token`, exp: now() + 60, jti: randomUUID() })}.`;
    await expectOAuthError(await tokenRequest(server, form(none)), 401, 'invalid_client', /none/);
    await expectOAuthError(await tokenRequest(server, form('not-a-jwt')), 401, 'invalid_client', /well-formed/);
  });

  it('invalid_request (400) for missing or wrong parameters and a body that is not a form', async () => {
    const a = await assertion(keys.clientEs, 'inline-es');
    const full = form(a);
    for (const missing of ['grant_type', 'client_assertion_type', 'client_assertion']) {
      const { [missing]: _, ...rest } = full;
      await expectOAuthError(await tokenRequest(server, rest), 400, 'invalid_request', new RegExp(missing));
    }
    await expectOAuthError(await tokenRequest(server, { ...full, client_assertion_type: 'urn:other' }), 400, 'invalid_request', /client_assertion_type/);
    await expectOAuthError(await tokenRequest(server, full, 'application/json'), 400, 'invalid_request', /x-www-form-urlencoded/);
    const twice = await fetch(`${server.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${new URLSearchParams(full).toString()}&scope=system/Patient.rs`,
    });
    expect(twice.status).toBe(400);
    expect((await twice.json()).error).toBe('invalid_request');
    const get = await fetch(`${server.url}/auth/token`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});

describe('SMART discovery', () => {
  it.each(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'])('%s answers without a token', async (p) => {
    const res = await fetch(`${server.url}${p}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = await res.json();
    expect(doc).toMatchObject({
      token_endpoint: `${server.url}/auth/token`,
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      jwks_uri: `${server.url}/auth/jwks.json`,
      // People sign in at the authorization server of src/signin (tested in src/signin).
      authorization_endpoint: `${server.url}/auth/authorize`,
      code_challenge_methods_supported: ['S256'],
    });
    expect(doc.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt']));
    expect(doc.grant_types_supported).toEqual(expect.arrayContaining(['client_credentials']));
    expect(doc.capabilities).toEqual(expect.arrayContaining(['client-confidential-asymmetric', 'permission-v2', 'permission-v1']));
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['system/*.cruds', 'system/Immunization.rs', 'system/Patient.read']));
  });

  it('GET /fhir/metadata names SMART-on-FHIR and the token endpoint (absolute) in rest.security', async () => {
    const res = await server.fhir('GET', 'metadata', { headers: { authorization: '' } });
    expect(res.status).toBe(200);
    const security = res.body.rest[0].security;
    expect(security.service[0].coding[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' });
    const uris = security.extension.find((e: { url: string }) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    expect(uris.extension).toEqual(expect.arrayContaining([{ url: 'token', valueUri: `${server.url}/auth/token` }]));
  });

  it('the rest of /fhir still needs a token; the auth endpoints do not', async () => {
    expect((await server.fhir('GET', 'Patient', { headers: { authorization: '' } })).status).toBe(401);
    expect((await fetch(`${server.url}/auth/jwks.json`)).status).toBe(200);
  });
});

async function importPublic(key: TestKey) {
  const { importJWK } = await import('jose');
  return importJWK(key.publicJwk, key.alg, { extractable: true });
}
