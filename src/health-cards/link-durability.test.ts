// SMART Health Link state is on disk before its answer: the server is killed (SIGKILL) right after
// a link is made, a wrong passcode is counted and another link is revoked; the server started
// again on the same DATA_DIR (and store) serves the link, remembers the attempt spent, and keeps
// the revoked link dead. The second server listens on another port, so the manifest is asked at
// its origin with the same link id (the id is the capability, not the host).
import { rm } from 'node:fs/promises';
import jwt from 'jsonwebtoken';
import { compactDecrypt } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { childStoreEnv, startChildServer } from '../../test/helpers/child-server.js';
import { immunization, patient, TEST_SECRET, testMongoUrl } from '../../test/helpers/server.js';
import { PASSCODE_ATTEMPTS } from './link-store.js';
import { decodeShlink, linkIdOf } from './shlink.js';

const token = jwt.sign({ scope: 'system/*.cruds' }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' };
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const kinds = (['embedded', 'mongodb'] as const).filter((k) => k === 'embedded' || testMongoUrl());
if (!testMongoUrl()) console.log('link-durability: the MongoDB tier is skipped: TEST_MONGODB_URL is not set');

describe.each(kinds)('SMART Health Links on the %s store across kill -9', (kind) => {
  it('a link, a spent passcode attempt and a revocation survive SIGKILL and a restart', async () => {
    const env = await childStoreEnv(kind, 'link-durability', dirs);
    const first = await startChildServer(env);
    const created = await fetch(`${first.baseUrl}/Patient`, { method: 'POST', headers, body: JSON.stringify(patient({ name: [{ family: 'Durable', given: ['Lin'] }] })) });
    const id = ((await created.json()) as { id: string }).id;
    await fetch(`${first.baseUrl}/Immunization`, { method: 'POST', headers, body: JSON.stringify(immunization(`Patient/${id}`)) });
    const makeLink = async (parameter: unknown[]) => {
      const res = await fetch(`${first.baseUrl}/Patient/${id}/$health-link-create`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Parameters', parameter }) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { parameter: Array<{ name: string; valueString?: string }> };
      return decodeShlink(body.parameter.find((p) => p.name === 'shlink')?.valueString ?? '')!;
    };
    const kept = await makeLink([{ name: 'passcode', valueString: 'durable-1' }]);
    const dropped = await makeLink([]);
    const ask = (origin: string, link: { url: string }, body: unknown) =>
      fetch(`${origin}/shl/${linkIdOf(link.url)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const firstOrigin = first.baseUrl.replace(/\/fhir$/, '');
    expect((await (await ask(firstOrigin, kept, { recipient: 'x', passcode: 'wrong' })).json()) as unknown).toEqual({ remainingAttempts: PASSCODE_ATTEMPTS - 1 });
    const revoked = await fetch(`${first.baseUrl}/Patient/${id}/$health-link-revoke`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'link', valueString: dropped.url }] }),
    });
    expect(revoked.status).toBe(200);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startChildServer(env);
    try {
      const origin = second.baseUrl.replace(/\/fhir$/, '');
      expect(origin).not.toBe(firstOrigin);
      expect((await (await ask(origin, kept, { recipient: 'x', passcode: 'wrong again' })).json()) as unknown).toEqual({ remainingAttempts: PASSCODE_ATTEMPTS - 2 });
      const ok = await ask(origin, kept, { recipient: 'Clinic', passcode: 'durable-1' });
      expect(ok.status).toBe(200);
      const { files } = (await ok.json()) as { files: Array<{ embedded: string }> };
      const { plaintext } = await compactDecrypt(files[0].embedded, Buffer.from(kept.key, 'base64url'));
      expect(JSON.parse(Buffer.from(plaintext).toString('utf8')).verifiableCredential).toHaveLength(1);
      expect((await ask(origin, dropped, { recipient: 'x' })).status).toBe(404);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);
});
