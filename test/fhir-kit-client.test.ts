// A real outside client (fhir-kit-client) against a listening server: create, read, vread, search by
// id, update with If-Match, history, batch/transaction, with paging through nextPage.
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, startTestServer, testMongoUrl, type StoreKind, type TestServer } from './helpers/server.js';

const kinds: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];
if (!testMongoUrl()) console.warn('[mongodb tier] fhir-kit-client on MongoDB skipped: TEST_MONGODB_URL is not set');

describe.each(kinds)('fhir-kit-client on the %s store', (kind) => {
  let server: TestServer;
  let client: Client;
  beforeAll(async () => {
    server = await startTestServer(kind);
    client = new Client({ baseUrl: server.baseUrl, bearerToken: server.token() });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('create, read, vread, search by id, update with If-Match, history', async () => {
    const created = (await client.create({ resourceType: 'Patient', body: patient() as any })) as any;
    expect(created.meta.versionId).toBe('1');
    const read = (await client.read({ resourceType: 'Patient', id: created.id })) as any;
    expect(read.id).toBe(created.id);
    const vread = (await client.vread({ resourceType: 'Patient', id: created.id, version: '1' })) as any;
    expect(vread.meta.versionId).toBe('1');
    const found = (await client.search({ resourceType: 'Patient', searchParams: { _id: created.id } })) as any;
    expect(found.type).toBe('searchset');
    expect(found.entry.map((e: any) => e.resource.id)).toEqual([created.id]);
    const updated = (await client.update({
      resourceType: 'Patient',
      id: created.id,
      body: { ...read, gender: 'male' },
      options: { headers: { 'If-Match': 'W/"1"' } },
    })) as any;
    expect(updated.meta.versionId).toBe('2');
    await expect(
      client.update({ resourceType: 'Patient', id: created.id, body: { ...read, gender: 'other' }, options: { headers: { 'If-Match': 'W/"1"' } } })
    ).rejects.toMatchObject({ response: { status: 412 } });
    const history = (await client.history({ resourceType: 'Patient', id: created.id })) as any;
    expect(history.entry.map((e: any) => e.resource.meta.versionId)).toEqual(['2', '1']);
  });

  it('pages through search results with nextPage', async () => {
    const family = `Pager${Date.now()}`;
    for (let i = 0; i < 7; i++) await client.create({ resourceType: 'Patient', body: patient({ name: [{ family, given: [`G${i}`] }] }) as any });
    const seen: string[] = [];
    let page = (await client.search({ resourceType: 'Patient', searchParams: { family, _count: 3 } })) as any;
    while (page) {
      seen.push(...(page.entry ?? []).map((e: any) => e.resource.id));
      page = await client.nextPage({ bundle: page });
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
  });

  it('transaction (or its refusal) and batch', async () => {
    const urn = 'urn:uuid:9a1c2b3d-0000-4000-8000-00000000abcd';
    const body = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: urn, resource: patient(), request: { method: 'POST', url: 'Patient' } },
        { resource: immunization(urn), request: { method: 'POST', url: 'Immunization' } },
      ],
    };
    if (server.store.supportsTransactions) {
      const res = (await client.transaction({ body: body as any })) as any;
      expect(res.type).toBe('transaction-response');
      expect(res.entry[1].resource.patient.reference).toBe(`Patient/${res.entry[0].resource.id}`);
    } else {
      console.warn(`[${kind}] no multi-document transactions: asserting the transaction is refused`);
      await expect(client.transaction({ body: body as any })).rejects.toMatchObject({ response: { status: 400 } });
    }
    // A fresh child: re-posting the same record would (rightly) merge into the existing one.
    const fresh = { resource: patient({ name: [{ family: 'Batchson', given: ['Kit'] }], birthDate: '2019-02-03' }), request: { method: 'POST', url: 'Patient' } };
    const batch = (await client.batch({ body: { resourceType: 'Bundle', type: 'batch', entry: [fresh] } as any })) as any;
    expect(batch.entry[0].response.status).toBe('201 Created');
  });
});
