// Issue 12: the calibrated line between certain (merged automatically) and probable (review).
// Certain needs name, birth date and sex plus an identifier or an exact contact fact (same phone,
// same house in the same ZIP or city), or the same house with a typo plus a further fact; the rest
// of the same-person evidence goes to a reviewer.
import { describe, expect, it } from 'vitest';
import { comparePatients } from './compare.js';
import { isNickname } from './nicknames.js';
import { patient } from './test-patients.js';

const core = { given: ['Judith'], family: 'Okafor', birthDate: '2019-04-02', gender: 'female' as const };
const home = { line: '48 Cedar Lane', city: 'Lansing', zip: '48910' };

describe('certain or probable', () => {
  it('the same phone: certain', () => {
    expect(comparePatients(patient({ ...core, phone: '517-555-0101' }), patient({ ...core, phone: '(517) 555-0101' })).grade).toBe('certain');
  });

  it('the same house in the same ZIP: certain; a street spelling variant too', () => {
    expect(comparePatients(patient({ ...core, ...home }), patient({ ...core, ...home })).grade).toBe('certain');
    expect(comparePatients(patient({ ...core, ...home }), patient({ ...core, ...home, line: '48 Ceder Ln' })).grade).toBe('certain');
  });

  it('ZIP and city both mistyped, nothing else: probable', () => {
    const d = comparePatients(patient({ ...core, ...home }), patient({ ...core, ...home, city: 'Lanxing', zip: '48901' }));
    expect(d.grade).toBe('probable');
    expect(d.reasons.at(-1)?.detail).toMatch(/identifier, phone or exact street address/);
  });

  it('a changed address with only the middle name and guardian to go on: probable', () => {
    const a = patient({ ...core, given: ['Judith', 'Ann'], ...home });
    const b = patient({ ...core, given: ['Judith', 'Ann'], line: '9 Monroe Street', city: 'Detroit', zip: '48201' });
    a.contact = b.contact = [{ name: { given: ['Grace'], family: 'Okafor' } }];
    expect(comparePatients(a, b).grade).toBe('probable');
  });

  it('an identifier: certain even without a contact fact', () => {
    expect(comparePatients(patient({ ...core, clinicMrn: 'C-9' }), patient({ ...core, clinicMrn: 'C-9' })).grade).toBe('certain');
  });

  it('an identifier against another address with nothing else in common: probable (a shared or reused number)', () => {
    const moved = { line: '9 Monroe Street', city: 'Detroit', zip: '48201' };
    const d = comparePatients(patient({ ...core, clinicMrn: 'C-9', ...home }), patient({ ...core, clinicMrn: 'C-9', ...moved }));
    expect(d.grade).toBe('probable');
    expect(d.reasons.at(-1)?.detail).toMatch(/shared or reused number/);
    // … one more fact in common (the phone) makes it certain again
    expect(comparePatients(patient({ ...core, clinicMrn: 'C-9', ...home, phone: '517-555-0101' }), patient({ ...core, clinicMrn: 'C-9', ...moved, phone: '517-555-0101' })).grade).toBe('certain');
  });

  it('the same name and household with the birth day changed inside the month: probable (review), never certain', () => {
    const d = comparePatients(patient({ ...core, ...home }), patient({ ...core, ...home, birthDate: '2019-04-23' }));
    expect(d.grade).toBe('probable');
    expect(d.reasons.find((r) => r.field === 'birthDate')?.detail).toMatch(/same birth month/);
    // another month (or another name) stays apart
    expect(comparePatients(patient({ ...core, ...home }), patient({ ...core, ...home, birthDate: '2019-06-23' })).grade).not.toBe('probable');
    expect(comparePatients(patient({ ...core, ...home }), patient({ ...core, given: ['Ruth'], ...home, birthDate: '2019-04-23' })).grade).toBe('none');
  });

  it('a birth date missing on one record: certain with the same MRN, never without an identifier', () => {
    const noBirth = { ...core, birthDate: undefined };
    expect(comparePatients(patient({ ...noBirth, clinicMrn: 'C-9', ...home }), patient({ ...core, clinicMrn: 'C-9', ...home })).grade).toBe('certain');
    expect(comparePatients(patient({ ...noBirth, ...home, phone: '517-555-0101' }), patient({ ...core, ...home, phone: '517-555-0101' })).grade).not.toBe('certain');
    // a different birth date stays a blocker whatever the identifier
    expect(comparePatients(patient({ ...core, birthDate: '2019-04-09', clinicMrn: 'C-9' }), patient({ ...core, clinicMrn: 'C-9' })).grade).not.toBe('certain');
  });

  it('a hyphenated surname with the same household but no MRN: probable', () => {
    const d = comparePatients(patient({ ...core, ...home, phone: '517-555-0101' }), patient({ ...core, family: 'Okafor-Reyes', ...home, phone: '517-555-0101' }));
    expect(d.grade).toBe('probable');
  });

  it('a married name with the same birth date and phone: probable, not possible', () => {
    const d = comparePatients(patient({ ...core, phone: '517-555-0101' }), patient({ ...core, family: 'Reyes', phone: '517-555-0101' }));
    expect(d.grade).toBe('probable');
    expect(d.reasons.some((r) => /marriage/.test(r.detail))).toBe(true);
  });

  it('… but not when a fact a marriage keeps differs (SSN, mother\'s maiden name): a relative sharing the phone', () => {
    const a = patient({ ...core, phone: '517-555-0101', ssn: '401-23-5567' });
    const b = patient({ ...core, family: 'Reyes', phone: '517-555-0101', ssn: '402-88-1234' });
    expect(comparePatients(a, b).grade).not.toBe('probable');
  });

  it('a changed first name with the same middle name and birth date: probable; a different middle name: none', () => {
    const a = patient({ ...core, given: ['Judith', 'Marisol'], ...home });
    expect(comparePatients(a, patient({ ...core, given: ['Penny', 'Marisol'], ...home })).grade).toBe('probable');
    expect(comparePatients(a, patient({ ...core, given: ['Penny', 'Grace'], ...home })).grade).toBe('none');
  });

  it('a changed first name with only the middle initial in common: probable with an identifier and a household fact, none without', () => {
    const a = patient({ ...core, given: ['Judith', 'M'], clinicMrn: 'C-9', ...home, phone: '517-555-0101' });
    expect(comparePatients(a, patient({ ...core, given: ['Penny', 'M'], clinicMrn: 'C-9', ...home, phone: '517-555-0101' })).grade).toBe('probable');
    expect(comparePatients(a, patient({ ...core, given: ['Penny', 'M'], ...home, phone: '517-555-0101' })).grade).toBe('none');
  });

  it('a first name recorded only as the middle name on the other record: probable', () => {
    const absent = patient({ family: 'Okafor', birthDate: core.birthDate, gender: 'female', ...home });
    absent.name = [{ use: 'official', family: 'Okafor', given: [null as unknown as string, 'Judith'] }];
    expect(comparePatients(absent, patient({ ...core, ...home })).grade).toBe('probable');
    // … and against another first name it is a different person (twins, siblings)
    expect(comparePatients(absent, patient({ ...core, given: ['Ruth'], ...home })).grade).toBe('none');
  });
});

