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

export type BodyText = { text: string; problem?: undefined } | { text: string; problem: Hl7Issue };

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
    if (isUtf8(body)) return { text: body.toString('utf8') };
    // Nothing declared (Content-Type without charset, MSH-18 empty): a legacy sender's 8859-1.
    if (declared === undefined && msh18(body) === '') return { text: body.toString('latin1') };
    return refused(body, `The message is not valid UTF-8 (${where}): declare its character set in MSH-18 (8859/1 for ISO 8859-1) or send UTF-8`, '102', '4');
  }
  if (label === 'latin1' || label === 'iso-8859-1') return { text: body.toString('latin1') };
  try {
    return { text: new TextDecoder(label, { fatal: true }).decode(body) };
  } catch (error) {
    const reason = error instanceof RangeError ? 'is not a character set this registry reads' : 'does not match the message\'s bytes';
    return refused(body, `${where} ${reason}: send UNICODE UTF-8, or 8859/1`, error instanceof RangeError ? '103' : '102', error instanceof RangeError ? '5' : '4');
  }
}

function refused(body: Buffer, text: string, hl7Code: string, appCode: string): BodyText {
  return { text: body.toString('utf8'), problem: { severity: 'E', hl7Code, appCode, text, location: { segment: 'MSH', sequence: 1, field: 18 } } };
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
export function xmlText(body: Buffer, contentType: string | undefined): { text: string; problem?: string } {
  const declared = charsetParameter(contentType) ?? /^(?:\uFEFF)?<\?xml[^>]*?\sencoding\s*=\s*["']([^"']+)["']/.exec(body.subarray(0, 256).toString('latin1'))?.[1];
  const label = (declared ?? 'utf-8').toLowerCase();
  if (label === 'utf-8' || label === 'utf8' || label === 'us-ascii' || label === 'ascii') {
    if (isUtf8(body)) return { text: body.toString('utf8') };
    // Nothing declared: read as ISO 8859-1, as an HL7 body declaring nothing (bodyText).
    if (declared === undefined) return { text: body.toString('latin1') };
    return { text: body.toString('utf8'), problem: `The request is not valid UTF-8${declared ? ` (declared ${declared})` : ''}: send UTF-8, or declare its encoding (encoding="ISO-8859-1")` };
  }
  if (label === 'iso-8859-1' || label === 'latin1') return { text: body.toString('latin1') };
  try {
    return { text: new TextDecoder(label, { fatal: true }).decode(body) };
  } catch (error) {
    const reason = error instanceof RangeError ? 'is not an encoding this registry reads' : "does not match the request's bytes";
    return { text: body.toString('utf8'), problem: `The request's encoding "${declared}" ${reason}: send UTF-8` };
  }
}
