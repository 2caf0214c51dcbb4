// When the store does not answer, the sign-in server says so (503, come back later) instead of
// a server error, and nothing is lost: the refresh token works again once the store is back.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import type { ExpiringRecords } from '../store/expiring.js';
import { StoreUnavailableError } from '../store/store.js';
import { signinOf } from './test-helpers.js';
import { TestAgent } from './test-agent.js';

let server: TestServer;
/** While true, the sign-in server's short-lived records (sessions, codes, tokens) fail as a store that went away. */
let down = false;

beforeAll(async () => {
  server = await startTestServer('embedded', {}, {
    wrapStore: (store) =>
      new Proxy(store, {
        get(target, prop) {
          if (prop === 'expiringRecords') {
            return (namespace: string): ExpiringRecords => {
              const records = target.expiringRecords(namespace);
              return new Proxy(records, {
                get(inner, method) {
                  const fn = Reflect.get(inner, method, inner) as (...args: unknown[]) => Promise<unknown>;
                  return async (...args: unknown[]) => {
                    if (down) throw new StoreUnavailableError('the store went away (test)');
                    return fn.apply(inner, args);
                  };
                },
              });
            };
          }
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      }),
  });
  await signinOf(server).users.create({ username: 'nurse.joy', password: 'pallet town 1', role: 'clinician', organization: 'Organization/clinic-a' });
});
afterAll(async () => {
  down = false;
  await server?.close();
});

describe('the sign-in server while the store is unavailable', () => {
  it('answers 503 temporarily_unavailable at /auth/token and a 503 page at /auth/authorize; the refresh token works once the store is back', async () => {
    const callback = `${server.url}/app/callback`;
    const agent = new TestAgent();
    const verifier = randomBytes(32).toString('base64url');
    const authorize = `${server.url}/auth/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: 'iis-web-app',
      redirect_uri: callback,
      scope: 'openid offline_access user/Patient.rs',
      state: 's',
      prompt: 'consent',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })}`;
    const form = await agent.follow(await agent.get(authorize), callback);
    const back = await agent.follow(await agent.post(agent.formAction(form), { username: 'nurse.joy', password: 'pallet town 1' }), callback);
    const code = new URL(back.location as string).searchParams.get('code') as string;
    const tokens = await postToken({ grant_type: 'authorization_code', code, redirect_uri: callback, code_verifier: verifier, client_id: 'iis-web-app' });
    expect(tokens.status).toBe(200);
    const refreshToken = tokens.body.refresh_token as string;

    down = true;
    const refused = await postToken({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'iis-web-app' });
    expect(refused.status).toBe(503);
    expect(refused.retryAfter).toBe('5');
    expect(refused.body).toEqual({ error: 'temporarily_unavailable', error_description: 'The data store is unavailable; try again shortly' });
    const page = await new TestAgent().get(authorize);
    expect(page.status).toBe(503);
    expect(page.html).toContain('<h1>Sign-in unavailable</h1>');

    down = false;
    const refreshed = await postToken({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'iis-web-app' });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).toBeTruthy();
  });
});

async function postToken(form: Record<string, string>): Promise<{ status: number; retryAfter: string | null; body: Record<string, string> }> {
  const res = await fetch(`${server.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, string> };
}
