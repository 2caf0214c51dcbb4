// $health-cards-issue checked as a verifier app would: it trusts only the published key set
// (GET [iss]/.well-known/jwks.json), checks the ES256 signature with jose, inflates the payload,
// checks the Bundle against the SMART Health Cards vaccination profile's minimisation rules, and
// reads QR codes back to the same JWS.
import { inflateRawSync } from 'node:zlib';
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outParameterProblems } from '../../test/helpers/operation-definition.js';
import { immunization, patient, sharingConsent, startTestServer, type TestServer } from '../../test/helpers/server.js';
import { rotateIssuerKey } from './issuer-keys.js';
import { fromNumeric, qrPng } from './qr.js';

let server: TestServer;
let childId: string;
let otherChildId: string;
const doseIds: string[] = [];
let hiddenChildId: string;

const ISSUE = (id: string) => `Patient/${id}/$health-cards-issue`;
const askFor = (type = 'https://smarthealth.cards#immunization', more: unknown[] = []) => ({
  resourceType: 'Parameters',
  parameter: [{ name: 'credentialType', valueUri: type }, ...more],
});

beforeAll(async () => {
  server = await startTestServer('embedded');
  const org = await server.fhir('POST', 'Organization', { body: { resourceType: 'Organization', name: 'Riverside Pediatrics' } });
  const child = await server.fhir('POST', 'Patient', {
    body: patient({
      name: [
        { use: 'old', family: 'Boy', given: ['Baby'] },
        { use: 'official', family: 'Okafor', given: ['Chidi', 'Emeka'] },
      ],
      birthDate: '2021-03-04',
      telecom: [{ system: 'phone', value: '555-0100' }],
      address: [{ city: 'Boston' }],
    }),
  });
  childId = child.body.id;
  const doses: Array<Record<string, unknown>> = [
    { occurrenceDateTime: '2021-03-05T09:30:00-05:00', lotNumber: 'HB1', performer: [{ actor: { reference: `Organization/${org.body.id}` } }] },
    { vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '20', display: 'DTaP' }], text: 'DTaP' }, occurrenceDateTime: '2021-05-04', lotNumber: 'DT2', performer: [{ actor: { display: 'Dr. Chen' } }] },
    { vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '10' }] }, occurrenceDateTime: '2021-05-04', status: 'not-done', statusReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'PATOBJ' }] }, primarySource: true },
  ];
  for (const fields of doses) {
    const res = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${childId}`, fields) });
    expect(res.status, res.text).toBe(201);
    doseIds.push(res.body.id);
  }
  otherChildId = (await server.fhir('POST', 'Patient', { body: patient({ birthDate: '2022-01-01' }) })).body.id;
  hiddenChildId = (await server.fhir('POST', 'Patient', { body: patient({ birthDate: '2022-02-02' }) })).body.id;
  await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${hiddenChildId}`) });
  const consent = await server.fhir('POST', 'Consent', {
    body: sharingConsent(hiddenChildId, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }),
  });
  expect(consent.status, consent.text).toBe(201);
});
afterAll(async () => {
  await server?.close();
});

