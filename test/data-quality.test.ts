// IIS data quality over HTTP: rule issues on create / batch / transaction / $validate, the severity
// policy file, the terminology operations, and a code-set import reaching the running server.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCodeSets } from '../src/terminology/import.js';
import { SEED_DIR } from '../src/terminology/store-sync.js';
import { immunization, patient, startTestServer, testMongoUrl, type StoreKind, type TestServer } from './helpers/server.js';

const CVX = 'http://hl7.org/fhir/sid/cvx';
const NDC = 'http://hl7.org/fhir/sid/ndc';
const RULES = 'https://iis-fhir-server.org/fhir/CodeSystem/iis-rule';

/** [code, severity, expression] of every rule issue in an OperationOutcome. */
function ruleIssues(oo: any): Array<[string, string, string]> {
  return (oo?.issue ?? [])
    .filter((i: any) => i.details?.coding?.[0]?.system === RULES)
    .map((i: any) => [i.details.coding[0].code, i.severity, i.expression?.[0]]);
}

const KINDS: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];

describe.each(KINDS)('data quality over HTTP (%s store)', (kind) => {
  let server: TestServer;
  let patientId: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    const p = await server.fhir('POST', 'Patient', { body: patient() });
    expect(p.status).toBe(201);
    patientId = p.body.id;
  });
  afterAll(async () => {
    await server?.close();
  });

  const countImmunizations = async (pid: string): Promise<number> => {
    const res = await server.fhir('GET', `Immunization?patient=Patient/${pid}&_summary=count`);
    return res.body.total;
  };

  it('a create that breaks rules is 422 with every issue, and nothing is stored', async () => {
    const { body: p } = await server.fhir('POST', 'Patient', { body: patient() });
    const res = await server.fhir('POST', 'Immunization', {
      body: immunization(`Patient/${p.id}`, {
        occurrenceDateTime: '2020-05-16',
        lotNumber: undefined,
        expirationDate: '2020-01-01',
        vaccineCode: { coding: [{ system: CVX, code: '08' }, { system: NDC, code: '49281-0521-00' }] },
      }),
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/application\/fhir\+json/);
    expect(ruleIssues(res.body)).toEqual([
      ['ndc-cvx-mismatch', 'error', 'Immunization.vaccineCode.coding[1]'],
      ['vaccine-code-inactive-for-date', 'warning', 'Immunization.vaccineCode.coding[1]'],
      ['lot-number-missing', 'warning', 'Immunization.lotNumber'],
      ['lot-expired', 'warning', 'Immunization.expirationDate'],
      ['vaccination-before-birth', 'error', 'Immunization.occurrence'],
    ]);
    for (const issue of res.body.issue) expect(issue.diagnostics).toMatch(/: (send|check|correct)/);
    expect(await countImmunizations(p.id)).toBe(0);
  });

  it('warnings and information are stored and returned (Prefer: return=OperationOutcome)', async () => {
    const res = await server.fhir('POST', 'Immunization', {
      body: immunization(`Patient/${patientId}`, { lotNumber: undefined }),
      headers: { prefer: 'return=OperationOutcome' },
    });
    expect(res.status).toBe(201);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(ruleIssues(res.body)).toEqual([['lot-number-missing', 'warning', 'Immunization.lotNumber']]);
    const stored = await server.fhir('GET', res.headers.get('location')!.replace(/^.*\/fhir\//, ''));
    expect(stored.status).toBe(200);

    const baby = await server.fhir('POST', 'Patient', {
      body: patient({ name: [{ family: 'Garcia', given: ['Baby Girl'] }], multipleBirthBoolean: true }),
      headers: { prefer: 'return=OperationOutcome' },
    });
    expect(baby.status).toBe(201);
    expect(ruleIssues(baby.body)).toEqual([
      ['placeholder-name', 'information', 'Patient.name[0]'],
      ['multiple-birth-order-missing', 'warning', 'Patient.multipleBirth'],
    ]);
  });

  it('Patient rules reject missing and impossible data with 422', async () => {
    const res = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Smith' }], birthDate: '2999-01-01' },
    });
    expect(res.status).toBe(422);
    expect(ruleIssues(res.body)).toEqual([
      ['birthdate-in-future', 'error', 'Patient.birthDate'],
      ['name-missing', 'error', 'Patient.name[0].given'],
    ]);
  });

  it('a pharmacy batch of mixed Immunizations: each entry says what was stored and what to fix', async () => {
    const good = immunization(`Patient/${patientId}`, { vaccineCode: { coding: [{ system: NDC, code: '4928152100' }] }, occurrenceDateTime: '2021-10-01' });
    const warned = immunization(`Patient/${patientId}`, { lotNumber: undefined });
    const bad = immunization(`Patient/${patientId}`, {
      occurrenceDateTime: '2999-01-01',
      vaccineCode: { coding: [{ system: CVX, code: '0000' }] },
    });
    const orphan = immunization('Patient/does-not-exist');
    const before = await countImmunizations(patientId);
    const res = await server.fhir('POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [good, warned, bad, orphan].map((resource) => ({ resource, request: { method: 'POST', url: 'Immunization' } })),
      },
    });
    expect(res.status).toBe(200);
    const entries = res.body.entry;
    expect(entries.map((e: any) => e.response.status)).toEqual(['201 Created', '201 Created', '422 Unprocessable Entity', '422 Unprocessable Entity']);
    expect(entries[0].response.location).toMatch(/Immunization\//);
    expect(entries[0].response.outcome).toBeUndefined();
    expect(ruleIssues(entries[1].response.outcome)).toEqual([['lot-number-missing', 'warning', 'Immunization.lotNumber']]);
    expect(ruleIssues(entries[2].response.outcome)).toEqual([
      ['vaccination-date-in-future', 'error', 'Immunization.occurrence'],
      ['vaccine-code-unknown', 'error', 'Immunization.vaccineCode.coding[0]'],
    ]);
    expect(ruleIssues(entries[3].response.outcome)).toEqual([['patient-unknown', 'error', 'Immunization.patient']]);
    expect(await countImmunizations(patientId)).toBe(before + 2);
  });

  it('a transaction resolves its own new Patient, and one bad entry stores nothing', async () => {
    const identifier = [{ system: 'urn:test:tx', value: `tx-${Date.now()}` }];
    const entries = (immOverrides: Record<string, unknown>) => [
      { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: patient({ identifier }), request: { method: 'POST', url: 'Patient' } },
      { resource: immunization('urn:uuid:11111111-1111-4111-8111-111111111111'), request: { method: 'POST', url: 'Immunization' } },
      { resource: immunization('urn:uuid:11111111-1111-4111-8111-111111111111', immOverrides), request: { method: 'POST', url: 'Immunization' } },
    ];
    const bad = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: entries({ occurrenceDateTime: '2020-05-10' }) } });
    if (!server.store.supportsTransactions) {
      expect(bad.status).toBe(400); // MongoDB without replica set: transactions refused (README)
      return;
    }
    expect(bad.status).toBe(422);
    expect(ruleIssues(bad.body)).toEqual([['vaccination-before-birth', 'error', 'Immunization.occurrence']]);
    const none = await server.fhir('GET', `Patient?identifier=urn:test:tx|${identifier[0]!.value}&_summary=count`);
    expect(none.body.total).toBe(0);

    const ok = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: entries({ lotNumber: undefined }) } });
    expect(ok.status).toBe(200);
    expect(ok.body.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    expect(ruleIssues(ok.body.entry[2].response.outcome)).toEqual([['lot-number-missing', 'warning', 'Immunization.lotNumber']]);
  });

  it('a transaction with several bad entries reports every entry\'s rule codes at once (422), and stores nothing', async () => {
    const identifier = [{ system: 'urn:test:tx', value: `tx-all-${Date.now()}` }];
    const urn = 'urn:uuid:22222222-2222-4222-8222-222222222222';
    const before = await countImmunizations(patientId);
    const res = await server.fhir('POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: urn, resource: patient({ identifier, birthDate: undefined }), request: { method: 'POST', url: 'Patient' } },
          { resource: immunization(`Patient/${patientId}`, { occurrenceDateTime: '2099-01-01' }), request: { method: 'POST', url: 'Immunization' } },
          { resource: immunization(`Patient/${patientId}`), request: { method: 'POST', url: 'Immunization' } },
          { resource: immunization('Patient/nobody-here'), request: { method: 'POST', url: 'Immunization' } },
        ],
      },
    });
    if (!server.store.supportsTransactions) {
      expect(res.status).toBe(400);
      return;
    }
    expect(res.status).toBe(422);
    expect(ruleIssues(res.body).map(([code]) => code)).toEqual(['birthdate-missing', 'vaccination-date-in-future', 'patient-unknown']);
    expect(res.body.issue.map((i: any) => /^Bundle\.entry\[(\d+)\]/.exec(i.diagnostics)?.[1])).toEqual(['0', '1', '3']);
    expect(await countImmunizations(patientId)).toBe(before);
    const none = await server.fhir('GET', `Patient?identifier=urn:test:tx|${identifier[0]!.value}&_summary=count`);
    expect(none.body.total).toBe(0);
  });

  it('$validate reports the rule issues without storing', async () => {
    const res = await server.fhir('POST', 'Immunization/$validate', {
      body: immunization(`Patient/${patientId}`, { occurrenceDateTime: '2020-05-16' }),
    });
    expect(res.status).toBe(200);
    expect(ruleIssues(res.body)).toEqual([['vaccination-before-birth', 'error', 'Immunization.occurrence']]);
  });

  describe('terminology operations', () => {
    it('CodeSystem/$lookup of a CVX code, with status and vaccine groups', async () => {
      const res = await server.fhir('GET', `CodeSystem/$lookup?system=${CVX}&code=110`);
      expect(res.status).toBe(200);
      const params = res.body.parameter;
      expect(params.find((p: any) => p.name === 'display').valueString).toBe('DTaP-Hep B-IPV');
      const props = params.filter((p: any) => p.name === 'property').map((p: any) => [p.part[0].valueCode, p.part[1]]);
      expect(props).toContainEqual(['status', { name: 'value', valueString: 'Active' }]);
      const groups = props.filter(([code]: [string]) => code === 'vaccineGroup').map(([, v]: [string, any]) => v.valueCoding.display);
      expect(groups.sort()).toEqual(['DTAP', 'HepB', 'POLIO']);
      expect((await server.fhir('GET', `CodeSystem/$lookup?system=${CVX}&code=0000`)).status).toBe(404);
      expect((await server.fhir('GET', `CodeSystem/$lookup?code=08`)).status).toBe(400);
      expect((await server.fhir('GET', `Patient/$lookup?system=${CVX}&code=08`)).status).toBe(404);
    });

    it('CodeSystem/cvx/$lookup (instance) and POST with Parameters', async () => {
      const res = await server.fhir('POST', 'CodeSystem/cvx/$lookup', {
        body: { resourceType: 'Parameters', parameter: [{ name: 'code', valueCode: '8' }, { name: 'property', valueCode: 'status' }] },
      });
      expect(res.status).toBe(200);
      expect(res.body.parameter.filter((p: any) => p.name === 'property')).toEqual([
        { name: 'property', part: [{ name: 'code', valueCode: 'status' }, { name: 'value', valueString: 'Active' }] },
      ]);
    });

    it('ValueSet/$validate-code accepts NDCs in every form', async () => {
      const url = 'https://iis-fhir-server.org/fhir/ValueSet/vaccine-codes';
      for (const code of ['49281-0521-00', '49281052100', '49281-521-00', '4928152100']) {
        const res = await server.fhir('GET', `ValueSet/$validate-code?url=${url}&system=${NDC}&code=${code}`);
        expect(res.body.parameter[0], code).toEqual({ name: 'result', valueBoolean: true });
      }
      const no = await server.fhir('GET', `ValueSet/$validate-code?url=${url}&system=${CVX}&code=0000`);
      expect(no.body.parameter[0]).toEqual({ name: 'result', valueBoolean: false });
      expect(no.body.parameter[1].name).toBe('message');
      const active = await server.fhir('GET', `ValueSet/cvx-active/$validate-code?system=${CVX}&code=208`);
      expect(active.body.parameter[0]).toEqual({ name: 'result', valueBoolean: false });
      expect((await server.fhir('GET', `ValueSet/$validate-code?url=urn:nothing&code=1`)).status).toBe(404);
    });

    it('ConceptMap/$translate NDC → CVX, and reverse', async () => {
      const res = await server.fhir('GET', `ConceptMap/$translate?system=${NDC}&code=58160-821-01&targetsystem=${CVX}`);
      expect(res.status).toBe(200);
      expect(res.body.parameter[0]).toEqual({ name: 'result', valueBoolean: true });
      const codes = res.body.parameter.filter((p: any) => p.name === 'match').map((m: any) => m.part[1].valueCoding.code);
      expect(codes.sort()).toEqual(['43', '44']);
      const reverse = await server.fhir('GET', `ConceptMap/ndc-unit-of-use-to-cvx/$translate?system=${CVX}&code=161&reverse=true`);
      const ndcs = reverse.body.parameter.filter((p: any) => p.name === 'match').map((m: any) => m.part[1].valueCoding.code);
      expect(ndcs).toContain('49281-0521-00');
      const none = await server.fhir('GET', `ConceptMap/$translate?system=${NDC}&code=00000-0000-00`);
      expect(none.body.parameter[0]).toEqual({ name: 'result', valueBoolean: false });
    });
  });

  describe('code-set import without restart', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'iis-cdc-'));
      cpSync(SEED_DIR, dir, { recursive: true });
      let cvx = readFileSync(path.join(dir, 'cvx.xml'), 'latin1');
      // A new code, CVX 08 retired in 2019, and CVX 143 dropped from the file.
      cvx = cvx.replace(
        '<CVXCodes>',
        `<CVXCodes>
  <CVXInfo>
    <ShortDescription>Test vaccine 9901</ShortDescription>
    <FullVaccinename>A new vaccine for the import test</FullVaccinename>
    <CVXCode>9901      </CVXCode>
    <Notes/>
    <Status>Active</Status>
    <LastUpdated>12/1/2025</LastUpdated>
  </CVXInfo>`
      );
      cvx = cvx.replace(
        /(<CVXCode>08\s*<\/CVXCode>\s*<Notes\/?>(?:[^<]*<\/Notes>)?\s*<Status>)Active(<\/Status>\s*<LastUpdated>)[^<]*/,
        '$1Inactive$21/1/2019'
      );
      cvx = cvx.replace(/<CVXInfo>(?:(?!<\/CVXInfo>)[\s\S])*<CVXCode>143\s*<\/CVXCode>[\s\S]*?<\/CVXInfo>/, '');
      writeFileSync(path.join(dir, 'cvx.xml'), cvx, 'latin1');
      const use = readFileSync(path.join(dir, 'NDC_Unit_use.txt'), 'utf8');
      writeFileSync(
        path.join(dir, 'NDC_Unit_use.txt'),
        `${use}9999|12345|6789|01|TESTVAX|test vaccine|Test Labs|20250101||VIAL||9901      |Test vaccine 9901|False     |12345-6789-01|2025-12-01 00:00:00|\r\n`
      );
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reports added, changed and retired codes, and the rules use them at once', async () => {
      const newCode = immunization(`Patient/${patientId}`, { vaccineCode: { coding: [{ system: CVX, code: '9901' }] }, occurrenceDateTime: '2025-01-02' });
      expect((await server.fhir('POST', 'Immunization', { body: newCode })).status).toBe(422);

      const dry = await importCodeSets({ dir, fhirBase: server.baseUrl, token: server.token(), dryRun: true });
      expect(dry.report).toMatch(/Dry run/);
      expect((await server.fhir('POST', 'Immunization', { body: newCode })).status).toBe(422);

      const { plan, report } = await importCodeSets({ dir, fhirBase: server.baseUrl, token: server.token() });
      const cvxDiff = plan.diffs.find((d) => d.name === 'CVX')!;
      expect(cvxDiff.added).toEqual(['9901']);
      expect(cvxDiff.retired.sort()).toEqual(['08', '143']);
      expect(cvxDiff.changed.find((c) => c.code === '08')!.what).toContain('status: Active → Inactive');
      expect(plan.diffs.find((d) => d.name === 'NDC unit of use')!.added).toEqual(['12345-6789-01']);
      expect(plan.diffs.map((d) => d.name)).not.toContain('MVX'); // unchanged: not rewritten
      expect(report).toMatch(/CVX \(CodeSystem\/cvx\): 1 added, \d+ changed, 2 retired/);

      // No restart: the next request sees the new code sets.
      expect((await server.fhir('POST', 'Immunization', { body: newCode })).status).toBe(201);
      const ndc = immunization(`Patient/${patientId}`, {
        vaccineCode: { coding: [{ system: NDC, code: '1234567891' }, { system: CVX, code: '9901' }] },
        occurrenceDateTime: '2025-01-02',
      });
      expect((await server.fhir('POST', 'Immunization', { body: ndc })).status).toBe(201);
      const retired = await server.fhir('POST', 'Immunization', {
        body: immunization(`Patient/${patientId}`),
        headers: { prefer: 'return=OperationOutcome' },
      });
      expect(retired.status).toBe(201);
      expect(ruleIssues(retired.body)).toEqual([['vaccine-code-inactive-for-date', 'warning', 'Immunization.vaccineCode.coding[0]']]);
      // A code dropped from the file is kept (Inactive) so historical records still validate.
      const dropped = await server.fhir('POST', 'Immunization', {
        body: immunization(`Patient/${patientId}`, { vaccineCode: { coding: [{ system: CVX, code: '143' }] }, primarySource: false }),
      });
      expect(dropped.status).toBe(201);

      const again = await importCodeSets({ dir, fhirBase: server.baseUrl, token: server.token() });
      expect(again.plan.writes).toEqual([]);
      expect(again.report).toMatch(/nothing to change/);
    });

    it('npm run codesets -- diff prints the plan (CLI)', async () => {
      const run = promisify(execFile);
      const tsx = path.resolve('node_modules/.bin/tsx');
      const { stdout } = await run(tsx, ['scripts/codesets.ts', 'diff', SEED_DIR, '--url', server.url, '--token', server.token()], {
        env: { ...process.env, LOG_LEVEL: 'silent' },
      });
      // The server now holds the imported release: the seed files are the older one.
      expect(stdout).toMatch(/Dry run: would write/);
      expect(stdout).toMatch(/CVX \(CodeSystem\/cvx\): 0 added/);
    });
  });
});

describe('severity policy file (IIS_RULE_POLICY)', () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iis-policy-'));
    const file = path.join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify({ 'lot-number-missing': 'error', 'placeholder-name': 'off' }));
    server = await startTestServer('embedded', { rulePolicyFile: file });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a registry that makes a missing lot number an error', async () => {
    const { body: p } = await server.fhir('POST', 'Patient', {
      body: patient({ name: [{ family: 'Smith', given: ['Baby Boy'] }] }),
      headers: { prefer: 'return=OperationOutcome' },
    });
    expect(ruleIssues(p)).toEqual([]);
    const list = await server.fhir('GET', 'Patient?family=Smith');
    const id = list.body.entry[0].resource.id;
    const res = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${id}`, { lotNumber: undefined }) });
    expect(res.status).toBe(422);
    expect(ruleIssues(res.body)).toEqual([['lot-number-missing', 'error', 'Immunization.lotNumber']]);
  });
});
