// fold() answers ASCII texts that lower-casing alone folds (most names and addresses) without its
// replaces, and foldedWithWords() takes each later word on as a tail of the folded text instead of
// splitting and joining; both must give exactly what the general steps give (the references below
// are the functions as they were before those shortcuts) for every string: mixed case, separators
// of every kind and run length, apostrophes, leading and trailing blanks, accents, special letters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold, foldedWithWords, MAX_LATER_WORDS_INDEXED } from './util.js';

const MARKS = /\p{M}+/gu;
const SEPARATORS = /[^\p{L}\p{N}]+/gu;
const APOSTROPHES = /[’'`´ʼ]/gu;

function foldReference(value: string): string {
  if (/^[a-z0-9 ]*$/.test(value) && !value.includes('  ') && value.trim() === value) return value;
  let out = /^[\x00-\x7f]*$/.test(value) ? value.toLowerCase() : value.normalize('NFD').replace(MARKS, '').toLowerCase();
  if (/[ßæœøłđþı]/.test(out)) {
    out = out.replace(/ß/g, 'ss').replace(/æ/g, 'ae').replace(/œ/g, 'oe').replace(/ø/g, 'o').replace(/ł/g, 'l').replace(/đ/g, 'd').replace(/þ/g, 'th').replace(/ı/g, 'i');
  }
  return out.replace(APOSTROPHES, '').replace(SEPARATORS, ' ').trim();
}

function foldedWithWordsReference(value: string): string[] {
  const f = foldReference(value);
  if (f === '') return [];
  const words = f.split(' ');
  if (words.length === 1) return [f];
  const out = [f];
  for (let i = 1; i < Math.min(words.length, MAX_LATER_WORDS_INDEXED + 1); i++) out.push(words.slice(i).join(' '));
  out.push(words.join(''));
  return out;
}

/** Texts made of the characters that take each branch: letters of both cases, digits, blanks, separators, apostrophes, accents, special letters. */
const text = fc.oneof(
  fc.string(),
  fc.array(fc.constantFrom('a', 'Z', 'q', '0', '7', ' ', ' ', '  ', '\t', '\n', '-', '.', ',', "'", '`', '’', 'é', 'É', 'ß', 'Æ', 'ı', '٣', '\u0301', '\u00a0', '_', '/')).map((chars) => chars.join('')),
  fc.array(fc.constantFrom('a', 'b', 'S', 'T', '1', ' ', '-')).map((chars) => chars.join('')),
  fc.constantFrom('Smith', '2901 Miller St', 'Isabella Millermidakalo', ' smith', 'smith ', 'smith  jones', "O'Brien", 'St. John', 'José', 'Smith-Jones', '')
);

describe('fold and foldedWithWords', () => {
  it('give what the general steps give', () => {
    fc.assert(
      fc.property(text, (value) => {
        expect(fold(value)).toBe(foldReference(value));
        expect(foldedWithWords(value)).toEqual(foldedWithWordsReference(value));
      }),
      { numRuns: 20000 }
    );
  });
});

describe('foldedWithWords of hostile values', () => {
  it('indexes at most MAX_LATER_WORDS_INDEXED later words: 16,000 words are not 16,000 tails (words × length)', () => {
    const value = 'a '.repeat(16_000) + 'z';
    const started = performance.now();
    const folded = foldedWithWords(value);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(folded.length).toBe(18);
    expect(folded.reduce((sum, entry) => sum + entry.length, 0)).toBeLessThan(value.length * (MAX_LATER_WORDS_INDEXED + 3));
    expect(folded[1]).toBe(folded[0].slice(2));
    expect(folded.at(-1)).toBe('a'.repeat(16_000) + 'z');
  });

  it('a value of 17 words keeps every later word', () => {
    const words = Array.from({ length: MAX_LATER_WORDS_INDEXED + 1 }, (_, i) => `w${i}`);
    expect(foldedWithWords(words.join(' '))).toEqual(foldedWithWordsReference(words.join(' ')));
    expect(foldedWithWords(words.join(' '))).toContain(`w${MAX_LATER_WORDS_INDEXED}`);
  });
});
