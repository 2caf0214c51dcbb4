import { describe, expect, it } from 'vitest';
import {
  compareAddress,
  compareBirthDate,
  compareFamily,
  compareFirst,
  compareIdentifiers,
  compareMiddle,
  compareMothersMaidenName,
  comparePhone,
  compareSex,
  compareSuffix,
  nameRelation,
} from './comparators.js';
import { features } from './features.js';
import { isNickname } from './nicknames.js';
import { foldName, jw, nameKey, soundsAlike, squash, streetKey, withinOneEdit } from './strings.js';
import { patient } from './test-patients.js';
import type { HumanName } from '@medplum/fhirtypes';

const f = (spec: Parameters<typeof patient>[0]) => features(patient(spec));
const named = (...names: HumanName[]) => features(patient({ names }));

describe('string helpers', () => {
  it('nameKey folds case, accents, punctuation and separators', () => {
    expect(nameKey("O'Brien-Núñez")).toBe('obrien nunez');
    expect(nameKey('Henrik\\')).toBe('henrik');
    expect(nameKey('  Mary   Ellen ')).toBe('mary ellen');
  });

  it('withinOneEdit: substitution, insertion, deletion, adjacent transposition', () => {
    expect(withinOneEdit('john', 'john')).toBe(true);
    expect(withinOneEdit('jon', 'john')).toBe(true);
    expect(withinOneEdit('john', 'jhon')).toBe(true);
    expect(withinOneEdit('zoia', 'zoila')).toBe(true);
    expect(withinOneEdit('smith', 'smyth')).toBe(true);
    expect(withinOneEdit('smith', 'smiht')).toBe(true);
    expect(withinOneEdit('smith', 'msith')).toBe(true);
    expect(withinOneEdit('smith', 'smoth2')).toBe(false);
    expect(withinOneEdit('abcd', 'badc')).toBe(false);
    expect(withinOneEdit('20110630', '20110603')).toBe(true);
  });

  it('Jaro-Winkler and Double Metaphone', () => {
    expect(jw('martha', 'marhta')).toBeCloseTo(0.961, 3);
    expect(jw('', '')).toBe(0);
    expect(soundsAlike('smith', 'smyth')).toBe(true);
    expect(soundsAlike('catherine', 'kathryn')).toBe(true);
    expect(soundsAlike('smith', 'jones')).toBe(false);
  });

  it('streetKey abbreviates USPS words', () => {
    expect(streetKey('12 North Oak Street')).toBe('12 n oak st');
    expect(streetKey('12 N. Oak St')).toBe('12 n oak st');
  });
});

