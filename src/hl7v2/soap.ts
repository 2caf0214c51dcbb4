// The CDC IIS SOAP service (urn:cdc:iisb:2011) at POST /soap, its WSDL at GET /soap?wsdl.
// Envelopes are read and written with fast-xml-parser (no entity expansion beyond XML's own, no
// DTD processing); the HL7 message inside goes through the same handleMessage as POST /hl7v2.
// SOAP 1.2 (application/soap+xml) is the CDC binding; a SOAP 1.1 envelope is answered in kind.
import { readFileSync } from 'node:fs';
import { XMLBuilder, XMLParser, type EntityDecoderOptions } from 'fast-xml-parser';
import type { Caller } from '../auth/caller.js';
import { isFhirError } from '../fhir/outcome.js';
import type { SubmitterCheck } from '../signin/index.js';

export const CDC_NAMESPACE = 'urn:cdc:iisb:2011';
export const SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope';
export const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

export type SoapFaultName = 'SecurityFault' | 'MessageTooLargeFault' | 'UnknownFault' | 'UnsupportedOperationFault';

/** CDC fault codes (the WSDL types them as integers and leaves the values to the IIS). */
const FAULT_CODES: Record<SoapFaultName, number> = { SecurityFault: 10, UnsupportedOperationFault: 20, MessageTooLargeFault: 30, UnknownFault: 40 };
const FAULT_REASONS: Record<SoapFaultName, string> = {
  SecurityFault: 'Security',
  UnsupportedOperationFault: 'UnsupportedOperation',
  MessageTooLargeFault: 'MessageTooLarge',
  UnknownFault: 'Unknown',
};

export class SoapFault extends Error {
  constructor(
    readonly fault: SoapFaultName,
    readonly detail: string,
    /** Sender faults are the client's (HTTP 400); Receiver faults the server's (HTTP 500). */
    readonly side: 'Sender' | 'Receiver' = 'Sender'
  ) {
    super(detail);
    this.name = 'SoapFault';
  }
}

export type SoapRequest =
  | { operation: 'connectivityTest'; echoBack: string }
  | { operation: 'submitSingleMessage'; username: string; password: string; facilityID: string; hl7Message: string };

export interface ParsedEnvelope {
  version: '1.1' | '1.2';
  request: SoapRequest;
}

/**
 * XML's own entities only: the five named ones and numeric character references (`&#13;` carries
 * the segment ends). DOCTYPEs are refused before parsing, so there are no declared entities to
 * expand; an unknown `&name;` stays as written. One instance serves every parse (the parser's
 * default decoder is built anew for each document, a third of the cost of reading an envelope).
 */
function xmlEntities(): EntityDecoderOptions {
  const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
  const decodeOne = (whole: string, name: string): string => {
    if (name[0] !== '#') return NAMED[name] ?? whole;
    const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return Number.isInteger(code) && code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : whole;
  };
  const REFERENCE = /&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z]+);/g;
  return {
    decode: (text) => {
      if (!text.includes('&')) return text;
      // Segment ends are nearly every reference in a message: replaced without the regex first.
      const crs = text.includes('&#13;') ? text.split('&#13;').join('\r') : text;
      return crs.includes('&') ? crs.replace(REFERENCE, decodeOne) : crs;
    },
    reset: () => undefined,
    setXmlVersion: () => undefined,
    setExternalEntities: () => undefined,
    addInputEntities: () => undefined,
  };
}

const ENTITIES = xmlEntities();

const PARSER_OPTIONS = {
  removeNSPrefix: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  entityDecoder: ENTITIES,
  ignoreDeclaration: true,
  ignorePiTags: true,
  jPath: false, // no callbacks read the tag path: do not build its string for every element
} as const;

/** The elements of a request whose text is read (see SoapRequest). */
const REQUEST_FIELDS = ['username', 'password', 'facilityID', 'hl7Message', 'echoBack'];

/**
 * The library reads element text one character at a time (a string concatenation per character:
 * ~30 KB of garbage for a VXU's envelope, ~8 % of what a VXU allocates). The request's fields are
 * read as the library's "stop nodes" instead (their raw text as one substring), then decoded with
 * the same entity decoder the library applies to text. That is the same value whenever the raw
 * text holds no markup (no `<`: no child element, CDATA or comment); otherwise, or if this parse
 * throws, the envelope is read again with `fullParser`, the reference (soap.test.ts compares both).
 */
export const STOP_NODE_OPTIONS = { ...PARSER_OPTIONS, stopNodes: REQUEST_FIELDS.map((field) => `*.${field}`) };
const parser = new XMLParser({ ...STOP_NODE_OPTIONS, preserveOrder: true });
const fullParser = new XMLParser(PARSER_OPTIONS);

/**
 * A node of the library's ordered form (preserveOrder): `{ [element]: children }` or
 * `{ '#text': text }` (no attributes: they are ignored).
 */
export type OrderedNode = Record<string, unknown>;

