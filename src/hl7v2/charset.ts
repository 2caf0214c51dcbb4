// The text of an HL7 v2 body. HL7 names a message's character set in MSH-18 (HL7 table 0211);
// left empty it is the standard's default, 7-bit ASCII, which UTF-8 extends. A body is read in the
// character set the HTTP Content-Type's `charset` names, else its first MSH-18 — and refused (AR,
// 400) when its bytes are not text in that declared set. Declaring nothing, it is read as UTF-8
// when its bytes are UTF-8, else as ISO 8859-1: senders that leave MSH-18 empty and write their
// legacy system's 8859-1 are common, and refusing each of their doses over an accented name loses
// more than it protects (every byte is a character in 8859-1, and UTF-8 text is almost never
// mistaken for it). Read as UTF-8 regardless, such an "José" was stored as "Jos\uFFFD" for good.
import { isUtf8 } from 'node:buffer';
import type { Hl7Issue } from './problems.js';

/** `readAs`: the set the text was read in (ReadAs), for the character set escapes and the answer's set. */
export type BodyText = { text: string; readAs: ReadAs; problem?: undefined } | { text: string; readAs: ReadAs; problem: Hl7Issue };

/** MSH-18 values (HL7 table 0211) read, and the WHATWG encoding label each is decoded with. */
const TABLE_0211: Record<string, string> = {
  '': 'utf-8',
  ASCII: 'utf-8',
  'UNICODE UTF-8': 'utf-8',
  'UNICODE': 'utf-8',
  // Not table 0211's spellings, but what senders write for them.
  'UTF-8': 'utf-8',
  UTF8: 'utf-8',
  'ISO-8859-1': 'latin1',
  'ISO8859-1': 'latin1',
  '8859/1': 'latin1',
  '8859/2': 'iso-8859-2',
  '8859/3': 'iso-8859-3',
  '8859/4': 'iso-8859-4',
  '8859/5': 'iso-8859-5',
  '8859/6': 'iso-8859-6',
  '8859/7': 'iso-8859-7',
  '8859/8': 'iso-8859-8',
  '8859/9': 'iso-8859-9',
  '8859/15': 'iso-8859-15',
  // Table 0211's ISO-IR names of the same sets, and its multi-byte sets WHATWG decodes.
  'ISO IR6': 'utf-8',
  'ISO IR100': 'latin1',
  'ISO IR192': 'utf-8',
  'GB 18030-2000': 'gb18030',
  'KS X 1001': 'euc-kr',
  'BIG-5': 'big5',
};

/** The body as text, or why it cannot be read (with the text read as UTF-8, for the AR's header). */
export function bodyText(body: Buffer, contentType: string | undefined): BodyText {
  const declared = charsetParameter(contentType);
  const label = declared !== undefined ? declared.toLowerCase() : TABLE_0211[msh18(body).toUpperCase()];
  const where = declared !== undefined ? `the Content-Type charset "${declared}"` : `MSH-18 "${msh18(body)}"`;
  if (label === undefined) {
    return refused(body, `${where} is not a character set this registry reads: send UNICODE UTF-8 (or leave MSH-18 empty for UTF-8), or 8859/1`, '103', '5');
  }
  if (label === 'utf-8' || label === 'utf8' || label === 'us-ascii' || label === 'ascii') {
    if (isUtf8(body)) return { text: body.toString('utf8'), readAs: 'utf-8' };
    // Nothing declared (Content-Type without charset, MSH-18 empty): a legacy sender's 8859-1.
    if (declared === undefined && msh18(body) === '') return { text: body.toString('latin1'), readAs: 'latin1' };
    return refused(body, `The message is not valid UTF-8 (${where}): declare its character set in MSH-18 (8859/1 for ISO 8859-1) or send UTF-8`, '102', '4');
  }
  if (label === 'latin1' || label === 'iso-8859-1') return { text: body.toString('latin1'), readAs: 'latin1' };
  try {
    const decoder = new TextDecoder(label, { fatal: true });
    // A multi-byte set (Shift_JIS, …) is not read byte for byte: its escapes are read as UTF-8's.
    return { text: decoder.decode(body), readAs: decoder.encoding.startsWith('iso-8859') || decoder.encoding.startsWith('windows-') ? decoder.encoding : 'utf-8' };
  } catch (error) {
    const reason = error instanceof RangeError ? 'is not a character set this registry reads' : 'does not match the message\'s bytes';
    return refused(body, `${where} ${reason}: send UNICODE UTF-8, or 8859/1`, error instanceof RangeError ? '103' : '102', error instanceof RangeError ? '5' : '4');
  }
}

