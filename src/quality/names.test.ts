import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isPlaceholderFamily,
  isPlaceholderGiven,
  isPlaceholderName,
  isTestName,
  isTestNameString,
  nameTokens,
} from './names.js';

describe('nameTokens', () => {
  it('splits camel case, digits, punctuation and strips diacritics', () => {
    expect(nameTokens('BabyBoySmith')).toEqual(['baby', 'boy', 'smith']);
    expect(nameTokens('Twin2')).toEqual(['twin', '2']);
    expect(nameTokens("O'Brien-Núñez")).toEqual(['o', 'brien', 'nunez']);
    expect(nameTokens(undefined)).toEqual([]);
  });
});

describe('isPlaceholderName: true positives', () => {
  const cases: Array<[{ family?: string; given?: string[]; text?: string }, string | undefined]> = [
    [{ family: 'Smith', given: ['Baby', 'Boy'] }, undefined],
    [{ family: 'Smith', given: ['Baby Girl'] }, undefined],
    [{ family: 'Smith', given: ['BabyGirl'] }, undefined],
    [{ family: 'Smith', given: ['BABYGIRL'] }, undefined],
    [{ family: 'Smith', given: ['BabyBoySmith'] }, undefined],
    [{ family: 'SMITH', given: ['BABYBOYSMITH'] }, undefined],
    [{ family: 'Smith', given: ['BabySmith'] }, undefined],
    [{ given: ['BabyBoySmith'] }, undefined],
    [{ family: 'Smith', given: ['Baby Girl A'] }, 'A'],
    [{ family: 'Smith', given: ['Baby', 'Girl', 'B'] }, 'B'],
    [{ family: 'Smith', given: ['Baby Boy 2'] }, '2'],
    [{ family: 'Smith', given: ['Baby A'] }, 'A'],
    [{ family: 'Smith', given: ['BabyA'] }, 'A'],
    [{ family: 'Smith', given: ['BABYGIRLB'] }, 'B'],
    [{ family: 'Smith', given: ['Baby'] }, undefined],
    [{ family: 'Smith', given: ['Newborn'] }, undefined],
    [{ family: 'Smith', given: ['Newborn Girl'] }, undefined],
    [{ family: 'Smith', given: ['Infant'] }, undefined],
    [{ family: 'Smith', given: ['Infant Boy'] }, undefined],
    [{ family: 'Smith', given: ['Boy'] }, undefined],
    [{ family: 'Smith', given: ['Girl'] }, undefined],
    [{ family: 'Smith', given: ['Male'] }, undefined],
    [{ family: 'Smith', given: ['Female'] }, undefined],
    [{ family: 'Smith', given: ['BB'] }, undefined],
    [{ family: 'Smith', given: ['BG'] }, undefined],
    [{ family: 'Smith', given: ['NB Girl'] }, undefined],
    [{ family: 'Smith', given: ['Twin A'] }, 'twin A'],
    [{ family: 'Smith', given: ['TWINB'] }, 'twin B'],
    [{ family: 'Smith', given: ['Baby Girl Twin 1'] }, 'twin 1'],
    [{ family: 'Smith', given: ['Triplet', 'C'] }, 'triplet C'],
    [{ family: 'Smith', given: ['Baby Boy Smith'] }, undefined],
    [{ family: 'Jones', given: ['Baby Boy Smith'] }, undefined],
    [{ family: 'Smith', given: ['Baby of Maria'] }, undefined],
    [{ family: 'Garcia', given: ['Bebé Niña'] }, undefined],
    [{ family: 'Smith', given: ['Baby_Boy'] }, undefined],
    [{ family: 'Smith', given: ['baby-girl'] }, undefined],
    [{ family: 'Smith', given: ['Unnamed'] }, undefined],
    [{ family: 'Baby Girl' }, undefined],
    [{ family: 'Baby', given: ['Girl'] }, undefined],
    [{ family: 'Newborn', given: ['Smith'] }, undefined],
    [{ family: 'BabyBoySmith' }, undefined],
    [{ text: 'Baby Boy Smith' }, undefined],
    [{ text: 'Infant' }, undefined],
  ];
  it.each(cases)('%j is a placeholder (birth order %s)', (name, birthOrder) => {
    const r = isPlaceholderName(name);
    expect(r.placeholder).toBe(true);
    expect(r.reason).toMatch(/temporary newborn name/);
    expect(r.birthOrder).toBe(birthOrder);
  });
});

