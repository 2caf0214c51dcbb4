// Issue 5 newborn scenarios: the hospital's first record ("Baby Boy Smith", hepatitis B at birth)
// and the clinic's record under the legal name must be recognised as one child; twins never merge.
import type { HumanName } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { blockingQueries, matchingIndex } from './blocking.js';
import { comparePatients } from './compare.js';
import { rankCandidates } from './rank.js';
import { HOUSEHOLD, patient } from './test-patients.js';
import type { MatchDecision } from './types.js';

const DOB = '2025-03-14';

const hospital = (given: string[], extra: Parameters<typeof patient>[0] = {}) =>
  patient({ id: 'hosp', given, family: 'Smith', birthDate: DOB, hospitalMrn: 'H-1001', ...HOUSEHOLD, ...extra });

function reason(d: MatchDecision, field: string) {
  return d.reasons.find((r) => r.field === field);
}

describe('placeholder → legal name', () => {
  const babyBoy = hospital(['Baby', 'Boy'], { gender: 'male' });

  it('with the hospital MRN on the clinic record: certain', () => {
    const legal = patient({ given: ['Liam', 'James'], family: 'Smith', birthDate: DOB, gender: 'male', hospitalMrn: 'H-1001', clinicMrn: 'C-77' });
    const d = comparePatients(legal, babyBoy);
    expect(d.grade).toBe('certain');
    expect(reason(d, 'name.given')).toMatchObject({ outcome: 'missing' });
    expect(reason(d, 'name.given')!.detail).toMatch(/placeholder/);
    expect(reason(d, 'identifier.mrn')).toMatchObject({ outcome: 'agree' });
  });

  it('without the hospital MRN, with address, phone and maiden name: certain', () => {
    const legal = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', clinicMrn: 'C-77', ...HOUSEHOLD });
    const d = comparePatients(legal, babyBoy);
    expect(d.grade).toBe('certain');
    expect(reason(d, 'identifier.mrn')).toMatchObject({ outcome: 'missing' }); // other assigner: says nothing
  });

  it('without any identifier or household fact: probable (review), never certain', () => {
    const legal = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', clinicMrn: 'C-77' });
    expect(comparePatients(legal, babyBoy).grade).toBe('probable');
  });

  it('a placeholder name kept as `old` on the merged record still matches a repeated hospital feed', () => {
    const merged = patient({
      given: ['Liam'],
      family: 'Smith',
      names: [{ use: 'old', given: ['Baby', 'Boy'], family: 'Smith' }],
      birthDate: DOB,
      gender: 'male',
      hospitalMrn: 'H-1001',
      ...HOUSEHOLD,
    });
    expect(comparePatients(babyBoy, merged).grade).toBe('certain');
  });

  it('the sex stated by the placeholder stands in for a missing gender', () => {
    const noGender = hospital(['Baby', 'Boy']);
    const legal = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', hospitalMrn: 'H-1001' });
    const d = comparePatients(legal, noGender);
    expect(d.grade).toBe('certain');
    expect(reason(d, 'gender')!.detail).toMatch(/placeholder/);
  });

  it('another "Baby Boy Smith" born the same day to another mother is not a match', () => {
    const other = patient({
      given: ['Baby', 'Boy'], family: 'Smith', birthDate: DOB, gender: 'male', hospitalMrn: 'H-2002',
      phone: '(313) 555-0199', line: '400 Elm Avenue', city: 'Detroit', zip: '48201', mothersMaidenName: 'Nguyen',
    });
    expect(['none', 'possible']).toContain(comparePatients(babyBoy, other).grade);
  });
});

