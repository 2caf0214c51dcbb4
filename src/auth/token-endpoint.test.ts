// Token endpoint rules that need a clock: the 5-minute assertion horizon and the jti memory
// (replays refused until the assertion's exp, then forgotten), and the server key file.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, signWith, type TestKey } from '../../test/helpers/jwks-server.js';
import { loadServerKey, SERVER_KEY_FILE, type ServerKey } from './server-key.js';
import { CLIENT_ASSERTION_TYPE, TokenEndpoint } from './token-endpoint.js';

const TOKEN_URL = 'https://iis.example/auth/token';
let dir: string;
let serverKey: ServerKey;
let clientKey: TestKey;
let clock = 2_000_000_000;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'iis-token-'));
  serverKey = (await loadServerKey(dir)).key;
  clientKey = await makeKey('ES384', 'c1');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function endpoint(): TokenEndpoint {
  return new TokenEndpoint({
    clients: [{ clientId: 'app', jwks: { keys: [clientKey.publicJwk] }, scope: 'system/*.rs', organization: 'Organization/o1' }],
    serverKey,
    tokenUrl: TOKEN_URL,
    issuer: 'https://iis.example/auth',
    audience: 'https://iis.example/fhir',
    now: () => clock,
  });
}

async function request(ep: TokenEndpoint, claims: Record<string, unknown>) {
  const assertion = await signWith(clientKey, { iss: 'app', sub: 'app', aud: TOKEN_URL, jti: randomUUID(), exp: clock + 60, iat: clock, ...claims });
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion, scope: 'system/Patient.rs' });
  return ep.handle(form);
}

describe('TokenEndpoint', () => {
  it('accepts exp exactly 5 minutes ahead, refuses beyond', async () => {
    const ep = endpoint();
    expect((await request(ep, { exp: clock + 300 })).status).toBe(200);
    const far = await request(ep, { exp: clock + 306 });
    expect(far).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('remembers a jti until the assertion expires, then forgets it', async () => {
    const ep = endpoint();
    const jti = randomUUID();
    expect((await request(ep, { jti, exp: clock + 100 })).status).toBe(200);
    clock += 50;
    expect((await request(ep, { jti, exp: clock + 100 })).body.error).toBe('invalid_client');
    clock += 200; // past the first assertion's exp (+ tolerance): the jti is forgotten
    expect((await request(ep, { jti, exp: clock + 100 })).status).toBe(200);
    // the same jti from another client would be a different key (no cross-client collisions)
  });

  it('issues an ES384 token verifiable with the public key, with the registered organization', async () => {
    const res = await request(endpoint(), {});
    expect(res.status).toBe(200);
    const token = res.body.access_token as string;
    const { payload } = await jwtVerify(token, serverKey.publicKey, {
      issuer: 'https://iis.example/auth',
      audience: 'https://iis.example/fhir',
      currentDate: new Date(clock * 1000),
    });
    expect(payload).toMatchObject({ sub: 'app', client_id: 'app', scope: 'system/Patient.rs', organization: 'Organization/o1' });
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);
    expect(decodeJwt(token).jti).toBeTruthy();
  });
});

describe('server key', () => {
  it('is created once (mode 0600) and reloaded with the same kid', async () => {
    const again = await loadServerKey(dir);
    expect(again.created).toBe(false);
    expect(again.key.kid).toBe(serverKey.kid);
    expect(again.key.publicJwk.d).toBeUndefined();
    expect((await stat(path.join(dir, SERVER_KEY_FILE))).mode & 0o777).toBe(0o600);
  });
});