describe('name variants a reviewer should see (issue 12: review rather than none)', () => {
  it('a first name cut short (Fran / Francesca) with the same birth date and household: probable; two letters (Je / Jemma): none', () => {
    const a = patient({ ...core, given: ['Francesca'], ...home });
    expect(comparePatients(a, patient({ ...core, given: ['Fran'], ...home })).grade).toBe('probable');
    expect(comparePatients(a, patient({ ...core, given: ['Fr'], ...home })).grade).toBe('none');
  });

  it('… but a first name cut short beside a different middle name is a twin (Thor Hewett / Thorfinn Matai): none', () => {
    const a = patient({ ...core, gender: 'male', given: ['Thorfinn', 'Matai'], ...home });
    const b = patient({ ...core, gender: 'male', given: ['Thor', 'Hewett'], ...home });
    expect(comparePatients(a, b).grade).toBe('none');
  });

  it('first and family names written in each other\'s place: probable, not a twin', () => {
    const d = comparePatients(patient({ ...core, ...home }), patient({ ...core, given: ['Okafor'], family: 'Judith', ...home }));
    expect(d.grade).toBe('probable');
  });

  it('a first name spelled with other vowels (Salihah / Seilihah): probable', () => {
    expect(comparePatients(patient({ ...core, given: ['Salihah'], ...home }), patient({ ...core, given: ['Seilihah'], ...home })).grade).toBe('probable');
  });
});

