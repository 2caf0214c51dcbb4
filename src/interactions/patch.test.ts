// JSON Patch (RFC 6902) bounds over HTTP: a patch cannot grow the resource past what a request
// body may hold. (The JSON Patch contract itself is in test/http-contract.ts; FHIRPath Patch in
// fhirpath-patch.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';

describe('JSON Patch bounds', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  const jsonPatch = (path: string, operations: unknown[]) =>
    server.fhir('PATCH', path, { raw: JSON.stringify(operations), headers: { 'content-type': 'application/json-patch+json' } });

  it('copies that double the resource are refused before it holds more JSON values than a resource may (not after minutes of work and the heap)', async () => {
    const created = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Copperfield', given: ['Dave'] }], birthDate: '2012-12-12' }) });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    // Each copy of the list into itself doubles it: 40 of them would be 2^40 extensions. Without the
    // bound 17 of them take seconds and only the validator refuses the result (400 structure).
    const doubling = [
      { op: 'add', path: '/extension', value: [{ url: 'http://example.org/copy', valueString: 'x' }] },
      ...Array.from({ length: 17 }, () => ({ op: 'copy', from: '/extension', path: '/extension/-' })),
    ];
    const started = Date.now();
    const refused = await jsonPatch(`Patient/${id}`, doubling);
    expect(refused.status, refused.text).toBe(400);
    expect(refused.body.issue[0].code).toBe('too-costly');
    expect(refused.body.issue[0].diagnostics).toMatch(/^JSON Patch operation \d+ \(copy from \/extension\) would make the resource too large/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await server.fhir('GET', `Patient/${id}`)).body.meta.versionId).toBe('1');

    // A copy that stays within the bound is applied as before.
    const copied = await jsonPatch(`Patient/${id}`, [{ op: 'copy', from: '/name/0', path: '/name/-' }]);
    expect(copied.status, copied.text).toBe(200);
    expect(copied.body.name).toHaveLength(2);
  });
});

const kinds: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];

for (const kind of kinds) {
  describe(`JSON Patch in a transaction (${kind})`, { timeout: kind === 'mongodb' ? 120_000 : 30_000 }, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(kind);
    });
    afterAll(async () => {
      await server?.close();
    });

    // R4 http.html#patch: in a Bundle, a JSON Patch is a Binary entry holding the patch.
    const binaryPatch = (operations: unknown[]) => ({
      resourceType: 'Binary',
      contentType: 'application/json-patch+json',
      data: Buffer.from(JSON.stringify(operations)).toString('base64'),
    });

    it('references to other entries in the patch are rewritten to the ids the transaction assigned; an unknown urn is a 400 and nothing is stored', async (context) => {
      if (!server.store.supportsTransactions) {
        console.warn(`[${kind}] skipping the JSON Patch transaction test: this deployment has no multi-document transactions`);
        context.skip();
      }
      const child = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Binary', given: ['Bea'] }] }) });
      expect(child.status, child.text).toBe(201);
      const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${child.body.id}`) });
      expect(dose.status, dose.text).toBe(201);
      const clinicUrn = 'urn:uuid:0b7e1c7a-53a4-4f6e-8d0e-5b3c2f1a9e01';
      const pharmacyUrn = 'urn:uuid:0b7e1c7a-53a4-4f6e-8d0e-5b3c2f1a9e02';
      const res = await server.fhir('POST', '', {
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: binaryPatch([
                { op: 'add', path: '/performer', value: [{ actor: { reference: clinicUrn } }, { actor: { reference: clinicUrn } }] },
                { op: 'replace', path: '/performer/1/actor/reference', value: pharmacyUrn },
                { op: 'replace', path: '/lotNumber', value: 'LOT-JSON-TX' },
              ]),
              request: { method: 'PATCH', url: `Immunization/${dose.body.id}` },
            },
            { fullUrl: clinicUrn, resource: { resourceType: 'Organization', name: 'Clinic on the bundle' }, request: { method: 'POST', url: 'Organization' } },
            { fullUrl: pharmacyUrn, resource: { resourceType: 'Organization', name: 'Pharmacy on the bundle' }, request: { method: 'POST', url: 'Organization' } },
          ],
        },
      });
      expect(res.status, res.text).toBe(200);
      const [clinicId, pharmacyId] = [res.body.entry[1].resource.id, res.body.entry[2].resource.id];
      const stored = (await server.fhir('GET', `Immunization/${dose.body.id}`)).body;
      expect(stored.lotNumber).toBe('LOT-JSON-TX');
      expect(stored.performer).toEqual([{ actor: { reference: `Organization/${clinicId}` } }, { actor: { reference: `Organization/${pharmacyId}` } }]);

      const refused = await server.fhir('POST', '', {
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: binaryPatch([{ op: 'replace', path: '/lotNumber', value: 'LOT-NOT' }]), request: { method: 'PATCH', url: `Immunization/${dose.body.id}` } },
            {
              resource: binaryPatch([{ op: 'add', path: '/managingOrganization', value: { reference: 'urn:uuid:0b7e1c7a-53a4-4f6e-8d0e-5b3c2f1a9eff' } }]),
              request: { method: 'PATCH', url: `Patient/${child.body.id}` },
            },
          ],
        },
      });
      expect(refused.status, refused.text).toBe(400);
      expect(refused.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\]: The reference urn:uuid:\S+ names no entry of this transaction/);
      const after = (await server.fhir('GET', `Immunization/${dose.body.id}`)).body;
      expect(after.lotNumber).toBe('LOT-JSON-TX');
      expect(after.meta.versionId).toBe(stored.meta.versionId);
      expect((await server.fhir('GET', `Patient/${child.body.id}`)).body.meta.versionId).toBe(child.body.meta.versionId);
    });
  });
}
