// A conditional update that matches nothing creates under an id newResourceId has just given
// (write-path.ts `freshId`): no version of it can be stored, so the update does not read it (the
// ORC-3 update of every VXU's new dose). The answers are those of the read path: 201 with the new
// id, a second identical request updates it (200, version 2, after reading it), an If-Match on a
// condition that matches nothing is refused as before, and a body id that exists is still a 409.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, startTestServer, type TestServer } from '../../test/helpers/server.js';

describe('conditional update: a fresh id is not read', () => {
  let server: TestServer;
  const reads: string[] = [];

  beforeAll(async () => {
    server = await startTestServer('embedded');
    const store = server.store as unknown as { read: (type: string, id: string) => Promise<unknown> };
    const read = store.read.bind(store);
    store.read = (type, id) => {
      reads.push(`${type}/${id}`);
      return read(type, id);
    };
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates without reading the new id, then updates the match after reading it', async () => {
    const child = await server.fhir('POST', 'Patient', { body: patient() });
    expect(child.status).toBe(201);
    const value = `orc3-${Date.now()}`;
    const body = immunization(`Patient/${child.body.id}`, { identifier: [{ system: 'urn:orc3', value }] });
    reads.length = 0;
    const created = await server.fhir('PUT', `Immunization?identifier=urn:orc3|${value}`, { body });
    expect(created.status).toBe(201);
    expect(created.body.meta.versionId).toBe('1');
    expect(reads).not.toContain(`Immunization/${created.body.id}`);
    const updated = await server.fhir('PUT', `Immunization?identifier=urn:orc3|${value}`, { body: { ...body, lotNumber: 'LOT-2' } });
    expect(updated.status).toBe(200);
    expect(updated.body.id).toBe(created.body.id);
    expect(updated.body.meta.versionId).toBe('2');
    expect(reads).toContain(`Immunization/${created.body.id}`);
  });

  it('refuses an If-Match on a condition that matches nothing, and a body id that exists', async () => {
    const child = await server.fhir('POST', 'Patient', { body: patient() });
    const value = `orc3-none-${Date.now()}`;
    const body = immunization(`Patient/${child.body.id}`, { identifier: [{ system: 'urn:orc3', value }] });
    const refused = await server.fhir('PUT', `Immunization?identifier=urn:orc3|${value}`, { body, headers: { 'if-match': 'W/"1"' } });
    expect(refused.status).toBe(412);
    expect(JSON.stringify(refused.body)).toContain('does not exist');
    const other = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${child.body.id}`) });
    const clash = await server.fhir('PUT', `Immunization?identifier=urn:orc3|${value}-2`, { body: { ...body, id: other.body.id } });
    expect(clash.status).toBe(409);
  });
});
