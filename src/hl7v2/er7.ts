// ER7 (pipe-delimited) HL7 v2 on top of @medplum/core's Hl7Message: strict reading of what the CDC
// guide fixes (MSH-1 `|`, MSH-2 `^~\&`, one message), escaping, and typed access to fields by
// position that @medplum/core leaves raw (repetitions, subcomponents, unescaped text).
import { isUtf8 } from 'node:buffer';
import { Hl7Context, Hl7Field, Hl7Message, Hl7Segment } from '@medplum/core';
import { readCharacterSetEscapes, type ReadAs } from './charset.js';
import { Hl7Problem } from './problems.js';

export const DEFAULT_CONTEXT = new Hl7Context('\r', '|', '^', '~', '\\', '&');
export const ENCODING_CHARACTERS = '^~\\&';

/** Characters of the standard encoding and their escape sequences (HL7 v2.5.1 section 2.7.4). */
const ESCAPES: Array<[string, string]> = [
  ['\\', '\\E\\'],
  ['|', '\\F\\'],
  ['^', '\\S\\'],
  ['&', '\\T\\'],
  ['~', '\\R\\'],
];

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\\|^&~\x00-\x1f]/;

/** Text to ER7: every delimiter escaped. Control characters become spaces (no segment break inside a value). */
export function escapeText(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  let out = '';
  for (const ch of text) {
    const escaped = ESCAPES.find(([c]) => c === ch);
    if (escaped) out += escaped[1];
    else if (ch === '\r' || ch === '\n') out += '\\.br\\';
    else if (ch < ' ') out += ' ';
    else out += ch;
  }
  return out;
}

/** ER7 to text: \F\ \S\ \T\ \R\ \E\, \Xhh..\ and \.br\ resolved; unknown sequences kept as sent. */
export function unescapeText(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\([FSTRE]|X[0-9A-Fa-f]+|\.br|H|N)\\/g, (whole, code: string) => {
    switch (code) {
      case 'F':
        return '|';
      case 'S':
        return '^';
      case 'T':
        return '&';
      case 'R':
        return '~';
      case 'E':
        return '\\';
      case '.br':
        return '\n';
      case 'H':
      case 'N':
        return ''; // highlighting on/off: no meaning in stored data
      default: {
        const hex = code.slice(1);
        if (hex.length % 2 !== 0) return whole;
        // The bytes of a character in the message's character set: UTF-8's (\XC3A9\ é) when they
        // are UTF-8, else ISO 8859-1's (\XE9\ é), a byte a character.
        const bytes = Buffer.from(hex, 'hex');
        return isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('latin1');
      }
    }
  });
}

/** A parsed message, checked far enough to be acknowledged. */
export interface ParsedMessage {
  message: Hl7Message;
  msh: Hl7Segment;
  /** MSH-9 components. */
  messageType: string;
  triggerEvent: string;
  /** MSH-10. */
  controlId: string;
  /** MSH-12.1. */
  version: string;
  /** MSH-11.1 (P, T, D). */
  processingId: string;
  /** MSH-21 profile identifiers (first component of each repetition). */
  profiles: string[];
}

export interface ParseLimits {
  maxBytes: number;
  /** The set the message's text was read in (charset.ts ReadAs), for its `\Cxxyy\` / `\Mxxyyzz\` escapes; `utf-8` when absent. */
  readAs?: ReadAs;
  /** false: the escapes are left as sent (the header of a message refused for one of them, for its AR). */
  characterSetEscapes?: boolean;
}

/**
 * Parses one ER7 message. Segment separators may be CR, LF or CRLF (many senders use LF); the
 * delimiters must be the CDC guide's. Throws Hl7Problem (turned into an AR by the caller) otherwise.
 */
