// Revocation as a verifier sees it (SMART Health Cards "Revocation"): it reads vc.rid from the card,
// the key's crlVersion from [iss]/.well-known/jwks.json, fetches [iss]/.well-known/crl/{kid}.json
// without a token, and rejects the card when the CRL lists its rid (with a time: only if the
// card's nbf is before it). Run on the embedded store, and on MongoDB when TEST_MONGODB_URL is set.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, mergeParameters, patient, sharingConsent, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import type { Config } from '../config.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { runHealthCardsCli } from './cli.js';
import { rotateIssuerKey } from './issuer-keys.js';
import { RevocationLists } from './revocation-list.js';
import { RID_SECRET_FILE, revocationId } from './rid.js';

const ASK = { resourceType: 'Parameters', parameter: [{ name: 'credentialType', valueUri: 'https://smarthealth.cards#immunization' }] };
const before = (instant: string) => ({ resourceType: 'Parameters', parameter: [{ name: 'before', valueInstant: instant }] });

function suite(kind: StoreKind): void {
  describe(`$health-cards-revoke (${kind} store)`, () => {
    let server: TestServer;
    let n = 0;

    beforeAll(async () => {
      server = await startTestServer(kind);
    });
    afterAll(async () => {
      await server?.close();
    });

    /** A patient with one dose (distinct name and birth date: no match merges them). */
    async function child(fields: Record<string, unknown> = {}): Promise<string> {
      n++;
      const res = await server.fhir('POST', 'Patient', {
        body: patient({ name: [{ family: 'Revocable', given: [`Kid${String.fromCharCode(64 + n)}`] }], birthDate: `2019-0${1 + (n % 9)}-1${n % 10}`, ...fields }),
      });
      expect(res.status, res.text).toBe(201);
      const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${res.body.id}`, { occurrenceDateTime: '2020-06-01' }) });
      expect(dose.status, dose.text).toBe(201);
      return res.body.id as string;
    }

    async function issue(id: string): Promise<string> {
      const res = await server.fhir('POST', `Patient/${id}/$health-cards-issue`, { body: ASK });
      expect(res.status, res.text).toBe(200);
      return res.body.parameter[0].valueString as string;
    }

    const revoke = (id: string, body?: unknown, token?: string) =>
      server.fhir('POST', `Patient/${id}/$health-cards-revoke`, { body, headers: token ? { authorization: `Bearer ${token}` } : {} });

    async function jwks(): Promise<JWK[]> {
      const res = await fetch(`${server.url}/.well-known/jwks.json`, { headers: { origin: 'https://verifier.example' } });
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      return ((await res.json()) as { keys: JWK[] }).keys;
    }

    async function crl(kid: string): Promise<{ kid: string; method: string; ctr: number; rids: string[] }> {
      const res = await fetch(`${server.url}/.well-known/crl/${kid}.json`, { headers: { origin: 'https://verifier.example' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      return (await res.json()) as { kid: string; method: string; ctr: number; rids: string[] };
    }

    /** The verifier's decision, from the published key set and CRL only. */
    async function verify(jws: string): Promise<{ jws: string; payload: any; kid: string; revoked: boolean; crlVersion: number }> {
      const kid = decodeProtectedHeader(jws).kid as string;
      const jwk = (await jwks()).find((k) => k.kid === kid);
      expect(jwk).toBeDefined();
      const { payload: compressed } = await compactVerify(jws, await importJWK(jwk as JWK, 'ES256'));
      const payload = JSON.parse(inflateRawSync(compressed).toString('utf8'));
      const crlVersion = (jwk as { crlVersion?: number }).crlVersion;
      expect(crlVersion, 'each key publishes crlVersion').toEqual(expect.any(Number));
      const list = await crl(kid);
      expect(list.ctr).toBe(crlVersion);
      const rid = payload.vc.rid as string;
      const revoked = list.rids.some((entry) => {
        const [listed, time] = entry.split('.');
        return listed === rid && (time === undefined || payload.nbf < Number(time));
      });
      return { jws, payload, kid, revoked, crlVersion: crlVersion as number };
    }

    it("a card carries vc.rid: the spec's HMAC construction over the patient's id with the DATA_DIR secret and the signing kid", async () => {
      const id = await child();
      const { payload, kid, revoked } = await verify(await issue(id));
      const { secret } = JSON.parse(readFileSync(join(server.dataDir, RID_SECRET_FILE), 'utf8')) as { secret: string };
      expect(payload.vc.rid).toBe(revocationId(secret, kid, id));
      expect(payload.vc.rid).toMatch(/^[A-Za-z0-9_-]{11}$/);
      expect(revoked).toBe(false);
      // The secret is never published.
      const published = JSON.stringify(await jwks()) + JSON.stringify(await crl(kid));
      expect(published).not.toContain(secret);
      expect(published).not.toContain(id);
    });

    it('before any revoke each key has crlVersion 1 and an empty list; an unknown kid is a 404', async () => {
      const keys = await jwks();
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(await crl(key.kid as string)).toEqual({ kid: key.kid, method: 'rid', ctr: (key as { crlVersion: number }).crlVersion, rids: [] });
      }
      // Revalidated every time, by the counter.
      const kid = keys[0].kid as string;
      const first = await fetch(`${server.url}/.well-known/crl/${kid}.json`);
      expect(first.headers.get('cache-control')).toBe('no-cache');
      const etag = first.headers.get('etag') as string;
      expect(etag).toBe(`"${(await first.json() as { ctr: number }).ctr}"`);
      expect((await fetch(`${server.url}/.well-known/crl/${kid}.json`, { headers: { 'if-none-match': etag } })).status).toBe(304);
      const unknown = await fetch(`${server.url}/.well-known/crl/${'x'.repeat(43)}.json`);
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get('access-control-allow-origin')).toBe('*');
      expect(((await unknown.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
      expect((await fetch(`${server.url}/.well-known/crl/..%2Fhealth-cards-keys.json`)).status).toBe(404);
    });

    it('revoking lists the rid with the time, bumps ctr and crlVersion; the card is rejected, a card issued right after is not', async () => {
      const id = await child();
      const card = await issue(id);
      const first = await verify(card);
      const res = await revoke(id);
      expect(res.status, res.text).toBe(200);
      const lists = res.body.parameter.filter((p: any) => p.name === 'revocationList').map((p: any) => Object.fromEntries(p.part.map((q: any) => [q.name, q.valueString ?? q.valueInteger ?? q.valueBoolean])));
      const seconds = Date.parse(res.body.parameter.find((p: any) => p.name === 'before').valueInstant) / 1000;
      expect(seconds).toBeGreaterThanOrEqual(first.payload.nbf);
      const mine = lists.find((l: any) => l.kid === first.kid);
      expect(mine).toEqual({ kid: first.kid, rid: first.payload.vc.rid, entry: `${first.payload.vc.rid}.${seconds}`, crlVersion: first.crlVersion + 1, changed: true });

      const list = await crl(first.kid);
      expect(list.rids).toContain(`${first.payload.vc.rid}.${seconds}`);
      expect(list.ctr).toBe(first.crlVersion + 1);
      const after = await verify(card);
      expect(after.crlVersion).toBe(first.crlVersion + 1);
      expect(after.revoked).toBe(true);

      const fresh = await verify(await issue(id));
      expect(fresh.payload.vc.rid).toBe(first.payload.vc.rid);
      expect(fresh.payload.nbf).toBeGreaterThanOrEqual(seconds);
      expect(fresh.revoked).toBe(false);
    });

    it('before: only cards issued before that instant are revoked; an earlier before changes nothing more', async () => {
      const id = await child();
      const card = await issue(id);
      const { payload, kid, crlVersion } = await verify(card);
      const earlier = new Date((payload.nbf - 60) * 1000).toISOString();
      const res = await revoke(id, before(earlier));
      expect(res.status, res.text).toBe(200);
      expect((await crl(kid)).rids).toContain(`${payload.vc.rid}.${payload.nbf - 60}`);
      const stillValid = await verify(card);
      expect(stillValid.crlVersion).toBe(crlVersion + 1);
      expect(stillValid.revoked).toBe(false);

      const now = await revoke(id, before(new Date().toISOString()));
      expect(now.status).toBe(200);
      expect((await verify(card)).revoked).toBe(true);
      const version = (await crl(kid)).ctr;
      const weaker = await revoke(id, before(earlier));
      expect(weaker.status).toBe(200);
      expect(weaker.body.parameter.find((p: any) => p.name === 'revocationList').part.find((q: any) => q.name === 'changed').valueBoolean).toBe(false);
      expect((await crl(kid)).ctr).toBe(version);
      expect((await crl(kid)).rids.filter((e) => e.startsWith(`${payload.vc.rid}.`))).toHaveLength(1);
    });

    it('who may revoke: public health, the managing facility with update rights; not a patient/ token, a reader, another facility, or past data sharing', async () => {
      const org = await server.fhir('POST', 'Organization', { body: { resourceType: 'Organization', name: 'Lakeside Clinic' } });
      const managed = await child({ managingOrganization: { reference: `Organization/${org.body.id}` } });
      const own = server.token({ scope: 'patient/*.cruds', patient: managed });
      const refused = await revoke(managed, undefined, own);
      expect(refused.status).toBe(403);
      expect(refused.body.resourceType).toBe('OperationOutcome');
      expect((await revoke(managed, undefined, server.token({ scope: 'user/*.rs', organization: `Organization/${org.body.id}` }))).status).toBe(403);
      expect((await revoke(managed, undefined, server.token({ scope: 'user/*.cruds', organization: 'Organization/elsewhere' }))).status).toBe(403);
      expect((await revoke(managed, undefined, server.token({ scope: 'user/Patient.cruds user/Immunization.cruds', organization: `Organization/${org.body.id}` }))).status).toBe(200);
      expect((await revoke(managed, undefined, server.token({ scope: 'system/Patient.rus system/Immunization.rus' }))).status).toBe(200);
      // Managed by B, but the family objected to sharing beyond A: B is refused by data sharing.
      const hidden = await child({ managingOrganization: { reference: 'Organization/B' } });
      expect((await server.fhir('POST', 'Consent', { body: sharingConsent(hidden, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }) })).status).toBe(201);
      const restricted = await revoke(hidden, undefined, server.token({ scope: 'user/*.cruds', organization: 'Organization/B' }));
      expect(restricted.status).toBe(403);
      expect(restricted.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
      expect((await fetch(`${server.baseUrl}/Patient/${managed}/$health-cards-revoke`, { method: 'POST' })).status).toBe(401);
    });

    it('bad input is a 4xx OperationOutcome and changes no list', async () => {
      const id = await child();
      const kids = (await jwks()).map((k) => k.kid as string);
      const versions = await Promise.all(kids.map(async (kid) => (await crl(kid)).ctr));
      const future = await revoke(id, before(new Date(Date.now() + 3_600_000).toISOString()));
      expect(future.status).toBe(400);
      expect(future.body.resourceType).toBe('OperationOutcome');
      expect(future.body.issue[0].diagnostics).toMatch(/future/);
      for (const body of [
        before('2024-01-01'),
        before('yesterday'),
        { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: 'x' }] },
        { resourceType: 'Patient' },
        { resourceType: 'Parameters', parameter: [{ name: 'before', valueInstant: '2024-01-01T00:00:00Z' }, { name: 'before', valueInstant: '2024-01-02T00:00:00Z' }] },
      ]) {
        const res = await revoke(id, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.resourceType).toBe('OperationOutcome');
      }
      expect((await revoke('no-such-patient')).status).toBe(404);
      expect((await server.fhir('GET', `Patient/${id}/$health-cards-revoke`)).status).toBe(405);
      expect((await server.fhir('POST', 'Patient/$health-cards-revoke', { body: {} })).status).toBeGreaterThanOrEqual(400);
      expect(await Promise.all(kids.map(async (kid) => (await crl(kid)).ctr))).toEqual(versions);
    });

    it('a deleted patient\'s cards can still be revoked', async () => {
      const id = await child();
      const card = await issue(id);
      const imms = await server.fhir('GET', `Immunization?patient=Patient/${id}`);
      for (const e of imms.body.entry ?? []) await server.fhir('DELETE', `Immunization/${e.resource.id}`);
      expect((await server.fhir('DELETE', `Patient/${id}`)).status).toBeLessThan(300);
      expect((await revoke(id)).status).toBe(200);
      expect((await verify(card)).revoked).toBe(true);
    });

    it('every revoke and refusal is audited', async () => {
      const id = await child();
      expect((await revoke(id)).status).toBe(200);
      expect((await revoke(id, undefined, server.token({ scope: 'patient/*.cruds', patient: id }))).status).toBe(403);
      await server.audit.flush(5000);
      const found = await server.fhir('GET', `AuditEvent?entity=Patient/${id}&_count=50`);
      expect(found.status, found.text).toBe(200);
      const revokes = found.body.entry.map((e: any) => e.resource).filter((e: any) => JSON.stringify(e.subtype).includes('$health-cards-revoke'));
      expect(revokes.map((e: any) => e.outcome).sort()).toEqual(['0', '4']);
    });

    it("Patient/$merge revokes the source record's cards (as of the merge) and leaves the target's valid", async () => {
      const source = await child();
      const target = await child();
      const sourceCard = await issue(source);
      const targetCard = await issue(target);
      const merged = await server.fhir('POST', 'Patient/$merge', {
        body: mergeParameters(source, target),
      });
      expect(merged.status, merged.text).toBe(200);
      const issues = merged.body.parameter.find((p: any) => p.name === 'outcome').resource.issue;
      expect(issues.map((i: any) => i.diagnostics).join('\n')).toMatch(new RegExp(`Health cards issued for Patient/${source} before .* are revoked`));
      expect((await verify(sourceCard)).revoked).toBe(true);
      expect((await verify(targetCard)).revoked).toBe(false);
      // A preview revokes nothing.
      const other = await child();
      const otherCard = await issue(other);
      const preview = await server.fhir('POST', 'Patient/$merge', {
        body: mergeParameters(other, target, true),
      });
      expect(preview.status).toBe(200);
      expect((await verify(otherCard)).revoked).toBe(false);
    });

    it('after a key rotation: one rid per kid, the secret unchanged, a revoke reaches the cards of every key', async () => {
      const id = await child();
      const oldCard = await verify(await issue(id));
      const newKid = await rotateIssuerKey(server.dataDir);
      const newCard = await verify(await issue(id));
      expect(newCard.kid).toBe(newKid);
      expect(newCard.payload.vc.rid).not.toBe(oldCard.payload.vc.rid);
      const { secret } = JSON.parse(readFileSync(join(server.dataDir, RID_SECRET_FILE), 'utf8')) as { secret: string };
      expect(newCard.payload.vc.rid).toBe(revocationId(secret, newKid, id));
      expect(oldCard.payload.vc.rid).toBe(revocationId(secret, oldCard.kid, id));
      expect(newCard.crlVersion).toBe(1);
      const res = await revoke(id);
      expect(res.status, res.text).toBe(200);
      expect(res.body.parameter.filter((p: any) => p.name === 'revocationList').map((p: any) => p.part[0].valueString)).toEqual(expect.arrayContaining([oldCard.kid, newKid]));
      const [oldAfter, newAfter] = [await verify(oldCard.jws), await verify(newCard.jws)];
      expect(oldAfter.revoked).toBe(true);
      expect(newAfter.revoked).toBe(true);
      expect(newAfter.crlVersion).toBe(2);
    });

    it('npm run health-cards -- revoke goes through the running server', async () => {
      const id = await child();
      const card = await issue(id);
      const lines: string[] = [];
      const config = { port: 0, publicBaseUrl: server.url, dataDir: server.dataDir, bodyLimitBytes: 1024 * 1024, logLevel: 'silent' } as Config;
      const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(`ERR ${l}`) };
      expect(await runHealthCardsCli(['revoke', '--patient', id, '--url', server.url], config, io)).toBe(0);
      expect(lines.join('\n')).toMatch(new RegExp(`health cards of Patient/${id} issued before .* are revoked`));
      expect((await verify(card)).revoked).toBe(true);
      expect(await runHealthCardsCli(['revoke'], config, io)).toBe(2);
      expect(await runHealthCardsCli(['revoke', '--patient', id, '--url', server.url, '--before', '2999-01-01T00:00:00Z'], config, io)).toBe(1);
      expect(lines.at(-1)).toMatch(/^ERR error 400: .*future/);
      await server.audit.flush(5000);
      const audit = await server.fhir('GET', `AuditEvent?entity=Patient/${id}&_count=50`);
      expect(audit.body.entry.some((e: any) => JSON.stringify(e.resource.subtype).includes('$health-cards-revoke') && e.resource.outcome === '0')).toBe(true);
    });
  });
}

suite('embedded');
if (testMongoUrl()) suite('mongodb');

describe('npm run health-cards -- revoke with no server running', () => {
  it('opens the store, revokes under every key and records the AuditEvent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iis-revoke-cli-'));
    try {
      const config = { port: 0, publicBaseUrl: 'http://127.0.0.1:1', dataDir: dir, bodyLimitBytes: 1024 * 1024, logLevel: 'silent' } as Config;
      const open = async () => new EmbeddedStore({ dataDir: dir, indexes: {} });
      const seed = await open();
      await seed.init();
      await seed.write({ resourceType: 'Patient', id: 'p-cli', resource: { resourceType: 'Patient', id: 'p-cli' }, ifVersion: 'absent', index: {} });
      await seed.close();
      const lines: string[] = [];
      const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(`ERR ${l}`) };
      expect(await runHealthCardsCli(['rotate-key'], config, io)).toBe(0);
      expect(await runHealthCardsCli(['revoke', '--patient', 'p-cli', '--direct', '--before', '2025-01-01T00:00:00Z'], config, io, open)).toBe(0);
      expect(await runHealthCardsCli(['revoke', '--patient', 'nobody', '--direct'], config, io, open)).toBe(1);
      expect(lines.join('\n')).toMatch(/issued before 2025-01-01T00:00:00.000Z are revoked/);
      const store = await open();
      await store.init();
      try {
        const { secret } = JSON.parse(readFileSync(join(dir, RID_SECRET_FILE), 'utf8')) as { secret: string };
        const keys = JSON.parse(readFileSync(join(dir, 'health-cards-keys.json'), 'utf8')).keys as Array<{ kid: string }>;
        for (const { kid } of keys) {
          expect(await new RevocationLists(store).list(kid)).toEqual({ kid, method: 'rid', ctr: 2, rids: [`${revocationId(secret, kid, 'p-cli')}.1735689600`] });
        }
        const events = await store.search('AuditEvent', { filter: {}, limit: 10 });
        expect(events.map((e) => JSON.stringify(e.resource)).filter((t) => t.includes('$health-cards-revoke') && t.includes('Patient/p-cli'))).toHaveLength(1);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
