// The character set of an HL7 v2 body (MSH-18, or the Content-Type's charset): ISO 8859-1 text is
// read as such, bytes that are not text in the declared set are refused (AR), never stored as U+FFFD;
// a body declaring nothing is UTF-8 when its bytes are, else ISO 8859-1 (a legacy sender's).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { answerBytes, bodyText, withDeclaredCharset } from './charset.js';
import { component, parseMessage } from './er7.js';
import { isHl7Problem } from './problems.js';
import { hl7Date, msh, order, pid, vxu, yearsAgo } from './test-messages.js';

/** A VXU whose MSH-18 is `charset` (MSH-18 is index 17 of the MSH split on `|`). */
function withCharset(message: string, charset: string): string {
  return message.replace(/^[^\r]*/, (header) => {
    const fields = header.split('|');
    while (fields.length < 18) fields.push('');
    fields[17] = charset;
    return fields.join('|');
  });
}

describe('bodyText', () => {
  const header = (charset: string) => `${msh({}).split('|').slice(0, 17).join('|')}|${charset}\rPID|1||X^^^A^MR||Jos`;
  it('reads MSH-18 8859/1 as ISO 8859-1, an empty MSH-18 or UNICODE UTF-8 as UTF-8, and the Content-Type charset first', () => {
    expect(bodyText(Buffer.concat([Buffer.from(header('8859/1'), 'latin1'), Buffer.from([0xe9])]), 'application/hl7-v2').text).toMatch(/José$/);
    expect(bodyText(Buffer.from(`${header('')}é`, 'utf8'), 'application/hl7-v2').text).toMatch(/José$/);
    expect(bodyText(Buffer.from(`${header('UNICODE UTF-8')}é`, 'utf8'), undefined).text).toMatch(/José$/);
    expect(bodyText(Buffer.concat([Buffer.from(header(''), 'latin1'), Buffer.from([0xe9])]), 'application/hl7-v2; charset=ISO-8859-1').text).toMatch(/José$/);
    expect(bodyText(Buffer.concat([Buffer.from(header('8859/15'), 'latin1'), Buffer.from([0xa4])]), undefined).text).toMatch(/Jos€$/);
    // Table 0211's ISO-IR names, and its multi-byte sets.
    expect(bodyText(Buffer.concat([Buffer.from(header('ISO IR100'), 'latin1'), Buffer.from([0xe9])]), undefined)).toMatchObject({ text: expect.stringMatching(/José$/), readAs: 'latin1' });
    expect(bodyText(Buffer.from(`${header('ISO IR192')}é`, 'utf8'), undefined)).toMatchObject({ text: expect.stringMatching(/José$/), readAs: 'utf-8' });
    expect(bodyText(Buffer.from(`${header('ISO IR6')}`, 'utf8'), undefined).problem).toBeUndefined();
    expect(bodyText(Buffer.concat([Buffer.from(header('KS X 1001'), 'latin1'), Buffer.from([0xb1, 0xe8])]), undefined).text).toMatch(/Jos김$/);
    expect(bodyText(Buffer.concat([Buffer.from(header('BIG-5'), 'latin1'), Buffer.from([0xa4, 0xa4])]), undefined).text).toMatch(/Jos中$/);
    expect(bodyText(Buffer.concat([Buffer.from(header('GB 18030-2000'), 'latin1'), Buffer.from([0xd6, 0xd0])]), undefined)).toMatchObject({ text: expect.stringMatching(/Jos中$/), readAs: 'utf-8' });
  });

  it('refuses bytes that are not text in the declared set, and a set it does not read, at MSH-18', () => {
    const latin1AsUtf8 = bodyText(Buffer.concat([Buffer.from(header('UNICODE UTF-8'), 'latin1'), Buffer.from([0xe9])]), 'application/hl7-v2');
    expect(latin1AsUtf8.problem).toMatchObject({ severity: 'E', hl7Code: '102', location: { segment: 'MSH', field: 18 } });
    expect(latin1AsUtf8.problem?.text).toContain('not valid UTF-8');
    expect(bodyText(Buffer.concat([Buffer.from(header(''), 'latin1'), Buffer.from([0xe9])]), 'application/hl7-v2; charset=utf-8').problem).toMatchObject({ hl7Code: '102' });
    expect(bodyText(Buffer.from(header('ISO IR87'), 'latin1'), undefined).problem).toMatchObject({ hl7Code: '103' });
  });

  it('declaring nothing (no charset, MSH-18 empty): UTF-8 when the bytes are UTF-8, else ISO 8859-1; UTF-8 and ISO-8859-1 spelled so in MSH-18 are read', () => {
    const latin1WithoutMsh18 = bodyText(Buffer.concat([Buffer.from(header(''), 'latin1'), Buffer.from([0xe9])]), 'application/hl7-v2');
    expect(latin1WithoutMsh18.problem).toBeUndefined();
    expect(latin1WithoutMsh18.text).toMatch(/José$/);
    expect(bodyText(Buffer.from(`${header('')}é`, 'utf8'), undefined).text).toMatch(/José$/);
    for (const read of [bodyText(Buffer.from(`${header('UTF-8')}é`, 'utf8'), undefined), bodyText(Buffer.concat([Buffer.from(header('ISO-8859-1'), 'latin1'), Buffer.from([0xe9])]), undefined)]) {
      expect(read.problem).toBeUndefined();
      expect(read.text).toMatch(/José$/);
    }
  });
});

