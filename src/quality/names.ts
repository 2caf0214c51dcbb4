// Name detectors shared by the data-quality rules and the patient-matching engine:
// - placeholder names: temporary names given to newborns before they are named (Baby Boy,
//   BabyGirl Smith, Baby Girl A, Newborn, Infant, Boy/Girl + surname, Twin B…), with the birth
//   order they often carry;
// - test / junk names: a list of known junk words and phrases plus patterns (digits, repeated
//   letters, keyboard runs, ZZ prefixes).
// Pure functions over strings: no I/O, safe on hot paths. Words are matched as whole tokens, so
// real names that merely start like a placeholder (Babette, Boyd, Infante, Testa) are not flagged.

/** A FHIR HumanName or anything shaped like one. */
export interface NameInput {
  family?: string;
  given?: readonly string[] | string;
  text?: string;
}

export interface PlaceholderResult {
  placeholder: boolean;
  /** Why, in words a submitter understands (e.g. `"Baby Girl" is a temporary newborn name`). */
  reason?: string;
  /** Birth order carried by the placeholder: 'A', 'B', '1', '2', 'twin A', 'triplet 2'… */
  birthOrder?: string;
}

export interface TestNameResult {
  test: boolean;
  reason?: string;
}

// Words that by themselves mark a newborn placeholder.
const NEWBORN_WORDS = new Set(['baby', 'bby', 'newborn', 'nb', 'infant', 'inf', 'neonate', 'unnamed', 'bebe']);
/** Newborn words that are also real names (Bebe): placeholders only before a sex word (Bebe Niña). */
const WEAK_NEWBORN_WORDS = new Set(['bebe']);
/** Newborn words that mark a placeholder when they start a family name. */
const FAMILY_NEWBORN_WORDS = new Set(['baby', 'newborn', 'infant', 'neonate', 'unnamed']);
/** Abbreviations that stand for a whole "Baby Boy" / "Baby Girl". */
const NEWBORN_ABBREVIATIONS = new Set(['bb', 'bg', 'bboy', 'bgirl']);
const SEX_WORDS = new Set(['boy', 'girl', 'male', 'female', 'nino', 'nina', 'varon', 'hembra']);
/** Spanish sex words are real given names on their own (Nina): only placeholders after Bebe/Baby. */
const WEAK_SEX_WORDS = new Set(['nino', 'nina', 'varon', 'hembra']);
const MULTIPLE_WORDS = new Set(['twin', 'triplet', 'quad', 'quadruplet', 'multiple']);
const ORDER_WORDS: Record<string, string> = { first: '1', second: '2', third: '3', fourth: '4' };
/** Glued forms seen in the wild, longest first: BABYBOY, BabyGirlSmith, TWINA… */
const GLUED_PREFIXES = [
  'newbornboy',
  'newborngirl',
  'infantboy',
  'infantgirl',
  'babyboy',
  'babygirl',
  'bbyboy',
  'bbygirl',
  'newborn',
  'infant',
  'baby',
  'twin',
];

/** Words of ASCII letters, each capitalised, lower or upper case (no camel case), one space apart. */
const PLAIN_WORDS = /^(?:[A-Z]?[a-z]+|[A-Z]+)(?: (?:[A-Z]?[a-z]+|[A-Z]+))*$/;

/**
 * Splits a name into lower-case ASCII tokens: diacritics removed, camel case and letter/digit
 * boundaries split (BabyBoySmith → baby boy smith, Twin2 → twin 2), punctuation dropped.
 */
export function nameTokens(value: string | undefined): string[] {
  if (!value) return [];
  // Most names are plain words (Smith, SMITH, ava, "Ava Marie"): nothing for the replaces below to
  // split or drop, so the tokens are the lower-cased words (names.test.ts compares the two paths).
  if (PLAIN_WORDS.test(value)) return value.toLowerCase().split(' ');
  const plain = stripDiacritics(value)
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([A-Za-z])(\d)/g, '$1 $2')
    .replace(/(\d)([A-Za-z])/g, '$1 $2')
    .toLowerCase();
  return plain.split(/[^a-z0-9]+/).filter((t) => t !== '');
}