/** What a verifier does with a JWS: key from the published set by kid, signature, inflate, checks. */
async function verifyAsVerifier(jws: string): Promise<{ payload: any; kid: string }> {
  const header = decodeProtectedHeader(jws);
  expect(header).toEqual({ alg: 'ES256', zip: 'DEF', kid: expect.any(String) });
  const res = await fetch(`${server.url}/.well-known/jwks.json`, { headers: { origin: 'https://verifier.example' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  const jwks = (await res.json()) as { keys: JWK[] };
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  expect(jwk, 'the signing key is published').toBeDefined();
  expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256' });
  expect(jwk).not.toHaveProperty('d');
  expect(await calculateJwkThumbprint(jwk as JWK)).toBe(header.kid);
  const { payload } = await compactVerify(jws, await importJWK(jwk as JWK, 'ES256'));
  return { payload: JSON.parse(inflateRawSync(payload).toString('utf8')), kid: header.kid as string };
}

async function issue(id: string, options: { token?: string; accept?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.accept) headers.accept = options.accept;
  return server.fhir('POST', ISSUE(id), { body: options.body ?? askFor(), headers });
}

describe('$health-cards-issue', () => {
  it('issues a card a verifier trusting only the published keys accepts, with a minimised Bundle', async () => {
    const res = await issue(childId);
    expect(res.status, res.text).toBe(200);
    expect(outParameterProblems(res.body, 'health-cards-issue')).toEqual([]);
    const params = res.body;
    expect(params.resourceType).toBe('Parameters');
    const jws = params.parameter.find((p: any) => p.name === 'verifiableCredential').valueString;
    const { payload } = await verifyAsVerifier(jws);

    expect(payload.iss).toBe(server.baseUrl.replace(/\/fhir$/, ''));
    expect(payload.nbf).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(payload.nbf).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(payload.vc.type).toEqual(['https://smarthealth.cards#health-card', 'https://smarthealth.cards#immunization']);
    expect(payload.vc.credentialSubject.fhirVersion).toBe('4.0.1');
    const bundle = payload.vc.credentialSubject.fhirBundle;
    expect(bundle).toEqual({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'resource:0', resource: { resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Chidi', 'Emeka'] }], birthDate: '2021-03-04' } },
        {
          fullUrl: 'resource:1',
          resource: {
            resourceType: 'Immunization',
            status: 'completed',
            vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] },
            patient: { reference: 'resource:0' },
            occurrenceDateTime: '2021-03-05',
            performer: [{ actor: { display: 'Riverside Pediatrics' } }],
            lotNumber: 'HB1',
          },
        },
        {
          fullUrl: 'resource:2',
          resource: {
            resourceType: 'Immunization',
            status: 'completed',
            vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '20' }] },
            patient: { reference: 'resource:0' },
            occurrenceDateTime: '2021-05-04',
            performer: [{ actor: { display: 'Dr. Chen' } }],
            lotNumber: 'DT2',
          },
        },
      ],
    });
    // resourceLink ties each bundled entry to the stored resource.
    const links = params.parameter.filter((p: any) => p.name === 'resourceLink').map((p: any) => Object.fromEntries(p.part.map((q: any) => [q.name, q.valueUri ?? q.valueInteger])));
    expect(links).toEqual([
      { vcIndex: 0, bundledResource: 'resource:0', hostedResource: `${server.baseUrl}/Patient/${childId}` },
      { vcIndex: 0, bundledResource: 'resource:1', hostedResource: `${server.baseUrl}/Immunization/${doseIds[0]}` },
      { vcIndex: 0, bundledResource: 'resource:2', hostedResource: `${server.baseUrl}/Immunization/${doseIds[1]}` },
    ]);
    expect(jws.length).toBeLessThanOrEqual(1195);
  });

  it('answers Immunization as a credentialType too; empty Parameters for other types, no doses, or nothing new since _since', async () => {
    expect((await issue(childId, { body: askFor('Immunization') })).body.parameter[0].name).toBe('verifiableCredential');
    expect((await issue(childId, { body: askFor('https://smarthealth.cards#laboratory') })).body).toEqual({ resourceType: 'Parameters' });
    expect((await issue(otherChildId)).body).toEqual({ resourceType: 'Parameters' });
    const future = askFor(undefined, [{ name: '_since', valueDateTime: new Date(Date.now() + 3_600_000).toISOString() }]);
    expect((await issue(childId, { body: future })).body).toEqual({ resourceType: 'Parameters' });
    const past = askFor(undefined, [{ name: '_since', valueDateTime: '2020-01-01T00:00:00Z' }]);
    expect((await issue(childId, { body: past })).body.parameter[0].name).toBe('verifiableCredential');
  });

  it('includeIdentityClaim chooses the identity elements; bad input is a 400', async () => {
    const res = await issue(childId, { body: askFor(undefined, [{ name: 'includeIdentityClaim', valueString: 'Patient.birthDate' }]) });
    const { payload } = await verifyAsVerifier(res.body.parameter[0].valueString);
    expect(payload.vc.credentialSubject.fhirBundle.entry[0].resource).toEqual({ resourceType: 'Patient', birthDate: '2021-03-04' });
    expect((await issue(childId, { body: { resourceType: 'Parameters' } })).status).toBe(400);
    expect((await issue(childId, { body: askFor(undefined, [{ name: 'includeIdentityClaim', valueString: 'Patient.telecom' }]) })).status).toBe(400);
    expect((await issue(childId, { body: askFor(undefined, [{ name: 'bogus', valueString: 'x' }]) })).status).toBe(400);
    expect((await server.fhir('GET', ISSUE(childId))).status).toBe(405);
  });

  it('a wallet discovers the issuing: smart-configuration lists the health-cards capability', async () => {
    for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
      const doc = (await (await fetch(`${server.url}${path}`)).json()) as { capabilities: string[] };
      expect(doc.capabilities, path).toContain('health-cards');
    }
  });

  it('downloads the .smart-health-card file', async () => {
    const res = await fetch(`${server.baseUrl}/${ISSUE(childId)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token()}`, 'content-type': 'application/fhir+json', accept: 'application/smart-health-card' },
      body: JSON.stringify(askFor()),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/smart-health-card');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="patient-${childId}.smart-health-card"`);
    const file = (await res.json()) as { verifiableCredential: string[] };
    expect(file.verifiableCredential).toHaveLength(1);
    await verifyAsVerifier(file.verifiableCredential[0]);
  });

  it('QR codes read back to the same JWS (shc:/ numeric form), over HTTP and for a given card', async () => {
    const text = await issue(childId, { accept: 'text/plain' });
    expect(text.status).toBe(200);
    expect(text.text).toMatch(/^shc:\/\d+$/);
    await verifyAsVerifier(fromNumeric(text.text));

    const png = await fetch(`${server.baseUrl}/${ISSUE(childId)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token()}`, 'content-type': 'application/fhir+json', accept: 'image/png' },
      body: JSON.stringify(askFor()),
    });
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    const scanned = scan(Buffer.from(await png.arrayBuffer()));
    expect(scanned).toMatch(/^shc:\/\d+$/);
    await verifyAsVerifier(fromNumeric(scanned));

    // Accept's q weights decide, not the order written (RFC 9110): the QR text here, and q=0 is never chosen.
    const weighted = await issue(childId, { accept: 'application/fhir+json;q=0.1, text/plain' });
    expect(weighted.status).toBe(200);
    expect(weighted.text).toMatch(/^shc:\/\d+$/);
    const refused = await issue(childId, { accept: 'text/plain;q=0, application/smart-health-card;q=0.5' });
    expect(JSON.parse(refused.text).verifiableCredential).toHaveLength(1);

    // The very JWS of a Parameters answer, through the QR and back.
    const jws = (await issue(childId)).body.parameter[0].valueString;
    expect(fromNumeric(scan(await qrPng(jws)))).toBe(jws);
  });

  it('who may ask: the patient itself, readers of the patient; not other patients, not without Immunization read, not past data sharing', async () => {
    const own = await issue(childId, { token: server.token({ scope: 'patient/*.rs', patient: childId }) });
    expect(own.status, own.text).toBe(200);
    const v1 = await issue(childId, { token: server.token({ scope: 'patient/Patient.read patient/Immunization.read', patient: childId }) });
    expect(v1.status, v1.text).toBe(200);
    expect((await issue(childId, { token: server.token({ scope: 'patient/*.rs', patient: otherChildId }) })).status).toBe(403);
    expect((await issue(childId, { token: server.token({ scope: 'user/Patient.rs' }) })).status).toBe(403);
    const clinic = server.token({ scope: 'user/*.rs', organization: 'Organization/B' });
    expect((await issue(childId, { token: clinic })).status).toBe(200);
    const hidden = await issue(hiddenChildId, { token: clinic });
    expect(hidden.status).toBe(403);
    expect(hidden.body.issue[0].details.coding[0].code).toBe('data-sharing-restricted');
    // The consenting organization itself may.
    expect((await issue(hiddenChildId, { token: server.token({ scope: 'user/*.rs', organization: 'Organization/A' }) })).status).toBe(200);
    expect((await fetch(`${server.baseUrl}/${ISSUE(childId)}`, { method: 'POST' })).status).toBe(401);
  });

  it('every issuance is audited', async () => {
    await server.audit.flush(5000);
    const found = await server.fhir('GET', `AuditEvent?entity=Patient/${hiddenChildId}&_count=50`);
    expect(found.status, found.text).toBe(200);
    const events = found.body.entry.map((e: any) => e.resource);
    const issuances = events.filter((e: any) => JSON.stringify(e).includes('health-cards-issue'));
    expect(issuances.length).toBeGreaterThanOrEqual(2);
    expect(issuances.map((e: any) => e.outcome).sort()).toEqual(expect.arrayContaining(['0', '4']));
  });

  it('key rotation: new cards get the new kid, old cards still verify from the published set', async () => {
    const before = (await issue(childId)).body.parameter[0].valueString;
    const oldKid = decodeProtectedHeader(before).kid;
    const newKid = await rotateIssuerKey(server.dataDir);
    expect(newKid).not.toBe(oldKid);
    const after = (await issue(childId)).body.parameter[0].valueString;
    expect((await verifyAsVerifier(after)).kid).toBe(newKid);
    expect((await verifyAsVerifier(before)).kid).toBe(oldKid);
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
  });
});

// jsqr is CommonJS (module.exports = jsQR); its types describe an ES default export.
type JsQr = (typeof import('jsqr'))['default'];
const jsQR: JsQr = (jsQRModule as unknown as { default?: JsQr }).default ?? (jsQRModule as unknown as JsQr);

function scan(png: Buffer): string {
  const image = PNG.sync.read(png);
  const code = jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height);
  if (!code) throw new Error('no QR code found in the image');
  return code.data;
}
