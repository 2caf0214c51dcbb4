// Patient/$match input checks over HTTP: a Patient of the wrong shape, and an input given twice,
// are refused naming the problem (422 for the Patient, as its create is; 400 for the input twice) (the first crashed the matching engine with a 500, the second was
// silently answered for one of the two).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';

const CHILD = {
  resourceType: 'Patient',
  name: [{ family: 'Baker', given: ['Noah'] }],
  gender: 'male',
  birthDate: '2025-06-01',
  address: [{ line: ['5 Pine Street'], city: 'Springfield', state: 'IL', postalCode: '62701' }],
};
const match = (...parameter: unknown[]) => ({ resourceType: 'Parameters', parameter });

describe('Patient/$match input', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
    expect((await server.fhir('POST', 'Patient', { body: CHILD })).status).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a well-formed Patient is matched', async () => {
    const res = await server.fhir('POST', 'Patient/$match', { body: match({ name: 'resource', resource: CHILD }) });
    expect(res.status, res.text).toBe(200);
    expect(res.body.total).toBe(1);
  });

  it.each([
    ['a name that is a string', { ...CHILD, name: 'Baker' }],
    ['a family name that is a list and a birth date that is no date', { ...CHILD, name: [{ family: ['Baker'] }], birthDate: 'junk' }],
    ['an identifier that is no list and a number for telecom', { ...CHILD, identifier: 'x', telecom: 5, address: [null] }],
    ['a null name and a number for the mother’s maiden name', { ...CHILD, name: [null], extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 5 }] }],
    ['a birth date that is a number', { ...CHILD, birthDate: 20250601 }],
  ])('%s: 422 naming the element, as a create of it is, never a 500', async (_what, resource) => {
    const res = await server.fhir('POST', 'Patient/$match', { body: match({ name: 'resource', resource }) });
    expect(res.status, res.text).toBe(422);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue.some((i: any) => i.severity === 'error' && (i.expression ?? []).some((e: string) => e.startsWith('Patient')))).toBe(true);
  });

  it.each([
    ['resource', { name: 'resource', resource: CHILD }],
    ['count', { name: 'count', valueInteger: 1 }],
    ['onlyCertainMatches', { name: 'onlyCertainMatches', valueBoolean: true }],
  ])('"%s" given twice: 400 naming it', async (name, part) => {
    const parts = name === 'resource' ? [part, part] : [{ name: 'resource', resource: CHILD }, part, part];
    const res = await server.fhir('POST', 'Patient/$match', { body: match(...parts) });
    expect(res.status, res.text).toBe(400);
    expect(res.body.issue[0].diagnostics).toContain(`"${name}"`);
  });
});