const NON_ASCII = /[^\x00-\x7f]/;

/** José → Jose; ASCII input (the common case) is returned as is, without normalising. */
function stripDiacritics(value: string): string {
  return NON_ASCII.test(value) ? value.normalize('NFKD').replace(/[\u0300-\u036f]/g, '') : value;
}

function birthOrderOf(token: string): string | undefined {
  if (/^[a-f]$/.test(token)) return token.toUpperCase();
  if (/^[1-9]$/.test(token)) return token;
  return ORDER_WORDS[token];
}

function isPlaceholderWord(token: string): boolean {
  return NEWBORN_WORDS.has(token) || NEWBORN_ABBREVIATIONS.has(token) || SEX_WORDS.has(token) || MULTIPLE_WORDS.has(token);
}

/** Splits glued placeholder words (BABYGIRL, BabyA, TWINB, BABYSMITH with family Smith). */
function expandGlued(tokens: string[], family: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const token of tokens) out.push(...splitGlued(token, family, 0));
  return out;
}

function splitGlued(token: string, family: ReadonlySet<string>, depth: number): string[] {
  if (depth > 4 || isPlaceholderWord(token)) return [token];
  for (const prefix of GLUED_PREFIXES) {
    if (!token.startsWith(prefix) || token.length === prefix.length) continue;
    const rest = token.slice(prefix.length);
    const head = prefix.endsWith('boy') || prefix.endsWith('girl') ? splitPrefix(prefix) : [prefix];
    // Only split when what follows is itself meaningful: Babyak and Twinam stay whole.
    const restTokens = splitGlued(rest, family, depth + 1);
    // A lone trailing letter is a birth order only after Baby / Twin (Infante, Infanta stay whole).
    const letterOk = /^(baby|bby|twin)/.test(prefix) || !/^[a-z]$/.test(rest);
    const meaningful =
      letterOk && restTokens.every((t) => isPlaceholderWord(t) || birthOrderOf(t) !== undefined || family.has(t));
    const gluedSexPrefix = prefix.endsWith('boy') || prefix.endsWith('girl');
    if (meaningful || (gluedSexPrefix && rest.length >= 2)) return [...head, ...restTokens];
  }
  return [token];
}

function splitPrefix(prefix: string): string[] {
  const sex = prefix.endsWith('boy') ? 'boy' : 'girl';
  return [prefix.slice(0, prefix.length - sex.length), sex];
}

/**
 * Decides whether a token sequence (a given name, possibly followed by the surname) is a
 * placeholder. Every token must be a placeholder word, a birth order, or the family name; at
 * least one must be a newborn / sex / multiple-birth word; a newborn word followed by a sex word
 * (Baby Boy …) or by "of" (Baby of Maria) is a placeholder whatever follows.
 */
function analyse(tokens: string[], family: ReadonlySet<string>): PlaceholderResult {
  if (tokens.length === 0) return { placeholder: false };
  const [first, second] = tokens;
  const display = (ts: string[]) => ts.map((t) => t[0]!.toUpperCase() + t.slice(1)).join(' ');

  let strong = false;
  if (NEWBORN_WORDS.has(first!) && second !== undefined && (SEX_WORDS.has(second) || second === 'of')) strong = true;

  let marker = false;
  let order: string | undefined;
  let multiple: string | undefined;
  let unknownWord = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (WEAK_NEWBORN_WORDS.has(t)) {
      unknownWord = true;
      continue;
    }
    if (NEWBORN_WORDS.has(t) || NEWBORN_ABBREVIATIONS.has(t) || MULTIPLE_WORDS.has(t)) {
      marker = true;
      if (MULTIPLE_WORDS.has(t)) multiple = t;
      continue;
    }
    if (SEX_WORDS.has(t)) {
      if (!WEAK_SEX_WORDS.has(t) || (i > 0 && NEWBORN_WORDS.has(tokens[i - 1]!))) marker = true;
      else unknownWord = true;
      continue;
    }
    const o = birthOrderOf(t);
    // A birth order stands after a placeholder word (Baby A, Twin 2), never first (A. Smith).
    if (o !== undefined && i > 0) {
      order ??= o;
      continue;
    }
    if (family.has(t)) continue;
    unknownWord = true;
  }
  if (!strong && (!marker || unknownWord)) return { placeholder: false };

  const core = tokens.filter((t) => !family.has(t) && birthOrderOf(t) === undefined);
  const coreText = display(core.length > 0 ? core.slice(0, 3) : tokens.slice(0, 2));
  const result: PlaceholderResult = { placeholder: true, reason: `"${coreText}" is a temporary newborn name` };
  if (order !== undefined) result.birthOrder = multiple ? `${multiple} ${order}` : order;
  return result;
}

