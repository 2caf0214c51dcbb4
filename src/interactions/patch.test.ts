// JSON Patch (RFC 6902) bounds over HTTP: a patch cannot grow the resource past what a request
// body may hold. (The JSON Patch contract itself is in test/http-contract.ts; FHIRPath Patch in
// fhirpath-patch.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patient, startTestServer, type TestServer } from '../../test/helpers/server.js';

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
