// Small pure helpers shared by extraction (write time) and compilation (query time): string
// folding, regex escaping, FHIR date/dateTime/instant → UTC range, order-preserving number keys.
// Index and query sides must normalise identically, so both import from here.

/** Smallest and largest instants used for open Period ends and `:missing`-free comparisons. */
export const MIN_INSTANT = '0001-01-01T00:00:00.000Z';
export const MAX_INSTANT = '9999-12-31T23:59:59.999Z';

const MARKS = /\p{M}+/gu;
/** Anything that is not a letter or digit separates words. */
const SEPARATORS = /[^\p{L}\p{N}]+/gu;
const APOSTROPHES = /[’'`´ʼ]/gu;

/**
 * Case-, accent- and separator-folded form of a string: NFD, strip combining marks, lower-case,
 * special letters mapped (ß→ss, æ→ae, ø→o, ł→l, đ→d, þ→th), apostrophes dropped, every other run
 * of non-letters/digits (spaces, hyphens, commas, dots…) collapsed to one space, trimmed.
 * `José` → `jose`, `Smith-Jones` → `smith jones`, `O'Brien` → `obrien`, `St. John` → `st john`.
 */
const PLAIN_ASCII = /^[a-z0-9 ]*$/;
const ASCII = /^[\x00-\x7f]*$/;

export function fold(value: string): string {
  if (PLAIN_ASCII.test(value) && !value.includes('  ') && value.trim() === value) return value;
  if (ASCII.test(value)) {
    // ASCII holds none of the special letters; when lower-casing alone leaves a plain folded text
    // (`Smith`, `2901 Miller St`: most names and addresses) the replaces below would change nothing.
    const lower = value.toLowerCase();
    if (PLAIN_ASCII.test(lower) && !lower.includes('  ') && lower.trim() === lower) return lower;
    return lower.replace(APOSTROPHES, '').replace(SEPARATORS, ' ').trim();
  }
  let out = value.normalize('NFD').replace(MARKS, '').toLowerCase();
  if (/[ßæœøłđþı]/.test(out)) {
    out = out
      .replace(/ß/g, 'ss')
      .replace(/æ/g, 'ae')
      .replace(/œ/g, 'oe')
      .replace(/ø/g, 'o')
      .replace(/ł/g, 'l')
      .replace(/đ/g, 'd')
      .replace(/þ/g, 'th')
      .replace(/ı/g, 'i');
  }
  return out.replace(APOSTROPHES, '').replace(SEPARATORS, ' ').trim();
}

/**
 * Later words of a value indexed for word-start matching: the 2nd to the 17th. Each is a tail of
 * the value, so indexing all of them costs words × length: a 32,000-character family name of
 * 16,000 one-letter words (within JSON_MAX_STRING_LENGTH; a VXU's `\C\C\C…` surname the same)
 * made 16,000 tails, half a gigabyte, and the server ran out of memory and stopped. Names, address
 * lines and code texts have far fewer words.
 */
export const MAX_LATER_WORDS_INDEXED = 16;

/**
 * Folded value, each later word of it (`smith jones` → also `jones`; up to MAX_LATER_WORDS_INDEXED)
 * for word-start matching, and the words run together (`smithjones`, so `AB12` finds lot `AB-12`).
 */
export function foldedWithWords(value: string): string[] {
  const f = fold(value);
  if (f === '') return [];
  // A folded text's words are separated by single spaces (none leading or trailing), so each later
  // word on is a tail of it: no split and join per word.
  let space = f.indexOf(' ');
  if (space < 0) return [f];
  const out = [f];
  let together = f.slice(0, space);
  while (space >= 0) {
    const next = f.indexOf(' ', space + 1);
    if (out.length <= MAX_LATER_WORDS_INDEXED) out.push(f.slice(space + 1));
    together += next < 0 ? f.slice(space + 1) : f.slice(space + 1, next);
    space = next;
  }
  out.push(together);
  return out;
}

/** Escapes every regex metacharacter so user input is matched literally. */
export function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

export interface DateRange {
  lo: string;
  hi: string;
}

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function utcMillis(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  const date = new Date(0);
  date.setUTCFullYear(y, mo, d);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The UTC instant range a FHIR date, dateTime or instant covers, by its precision: `2020` is the
 * whole year, `2020-05` the month, `2020-05-01` the day, `…T10:00` the minute, `…T10:00:00` the
 * second, fractions to their digits (ms at most). Values without a time zone are read as UTC (the
 * server's time zone). Both bounds inclusive, millisecond resolution. Undefined when malformed.
 */
export function dateRange(value: string): DateRange | undefined {
  return plainDateRange(value) ?? dateRangeByParts(value);
}

/** Digit value of the character at i, or -1 (no allocation: charCodeAt). */
function digitAt(value: string, i: number): number {
  const c = value.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

function number2(value: string, i: number): number {
  const a = digitAt(value, i);
  const b = digitAt(value, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

function daysInMonth(y: number, mo: number): number {
  if (mo === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  return mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
}

/**
 * The two shapes nearly every stored date has, answered without Date objects (index extraction
 * runs this for every date of every write): a valid day `YYYY-MM-DD` (its whole UTC day) and a valid
 * UTC instant with milliseconds `YYYY-MM-DDThh:mm:ss.sssZ` (that instant: it is already the
 * canonical ISO text). Years from 0001 only (0000 is clamped by the general path). Undefined for
 * anything else, which `dateRangeByParts` answers; util.test.ts compares the two with fast-check.
 */
function plainDateRange(value: string): DateRange | undefined {
  const length = value.length;
  if ((length !== 10 && length !== 24) || value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45) return undefined;
  const y1 = number2(value, 0);
  const y2 = number2(value, 2);
  const mo = number2(value, 5);
  const d = number2(value, 8);
  if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1) return undefined;
  const y = y1 * 100 + y2;
  if (y === 0 || d > daysInMonth(y, mo)) return undefined;
  if (length === 10) return { lo: `${value}T00:00:00.000Z`, hi: `${value}T23:59:59.999Z` };
  if (value.charCodeAt(10) !== 84 || value.charCodeAt(13) !== 58 || value.charCodeAt(16) !== 58 || value.charCodeAt(19) !== 46 || value.charCodeAt(23) !== 90) {
    return undefined;
  }
  const h = number2(value, 11);
  const mi = number2(value, 14);
  const s = number2(value, 17);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 || digitAt(value, 20) < 0 || digitAt(value, 21) < 0 || digitAt(value, 22) < 0) return undefined;
  return { lo: value, hi: value };
}

/** dateRange of any form, from its parts (exported for util.test.ts: the reference for plainDateRange). */
export function dateRangeByParts(value: string): DateRange | undefined {
  const m = DATE_RE.exec(value);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = m[2] === undefined ? undefined : Number(m[2]);
  const d = m[3] === undefined ? undefined : Number(m[3]);
  const h = m[4] === undefined ? undefined : Number(m[4]);
  const mi = m[5] === undefined ? undefined : Number(m[5]);
  const s = m[6] === undefined ? undefined : Number(m[6]);
  const frac = m[7];
  const tz = m[8];
  if (mo !== undefined && (mo < 1 || mo > 12)) return undefined;
  if (d !== undefined) {
    const check = new Date(utcMillis(y, (mo ?? 1) - 1, d, 0, 0, 0, 0));
    if (d < 1 || check.getUTCDate() !== d) return undefined;
  }
  if (h !== undefined && (h > 24 || (h === 24 && (mi !== 0 || (s ?? 0) !== 0)))) return undefined;
  if (mi !== undefined && mi > 59) return undefined;
  if (s !== undefined && s > 60) return undefined;
  let offsetMs = 0;
  if (tz && tz !== 'Z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const oh = Number(tz.slice(1, 3));
    const om = Number(tz.slice(4, 6));
    if (oh > 14 || om > 59) return undefined;
    offsetMs = sign * (oh * 60 + om) * 60000;
  }
  let lo: number;
  let hi: number;
  if (mo === undefined) {
    lo = utcMillis(y, 0, 1, 0, 0, 0, 0);
    hi = utcMillis(y + 1, 0, 1, 0, 0, 0, 0) - 1;
  } else if (d === undefined) {
    lo = utcMillis(y, mo - 1, 1, 0, 0, 0, 0);
    hi = utcMillis(y, mo, 1, 0, 0, 0, 0) - 1;
  } else if (h === undefined) {
    lo = utcMillis(y, mo - 1, d, 0, 0, 0, 0);
    hi = utcMillis(y, mo - 1, d + 1, 0, 0, 0, 0) - 1;
  } else if (s === undefined) {
    lo = utcMillis(y, mo - 1, d, h, mi ?? 0, 0, 0) - offsetMs;
    hi = lo + 60000 - 1;
  } else if (frac === undefined) {
    lo = utcMillis(y, mo - 1, d, h, mi ?? 0, Math.min(s, 59), 0) - offsetMs;
    hi = lo + 1000 - 1;
  } else {
    const digits = frac.length;
    const ms = Number(frac.slice(0, 3).padEnd(3, '0'));
    lo = utcMillis(y, mo - 1, d, h, mi ?? 0, Math.min(s, 59), ms) - offsetMs;
    hi = digits >= 3 ? lo : lo + 10 ** (3 - digits) - 1;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return undefined;
  const loIso = iso(Math.max(lo, Date.parse(MIN_INSTANT)));
  const hiIso = iso(Math.min(hi, Date.parse(MAX_INSTANT)));
  return { lo: loIso, hi: hiIso };
}

/**
 * Order-preserving string key for a number (IEEE-754 bits, sign-flipped, hex): comparing keys as
 * strings orders them like the numbers, in MongoDB and in JavaScript alike.
 */
export function numberSortKey(n: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n === 0 ? 0 : n);
  let hi = view.getUint32(0);
  let lo = view.getUint32(4);
  if (hi & 0x80000000) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  } else {
    hi = (hi | 0x80000000) >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** American Soundex of one word (letters only); empty when the word has no letters. */
export function soundex(word: string): string {
  const letters = fold(word).replace(/[^a-z]/g, '');
  if (letters === '') return '';
  const codes: Record<string, string> = {
    b: '1', f: '1', p: '1', v: '1',
    c: '2', g: '2', j: '2', k: '2', q: '2', s: '2', x: '2', z: '2',
    d: '3', t: '3', l: '4', m: '5', n: '5', r: '6',
  };
  let out = letters[0].toUpperCase();
  let last = codes[letters[0]] ?? '';
  for (let i = 1; i < letters.length && out.length < 4; i++) {
    const ch = letters[i];
    const code = codes[ch] ?? '';
    if (code && code !== last) out += code;
    if (ch !== 'h' && ch !== 'w') last = code;
  }
  return out.padEnd(4, '0');
}

/** Soundex codes of every word of a value. */
export function phoneticCodes(value: string): string[] {
  const out: string[] = [];
  for (const word of fold(value).split(' ')) {
    const code = soundex(word);
    if (code && !out.includes(code)) out.push(code);
  }
  return out;
}