/**
 * The tokens of a name with glued placeholder words split as the placeholder checks split them
 * (BABYGIRLJONES → baby girl jones) and real surnames left whole (Boyle, Babyak, Newbornian,
 * Twining): the matcher reads the surname inside a placeholder from these.
 */
export function placeholderTokens(value: string | undefined, family: ReadonlySet<string> = new Set()): string[] {
  return expandGlued(nameTokens(value), family);
}

/** Is this given name (as written, all given names joined) a newborn placeholder? */
export function isPlaceholderGiven(given: string, family?: string): PlaceholderResult {
  const familyTokens = new Set(nameTokens(family).filter((t) => t.length > 1));
  const tokens = expandGlued(nameTokens(given), familyTokens);
  return analyse(tokens, familyTokens);
}

/** Is this family name a placeholder (Baby, Baby Girl, Newborn, BabyBoySmith)? */
export function isPlaceholderFamily(family: string): PlaceholderResult {
  const tokens = expandGlued(nameTokens(family), new Set());
  const first = tokens[0];
  if (first === undefined) return { placeholder: false };
  if (FAMILY_NEWBORN_WORDS.has(first)) {
    // Baby / Newborn / Infant as (the start of) a surname; the rest may be the real surname.
    const orderToken = tokens.slice(1).find((t) => birthOrderOf(t) !== undefined);
    const result: PlaceholderResult = {
      placeholder: true,
      reason: `"${capitalise(first)}" in the family name is a temporary newborn name`,
    };
    if (orderToken) result.birthOrder = birthOrderOf(orderToken)!;
    return result;
  }
  return { placeholder: false };
}

function capitalise(s: string): string {
  return s[0]!.toUpperCase() + s.slice(1);
}

function givenText(name: NameInput): string {
  if (typeof name.given === 'string') return name.given;
  return (name.given ?? []).join(' ');
}

/**
 * Is this name a temporary newborn name? Looks at the given names (with the surname allowed to
 * repeat inside them: BabyBoySmith), then the family name, then `text` when neither is present.
 */
export function isPlaceholderName(name: NameInput): PlaceholderResult {
  const given = givenText(name);
  const family = name.family ?? '';
  if (given.trim() !== '') {
    const r = isPlaceholderGiven(given, family);
    if (r.placeholder) return r;
  }
  if (family.trim() !== '') {
    const r = isPlaceholderFamily(family);
    if (r.placeholder) return r;
    // A surname with the newborn words glued in front of the real given name (no given at all).
    if (given.trim() === '') {
      const g = isPlaceholderGiven(family);
      if (g.placeholder) return g;
    }
  }
  if (given.trim() === '' && family.trim() === '' && name.text) {
    // Free text "Baby Boy Smith": the last word may be the surname.
    const tokens = nameTokens(name.text);
    const last = tokens.length > 1 ? new Set([tokens[tokens.length - 1]!]) : new Set<string>();
    return analyse(expandGlued(tokens, last), last);
  }
  return { placeholder: false };
}

// ---------------------------------------------------------------------------------------------
// Test / junk names