describe('names', () => {
  it('nameRelation answers what the plain definition does (its shortcuts change no answer)', () => {
    // The definition before the shortcuts (squash and split every pair, Jaro-Winkler always).
    const plain = (a: string, b: string) => {
      if (a === b || squash(a) === squash(b)) return 'exact';
      if (a.length === 1 || b.length === 1) return a[0] === b[0] ? 'initial' : 'none';
      if (isNickname(a, b)) return 'nickname';
      const ta = a.split(' ');
      const tb = b.split(' ');
      if ((ta.length > 1 || tb.length > 1) && (ta.every((t) => tb.includes(t)) || tb.every((t) => ta.includes(t)))) return 'compound';
      const sa = squash(a);
      const sb = squash(b);
      if (Math.min(sa.length, sb.length) >= 4 && withinOneEdit(sa, sb)) return 'typo';
      const sim = jw(sa, sb);
      if (sim >= 0.92 && Math.min(sa.length, sb.length) >= 4) return 'typo';
      if (sim >= 0.8 && soundsAlike(sa, sb)) return 'phonetic';
      const [short, long] = sa.length < sb.length ? [sa, sb] : [sb, sa];
      return short.length >= 3 && long.length > short.length && long.startsWith(short) ? 'prefix' : 'none';
    };
    const names = ['mary ellen', 'maryellen', 'mary', 'ellen mary', 'william', 'bill', 'will', 'smith jones', 'jones', 'smith', 'smyth',
      'jon', 'john', 'jo', 'joe', 'catherine', 'kathryn', 'katherine', 'a', 'ann', 'anne', 'an', 'steven', 'stephen', 'x', 'li', 'lee', 'leigh',
      'ng', 'nguyen', 'mc donald', 'mcdonald', 'de la cruz', 'cruz', 'ty', 'tie', 'kai', 'kay', 'liam', 'lima', 'al', 'ali', 'eli',
      'fran', 'francesca', 'je', 'jemma', 'salihah', 'seilihah', 'thor', 'thorfinn'];
    const kinds = new Set<string>();
    for (const a of names) {
      for (const b of names) {
        const rel = nameRelation(a, b);
        kinds.add(rel);
        expect(rel, `${a} / ${b}`).toBe(plain(a, b));
      }
    }
    expect([...kinds].sort()).toEqual(['compound', 'exact', 'initial', 'nickname', 'none', 'phonetic', 'prefix', 'typo']);
  });

  it('nameRelation recognises the kinds of variants', () => {
    expect(nameRelation('mary ellen', 'maryellen')).toBe('exact');
    expect(nameRelation('william', 'bill')).toBe('nickname');
    expect(nameRelation('smith jones', 'jones')).toBe('compound');
    expect(nameRelation('catherine', 'catherina')).toBe('typo');
    expect(nameRelation('j', 'john')).toBe('initial');
    // vowels written differently (Jaro-Winkler 0.83, the same Double Metaphone codes)
    expect(nameRelation('salihah', 'seilihah')).toBe('phonetic');
    // a name cut short: three letters or more
    expect(nameRelation('fran', 'francesca')).toBe('prefix');
    expect(nameRelation('lac', 'lacey')).not.toBe('none');
    expect(nameRelation('je', 'jemma')).toBe('none');
    expect(nameRelation('john', 'peter')).toBe('none');
  });

  it('first names: exact, typo, nickname, initial, conflict', () => {
    expect(compareFirst(f({ given: ['John'] }), f({ given: ['JOHN'] })).outcome).toBe('agree');
    // (Jonathon ~ Jonathan is in the nickname data set; a spelling variant outside it:)
    expect(compareFirst(f({ given: ['Markus'] }), f({ given: ['Marcus'] }))).toMatchObject({ outcome: 'partial', kind: 'typo' });
    expect(compareFirst(f({ given: ['Bill'] }), f({ given: ['William'] }))).toMatchObject({ outcome: 'partial', kind: 'nickname' });
    expect(compareFirst(f({ given: ['J'] }), f({ given: ['John'] }))).toMatchObject({ outcome: 'partial', kind: 'initial' });
    expect(compareFirst(f({ given: ['John'] }), f({ given: ['Peter'] })).outcome).toBe('conflict');
  });

  it('first/middle swap and a first name recorded as middle', () => {
    const swapped = compareFirst(f({ given: ['Coltin', 'Prayag'] }), f({ given: ['Prayag', 'Coltin'] }));
    expect(swapped).toMatchObject({ outcome: 'partial', kind: 'swap' });
    expect(compareMiddle(f({ given: ['Coltin', 'Prayag'] }), f({ given: ['Prayag', 'Coltin'] }), true).outcome).toBe('partial');
    const noFirst = features(patient({ names: [{ given: ['Rawnie'], family: 'X' }] }));
    const middleOnly = { ...noFirst, firsts: [], middles: ['rawnie'] };
    expect(compareFirst(middleOnly, f({ given: ['Rawnie'] }))).toMatchObject({ outcome: 'partial', kind: 'swap' });
  });

  it('first and family names written in each other\'s place: a partial agreement on both, not a different first name', () => {
    const a = f({ given: ['Tierra'], family: 'Henderson' });
    const b = f({ given: ['Henderson'], family: 'Tierra' });
    expect(compareFirst(a, b)).toMatchObject({ outcome: 'partial', kind: 'swapFamily' });
    expect(compareFamily(a, b)).toMatchObject({ outcome: 'partial', kind: 'swapFirst' });
    // one side only (a first name that happens to be the other's surname) is no swap
    expect(compareFirst(a, f({ given: ['Henderson'], family: 'Smith' })).outcome).toBe('conflict');
  });

  it('a placeholder first name is missing information, not a mismatch', () => {
    const r = compareFirst(named({ given: ['Baby', 'Boy'], family: 'Smith' }), f({ given: ['Liam'], family: 'Smith' }));
    expect(r.outcome).toBe('missing');
    expect(r.weight).toBe(0);
    expect(r.detail).toMatch(/Baby Boy/);
  });

  it('nicknames (use: nickname) count as first names', () => {
    const withAlias = named({ use: 'official', given: ['Robert'], family: 'Hall' }, { use: 'nickname', given: ['Robin'] });
    expect(compareFirst(withAlias, f({ given: ['Robin'] })).outcome).toBe('agree');
  });

  it('middle names: exact, initial, conflict', () => {
    expect(compareMiddle(f({ given: ['A', 'Marie'] }), f({ given: ['A', 'Marie'] }), false).outcome).toBe('agree');
    expect(compareMiddle(f({ given: ['A', 'M'] }), f({ given: ['A', 'Marie'] }), false).outcome).toBe('partial');
    expect(compareMiddle(f({ given: ['A', 'Anne'] }), f({ given: ['A', 'Marie'] }), false).outcome).toBe('conflict');
    expect(compareMiddle(f({ given: ['A'] }), f({ given: ['A', 'Marie'] }), false).outcome).toBe('missing');
  });

  it('family names: hyphenated and compound, typo, phonetic, conflict', () => {
    expect(compareFamily(f({ family: 'Olsen Lee' }), f({ family: 'Olsen-Lee' })).outcome).toBe('agree');
    expect(compareFamily(f({ family: 'Hygens-Gunnerson' }), f({ family: 'Hygens' }))).toMatchObject({ outcome: 'partial', kind: 'compound' });
    expect(compareFamily(f({ family: 'Gunnerson Hygens' }), f({ family: 'Hygens' }))).toMatchObject({ outcome: 'partial', kind: 'compound' });
    expect(compareFamily(f({ family: 'Johnson' }), f({ family: 'Jonson' }))).toMatchObject({ outcome: 'partial', kind: 'typo' });
    expect(compareFamily(f({ family: 'Smith' }), f({ family: 'Jones' })).outcome).toBe('conflict');
  });

  it("a newborn's placeholder surname against the mother's maiden name: partial", () => {
    const baby = named({ given: ['Baby', 'Girl'], family: 'Lopez' });
    const legal = f({ given: ['Sofia'], family: 'Martinez', mothersMaidenName: 'Lopez' });
    expect(compareFamily(baby, legal)).toMatchObject({ outcome: 'partial', kind: 'mother' });
    // without that link the conflict is weaker for a newborn than for two legal names
    const plain = compareFamily(baby, f({ given: ['Sofia'], family: 'Martinez' }));
    const adults = compareFamily(f({ given: ['Ana'], family: 'Lopez' }), f({ given: ['Ana'], family: 'Martinez' }));
    expect(plain.outcome).toBe('conflict');
    expect(plain.weight).toBeGreaterThan(adults.weight);
  });

  it('suffixes', () => {
    const jr = named({ given: ['John'], family: 'Smith', suffix: ['Jr.'] });
    const sr = named({ given: ['John'], family: 'Smith', suffix: ['Sr'] });
    expect(compareSuffix(jr, named({ given: ['John'], family: 'Smith', suffix: ['JR'] })).outcome).toBe('agree');
    expect(compareSuffix(jr, sr).outcome).toBe('conflict');
    expect(compareSuffix(jr, f({ given: ['John'] })).outcome).toBe('missing');
  });
});

