// Each rule: a case just inside and just outside its boundary, asserting the exact code, severity
// and expression. "Now" is fixed at 2025-06-15T12:00:00Z: today is 2025-06-15 in UTC, 2025-06-16
// in UTC+14 (Kiribati) and 2025-06-15 in UTC-12.
import type { Immunization, OperationOutcomeIssue, Patient, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { RULE_CODE_SYSTEM } from '../fhir/outcome.js';
import { CodeSets } from '../terminology/code-sets.js';
import { releaseResources } from '../terminology/resources.js';
import { readRelease, SEED_DIR } from '../terminology/store-sync.js';
import { RuleRegistry, type RuleContext } from '../validation/business-rules.js';
import { CLOCK_SKEW_MS } from './dates.js';
import { SeverityPolicy } from './policy.js';
import { registerIisRules } from './register.js';

const NOW = new Date('2025-06-15T12:00:00Z');
let codeSets: CodeSets;

beforeAll(() => {
  codeSets = new CodeSets(releaseResources(readRelease(SEED_DIR)));
});

const basePatient = (over: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  name: [{ family: 'Smith', given: ['Anna'] }],
  birthDate: '2020-05-17',
  ...over,
});

const CVX = 'http://hl7.org/fhir/sid/cvx';
const NDC = 'http://hl7.org/fhir/sid/ndc';
const MVX = 'http://hl7.org/fhir/sid/mvx';

const baseImm = (over: Partial<Immunization> = {}): Immunization => ({
  resourceType: 'Immunization',
  status: 'completed',
  vaccineCode: { coding: [{ system: CVX, code: '08' }] },
  patient: { reference: 'Patient/p1' },
  occurrenceDateTime: '2020-05-18',
  primarySource: true,
  lotNumber: 'LOT123',
  ...over,
});

interface RunOptions {
  patient?: Patient | null;
  policy?: SeverityPolicy;
  now?: Date;
}

async function run(resource: Resource, options: RunOptions = {}): Promise<OperationOutcomeIssue[]> {
  const registry = new RuleRegistry();
  registerIisRules(registry, { codeSets, policy: options.policy ?? new SeverityPolicy() });
  const patient = options.patient === undefined ? basePatient({ id: 'p1' }) : options.patient;
  const ctx: RuleContext = {
    now: options.now ?? NOW,
    interaction: 'create',
    resolve: async (ref) => (ref === 'Patient/p1' && patient ? patient : undefined),
  };
  return registry.run(resource, ctx);
}

/** [code, severity, expression] of each issue; a Patient first argument is the one resolved. */
async function found(first: Resource, second?: Resource | RunOptions, third: RunOptions = {}): Promise<Array<[string, string, string]>> {
  const isPatientFirst = first.resourceType === 'Patient' && second !== undefined && 'resourceType' in second;
  const resource = isPatientFirst ? (second as Resource) : first;
  const options = isPatientFirst ? { ...third, patient: first as Patient } : ((second as RunOptions | undefined) ?? {});
  const issues = await run(resource, options);
  for (const i of issues) {
    expect(i.details?.coding?.[0]?.system).toBe(RULE_CODE_SYSTEM);
    expect(i.diagnostics).toMatch(/:/); // every text says what is wrong, then what to do
  }
  return issues.map((i) => [i.details!.coding![0]!.code!, i.severity, i.expression?.[0] ?? '']);
}

describe('the test fixtures pass every rule', () => {
  it('patient() and immunization() from test/helpers/server.ts', async () => {
    expect(await found(basePatient(), { now: new Date() })).toEqual([]);
    expect(await found(baseImm(), { now: new Date() })).toEqual([]);
  });
});

