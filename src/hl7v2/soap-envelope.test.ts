// parseEnvelope reads the request's fields as raw text and decodes them itself (the library's
// character-at-a-time text reading costs ~30 KB of garbage per VXU): its answers must be the
// library's full parse's, the reference (`{ reference: true }`), for every input — the same
// request, or the same fault with the same text.
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { objectForm, parseEnvelope, SoapFault, STOP_NODE_OPTIONS, type OrderedNode } from './soap.js';

function outcome(xml: string, reference: boolean): unknown {
  try {
    return { ok: parseEnvelope(xml, { reference }) };
  } catch (err) {
    if (!(err instanceof SoapFault)) throw err;
    return { fault: err.fault, detail: err.detail, side: err.side };
  }
}

const TEXT_PIECES = ['MSH|^~\\&amp;|A|B', '&#13;', '&#x0D;', '&#10;', '\r', '\n', '\r\n', ' ', '  ', '\t', '&amp;', '&lt;', '&gt;', '&quot;', '&apos;', '&bogus;', '&#0;', '&#xD800;', '&#1114112;', '&', ']]>', '>', '"', "'", 'é', '😀', 'PID|1||X^^^Y^MR', 'x'];
const MARKUP_PIECES = ['<![CDATA[a<b]]>', '<!-- c -->', '<b>x</b>', '<hl7Message>n</hl7Message>', '<x/>', '<?pi x?>', '<'];

const fieldText = (withMarkup: boolean) =>
  fc.array(withMarkup ? fc.oneof(fc.constantFrom(...TEXT_PIECES), fc.constantFrom(...MARKUP_PIECES), fc.string({ maxLength: 4 })) : fc.constantFrom(...TEXT_PIECES), { maxLength: 10 }).map((parts) => parts.join(''));

const element = (name: string, withMarkup: boolean) =>
  fc.oneof(
    fieldText(withMarkup).map((text) => `<${name}>${text}</${name}>`),
    fieldText(withMarkup).map((text) => `<cdc:${name} a="1">${text}</cdc:${name}>`),
    fc.constant(`<${name}/>`),
    fc.constant(''),
    fc.tuple(fieldText(withMarkup), fieldText(withMarkup)).map(([a, b]) => `<${name}>${a}</${name}><${name}>${b}</${name}>`)
  );

const envelope = (withMarkup: boolean) =>
  fc
    .tuple(
      fc.constantFrom('submitSingleMessage', 'connectivityTest', 'submitBatch'),
      fc.constantFrom('http://www.w3.org/2003/05/soap-envelope', 'http://schemas.xmlsoap.org/soap/envelope/'),
      fc.constantFrom('', '<?xml version="1.0" encoding="UTF-8"?>'),
      fc.constantFrom('', '<soap:Header/>', '<soap:Header><hl7Message>h</hl7Message></soap:Header>'),
      fc.array(fc.constantFrom('username', 'password', 'facilityID', 'hl7Message', 'echoBack', 'other'), { maxLength: 6 }).chain((names) => fc.tuple(...names.map((n) => element(n, withMarkup)))),
      fc.constantFrom('', ' ', '\n  ')
    )
    .map(
      ([operation, ns, declaration, header, fields, gap]) =>
        `${declaration}<soap:Envelope xmlns:soap="${ns}">${gap}${header}<soap:Body>${gap}<${operation} xmlns="urn:cdc:iisb:2011">${fields.join(gap)}</${operation}>${gap}</soap:Body></soap:Envelope>`
    );

describe('parseEnvelope (fields read raw) against the full library parse', () => {
  it('gives the same request for envelopes of plain text fields', () => {
    fc.assert(
      fc.property(envelope(false), (xml) => {
        expect(outcome(xml, false)).toEqual(outcome(xml, true));
      }),
      { numRuns: 600 }
    );
  });

  it('gives the same request or fault for fields with markup, broken documents and any text', () => {
    const broken = fc.tuple(envelope(true), fc.nat(), fc.nat()).map(([xml, cut, drop]) => xml.slice(0, xml.length - (cut % 20)).replace(xml[drop % xml.length] ?? '', ''));
    fc.assert(
      fc.property(fc.oneof(envelope(true), broken, fc.string({ maxLength: 60 })), (xml) => {
        expect(outcome(xml, false)).toEqual(outcome(xml, true));
      }),
      { numRuns: 600 }
    );
  });

  it('refuses a character reference to a character XML does not allow (&#0;, a surrogate, beyond U+10FFFF) as not well-formed, in both parses; it had been kept as written and split the HL7 value at its &', () => {
    for (const reference of ['&#0;', '&#x0;', '&#xD800;', '&#56320;', '&#1114112;', '&#xFFFFFF;']) {
      const xml =
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><submitSingleMessage xmlns="urn:cdc:iisb:2011">' +
        `<username>u</username><password>p</password><facilityID>F</facilityID><hl7Message>MSH|^~\\&amp;|A&#13;PID|1||X^^^Y^MR||ZED${reference}QUIX^ANNA</hl7Message>` +
        '</submitSingleMessage></soap:Body></soap:Envelope>';
      for (const reference_ of [false, true]) {
        const refused = outcome(xml, reference_) as { fault?: string; detail?: string; side?: string };
        expect({ reference, fault: refused.fault, side: refused.side }).toEqual({ reference, fault: 'UnknownFault', side: 'Sender' });
        expect(refused.detail).toContain(reference);
      }
    }
  });

  it('reads a VXU envelope with segment ends as references', () => {
    const xml =
      '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><submitSingleMessage xmlns="urn:cdc:iisb:2011">' +
      '<username>u</username><password>p&amp;q</password><facilityID>F</facilityID><hl7Message>MSH|^~\\&amp;|A&#13;PID|1</hl7Message>' +
      '</submitSingleMessage></soap:Body></soap:Envelope>';
    expect(parseEnvelope(xml)).toEqual({
      version: '1.2',
      request: { operation: 'submitSingleMessage', username: 'u', password: 'p&q', facilityID: 'F', hl7Message: 'MSH|^~\\&|A\rPID|1' },
    });
  });
});

describe('objectForm (the ordered parse read as objects) against the library own object form', () => {
  const ordered = new XMLParser({ ...STOP_NODE_OPTIONS, preserveOrder: true });
  const objects = new XMLParser(STOP_NODE_OPTIONS);
  // Elements nested a few levels, repeated, empty, self-closing or prefixed, beside text, CDATA,
  // comments and references; some of them the request's fields (read raw as stop nodes).
  const names = fc.constantFrom('Envelope', 'soap:Body', 'Body', 'submitSingleMessage', 'hl7Message', 'username', 'a', 'x:b', 'constructor', 'toString');
  const text = fc.constantFrom('', ' ', '\n  ', 't', '&amp;', '&#13;', '<![CDATA[c<d]]>', '<!-- n -->', 'é');
  const tree: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      text,
      names.map((n) => `<${n}/>`),
      fc.tuple(names, fc.array(tie('node'), { maxLength: 4 })).map(([n, children]) => `<${n}>${children.join('')}</${n}>`)
    ),
  })).node;

  it('is the same object for any document the library reads', () => {
    fc.assert(
      fc.property(fc.array(tree, { minLength: 1, maxLength: 3 }), (parts) => {
        const xml = parts.join('');
        let expected: unknown;
        try {
          expected = objects.parse(xml, true);
        } catch {
          expect(() => ordered.parse(xml, true)).toThrow();
          return;
        }
        expect(objectForm(ordered.parse(xml, true) as OrderedNode[])).toEqual(expected);
      }),
      { numRuns: 1000 }
    );
  });
});