describe('isPlaceholderName: false positives (real names)', () => {
  const names: Array<{ family?: string; given?: string[]; text?: string }> = [
    { family: 'Smith', given: ['Anna'] },
    { family: 'Smith', given: ['Babette'] },
    { family: 'Smith', given: ['Boyd'] },
    { family: 'Boyd', given: ['Anna'] },
    { family: 'Boyle', given: ['Girlie'] },
    { family: 'Babyak', given: ['John'] },
    { family: 'Infante', given: ['Maria'] },
    { family: 'Smith', given: ['Babak'] },
    { family: 'Smith', given: ['Babs'] },
    { family: 'Smith', given: ['Bebe'] },
    { family: 'Smith', given: ['Nina'] },
    { family: 'Smith', given: ['Niño'] },
    { family: 'Smith', given: ['Malena'] },
    { family: 'Smith', given: ['Maleah'] },
    { family: 'Smith', given: ['Femi'] },
    { family: 'Twining', given: ['Anna'] },
    { family: 'Smith', given: ['Twyla'] },
    { family: 'Smith', given: ['Anna', 'Baby'] },
    { family: 'Smith', given: ['Anna', 'B'] },
    { family: 'Smith', given: ['A'] },
    { family: 'Smith', given: ['Boy George'] },
    { family: 'Girling', given: ['Tom'] },
    { family: 'Boy', given: ['Anna'] },
    { family: 'Newbury', given: ['Anna'] },
    { family: 'Smith', given: ['Infanta'] },
    { family: 'Smith', given: ['Bea'] },
    { family: 'Smith', given: ['Abby'] },
    { family: 'Smith', given: ['Bobby'] },
    { text: 'Anna Smith' },
    {},
  ];
  it.each(names)('%j is not a placeholder', (name) => {
    expect(isPlaceholderName(name)).toEqual({ placeholder: false });
  });
});

describe('single-field helpers', () => {
  it('isPlaceholderGiven allows the surname inside the given name', () => {
    expect(isPlaceholderGiven('Baby Girl Smith', 'Smith').placeholder).toBe(true);
    expect(isPlaceholderGiven('Babette', 'Smith').placeholder).toBe(false);
  });
  it('isPlaceholderFamily flags Baby / Newborn / Infant surnames only as whole words', () => {
    expect(isPlaceholderFamily('Baby').placeholder).toBe(true);
    expect(isPlaceholderFamily('Baby Boy B').birthOrder).toBe('B');
    expect(isPlaceholderFamily('Babyak').placeholder).toBe(false);
    expect(isPlaceholderFamily('Infante').placeholder).toBe(false);
  });
});

describe('isTestName: true positives', () => {
  const names: Array<{ family?: string; given?: string[]; text?: string }> = [
    { family: 'Test', given: ['Anna'] },
    { family: 'Smith', given: ['Test'] },
    { family: 'Patient', given: ['Test'] },
    { family: 'TESTPATIENT', given: ['ANNA'] },
    { family: 'Smith', given: ['Test1'] },
    { family: 'Smith', given: ['John2'] },
    { family: 'Mouse', given: ['Mickey'] },
    { family: 'Duck', given: ['Donald'] },
    { family: 'Doe', given: ['Jane'] },
    { family: 'ZZSmith', given: ['Anna'] },
    { family: 'Zztest', given: ['Anna'] },
    { family: 'Asdf', given: ['Anna'] },
    { family: 'Smith', given: ['Qwerty'] },
    { family: 'Xxx', given: ['Anna'] },
    { family: 'Smith', given: ['aaaa'] },
    { family: 'Dummy', given: ['Anna'] },
    { family: 'Fake', given: ['Anna'] },
    { family: 'Unknown', given: ['Anna'] },
    { family: 'Smith', given: ['NFN'] },
    { family: 'Do Not Use', given: ['Anna'] },
    { family: 'Abcd', given: ['Anna'] },
    { text: 'Test Patient' },
  ];
  it.each(names)('%j is a test name', (name) => {
    const r = isTestName(name);
    expect(r.test).toBe(true);
    expect(r.reason).toBeTruthy();
  });
});

describe('isTestName: false positives (real names)', () => {
  const names: Array<{ family?: string; given?: string[]; text?: string }> = [
    { family: 'Smith', given: ['Anna'] },
    { family: 'Testa', given: ['Mario'] },
    { family: 'Tester', given: ['Anna'] },
    { family: 'Testerman', given: ['Bob'] },
    { family: 'Mouse', given: ['Anna'] },
    { family: 'Doe', given: ['Richard'] },
    { family: 'Duck', given: ['Anna'] },
    { family: 'Fakes', given: ['Anna'] },
    { family: 'Zeller', given: ['Zoe'] },
    { family: 'Lee', given: ['Stu'] },
    { family: 'Patiently', given: ['Anna'] },
    { family: "O'Brien-Núñez", given: ['José', 'María'] },
    { family: 'Nguyen', given: ['Ng'] },
    { family: 'Aaron', given: ['Aaliyah'] },
    { family: 'Smith', given: ['Baby Boy 2'] },
    { family: 'Smith', given: ['Twin 1'] },
    { family: 'Smith', given: ['Anna'], text: 'Anna Smith' },
  ];
  it.each(names)('%j is not a test name', (name) => {
    expect(isTestName(name)).toEqual({ test: false });
  });
  it('isTestNameString handles empty values', () => {
    expect(isTestNameString('')).toEqual({ test: false });
    expect(isTestNameString(undefined)).toEqual({ test: false });
  });
});

