// String helpers of the matching engine: normal forms of names, digits and street lines; the
// Jaro-Winkler similarity (@skyra/jaro-winkler) and Double Metaphone codes (double-metaphone); a
// bounded optimal-string-alignment check for "one typo" (substitution, insertion, deletion or
// transposition of two neighbours). Pure and allocation-light: they run for every comparison.
import { jaroWinkler } from '@skyra/jaro-winkler';
import { doubleMetaphone } from 'double-metaphone';

/** Printable ASCII only: nothing to fold but case and punctuation. */
const PLAIN_ASCII = /^[\x20-\x7e]*$/;
const MARKS = /\p{M}+/gu;
const SPECIAL: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', ł: 'l', đ: 'd', þ: 'th', ı: 'i' };

/**
 * Lower case without accents (NFD, marks stripped, ß → ss, æ → ae …); whitespace, hyphens and
 * underscores become one space; any other punctuation is dropped (a stray `;` or `\` inside a
 * word is a typo, not a separator). Plain ASCII (nearly every value) takes one pass over the
 * characters instead of the Unicode work and four regular expressions: it runs for every name and
 * street of every candidate.
 */
export function foldName(value: string): string {
  if (PLAIN_ASCII.test(value)) return foldAscii(value, FOLD_KEEP_DIGITS);
  const out = value.toLowerCase().normalize('NFD').replace(MARKS, '').replace(/[ßæœøłđþı]/g, (c) => SPECIAL[c] ?? c);
  return out
    .replace(/[\s\-_\u2010-\u2014]+/g, ' ')
    .replace(/[^a-z0-9 ]+/g, '')
    .replace(/ {2,}/g, ' ')
    .trim();
}

// What each ASCII character becomes in a fold: kept (lower-cased), a separator, or dropped.
const KEEP = 0;
const SEPARATOR = 1;
const DROP = 2;
function asciiClasses(separators: string, keepDigits: boolean): Uint8Array {
  const classes = new Uint8Array(128).fill(DROP);
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    if (/[a-zA-Z]/.test(ch) || (keepDigits && /[0-9]/.test(ch))) classes[c] = KEEP;
    else if (/\s/.test(ch) || separators.includes(ch)) classes[c] = SEPARATOR;
  }
  return classes;
}
/** foldName's classes: whitespace, `-` and `_` separate; letters and digits are kept. */
const FOLD_KEEP_DIGITS = asciiClasses('-_', true);
/** nameKey's: as foldName, digits dropped too. */
const FOLD_LETTERS = asciiClasses('-_', false);
/** streetKey's: `.`, `,`, `#` and `/` separate words as well. */
const FOLD_STREET = asciiClasses('-_.,#/', true);

/** One pass over a plain-ASCII value: lower case, runs of separators as one space, no edge spaces. */
function foldAscii(value: string, classes: Uint8Array): string {
  let out = '';
  let pendingSpace = false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const cls = classes[code];
    if (cls === KEEP) {
      if (pendingSpace && out !== '') out += ' ';
      pendingSpace = false;
      out += code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : value[i];
    } else if (cls === SEPARATOR) {
      pendingSpace = true;
    }
  }
  return out;
}