describe('twins "Baby Boy A / B Smith"', () => {
  const a = hospital(['Baby', 'Boy', 'A'], { id: 'twin-a', gender: 'male', hospitalMrn: 'H-1001' });
  const b = hospital(['Baby', 'Boy', 'B'], { id: 'twin-b', gender: 'male', hospitalMrn: 'H-1002' });

  it('the two placeholders are never the same child', () => {
    const d = comparePatients(a, b);
    expect(d.grade).toBe('none');
    expect(reason(d, 'multipleBirth')).toMatchObject({ outcome: 'conflict' });
    expect(reason(d, 'twins')).toBeDefined();
  });

  it('the legal name with birth order 1 matches twin A certainly and never twin B', () => {
    const liam = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', order: 1, ...HOUSEHOLD });
    expect(comparePatients(liam, a).grade).toBe('certain');
    expect(comparePatients(liam, b).grade).toBe('none');
    const ranked = rankCandidates(liam, [b, a]);
    expect(ranked.map((r) => [r.patient.id, r.decision.grade])).toEqual([['twin-a', 'certain']]);
  });

  it('the legal name without a birth order is not certain for either twin', () => {
    const liam = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', ...HOUSEHOLD });
    expect(comparePatients(liam, a).grade).toBe('probable');
    const ranked = rankCandidates(liam, [a, b]);
    expect(ranked.map((r) => r.decision.grade)).toEqual(['probable', 'probable']);
  });

  it('named twins never merge, with or without birth orders', () => {
    const liam = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', ...HOUSEHOLD });
    const noah = patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', ...HOUSEHOLD });
    expect(comparePatients(liam, noah).grade).toBe('none');
    const liam1 = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', order: 1, ...HOUSEHOLD });
    const noah2 = patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', order: 2, ...HOUSEHOLD });
    expect(comparePatients(liam1, noah2).grade).toBe('none');
  });

  it('twins the hospital did not mark: the placeholder is not merged when the other twin is already registered', () => {
    const unmarked = hospital(['Baby', 'Boy'], { id: 'bb', gender: 'male', hospitalMrn: undefined });
    const liam = patient({ id: 'liam', given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', ...HOUSEHOLD });
    const noah = patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', ...HOUSEHOLD });
    expect(comparePatients(noah, unmarked).grade).toBe('certain'); // pairwise, nothing tells them apart
    const ranked = rankCandidates(noah, [unmarked, liam], { includeNone: true });
    expect(ranked.map((r) => [r.patient.id, r.decision.grade])).toEqual([['bb', 'probable'], ['liam', 'none']]);
    expect(ranked[0].decision.reasons.at(-1)!.detail).toMatch(/twin/);
  });

  it('two placeholders without birth orders but both certain for one input: lowered to probable', () => {
    const x = hospital(['Baby', 'Boy'], { id: 'x', gender: 'male', hospitalMrn: undefined, order: 1 });
    const y = hospital(['Baby', 'Boy'], { id: 'y', gender: 'male', hospitalMrn: undefined, order: 1 });
    const liam = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', order: 1, ...HOUSEHOLD });
    const ranked = rankCandidates(liam, [x, y]);
    expect(ranked.map((r) => r.decision.grade)).toEqual(['probable', 'probable']);
    expect(ranked[0].decision.reasons.at(-1)!.detail).toMatch(/ambiguous/);
  });
});

describe('same surname and birth date, different sex', () => {
  it('Baby Boy Smith and Baby Girl Smith of one mother are not the same child', () => {
    const boy = hospital(['Baby', 'Boy'], { gender: 'male' });
    const girl = hospital(['Baby', 'Girl'], { gender: 'female', hospitalMrn: 'H-1003' });
    expect(comparePatients(boy, girl).grade).toBe('none');
    // also when only the placeholder words state the sex
    const boy2 = hospital(['Baby', 'Boy'], { hospitalMrn: 'H-1004' });
    const girl2 = hospital(['Baby', 'Girl'], { hospitalMrn: 'H-1005' });
    expect(comparePatients(boy2, girl2).grade).toBe('none');
  });

  it('the legal name of the girl matches Baby Girl, not Baby Boy', () => {
    const boy = hospital(['Baby', 'Boy'], { gender: 'male', hospitalMrn: 'H-1006' });
    const girl = hospital(['Baby', 'Girl'], { gender: 'female', hospitalMrn: 'H-1007' });
    const emma = patient({ given: ['Emma'], family: 'Smith', birthDate: DOB, gender: 'female', hospitalMrn: 'H-1007', ...HOUSEHOLD });
    expect(comparePatients(emma, girl).grade).toBe('certain');
    expect(comparePatients(emma, boy).grade).toBe('none');
  });
});

describe('a newborn placeholder of the other sex (the sex recorded wrong at birth)', () => {
  it('against the legal record with two household facts and no birth order against it: probable (review), never certain', () => {
    const girl = hospital(['Baby', 'Girl'], { gender: 'female', hospitalMrn: 'H-1008' });
    const noah = patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', ...HOUSEHOLD });
    const d = comparePatients(noah, girl);
    expect(d.grade).toBe('probable');
    expect(d.reasons.map((r) => r.detail).join(' ')).toMatch(/sex recorded wrong/);
    expect(comparePatients(girl, noah).grade).toBe('probable');
  });

  it('without household facts, with another household, against another hospital MRN, another birth order, or two placeholders: none', () => {
    const girl = hospital(['Baby', 'Girl'], { gender: 'female', hospitalMrn: 'H-1009' });
    expect(comparePatients(patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male' }), girl).grade).toBe('none');
    const elsewhere = { phone: '(313) 555-0199', line: '400 Elm Avenue', city: 'Detroit', zip: '48201', mothersMaidenName: 'Nguyen' };
    expect(comparePatients(patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', ...elsewhere }), girl).grade).toBe('none');
    expect(comparePatients(patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', hospitalMrn: 'H-1010', ...HOUSEHOLD }), girl).grade).toBe('none');
    const second = hospital(['Baby', 'Girl'], { gender: 'female', hospitalMrn: undefined, order: 2 });
    expect(comparePatients(patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', order: 1, ...HOUSEHOLD }), second).grade).toBe('none');
    const boy = hospital(['Baby', 'Boy'], { gender: 'male', hospitalMrn: undefined });
    expect(comparePatients(boy, hospital(['Baby', 'Girl'], { gender: 'female', hospitalMrn: undefined })).grade).toBe('none');
  });
});

describe('a first name that says it is not known ("Unknown", "FNU", "No Name")', () => {
  for (const given of [['Unknown'], ['UNKNOWN'], ['FNU'], ['No', 'Name']]) {
    it(`"${given.join(' ')}" is a placeholder: certain with two household facts, like "Baby Boy"`, () => {
      const unknown = hospital(given, { gender: 'male' });
      const liam = patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male', ...HOUSEHOLD });
      const d = comparePatients(liam, unknown);
      expect(d.grade).toBe('certain');
      expect(reason(d, 'name.given')).toMatchObject({ outcome: 'missing' });
    });
  }

  it('without household facts it is only probable, and a family name that says nothing either is no placeholder', () => {
    const unknown = hospital(['Unknown'], { gender: 'male' });
    expect(comparePatients(patient({ given: ['Liam'], family: 'Smith', birthDate: DOB, gender: 'male' }), unknown).grade).toBe('probable');
    const nameless = patient({ given: ['Unknown'], family: 'Unknown', birthDate: DOB, gender: 'male', ...HOUSEHOLD });
    expect(comparePatients(patient({ given: ['Liam'], family: 'Unknown', birthDate: DOB, gender: 'male', ...HOUSEHOLD }), nameless).grade).toBe('none');
  });
});

describe('concatenated placeholder "BabyGirlJones"', () => {
  const olivia = patient({ given: ['Olivia'], family: 'Jones', birthDate: DOB, gender: 'female', ...HOUSEHOLD });
  for (const [label, name] of [
    ['family BabyGirlJones, no given', { family: 'BabyGirlJones' }],
    ['family BABYGIRLJONES, no given', { family: 'BABYGIRLJONES' }],
    ['given BabyGirl, family Jones', { given: ['BabyGirl'], family: 'Jones' }],
    ['given BabyGirlJones, family Jones', { given: ['BabyGirlJones'], family: 'Jones' }],
    ['text only "Baby Girl Jones"', { text: 'Baby Girl Jones' }],
  ] as Array<[string, HumanName]>) {
    it(`${label}: certain against the legal name, female from the placeholder`, () => {
      const hosp = patient({ names: [name], birthDate: DOB, ...HOUSEHOLD });
      const d = comparePatients(hosp, olivia);
      expect(d.grade).toBe('certain');
      expect(reason(d, 'name.family')).toMatchObject({ outcome: 'agree' });
      expect(reason(d, 'gender')).toMatchObject({ outcome: 'agree' });
    });
  }

  it('blocking finds the legal-name record from the placeholder by surname and birth date', () => {
    const hosp = patient({ names: [{ family: 'BabyGirlJones' }], birthDate: DOB });
    const stored = new Set(matchingIndex(olivia).keys);
    const queried = blockingQueries(hosp).flatMap((f) => {
      const v = f['m.keys'] as string | { $in: string[] };
      return typeof v === 'string' ? [v] : v.$in;
    });
    expect(queried.filter((k) => stored.has(k)).some((k) => k.startsWith('fm:'))).toBe(true);
  });
});

describe('a surname that starts like a placeholder word (Boyle, Newbornian, Babyak, Twining)', () => {
  // The placeholder is the given name; the family name is the child's real one and must not lose
  // its first letters to a glued-prefix cut ("Boyle" read as boy + "le" conflicted with Emma Boyle).
  for (const family of ['Boyle', 'Boyer', 'BOYLE', 'Newbornian', 'Babyak', 'Twining', 'Girling', 'Infantino']) {
    it(`Baby Girl ${family} → Emma ${family}, same MRN: certain, the family names agree`, () => {
      const baby = hospital(['Baby', 'Girl'], { family, gender: 'female' });
      const emma = patient({ given: ['Emma'], family, birthDate: DOB, gender: 'female', hospitalMrn: 'H-1001', ...HOUSEHOLD });
      const d = comparePatients(emma, baby);
      expect(reason(d, 'name.family')).toMatchObject({ outcome: 'agree' });
      expect(d.grade).toBe('certain');
    });
  }

  it('"Baby Boyle" states no sex: it is not a boy against a girl', () => {
    const baby = hospital(['Baby'], { family: 'Boyle', gender: 'female' });
    const emma = patient({ given: ['Emma'], family: 'Boyle', birthDate: DOB, gender: 'female', hospitalMrn: 'H-1001', ...HOUSEHOLD });
    expect(reason(comparePatients(emma, baby), 'gender')).toMatchObject({ outcome: 'agree' });
    expect(comparePatients(emma, baby).grade).toBe('certain');
  });
});

describe("mother's maiden name as the only link", () => {
  // Registered at birth under the mother's surname; the legal surname is the father's.
  const baby = patient({ names: [{ given: ['Baby', 'Girl'], family: 'Lopez' }], birthDate: DOB, gender: 'female', mothersMaidenName: 'Lopez' });
  const sofia = patient({ given: ['Sofia'], family: 'Martinez', birthDate: DOB, gender: 'female', mothersMaidenName: 'Lopez' });

  it('is found by blocking on the maiden name', () => {
    const stored = new Set(matchingIndex(baby).keys);
    const mm = blockingQueries(sofia).find((f) => JSON.stringify(f).includes('"mm:'));
    expect(mm).toBeDefined();
    expect(((mm!['m.keys'] as { $in: string[] }).$in).some((k) => stored.has(k))).toBe(true);
  });

  it('is listed for review (probable), not merged', () => {
    const d = comparePatients(sofia, baby);
    expect(d.grade).toBe('probable');
    expect(reason(d, 'name.family')!.detail).toMatch(/mother/);
    expect(reason(d, 'mothersMaidenName')).toMatchObject({ outcome: 'agree' });
  });

  it('becomes certain when the hospital MRN travels with the legal name', () => {
    const withMrn = patient({ ...{ given: ['Sofia'], family: 'Martinez', birthDate: DOB, gender: 'female', mothersMaidenName: 'Lopez' }, hospitalMrn: 'H-9' });
    const babyMrn = patient({ names: [{ given: ['Baby', 'Girl'], family: 'Lopez' }], birthDate: DOB, gender: 'female', mothersMaidenName: 'Lopez', hospitalMrn: 'H-9' });
    expect(comparePatients(withMrn, babyMrn).grade).toBe('certain');
  });
});

describe('later name change by hyphenation', () => {
  const before = patient({ given: ['Emma'], family: 'Jones', birthDate: '2021-08-02', gender: 'female', clinicMrn: 'C-5', ...HOUSEHOLD });

  it('same clinic MRN: certain', () => {
    const after = patient({ given: ['Emma'], family: 'Jones-Smith', birthDate: '2021-08-02', gender: 'female', clinicMrn: 'C-5' });
    const d = comparePatients(after, before);
    expect(d.grade).toBe('certain');
    expect(reason(d, 'name.family')).toMatchObject({ outcome: 'partial' });
    expect(reason(d, 'name.family')!.detail).toMatch(/hyphenated/);
  });

  it('no identifier, same address and phone: probable (review), whatever the order of the parts', () => {
    // Siblings share the household, and reviewers send a changed surname to review (issue 12).
    for (const family of ['Jones-Smith', 'Smith-Jones', 'Smith Jones']) {
      const after = patient({ given: ['Emma'], family, birthDate: '2021-08-02', gender: 'female', ...HOUSEHOLD });
      const d = comparePatients(after, before);
      expect(d.grade).toBe('probable');
      expect(reason(d, 'name.family')).toMatchObject({ outcome: 'partial' });
    }
  });

  it('nothing but name, birth date and sex: probable', () => {
    const after = patient({ given: ['Emma'], family: 'Jones-Smith', birthDate: '2021-08-02', gender: 'female' });
    expect(comparePatients(after, before).grade).toBe('probable');
  });

  it('blocking finds the old record from the hyphenated name', () => {
    const after = patient({ given: ['Emma'], family: 'Smith-Jones', birthDate: '2021-08-09', gender: 'female' });
    const stored = new Set(matchingIndex(before).keys);
    const keys = blockingQueries(after).flatMap((f) => {
      const v = f['m.keys'] as string | { $in: string[] };
      return typeof v === 'string' ? [v] : v.$in;
    });
    expect(keys.some((k) => stored.has(k))).toBe(true);
  });
});

describe('families: set rules about siblings (issue 12)', () => {
  const liamMerged = (extra: Parameters<typeof patient>[0] = {}) =>
    patient({ id: 'liam', given: ['Liam'], family: 'Smith', names: [{ use: 'old', given: ['Baby', 'Boy'], family: 'Smith' }], birthDate: DOB, gender: 'male', ...HOUSEHOLD, ...extra });

  it('twins with birth orders: the second child reaches its own placeholder once the first merged', () => {
    const placeholder2 = hospital(['Baby', 'Boy'], { id: 'bb2', gender: 'male', hospitalMrn: 'H-2', order: 2 });
    const noah = patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', order: 2, ...HOUSEHOLD });
    const ranked = rankCandidates(noah, [placeholder2, liamMerged({ order: 1 })], { includeNone: true });
    expect(ranked.map((r) => [r.patient.id, r.decision.grade])).toEqual([['bb2', 'certain'], ['liam', 'none']]);
  });

  it('a sibling of the other sex does not make the girl\'s placeholder ambiguous', () => {
    const babyGirl = hospital(['Baby', 'Girl'], { id: 'bg', gender: 'female', hospitalMrn: 'H-3' });
    const emma = patient({ given: ['Emma'], family: 'Smith', birthDate: DOB, gender: 'female', ...HOUSEHOLD });
    expect(rankCandidates(emma, [babyGirl, liamMerged()])[0]).toMatchObject({ patient: { id: 'bg' }, decision: { grade: 'certain' } });
  });

  it('a look-alike of another mother and household does not either', () => {
    const other = { phone: '(313) 555-0199', line: '400 Elm Avenue', city: 'Detroit', zip: '48201', mothersMaidenName: 'Nguyen' };
    const babyBoy = hospital(['Baby', 'Boy'], { id: 'bb', gender: 'male', hospitalMrn: 'H-4', ...other });
    const noah = patient({ given: ['Noah'], family: 'Smith', birthDate: DOB, gender: 'male', ...other });
    expect(rankCandidates(noah, [babyBoy, liamMerged()])[0]).toMatchObject({ patient: { id: 'bb' }, decision: { grade: 'certain' } });
  });

  it('two placeholders of one hospital (different MRNs) are two newborns, never one', () => {
    const a = hospital(['Baby', 'Boy'], { id: 'a', gender: 'male', hospitalMrn: 'H-5' });
    const b = hospital(['Baby', 'Boy'], { id: 'b', gender: 'male', hospitalMrn: 'H-6' });
    expect(comparePatients(a, b).grade).not.toBe('certain');
  });
});
