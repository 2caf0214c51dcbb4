// The character set of an HL7 v2 body (MSH-18, or the Content-Type's charset): ISO 8859-1 text is
// read as such, bytes that are not text in the declared set are refused (AR), never stored as U+FFFD;
// a body declaring nothing is UTF-8 when its bytes are, else ISO 8859-1 (a legacy sender's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { bodyText, withDeclaredCharset } from './charset.js';
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
