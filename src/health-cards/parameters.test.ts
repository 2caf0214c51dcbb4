// A Parameters body whose `parameter` is not a list of parameter objects is a 400 on every
// health-card operation: it was a 500 on $health-cards-issue and $health-cards-revoke, and
// $health-link-revoke read it as "no parameters" and revoked every link of the patient.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, startTestServer, type TestServer } from '../../test/helpers/server.js';
import { decodeShlink } from './shlink.js';

let server: TestServer;
let childId: string;

beforeAll(async () => {
  server = await startTestServer('embedded');
  childId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Malform', given: ['Mira'] }], birthDate: '2017-04-04' }) })).body.id;
  expect((await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${childId}`) })).status).toBe(201);
});
afterAll(async () => {
  await server?.close();
});

const MALFORMED: Array<[string, unknown]> = [
  ['an object', {}],
  ['a string', 'credentialType'],
  ['a list holding null', [null]],
  ['a list holding a number', [5]],
  ['a list holding a list', [[{ name: 'link', valueString: 'x' }]]],
];

describe('malformed Parameters on the health-card operations', () => {
  for (const operation of ['$health-cards-issue', '$health-cards-revoke', '$health-link-create', '$health-link-revoke']) {
    it(`${operation}: parameter that is not a list of parameters is a 400`, async () => {
      for (const [what, parameter] of MALFORMED) {
        const res = await server.fhir('POST', `Patient/${childId}/${operation}`, { body: { resourceType: 'Parameters', parameter } });
        expect(res.status, `${what}: ${res.text}`).toBe(400);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(res.body.issue[0].diagnostics).toContain('Parameters.parameter');
      }
    });
  }

  it('a malformed $health-link-revoke leaves the links working', async () => {
    const made = await server.fhir('POST', `Patient/${childId}/$health-link-create`);
    expect(made.status, made.text).toBe(200);
    const payload = decodeShlink(made.body.parameter.find((p: any) => p.name === 'shlink').valueString)!;
    expect((await server.fhir('POST', `Patient/${childId}/$health-link-revoke`, { body: { resourceType: 'Parameters', parameter: {} } })).status).toBe(400);
    const manifest = await fetch(payload.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ recipient: 'School nurse' }) });
    expect(manifest.status).toBe(200);
  });
});