function refused(body: Buffer, text: string, hl7Code: string, appCode: string): BodyText {
  return { text: body.toString('utf8'), readAs: 'utf-8', problem: { severity: 'E', hl7Code, appCode, text, location: { segment: 'MSH', sequence: 1, field: 18 } } };
}

/** The `charset` parameter of a Content-Type header, if any. */
function charsetParameter(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return match?.[1];
}

/**
 * MSH-18 (its first repetition's first component) of the body's first MSH, read byte for byte:
 * the header is ASCII in every character set the registry reads.
 */
function msh18(body: Buffer): string {
  const head = body.subarray(0, 4096).toString('latin1');
  const at = head.search(/(^|[\r\n])MSH/);
  if (at < 0) return '';
  const line = head.slice(head.indexOf('MSH', at)).split(/[\r\n]/)[0];
  const fieldSeparator = line[3];
  if (!fieldSeparator) return '';
  const fields = line.split(fieldSeparator);
  const encoding = fields[1] ?? '';
  const [componentSeparator = '^', repetitionSeparator = '~'] = encoding;
  return (fields[17] ?? '').split(repetitionSeparator)[0].split(componentSeparator)[0].trim();
}

/**
 * An answer (always sent as UTF-8) with MSH-18 `UNICODE UTF-8` when it holds a character outside
 * ASCII — an RSP naming "José": an MSH-18 left empty says ASCII (HL7 v2.5.1 2.15.9.18), and an EHR
 * that sent ISO 8859-1 would read the name's UTF-8 bytes as two characters. An ASCII answer is left as it is.
 */
export function withDeclaredCharset(answer: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(answer) || !answer.startsWith('MSH|')) return answer;
  const end = answer.indexOf('\r');
  const header = end < 0 ? answer : answer.slice(0, end);
  const fields = header.split('|');
  while (fields.length < 18) fields.push('');
  fields[17] = 'UNICODE UTF-8';
  return fields.join('|') + (end < 0 ? '' : answer.slice(end));
}

/**
 * A SOAP body's text: in the Content-Type's `charset`, else the XML declaration's `encoding`, else
 * UTF-8 (XML's default); `problem` says why the bytes are not text in it (an UnknownFault) — read as
 * UTF-8 regardless, an `encoding="ISO-8859-1"` envelope's "José" was stored as "Jos\uFFFD".
 */
export function xmlText(body: Buffer, contentType: string | undefined): { text: string; readAs: ReadAs; problem?: string } {
  const declared = charsetParameter(contentType) ?? /^(?:\uFEFF)?<\?xml[^>]*?\sencoding\s*=\s*["']([^"']+)["']/.exec(body.subarray(0, 256).toString('latin1'))?.[1];
  const label = (declared ?? 'utf-8').toLowerCase();
  if (label === 'utf-8' || label === 'utf8' || label === 'us-ascii' || label === 'ascii') {
    if (isUtf8(body)) return { text: body.toString('utf8'), readAs: 'utf-8' };
    // Nothing declared: read as ISO 8859-1, as an HL7 body declaring nothing (bodyText).
    if (declared === undefined) return { text: body.toString('latin1'), readAs: 'latin1' };
    return { text: body.toString('utf8'), readAs: 'utf-8', problem: `The request is not valid UTF-8${declared ? ` (declared ${declared})` : ''}: send UTF-8, or declare its encoding (encoding="ISO-8859-1")` };
  }
  if (label === 'iso-8859-1' || label === 'latin1') return { text: body.toString('latin1'), readAs: 'latin1' };
  try {
    const decoder = new TextDecoder(label, { fatal: true });
    return { text: decoder.decode(body), readAs: decoder.encoding.startsWith('iso-8859') || decoder.encoding.startsWith('windows-') ? decoder.encoding : 'utf-8' };
  } catch (error) {
    const reason = error instanceof RangeError ? 'is not an encoding this registry reads' : "does not match the request's bytes";
    return { text: body.toString('utf8'), readAs: 'utf-8', problem: `The request's encoding "${declared}" ${reason}: send UTF-8` };
  }
}

// ---- character set escapes (\Cxxyy\, \Mxxyyzz\) ----------------------------------------------

/**
 * How a text was read from its bytes (a /hl7v2 body by bodyText, a SOAP envelope by xmlText):
 * `latin1` or a WHATWG label of a single-byte set (each character one byte of it), or `utf-8` (a
 * character is itself; only ASCII stands for its byte — also a multi-byte set, and text without bytes).
 */