describe('birth date', () => {
  const dob = (birthDate: string) => f({ birthDate });
  it('exact', () => expect(compareBirthDate(dob('2011-07-01'), dob('2011-07-01')).outcome).toBe('agree'));
  it('day and month swapped', () => expect(compareBirthDate(dob('2011-07-03'), dob('2011-03-07'))).toMatchObject({ outcome: 'partial', kind: 'swap' }));
  it('year off by one', () => expect(compareBirthDate(dob('2011-07-01'), dob('2012-07-01'))).toMatchObject({ outcome: 'partial', kind: 'year' }));
  it('one day apart (across a month end)', () => expect(compareBirthDate(dob('2011-06-30'), dob('2011-07-01'))).toMatchObject({ outcome: 'partial', kind: 'day' }));
  it('one digit typo', () => expect(compareBirthDate(dob('2011-07-01'), dob('2011-07-21'))).toMatchObject({ outcome: 'partial', kind: 'digit' }));
  it('different', () => expect(compareBirthDate(dob('2011-07-01'), dob('2009-02-17')).outcome).toBe('conflict'));
  it('missing', () => expect(compareBirthDate(dob('2011-07-01'), f({})).outcome).toBe('missing'));
  it('reduced precision agrees as far as it goes', () => expect(compareBirthDate(dob('2011-07'), dob('2011-07-01')).outcome).toBe('partial'));
});

