// Patient/$merge input over HTTP: a 0..1 parameter given twice is a 400 and nothing is merged (the
// first target-patient was used and the merge done, whatever the second one said).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outParameterProblems } from '../../test/helpers/operation-definition.js';
import { immunization, patient, startTestServer, type TestServer } from '../../test/helpers/server.js';

describe('Patient/$merge input', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  const ref = (name: string, id: string) => ({ name, valueReference: { reference: `Patient/${id}` } });

  it.each([
    ['target-patient', (s: string, t: string, o: string) => [ref('source-patient', s), ref('target-patient', t), ref('target-patient', o)]],
    ['source-patient', (s: string, t: string, o: string) => [ref('source-patient', s), ref('source-patient', o), ref('target-patient', t)]],
    ['preview', (s: string, t: string) => [ref('source-patient', s), ref('target-patient', t), { name: 'preview', valueBoolean: false }, { name: 'preview', valueBoolean: true }]],
  ])('"%s" given twice: 400 naming it, nothing merged', async (name, parts) => {
    const ids: string[] = [];
    for (const family of ['Source', 'Target', 'Third']) {
      const res = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family, given: [name] }], birthDate: `201${ids.length}-03-0${ids.length + 1}` }) });
      expect(res.status, res.text).toBe(201);
      ids.push(res.body.id);
    }
    const [source, target, third] = ids;
    const res = await server.fhir('POST', 'Patient/$merge', { body: { resourceType: 'Parameters', parameter: parts(source, target, third) } });
    expect(res.status, res.text).toBe(400);
    expect(res.body.issue[0].diagnostics).toContain(`"${name}"`);
    for (const id of ids) {
      const stored = await server.fhir('GET', `Patient/${id}`);
      expect(stored.body.meta.versionId, id).toBe('1');
      expect(stored.body.link, id).toBeUndefined();
    }
  });
});

describe('Patient/$merge result-patient', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  it("a result-patient whose id is not the target's is a 400 and nothing is merged; the target's id is taken", async () => {
    const ids: string[] = [];
    for (const [i, family] of ['Source', 'Target', 'Other'].entries()) {
      const res = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family, given: ['Result'] }], birthDate: `200${i}-04-0${i + 1}` }) });
      ids.push(res.body.id);
    }
    const [source, target, other] = ids;
    const body = (resultId: string) => ({
      resourceType: 'Parameters',
      parameter: [
        { name: 'source-patient', valueReference: { reference: `Patient/${source}` } },
        { name: 'target-patient', valueReference: { reference: `Patient/${target}` } },
        { name: 'result-patient', resource: patient({ id: resultId, name: [{ family: 'Merged', given: ['Result'] }], birthDate: '2001-04-02' }) },
      ],
    });
    const wrong = await server.fhir('POST', 'Patient/$merge', { body: body(other) });
    expect(wrong.status, wrong.text).toBe(400);
    expect(wrong.body.issue[0].diagnostics).toContain(`Patient/${target}`);
    for (const id of ids) expect((await server.fhir('GET', `Patient/${id}`)).body.meta.versionId, id).toBe('1');

    const right = await server.fhir('POST', 'Patient/$merge', { body: body(target) });
    expect(right.status, right.text).toBe(200);
    expect((await server.fhir('GET', `Patient/${target}`)).body.name[0].family).toBe('Merged');
  });
});

describe('a dose for a record merged away', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is refused (422 patient-merged naming the survivor), so that no dose ends up missing from the child', async () => {
    const ids: string[] = [];
    for (const given of ['Merged', 'Survivor']) {
      const res = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Okafor', given: [given] }], birthDate: '2019-05-06' }) });
      ids.push(res.body.id);
    }
    const [source, target] = ids;
    const merge = await server.fhir('POST', 'Patient/$merge', {
      body: { resourceType: 'Parameters', parameter: [{ name: 'source-patient', valueReference: { reference: `Patient/${source}` } }, { name: 'target-patient', valueReference: { reference: `Patient/${target}` } }] },
    });
    expect(merge.status, merge.text).toBe(200);

    const refused = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${source}`) });
    expect(refused.status, refused.text).toBe(422);
    const issue = refused.body.issue.find((i: any) => i.details?.coding?.[0]?.code === 'patient-merged');
    expect(issue).toMatchObject({ severity: 'error', expression: ['Immunization.patient'] });
    expect(issue.diagnostics).toContain(`Patient/${target}`);
    expect((await server.fhir('GET', `Immunization?patient=Patient/${source}`)).body.total).toBe(0);

    const stored = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${target}`) });
    expect(stored.status, stored.text).toBe(201);
  });
});

describe('a merge of records without identifiers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  it('stores and answers a survivor without an empty identifier list (FHIR ele-1), which a write of it as read back would refuse', async () => {
    const ids: string[] = [];
    for (const given of ['Gone', 'Kept']) {
      const res = await server.fhir('POST', 'Patient', { body: patient({ identifier: undefined, name: [{ family: 'Nwosu', given: [given] }], birthDate: '2018-02-03' }) });
      expect(res.status, res.text).toBe(201);
      ids.push(res.body.id);
    }
    const [source, target] = ids;
    const merge = await server.fhir('POST', 'Patient/$merge', {
      body: { resourceType: 'Parameters', parameter: [{ name: 'source-patient', valueReference: { reference: `Patient/${source}` } }, { name: 'target-patient', valueReference: { reference: `Patient/${target}` } }] },
    });
    expect(merge.status, merge.text).toBe(200);
    expect(outParameterProblems(merge.body, 'merge')).toEqual([]);
    const answered = merge.body.parameter.find((p: any) => p.name === 'result').resource;
    expect(answered).not.toHaveProperty('identifier');

    const stored = await server.fhir('GET', `Patient/${target}`);
    expect(stored.body).not.toHaveProperty('identifier');
    const { meta: _meta, ...asRead } = stored.body;
    const rewritten = await server.fhir('PUT', `Patient/${target}`, { body: asRead });
    expect(rewritten.status, rewritten.text).toBe(200);
  });
});