export type ReadAs = string;

/** A decoder of the bytes written after a character set escape; undefined when they are not text in that set. */
type SetDecoder = (bytes: Buffer) => string | undefined;

function fatalDecoder(label: string): SetDecoder {
  return (bytes) => {
    try {
      return new TextDecoder(label, { fatal: true }).decode(bytes);
    } catch {
      return undefined;
    }
  };
}

/** JIS X 0201 Katakana in G1 (ISO-IR 13): the right half's 0xA1–0xDF are the half-width katakana. */
function jisKatakana(bytes: Buffer): string | undefined {
  let out = '';
  for (const b of bytes) {
    if (b < 0x80) out += String.fromCharCode(b);
    else if (b >= 0xa1 && b <= 0xdf) out += String.fromCharCode(0xff61 + b - 0xa1);
    else return undefined;
  }
  return out;
}

/** JIS X 0201 Romaji (ISO-IR 14): ASCII but for the yen sign and the overline. */
function jisRomaji(bytes: Buffer): string | undefined {
  let out = '';
  for (const b of bytes) {
    if (b >= 0x80) return undefined;
    out += b === 0x5c ? '\u00a5' : b === 0x7e ? '\u203e' : String.fromCharCode(b);
  }
  return out;
}

/**
 * A two-byte set designated to G0 (7-bit pairs; ISO 2022's `ESC $ B`, `ESC $ ( D`): each pair
 * is the set's row and cell, read through EUC-JP (which writes them with the high bit set,
 * JIS X 0212's behind 0x8F). ASCII controls and spaces between pairs are kept.
 */
function jisPairs(prefix: number[]): SetDecoder {
  const decode = fatalDecoder('euc-jp');
  return (bytes) => {
    const euc: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b <= 0x20) {
        euc.push(b);
        continue;
      }
      const next = bytes[i + 1];
      if (b >= 0x80 || next === undefined || next <= 0x20 || next >= 0x80) return undefined;
      euc.push(...prefix, b | 0x80, next | 0x80);
      i++;
    }
    return decode(Buffer.from(euc));
  };
}

/**
 * The character sets an HL7 escape can switch to (v2.5.1 2.7.2, "Escape sequences supporting
 * multiple character sets"; the ISO 2022 escape `ESC xx yy [zz]` written as hex), and how the
 * bytes after it are read. `null`: back to the message's own set (ISO-IR 6, ASCII, in G0).
 */
const SWITCHES: Record<string, { name: string; decode: SetDecoder | null }> = {
  C2842: { name: 'ISO-IR 6 (ASCII)', decode: null },
  C2D41: { name: 'ISO-IR 100 (ISO 8859-1)', decode: (bytes) => bytes.toString('latin1') },
  C2D42: { name: 'ISO-IR 101 (ISO 8859-2)', decode: fatalDecoder('iso-8859-2') },
  C2D43: { name: 'ISO-IR 109 (ISO 8859-3)', decode: fatalDecoder('iso-8859-3') },
  C2D44: { name: 'ISO-IR 110 (ISO 8859-4)', decode: fatalDecoder('iso-8859-4') },
  C2D4C: { name: 'ISO-IR 144 (ISO 8859-5, Cyrillic)', decode: fatalDecoder('iso-8859-5') },
  C2D47: { name: 'ISO-IR 127 (ISO 8859-6, Arabic)', decode: fatalDecoder('iso-8859-6') },
  C2D46: { name: 'ISO-IR 126 (ISO 8859-7, Greek)', decode: fatalDecoder('iso-8859-7') },
  C2D48: { name: 'ISO-IR 138 (ISO 8859-8, Hebrew)', decode: fatalDecoder('iso-8859-8') },
  C2D4D: { name: 'ISO-IR 148 (ISO 8859-9)', decode: fatalDecoder('iso-8859-9') },
  C2D62: { name: 'ISO-IR 203 (ISO 8859-15)', decode: fatalDecoder('iso-8859-15') },
  C284A: { name: 'ISO-IR 14 (JIS X 0201 Romaji)', decode: jisRomaji },
  C2949: { name: 'ISO-IR 13 (JIS X 0201 Katakana)', decode: jisKatakana },
  M2442: { name: 'ISO-IR 87 (JIS X 0208)', decode: jisPairs([]) },
  M242844: { name: 'ISO-IR 159 (JIS X 0212)', decode: jisPairs([0x8f]) },
};

