// Reminder/recall (and coverage, through the same runner) read a dose stored with an NDC only as
// the CVX the server's NDC code set maps it to, as $immds-forecast does: a HepB birth dose given
// as Engerix-B's NDC made the child "due" for the dose already given.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, startTestServer, type TestServer } from '../../test/helpers/server.js';

const PRACTICE = 'Organization/practice-ndc';

describe('population runs read NDC-only doses by their CVX', () => {
  let server: TestServer;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer('embedded');
    for (const label of ['ndcDose', 'noDose']) {
      const p = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: `Ndc${label}`, given: ['Kid'] }], birthDate: '2025-06-01', managingOrganization: { reference: PRACTICE } }) });
      expect(p.status, p.text).toBe(201);
      ids[label] = p.body.id;
    }
    const dose = await server.fhir('POST', 'Immunization', {
      body: immunization(`Patient/${ids.ndcDose}`, { vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '58160-0820-43' }] }, occurrenceDateTime: '2025-06-01' }),
    });
    expect(dose.status, dose.text).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('the child given the HepB birth dose by NDC is not due for it; the one without is', async () => {
    const res = await server.fhir('GET', `$reminder-recall?organization=${PRACTICE}&asOf=2025-06-20&vaccineGroup=HepB&_format=text/csv`);
    expect(res.status, res.text).toBe(200);
    const rows = res.text.trim().split('\r\n').slice(1).map((row) => row.split(','));
    expect(rows.map((r) => r[0])).toEqual([ids.noDose]);
    expect(rows[0]![6]).toBe('1');
  });
});