describe('withDeclaredCharset', () => {
  it('sets MSH-18 UNICODE UTF-8 on an answer holding a character outside ASCII, and leaves an ASCII answer as it is', () => {
    const ascii = 'MSH|^~\\&|IIS||EHR||20240101||ACK^V04^ACK|1|P|2.5.1|||NE|NE|||||Z23^CDCPHINVS\rMSA|AA|1';
    expect(withDeclaredCharset(ascii)).toBe(ascii);
    const named = `${ascii}\rERR||PID^1^5^1|0^Message accepted^HL70357|I||||José`;
    expect(withDeclaredCharset(named).split('\r')[0].split('|').slice(17, 21)).toEqual(['UNICODE UTF-8', '', '', 'Z23^CDCPHINVS']);
    expect(withDeclaredCharset(named).split('\r').slice(1)).toEqual(named.split('\r').slice(1));
  });
});

describe('character set escapes (v2.5.1 2.7.2: \\Cxxyy\\, \\Mxxyyzz\\)', () => {
  /** PID-5 of a message whose text is `name` read as `readAs`. */
  const family = (name: string, readAs?: string) => component(parseMessage(`${msh({})}\rPID|1||X^^^A^MR||${name}^Ann`, { maxBytes: 100_000, readAs }).message.getSegment('PID')!, 5, 1);
  const refusal = (name: string, readAs?: string) => {
    try {
      family(name, readAs);
    } catch (err) {
      if (isHl7Problem(err)) return err.issue;
      throw err;
    }
    return undefined;
  };

  it('reads the bytes after a switch to ISO 8859-n in that set, until \\C2842\\ or the end of the value; a message read in UTF-8 keeps its characters', () => {
    // Read as ISO 8859-1 (MSH-18 8859/1, or nothing declared and not UTF-8): each character is its byte.
    expect(family('Ma\\C2D42\\\u00b9ek', 'latin1')).toBe('Ma\u0161ek'); // 0xB9 in 8859-2: š
    expect(family('\\C2D4C\\\u00b8\u00d2\u00d0\\C2842\\ \u00e9', 'latin1')).toBe('\u0418\u0432\u0430 \u00e9'); // Cyrillic, then back: é
    expect(family('\\C2D46\\\u00c1\u00e8\u00de\u00ed', 'latin1')).toBe('\u0391\u03b8\u03ae\u03bd'); // Greek
    // The next value (a component) is in the message's set again.
    const pidText = component(parseMessage(`${msh({})}\rPID|1||X^^^A^MR||\\C2D42\\\u00b9^\u00b9`, { maxBytes: 100_000, readAs: 'latin1' }).message.getSegment('PID')!, 5, 2);
    expect(pidText).toBe('\u00b9');
    // Read in UTF-8 (or from a SOAP envelope): a character is itself; the switch changes nothing and goes.
    expect(family('Jos\\C2D41\\\u00e9')).toBe('Jos\u00e9');
    // Other escapes inside a switched run are read as ever; an escaped backslash is text, not a switch.
    expect(family('A\\C2D42\\\\T\\\u00b9', 'latin1')).toBe('A&\u0161');
    expect(family('\\E\\C2D41\\E\\', 'latin1')).toBe('\\C2D41\\');
    // Bytes in hex after a switch are the switched set's too (0xB9: š in 8859-2, ¹ in 8859-1).
    expect(family('Ma\\C2D42\\\\XB9\\ek')).toBe('Ma\u0161ek');
    expect(family('Ma\\XB9\\ek')).toBe('Ma\u00b9ek');
  });

  it('reads JIS X 0201 and the two-byte JIS X 0208 / 0212 after \\C284A\\, \\C2949\\, \\M2442\\, \\M242844\\', () => {
    expect(family('\\M2442\\0!0"\\C2842\\x')).toBe('\u4e9c\u5516x'); // 0x3021 亜, 0x3022 唖
    expect(family('\\C2949\\\u00b1\u00b2', 'latin1')).toBe('\uff71\uff72'); // half-width ｱｲ
    expect(family('\\M242844\\"/')).toBe('\u02d8'); // JIS X 0212 0x222F: breve
  });

  it('refuses (AR) a switch to a set it does not read and bytes that are not text in the set switched to, at the value: never stored as escape text', () => {
    expect(refusal('\\M242941\\AB', 'latin1')).toMatchObject({ severity: 'E', hl7Code: '103', appCode: '5', location: { segment: 'PID', sequence: 1, field: 5, repetition: 1, component: 1 } });
    expect(refusal('\\C2D47\\\u00a1', 'latin1')).toMatchObject({ hl7Code: '102', location: { segment: 'PID', field: 5, component: 1 } }); // 0xA1 is no character in 8859-6
    expect(refusal('\\M2442\\0', 'latin1')).toMatchObject({ hl7Code: '102' }); // half a pair
    expect(refusal('Jos\\XE9\\')).toBeUndefined();
  });
});

