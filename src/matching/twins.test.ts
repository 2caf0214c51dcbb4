// Twin and multiple-birth logic: same birth date with different birth orders or different first
// names is never a merge.
import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { comparePatients } from './compare.js';
import { rankCandidates } from './rank.js';
import { HOUSEHOLD, patient, type PatientSpec } from './test-patients.js';

const twin = (spec: PatientSpec) => patient({ family: 'Okafor', birthDate: '2019-11-02', gender: 'female', ...HOUSEHOLD, ...spec });

describe('twins', () => {
  it('different first names, same birth date and household: none', () => {
    const d = comparePatients(twin({ given: ['Ada'] }), twin({ given: ['Ngozi'] }));
    expect(d.grade).toBe('none');
    expect(d.reasons.find((r) => r.field === 'twins')!.detail).toMatch(/never merged/);
  });

  it('first names one letter apart with different birth orders: none', () => {
    expect(comparePatients(twin({ given: ['Aiden'], order: 1 }), twin({ given: ['Aidan'], order: 2 })).grade).toBe('none');
  });

  it('first names one letter apart without birth orders: at most probable (review)', () => {
    expect(comparePatients(twin({ given: ['Aiden'] }), twin({ given: ['Aidan'] })).grade).toBe('probable');
  });

  it('different birth orders but the same first name: a data error to review, never certain', () => {
    expect(comparePatients(twin({ given: ['Ada'], order: 1, clinicMrn: 'C1' }), twin({ given: ['Ada'], order: 2, clinicMrn: 'C1' })).grade).toBe('probable');
  });

  it('a shared SSN does not merge twins (possible at most)', () => {
    expect(comparePatients(twin({ given: ['Ada'], ssn: '123-45-6780' }), twin({ given: ['Ngozi'], ssn: '123-45-6780' })).grade).toBe('possible');
  });

  it('the same child with the birth order on one record only: certain', () => {
    expect(comparePatients(twin({ given: ['Ada'], order: 2 }), twin({ given: ['Ada'] })).grade).toBe('certain');
  });

  it('multiple birth yes on one record, no on the other: a conflict reason, not a twin rule', () => {
    const d = comparePatients(twin({ given: ['Ada'], multiple: true }), twin({ given: ['Ada'], multiple: false }));
    expect(d.reasons.find((r) => r.field === 'multipleBirth')).toMatchObject({ outcome: 'conflict' });
    expect(d.grade).toBe('certain');
  });

  it('boy/girl twins with the same initial-only first name: none', () => {
    const d = comparePatients(twin({ given: ['A'], gender: 'male' }), twin({ given: ['A'], gender: 'female' }));
    expect(d.grade).toBe('none');
  });
});

describe('rankCandidates', () => {
  const input = patient({ id: 'in', given: ['Ada'], family: 'Okafor', birthDate: '2019-11-02', gender: 'female', ...HOUSEHOLD });

  it('orders best first, leaves out none, the input itself and merged-away records', () => {
    const same = patient({ ...{ id: 'same', given: ['Ada'], family: 'Okafor', birthDate: '2019-11-02', gender: 'female' }, ...HOUSEHOLD });
    const typo = patient({ id: 'typo', given: ['Adda'], family: 'Okafor', birthDate: '2019-11-02', gender: 'female' });
    const far = patient({ id: 'far', given: ['Ada'], family: 'Nwosu', birthDate: '2019-11-02', gender: 'female' });
    const other = patient({ id: 'other', given: ['Bola'], family: 'Adeyemi', birthDate: '1980-01-01', gender: 'male' });
    const merged = { ...same, id: 'merged', link: [{ type: 'replaced-by' as const, other: { reference: 'Patient/same' } }] };
    const ranked = rankCandidates(input, [other, far, typo, merged, input, same]);
    expect(ranked.map((r) => [r.patient.id, r.decision.grade])).toEqual([
      ['same', 'certain'],
      ['typo', 'probable'],
      ['far', 'possible'],
    ]);
    const scores = ranked.map((r) => r.decision.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(rankCandidates(input, [other], { includeNone: true })[0].decision.grade).toBe('none');
  });

  it('scores are banded by grade', () => {
    for (const r of rankCandidates(input, [patient({ id: 'x', given: ['Ada'], family: 'Okafor', birthDate: '2019-11-02', gender: 'female', ...HOUSEHOLD })])) {
      expect(r.decision.score).toBeGreaterThanOrEqual(0.8);
      expect(r.decision.score).toBeLessThanOrEqual(1);
    }
  });
});

describe('sparse and odd input', () => {
  it('never throws, and decides at most possible between different sparse or malformed records', () => {
    const odd: Patient[] = [
      { resourceType: 'Patient' },
      { resourceType: 'Patient', name: [{}], birthDate: 'not a date', identifier: [{}], telecom: [{ system: 'email', value: 'a@b.c' }], address: [{}] },
      { resourceType: 'Patient', name: [{ text: 'Smith, John' }], birthDate: '2011' },
      { resourceType: 'Patient', name: [{ given: ['', ' '] }], multipleBirthInteger: 0, extension: [{ url: 'x' }], contact: [{}] },
    ];
    for (const a of odd) for (const b of odd) {
      if (a === b) continue;
      const d = comparePatients(a, b);
      expect(['none', 'possible']).toContain(d.grade);
      expect(d.score).toBeGreaterThanOrEqual(0);
      expect(d.score).toBeLessThan(0.5);
    }
  });

  it('reads a name given only as text', () => {
    const d = comparePatients(
      { resourceType: 'Patient', name: [{ text: 'Smith, John A' }], birthDate: '2011-07-01', gender: 'male' },
      patient({ given: ['John', 'A'], family: 'Smith', birthDate: '2011-07-01', gender: 'male' })
    );
    expect(d.reasons.find((r) => r.field === 'name.given')!.outcome).toBe('agree');
    expect(d.reasons.find((r) => r.field === 'name.family')!.outcome).toBe('agree');
  });
});