/**
 * The library's object form of ordered nodes, as its own conversion (node2json's `compress`) makes
 * it with these options (attributes ignored, no element forced into an array, no empty text node
 * kept): an element of text only is its text, an empty one `''`, a repeated one an array, text
 * beside elements `#text`, joined. The library builds that form by walking the ordered tree again
 * with its path matcher, once per element (a second tree and ~10 % of reading a VXU's envelope);
 * an envelope's tree is a dozen nodes, read here directly. The full parse (`fullParser`) is the
 * reference it is compared with (soap-envelope.test.ts).
 */
export function objectForm(nodes: OrderedNode[]): Record<string, unknown> {
  const form: Record<string, unknown> = {};
  let text: string | undefined;
  for (const node of nodes) {
    const name = nameOf(node);
    if (name === undefined) continue;
    if (name === '#text') {
      text = text === undefined ? (node[name] as string) : text + String(node[name]);
      continue;
    }
    const children = node[name] as OrderedNode[] | undefined;
    if (!children) continue;
    const inner = objectForm(children);
    const keys = Object.keys(inner);
    const value: unknown = keys.length === 1 && inner['#text'] !== undefined ? inner['#text'] : keys.length === 0 ? '' : inner;
    if (form[name] !== undefined && Object.prototype.hasOwnProperty.call(form, name)) {
      const seen = form[name];
      if (Array.isArray(seen)) seen.push(value);
      else form[name] = [seen, value];
    } else form[name] = value;
  }
  if (typeof text === 'string') {
    if (text.length > 0) form['#text'] = text;
  } else if (text !== undefined) form['#text'] = text;
  return form;
}

/** The node's element name, or `#text` (its first key that is not the attributes' `:@`). */
function nameOf(node: OrderedNode): string | undefined {
  for (const key of Object.keys(node)) if (key !== ':@') return key;
  return undefined;
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false });

/** Reads a SOAP envelope; SoapFault (UnknownFault / UnsupportedOperationFault) when it is not one we answer. */
export function parseEnvelope(xml: string, options: { reference?: boolean } = {}): ParsedEnvelope {
  if (/<!DOCTYPE/i.test(xml)) throw new SoapFault('UnknownFault', 'Document type declarations are not accepted in SOAP messages');
  const illegal = illegalCharacterReference(xml);
  if (illegal) throw new SoapFault('UnknownFault', `The request is not well-formed XML: the character reference ${illegal} is not a character XML allows`);
  const raw = options.reference ? undefined : readRawFields(xml);
  if (raw) return requestOf(xml, raw.doc, (value) => (value.length > 0 ? ENTITIES.decode(value) : value));
  let doc: Record<string, unknown>;
  try {
    doc = fullParser.parse(xml, true) as Record<string, unknown>;
  } catch (err) {
    throw new SoapFault('UnknownFault', `The request is not well-formed XML: ${(err as Error).message}`);
  }
  return requestOf(xml, doc, (value) => value);
}

/**
 * A character reference to a character XML does not allow (&#0;, a surrogate, beyond U+10FFFF),
 * outside CDATA sections and comments: the document is not well-formed (XML 1.0 WFC Legal
 * Character). The entity decoder kept it as written, and its `&` was then an HL7 subcomponent
 * separator: PID-5 `ZED&#0;QUIX` was stored as the family name "ZED", the rest dropped unsaid.
 */
function illegalCharacterReference(xml: string): string | undefined {
  if (!/&#(?!13;)/.test(xml)) return undefined;
  const text = xml.includes('<!') ? xml.replace(/<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->/g, '') : xml;
  for (const [whole, digits] of text.matchAll(/&#([xX][0-9a-fA-F]+|[0-9]+);/g)) {
    const code = digits[0] === 'x' || digits[0] === 'X' ? parseInt(digits.slice(1), 16) : parseInt(digits, 10);
    if (!(code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff))) return whole;
  }
  return undefined;
}

/** The stop-node parse, when every request field it read is plain text (see `parser`). */
function readRawFields(xml: string): { doc: Record<string, unknown> } | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = objectForm(parser.parse(xml, true) as OrderedNode[]);
  } catch {
    return undefined;
  }
  const body = (doc.Envelope as Record<string, unknown> | undefined)?.Body;
  if (!body || typeof body !== 'object') return { doc };
  for (const input of Object.values(body as Record<string, unknown>)) {
    if (!input || typeof input !== 'object') continue;
    for (const field of REQUEST_FIELDS) {
      if (hasMarkup((input as Record<string, unknown>)[field])) return undefined;
    }
  }
  return { doc };
}

function hasMarkup(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('<');
  if (Array.isArray(value)) return value.some(hasMarkup);
  if (value && typeof value === 'object') return Object.values(value).some(hasMarkup);
  return false;
}