describe('character set escapes of any shape (fast-check)', () => {
  /** Pieces of hostile values: switches known and unknown, truncated and unterminated escapes, hex runs of odd length, delimiters, bytes of every half. */
  const piece = fc.oneof(
    fc.constantFrom('\\C2D42\\', '\\C2842\\', '\\M2442\\', '\\M242844\\', '\\C284A\\', '\\C2949\\', '\\C2D4\\', '\\C2D41', '\\M24\\', '\\CZZZZ\\', '\\C\\', '\\M\\', '\\', '\\X\\', '\\XB\\', '\\XB9\\', '\\XC3A9\\', '\\X00\\', '\\F\\', '\\E\\', '\\.br\\', '""', '&', '^', '~', '%"', '!!'),
    fc.string({ maxLength: 4 }),
    fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b))
  );
  const value = fc.array(piece, { maxLength: 12 }).map((pieces) => pieces.join(''));

  it('a value is read or refused as an HL7 problem (AR) in every set a message is read in; nothing else is thrown', () => {
    fc.assert(
      fc.property(value, fc.constantFrom('utf-8', 'latin1', 'iso-8859-2', 'iso-8859-5', 'windows-1254', 'iso-8859-15'), (name, readAs) => {
        try {
          parseMessage(`${msh({})}\rPID|1||X^^^A^MR||${name}^Ann`, { maxBytes: 100_000, readAs });
        } catch (err) {
          expect(isHl7Problem(err), String(err)).toBe(true);
        }
      }),
      { numRuns: 3000 }
    );
  });

  it('the time to read a value grows with its length, not its square: 60,000 switches with text between them', () => {
    const run = (n: number) => {
      const name = '\\C2D42\\\u00b9a\\C2842\\b'.repeat(n);
      const started = performance.now();
      parseMessage(`${msh({})}\rPID|1||X^^^A^MR||${name}^Ann`, { maxBytes: 10_000_000, readAs: 'latin1' });
      return performance.now() - started;
    };
    run(1_000);
    expect(run(60_000)).toBeLessThan(3000);
  });
});

