// The agreed API (src/forecast/index.ts) and the contract's output shapes.
import type { Condition, Immunization } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { isFhirError } from '../fhir/outcome.js';
import { forecastFromFhir } from './index.js';
import { toPatientRecord } from './fhir.js';
import { defaultSupportingData } from './supporting-data.js';

const dtap = (id: string, date: string, cvx = '20'): Immunization => ({
  resourceType: 'Immunization',
  id,
  status: 'completed',
  patient: { reference: 'Patient/p1' },
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
  occurrenceDateTime: date,
});

describe('forecastFromFhir', () => {
  it('answers one recommendation per CDSi vaccine group, named as in the schedule', () => {
    const { recommendation } = forecastFromFhir({
      assessmentDate: '2025-11-10',
      patient: { resourceType: 'Patient', id: 'p1', birthDate: '2025-09-06', gender: 'female' },
      immunizations: [],
    });
    const names = recommendation.recommendation.map((r) => r.vaccineCode?.[0]?.text);
    expect(names).toEqual(defaultSupportingData().vaccineGroups.map((g) => g.name));
    const polio = recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'Polio')!;
    expect(polio.forecastStatus.coding?.[0]).toMatchObject({ system: 'http://hl7.org/fhir/us/immds/CodeSystem/ForecastStatus', code: 'notComplete' });
    expect(polio.doseNumberPositiveInt).toBe(1);
    const criteria = Object.fromEntries(polio.dateCriterion!.map((d) => [d.code.coding![0]!.code, d.value]));
    expect(criteria['30981-5']).toBe('2025-10-18'); // 6 weeks
    expect(criteria['30980-7']).toBe('2025-11-06'); // 2 months
  });

  it('evaluates each dose per antigen with CDC reason texts', () => {
    const { evaluations, recommendation } = forecastFromFhir({
      assessmentDate: '2025-11-10',
      patient: { resourceType: 'Patient', id: 'p1', birthDate: '2025-09-06', gender: 'female' },
      immunizations: [dtap('a', '2025-10-15', '107'), dtap('b', '2025-11-10', '107')],
    });
    const second = evaluations.filter((e) => e.immunizationEvent.reference === 'Immunization/b');
    expect(second.map((e) => e.targetDisease?.text).sort()).toEqual(['Diphtheria', 'Pertussis', 'Tetanus']);
    for (const e of second) {
      expect(e.doseStatus.coding?.[0]).toMatchObject({ code: 'notvalid' });
      expect(e.doseStatusReason?.[0]?.text).toBe('Age: Too Young');
      expect(e.series).toMatch(/series/);
    }
    const dtapRec = recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'DTaP/Tdap/Td')!;
    expect(dtapRec.doseNumberPositiveInt).toBe(2);
    const criteria = Object.fromEntries(dtapRec.dateCriterion!.map((d) => [d.code.coding![0]!.code, d.value]));
    expect(criteria).toMatchObject({ '30981-5': '2025-12-08', '30980-7': '2026-01-06', '59778-1': '2026-03-05' });
  });

  it('maps CDSi observation codes given as Conditions (SNOMED via the supporting data)', () => {
    const base = { assessmentDate: '2025-11-10', patient: { resourceType: 'Patient' as const, birthDate: '2015-01-01', gender: 'male' as const }, immunizations: [] };
    const without = forecastFromFhir(base).recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'Meningococcal')!;
    const withAsplenia = forecastFromFhir({
      ...base,
      conditions: [{ resourceType: 'Condition', subject: { reference: 'Patient/x' }, code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code: '160' }] } }],
    }).recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'Meningococcal')!;
    const recommended = (r: typeof without) => r.dateCriterion?.find((d) => d.code.coding?.[0]?.code === '30980-7')?.value;
    // Healthy 10-year-old: the routine adolescent dose at 11; asplenia: a risk series, due now.
    expect(without.series).not.toMatch(/risk/);
    expect(recommended(without)! > '2025-11-10').toBe(true);
    expect(withAsplenia.forecastStatus.coding?.[0]?.code).toBe('notComplete');
    expect(withAsplenia.series).toMatch(/risk/);
    expect(recommended(withAsplenia)! <= '2025-11-10').toBe(true);
  });

  it('does not count a sub-potent or expired dose (dose administered condition)', () => {
    const { evaluations, recommendation } = forecastFromFhir({
      assessmentDate: '2025-11-10',
      patient: { resourceType: 'Patient', id: 'p1', birthDate: '2025-01-06', gender: 'female' },
      immunizations: [
        { ...dtap('a', '2025-03-10'), isSubpotent: true },
        { ...dtap('b', '2025-05-10'), expirationDate: '2025-05-01' },
      ],
    });
    const reasons = (id: string) => evaluations.filter((e) => e.immunizationEvent.reference === `Immunization/${id}`).map((e) => e.doseStatusReason?.[0]?.text);
    expect(new Set(reasons('a'))).toEqual(new Set(['Sub-standard dose']));
    expect(new Set(reasons('b'))).toEqual(new Set(['Expired vaccine']));
    const dtapRec = recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'DTaP/Tdap/Td')!;
    expect(dtapRec.doseNumberPositiveInt).toBe(1);
  });

  it('places a seasonal dose in the season of the assessment date (the data names one season; seasons recur)', () => {
    const rsvEarliest = (assessmentDate: string, birthDate: string) => {
      const { recommendation } = forecastFromFhir({
        assessmentDate,
        patient: { resourceType: 'Patient', id: 'p1', birthDate, gender: 'female' },
        immunizations: [],
        conditions: [
          {
            resourceType: 'Condition',
            subject: { reference: 'Patient/p1' },
            code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code: '017' }] },
          },
        ],
      });
      const rsv = recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'RSV')!;
      return rsv.dateCriterion?.find((d) => d.code.coding?.[0]?.code === '30981-5')?.value;
    };
    // v4.64's season is 2025-10-01 → 2026-03-31: the same window one and two years earlier.
    expect(rsvEarliest('2025-11-10', '2025-03-01')).toBe('2025-10-01');
    expect(rsvEarliest('2023-10-12', '2022-12-21')).toBe('2023-10-01');
    expect(rsvEarliest('2024-05-01', '2024-01-10')).toBe('2024-10-01');
  });

  it('two Conditions of one observation: the earliest dated one dates it, in whatever order they come', () => {
    const patient = { resourceType: 'Patient' as const, id: 'p1', birthDate: '2015-01-06', gender: 'female' as const };
    const allergy = (onsetDateTime?: string): Condition => ({
      resourceType: 'Condition',
      subject: { reference: 'Patient/p1' },
      code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code: '091' }] },
      ...(onsetDateTime ? { onsetDateTime } : {}),
    });
    const dated = (conditions: Condition[]) => toPatientRecord({ assessmentDate: '2025-11-10', patient, immunizations: [], conditions }, defaultSupportingData()).observations.get('091');
    const early = dated([allergy('2019-03-01')]);
    expect(early).toBeDefined();
    expect(dated([allergy('2019-03-01'), allergy('2022-07-01')])).toBe(early);
    expect(dated([allergy('2022-07-01'), allergy('2019-03-01')])).toBe(early);
    expect(dated([allergy(), allergy('2019-03-01')])).toBe(early);
    expect(dated([allergy('2019-03-01'), allergy()])).toBe(early);
  });

  it('reads evidence of immunity reported with a dose (HL7 v2 OBX 59784-9, stored as an extension)', () => {
    const patient = { resourceType: 'Patient' as const, id: 'p1', birthDate: '2015-01-06', gender: 'female' as const };
    const noVaccine: Immunization = {
      ...dtap('h', '2020-05-01', '998'),
      status: 'not-done',
      extension: [
        {
          url: 'https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity',
          valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '38907003' }] },
        },
      ],
    };
    const varicella = (immunizations: Immunization[]) =>
      forecastFromFhir({ assessmentDate: '2025-11-10', patient, immunizations }).recommendation.recommendation.find(
        (r) => r.vaccineCode?.[0]?.text === 'Varicella',
      )!.forecastStatus.coding?.[0]?.code;
    expect(varicella([])).toBe('notComplete');
    expect(varicella([noVaccine])).toBe('immune');
    // The same observation given as a Condition (the POST form) answers the same.
    const viaCondition = forecastFromFhir({
      assessmentDate: '2025-11-10',
      patient,
      immunizations: [],
      conditions: [{ resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: noVaccine.extension![0]!.valueCodeableConcept! }],
    });
    expect(viaCondition.recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'Varicella')!.forecastStatus.coding?.[0]?.code).toBe('immune');
  });

  it('a Condition recorded from a dose\'s OBX (evidence.detail → that Immunization) and the dose\'s extension are one piece of evidence: the Condition decides', () => {
    const patient = { resourceType: 'Patient' as const, id: 'p1', birthDate: '2015-01-06', gender: 'female' as const };
    const snomed = { coding: [{ system: 'http://snomed.info/sct', code: '38907003' }] };
    const noVaccine: Immunization = {
      ...dtap('h', '2020-05-01', '998'),
      status: 'not-done',
      extension: [{ url: 'https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity', valueCodeableConcept: snomed }],
    };
    const fromObx = (verification: string, detail = 'Immunization/h'): Condition => ({
      resourceType: 'Condition',
      subject: { reference: 'Patient/p1' },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: verification }] },
      code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code: '024' }, ...snomed.coding] },
      onsetDateTime: '2020-05-01',
      evidence: [{ detail: [{ reference: detail }] }],
    });
    const varicella = (conditions: Condition[]) =>
      forecastFromFhir({ assessmentDate: '2025-11-10', patient, immunizations: [noVaccine], conditions }).recommendation.recommendation.find(
        (r) => r.vaccineCode?.[0]?.text === 'Varicella',
      )!.forecastStatus.coding?.[0]?.code;
    expect(varicella([])).toBe('immune');
    expect(varicella([fromObx('confirmed')])).toBe('immune');
    // Marked entered in error: the extension it was recorded from no longer counts either.
    expect(varicella([fromObx('entered-in-error')])).toBe('notComplete');
    // A Condition about another dose does not take the extension with it.
    expect(varicella([fromObx('entered-in-error', 'Immunization/other')])).toBe('immune');
  });

  describe('a code the supporting data lists on several observations', () => {
    const patient = { resourceType: 'Patient' as const, id: 'p1', birthDate: '2020-01-06', gender: 'female' as const };
    const VXC20 = { coding: [{ system: 'urn:oid:2.16.840.1.114222.4.5.274', code: 'VXC20', display: 'Allergy to previous dose of this vaccine' }] };
    const allergyExtension = { url: 'https://iis-fhir-server.org/fhir/StructureDefinition/contraindication', valueCodeableConcept: VXC20 };
    const statuses = (immunizations: Immunization[], conditions: Condition[] = []) =>
      Object.fromEntries(
        forecastFromFhir({ assessmentDate: '2025-11-10', patient, immunizations, conditions }).recommendation.recommendation.map((r) => [
          r.vaccineCode?.[0]?.text,
          r.forecastStatus.coding?.[0]?.code,
        ])
      );
    const contraindicated = (s: Record<string, unknown>) => Object.keys(s).filter((group) => s[group] === 'contraindicated').sort();

    it('VXC20 ("allergy to a previous dose of this vaccine") reported with a DTaP dose contraindicates DTaP only', () => {
      const withDose = [{ ...dtap('d1', '2020-03-06'), extension: [allergyExtension] }];
      expect(contraindicated(statuses(withDose))).toEqual(['DTaP/Tdap/Td']);
      // As a Condition naming the dose it came with (evidence.detail), the same.
      const condition: Condition = { resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: VXC20, evidence: [{ detail: [{ reference: 'Immunization/d1' }] }] };
      expect(contraindicated(statuses([dtap('d1', '2020-03-06')], [condition]))).toEqual(['DTaP/Tdap/Td']);
      // With an MMR dose: MMR (and varicella? no: only the vaccines the observations name).
      const mmr = [{ ...dtap('m1', '2021-01-10', '03'), extension: [allergyExtension] }];
      expect(contraindicated(statuses(mmr))).toEqual(['MMR']);
    });

    it('VXC20 without a vaccine (an RXA 998, a Condition naming no dose) is an adverse reaction to a vaccine component: every group is contraindicated', () => {
      const noVaccine = [{ ...dtap('n', '2020-03-06', '998'), status: 'not-done' as const, extension: [allergyExtension] }];
      const all = statuses(noVaccine);
      expect(all['DTaP/Tdap/Td']).toBe('contraindicated');
      expect(all.MMR).toBe('contraindicated');
      expect(all.Polio).toBe('contraindicated');
      expect(contraindicated(statuses([], [{ resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: VXC20 }])).length).toBeGreaterThan(5);
    });

    it('a CDSi code beside the code sent is the precise translation: only it counts', () => {
      const condition: Condition = {
        resourceType: 'Condition',
        subject: { reference: 'Patient/p1' },
        code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code: '097' }, ...VXC20.coding] },
      };
      expect(contraindicated(statuses([], [condition]))).toEqual(['HepB']);
    });

    it('SNOMED AIDS (62479008) counts as both observations it is listed on, so the live-vaccine contraindication of 154 is not lost', () => {
      const aids: Condition = { resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '62479008' }] } };
      const severe: Condition = { resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code: '154' }] } };
      expect(statuses([], [aids]).MMR).toBe(statuses([], [severe]).MMR);
      expect(statuses([], [aids]).MMR).toBe('contraindicated');
    });
  });

  it('leaves out a Condition entered in error, and a resolved contraindication — but not resolved evidence of immunity', () => {
    const patient = { resourceType: 'Patient' as const, id: 'p1', birthDate: '2024-10-01', gender: 'female' as const };
    const cdsi = (code: string) => ({ coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code }] });
    const clinical = (code: string) => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code }] });
    const varicella = (conditions: Condition[]) =>
      forecastFromFhir({ assessmentDate: '2025-11-10', patient, immunizations: [], conditions }).recommendation.recommendation.find(
        (r) => r.vaccineCode?.[0]?.text === 'Varicella',
      )!.forecastStatus.coding?.[0]?.code;
    const condition = (code: string, extra: Partial<Condition> = {}): Condition => ({ resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: cdsi(code), ...extra });
    expect(varicella([])).toBe('notComplete');
    // 089: severe allergic reaction after a previous varicella dose (a contraindication).
    expect(varicella([condition('089', { clinicalStatus: clinical('active') })])).toBe('contraindicated');
    expect(varicella([condition('089', { verificationStatus: { coding: [{ code: 'entered-in-error' }] } })])).toBe('notComplete');
    expect(varicella([condition('089', { clinicalStatus: clinical('resolved'), abatementDateTime: '2025-11-01' })])).toBe('notComplete');
    // Resolved only after the assessment date: it still held then.
    expect(varicella([condition('089', { clinicalStatus: clinical('resolved'), abatementDateTime: '2025-12-01' })])).toBe('contraindicated');
    // 024: provider-verified history of varicella — the disease resolved, the immunity stays.
    expect(varicella([condition('024', { clinicalStatus: clinical('resolved') })])).toBe('immune');
  });

  it('names vaccines a vaccine-level contraindication rules out, and still forecasts the group with the others', () => {
    // Atopic dermatitis (CDSi 224) contraindicates ACAM2000 (CVX 75), not JYNNEOS: CDC's case
    // 2022-UC-0025 expects the orthopoxvirus series Not Complete.
    const { recommendation } = forecastFromFhir({
      assessmentDate: '2025-11-10',
      patient: { resourceType: 'Patient', id: 'p1', birthDate: '1990-02-02', gender: 'male' },
      immunizations: [],
      conditions: ['239', '224'].map((code) => ({
        resourceType: 'Condition' as const,
        subject: { reference: 'Patient/p1' },
        code: { coding: [{ system: 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html', code }] },
      })),
    });
    const pox = recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'Orthopoxvirus')!;
    expect(pox.forecastStatus.coding?.[0]?.code).toBe('notComplete');
    expect(pox.contraindicatedVaccineCode).toEqual([{ coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '75' }] }]);
    const polio = recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'Polio')!;
    expect(polio.contraindicatedVaccineCode).toBeUndefined();
  });

  it('refuses a patient without a full birth date with a 400 OperationOutcome error', () => {
    try {
      forecastFromFhir({ assessmentDate: '2025-11-10', patient: { resourceType: 'Patient', birthDate: '2025' }, immunizations: [] });
      expect.unreachable();
    } catch (err) {
      expect(isFhirError(err) && err.status).toBe(400);
    }
  });
});