describe('twins with the birth order on one record only (issue 12: review, not none)', () => {
  const twin = { ...core, ...home, phone: '517-555-0101', given: ['Jarvia', 'Alaine'] };
  it('a different first name, the same household, nothing telling two children apart: probable', () => {
    const d = comparePatients(patient({ ...twin, order: 1 }), patient({ ...twin, given: ['Jan', 'A'] }));
    expect(d.grade).toBe('probable');
    expect(d.reasons.some((r) => /birth order on one record only/.test(r.detail))).toBe(true);
  });

  it('… but another middle name, another SSN, both birth orders or no multiple birth at all: none', () => {
    const other = { ...twin, given: ['Jan', 'A'] };
    expect(comparePatients(patient({ ...twin, order: 1 }), patient({ ...other, given: ['Jan', 'Grace'] })).grade).toBe('none');
    expect(comparePatients(patient({ ...twin, order: 1, ssn: '401-23-5567' }), patient({ ...other, ssn: '402-88-1234' })).grade).not.toBe('probable');
    expect(comparePatients(patient({ ...twin, order: 1 }), patient({ ...other, order: 2 })).grade).toBe('none');
    expect(comparePatients(patient(twin), patient(other)).grade).toBe('none');
    expect(comparePatients(patient({ ...twin, order: 1 }), patient({ ...other, multiple: false })).grade).toBe('none');
  });
});

describe('test-patient names', () => {
  it('two records that both look like test data are never merged automatically', () => {
    const a = patient({ ...core, given: ['Test'], family: 'Patient', ...home, phone: '517-555-0101' });
    const b = patient({ ...core, given: ['Test'], family: 'Patient', ...home, phone: '517-555-0101' });
    const d = comparePatients(a, b);
    expect(d.grade).toBe('probable');
    expect(d.reasons.at(-1)?.detail).toMatch(/test-patient name/);
  });

  it('a digit typed into one record\'s middle name (Marily9) does not make a real record test data: certain', () => {
    const a = patient({ ...core, given: ['Judith', 'Marilyn'], ...home, phone: '517-555-0101' });
    const b = patient({ ...core, given: ['Judith', 'Marily9'], ...home, phone: '517-555-0101' });
    expect(comparePatients(a, b).grade).toBe('certain');
  });
});

describe('nicknames (maintained data set plus the hand list)', () => {
  it('knows the common diminutives', () => {
    for (const [a, b] of [['angela', 'angie'], ['judith', 'judy'], ['william', 'bill'], ['bill', 'will'], ['william', 'liam'], ['margaret', 'peggy']]) {
      expect(isNickname(a, b), `${a} ~ ${b}`).toBe(true);
      expect(isNickname(b, a), `${b} ~ ${a}`).toBe(true);
    }
    expect(isNickname('judith', 'angela')).toBe(false);
  });

  it('a nickname alone is probable, never certain', () => {
    const d = comparePatients(patient({ ...core, given: ['Angela'], ...home, phone: '517-555-0101' }), patient({ ...core, given: ['Angie'], ...home, phone: '517-555-0101' }));
    expect(d.grade).toBe('probable');
  });
});
