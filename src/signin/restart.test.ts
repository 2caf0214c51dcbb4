// Sign-in state survives a restart: the server is stopped and started again on the same data
// (DATA_DIR, and the same MongoDB database on the MongoDB tier). A refresh token keeps working, the
// session cookie signs the user in without the password, a consumed authorization code and a
// rotated refresh token stay refused, and reusing one revokes everything of its grant.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../config.js';
import { dropDatabase, freePort, startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { artifactHash } from './provider-adapter.js';
import { signinOf } from './test-helpers.js';
import { TestAgent } from './test-agent.js';

const USER = { username: 'nurse.joy', password: 'pallet town 1' };

interface Tokens {
  status: number;
  body: { access_token?: string; refresh_token?: string; error?: string };
}

function restartSuite(kind: 'embedded' | 'mongodb'): void {
  describe(`sign-in state across a restart (${kind} store)`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    });

    /** A data directory (and, on MongoDB, a database of its own) that two starts of the server share. */
    async function restartableOverrides(): Promise<Partial<Config>> {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-signin-restart-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const overrides: Partial<Config> = { dataDir, port: await freePort() };
      if (kind === 'mongodb') {
        const url = new URL(testMongoUrl() as string);
        url.pathname = `/iis_test_restart_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
        overrides.mongodbUrl = url.toString();
        cleanups.push(() => dropDatabase(url.toString()));
      }
      return overrides;
    }

    it('refresh token, session cookie, consumed code, rotated refresh token and grant revocation', async () => {
      const overrides = await restartableOverrides();
      // 'embedded' as the helper's kind: with mongodbUrl in the overrides the server uses MongoDB,
      // and the helper leaves the database alone when it closes (the second start needs it).
      let server: TestServer = await startTestServer('embedded', overrides);
      let closed = false;
      cleanups.push(async () => {
        if (!closed) await server.close();
      });
      await signinOf(server).users.create({ ...USER, role: 'clinician', organization: 'Organization/clinic-a' });
      const callback = `${server.url}/app/callback`;
      const agent = new TestAgent();

      // Before the restart: sign in (code + PKCE), exchange the code, rotate the refresh token once.
      const first = await authorize(server, agent, callback, 'openid fhirUser offline_access user/Patient.rs');
      expect(first.signInForm).toBe(true);
      const code1 = first.code as string;
      const tokens1 = await token(server, { grant_type: 'authorization_code', code: code1, redirect_uri: callback, code_verifier: first.verifier, client_id: 'iis-web-app' });
      expect(tokens1.status).toBe(200);
      const refresh1 = tokens1.body.refresh_token as string;
      expect(refresh1).toBeTruthy();
      const tokens2 = await token(server, { grant_type: 'refresh_token', refresh_token: refresh1, client_id: 'iis-web-app' });
      expect(tokens2.status).toBe(200);
      const refresh2 = tokens2.body.refresh_token as string;
      expect(refresh2).not.toBe(refresh1);

      await server.close();
      closed = true;
      // The store holds none of these credentials in the clear, only their hashes.
      const atRest = await storedArtifactsText(kind, overrides.dataDir as string, overrides.mongodbUrl);
      expect(atRest).toContain(artifactHash('RefreshToken', refresh2));
      for (const secret of [refresh1, refresh2, code1]) expect(atRest).not.toContain(secret);
      server = await startTestServer('embedded', overrides);
      closed = false;

      // The session cookie signs the user in without the password form.
      const again = await authorize(server, agent, callback, 'openid user/Patient.rs');
      expect(again.signInForm).toBe(false);
      expect(again.code).toBeTruthy();
      const tokensAgain = await token(server, { grant_type: 'authorization_code', code: again.code as string, redirect_uri: callback, code_verifier: again.verifier, client_id: 'iis-web-app' });
      expect(tokensAgain.status).toBe(200);
      // A new agent (no cookie) gets the form.
      expect((await authorize(server, new TestAgent(), callback, 'openid user/Patient.rs', false)).signInForm).toBe(true);

      // The refresh token issued before the restart still works, and its access token reads FHIR.
      const tokens3 = await token(server, { grant_type: 'refresh_token', refresh_token: refresh2, client_id: 'iis-web-app' });
      expect(tokens3.status).toBe(200);
      const search = await fetch(`${server.baseUrl}/Patient?family=Nobody`, { headers: { authorization: `Bearer ${tokens3.body.access_token}` } });
      expect(search.status).toBe(200);
      const refresh3 = tokens3.body.refresh_token as string;

      // The refresh token rotated before the restart is still refused, and reusing it revoked the
      // grant: the newest refresh token of the same grant is refused too.
      const replayed = await token(server, { grant_type: 'refresh_token', refresh_token: refresh1, client_id: 'iis-web-app' });
      expect(replayed.status).toBe(400);
      expect(replayed.body.error).toBe('invalid_grant');
      const revoked = await token(server, { grant_type: 'refresh_token', refresh_token: refresh3, client_id: 'iis-web-app' });
      expect(revoked.status).toBe(400);
      expect(revoked.body.error).toBe('invalid_grant');
      // The code consumed before the restart stays refused.
      const codeAgain = await token(server, { grant_type: 'authorization_code', code: code1, redirect_uri: callback, code_verifier: first.verifier, client_id: 'iis-web-app' });
      expect(codeAgain.status).toBe(400);
      expect(codeAgain.body.error).toBe('invalid_grant');
    });

    it('a consumed code is refused after a restart even before anything else of its grant is used', async () => {
      const overrides = await restartableOverrides();
      let server: TestServer = await startTestServer('embedded', overrides);
      await signinOf(server).users.create({ ...USER, role: 'clinician', organization: 'Organization/clinic-a' });
      const callback = `${server.url}/app/callback`;
      const signedIn = await authorize(server, new TestAgent(), callback, 'openid fhirUser offline_access user/Patient.rs');
      const exchange = { grant_type: 'authorization_code', code: signedIn.code as string, redirect_uri: callback, code_verifier: signedIn.verifier, client_id: 'iis-web-app' };
      const tokens = await token(server, exchange);
      expect(tokens.body).toMatchObject({ refresh_token: expect.any(String) });
      await server.close();
      server = await startTestServer('embedded', overrides);
      cleanups.push(() => server.close());
      const replayed = await token(server, exchange);
      expect(replayed.status).toBe(400);
      expect(replayed.body.error).toBe('invalid_grant');
      // Replaying the code revoked its grant: the refresh token issued with it is refused, and so is
      // the access token (RFC 7009 §2.1: revoked-tokens.ts).
      const refreshed = await token(server, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token as string, client_id: 'iis-web-app' });
      expect(refreshed.body.error).toBe('invalid_grant');
      expect((await fetch(`${server.baseUrl}/Patient?_count=1`, { headers: { authorization: `Bearer ${tokens.body.access_token}` } })).status).toBe(401);
    });

    it('an access token revoked before a restart stays refused after it; one not revoked keeps working', async () => {
      const overrides = await restartableOverrides();
      let server: TestServer = await startTestServer('embedded', overrides);
      await signinOf(server).users.create({ ...USER, role: 'clinician', organization: 'Organization/clinic-a' });
      const callback = `${server.url}/app/callback`;
      const exchange = async () => {
        const signedIn = await authorize(server, new TestAgent(), callback, 'openid fhirUser user/Patient.rs');
        return (await token(server, { grant_type: 'authorization_code', code: signedIn.code as string, redirect_uri: callback, code_verifier: signedIn.verifier, client_id: 'iis-web-app' })).body.access_token as string;
      };
      const revokedToken = await exchange();
      const keptToken = await exchange();
      const revocation = await fetch(`${server.url}/auth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: revokedToken, client_id: 'iis-web-app' }) });
      expect(revocation.status).toBe(200);
      await server.close();
      server = await startTestServer('embedded', overrides);
      cleanups.push(() => server.close());
      const read = async (accessToken: string) => (await fetch(`${server.baseUrl}/Patient?_count=1`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
      expect(await read(revokedToken)).toBe(401);
      expect(await read(keptToken)).toBe(200);
    });
  });
}