describe('Patient rules', () => {
  it('birthdate-missing', async () => {
    expect(await found(basePatient({ birthDate: undefined }))).toEqual([['birthdate-missing', 'error', 'Patient.birthDate']]);
    expect(await found(basePatient({ birthDate: '2025-06-15' }))).toEqual([]);
  });

  it('birthdate-in-future: today anywhere on Earth is not the future', async () => {
    expect(await found(basePatient({ birthDate: '2025-06-16' }))).toEqual([]); // today in UTC+14
    expect(await found(basePatient({ birthDate: '2025-06-17' }))).toEqual([['birthdate-in-future', 'error', 'Patient.birthDate']]);
    expect(await found(basePatient({ birthDate: '2025-06' }))).toEqual([]);
    expect(await found(basePatient({ birthDate: '2025-07' }))).toEqual([['birthdate-in-future', 'error', 'Patient.birthDate']]);
  });

  it('birthdate-implausible: 125 years', async () => {
    expect(await found(basePatient({ birthDate: '1900-06-15' }))).toEqual([]);
    expect(await found(basePatient({ birthDate: '1900-06-14' }))).toEqual([['birthdate-implausible', 'error', 'Patient.birthDate']]);
    expect(await found(basePatient({ birthDate: '1900' }))).toEqual([]); // partial: could be after June 15
    expect(await found(basePatient({ birthDate: '1899' }))).toEqual([['birthdate-implausible', 'error', 'Patient.birthDate']]);
  });

  it('name-missing: family and given each required', async () => {
    expect(await found(basePatient({ name: [{ family: 'Smith', given: ['A'] }] }))).toEqual([]);
    expect(await found(basePatient({ name: [{ family: 'Smith' }] }))).toEqual([['name-missing', 'error', 'Patient.name[0].given']]);
    expect(await found(basePatient({ name: [{ given: ['Anna'] }] }))).toEqual([['name-missing', 'error', 'Patient.name[0].family']]);
    expect(await found(basePatient({ name: [{ family: 'Smith', given: ['  '] }] }))).toEqual([['name-missing', 'error', 'Patient.name[0].given']]);
    // a missing first given name is null in FHIR JSON (with its _given): no crash, the middle name counts
    expect(await found(basePatient({ name: [{ family: 'Smith', given: [null as unknown as string, 'Rawnie'] }] }))).toEqual([]);
    expect(await found(basePatient({ name: [{ family: 'Smith', given: [null as unknown as string] }] }))).toEqual([['name-missing', 'error', 'Patient.name[0].given']]);
    expect(await found(basePatient({ name: undefined }))).toEqual([['name-missing', 'error', 'Patient.name']]);
    expect(await found(basePatient({ name: [{ text: 'Anna Smith' }] }))).toEqual([
      ['name-missing', 'error', 'Patient.name[0].family'],
      ['name-missing', 'error', 'Patient.name[0].given'],
    ]);
    // an old (replaced) name does not count, nor is it checked
    expect(await found(basePatient({ name: [{ use: 'old', family: 'Smith', given: ['Baby Girl'] }, { family: 'Smith', given: ['Anna'] }] }))).toEqual([]);
  });

  it('placeholder-name is information', async () => {
    expect(await found(basePatient({ name: [{ family: 'Smith', given: ['Baby Girl'] }] }))).toEqual([['placeholder-name', 'information', 'Patient.name[0]']]);
    expect(await found(basePatient({ name: [{ family: 'Smith', given: ['Babette'] }] }))).toEqual([]);
  });

  it('test-patient-name is a warning', async () => {
    expect(await found(basePatient({ name: [{ family: 'Patient', given: ['Test'] }] }))).toEqual([['test-patient-name', 'warning', 'Patient.name[0]']]);
    expect(await found(basePatient({ name: [{ family: 'Testa', given: ['Mario'] }] }))).toEqual([]);
  });

  it('multiple-birth-order-missing', async () => {
    expect(await found(basePatient({ multipleBirthBoolean: true }))).toEqual([['multiple-birth-order-missing', 'warning', 'Patient.multipleBirth']]);
    expect(await found(basePatient({ multipleBirthInteger: 2 }))).toEqual([]);
    expect(await found(basePatient({ multipleBirthBoolean: false }))).toEqual([]);
  });

  it('deceased-before-birth', async () => {
    expect(await found(basePatient({ deceasedDateTime: '2020-05-17' }))).toEqual([]);
    expect(await found(basePatient({ deceasedDateTime: '2020-05-16' }))).toEqual([['deceased-before-birth', 'error', 'Patient.deceased']]);
  });
});

