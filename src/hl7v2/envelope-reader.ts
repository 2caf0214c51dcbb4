// The SOAP request most clients send, read without the XML library: an optional XML declaration,
// Envelope, an optional empty Header, Body, one submitSingleMessage or connectivityTest element
// whose children each hold text, nothing between the tags. Anything else (whitespace between
// elements, comments, CDATA, a literal CR, a repeated or nested element, an unusual reference or
// attribute) is left to the XML library: this reader answers undefined and soap.ts parses the
// document in full. On what it does accept it gives what the library gives (a fast-check test
// compares them), for about a third of the CPU.

/** The operation and its children's text (references decoded), or undefined: parse it in full. */
export interface PlainEnvelope {
  operation: 'submitSingleMessage' | 'connectivityTest';
  values: Map<string, string>;
}

const DECLARATION = /<\?xml version="1\.0"(?: encoding="[A-Za-z0-9_-]{1,20}")?\?>/y;
const NAME = /[A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?/y;
const ATTRIBUTE = / ([A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?)="[^"<>&]*"/y;
/** References the library's validator accepts and the entity decoder reads (a subset of both). */
const REFERENCE = /&(?:#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[A-Za-z]{1,16});/y;

interface Tag {
  /** As written, with its prefix: the end tag must repeat it. */
  name: string;
  local: string;
  selfClosing: boolean;
  end: number;
}

/** `<name attr="v" …>` or `<name …/>` at `at`, or undefined. */
function openTag(xml: string, at: number): Tag | undefined {
  if (xml.charCodeAt(at) !== 60 /* < */) return undefined;
  NAME.lastIndex = at + 1;
  const m = NAME.exec(xml);
  if (!m) return undefined;
  let i = NAME.lastIndex;
  const seen = new Set<string>();
  for (;;) {
    ATTRIBUTE.lastIndex = i;
    const a = ATTRIBUTE.exec(xml);
    if (!a) break;
    if (seen.has(a[1])) return undefined;
    seen.add(a[1]);
    i = ATTRIBUTE.lastIndex;
  }
  const name = m[0];
  const local = name.slice(name.indexOf(':') + 1);
  if (xml.charCodeAt(i) === 62 /* > */) return { name, local, selfClosing: false, end: i + 1 };
  if (xml.charCodeAt(i) === 47 /* / */ && xml.charCodeAt(i + 1) === 62) return { name, local, selfClosing: true, end: i + 2 };
  return undefined;
}

/** The index after `</name>` at `at`, or -1. */
function closeTag(xml: string, at: number, name: string): number {
  return xml.startsWith(`</${name}>`, at) ? at + name.length + 3 : -1;
}

/** Text from `at` up to the next `<`, when it holds nothing the library would treat otherwise. */
function textAt(xml: string, at: number): { raw: string; end: number } | undefined {
  const end = xml.indexOf('<', at);
  if (end < 0) return undefined;
  const raw = xml.slice(at, end);
  if (raw.includes('\r')) return undefined; // XML turns a literal CR into LF: the library's business
  for (let amp = raw.indexOf('&'); amp >= 0; amp = raw.indexOf('&', amp + 1)) {
    REFERENCE.lastIndex = amp;
    if (!REFERENCE.test(raw)) return undefined;
  }
  return { raw, end };
}

export function readPlainEnvelope(xml: string, decode: (text: string) => string): PlainEnvelope | undefined {
  let i = 0;
  if (xml.startsWith('<?')) {
    DECLARATION.lastIndex = 0;
    if (!DECLARATION.test(xml)) return undefined;
    i = DECLARATION.lastIndex;
  }
  const envelope = openTag(xml, i);
  if (!envelope || envelope.selfClosing || envelope.local !== 'Envelope') return undefined;
  i = envelope.end;
  let body = openTag(xml, i);
  if (body?.local === 'Header') {
    i = body.selfClosing ? body.end : closeTag(xml, body.end, body.name);
    if (i < 0) return undefined;
    body = openTag(xml, i);
  }
  if (!body || body.selfClosing || body.local !== 'Body') return undefined;
  const op = openTag(xml, body.end);
  if (!op || (op.local !== 'submitSingleMessage' && op.local !== 'connectivityTest')) return undefined;
  const values = new Map<string, string>();
  i = op.end;
  if (!op.selfClosing) {
    for (;;) {
      if (xml.startsWith('</', i)) break;
      const child = openTag(xml, i);
      if (!child || values.has(child.local)) return undefined;
      if (child.selfClosing) {
        values.set(child.local, '');
        i = child.end;
        continue;
      }
      const text = textAt(xml, child.end);
      if (!text) return undefined;
      i = closeTag(xml, text.end, child.name);
      if (i < 0) return undefined;
      values.set(child.local, decode(text.raw));
    }
    i = closeTag(xml, i, op.name);
    if (i < 0) return undefined;
  }
  i = closeTag(xml, i, body.name);
  if (i < 0) return undefined;
  i = closeTag(xml, i, envelope.name);
  if (i !== xml.length) return undefined;
  return { operation: op.local as PlainEnvelope['operation'], values };
}
