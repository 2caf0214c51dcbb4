// The one-pass ASCII folds of strings.ts (foldName, nameKey, streetKey) give exactly what the
// regular-expression pipeline they replace gives (kept below as the reference), on random ASCII
// made of letters, digits, spaces and punctuation, and on the non-ASCII path.
import { describe, expect, it } from 'vitest';
import { foldName, jw, nameKey, streetKey } from './strings.js';

function referenceFold(value: string): string {
  return value
    .toLowerCase()
    .replace(/[\s\-_\u2010-\u2014]+/g, ' ')
    .replace(/[^a-z0-9 ]+/g, '')
    .replace(/ {2,}/g, ' ')
    .trim();
}
const referenceNameKey = (value: string) => referenceFold(value).replace(/[^a-z ]+/g, '').replace(/ {2,}/g, ' ').trim();
const referenceStreetWords = (value: string) => referenceFold(value.replace(/[.,#/]+/g, ' ')).split(' ').filter((w) => w !== '');

describe('one-pass ASCII folds', () => {
  // A fixed linear congruential generator: the same strings on every run.
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const alphabet = "aZbY09 -_.,#/'\\;:()&!?~`\"";
  const randomAscii = () => Array.from({ length: Math.floor(next() * 14) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');

  it('foldName and nameKey agree with the regular-expression pipeline', () => {
    for (let i = 0; i < 5000; i++) {
      const value = randomAscii();
      expect(foldName(value), JSON.stringify(value)).toBe(referenceFold(value));
      expect(nameKey(value), JSON.stringify(value)).toBe(referenceNameKey(value));
    }
  });

  it('streetKey splits on the same characters (abbreviations applied word by word)', () => {
    for (let i = 0; i < 5000; i++) {
      const value = randomAscii();
      // Only the word boundaries are compared here: none of these random words is an abbreviated street word.
      expect(streetKey(value).split(' ').filter((w) => w !== ''), JSON.stringify(value)).toEqual(referenceStreetWords(value));
    }
    expect(streetKey(' 52 Williamson  Circle, Apt #4 ')).toBe('52 williamson cir apt 4');
    expect(streetKey('12 N. Oak St./Unit 3')).toBe('12 n oak st unit 3');
    expect(streetKey('.,#')).toBe('');
  });

  it('non-ASCII values still fold accents and special letters', () => {
    expect(foldName('Núñez\u00a0Groß')).toBe('nunez gross');
    expect(nameKey('Ørsted-Łukasz 2')).toBe('orsted lukasz');
    expect(streetKey('12 Straße\tNord')).toBe('12 strasse nord');
    expect(nameKey('Mary\tEllen')).toBe('mary ellen');
  });
});

describe('Jaro-Winkler of hostile lengths', () => {
  it('two 200,000-character names are compared in far less than a second (the cost is not the product of the lengths)', () => {
    const a = 'doe' + 'a'.repeat(200_000);
    const b = 'doe' + 'a'.repeat(199_999) + 'b';
    const started = performance.now();
    const similarity = jw(a, b);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(similarity).toBeGreaterThan(0.9);
    expect(jw('martha', 'marhta')).toBeCloseTo(0.961, 3);
  });
});
