// A created Patient's stored blocking keys (indexFor's `_m`) come from the features matching
// computed for its lookup (prepareCreate shares them with the stored copy): they must be exactly
// what a fresh extraction of the stored record gives — a plain new child, one tagged for review
// as a possible duplicate, one in a transaction, with contacts, addresses, phones and identifiers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient } from '@medplum/fhirtypes';
import { patient, startTestServer, type TestServer } from '../../test/helpers/server.js';
import { matchKeysOf } from '../matching/candidates.js';
import type { WriteOp } from '../store/store.js';

describe('a created Patient stores the blocking keys of its own content', () => {
  let server: TestServer;
  const written: WriteOp[] = [];

  beforeAll(async () => {
    server = await startTestServer('embedded');
    const store = server.store as unknown as { write: (op: WriteOp) => Promise<unknown>; transact: (ops: WriteOp[]) => Promise<unknown> };
    const write = store.write.bind(store);
    const transact = store.transact.bind(store);
    store.write = (op) => {
      written.push(op);
      return write(op);
    };
    store.transact = (ops) => {
      written.push(...ops);
      return transact(ops);
    };
  });
  afterAll(async () => {
    await server?.close();
  });

  const storedPatients = () => written.filter((op) => op.resourceType === 'Patient' && op.resource);
  const expectOwnKeys = () => {
    const ops = storedPatients();
    expect(ops.length).toBeGreaterThan(0);
    for (const op of ops) {
      // A deep copy: no features cached for it, extracted afresh.
      const fresh = JSON.parse(JSON.stringify(op.resource)) as Patient;
      expect(op.index?._m).toEqual(matchKeysOf(fresh));
    }
  };

  it('a new child, then a probable duplicate tagged for review, then one in a transaction', async () => {
    const rich = {
      name: [{ family: 'Okafor-Lindqvist', given: ['Chidera', 'Maja'] }],
      birthDate: '2024-02-29',
      telecom: [{ system: 'phone', value: '(517) 555-0134' }],
      address: [{ line: ['12 Williamson Cir'], city: 'Lansing', postalCode: '48909' }],
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Brennan' }],
      contact: [{ name: { family: 'Okafor', given: ['Ada'] }, relationship: [{ coding: [{ code: 'MTH' }] }] }],
    };
    written.length = 0;
    const first = await server.fhir('POST', 'Patient', { body: patient(rich) });
    expect(first.status).toBe(201);
    // Same child under another record number, a typo'd given name: a probable match, tagged.
    const second = await server.fhir('POST', 'Patient', { body: patient({ ...rich, name: [{ family: 'Okafor-Lindqvist', given: ['Chidira', 'Maja'] }] }) });
    expect(second.status).toBe(201);
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000001', resource: patient({ ...rich, birthDate: '2023-12-31' }), request: { method: 'POST', url: 'Patient' } }],
    };
    const third = await server.fhir('POST', '', { body: bundle });
    expect(third.status).toBe(200);
    expect(storedPatients().length).toBe(3);
    const tagged = storedPatients().filter((op) => (op.resource as Patient).meta?.tag?.some((t) => t.code === 'possible-duplicate'));
    expect(tagged.length).toBeGreaterThan(0);
    expectOwnKeys();
  });
});