export function parseMessage(text: string, limits: ParseLimits): ParsedMessage {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > limits.maxBytes) {
    throw new Hl7Problem({
      text: `The message is ${size} bytes, more than the limit of ${limits.maxBytes} bytes`,
      hl7Code: '207',
      appCode: '4',
      location: { segment: 'MSH', sequence: 1 },
    }, 413);
  }
  const normalised = text.replace(/^\uFEFF/, '').replace(/\r\n|\n|\r/g, '\r').replace(/^[\s\x0b]+|[\s\x1c]+$/g, '');
  if (!normalised.startsWith('MSH')) {
    throw new Hl7Problem({
      text: 'The message does not start with an MSH segment',
      hl7Code: '100',
      appCode: '7',
      location: { segment: 'MSH', sequence: 1 },
    });
  }
  const fieldSeparator = normalised.charAt(3);
  const encoding = normalised.slice(4, 8);
  if (fieldSeparator !== '|' || encoding !== ENCODING_CHARACTERS) {
    throw new Hl7Problem({
      text: `MSH-1 and MSH-2 must be "|" and "${ENCODING_CHARACTERS}" (found "${fieldSeparator}" and "${encoding}")`,
      hl7Code: '102',
      appCode: '4',
      location: { segment: 'MSH', sequence: 1, field: fieldSeparator === '|' ? 2 : 1 },
    });
  }
  // Character set escapes are read first, into the characters they stand for (rare: one scan for `\C` and `\M`).
  const read = limits.characterSetEscapes !== false && (normalised.includes('\\C') || normalised.includes('\\M')) ? readCharacterSetEscapes(normalised, limits.readAs ?? 'utf-8', (issue) => new Hl7Problem(issue)) : normalised;
  const lines = read.split('\r').filter((line) => line.length > 0);
  const segments: Hl7Segment[] = [];
  lines.forEach((line, index) => {
    if (!/^[A-Z][A-Z0-9]{2}(\||$)/.test(line)) {
      throw new Hl7Problem({
        text: `Segment ${index + 1} is malformed: it must start with a three-character segment id followed by "|" (found "${line.slice(0, 12)}")`,
        hl7Code: '100',
        appCode: '4',
        location: { segment: line.slice(0, 3).replace(/[^A-Za-z0-9]/g, '') || 'UNK', sequence: segmentOrdinal(lines, index) },
      });
    }
    if (index > 0 && line.startsWith('MSH')) {
      throw new Hl7Problem({
        text: 'Only one message may be sent at a time: a second MSH segment was found',
        hl7Code: '100',
        appCode: '4',
        location: { segment: 'MSH', sequence: 2 },
      });
    }
    segments.push(parseSegment(line));
  });
  const message = new Hl7Message(segments, DEFAULT_CONTEXT);
  const msh = segments[0];
  const parsed: ParsedMessage = {
    message,
    msh,
    messageType: component(msh, 9, 1),
    triggerEvent: component(msh, 9, 2),
    controlId: component(msh, 10, 1),
    version: component(msh, 12, 1),
    processingId: component(msh, 11, 1),
    profiles: repetitions(msh, 21).map((r) => r[0] ?? '').filter(Boolean),
  };
  return parsed;
}

/**
 * Hl7Field.parse(text, DEFAULT_CONTEXT) without splitting a text that holds no repetition or
 * component separator (most fields: empty, a code, a date): the same repetitions and components.
 */
function parseField(text: string): Hl7Field {
  const components = text.includes('~') ? text.split('~').map((r) => r.split('^')) : text.includes('^') ? [text.split('^')] : [[text]];
  return new Hl7Field(components, DEFAULT_CONTEXT);
}

/**
 * HL7's null (`""`, v2.5.1 section 2.5.3: "delete the value the receiver holds") in a field,
 * component or subcomponent. It is never a value: read as empty, so it is never stored as the
 * text `""` — a dose, sent whole, loses what was there. A whole field sent as `""` is also
 * remembered (isHl7Null), and so is a component sent as `""` (isHl7NullComponent): on the patient
 * they delete the stored value (or that part of it), where an empty field keeps it (src/hl7v2/README.md).
 */
const HL7_NULL = '""';

/** A field sent as HL7's null `""`: read as empty, and told apart from one sent empty by isHl7Null. */
class Hl7NullField extends Hl7Field {
  constructor() {
    super([['']], DEFAULT_CONTEXT);
  }
}

/** Whether field n of the segment was sent as HL7's null `""` (the whole field, not a component of it). */
export function isHl7Null(segment: Hl7Segment, n: number): boolean {
  return segment.fields[segment.name === 'MSH' ? n - 1 : n] instanceof Hl7NullField;
}

/**
 * A field with HL7's null `""` in some of its components: they are read as empty, and remembered
 * (isHl7NullComponent) — on the patient a `""` component deletes that part of the stored value.
 */
class Hl7FieldWithNullComponents extends Hl7Field {
  /** `r.c` (repetition 0-based, component 1-based) of each component sent as `""`. */
  readonly nullComponents: ReadonlySet<string>;

  constructor(sent: string[][]) {
    const nulls = new Set<string>();
    const parts = sent.map((components, r) =>
      components.map((part, i) => {
        if (part === HL7_NULL) {
          nulls.add(`${r}.${i + 1}`);
          return '';
        }
        if (!part.includes('&')) return part;
        const sub = part.split('&');
        // The value this registry keeps of a component with subcomponents is its first (SAD's
        // street address in PID-11.1, FN's surname in PID-5.1/6.1): `""` there deletes that part,
        // as `""` in the whole component does. `""` in a later subcomponent (SAD's street name or
        // dwelling number, FN's prefixes, CX-4's universal id) is a part never kept: read as empty.
        if (sub[0] === HL7_NULL) nulls.add(`${r}.${i + 1}`);
        return sub.map((s) => (s === HL7_NULL ? '' : s)).join('&').replace(/&+$/, '');
      })
    );
    super(parts, DEFAULT_CONTEXT);
    this.nullComponents = nulls;
  }
}