/** Each single-byte set's characters back to their bytes (built once per set, when first needed). */
const ENCODERS = new Map<string, Map<string, number>>();

/** The bytes `text` was read from, or undefined when it holds a character its set has not (written as itself: UTF-8, an XML reference). */
export function bytesOf(text: string, readAs: ReadAs): Buffer | undefined {
  const label = readAs.toLowerCase();
  if (label === 'latin1' || label === 'iso-8859-1' || label === 'utf-8') {
    const limit = label === 'utf-8' ? 0x7f : 0xff;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > limit) return undefined;
    return Buffer.from(text, 'latin1');
  }
  let encoder = ENCODERS.get(label);
  if (!encoder) {
    encoder = new Map();
    const all = new TextDecoder(label).decode(Buffer.from(Array.from({ length: 256 }, (_, b) => b)));
    for (let b = 0; b < 256; b++) if (all[b] !== '\uFFFD' && !encoder.has(all[b])) encoder.set(all[b], b);
    ENCODERS.set(label, encoder);
  }
  const bytes = Buffer.alloc(text.length);
  for (let i = 0; i < text.length; i++) {
    const b = encoder.get(text[i]);
    if (b === undefined) return undefined;
    bytes[i] = b;
  }
  return bytes;
}

/** Where a value sits in its message, for the AR's ERR-2. */
interface Place {
  segment: string;
  sequence: number;
  field: number;
  repetition: number;
  component: number;
}

/**
 * The message with its character set escapes read (v2.5.1 2.7.2; MSH-20 `2.3`): after `\C2D42\`
 * the bytes of a value are ISO 8859-2's until the next switch or the value's end (a delimiter);
 * `\C2842\` returns to the message's own set. The text after a switch was read in the message's
 * set (`readAs`), so its bytes are found again and read in the set switched to; text holding
 * characters the message's set has not (sent as themselves, in UTF-8 or as XML references) is
 * kept as it is. A switch to a set this registry does not read, or bytes that are not text in the
 * set switched to, throw an Hl7Problem (AR) at that value: never stored as escape text.
 */
export function readCharacterSetEscapes(message: string, readAs: ReadAs, problem: (issue: Hl7Issue) => Error): string {
  const ordinals = new Map<string, number>();
  return message
    .split('\r')
    .map((line) => {
      const name = line.slice(0, 3);
      const sequence = (ordinals.get(name) ?? 0) + 1;
      ordinals.set(name, sequence);
      if (!line.includes('\\C') && !line.includes('\\M')) return line;
      // MSH-1 and MSH-2 are the delimiters themselves (MSH-2 holds the escape character).
      const head = name === 'MSH' ? line.slice(0, 9) : '';
      const fields = line.slice(head.length).split('|');
      const firstField = name === 'MSH' ? 3 : 0;
      return (
        head +
        fields
          .map((field, f) =>
            field
              .split('~')
              .map((repetition, r) =>
                repetition
                  .split('^')
                  .map((component, c) =>
                    component
                      .split('&')
                      .map((value) => readValue(value, readAs, { segment: name, sequence, field: firstField + f, repetition: r + 1, component: c + 1 }, problem))
                      .join('&')
                  )
                  .join('^')
              )
              .join('~')
          )
          .join('|')
      );
    })
    .join('\r');
}