describe('Immunization rules', () => {
  it('vaccination-date-in-future: dates at day precision in the zone furthest ahead', async () => {
    const p = { patient: basePatient({ id: 'p1', birthDate: '2020-01-01' }) };
    const cvx = { vaccineCode: { coding: [{ system: CVX, code: '08' }] } };
    expect(await found(baseImm({ ...cvx, occurrenceDateTime: '2025-06-16' }), p)).toEqual([]);
    expect(await found(baseImm({ ...cvx, occurrenceDateTime: '2025-06-17' }), p)).toEqual([
      ['vaccination-date-in-future', 'error', 'Immunization.occurrence'],
    ]);
  });

  it('vaccination-date-in-future: a dose given today in UTC+13 is not in the future', async () => {
    const p = { patient: basePatient({ id: 'p1', birthDate: '2020-01-01' }) };
    expect(await found(baseImm({ occurrenceDateTime: '2025-06-16T00:30:00+13:00' }), p)).toEqual([]);
    const justInside = new Date(NOW.getTime() + CLOCK_SKEW_MS - 1000).toISOString();
    const justOutside = new Date(NOW.getTime() + CLOCK_SKEW_MS + 1000).toISOString();
    expect(await found(baseImm({ occurrenceDateTime: justInside }), p)).toEqual([]);
    expect(await found(baseImm({ occurrenceDateTime: justOutside }), p)).toEqual([['vaccination-date-in-future', 'error', 'Immunization.occurrence']]);
  });

  it('vaccination-before-birth at day precision, partial dates handled', async () => {
    expect(await found(baseImm({ occurrenceDateTime: '2020-05-17' }))).toEqual([]);
    expect(await found(baseImm({ occurrenceDateTime: '2020-05-16' }))).toEqual([['vaccination-before-birth', 'error', 'Immunization.occurrence']]);
    // 2020-05-16T14:30Z, but the 17th where it was given: the birth day
    expect(await found(baseImm({ occurrenceDateTime: '2020-05-17T00:30:00+10:00' }))).toEqual([]);
    expect(await found(baseImm({ occurrenceDateTime: '2020-05-16T23:30:00-05:00' }))).toEqual([['vaccination-before-birth', 'error', 'Immunization.occurrence']]);
    expect(await found(baseImm({ occurrenceDateTime: '2020-05' }))).toEqual([]);
    expect(await found(baseImm({ occurrenceDateTime: '2020-04' }))).toEqual([['vaccination-before-birth', 'error', 'Immunization.occurrence']]);
  });

  it('vaccination-after-death', async () => {
    const dead = (deceasedDateTime: string) => ({ patient: basePatient({ id: 'p1', deceasedDateTime }) });
    expect(await found(baseImm({ occurrenceDateTime: '2021-01-01' }), dead('2021-01-01'))).toEqual([]);
    expect(await found(baseImm({ occurrenceDateTime: '2021-01-02' }), dead('2021-01-01'))).toEqual([['vaccination-after-death', 'error', 'Immunization.occurrence']]);
    expect(await found(baseImm({ occurrenceDateTime: '2021-01-01T09:59:59Z' }), dead('2021-01-01T10:00:00Z'))).toEqual([]);
    expect(await found(baseImm({ occurrenceDateTime: '2021-01-01T10:00:01Z' }), dead('2021-01-01T10:00:00Z'))).toEqual([
      ['vaccination-after-death', 'error', 'Immunization.occurrence'],
    ]);
  });

  it('patient-unknown', async () => {
    expect(await found(baseImm({ patient: { reference: 'Patient/p1' } }))).toEqual([]);
    expect(await found(baseImm({ patient: { reference: 'Patient/p2' } }))).toEqual([['patient-unknown', 'error', 'Immunization.patient']]);
    expect(await found(baseImm({ patient: { identifier: { value: 'x' } } }))).toEqual([['patient-unknown', 'error', 'Immunization.patient']]);
    expect(await found(baseImm({ patient: { reference: 'http://elsewhere.example/fhir/Patient/p1' } }))).toEqual([]);
    // A version-specific reference (R4 allows them) names the same patient.
    expect(await found(baseImm({ patient: { reference: 'Patient/p1/_history/1' } }))).toEqual([]);
    expect(await found(baseImm({ patient: { reference: 'Patient/p2/_history/1' } }))).toEqual([['patient-unknown', 'error', 'Immunization.patient']]);
    expect(await found(baseImm({ patient: { reference: 'Group/p1' } }))).toEqual([['patient-unknown', 'error', 'Immunization.patient']]);
    // A contained patient is no registry patient: data sharing, matching and forecasts never reach it.
    const contained = baseImm({ contained: [basePatient({ id: 'c' })], patient: { reference: '#c' } });
    expect(await found(contained)).toEqual([['patient-unknown', 'error', 'Immunization.patient']]);
  });

  it('vaccine-code-unknown: no CVX or NDC known', async () => {
    expect(await found(baseImm({ vaccineCode: { coding: [{ system: CVX, code: '8' }] } }))).toEqual([]);
    expect(await found(baseImm({ vaccineCode: { coding: [{ system: CVX, code: '8888' }] } }))).toEqual([
      ['vaccine-code-unknown', 'error', 'Immunization.vaccineCode.coding[0]'],
    ]);
    expect(await found(baseImm({ vaccineCode: { text: 'Hep B' } }))).toEqual([['vaccine-code-unknown', 'error', 'Immunization.vaccineCode']]);
    expect(await found(baseImm({ vaccineCode: { coding: [{ system: 'http://snomed.info/sct', code: '871822003' }] } }))).toEqual([
      ['vaccine-code-unknown', 'error', 'Immunization.vaccineCode'],
    ]);
    // one known code is enough
    expect(await found(baseImm({ vaccineCode: { coding: [{ system: 'http://snomed.info/sct', code: '871822003' }, { system: NDC, code: '58160-0821-01' }] } }))).toEqual([]);
    // an unknown CVX next to a known NDC of another CVX is a mismatch
    expect(await found(baseImm({ vaccineCode: { coding: [{ system: CVX, code: '8888' }, { system: NDC, code: '58160-0821-01' }] } }))).toEqual([
      ['ndc-cvx-mismatch', 'error', 'Immunization.vaccineCode.coding[1]'],
    ]);
    expect(await found(baseImm({ vaccineCode: { coding: [{ system: NDC, code: '58160-0821-99' }] } }))).toEqual([
      ['vaccine-code-unknown', 'error', 'Immunization.vaccineCode.coding[0]'],
    ]);
  });

  it('without any code set loaded, codes are not judged', async () => {
    const saved = codeSets;
    codeSets = new CodeSets();
    try {
      expect(await found(baseImm({ vaccineCode: { coding: [{ system: CVX, code: '8888' }] } }))).toEqual([]);
    } finally {
      codeSets = saved;
    }
  });

  it('NDC in 10- and 11-digit forms, with and without hyphens', async () => {
    const when = { occurrenceDateTime: '2021-10-01' };
    for (const code of ['49281-0521-00', '49281052100', '49281-521-00', '4928152100', '0005-0100-01', '00005-0100-01', '0005010001']) {
      expect(await found(baseImm({ ...when, vaccineCode: { coding: [{ system: NDC, code }] } })), code).toEqual([]);
    }
  });

  it('ndc-cvx-mismatch', async () => {
    const when = { occurrenceDateTime: '2021-10-01' };
    const both = (cvx: string) => baseImm({ ...when, vaccineCode: { coding: [{ system: CVX, code: cvx }, { system: NDC, code: '49281-0521-00' }] } });
    expect(await found(both('161'))).toEqual([]);
    expect(await found(both('08'))).toEqual([['ndc-cvx-mismatch', 'error', 'Immunization.vaccineCode.coding[1]']]);
    // Engerix-B is listed with CVX 43 and 44: either matches
    const engerix = (cvx: string) => baseImm({ vaccineCode: { coding: [{ system: NDC, code: '58160-0821-01' }, { system: CVX, code: cvx }] } });
    expect(await found(engerix('43'))).toEqual([]);
    expect(await found(engerix('44'))).toEqual([]);
    expect(await found(engerix('08'))).toEqual([['ndc-cvx-mismatch', 'error', 'Immunization.vaccineCode.coding[0]']]);
  });

  it('vaccine-code-inactive-for-date: CVX inactive after its status date', async () => {
    const older = basePatient({ id: 'p1', birthDate: '2000-01-01' });
    const cvx = (code: string, occurrenceDateTime: string, primarySource = true) =>
      baseImm({ vaccineCode: { coding: [{ system: CVX, code }] }, occurrenceDateTime, primarySource });
    // CVX 208: Inactive, CDC status date 2023-11-14
    expect(await found(older, cvx('208', '2023-11-14'))).toEqual([]);
    expect(await found(older, cvx('208', '2023-11-15'))).toEqual([['vaccine-code-inactive-for-date', 'warning', 'Immunization.vaccineCode.coding[0]']]);
    // CVX 45 Hep B unspecified formulation (Inactive 2010-09-30): fine for a historical record
    expect(await found(older, cvx('45', '2015-01-01', false))).toEqual([]);
    expect(await found(older, cvx('45', '2015-01-01', true))).toEqual([['vaccine-code-inactive-for-date', 'warning', 'Immunization.vaccineCode.coding[0]']]);
    // CVX 57 hantavirus: Never Active
    expect(await found(older, cvx('57', '2020-06-01', false))).toEqual([['vaccine-code-inactive-for-date', 'warning', 'Immunization.vaccineCode.coding[0]']]);
    // not-done records are not judged by date
    expect(await found(older, { ...cvx('208', '2024-01-01'), status: 'not-done', primarySource: false })).toEqual([]);
  });

  it('vaccine-code-inactive-for-date: NDC outside its marketing dates', async () => {
    const ndc = (occurrenceDateTime: string) => baseImm({ vaccineCode: { coding: [{ system: NDC, code: '49281-0521-00' }] }, occurrenceDateTime });
    // FLUZONE QUADRIVALENT 2021-2022: 2021-07-01 … 2022-06-30
    expect(await found(ndc('2021-06-30'))).toEqual([['vaccine-code-inactive-for-date', 'warning', 'Immunization.vaccineCode.coding[0]']]);
    expect(await found(ndc('2021-07-01'))).toEqual([]);
    expect(await found(ndc('2022-06-30'))).toEqual([]);
    expect(await found(ndc('2022-07-01'))).toEqual([['vaccine-code-inactive-for-date', 'warning', 'Immunization.vaccineCode.coding[0]']]);
  });

  it('lot-number-missing: administered doses only', async () => {
    expect(await found(baseImm({ lotNumber: 'A1' }))).toEqual([]);
    expect(await found(baseImm({ lotNumber: undefined }))).toEqual([['lot-number-missing', 'warning', 'Immunization.lotNumber']]);
    expect(await found(baseImm({ lotNumber: ' ' }))).toEqual([['lot-number-missing', 'warning', 'Immunization.lotNumber']]);
    expect(await found(baseImm({ lotNumber: undefined, primarySource: false }))).toEqual([]);
    expect(await found(baseImm({ lotNumber: undefined, status: 'not-done' }))).toEqual([]);
  });

  it('lot-expired at day precision; a month expiry lasts the month', async () => {
    expect(await found(baseImm({ expirationDate: '2020-05-18' }))).toEqual([]);
    expect(await found(baseImm({ expirationDate: '2020-05-17' }))).toEqual([['lot-expired', 'warning', 'Immunization.expirationDate']]);
    expect(await found(baseImm({ expirationDate: '2020-05' }))).toEqual([]);
    expect(await found(baseImm({ expirationDate: '2020-04' }))).toEqual([['lot-expired', 'warning', 'Immunization.expirationDate']]);
  });

  it('manufacturer-unknown and ndc-mvx-mismatch', async () => {
    const withMvx = (mvx: string) =>
      baseImm({
        occurrenceDateTime: '2021-10-01',
        vaccineCode: { coding: [{ system: NDC, code: '49281-0521-00' }] },
        manufacturer: { identifier: { system: MVX, value: mvx } },
      });
    expect(await found(withMvx('PMC'))).toEqual([]);
    expect(await found(withMvx('MSD'))).toEqual([['ndc-mvx-mismatch', 'warning', 'Immunization.manufacturer.identifier']]);
    expect(await found(withMvx('QQQ'))).toEqual([['manufacturer-unknown', 'warning', 'Immunization.manufacturer.identifier']]);
  });

  it('recorded-before-vaccination', async () => {
    expect(await found(baseImm({ recorded: '2020-05-18' }))).toEqual([]);
    expect(await found(baseImm({ recorded: '2020-05-17' }))).toEqual([['recorded-before-vaccination', 'warning', 'Immunization.recorded']]);
  });

  it('a record marked entered-in-error is never rejected', async () => {
    const wrong = baseImm({ occurrenceDateTime: '2020-05-16', vaccineCode: { coding: [{ system: CVX, code: 'nope' }] } });
    expect((await found(wrong)).map(([code]) => code)).toEqual(['vaccine-code-unknown', 'vaccination-before-birth']);
    expect(await found({ ...wrong, status: 'entered-in-error' })).toEqual([]);
  });

  it('reports every issue of a submission at once', async () => {
    const issues = await found(
      baseImm({
        occurrenceDateTime: '2030-01-01',
        vaccineCode: { coding: [{ system: CVX, code: 'nope' }] },
        lotNumber: undefined,
        expirationDate: '2029-01-01',
      }),
      { patient: basePatient({ id: 'p1', deceasedDateTime: '2024-01-01' }) }
    );
    expect(issues).toEqual([
      ['vaccination-date-in-future', 'error', 'Immunization.occurrence'],
      ['vaccine-code-unknown', 'error', 'Immunization.vaccineCode.coding[0]'],
      ['lot-number-missing', 'warning', 'Immunization.lotNumber'],
      ['lot-expired', 'warning', 'Immunization.expirationDate'],
      ['vaccination-after-death', 'error', 'Immunization.occurrence'],
    ]);
  });
});

describe('severity policy', () => {
  it('raises, lowers and switches off rules', async () => {
    const strict = new SeverityPolicy({ 'lot-number-missing': 'error', 'placeholder-name': 'off', 'vaccination-before-birth': 'warning' });
    expect(await found(baseImm({ lotNumber: undefined }), { policy: strict })).toEqual([['lot-number-missing', 'error', 'Immunization.lotNumber']]);
    expect(await found(basePatient({ name: [{ family: 'Smith', given: ['Baby Boy'] }] }), { policy: strict })).toEqual([]);
    expect(await found(baseImm({ occurrenceDateTime: '2020-05-16' }), { policy: strict })).toEqual([
      ['vaccination-before-birth', 'warning', 'Immunization.occurrence'],
    ]);
  });

  it('refuses unknown codes and settings', () => {
    expect(() => new SeverityPolicy({ 'lot-numbr-missing': 'error' })).toThrow(/unknown rule code "lot-numbr-missing"/);
    expect(() => new SeverityPolicy({ 'lot-number-missing': 'fatal' })).toThrow(/must be one of error, warning, information, off/);
    expect(new SeverityPolicy({ $comment: 'registry X' }).severityOf('lot-number-missing')).toBe('warning');
  });
});