/** Runs an authorization request of the built-in web app; signs in on the form when it comes. */
async function authorize(
  server: TestServer,
  agent: TestAgent,
  callback: string,
  scope: string,
  submit = true
): Promise<{ signInForm: boolean; code?: string; verifier: string }> {
  const verifier = oidc.randomPKCECodeVerifier();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: 'iis-web-app',
    redirect_uri: callback,
    scope,
    state: randomUUID(),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  let page = await agent.follow(await agent.get(`${server.url}/auth/authorize?${query}`), callback);
  const signInForm = page.html.includes('name="password"');
  if (signInForm && !submit) return { signInForm, verifier };
  if (signInForm) page = await agent.follow(await agent.post(agent.formAction(page), USER), callback);
  const location = page.location ?? '';
  return { signInForm, code: location.startsWith(callback) ? (new URL(location).searchParams.get('code') ?? undefined) : undefined, verifier };
}

async function token(server: TestServer, form: Record<string, string>): Promise<Tokens> {
  const res = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Tokens['body'] };
}

/** What the store holds of the sign-in artifacts, as text: the LMDB file, or MongoDB's `expiring` documents. */
async function storedArtifactsText(kind: 'embedded' | 'mongodb', dataDir: string, mongodbUrl?: string): Promise<string> {
  if (kind === 'embedded') return (await readFile(path.join(dataDir, 'store.mdb'))).toString('latin1');
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(mongodbUrl as string, { serverSelectionTimeoutMS: 3000 });
  try {
    return JSON.stringify(await client.db().collection('expiring').find({}).toArray());
  } finally {
    await client.close();
  }
}


restartSuite('embedded');
if (testMongoUrl()) {
  restartSuite('mongodb');
} else {
  console.warn('[signin restart] the MongoDB tier is skipped: TEST_MONGODB_URL is not set (.ci/run starts FerretDB and sets it)');
  describe('sign-in state across a restart (mongodb store)', () => {
    it.skip('needs TEST_MONGODB_URL', () => {});
  });
}
