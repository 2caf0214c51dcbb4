// The direct reader of plain SOAP requests (envelope-reader.ts) against the XML library's reading
// (parseEnvelopeFully): for any document, parseEnvelope answers exactly what the library-only path
// answers — the same request, or the same fault with the same text.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readPlainEnvelope } from './envelope-reader.js';
import { parseEnvelope, parseEnvelopeFully, SOAP11_NS, SOAP12_NS, SoapFault } from './soap.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);

function outcomeOf(read: () => unknown): unknown {
  try {
    return { ok: read() };
  } catch (err) {
    if (!(err instanceof SoapFault)) throw err;
    return { fault: err.fault, detail: err.detail, side: err.side };
  }
}

/** Text with the characters and references that matter to XML, HL7 delimiters and non-ASCII. */
const text = fc
  .array(
    fc.constantFrom('a', 'Z', '1', ' ', '|', '^', '~', '\\', 'é', '日', '\n', '\t', '\r', '>', '<', '&', '&amp;', '&lt;', '&#13;', '&#xD;', '&#X41;', '&#65;', '&foo;', '&;', '&#;', '&#x;', '&nbsp;', '&#1114112;', '"', "'"),
    { maxLength: 12 }
  )
  .map((parts) => parts.join(''));

const name = fc.constantFrom('username', 'password', 'facilityID', 'hl7Message', 'echoBack', 'other', 'ns:username', 'x:hl7Message');
const attributes = fc.constantFrom('', ' xmlns="urn:cdc:iisb:2011"', ' a="1"', ' a="1" a="2"', " a='1'", ' a="x>y"', ' a', ' xmlns:ns="urn:x" b="&amp;"');

const child = fc.record({ name, attributes, value: text, selfClosing: fc.boolean(), closeAs: fc.option(name, { nil: undefined, freq: 12 }) }).map((c) =>
  c.selfClosing ? `<${c.name}${c.attributes}/>` : `<${c.name}${c.attributes}>${c.value}</${c.closeAs ?? c.name}>`
);

const envelope = fc
  .record({
    declaration: fc.constantFrom('', '', '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?>', "<?xml version='1.0'?>", '<?xml version="1.1"?>', '<?other x?>'),
    prefix: fc.constantFrom('soap:', 'soap:', 's:', ''),
    namespace: fc.constantFrom(SOAP12_NS, SOAP12_NS, SOAP11_NS, ''),
    gap: fc.constantFrom('', '', '', '\n  ', ' '),
    header: fc.constantFrom('', '', 'H/', 'H', 'Hx'),
    operation: fc.constantFrom('submitSingleMessage', 'submitSingleMessage', 'connectivityTest', 'deleteEverything', 'cdc:submitSingleMessage'),
    operationAttributes: attributes,
    empty: fc.boolean(),
    children: fc.array(child, { maxLength: 6 }),
    trailing: fc.constantFrom('', '', '', '\n', 'junk', '<!-- c -->'),
    body: fc.constantFrom('Body', 'Body', 'Bodyx'),
  })
  .map((e) => {
    const p = e.prefix;
    const ns = e.namespace ? ` xmlns:${p.slice(0, -1) || 'soap'}="${e.namespace}"` : '';
    const header = e.header === 'H/' ? `<${p}Header/>` : e.header === 'H' ? `<${p}Header></${p}Header>` : e.header === 'Hx' ? `<${p}Header><t>1</t></${p}Header>` : '';
    const op = e.empty ? `<${e.operation}${e.operationAttributes}/>` : `<${e.operation}${e.operationAttributes}>${e.children.join(e.gap)}</${e.operation}>`;
    const body = `<${p}${e.body}>${e.gap}${op}${e.gap}</${p}Body>`;
    return `${e.declaration}<${p}Envelope${ns}>${e.gap}${header}${body}</${p}Envelope>${e.trailing}`;
  });

/** Mostly what the direct reader takes: distinct children, text without a literal CR, `<` or a bare `&`. */
const plainText = fc
  .array(fc.constantFrom('a', 'Z', '1', ' ', '|', '^', '~', '\\', 'é', '日', '\n', '\t', '>', '&amp;', '&lt;', '&#13;', '&#xD;', '&#65;', '&foo;', '&nbsp;', '&#1114112;', '"', "'"), { maxLength: 12 })
  .map((parts) => parts.join(''));
