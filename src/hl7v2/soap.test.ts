// The CDC SOAP service driven by the `soap` package as a real client against /soap?wsdl: a pharmacy
// that speaks only CDC WSDL + VXU submits doses and reads the history back with QBP Z34.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import soap from 'soap';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { UserDirectory } from '../signin/users.js';
import { parseMessage } from './er7.js';
import { parseEnvelope } from './soap.js';
import { controlId, hl7Date, msh, order, pid, vxu, yearsAgo } from './test-messages.js';

let server: TestServer;
let client: soap.Client;
beforeAll(async () => {
  server = await startTestServer('embedded', { logLevel: 'silent' });
  client = await soap.createClientAsync(`${server.url}/soap?wsdl`, { forceSoap12Headers: true });
});
afterAll(async () => {
  await server?.close();
});

interface SoapResult {
  return: string;
}

describe('CDC WSDL SOAP 1.2 at /soap', () => {
  it('serves the WSDL with the service address under PUBLIC_BASE_URL', async () => {
    const res = await fetch(`${server.url}/soap?wsdl`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toContain('targetNamespace="urn:cdc:iisb:2011"');
    expect(text).toContain(`location="${server.url}/soap"`);
    expect(Object.keys(client.describe().client_Service.client_Port_Soap12)).toEqual(['connectivityTest', 'submitSingleMessage']);
  });

  it('connectivityTest echoes', async () => {
    const [result] = (await client.connectivityTestAsync({ echoBack: 'Hello IIS' })) as [SoapResult];
    expect(result.return).toBe('Hello IIS');
  });

  it('a pharmacy submits a VXU (token as password) and reads the history back with QBP Z34', async () => {
    const pharmacy = server.token({ scope: 'user/*.cruds', organization: 'Organization/pharm-9' });
    const birth = yearsAgo(34);
    const message = vxu({
      facility: 'PHARM-9',
      pid: pid({ mrn: 'SOAP-1', authority: 'RXCHAIN', family: 'Delgado', given: 'Rosa', birth, sex: 'F' }),
      orders: [order({ filler: 'SOAP-1-FLU', ndc: '49281-0643-15', date: hl7Date(2), mvx: 'PMC' })],
    });
    const [stored] = (await client.submitSingleMessageAsync({ username: 'pharm-9', password: pharmacy, facilityID: 'pharm-9', hl7Message: message })) as [SoapResult];
    const ack = parseMessage(stored.return, { maxBytes: 1e6 });
    expect(ack.messageType).toBe('ACK');
    expect(ack.message.getSegment('MSA')?.getField(1).toString(), stored.return).toMatch(/^A[AE]$/);

    const query = [
      msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z34^CDCPHINVS', controlId: controlId('SQ'), facility: 'PHARM-9' }),
      `QPD|Z34^Request Immunization History^CDCPHINVS|SQ-1|SOAP-1^^^RXCHAIN^MR|Delgado^Rosa^^^^^L||${birth}|F`,
      'RCP|I|5^RD&Records&HL70126',
    ].join('\r');
    const [answered] = (await client.submitSingleMessageAsync({ username: 'pharm-9', password: pharmacy, facilityID: 'pharm-9', hl7Message: query })) as [SoapResult];
    const rsp = parseMessage(answered.return, { maxBytes: 1e6 });
    expect(rsp.profiles[0], answered.return).toBe('Z32');
    expect(rsp.message.getSegment('RXA')?.getComponent(5, 1)).toBe('49281-0643-15');
  });

  it('the username and password of a registered user (src/signin) are SOAP credentials', async () => {
    await new UserDirectory(server.store).create({ username: 'pharmacist9', password: 'Correct-horse-battery-9', role: 'data-entry', organization: 'Organization/pharm-9' });
    const message = vxu({
      facility: 'PHARM-9',
      pid: pid({ mrn: 'SOAP-2', authority: 'RXCHAIN', family: 'Ibarra', given: 'Tomas', birth: yearsAgo(41) }),
      orders: [order({ filler: 'SOAP-2-FLU', ndc: '49281-0643-15', date: hl7Date(1), mvx: 'PMC' })],
    });
    const [stored] = (await client.submitSingleMessageAsync({ username: 'pharmacist9', password: 'Correct-horse-battery-9', facilityID: 'pharm-9', hl7Message: message })) as [SoapResult];
    expect(stored.return).toMatch(/\rMSA\|A[AE]\|/);
    const wrong = await client.submitSingleMessageAsync({ username: 'pharmacist9', password: 'not-the-password', facilityID: 'pharm-9', hl7Message: message }).catch((e: unknown) => e);
    expect(String((wrong as { body?: string }).body)).toContain('SecurityFault');
  });

  it('bad credentials: SecurityFault', async () => {
    const error = await client.submitSingleMessageAsync({ username: 'x', password: 'not-a-token', facilityID: '', hl7Message: 'MSH|^~\\&|' }).catch((e: unknown) => e);
    expect(String((error as { body?: string }).body)).toContain('SecurityFault');
    expect((error as { response?: { status: number } }).response?.status).toBe(400);
  });

  it('facilityID of another organization than the token: SecurityFault', async () => {
    const token = server.token({ scope: 'user/*.cruds', organization: 'Organization/pharm-9' });
    const error = await client.submitSingleMessageAsync({ username: 'x', password: token, facilityID: 'other-org', hl7Message: 'MSH|^~\\&|' }).catch((e: unknown) => e);
    expect(String((error as { body?: string }).body)).toContain('SecurityFault');
  });

  it('credentials that may not search Patients: the VXU is answered AR (207, why), not an UnknownFault (500)', async () => {
    const token = server.token({ scope: 'user/Immunization.cruds', organization: 'Organization/pharm-9' });
    const message = vxu({ facility: 'PHARM-9', pid: pid({ mrn: 'SOAP-4', authority: 'RXCHAIN', family: 'Okafor', given: 'Ada', birth: yearsAgo(40), sex: 'F' }), orders: [order({ filler: 'SOAP-4-FLU', ndc: '49281-0643-15', date: hl7Date(1), mvx: 'PMC' })] });
    const [answered] = (await client.submitSingleMessageAsync({ username: 'x', password: token, facilityID: 'pharm-9', hl7Message: message })) as [SoapResult];
    const ack = parseMessage(answered.return, { maxBytes: 1e6 });
    expect(ack.message.getSegment('MSA')?.getField(1).toString(), answered.return).toBe('AR');
    expect(ack.message.getSegment('ERR')?.getField(3).toString(), answered.return).toMatch(/^207/);
  });

  it('facilityID may name the organization by its id or as Organization/<id>', async () => {
    const token = server.token({ scope: 'user/*.cruds', organization: 'Organization/pharm-9' });
    const message = vxu({ facility: 'PHARM-9', pid: pid({ mrn: 'SOAP-3', authority: 'RXCHAIN', family: 'Moreau', given: 'Lea', birth: yearsAgo(29), sex: 'F' }), orders: [order({ filler: 'SOAP-3-FLU', ndc: '49281-0643-15', date: hl7Date(1), mvx: 'PMC' })] });
    for (const facilityID of ['pharm-9', 'Organization/pharm-9']) {
      const [stored] = (await client.submitSingleMessageAsync({ username: 'x', password: token, facilityID, hl7Message: message })) as [SoapResult];
      expect(stored.return, facilityID).toMatch(/\rMSA\|A[AE]\|/);
    }
  });

  it('a message over the size limit: MessageTooLargeFault', async () => {
    const big = `MSH|^~\\&|A|B|C|D|20240101||VXU^V04^VXU_V04|X|P|2.5.1\r${'NTE|1||'.concat('y'.repeat(1_100_000))}`;
    const error = await client.submitSingleMessageAsync({ username: 'x', password: server.token(), facilityID: '', hl7Message: big }).catch((e: unknown) => e);
    expect(String((error as { body?: string }).body)).toContain('MessageTooLargeFault');
  });

  it('not XML, or an unknown operation: UnknownFault / UnsupportedOperationFault, never a 5xx', async () => {
    const junk = await fetch(`${server.url}/soap`, { method: 'POST', headers: { 'content-type': 'application/soap+xml' }, body: '<not xml' });
    expect(junk.status).toBe(400);
    expect(await junk.text()).toMatch(/<fault xmlns="urn:cdc:iisb:2011">.*<Reason>Unknown<\/Reason>/s);
    const unknown = await fetch(`${server.url}/soap`, {
      method: 'POST',
      headers: { 'content-type': 'application/soap+xml' },
      body: '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><deleteEverything xmlns="urn:cdc:iisb:2011"/></s:Body></s:Envelope>',
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('UnsupportedOperationFault');
    const doctype = await fetch(`${server.url}/soap`, {
      method: 'POST',
      headers: { 'content-type': 'application/soap+xml' },
      body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><connectivityTest xmlns="urn:cdc:iisb:2011"><echoBack>&a;</echoBack></connectivityTest></s:Body></s:Envelope>',
    });
    expect(doctype.status).toBe(400);
  });

  it('an HL7 problem inside a good envelope is an AR acknowledgement, not a fault', async () => {
    const [result] = (await client.submitSingleMessageAsync({ username: 'x', password: server.token(), facilityID: '', hl7Message: 'MSH|^~\\&|A|B|C|D|20240101||VXU^V04^VXU_V04|X1|P|2.3.1' })) as [SoapResult];
    expect(result.return).toMatch(/\rMSA\|AR\|X1/);
    expect(result.return).toContain('203^Unsupported version id^HL70357');
  });

  it('reads XML entities and character references once, and nothing else', () => {
    const xml =
      '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><submitSingleMessage xmlns="urn:cdc:iisb:2011">' +
      '<username>a&amp;b</username><password>&lt;&gt;&quot;&apos;</password><facilityID>&#x41;&#66;&nbsp;</facilityID>' +
      '<hl7Message>MSH|^~\\&amp;|X&#13;PID|1&#xD;ORC|RE &amp;#13;</hl7Message></submitSingleMessage></soap:Body></soap:Envelope>';
    expect(parseEnvelope(xml).request).toEqual({
      operation: 'submitSingleMessage',
      username: 'a&b',
      password: '<>"\'',
      facilityID: 'AB&nbsp;', // HTML's named entities are not XML's: kept as written
      hl7Message: 'MSH|^~\\&|X\rPID|1\rORC|RE &#13;', // an escaped reference is text, not a segment end
    });
  });
});