function readValue(value: string, readAs: ReadAs, place: Place, problem: (issue: Hl7Issue) => Error): string {
  if (!value.includes('\\C') && !value.includes('\\M')) return value;
  let decode: SetDecoder | null = null;
  let switchedTo = '';
  /** Text between escapes, read in the set switched to. */
  const read = (text: string): string => {
    const bytes = decode && text ? bytesOf(text, readAs) : undefined;
    if (!decode || !bytes) return text;
    const decoded = decode(bytes);
    if (decoded === undefined || decoded.includes('\uFFFD')) {
      throw problem({ severity: 'E', hl7Code: '102', appCode: '4', text: `The text after the escape to ${switchedTo} is not text in that character set`, location: where(place) });
    }
    return decoded;
  };
  let out = '';
  let i = 0;
  while (i < value.length) {
    const start = value.indexOf('\\', i);
    const end = start < 0 ? -1 : value.indexOf('\\', start + 1);
    if (end < 0) {
      out += read(value.slice(i));
      break;
    }
    out += read(value.slice(i, start));
    const code = value.slice(start + 1, end);
    i = end + 1;
    if (decode && /^X(?:[0-9A-Fa-f]{2})+$/.test(code)) {
      // Bytes given in hex after a switch are that set's too: passed on as the UTF-8 bytes of the
      // characters they stand for (unescapeText reads \Xhh\ as UTF-8 when it is).
      const text = decode(Buffer.from(code.slice(1), 'hex'));
      if (text === undefined || text.includes('\uFFFD')) {
        throw problem({ severity: 'E', hl7Code: '102', appCode: '4', text: `The escape \\${code}\\ after the escape to ${switchedTo} is not text in that character set`, location: where(place) });
      }
      out += `\\X${Buffer.from(text, 'utf8').toString('hex').toUpperCase()}\\`;
      continue;
    }
    if (!/^[CM][0-9A-Fa-f]{4,6}$/.test(code)) {
      // Another escape (\F\, \X…\ in the message's own set, …): kept for unescapeText, as sent.
      out += value.slice(start, end + 1);
      continue;
    }
    const target = SWITCHES[code.toUpperCase()];
    if (!target) {
      throw problem({
        severity: 'E',
        hl7Code: '103',
        appCode: '5',
        text: `The escape \\${code}\\ switches to a character set this registry does not read: send the text in UTF-8 (MSH-18 UNICODE UTF-8), or switch to ISO 8859 (\\C2D41\\ to \\C2D62\\) or JIS X 0201/0208/0212`,
        location: where(place),
      });
    }
    decode = target.decode;
    switchedTo = target.name;
  }
  return out;
}

function where(place: Place): Hl7Issue['location'] {
  return { segment: place.segment, sequence: place.sequence, field: place.field, repetition: place.repetition, component: place.component };
}

// ---- the answer's character set ----------------------------------------------------------------

/** The single-byte sets an answer can be sent in: the set a message was read in → its MSH-18 (table 0211) and HTTP charset. */
const ANSWER_SETS: Record<string, { msh18: string; charset: string }> = {
  latin1: { msh18: '8859/1', charset: 'ISO-8859-1' },
  'iso-8859-2': { msh18: '8859/2', charset: 'ISO-8859-2' },
  'iso-8859-3': { msh18: '8859/3', charset: 'ISO-8859-3' },
  'iso-8859-4': { msh18: '8859/4', charset: 'ISO-8859-4' },
  'iso-8859-5': { msh18: '8859/5', charset: 'ISO-8859-5' },
  'iso-8859-6': { msh18: '8859/6', charset: 'ISO-8859-6' },
  'iso-8859-7': { msh18: '8859/7', charset: 'ISO-8859-7' },
  'iso-8859-8': { msh18: '8859/8', charset: 'ISO-8859-8' },
  // WHATWG reads ISO 8859-9 as windows-1254 (its superset; they differ only in 0x80–0x9F, refused below).
  'windows-1254': { msh18: '8859/9', charset: 'ISO-8859-9' },
  'iso-8859-15': { msh18: '8859/15', charset: 'ISO-8859-15' },
};

// An MSH's MSH-18 when it is `UNICODE UTF-8` (withDeclaredCharset): MSH-2…MSH-17 are 16 fields.
const MSH18_UTF8 = /(^|\r)(MSH\|(?:[^|\r]*\|){16})UNICODE UTF-8(?=[|\r]|$)/g;

/**
 * An answer (ER7, or `wrap`ped: a SOAP envelope given the XML encoding name) in the set the
 * message was read in, when that is a single-byte set of table 0211 and every character of the
 * answer is one of its characters: its MSH-18 says that set (`8859/1`) where withDeclaredCharset
 * said `UNICODE UTF-8`. Many legacy receivers read only the set they send; the standard has the
 * answer's MSH-18 name the set it is in, so either way the receiver is told. Otherwise (a UTF-8
 * message, an ASCII answer, a character the set has not): the answer as UTF-8, as before.
 */
export function answerBytes(answer: string, readAs: ReadAs, wrap: (text: string, encoding: string) => string = (text) => text): { body: string | Buffer; charset: string } {
  const set = ANSWER_SETS[readAs.toLowerCase()];
  // eslint-disable-next-line no-control-regex
  if (set && /[^\x00-\x7f]/.test(answer)) {
    const bytes = bytesOf(wrap(answer.replace(MSH18_UTF8, `$1$2${set.msh18}`), set.charset), readAs);
    if (bytes && !bytes.some((b) => b >= 0x80 && b < 0xa0)) return { body: bytes, charset: set.charset };
  }
  return { body: wrap(answer, 'UTF-8'), charset: 'utf-8' };
}