describe('answerBytes', () => {
  const answer = 'MSH|^~\\&|IIS||EHR||20240101||RSP^K11^RSP_K11|1|P|2.5.1|||NE|NE||UNICODE UTF-8|||Z32^CDCPHINVS\rPID|1||X^^^A^MR||Jos\u00e9^Ann';
  it('sends an answer in the single-byte set its message was read in when every character is one of it, MSH-18 naming that set; else UTF-8 as it is', () => {
    const latin1 = answerBytes(answer, 'latin1');
    expect(latin1.charset).toBe('ISO-8859-1');
    expect(Buffer.isBuffer(latin1.body)).toBe(true);
    const text = (latin1.body as Buffer).toString('latin1');
    expect(text.split('\r')[0].split('|')[17]).toBe('8859/1');
    expect(text.split('\r')[1]).toBe('PID|1||X^^^A^MR||Jos\u00e9^Ann');
    expect((latin1.body as Buffer).includes(Buffer.from([0xe9]))).toBe(true);
    const greek = answerBytes(answer.replace('Jos\u00e9', '\u0391\u03b8\u03ae\u03bd\u03b1'), 'iso-8859-7');
    expect(greek.charset).toBe('ISO-8859-7');
    expect(new TextDecoder('iso-8859-7').decode(greek.body as Buffer)).toContain('|8859/7|||Z32^CDCPHINVS\rPID|1||X^^^A^MR||\u0391\u03b8\u03ae\u03bd\u03b1^Ann');
    // A character the set has not (Ł in ISO 8859-1), a message read as UTF-8, an ASCII answer: UTF-8, unchanged.
    for (const [text, readAs] of [[answer.replace('Jos\u00e9', '\u0141ukasz'), 'latin1'], [answer, 'utf-8'], ['MSH|^~\\&|IIS\rMSA|AA|1', 'latin1']]) {
      expect(answerBytes(text, readAs)).toEqual({ body: text, charset: 'utf-8' });
    }
    // SOAP: the envelope is given the encoding it is written in.
    const wrapped = answerBytes(answer, 'latin1', (hl7, encoding) => `<?xml version="1.0" encoding="${encoding}"?><r>${hl7}</r>`);
    expect((wrapped.body as Buffer).toString('latin1')).toMatch(/^<\?xml version="1.0" encoding="ISO-8859-1"\?><r>MSH/);
  });
});