/** Folded name with letters and single spaces only: `O'Brien-Núñez` → `obrien nunez`. */
export function nameKey(value: string | undefined): string {
  if (!value) return '';
  if (PLAIN_ASCII.test(value)) return foldAscii(value, FOLD_LETTERS);
  return foldName(value)
    .replace(/[^a-z ]+/g, '')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** Name key without spaces, for comparing compound names written with or without separators. */
export function squash(key: string): string {
  return key.includes(' ') ? key.replace(/ /g, '') : key;
}

/** Digits of a value (identifiers, phones, ZIP codes). */
export function digits(value: string | undefined): string {
  return value ? value.replace(/\D+/g, '') : '';
}

/** Upper-case letters and digits only (identifier values such as MRNs: `a-12 3` → `A123`). */
export function alnum(value: string | undefined): string {
  return value ? value.replace(/[^0-9A-Za-z]+/g, '').toUpperCase() : '';
}

/**
 * Characters of each value Jaro-Winkler compares. Its cost is the product of the two lengths (each
 * character of one is looked for in a window half as long as the other): two 32,000-character
 * surnames (a JSON string within JSON_MAX_STRING_LENGTH, a PID-5 of a 1 MB VXU) took seconds to
 * minutes of the event loop for every candidate compared. A name or street line is far shorter;
 * beyond this their beginnings decide.
 */
export const JARO_WINKLER_MAX_CHARACTERS = 100;

/** Jaro-Winkler similarity in 0..1 (1 = equal). Two empty strings are not similar. */
export function jw(a: string, b: string): number {
  if (a === '' || b === '') return 0;
  if (a === b) return 1;
  return jaroWinkler(a.slice(0, JARO_WINKLER_MAX_CHARACTERS), b.slice(0, JARO_WINKLER_MAX_CHARACTERS));
}

/**
 * True when a and b are equal or differ by one edit: one substitution, insertion, deletion, or a
 * transposition of two adjacent characters (optimal string alignment distance ≤ 1).
 */
export function withinOneEdit(a: string, b: string): boolean {
  if (a === b) return true;
  const la = a.length;
  const lb = b.length;
  if (Math.abs(la - lb) > 1) return false;
  let i = 0;
  while (i < la && i < lb && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (la === lb) {
    // substitution at i, or transposition of i and i+1
    if (a.slice(i + 1) === b.slice(i + 1)) return true;
    return i + 1 < la && a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
  }
  // one insertion/deletion at i
  return la > lb ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

const metaphoneCache = new Map<string, [string, string]>();

/** Double Metaphone codes [primary, alternate] of one word (letters only); cached. */
export function metaphone(word: string): [string, string] {
  let codes = metaphoneCache.get(word);
  if (codes === undefined) {
    const [p, s] = word === '' ? ['', ''] : doubleMetaphone(word);
    codes = [p, s];
    if (metaphoneCache.size > 50_000) metaphoneCache.clear();
    metaphoneCache.set(word, codes);
  }
  return codes;
}

/** Do two words sound alike (a Double Metaphone code in common)? */
export function soundsAlike(a: string, b: string): boolean {
  if (a === '' || b === '') return false;
  const [pa, sa] = metaphone(a);
  const [pb, sb] = metaphone(b);
  if (pa === '' || pb === '') return false;
  return pa === pb || pa === sb || sa === pb || (sa !== '' && sa === sb);
}

/** Phonetic blocking codes of a name key: primary and alternate codes of each word. */
export function phoneticCodes(key: string): string[] {
  const out: string[] = [];
  for (const word of key.split(' ')) {
    if (word.length < 2) continue;
    const [p, s] = metaphone(word);
    if (p && !out.includes(p)) out.push(p);
    if (s && !out.includes(s)) out.push(s);
  }
  return out;
}

// Street-line normal form: USPS suffix and direction abbreviations, so `12 North Oak Street` and
// `12 N Oak St` compare equal.
const STREET_WORDS = new Map<string, string>(Object.entries({
  street: 'st', str: 'st', avenue: 'ave', av: 'ave', avn: 'ave', lane: 'ln', place: 'pl', circle: 'cir',
  circ: 'cir', drive: 'dr', drv: 'dr', road: 'rd', court: 'ct', crt: 'ct', boulevard: 'blvd', blv: 'blvd',
  parkway: 'pkwy', pky: 'pkwy', highway: 'hwy', terrace: 'ter', trail: 'trl', way: 'wy', square: 'sq',
  apartment: 'apt', suite: 'ste', unit: 'unit', north: 'n', south: 's', east: 'e', west: 'w',
  northeast: 'ne', northwest: 'nw', southeast: 'se', southwest: 'sw', mount: 'mt', saint: 'st',
  fort: 'ft', point: 'pt', route: 'rte', post: 'po', office: 'ofc', box: 'box',
}));

/** Folded street line with USPS abbreviations: `52 Williamson Circle` → `52 williamson cir`. */
export function streetKey(line: string | undefined): string {
  if (!line) return '';
  const folded = PLAIN_ASCII.test(line) ? foldAscii(line, FOLD_STREET) : foldName(line.replace(/[.,#/]+/g, ' '));
  if (folded === '') return '';
  const words = folded.split(' ');
  for (let i = 0; i < words.length; i++) words[i] = STREET_WORDS.get(words[i]) ?? words[i];
  return words.join(' ');
}