describe('other fields', () => {
  it('sex', () => {
    expect(compareSex(f({ gender: 'male' }), f({ gender: 'male' })).outcome).toBe('agree');
    expect(compareSex(f({ gender: 'male' }), f({ gender: 'female' })).outcome).toBe('conflict');
    expect(compareSex(f({ gender: 'unknown' }), f({ gender: 'female' })).outcome).toBe('missing');
  });

  it('SSN: same, typo, different; junk SSNs ignored', () => {
    expect(compareIdentifiers(f({ ssn: '123-45-6780' }), f({ ssn: '123456780' }), 'ssn').outcome).toBe('agree');
    expect(compareIdentifiers(f({ ssn: '123456780' }), f({ ssn: '123456708' }), 'ssn').outcome).toBe('partial');
    expect(compareIdentifiers(f({ ssn: '123456780' }), f({ ssn: '987650000' }), 'ssn').outcome).toBe('conflict');
    expect(compareIdentifiers(f({ ssn: '999999999' }), f({ ssn: '123456780' }), 'ssn').outcome).toBe('missing');
  });

  it('MRNs compare only within one assigner', () => {
    expect(compareIdentifiers(f({ hospitalMrn: 'H-1' }), f({ hospitalMrn: 'h1' }), 'mrn').outcome).toBe('agree');
    expect(compareIdentifiers(f({ hospitalMrn: 'H-1' }), f({ hospitalMrn: 'H-2' }), 'mrn').outcome).toBe('conflict');
    expect(compareIdentifiers(f({ hospitalMrn: 'H-1' }), f({ clinicMrn: 'H-1' }), 'mrn').outcome).toBe('missing');
  });

  it('phones: same, area code changed, different', () => {
    expect(comparePhone(f({ phone: '(517) 555-0134' }), f({ phone: '+1 517 555 0134' })).outcome).toBe('agree');
    expect(comparePhone(f({ phone: '(517) 555-0134' }), f({ phone: '(616) 555-0134' })).outcome).toBe('partial');
    expect(comparePhone(f({ phone: '(517) 555-0134' }), f({ phone: '(517) 555-9999' })).outcome).toBe('conflict');
  });

  it('addresses: abbreviations, typos, ZIP only, different', () => {
    const home = f({ line: '12 North Oak Street', city: 'Lansing', zip: '48909' });
    expect(compareAddress(home, f({ line: '12 N Oak St', city: 'Lansing', zip: '48909-1234' })).outcome).toBe('agree');
    expect(compareAddress(home, f({ line: '12 N Oka St', city: 'Lansing', zip: '48909' })).outcome).toBe('agree');
    expect(compareAddress(home, f({ line: '12 N Oak St', city: 'Grand Rapids', zip: '49503' })).outcome).toBe('partial');
    expect(compareAddress(home, f({ city: 'Lansing', zip: '48909' }))).toMatchObject({ outcome: 'partial', weight: 0.5 });
    expect(compareAddress(home, f({ line: '400 Elm Ave', city: 'Detroit', zip: '48201' })).outcome).toBe('conflict');
  });

  it("mother's maiden name", () => {
    expect(compareMothersMaidenName(f({ mothersMaidenName: 'García' }), f({ mothersMaidenName: 'GARCIA' })).outcome).toBe('agree');
    expect(compareMothersMaidenName(f({ mothersMaidenName: 'Garcia' }), f({ mothersMaidenName: 'Garcya' })).outcome).toBe('partial');
    expect(compareMothersMaidenName(f({ mothersMaidenName: 'Garcia' }), f({ mothersMaidenName: 'Nguyen' })).outcome).toBe('conflict');
  });
});

describe('name folding', () => {
  it('ASCII and Unicode paths agree; stray punctuation inside a word is dropped', () => {
    expect(foldName('JOSÉ Núñez-Ærø')).toBe('jose nunez aero');
    expect(foldName('Straße')).toBe('strasse');
    expect(foldName("D'Angelo_van  der-Berg")).toBe('dangelo van der berg');
    expect(nameKey('Zoi;a')).toBe('zoia');
    expect(nameKey('COFFIN, III')).toBe('coffin iii');
    expect(streetKey('37 Snyder ;n')).toBe('37 snyder n');
  });
});