function requestOf(xml: string, doc: Record<string, unknown>, decode: (value: string) => string): ParsedEnvelope {
  const envelope = doc.Envelope as Record<string, unknown> | undefined;
  const body = envelope?.Body as Record<string, unknown> | undefined;
  if (!envelope || !body || typeof body !== 'object') throw new SoapFault('UnknownFault', 'The request is not a SOAP envelope with a Body');
  const version = /soap\/envelope\//.test(xml.slice(0, 2000)) && !xml.slice(0, 2000).includes(SOAP12_NS) ? '1.1' : '1.2';
  const [operation] = Object.keys(body);
  const input = (body[operation] ?? {}) as Record<string, unknown>;
  const text = (name: string): string => {
    const value = input[name];
    if (value === undefined || value === null) return '';
    if (typeof value === 'string') return decode(value);
    if (typeof value === 'object' && '#text' in (value as object)) return decode(String((value as Record<string, unknown>)['#text']));
    return '';
  };
  if (operation === 'connectivityTest') return { version, request: { operation, echoBack: text('echoBack') } };
  if (operation === 'submitSingleMessage') {
    return { version, request: { operation, username: text('username'), password: text('password'), facilityID: text('facilityID'), hl7Message: text('hl7Message') } };
  }
  throw new SoapFault('UnsupportedOperationFault', `Operation ${operation ?? '(none)'} is not offered: use submitSingleMessage or connectivityTest`);
}

function envelope(version: '1.1' | '1.2', body: Record<string, unknown>, encoding = 'UTF-8'): string {
  const ns = version === '1.1' ? SOAP11_NS : SOAP12_NS;
  const xml = builder.build({ 'soap:Envelope': { '@_xmlns:soap': ns, 'soap:Body': body } }) as string;
  // XML parsers turn a literal CR into LF: HL7 segment ends travel as character references.
  return `<?xml version="1.0" encoding="${encoding}"?>${xml.replace(/\r/g, '&#13;')}`;
}

/** `encoding`: the XML declaration's, the name of the set the caller writes the envelope's bytes in (UTF-8 unless told). */
export function responseEnvelope(version: '1.1' | '1.2', operation: SoapRequest['operation'], value: string, encoding = 'UTF-8'): string {
  return envelope(version, { [`${operation}Response`]: { '@_xmlns': CDC_NAMESPACE, return: value } }, encoding);
}

export function faultEnvelope(version: '1.1' | '1.2', fault: SoapFault): string {
  const detail = {
    [fault.fault === 'UnknownFault' ? 'fault' : fault.fault]: {
      '@_xmlns': CDC_NAMESPACE,
      Code: FAULT_CODES[fault.fault],
      Reason: FAULT_REASONS[fault.fault],
      Detail: fault.detail,
    },
  };
  if (version === '1.1') {
    return envelope('1.1', { 'soap:Fault': { faultcode: `soap:${fault.side === 'Sender' ? 'Client' : 'Server'}`, faultstring: fault.fault, detail } });
  }
  return envelope('1.2', {
    'soap:Fault': {
      'soap:Code': { 'soap:Value': `soap:${fault.side}` },
      'soap:Reason': { 'soap:Text': { '@_xml:lang': 'en', '#text': `${fault.fault}: ${fault.detail}` } },
      'soap:Detail': detail,
    },
  });
}

/** The WSDL with its soap12:address set to this server's /soap. */
export function wsdlFor(publicBaseUrl: string): string {
  const text = readFileSync(new URL('./cdc-iis.wsdl', import.meta.url), 'utf8');
  const wsdlParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', preserveOrder: true, commentPropName: '#comment' });
  const tree = wsdlParser.parse(text) as unknown[];
  setAddress(tree, `${publicBaseUrl}/soap`);
  const wsdlBuilder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', preserveOrder: true, commentPropName: '#comment', format: true });
  return wsdlBuilder.build(tree) as string;
}

/** Walks the preserveOrder tree and sets soap12:address/@location. */
function setAddress(nodes: unknown, location: string): void {
  if (!Array.isArray(nodes)) return;
  for (const node of nodes as Array<Record<string, unknown>>) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'soap12:address') {
        node[':@'] = { ...(node[':@'] as object), '@_location': location };
      } else if (key !== ':@') setAddress(value, location);
    }
  }
}

/**
 * SOAP credentials, in this order: a bearer token in the Authorization header; a password that is
 * an access token (a JWT: system clients that have no user account); the username and password
 * of a registered user. Anything else is a SecurityFault.
 */
export async function soapCaller(
  authorization: string | undefined,
  request: Extract<SoapRequest, { operation: 'submitSingleMessage' }>,
  verify: (authorization: string | undefined) => Caller | Promise<Caller>,
  checkPassword?: (username: string, password: string) => Promise<SubmitterCheck>
): Promise<Caller> {
  try {
    if (authorization) return await verify(authorization);
    if (JWT_SHAPE.test(request.password)) return await verify(`Bearer ${request.password}`);
  } catch (err) {
    if (!isFhirError(err)) throw err;
    throw new SoapFault('SecurityFault', err.message);
  }
  if (request.username && request.password && checkPassword) {
    const checked = await checkPassword(request.username, request.password);
    if ('caller' in checked) return checked.caller;
    throw new SoapFault('SecurityFault', checked.refused);
  }
  throw new SoapFault('SecurityFault', 'No valid credentials: send the username and password of a registered user (or the client id and secret of a registered app), or an access token');
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
