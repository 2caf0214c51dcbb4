// The CDC guide's example messages (test/fixtures/hl7v2, see its README for provenance) through
// POST /hl7v2: what is stored and what the acknowledgements and the query response say.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hl7Message } from '@medplum/core';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { parseMessage } from './er7.js';

const fixture = (name: string): string => readFileSync(new URL(`../../test/fixtures/hl7v2/${name}`, import.meta.url), 'utf8');

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer('embedded');
});
afterAll(async () => {
  await server?.close();
});

async function post(message: string): Promise<{ status: number; text: string; msg: Hl7Message }> {
  const res = await fetch(`${server.url}/hl7v2`, {
    method: 'POST',
    headers: { 'content-type': 'x-application/hl7-v2+er7', authorization: `Bearer ${server.token()}` },
    body: message,
  });
  const text = await res.text();
  return { status: res.status, text, msg: parseMessage(text, { maxBytes: 1e7 }).message };
}
const msa = (m: Hl7Message) => m.getSegment('MSA')?.getField(1).toString();

async function patientByMrn(system: string, value: string): Promise<any> {
  const res = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(`${system}|${value}`)}`);
  return res.body.entry?.[0]?.resource;
}
async function doses(patientId: string): Promise<any[]> {
  const res = await server.fhir('GET', `Immunization?patient=Patient/${patientId}`);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}
const AUTHORITY = 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/';

describe('CDC guide examples', () => {
  it('NIST-IZ-001.00: an NDC no longer in use on the date is stored with a warning (AE, ERR on RXA-5)', async () => {
    const { msg, text, status } = await post(fixture('vxu-nist-iz-001.hl7'));
    expect(status).toBe(200);
    expect(msa(msg), text).toBe('AE');
    expect(msg.getSegment('MSA')?.getField(2).toString()).toBe('NIST-IZ-001.00');
    const errs = msg.getAllSegments('ERR').map((e) => ({ loc: e.getField(2).toString(), sev: e.getField(4).toString(), app: e.getComponent(5, 1) }));
    expect(errs).toContainEqual({ loc: 'RXA^1^5^1', sev: 'W', app: '3' });
    const patient = await patientByMrn(`${AUTHORITY}NIST%20MPI`, 'D26376273');
    expect(patient.name[0]).toMatchObject({ family: 'Snow', given: ['Madelynn', 'Ainsley'] });
    const [dose] = await doses(patient.id);
    expect(dose.vaccineCode.coding[0]).toMatchObject({ system: 'http://hl7.org/fhir/sid/ndc', code: '33332-0010-01' });
    expect(dose.manufacturer.identifier.value).toBe('CSL');
    expect(dose.education[0]).toMatchObject({ publicationDate: '2012-07-02', presentationDate: '2012-08-14' });
  });

  it('historical dose, refusal, Z34 query and deletion for "Robert Quenton Child"', async () => {
    const historical = await post(fixture('vxu-historical.hl7'));
    expect(msa(historical.msg), historical.text).toMatch(/^A[AE]$/);
    const refusal = await post(fixture('vxu-refusal.hl7'));
    expect(msa(refusal.msg), refusal.text).toMatch(/^A[AE]$/);
    const patient = await patientByMrn(`${AUTHORITY}MYEHR`, '123456');
    const stored = await doses(patient.id);
    expect(stored.map((d) => [d.vaccineCode.coding[0].code, d.status, d.primarySource]).sort()).toEqual([
      ['08', 'completed', false],
      ['107', 'not-done', true],
    ]);

    const query = await post(fixture('qbp-z34.hl7'));
    expect(query.msg.getSegment('MSH')?.getComponent(21, 1), query.text).toBe('Z32');
    expect(query.msg.getSegment('QAK')?.getField(1).toString()).toBe('37374859');
    expect(query.msg.getAllSegments('RXA').map((r) => r.getField(20).toString()).sort()).toEqual(['CP', 'RE']);

    const deletion = await post(fixture('vxu-delete.hl7'));
    expect(msa(deletion.msg), deletion.text).toBe('AA');
    expect((await doses(patient.id)).map((d) => d.vaccineCode.coding[0].code)).toEqual(['107']);
  });
});