describe('POST /hl7v2 in ISO 8859-1', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });
  const post = (body: Buffer) =>
    fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${server.token()}` }, body: new Uint8Array(body) }).then(async (r) => ({ status: r.status, text: await r.text() }));

  it('MSH-18 8859/1 or nothing declared: "José Müller" is stored as such; the same bytes declared UTF-8: AR at MSH-18, nothing stored (single message and batch)', async () => {
    const message = (mrn: string) => vxu({ pid: pid({ mrn, family: 'Müller', given: 'José', birth: yearsAgo(2) }), orders: [order({ filler: `${mrn}-A`, cvx: '08', date: hl7Date(20) })] });
    const stored = await post(Buffer.from(withCharset(message('CS-1'), '8859/1'), 'latin1'));
    expect(stored.text).toContain('MSA|AA');
    const found = await server.fhir('GET', 'Patient?identifier=CS-1');
    expect(found.body.entry[0].resource.name[0]).toMatchObject({ family: 'Müller', given: ['José'] });
    expect(stored.text.split('\r')[0].split('|')[17]).toBe(''); // an ASCII answer: MSH-18 left empty
    // The history comes back in UTF-8, and its MSH-18 says so.
    const query = [msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z34^CDCPHINVS' }), 'QPD|Z34^Request Immunization History^CDCPHINVS|T1|CS-1^^^MYEHR^MR|Müller^José^^^^^L||' + yearsAgo(2), 'RCP|I|5^RD&Records&HL70126'].join('\r');
    const history = await post(Buffer.from(query, 'utf8'));
    expect(history.text).toContain('|Müller^José^');
    expect(history.text.split('\r')[0].split('|')[17]).toBe('UNICODE UTF-8');

    // Nothing declared (MSH-18 empty, no charset): bytes that are not UTF-8 are a legacy sender's 8859-1.
    const undeclared = await post(Buffer.from(message('CS-4'), 'latin1'));
    expect(undeclared.text).toContain('MSA|AA');
    expect((await server.fhir('GET', 'Patient?identifier=CS-4')).body.entry[0].resource.name[0]).toMatchObject({ family: 'Müller', given: ['José'] });

    const refused = await post(Buffer.from(withCharset(message('CS-2'), 'UNICODE UTF-8'), 'latin1'));
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('MSA|AR|');
    expect(refused.text).toMatch(/ERR\|\|MSH\^1\^18\^1\|102\^/);
    const batch = ['FHS|^~\\&|EHR|X68|IIS|IIS|' + hl7Date(0), 'BHS|^~\\&|EHR|X68|IIS|IIS|' + hl7Date(0), withCharset(message('CS-3'), 'UNICODE UTF-8'), 'BTS|1', 'FTS|1'].join('\r');
    const refusedBatch = await post(Buffer.from(batch, 'latin1'));
    expect(refusedBatch.text).toContain('MSA|AR|');
    expect(refusedBatch.text).toMatch(/ERR\|\|MSH\^1\^18\^1\|102\^/);
    for (const mrn of ['CS-2', 'CS-3']) expect((await server.fhir('GET', `Patient?identifier=${mrn}`)).body.entry ?? []).toEqual([]);
  });
  it('escapes switching sets are read (\\C2D42\\: "Mašek" stored), a set not read is AR; answers come in the 8859/1 the message declared when they fit it (single, batch, SOAP), else UTF-8 declared', async () => {
    const postRaw = (body: Buffer) =>
      fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${server.token()}` }, body: new Uint8Array(body) }).then(async (r) => ({ status: r.status, type: r.headers.get('content-type') ?? '', bytes: Buffer.from(await r.arrayBuffer()) }));
    const latin1 = (text: string) => Buffer.from(text, 'latin1');
    const message = (mrn: string, family: string, given: string) => withCharset(vxu({ pid: pid({ mrn, family, given, birth: yearsAgo(2) }), orders: [order({ filler: `${mrn}-A`, cvx: '08', date: hl7Date(20) })] }), '8859/1');
    const query = (mrn: string, family: string, given: string) =>
      withCharset([msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z34^CDCPHINVS' }), `QPD|Z34^Request Immunization History^CDCPHINVS|T1|${mrn}^^^MYEHR^MR|${family}^${given}^^^^^L||${yearsAgo(2)}`, 'RCP|I|5^RD&Records&HL70126'].join('\r'), '8859/1');

    const switched = await postRaw(latin1(message('CS-E1', 'Ma\\C2D42\\\u00b9ek', 'Zo\u00eb')));
    expect(switched.bytes.toString('latin1')).toContain('MSA|AA');
    expect((await server.fhir('GET', 'Patient?identifier=CS-E1')).body.entry[0].resource.name[0]).toMatchObject({ family: 'Ma\u0161ek', given: ['Zo\u00eb'] });
    const unread = await postRaw(latin1(message('CS-E2', '\\M242941\\AB', 'Li')));
    expect(unread.bytes.toString('latin1')).toContain('MSA|AR|');
    expect(unread.bytes.toString('latin1')).toMatch(/ERR\|\|PID\^1\^5\^1\^1\|103\^/);
    expect((await server.fhir('GET', 'Patient?identifier=CS-E2')).body.entry ?? []).toEqual([]);
    // In the header (MSH-4): the AR still answers the message (MSA-2 its MSH-10), in ASCII.
    const header = await postRaw(latin1(withCharset(vxu({ facility: 'X\\M242941\\68', controlId: 'CS-E2-H', pid: pid({ mrn: 'CS-E2', family: 'Li', given: 'Wei', birth: yearsAgo(2) }), orders: [order({ filler: 'CS-E2-A', cvx: '08', date: hl7Date(20) })] }), '8859/1')));
    expect(header.bytes.toString('latin1')).toContain('MSA|AR|CS-E2-H');
    expect(header.bytes.toString('latin1')).toMatch(/ERR\|\|MSH\^1\^4\^1\^1\|103\^/);
    expect(header.bytes.every((b) => b < 0x80)).toBe(true);

    // "Zoë Müller" fits ISO 8859-1: the history comes back in it, declared in MSH-18 and the Content-Type.
    expect((await postRaw(latin1(message('CS-E3', 'M\u00fcller', 'Zo\u00eb')))).bytes.toString('latin1')).toContain('MSA|AA');
    const history = await postRaw(latin1(query('CS-E3', 'M\u00fcller', 'Zo\u00eb')));
    expect(history.type).toBe('application/hl7-v2; charset=ISO-8859-1');
    expect(history.bytes.includes(latin1('|M\u00fcller^Zo\u00eb^'))).toBe(true);
    expect(history.bytes.toString('latin1').split('\r')[0].split('|')[17]).toBe('8859/1');
    // "Mašek" does not (š): UTF-8, declared.
    const utf8 = await postRaw(latin1(query('CS-E1', 'Ma\\C2D42\\\u00b9ek', 'Zo\u00eb')));
    expect(utf8.type).toBe('application/hl7-v2; charset=utf-8');
    expect(utf8.bytes.toString('utf8')).toContain('|Ma\u0161ek^Zo\u00eb^');
    expect(utf8.bytes.toString('utf8').split('\r')[0].split('|')[17]).toBe('UNICODE UTF-8');
    // A batch file: the same.
    const batch = ['FHS|^~\\&|EHR|X68|IIS|IIS|' + hl7Date(0), 'BHS|^~\\&|EHR|X68|IIS|IIS|' + hl7Date(0), query('CS-E3', 'M\u00fcller', 'Zo\u00eb'), 'BTS|1', 'FTS|1'].join('\r');
    const batchAnswer = await postRaw(latin1(batch));
    expect(batchAnswer.type).toBe('application/hl7-v2; charset=ISO-8859-1');
    expect(batchAnswer.bytes.includes(latin1('|M\u00fcller^Zo\u00eb^'))).toBe(true);
    expect(batchAnswer.bytes.toString('latin1').split('\r').find((l) => l.startsWith('MSH'))!.split('|')[17]).toBe('8859/1');

    // SOAP in an ISO-8859-1 envelope: the answer's envelope is ISO-8859-1, its declaration and Content-Type say so.
    const envelope = latin1(
      '<?xml version="1.0" encoding="ISO-8859-1"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><submitSingleMessage xmlns="urn:cdc:iisb:2011">' +
        `<username>x</username><password>${server.token()}</password><facilityID></facilityID><hl7Message>${query('CS-E3', 'M\u00fcller', 'Zo\u00eb').replace(/&/g, '&amp;')}</hl7Message>` +
        '</submitSingleMessage></soap:Body></soap:Envelope>'
    );
    const soap = await fetch(`${server.url}/soap`, { method: 'POST', headers: { 'content-type': 'application/soap+xml' }, body: new Uint8Array(envelope) });
    const soapBytes = Buffer.from(await soap.arrayBuffer());
    expect(soap.headers.get('content-type')).toBe('application/soap+xml; charset=ISO-8859-1');
    expect(soapBytes.toString('latin1')).toMatch(/^<\?xml version="1.0" encoding="ISO-8859-1"\?>/);
    expect(soapBytes.includes(latin1('|M\u00fcller^Zo\u00eb^'))).toBe(true);
    expect(soapBytes.toString('latin1')).toContain('|8859/1|');
  });

  it('SOAP: an envelope declaring encoding="ISO-8859-1", or nothing, is read so ("José" stored); the same bytes declaring UTF-8: UnknownFault, nothing stored', async () => {
    const soap = (message: string, declaration: string) =>
      Buffer.from(
        `${declaration}<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><submitSingleMessage xmlns="urn:cdc:iisb:2011">` +
          `<username>x</username><password>${server.token()}</password><facilityID></facilityID><hl7Message>${message.replace(/&/g, '&amp;')}</hl7Message>` +
          '</submitSingleMessage></soap:Body></soap:Envelope>',
        'latin1'
      );
    const send = (body: Buffer) =>
      fetch(`${server.url}/soap`, { method: 'POST', headers: { 'content-type': 'application/soap+xml' }, body: new Uint8Array(body) }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const message = (mrn: string) => vxu({ pid: pid({ mrn, family: 'Nuñez', given: 'José', birth: yearsAgo(3) }), orders: [order({ filler: `${mrn}-A`, cvx: '08', date: hl7Date(20) })] });
    const stored = await send(soap(message('CS-S1'), '<?xml version="1.0" encoding="ISO-8859-1"?>'));
    expect(stored.text).toContain('MSA|AA');
    expect((await server.fhir('GET', 'Patient?identifier=CS-S1')).body.entry[0].resource.name[0]).toMatchObject({ family: 'Nuñez', given: ['José'] });
    const undeclared = await send(soap(message('CS-S3'), ''));
    expect(undeclared.text).toContain('MSA|AA');
    expect((await server.fhir('GET', 'Patient?identifier=CS-S3')).body.entry[0].resource.name[0]).toMatchObject({ family: 'Nuñez', given: ['José'] });
    const refused = await send(soap(message('CS-S2'), '<?xml version="1.0" encoding="UTF-8"?>'));
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('<fault xmlns="urn:cdc:iisb:2011"><Code>40</Code>');
    expect(refused.text).toContain('not valid UTF-8');
    expect((await server.fhir('GET', 'Patient?identifier=CS-S2')).body.entry ?? []).toEqual([]);
  });
});