const plainEnvelope = fc
  .record({
    declaration: fc.constantFrom('', '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?>'),
    prefix: fc.constantFrom('soap:', 's:', ''),
    namespace: fc.constantFrom(SOAP12_NS, SOAP11_NS),
    header: fc.constantFrom('', 'H/', 'H'),
    operation: fc.constantFrom('submitSingleMessage', 'connectivityTest', 'cdc:submitSingleMessage'),
    operationAttributes: fc.constantFrom('', ' xmlns="urn:cdc:iisb:2011"', ' xmlns:cdc="urn:cdc:iisb:2011" a="1"'),
    children: fc.uniqueArray(
      fc.record({ name: fc.constantFrom('username', 'password', 'facilityID', 'hl7Message', 'echoBack', 'other', 'ns:facilityID'), value: plainText, selfClosing: fc.boolean() }),
      { maxLength: 6, selector: (c) => c.name.slice(c.name.indexOf(':') + 1) }
    ),
  })
  .map((e) => {
    const p = e.prefix;
    const ns = ` xmlns:${p.slice(0, -1) || 'soap'}="${e.namespace}"`;
    const header = e.header === 'H/' ? `<${p}Header/>` : e.header === 'H' ? `<${p}Header></${p}Header>` : '';
    const children = e.children.map((c) => (c.selfClosing ? `<${c.name}/>` : `<${c.name}>${c.value}</${c.name}>`)).join('');
    return `${e.declaration}<${p}Envelope${ns}>${header}<${p}Body><${e.operation}${e.operationAttributes}>${children}</${e.operation}></${p}Body></${p}Envelope>`;
  });

describe('plain SOAP requests read directly (envelope-reader.ts)', () => {
  it('parseEnvelope answers what the XML library answers, for any document', () => {
    fc.assert(
      fc.property(envelope, (xml) => {
        expect(outcomeOf(() => parseEnvelope(xml))).toEqual(outcomeOf(() => parseEnvelopeFully(xml)));
      }),
      { numRuns: RUNS }
    );
  });

  it('… and for the plain documents the direct reader takes (most of these)', () => {
    let direct = 0;
    fc.assert(
      fc.property(plainEnvelope, (xml) => {
        if (readPlainEnvelope(xml, (t) => t)) direct++;
        expect(outcomeOf(() => parseEnvelope(xml))).toEqual(outcomeOf(() => parseEnvelopeFully(xml)));
      }),
      { numRuns: RUNS }
    );
    expect(direct).toBeGreaterThan(RUNS / 2);
  });

  it('takes the direct path for the shape clients send (so the saving does not silently go)', () => {
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header/><soap:Body>' +
      '<submitSingleMessage xmlns="urn:cdc:iisb:2011"><username>bench</username><password>a.b.c</password><facilityID>bench-pharmacy</facilityID>' +
      '<hl7Message>MSH|^~\\&amp;|A|B&#13;PID|1||X^^^A^MR</hl7Message></submitSingleMessage></soap:Body></soap:Envelope>';
    const decode = (t: string) => t.replace(/&amp;/g, '&').replace(/&#13;/g, '\r');
    expect(readPlainEnvelope(xml, decode)).toEqual({
      operation: 'submitSingleMessage',
      values: new Map([
        ['username', 'bench'],
        ['password', 'a.b.c'],
        ['facilityID', 'bench-pharmacy'],
        ['hl7Message', 'MSH|^~\\&|A|B\rPID|1||X^^^A^MR'],
      ]),
    });
    expect(parseEnvelope(xml)).toEqual(parseEnvelopeFully(xml));
  });

  it('leaves unusual documents to the library', () => {
    const decode = (t: string) => t;
    for (const xml of [
      '<soap:Envelope xmlns:soap="x">\n<soap:Body><connectivityTest><echoBack>e</echoBack></connectivityTest></soap:Body></soap:Envelope>',
      '<soap:Envelope xmlns:soap="x"><soap:Body><connectivityTest><echoBack><![CDATA[e]]></echoBack></connectivityTest></soap:Body></soap:Envelope>',
      '<soap:Envelope xmlns:soap="x"><soap:Body><connectivityTest><echoBack>a\rb</echoBack></connectivityTest></soap:Body></soap:Envelope>',
      '<soap:Envelope xmlns:soap="x"><soap:Body><connectivityTest><echoBack>a</echoBack><echoBack>b</echoBack></connectivityTest></soap:Body></soap:Envelope>',
      '<soap:Envelope xmlns:soap="x"><soap:Body><connectivityTest><echoBack>a & b</echoBack></connectivityTest></soap:Body></soap:Envelope>',
      '<?xml version="1.0"?><!DOCTYPE x><soap:Envelope xmlns:soap="x"><soap:Body><connectivityTest/></soap:Body></soap:Envelope>',
    ]) {
      expect(readPlainEnvelope(xml, decode)).toBeUndefined();
    }
  });
});