/**
 * Whether component c (1-based) of repetition r (0-based) of field n was sent as HL7's null `""`
 * (the component alone, or its first subcomponent: `""&Main St` in PID-11.1).
 */
export function isHl7NullComponent(segment: Hl7Segment, n: number, c: number, r = 0): boolean {
  const field = segment.fields[segment.name === 'MSH' ? n - 1 : n];
  return field instanceof Hl7FieldWithNullComponents && field.nullComponents.has(`${r}.${c}`);
}

/**
 * Hl7Segment.parse(line, DEFAULT_CONTEXT) with parseField: the same segment, about twice as fast —
 * except that HL7's null `""` is read as empty (below).
 */
export function parseSegment(line: string): Hl7Segment {
  return new Hl7Segment(line.split('|').map(readField), DEFAULT_CONTEXT);
}

function readField(text: string): Hl7Field {
  if (text === HL7_NULL) return new Hl7NullField();
  return text.includes(HL7_NULL) ? new Hl7FieldWithNullComponents(parseField(text).components) : parseField(text);
}

/** 1-based ordinal of the segment at lines[index] among segments with its id (ERR-2.2). */
function segmentOrdinal(lines: string[], index: number): number {
  const id = lines[index].slice(0, 3);
  return lines.slice(0, index + 1).filter((l) => l.startsWith(id)).length;
}

// ---- reading ---------------------------------------------------------------------------------

/**
 * The raw text of field n (1-based, MSH counted as HL7 does: MSH-1 is the field separator).
 * @medplum/core keeps MSH-1 as the segment's first field, so MSH positions shift by one.
 */
function rawField(segment: Hl7Segment, n: number): string {
  if (segment.name === 'MSH') {
    if (n === 1) return '|';
    return segment.fields[n - 1]?.toString() ?? '';
  }
  return segment.fields[n]?.toString() ?? '';
}

/** Repetitions of field n, each as its components (each unescaped, subcomponents kept `&`-joined). */
export function repetitions(segment: Hl7Segment, n: number): string[][] {
  if (segment.name === 'MSH' && n <= 2) {
    const raw = rawField(segment, n);
    return raw === '' ? [] : [[raw]];
  }
  // The parsed field already holds its repetitions split into components (read-only here): no
  // need to join it back into text and split it again.
  const field = segment.fields[segment.name === 'MSH' ? n - 1 : n];
  if (!field) return [];
  const reps = field.components;
  return reps.length === 1 && reps[0].length === 1 && reps[0][0] === '' ? [] : reps;
}

/** Component c (1-based) of repetition r (0-based) of field n, unescaped; subcomponents `&`-joined raw. */
export function component(segment: Hl7Segment, n: number, c = 1, r = 0): string {
  const value = repetitions(segment, n)[r]?.[c - 1] ?? '';
  return value.includes('&') ? value : unescapeText(value);
}

/** Subcomponent s of component c of field n (repetition r), unescaped. */
export function subcomponent(segment: Hl7Segment, n: number, c: number, s: number, r = 0): string {
  const value = repetitions(segment, n)[r]?.[c - 1] ?? '';
  return unescapeText(value.split('&')[s - 1] ?? '');
}

/**
 * Field n (repetition r) as the text this registry keeps of each component: its first subcomponent
 * when it has some (FN's surname in XPN.1, SAD's street address in XAD.1), unescaped. `components`
 * leaves such a component raw (`SMITH&van` was stored as the family name, escapes and all), and an
 * unescaped `\T\` cannot be told from a subcomponent separator after it.
 */
export function firstSubcomponents(segment: Hl7Segment, n: number, r = 0): string[] {
  return (repetitions(segment, n)[r] ?? []).map((c) => unescapeText(c.includes('&') ? c.slice(0, c.indexOf('&')) : c));
}

/**
 * Field n (repetition r) as it is written back: each component unescaped, one with subcomponents
 * as the array of them (unescaped) — a FieldValue that segment() writes as it was sent.
 */
export function structuredComponents(segment: Hl7Segment, n: number, r = 0): Array<string | string[]> {
  return (repetitions(segment, n)[r] ?? []).map((c) => (c.includes('&') ? subcomponents(c) : unescapeText(c)));
}

