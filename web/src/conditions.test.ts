// The Conditions section's logic: observations from the server's CodeSystem, suggestions, the
// Condition recorded, the changes, and the rows shown.
import { describe, expect, it } from 'vitest';
import {
  CDSI_OBSERVATION_SYSTEM,
  changedCondition,
  conditionRows,
  newCondition,
  observationLabel,
  observationsOf,
  RECORDING_ORGANIZATION_EXTENSION,
  resolveObservation,
  suggestObservations,
} from './conditions';
import type { CodeSystem, Condition } from './fhir-types';

const codeSystem: CodeSystem = {
  resourceType: 'CodeSystem',
  status: 'active',
  content: 'complete',
  concept: [
    {
      code: '003',
      display: 'Immunocompromised',
      property: [
        { code: 'kind', valueCode: 'contraindication' },
        { code: 'antigen', valueString: 'Measles' },
        { code: 'mappedCode', valueCoding: { system: 'http://snomed.info/sct', code: '370388006' } },
      ],
    },
    { code: '007', display: 'Pregnant', property: [{ code: 'kind', valueCode: 'contraindication' }, { code: 'antigen', valueString: 'Varicella' }] },
    {
      code: '024',
      display: 'Healthcare provider verified history of or diagnosis of Varicella',
      property: [{ code: 'kind', valueCode: 'immunity' }, { code: 'antigen', valueString: 'Varicella' }],
    },
    { code: '089', display: 'Severe allergic reaction after previous dose of Varicella', property: [{ code: 'kind', valueCode: 'contraindication' }, { code: 'antigen', valueString: 'Varicella' }] },
  ],
};
const all = observationsOf(codeSystem);

describe('CDSi observations for the Condition field', () => {
  it('reads kinds, antigens and mapped codes from the CodeSystem', () => {
    expect(all[0]).toEqual({ code: '003', title: 'Immunocompromised', kinds: ['Contraindication'], antigens: ['Measles'], mappedCodes: ['370388006'] });
    expect(all[2]!.kinds).toEqual(['Evidence of immunity']);
  });

  it('suggests by words of the title or antigen, by code (with or without zeros) and by mapped code', () => {
    expect(suggestObservations(all, 'varicella history').map((o) => o.code)).toEqual(['024']);
    expect(suggestObservations(all, 'varicella').map((o) => o.code)).toEqual(['007', '024', '089']);
    expect(suggestObservations(all, '7').map((o) => o.code)[0]).toBe('007');
    expect(suggestObservations(all, '089').map((o) => o.code)[0]).toBe('089');
    expect(suggestObservations(all, '370388006').map((o) => o.code)).toEqual(['003']);
    expect(suggestObservations(all, '   ')).toEqual([]);
  });

  it('reads back what was chosen or typed', () => {
    expect(resolveObservation(all, observationLabel(all[2]!))?.code).toBe('024');
    expect(resolveObservation(all, '24')?.code).toBe('024');
    expect(resolveObservation(all, 'pregnant')?.code).toBe('007');
    expect(resolveObservation(all, '370388006')?.code).toBe('003');
    expect(resolveObservation(all, 'varicella')).toBeUndefined();
  });
});

describe('the Condition recorded and its changes', () => {
  const recorded = newCondition('p1', all[3]!, '2025-06-01', 'Organization/maple', new Date('2025-06-02T10:00:00Z'));

  it('carries the CDSi code, the onset, the patient and the recording facility', () => {
    expect(recorded).toMatchObject({
      resourceType: 'Condition',
      subject: { reference: 'Patient/p1' },
      code: { coding: [{ system: CDSI_OBSERVATION_SYSTEM, code: '089' }] },
      onsetDateTime: '2025-06-01',
      recordedDate: '2025-06-02T10:00:00.000Z',
      clinicalStatus: { coding: [{ code: 'active' }] },
      verificationStatus: { coding: [{ code: 'confirmed' }] },
      extension: [{ url: RECORDING_ORGANIZATION_EXTENSION, valueReference: { reference: 'Organization/maple' } }],
    });
    expect(newCondition('p1', all[3]!, '2025-06-01', undefined).extension).toBeUndefined();
  });

  it('resolved: clinical status and abatement; entered in error: verification status, no clinical status (FHIR con-5)', () => {
    const resolved = changedCondition({ ...recorded, id: 'c1' }, 'resolved', '2025-07-01');
    expect(resolved.clinicalStatus?.coding?.[0]?.code).toBe('resolved');
    expect(resolved.abatementDateTime).toBe('2025-07-01');
    expect(resolved.code).toEqual(recorded.code);
    const error = changedCondition({ ...recorded, id: 'c1' }, 'entered-in-error', '2025-07-01');
    expect(error.verificationStatus?.coding?.[0]?.code).toBe('entered-in-error');
    expect('clinicalStatus' in error).toBe(false);
    expect(error.id).toBe('c1');
  });
});

describe('condition rows', () => {
  const make = (id: string, code: string, extra: Partial<Condition> = {}): Condition => ({
    ...newCondition('p1', all.find((o) => o.code === code)!, '2025-01-0' + id, 'Organization/maple'),
    id,
    ...extra,
  });

  it('lists what, kind, since, status and facility; current ones first; actions that make sense', () => {
    const rows = conditionRows(
      [
        changedCondition(make('1', '089'), 'entered-in-error', '2025-03-01'),
        make('2', '024'),
        changedCondition(make('3', '007'), 'resolved', '2025-03-01'),
        make('4', '089'),
      ],
      all,
    );
    expect(rows.map((r) => [r.id, r.status, r.current])).toEqual([
      ['4', 'Active', true],
      ['2', 'Active', true],
      ['3', 'Resolved 1 Mar 2025', false],
      ['1', 'Entered in error', false],
    ]);
    expect(rows[0]).toMatchObject({ what: 'Severe allergic reaction after previous dose of Varicella', code: '089', kinds: ['Contraindication'], since: '2025-01-04', organization: 'Organization/maple', canResolve: true, canMarkError: true });
    // Evidence of immunity does not end; an entry in error cannot be changed again.
    expect(rows[1]).toMatchObject({ canResolve: false, canMarkError: true });
    expect(rows[3]).toMatchObject({ canResolve: false, canMarkError: false });
  });

  it('reads a SNOMED-coded Condition (e.g. from an EHR) as its CDSi observation, and one without a known code as recorded', () => {
    const [snomed, other] = conditionRows(
      [
        { resourceType: 'Condition', id: 's', subject: { reference: 'Patient/p1' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '370388006' }] }, onsetDateTime: '2024-01-01' },
        { resourceType: 'Condition', id: 'o', subject: { reference: 'Patient/p1' }, code: { text: 'Egg allergy' }, recordedDate: '2023-01-01' },
      ],
      all,
    );
    expect(snomed).toMatchObject({ what: 'Immunocompromised', code: '003', status: 'Recorded', organization: undefined });
    expect(other).toMatchObject({ what: 'Egg allergy', code: '—', kinds: [], since: '2023-01-01' });
  });
});
