// A SMART client library against the server: MedplumClient (@medplum/core) authenticates as a
// SMART Backend Services client (client_credentials + private_key_jwt assertion at /auth/token,
// discovered from /.well-known/smart-configuration), then creates and reads a Patient with the token.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MedplumClient } from '@medplum/core';
import * as oidc from 'openid-client';
import type { AuditEvent, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, signWith, type TestKey } from './helpers/jwks-server.js';
import { patient, startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let tmp: string;
let key: TestKey;

beforeAll(async () => {
  key = await makeKey('ES384', 'bot-key-1');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'iis-smart-client-'));
  const clientsFile = path.join(tmp, 'clients.json');
  await writeFile(clientsFile, JSON.stringify([{ client_id: 'medplum-bot', jwks: { keys: [key.publicJwk] }, scope: 'system/Patient.cruds' }]));
  server = await startTestServer('embedded', { authClientsFile: clientsFile });
});

afterAll(async () => {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('MedplumClient as a SMART Backend Services client', () => {
  it('gets a token with a signed assertion, then creates and reads a Patient', async () => {
    const discovery = await (await fetch(`${server.url}/.well-known/smart-configuration`)).json();
    const tokenUrl: string = discovery.token_endpoint;
    const medplum = new MedplumClient({
      baseUrl: `${server.url}/`,
      fhirUrlPath: 'fhir',
      tokenUrl,
      clientId: 'medplum-bot',
      fetch: (url: string, init?: RequestInit) => fetch(url, init),
    });
    const assertion = await signWith(key, {
      iss: 'medplum-bot',
      sub: 'medplum-bot',
      aud: tokenUrl,
      jti: randomUUID(),
      exp: Math.floor(Date.now() / 1000) + 120,
    });
    await medplum.startJwtAssertionLogin(assertion);
    expect(medplum.getAccessToken()).toBeTruthy();

    const created = await medplum.createResource(patient({ name: [{ family: 'Medplum', given: ['Mia'] }] }) as unknown as Patient);
    expect(created.id).toBeTruthy();
    const fetched = await medplum.readResource('Patient', created.id as string, { cache: 'no-cache' });
    expect(fetched.name?.[0]?.family).toBe('Medplum');
    expect(fetched.meta?.versionId).toBe('1');

    // Without the token the same read is refused.
    const anonymous = await fetch(`${server.baseUrl}/Patient/${created.id}`);
    expect(anonymous.status).toBe(401);
  });

  it('surfaces the OAuth error of a refused assertion', async () => {
    const medplum = new MedplumClient({
      baseUrl: `${server.url}/`,
      fhirUrlPath: 'fhir',
      tokenUrl: `${server.url}/auth/token`,
      clientId: 'medplum-bot',
      fetch: (url: string, init?: RequestInit) => fetch(url, init),
    });
    const wrongAudience = await signWith(key, {
      iss: 'medplum-bot',
      sub: 'medplum-bot',
      aud: server.baseUrl,
      jti: randomUUID(),
      exp: Math.floor(Date.now() / 1000) + 120,
    });
    await expect(medplum.startJwtAssertionLogin(wrongAudience)).rejects.toThrow();
    expect(medplum.getAccessToken()).toBeUndefined();
  });

  it('each client_credentials request, issued or refused, is an AuditEvent naming the client (IHE BALP IUA.71 Get Access Token)', async () => {
    const tokenUrl = `${server.url}/auth/token`;
    const request = async (aud: string) => {
      const assertion = await signWith(key, { iss: 'medplum-bot', sub: 'medplum-bot', aud, jti: randomUUID(), exp: Math.floor(Date.now() / 1000) + 120 });
      const body = new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Patient.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
      return fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    };
    const issued = await request(tokenUrl);
    expect(issued.status).toBe(200);
    const token = (await issued.json()).access_token as string;
    expect((await request(server.baseUrl)).status).toBe(401);
    await server.audit.flush(5000);
    const events = ((await server.fhir('GET', 'AuditEvent?_count=1000')).body.entry ?? [])
      .map((e: { resource: AuditEvent }) => e.resource)
      .filter((e: AuditEvent) => e.subtype?.some((c) => c.code === 'ITI-71') && e.agent?.some((a) => a.who?.identifier?.value === 'medplum-bot'));
    const summary = events.map((e: AuditEvent) => [e.type?.code, e.outcome, e.entity?.[0]?.detail?.find((d) => d.type === 'scope')?.valueString]);
    expect(summary).toEqual(expect.arrayContaining([['110114', '0', 'system/Patient.rs'], ['110114', '4', undefined]]));
    expect(events.find((e: AuditEvent) => e.outcome === '4')?.outcomeDesc).toContain('invalid_client');
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('openid-client as the backend client: a token, and a refused assertion is the invalid_client of the body (no Bearer challenge on the token endpoint)', async () => {
    const tokenUrl = `${server.url}/auth/token`;
    const client = (signingKey: TestKey) =>
      oidc.discovery(new URL(`${server.url}/auth`), 'medplum-bot', undefined, oidc.PrivateKeyJwt({ key: signingKey.privateKey, kid: key.kid }, { [oidc.modifyAssertion]: (_header, payload) => void (payload.aud = tokenUrl) }), {
        execute: [oidc.allowInsecureRequests],
      });
    const granted = await oidc.clientCredentialsGrant(await client(key), { scope: 'system/Patient.rs' });
    expect(granted.scope).toBe('system/Patient.rs');
    // Signed with a key the client did not register (same kid): RFC 6749 §5.2 invalid_client, 401.
    // The client authenticated in the form, so the answer carries no WWW-Authenticate; a Bearer
    // challenge for the FHIR realm made openid-client report a challenge, not the OAuth error.
    const impostor = await makeKey('ES384', key.kid);
    const refused = await oidc.clientCredentialsGrant(await client(impostor), { scope: 'system/Patient.rs' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(oidc.ResponseBodyError);
    expect(refused).toMatchObject({ status: 401, error: 'invalid_client' });
    for (const endpoint of ['token', 'introspect', 'revoke']) {
      const res = await fetch(`${server.url}/auth/${endpoint}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=x&client_id=nobody&token=x' });
      expect(res.status, endpoint).toBe(401);
      expect(res.headers.get('www-authenticate'), endpoint).toBeNull();
      expect((await res.json()).error, endpoint).toBe('invalid_client');
    }
    // A client that did use Basic gets the Basic challenge (oidc-provider's), as RFC 6749 §5.2 asks.
    const basic = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('nobody:wrong').toString('base64')}` },
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
  });
});
