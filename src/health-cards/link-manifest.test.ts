// SMART Health Links as a receiving app sees them: it decodes the `shlink:/` payload, POSTs the
// manifest request to its url without a token, decrypts each file's JWE with the payload's key and
// verifies the SMART Health Card inside against [iss]/.well-known/jwks.json. Then the rules around
// it: passcodes and their lifetime attempt limit (parallel guesses too), expiry, revocation (one
// link, all links, the cards' revocation, $merge), long-term links following the record, data
// sharing, the audit trail, and hostile input (4xx, never 5xx). On the embedded store, and on
// MongoDB when TEST_MONGODB_URL is set (FerretDB in CI: scripts/ferretdb.sh).
import { gzipSync, inflateRawSync } from 'node:zlib';
import { compactDecrypt, compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { validateResource } from '@medplum/core';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outParameterProblems } from '../../test/helpers/operation-definition.js';
import { immunization, patient, sharingConsent, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { PASSCODE_ATTEMPTS } from './link-store.js';
import { decodeShlink, type ShlinkPayload } from './shlink.js';

const param = (name: string, value: Record<string, unknown>) => ({ name, ...value });
const params = (...parameter: unknown[]) => ({ resourceType: 'Parameters', parameter });

function suite(kind: StoreKind): void {
  describe(`SMART Health Links (${kind} store)`, () => {
    let server: TestServer;
    let n = 0;

    beforeAll(async () => {
      server = await startTestServer(kind);
    });
    afterAll(async () => {
      await server?.close();
    });

    /** A patient with `doses` completed doses (distinct name and birth date: no match merges them). */
    async function child(doses = 1, fields: Record<string, unknown> = {}): Promise<string> {
      n++;
      const res = await server.fhir('POST', 'Patient', {
        body: patient({ name: [{ family: 'Linkable', given: [`Kid${String.fromCharCode(64 + n)}`] }], birthDate: `2018-0${1 + (n % 9)}-2${n % 10}`, ...fields }),
      });
      expect(res.status, res.text).toBe(201);
      for (let i = 0; i < doses; i++) await addDose(res.body.id, `2019-0${1 + i}-15`);
      return res.body.id as string;
    }

    async function addDose(id: string, date: string): Promise<void> {
      const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${id}`, { occurrenceDateTime: date }) });
      expect(dose.status, dose.text).toBe(201);
    }

    const create = (id: string, body?: unknown, headers: Record<string, string> = {}) => server.fhir('POST', `Patient/${id}/$health-link-create`, { body, headers });

    /** Makes a link and returns its shlink URI and handle. */
    async function makeLink(id: string, body?: unknown, token?: string): Promise<{ shlink: string; handle: string; payload: ShlinkPayload }> {
      const res = await create(id, body, token ? { authorization: `Bearer ${token}` } : {});
      expect(res.status, res.text).toBe(200);
      const shlink = res.body.parameter.find((p: any) => p.name === 'shlink').valueString as string;
      const handle = res.body.parameter.find((p: any) => p.name === 'link').valueString as string;
      return { shlink, handle, payload: decodeShlink(shlink)! };
    }

    /** The receiving app's manifest request: POST the payload's url, no token. */
    async function manifest(payload: ShlinkPayload, body: unknown = { recipient: 'Dr. Example, Riverside Clinic' }): Promise<{ status: number; body: any }> {
      const res = await fetch(payload.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }

    /** What the app does with a file: fetch it when it is a location, decrypt with the link key. */
    async function decryptFile(payload: ShlinkPayload, file: any): Promise<{ cty: string; content: any }> {
      let jwe = file.embedded as string | undefined;
      if (jwe === undefined) {
        const res = await fetch(file.location);
        expect(res.status).toBe(200);
        // Exactly the SHL spec's type: a charset parameter means nothing for a JWE and strict apps compare the string.
        expect(res.headers.get('content-type')).toBe('application/jose');
        jwe = await res.text();
      }
      const header = decodeProtectedHeader(jwe);
      expect(header).toMatchObject({ alg: 'dir', enc: 'A256GCM', cty: file.contentType });
      const { plaintext, protectedHeader } = await compactDecrypt(jwe, Buffer.from(payload.key, 'base64url'));
      return { cty: protectedHeader.cty as string, content: JSON.parse(Buffer.from(plaintext).toString('utf8')) };
    }

    /** A verifier's check of a card: the key from the published set, the signature, the payload inflated. */
    async function verifyCard(jws: string): Promise<any> {
      const header = decodeProtectedHeader(jws);
      const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
      const jwk = jwks.keys.find((k) => k.kid === header.kid);
      expect(jwk, 'the signing key is published').toBeDefined();
      const { payload } = await compactVerify(jws, await importJWK(jwk as JWK, 'ES256'));
      return JSON.parse(inflateRawSync(payload).toString('utf8'));
    }

    /** The manifest's card, verified, and its FHIR Bundle file. */
    async function receive(payload: ShlinkPayload, body?: unknown): Promise<{ card: any; bundle: any; files: any[]; status: string }> {
      const res = await manifest(payload, body);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const files = res.body.files as any[];
      // The manifest's own status (IG STU1 ShlManifest.status) agrees with its files'.
      expect(files.every((f) => f.status === res.body.status)).toBe(true);
      expect(files.map((f) => f.contentType)).toEqual(['application/smart-health-card', 'application/fhir+json']);
      const shc = await decryptFile(payload, files[0]);
      expect(shc.cty).toBe('application/smart-health-card');
      expect(shc.content.verifiableCredential).toHaveLength(1);
      const card = await verifyCard(shc.content.verifiableCredential[0]);
      const fhir = await decryptFile(payload, files[1]);
      expect(fhir.content).toEqual(card.vc.credentialSubject.fhirBundle);
      return { card, bundle: fhir.content, files, status: res.body.status };
    }

    it('a receiving app decodes the link, gets the manifest without a token, decrypts both files and verifies the card', async () => {
      const id = await child(2);
      const res = await create(id, params(param('label', { valueString: 'Back-to-school shots' })));
      expect(res.status, res.text).toBe(200);
      const shlink = res.body.parameter.find((p: any) => p.name === 'shlink').valueString as string;
      expect(shlink).toMatch(/^shlink:\/[A-Za-z0-9_-]+$/);
      const payload = decodeShlink(shlink)!;
      expect(Object.keys(payload)).toEqual(['url', 'key', 'exp', 'label']);
      // No flags: no flag parameter (a valueString "" is not valid FHIR), and the answer validates.
      expect(res.body.parameter.map((p: any) => p.name)).toEqual(['shlink', 'link', 'expiration', 'label']);
      loadDefinitions();
      expect(() => validateResource(res.body)).not.toThrow();
      expect(outParameterProblems(res.body, 'health-link-create')).toEqual([]);
      expect(payload.url).toMatch(new RegExp(`^${server.url}/shl/[A-Za-z0-9_-]{43}$`));
      expect(payload.url.length).toBeLessThanOrEqual(128);
      expect(Buffer.from(payload.key, 'base64url')).toHaveLength(32);
      expect(payload.label).toBe('Back-to-school shots');
      // Default expiry: the server's longest (365 days).
      expect(payload.exp! * 1000).toBeGreaterThan(Date.now() + 364 * 86_400_000);
      // The handle is not the id: the store and audit trail never hold a usable link.
      const handle = res.body.parameter.find((p: any) => p.name === 'link').valueString;
      expect(payload.url).not.toContain(handle);

      const { card, bundle, files, status } = await receive(payload);
      expect(status).toBe('finalized');
      expect(card.iss).toBe(server.url);
      expect(bundle.entry.map((e: any) => e.resource.resourceType)).toEqual(['Patient', 'Immunization', 'Immunization']);
      expect(bundle.entry[0].resource.name).toEqual([{ family: 'Linkable', given: [expect.stringMatching(/^Kid/)] }]);
      expect(files[0]).toMatchObject({ status: 'finalized', lastUpdated: expect.any(String) });
      expect(files[1]).toMatchObject({ fhirVersion: '4.0.1' });
      // Each request encrypts afresh (a new IV under the same key).
      const again = await manifest(payload);
      expect(again.body.files[0].embedded).not.toBe(files[0].embedded);
      // A wrong key does not decrypt.
      await expect(decryptFile({ ...payload, key: Buffer.alloc(32, 7).toString('base64url') }, files[0])).rejects.toThrow();
    });

    it('embeddedLengthMax: longer files come as single-use location URLs that serve the JWE', async () => {
      const id = await child(1);
      const { payload, handle } = await makeLink(id);
      const res = await manifest(payload, { recipient: 'School nurse', embeddedLengthMax: 10 });
      expect(res.status).toBe(200);
      for (const file of res.body.files) {
        expect(file.embedded).toBeUndefined();
        expect(file.location).toMatch(new RegExp(`^${server.url}/shl/file/[A-Za-z0-9_-]{43}$`));
      }
      const { content } = await decryptFile(payload, res.body.files[0]);
      expect((await verifyCard(content.verifiableCredential[0])).vc.credentialSubject.fhirBundle.entry).toHaveLength(2);
      // Used once: a second fetch is refused.
      expect((await fetch(res.body.files[0].location)).status).toBe(404);
      // The fetch is audited (the URL is a bearer token: the manifest's event does not say the card
      // left): the recipient of the manifest request, the link, the patient, the file's type.
      await server.audit.flush(5000);
      const found = await server.fhir('GET', `AuditEvent?entity=Patient/${id}&_count=50`);
      const fetched = found.body.entry.map((e: any) => e.resource).filter((e: any) => e.subtype?.some((c: any) => c.code === 'file'));
      expect(fetched).toHaveLength(1);
      expect(fetched[0]).toMatchObject({ outcome: '0', type: { code: '110106' }, agent: [{ who: { display: 'School nurse' } }, {}] });
      expect(fetched[0].outcomeDesc).toContain('application/smart-health-card');
      expect(fetched[0].entity.find((x: any) => x.what.identifier?.system?.endsWith('/health-links')).what.identifier.value).toBe(handle);
      expect(JSON.stringify(fetched[0])).not.toContain(res.body.files[0].location.split('/').pop());
      // A generous maximum embeds them.
      const big = await manifest(payload, { recipient: 'School nurse', embeddedLengthMax: 100_000 });
      expect(big.body.files.every((f: any) => typeof f.embedded === 'string' && f.embedded.length <= 100_000)).toBe(true);
    });

    it('the QR code of a link decodes to the same shlink URI; text/plain gives the URI', async () => {
      const id = await child(1);
      const png = await fetch(`${server.baseUrl}/Patient/${id}/$health-link-create`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token()}`, accept: 'image/png', 'content-type': 'application/fhir+json' },
        body: JSON.stringify(params()),
      });
      expect(png.status).toBe(200);
      expect(png.headers.get('content-type')).toBe('image/png');
      const shlink = scan(Buffer.from(await png.arrayBuffer()));
      expect(shlink).toMatch(/^shlink:\//);
      expect((await receive(decodeShlink(shlink)!)).card.vc.credentialSubject.fhirBundle.entry).toHaveLength(2);
      const text = await fetch(`${server.baseUrl}/Patient/${id}/$health-link-create`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token()}`, accept: 'text/plain' },
      });
      expect(text.status).toBe(200);
      expect(await text.text()).toMatch(/^shlink:\/[A-Za-z0-9_-]+$/);
    });

    it('snapshot links keep the card they were made with; long-term links (L) follow the record', async () => {
      const id = await child(1);
      const snapshot = await makeLink(id);
      const longTerm = await makeLink(id, params(param('longTerm', { valueBoolean: true })));
      expect(snapshot.payload.flag).toBeUndefined();
      expect(longTerm.payload.flag).toBe('L');
      await addDose(id, '2020-03-03');
      expect((await receive(snapshot.payload)).bundle.entry).toHaveLength(2);
      const later = await receive(longTerm.payload);
      expect(later.bundle.entry).toHaveLength(3);
      expect(later.files[0].status).toBe('can-change');
      expect(later.status).toBe('can-change');
    });

    it('flag U: the url answers GET ?recipient= with the card file itself (a JWE); never with a passcode', async () => {
      const id = await child(1);
      const { payload, handle } = await makeLink(id, params(param('directFile', { valueBoolean: true }), param('longTerm', { valueBoolean: true })));
      expect(payload.flag).toBe('LU');
      const res = await fetch(`${payload.url}?recipient=${encodeURIComponent('Front desk, Camp Wanakee')}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/jose');
      const { cty, content } = await decryptFile(payload, { contentType: 'application/smart-health-card', embedded: await res.text() });
      expect(cty).toBe('application/smart-health-card');
      expect((await verifyCard(content.verifiableCredential[0])).vc.credentialSubject.fhirBundle.entry).toHaveLength(2);
      expect((await fetch(payload.url)).status).toBe(400);
      // Links without U have no direct file.
      const plain = await makeLink(id);
      expect((await fetch(`${plain.payload.url}?recipient=x`)).status).toBe(404);
      expect((await create(id, params(param('directFile', { valueBoolean: true }), param('passcode', { valueString: '1234' })))).status).toBe(400);
      // Audited like a manifest request.
      await server.audit.flush(5000);
      const found = await server.fhir('GET', `AuditEvent?entity=Patient/${id}&_count=50`);
      const direct = found.body.entry.map((e: any) => e.resource).filter((e: any) => e.agent?.[0]?.who?.display === 'Front desk, Camp Wanakee');
      expect(direct).toHaveLength(1);
      expect(direct[0].entity.some((x: any) => x.what.identifier?.value === handle)).toBe(true);
    });

    it('a snapshot link stops when the patient record is deleted', async () => {
      const id = await child(1);
      const { payload } = await makeLink(id);
      expect((await manifest(payload)).status).toBe(200);
      const doses = await server.fhir('GET', `Immunization?patient=Patient/${id}`);
      for (const entry of doses.body.entry ?? []) expect((await server.fhir('DELETE', `Immunization/${entry.resource.id}`)).status).toBeLessThan(300);
      const deleted = await server.fhir('DELETE', `Patient/${id}`);
      expect(deleted.status, deleted.text).toBeLessThan(300);
      expect((await manifest(payload)).status).toBe(404);
    });

    it('passcode (P): stored hashed; wrong ones cost attempts (401 remainingAttempts), the last disables the link (404)', async () => {
      const id = await child(1);
      const { payload, handle } = await makeLink(id, params(param('passcode', { valueString: '4711-secret' }), param('longTerm', { valueBoolean: true })));
      expect(payload.flag).toBe('LP');
      // The passcode is never stored in the clear.
      const stored = await server.store.expiringRecords('health-links').get(handle);
      expect(JSON.stringify(stored)).not.toContain('4711-secret');
      expect(stored?.value.passcode).toMatch(/^scrypt\$/);

      // No passcode: refused, no attempt spent.
      expect(await manifest(payload, { recipient: 'Clinic' })).toEqual({ status: 401, body: { remainingAttempts: PASSCODE_ATTEMPTS } });
      expect(await manifest(payload, { recipient: 'Clinic', passcode: 'nope' })).toEqual({ status: 401, body: { remainingAttempts: PASSCODE_ATTEMPTS - 1 } });
      expect((await receive(payload, { recipient: 'Clinic', passcode: '4711-secret' })).bundle.entry).toHaveLength(2);
      // A right passcode does not give attempts back: the count is for the link's whole life.
      expect(await manifest(payload, { recipient: 'Clinic', passcode: 'nope' })).toEqual({ status: 401, body: { remainingAttempts: PASSCODE_ATTEMPTS - 2 } });
      // Parallel guesses are decided one by one: each costs exactly one attempt.
      const guesses = await Promise.all(Array.from({ length: PASSCODE_ATTEMPTS - 3 }, (_, i) => manifest(payload, { recipient: 'Attacker', passcode: `guess-${i}` })));
      expect(guesses.map((g) => g.status)).toEqual(guesses.map(() => 401));
      expect(guesses.map((g) => g.body.remainingAttempts).sort((a, b) => a - b)).toEqual(Array.from({ length: PASSCODE_ATTEMPTS - 3 }, (_, i) => i + 1));
      expect(await manifest(payload, { recipient: 'Attacker', passcode: 'last-guess' })).toEqual({ status: 401, body: { remainingAttempts: 0 } });
      // Disabled: even the right passcode now gets 404.
      expect((await manifest(payload, { recipient: 'Clinic', passcode: '4711-secret' })).status).toBe(404);
    });

    it('expiry: a link answers until its expiration, then 404; a later expiration is cut to the server maximum', async () => {
      const id = await child(1);
      const soon = new Date(Date.now() + 1500).toISOString();
      const { payload } = await makeLink(id, params(param('expiration', { valueInstant: soon })));
      expect(payload.exp).toBe(Math.floor(Date.parse(soon) / 1000));
      expect((await manifest(payload)).status).toBe(200);
      await new Promise((r) => setTimeout(r, Date.parse(soon) - Date.now() + 100));
      expect((await manifest(payload)).status).toBe(404);

      const far = await create(id, params(param('expiration', { valueInstant: '2099-01-01T00:00:00Z' })));
      expect(far.status, far.text).toBe(200);
      const exp = Date.parse(far.body.parameter.find((p: any) => p.name === 'expiration').valueInstant);
      expect(exp).toBeLessThanOrEqual(Date.now() + 365 * 86_400_000);
      expect(exp).toBeGreaterThan(Date.now() + 364 * 86_400_000);
      expect(far.body.parameter.find((p: any) => p.name === 'outcome').resource.issue[0].severity).toBe('information');
    });

    it('revocation: one link by handle or URI, all links of the patient, the cards revoke and $merge deactivate links', async () => {
      const id = await child(1);
      const a = await makeLink(id);
      const b = await makeLink(id, params(param('longTerm', { valueBoolean: true })));
      const c = await makeLink(id);
      const unused = await manifest(c.payload, { recipient: 'Later', embeddedLengthMax: 0 });
      const revokeOne = await server.fhir('POST', `Patient/${id}/$health-link-revoke`, { body: params(param('link', { valueString: a.handle })) });
      expect(revokeOne.status, revokeOne.text).toBe(200);
      expect(revokeOne.body.parameter).toEqual([{ name: 'revoked', valueInteger: 1 }]);
      expect(outParameterProblems(revokeOne.body, 'health-link-revoke')).toEqual([]);
      expect((await manifest(a.payload)).status).toBe(404);
      expect((await manifest(b.payload)).status).toBe(200);
      // By its shlink URI (as the family has it) too; revoking again: 404.
      expect((await server.fhir('POST', `Patient/${id}/$health-link-revoke`, { body: params(param('link', { valueString: b.shlink })) })).status).toBe(200);
      expect((await manifest(b.payload)).status).toBe(404);
      expect((await server.fhir('POST', `Patient/${id}/$health-link-revoke`, { body: params(param('link', { valueString: b.handle })) })).status).toBe(404);
      // Or by its manifest URL.
      const e = await makeLink(id);
      expect((await server.fhir('POST', `Patient/${id}/$health-link-revoke`, { body: params(param('link', { valueString: e.payload.url })) })).status).toBe(200);
      expect((await manifest(e.payload)).status).toBe(404);
      // All links of the patient; the outstanding file URLs go with them.
      const all = await server.fhir('POST', `Patient/${id}/$health-link-revoke`);
      expect(all.body.parameter).toEqual([{ name: 'revoked', valueInteger: 1 }]);
      expect((await manifest(c.payload)).status).toBe(404);
      expect((await fetch(unused.body.files[0].location)).status).toBe(404);

      // Revoking the patient's health cards deactivates the links as well.
      const d = await makeLink(id);
      const cardsRevoked = await server.fhir('POST', `Patient/${id}/$health-cards-revoke`);
      expect(cardsRevoked.status, cardsRevoked.text).toBe(200);
      expect(cardsRevoked.body.parameter.find((p: any) => p.name === 'healthLinksDeactivated').valueInteger).toBe(1);
      // The answer is what OperationDefinition/health-cards-revoke says it is.
      expect(outParameterProblems(cardsRevoked.body, 'health-cards-revoke')).toEqual([]);
      expect((await manifest(d.payload)).status).toBe(404);

      // $merge: the source's links go, the target's stay.
      const source = await child(1);
      const target = await child(1);
      await new Promise((r) => setTimeout(r, 1100)); // past the revoke's second for the new cards
      const fromSource = await makeLink(source);
      const fromTarget = await makeLink(target);
      const merged = await server.fhir('POST', 'Patient/$merge', {
        body: params(param('source-patient', { valueReference: { reference: `Patient/${source}` } }), param('target-patient', { valueReference: { reference: `Patient/${target}` } })),
      });
      expect(merged.status, merged.text).toBe(200);
      expect((await manifest(fromSource.payload)).status).toBe(404);
      expect((await manifest(fromTarget.payload)).status).toBe(200);
    });

    it('who may: the patient itself and readers of the patient; not another patient, not past data sharing (now or later)', async () => {
      const id = await child(1);
      const own = await makeLink(id, params(param('longTerm', { valueBoolean: true })), server.token({ scope: 'patient/*.rs', patient: id }));
      expect((await receive(own.payload)).bundle.entry).toHaveLength(2);
      const other = await create(id, undefined, { authorization: `Bearer ${server.token({ scope: 'patient/*.rs', patient: 'someone-else' })}` });
      expect(other.status).toBe(403);
      expect((await fetch(`${server.baseUrl}/Patient/${id}/$health-link-create`, { method: 'POST' })).status).toBe(401);
      // The patient's own token revokes its own links; another patient's cannot.
      expect((await server.fhir('POST', `Patient/${id}/$health-link-revoke`, { headers: { authorization: `Bearer ${server.token({ scope: 'patient/*.rs', patient: 'someone-else' })}` } })).status).toBe(403);

      // The family said No to sharing (recorded by facility A): facility B can make no link to the card.
      const hidden = await child(1);
      const consent = await server.fhir('POST', 'Consent', { body: sharingConsent(hidden, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }) });
      expect(consent.status, consent.text).toBe(201);
      const clinicB = server.token({ scope: 'user/*.rs', organization: 'Organization/B' });
      const refused = await create(hidden, undefined, { authorization: `Bearer ${clinicB}` });
      expect(refused.status).toBe(403);
      expect(refused.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
      expect((await server.fhir('POST', `Patient/${hidden}/$health-link-revoke`, { headers: { authorization: `Bearer ${clinicB}` } })).status).toBe(403);

      // A long-term link facility C made stops sharing once the family says No (recorded by A).
      const later = await child(1);
      const clinicC = server.token({ scope: 'user/*.rs', organization: 'Organization/C', sub: 'nurse-c' });
      const link = await makeLink(later, params(param('longTerm', { valueBoolean: true })), clinicC);
      expect((await manifest(link.payload)).status).toBe(200);
      const no = await server.fhir('POST', 'Consent', { body: sharingConsent(later, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }) });
      expect(no.status, no.text).toBe(201);
      const blocked = await manifest(link.payload);
      expect(blocked.status).toBe(403);
      expect(blocked.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
      // Whoever holds the link learns neither the registry's id of the child nor whom the family refused.
      expect(JSON.stringify(blocked.body)).not.toContain(later);
      expect(JSON.stringify(blocked.body)).not.toContain('Organization/C');
    });

    it('every manifest request for a link is audited: the recipient, the link, the patient, the outcome', async () => {
      const id = await child(1);
      const { payload, handle } = await makeLink(id, params(param('passcode', { valueString: 'open-sesame' })));
      await manifest(payload, { recipient: 'Camp Wanakee health office', passcode: 'open-sesame' });
      await manifest(payload, { recipient: 'Somebody guessing', passcode: 'wrong' });
      await server.audit.flush(5000);
      const found = await server.fhir('GET', `AuditEvent?entity=Patient/${id}&_count=50`);
      expect(found.status, found.text).toBe(200);
      const events = found.body.entry.map((e: any) => e.resource).filter((e: any) => e.subtype?.some((s: any) => s.code === 'manifest'));
      expect(events).toHaveLength(2);
      const byRecipient = Object.fromEntries(events.map((e: any) => [e.agent[0].who.display, e]));
      expect(byRecipient['Camp Wanakee health office']).toMatchObject({ outcome: '0', type: { code: '110106' } });
      expect(byRecipient['Somebody guessing']).toMatchObject({ outcome: '4' });
      expect(byRecipient['Somebody guessing'].outcomeDesc).toContain('wrong passcode');
      for (const event of events) {
        expect(event.entity.find((x: any) => x.what.identifier?.system?.endsWith('/health-links')).what.identifier.value).toBe(handle);
        expect(JSON.stringify(event)).not.toContain('open-sesame');
        expect(JSON.stringify(event)).not.toContain(payload.url.split('/').pop());
      }
      // The creation is audited by the pipeline like any operation.
      const creations = found.body.entry.map((e: any) => e.resource).filter((e: any) => JSON.stringify(e.subtype).includes('$health-link-create'));
      expect(creations).toHaveLength(1);
      expect(JSON.stringify(creations)).not.toContain('open-sesame');
    });

    it('link state is never reachable through FHIR search, history or export', async () => {
      const id = await child(1);
      const { handle } = await makeLink(id);
      for (const path of ['_history?_count=200', `Patient/${id}/$everything`]) {
        const res = await server.fhir('GET', path);
        expect(res.status, res.text).toBeLessThan(500);
        expect(res.text).not.toContain(handle);
      }
      expect((await server.fhir('GET', 'HealthLink')).status).toBeGreaterThanOrEqual(400);
    });

    it('hostile input gets 4xx, never 5xx', async () => {
      const id = await child(1);
      const { payload } = await makeLink(id);
      const base = payload.url.replace(/\/[^/]+$/, '');
      const post = (url: string, body: string | Blob, headers: Record<string, string> = { 'content-type': 'application/json' }) => fetch(url, { method: 'POST', headers, body });
      const statuses: Record<string, number> = {};
      statuses.shortId = (await post(`${base}/abc`, '{"recipient":"x"}')).status;
      statuses.unknownId = (await post(`${base}/${'A'.repeat(43)}`, '{"recipient":"x"}')).status;
      statuses.encodedId = (await post(`${base}/${'%00'.repeat(43)}`, '{"recipient":"x"}')).status;
      statuses.longId = (await post(`${base}/${'A'.repeat(5000)}`, '{"recipient":"x"}')).status;
      statuses.notJson = (await post(payload.url, 'recipient=x')).status;
      statuses.array = (await post(payload.url, '[]')).status;
      statuses.noRecipient = (await post(payload.url, '{}')).status;
      statuses.numberRecipient = (await post(payload.url, '{"recipient":5}')).status;
      statuses.longRecipient = (await post(payload.url, JSON.stringify({ recipient: 'x'.repeat(300) }))).status;
      statuses.badMax = (await post(payload.url, '{"recipient":"x","embeddedLengthMax":-1}')).status;
      statuses.huge = (await post(payload.url, JSON.stringify({ recipient: 'x', pad: 'y'.repeat(1_000_000) }))).status;
      statuses.gzip = (await post(payload.url, new Blob([new Uint8Array(gzipSync(Buffer.from('{"recipient":"x"}')))]), { 'content-type': 'application/json', 'content-encoding': 'gzip' })).status;
      statuses.badFileToken = (await fetch(`${base}/file/nope`)).status;
      statuses.unknownFileToken = (await fetch(`${base}/file/${'B'.repeat(43)}`)).status;
      statuses.directBadId = (await fetch(`${base}/abc?recipient=x`)).status;
      statuses.directOddQuery = (await fetch(`${payload.url}?recipient=%ZZ&recipient=a&recipient[]=b`)).status;
      expect(statuses).toEqual({
        shortId: 404,
        unknownId: 404,
        encodedId: 404,
        longId: 404,
        notJson: 400,
        array: 400,
        noRecipient: 400,
        numberRecipient: 400,
        longRecipient: 400,
        badMax: 400,
        huge: 413,
        gzip: 415,
        badFileToken: 404,
        unknownFileToken: 404,
        directBadId: 404,
        directOddQuery: 404,
      });
      // The link still works after all that.
      expect((await manifest(payload)).status).toBe(200);

      const bad = async (body: unknown) => (await create(id, body)).status;
      expect(await bad({ resourceType: 'Patient' })).toBe(400);
      expect(await bad(params(param('passcode', { valueString: '12' })))).toBe(400);
      expect(await bad(params(param('passcode', { valueString: 'x'.repeat(300) })))).toBe(400);
      expect(await bad(params(param('passcode', { valueInteger: 1234 })))).toBe(400);
      expect(await bad(params(param('label', { valueString: 'x'.repeat(81) })))).toBe(400);
      expect(await bad(params(param('expiration', { valueInstant: '2020-01-01T00:00:00Z' })))).toBe(400);
      expect(await bad(params(param('expiration', { valueInstant: 'tomorrow' })))).toBe(400);
      expect(await bad(params(param('longTerm', { valueString: 'yes' })))).toBe(400);
      expect(await bad(params(param('label', { valueString: 'a' }), param('label', { valueString: 'b' })))).toBe(400);
      expect(await bad(params(param('colour', { valueString: 'red' })))).toBe(400);
      expect(await bad(params({ name: 7 }, null))).toBe(400);
      expect((await create('no-such-patient', params())).status).toBe(404);
      expect((await create(await child(0), params())).status).toBe(422);
      const revokeBad = (body: unknown) => server.fhir('POST', `Patient/${id}/$health-link-revoke`, { body });
      expect((await revokeBad(params(param('link', { valueString: 'not a link' })))).status).toBe(400);
      expect((await revokeBad(params(param('link', { valueString: 'C'.repeat(43) })))).status).toBe(404);
      expect((await revokeBad({ resourceType: 'Bundle' })).status).toBe(400);
    });
  });
}

suite('embedded');
if (testMongoUrl()) suite('mongodb');
else {
  describe('SMART Health Links (mongodb store)', () => {
    it.skip('needs TEST_MONGODB_URL (scripts/ferretdb.sh start … prints one)', () => undefined);
  });
}

// jsqr is CommonJS (module.exports = jsQR); its types describe an ES default export.
type JsQr = (typeof import('jsqr'))['default'];
const jsQR: JsQr = (jsQRModule as unknown as { default?: JsQr }).default ?? (jsQRModule as unknown as JsQr);

function scan(png: Buffer): string {
  const image = PNG.sync.read(png);
  const code = jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height);
  if (!code) throw new Error('no QR code found in the image');
  return code.data;
}