describe('nameTokens on plain words', () => {
  // nameTokens before its plain-words path: the reference for any value.
  const byReplaces = (value: string | undefined): string[] => {
    if (!value) return [];
    const ascii = /[^\x00-\x7f]/.test(value) ? value.normalize('NFKD').replace(/[\u0300-\u036f]/g, '') : value;
    const plain = ascii
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .replace(/([A-Za-z])(\d)/g, '$1 $2')
      .replace(/(\d)([A-Za-z])/g, '$1 $2')
      .toLowerCase();
    return plain.split(/[^a-z0-9]+/).filter((t) => t !== '');
  };
  const letters = fc.constantFrom(...'aAbBzZmMcCdD'.split(''));
  const chars = fc.constantFrom(...'aAzZ 1-\'.é\tÆ'.split(''));
  const word = fc.oneof(
    fc.constantFrom('Smith', 'SMITH', 'smith', 'McDonald', 'BabyBoy', 'Twin2', 'A', 'a', 'O', 'Ava', "O'Brien", 'José'),
    fc.array(letters, { minLength: 1, maxLength: 6 }).map((c) => c.join(''))
  );
  const value = fc.oneof(
    fc.array(word, { minLength: 1, maxLength: 4 }).chain((words) => fc.constantFrom(' ', '  ', '-', ', ').map((sep) => words.join(sep))),
    fc.array(chars, { maxLength: 12 }).map((c) => c.join('')),
    fc.string({ maxLength: 12 })
  );

  it('gives the tokens the replaces give, for any value', () => {
    fc.assert(
      fc.property(fc.option(value, { nil: undefined }), (v) => {
        expect(nameTokens(v)).toEqual(byReplaces(v));
      }),
      { numRuns: 3_000 }
    );
  });
});

describe('isTestNameString', () => {
  // Before its phrases were padded once and skipped for a single word: the reference for any value.
  const PHRASES = ['test patient', 'test case', 'test child', 'test baby', 'mickey mouse', 'minnie mouse', 'donald duck', 'daffy duck', 'bugs bunny', 'john doe', 'jane doe', 'do not use', 'not valid', 'no name', 'first name', 'last name'];
  const reference = (value: string | undefined) => {
    if (!value || value.trim() === '') return { test: false };
    if (/\d/.test(value)) return { test: true, reason: `"${value.trim()}" contains digits` };
    const raw = (/[^\x00-\x7f]/.test(value) ? value.normalize('NFKD').replace(/[\u0300-\u036f]/g, '') : value).toLowerCase();
    const words = raw.split(/[^a-z]+/).filter((t) => t !== '');
    const joined = ` ${words.join(' ')} `;
    for (const phrase of PHRASES) if (joined.includes(` ${phrase} `)) return { test: true, reason: `"${phrase}" looks like test data` };
    return undefined; // the token checks are the same code on both sides
  };
  const word = fc.constantFrom('test', 'Patient', 'MICKEY', 'mouse', 'Doe', 'john', 'not', 'valid', 'do', 'use', 'no', 'name', 'first', 'Last', 'Ava', 'Smith', 'zzsmith', 'asdf', 'José', 'x', 'baby');
  const value = fc.oneof(
    fc.array(word, { minLength: 1, maxLength: 4 }).chain((words) => fc.constantFrom(' ', '  ', '-', ', ', '.').map((sep) => words.join(sep))),
    fc.string({ maxLength: 14 })
  );

  it('finds the phrases the reference finds, with the same reason (fast-check)', () => {
    let phrases = 0;
    fc.assert(
      fc.property(fc.option(value, { nil: undefined }), (v) => {
        const expected = reference(v);
        const got = isTestNameString(v);
        if (expected) {
          if (expected.test && /looks like test data/.test(expected.reason ?? '')) phrases++;
          expect(got).toEqual(expected);
        } else {
          expect(got.reason ?? '').not.toMatch(/looks like test data|contains digits/);
        }
      }),
      { numRuns: 3_000 }
    );
    expect(phrases).toBeGreaterThan(20);
  });
});