/** Single words that are never a real person's name. */
const JUNK_WORDS = new Set([
  'test',
  'tests',
  'testing',
  'tst',
  'testpatient',
  'testcase',
  'testchild',
  'testbaby',
  'testname',
  'testuser',
  'dummy',
  'fake',
  'fakename',
  'sample',
  'demo',
  'junk',
  'garbage',
  'asdf',
  'qwerty',
  'unknown',
  'unk',
  'none',
  'null',
  'nil',
  'undefined',
  'nan',
  'noname',
  'nfn',
  'nln',
  'nmn',
  'fnu',
  'lnu',
  'donotuse',
  'dnu',
  'delete',
  'deleted',
  'void',
  'invalid',
  'patient',
  'xyz',
]);

/** Two-word phrases (given + family or inside one field). */
const JUNK_PHRASES = [
  'test patient',
  'test case',
  'test child',
  'test baby',
  'mickey mouse',
  'minnie mouse',
  'donald duck',
  'daffy duck',
  'bugs bunny',
  'john doe',
  'jane doe',
  'do not use',
  'not valid',
  'no name',
  'first name',
  'last name',
];

/** Each junk phrase with a space either side (as found in the name's words joined by spaces), built once. */
const PADDED_JUNK_PHRASES = JUNK_PHRASES.map((phrase) => ({ phrase, padded: ` ${phrase} ` }));

const KEYBOARD_ROWS = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm', 'abcdefghijklmnopqrstuvwxyz'];

/** Why a single token looks like junk, or undefined. */
function junkToken(token: string): string | undefined {
  if (JUNK_WORDS.has(token)) return `"${token}" is not a real name`;
  if (/^(.)\1{2,}$/.test(token)) return `"${token}" is one letter repeated`;
  if (/^zz/.test(token)) return `"${token}" starts with ZZ, a common test-record prefix`;
  if (/^test(patient|case|child|baby|kid|name|user|record|person|data|\d+)$/.test(token)) return `"${token}" is a test name`;
  if (token.length >= 4) {
    for (const row of KEYBOARD_ROWS) if (row.includes(token)) return `"${token}" is a run of keyboard or alphabet letters`;
  }
  if (token === 'abc' || token === 'abcd') return `"${token}" is a run of alphabet letters`;
  return undefined;
}

/** Is one name string (a given or family name, or free text) test or junk data? */
export function isTestNameString(value: string | undefined): TestNameResult {
  if (!value || value.trim() === '') return { test: false };
  // Digits are never part of a real name (placeholders like "Baby Boy 2" are handled by the caller).
  if (/\d/.test(value)) return { test: true, reason: `"${value.trim()}" contains digits` };
  const raw = stripDiacritics(value).toLowerCase();
  const words = raw.split(/[^a-z]+/).filter((t) => t !== '');
  // Every phrase has two words or more: a single word holds none.
  if (words.length > 1) {
    const joined = ` ${words.join(' ')} `;
    for (const { phrase, padded } of PADDED_JUNK_PHRASES) {
      if (joined.includes(padded)) return { test: true, reason: `"${phrase}" looks like test data` };
    }
  }
  for (const token of new Set([...words, ...nameTokens(value)])) {
    const why = junkToken(token);
    if (why) return { test: true, reason: why };
  }
  return { test: false };
}

/**
 * Does this name look like test or junk data (Test Patient, Mickey Mouse, ZZSMITH, Asdf, XXX,
 * John2)? Placeholder newborn names are not test names (their birth-order digits are expected).
 */
export function isTestName(name: NameInput): TestNameResult {
  const given = givenText(name);
  const family = name.family ?? '';
  const combined = `${given} ${family}`.trim() || (name.text ?? '');
  if (/\d/.test(combined)) {
    // Birth-order digits are expected in placeholders (Baby Boy 2); elsewhere digits are junk.
    if (isPlaceholderName(name).placeholder) return isTestNameString(combined.replace(/\d/g, ' '));
    const field = /\d/.test(given) ? given : /\d/.test(family) ? family : combined;
    return { test: true, reason: `"${field.trim()}" contains digits` };
  }
  return isTestNameString(combined);
}
