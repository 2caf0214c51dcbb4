// An acknowledged revoke survives kill -9: the server process is killed right after the 200, and
// the server started again on the same DATA_DIR (and store) still publishes the list, with the
// same ctr and crlVersion, and the rid secret unchanged (later cards carry the same rid).
import { rm } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import jwt from 'jsonwebtoken';
import { decodeProtectedHeader } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { childStoreEnv, startChildServer } from '../../test/helpers/child-server.js';
import { immunization, patient, TEST_SECRET, testMongoUrl } from '../../test/helpers/server.js';

const token = jwt.sign({ scope: 'system/*.cruds' }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' };
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const kinds = (['embedded', 'mongodb'] as const).filter((k) => k === 'embedded' || testMongoUrl());

/** The card's rid: its payload is raw-DEFLATEd, so decodeJwt cannot read it directly. */
function ridOf(jws: string): string {
  const payload = JSON.parse(inflateRawSync(Buffer.from(jws.split('.')[1], 'base64url')).toString('utf8')) as { vc: { rid: string } };
  return payload.vc.rid;
}

describe.each(kinds)('revocation lists on the %s store across kill -9', (kind) => {
  it('an acknowledged revoke is still published after SIGKILL and a restart', async () => {
    const env = await childStoreEnv(kind, 'revoke-durability', dirs);
    const first = await startChildServer(env);
    const origin = first.baseUrl.replace(/\/fhir$/, '');
    const created = await fetch(`${first.baseUrl}/Patient`, { method: 'POST', headers, body: JSON.stringify(patient({ name: [{ family: 'Durable', given: ['Dana'] }] })) });
    const id = ((await created.json()) as { id: string }).id;
    await fetch(`${first.baseUrl}/Immunization`, { method: 'POST', headers, body: JSON.stringify(immunization(`Patient/${id}`)) });
    const issue = async (base: string) => {
      const res = await fetch(`${base}/Patient/${id}/$health-cards-issue`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'credentialType', valueUri: 'Immunization' }] }),
      });
      return ((await res.json()) as { parameter: Array<{ valueString: string }> }).parameter[0].valueString;
    };
    const card = await issue(first.baseUrl);
    const kid = decodeProtectedHeader(card).kid as string;
    const revoked = await fetch(`${first.baseUrl}/Patient/${id}/$health-cards-revoke`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Parameters' }) });
    expect(revoked.status).toBe(200);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startChildServer(env);
    try {
      const secondOrigin = second.baseUrl.replace(/\/fhir$/, '');
      expect(secondOrigin).not.toBe(origin);
      const list = (await (await fetch(`${secondOrigin}/.well-known/crl/${kid}.json`)).json()) as { ctr: number; rids: string[] };
      expect(list.ctr).toBe(2);
      expect(list.rids).toHaveLength(1);
      expect(list.rids[0].startsWith(`${ridOf(card)}.`)).toBe(true);
      const jwks = (await (await fetch(`${secondOrigin}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; crlVersion: number }> };
      expect(jwks.keys.find((k) => k.kid === kid)?.crlVersion).toBe(2);
      // The rid secret survived too: a new card for the patient carries the same rid.
      expect(ridOf(await issue(second.baseUrl))).toBe(ridOf(card));
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);
});