/** A component split into its subcomponents, unescaped. */
export function subcomponents(value: string): string[] {
  return value.split('&').map(unescapeText);
}

/** Field n (repetition r) as its components, unescaped (subcomponents `&`-joined). */
export function components(segment: Hl7Segment, n: number, r = 0): string[] {
  return (repetitions(segment, n)[r] ?? []).map((c) => (c.includes('&') ? c : unescapeText(c)));
}

// ---- building --------------------------------------------------------------------------------

/**
 * A field value for building: a plain string (escaped when written), an array of components
 * (each a string or an array of subcomponents), or repetitions of those.
 */
export type FieldValue = string | undefined | Array<string | undefined | Array<string | undefined>>;
export interface Repeated {
  repeat: FieldValue[];
}

function encodeComponents(value: FieldValue): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return escapeText(value);
  const parts = value.map((c) => (Array.isArray(c) ? c.map((s) => escapeText(s ?? '')).join('&') : escapeText(c ?? '')));
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.join('^');
}

/** The ER7 text of each field of a segment: its name, then fields 1..n escaped, trailing empty ones dropped. */
function segmentFields(name: string, fields: Array<FieldValue | Repeated>): string[] {
  const encoded = fields.map((f) =>
    f !== undefined && typeof f === 'object' && 'repeat' in f ? f.repeat.map(encodeComponents).join('~') : encodeComponents(f)
  );
  while (encoded.length > 0 && encoded[encoded.length - 1] === '') encoded.pop();
  // MSH-1 and MSH-2 (and FHS's and BHS's, which mirror them) are the delimiters themselves, never escaped.
  return name === 'MSH' || name === 'FHS' || name === 'BHS' ? [name, ENCODING_CHARACTERS, ...encoded.slice(2)] : [name, ...encoded];
}

/** Builds a segment from fields 1..n (escaping text); trailing empty fields are dropped. */
export function segment(name: string, fields: Array<FieldValue | Repeated>): Hl7Segment {
  return new Hl7Segment(segmentFields(name, fields).map(parseField), DEFAULT_CONTEXT);
}

/**
 * `segment(name, fields).toString()` without building the segment: @medplum/core writes a field
 * by joining what parseField split (repetitions by `~`, components by `^`), so the text is the
 * fields' own text joined by `|` (er7.test.ts compares both over arbitrary fields).
 */
export function segmentText(name: string, fields: Array<FieldValue | Repeated>): string {
  return segmentFields(name, fields).join('|');
}

export function buildMessage(segments: Hl7Segment[]): string {
  return new Hl7Message(segments, DEFAULT_CONTEXT).toString();
}

// ---- dates -----------------------------------------------------------------------------------

/** HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]) → FHIR date or dateTime; undefined when invalid. */
export function hl7ToFhirDateTime(value: string): string | undefined {
  const m = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,4}))?)?([+-]\d{4})?$/.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  if (mo && (Number(mo) < 1 || Number(mo) > 12)) return undefined;
  if (d) {
    const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    if (date.getUTCMonth() !== Number(mo) - 1) return undefined;
  }
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  if (!h) return `${y}-${mo}-${d}`;
  if (Number(h) > 23 || Number(mi ?? '0') > 59 || Number(s ?? '0') > 59) return undefined;
  const zone = tz ? `${tz.slice(0, 3)}:${tz.slice(3)}` : 'Z';
  return `${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ? `.${frac}` : ''}${zone}`;
}

/** FHIR date → HL7 DT (YYYYMMDD or shorter). */
export function fhirDateToHl7(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.slice(0, 10).replace(/-/g, '');
}

/** FHIR dateTime → HL7 DTM: a date stays a date; a time keeps its offset. */
export function fhirDateTimeToHl7(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^(\d{4}(?:-\d{2}(?:-\d{2})?)?)(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(value);
  if (!m) return undefined;
  const [, date, h, mi, s, , zone] = m;
  let out = date.replace(/-/g, '');
  if (h) {
    out += `${h}${mi}${s ?? '00'}`;
    if (zone) out += zone === 'Z' ? '+0000' : zone.replace(':', '');
  }
  return out;
}

/** The current instant as HL7 DTM with offset (MSH-7). */
export function nowHl7(): string {
  return hl7Instant(Date.now());
}

/** The last second hl7Instant wrote, and its text: every answer within that second reuses it. */
let lastSecond = Number.NaN;
let lastText = '';

/** An instant (ms since the epoch) as HL7 DTM to the second, UTC (`hl7InstantUncached`, once per second). */
export function hl7Instant(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastText = hl7InstantUncached(ms);
    lastSecond = second;
  }
  return lastText;
}

export function hl7InstantUncached(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, '') + '+0000';
}
