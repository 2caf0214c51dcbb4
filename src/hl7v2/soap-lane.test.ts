// POST /soap's fast lane (soapFastLane: answered without express) against the express route it
// stands in for. Two servers get the same requests in the same order: one at `/soap?via=express`
// (a URL the lane does not claim, so express's route answers), the other at `/soap` (the lane).
// Their raw answers (status line, every header in order, body) must be the same bytes, but for
// the Date header and the ACK's own timestamp (MSH-7, the time of answering).
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TestServer } from '../../test/helpers/server.js';
import { exchange, normalisedHl7Answer, portOf, rawPost, serverPair } from '../../test/helpers/raw-exchange.js';
import { soapFastLane, DEFAULT_MAX_MESSAGE_BYTES, type Hl7v2Deps } from './http.js';
import { controlId, hl7Date, order, pid, vxu, yearsAgo } from './test-messages.js';

const MAX_MESSAGE_BYTES = 4096;
const servers = serverPair({ logLevel: 'silent', hl7v2MaxMessageBytes: MAX_MESSAGE_BYTES });

const rawRequest = rawPost;

const normalised = normalisedHl7Answer;

async function both(body: string, headers: Record<string, string> = {}): Promise<{ express: string; lane: string }> {
  const withId = { 'x-request-id': 'lane-test-1', ...headers };
  const express = await exchange(portOf(servers.viaExpress), rawRequest('/soap?via=express', body, withId));
  const lane = await exchange(portOf(servers.viaLane), rawRequest('/soap', body, withId));
  return { express: normalised(express), lane: normalised(lane) };
}

function envelope(operation: string, fields: Record<string, string>, ns = 'http://www.w3.org/2003/05/soap-envelope'): string {
  const escaped = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\r/g, '&#13;');
  const inner = Object.entries(fields)
    .map(([k, v]) => `<${k}>${escaped(v)}</${k}>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="${ns}"><soap:Body><${operation} xmlns="urn:cdc:iisb:2011">${inner}</${operation}></soap:Body></soap:Envelope>`;
}

const SOAP12 = { 'content-type': 'application/soap+xml; charset=utf-8' };

function message(mrn: string, extra: { version?: string } = {}): string {
  const text = vxu({
    facility: 'PHARM-LANE',
    pid: pid({ mrn, authority: 'LANERX', family: 'Okafor', given: 'Ada', birth: yearsAgo(3), sex: 'F' }),
    orders: [order({ filler: `${mrn}-1`, cvx: '08', date: hl7Date(3) })],
  });
  return extra.version ? text.replace('|2.5.1|', `|${extra.version}|`) : text;
}

describe('POST /soap fast lane', () => {
  it('answers the same bytes as the express route, request by request', async () => {
    const token = servers.viaExpress.token({ scope: 'user/*.cruds', organization: 'Organization/pharm-lane' });
    const bearer = { ...SOAP12, authorization: `Bearer ${token}` };
    const cases: Array<[string, string, Record<string, string>]> = [
      ['a new child (AA)', envelope('submitSingleMessage', { username: '', password: '', facilityID: 'pharm-lane', hl7Message: message('LANE-1') }), bearer],
      ['the same message again', envelope('submitSingleMessage', { username: '', password: '', facilityID: 'pharm-lane', hl7Message: message('LANE-1') }), bearer],
      ['the token as the password', envelope('submitSingleMessage', { username: 'x', password: token, facilityID: '', hl7Message: message('LANE-2') }), SOAP12],
      ['an unsupported version (AR)', envelope('submitSingleMessage', { username: '', password: '', facilityID: '', hl7Message: message('LANE-3', { version: '2.3' }) }), bearer],
      ['not HL7 at all', envelope('submitSingleMessage', { username: '', password: '', facilityID: '', hl7Message: 'hello' }), bearer],
      ['a message over the limit', envelope('submitSingleMessage', { username: '', password: '', facilityID: '', hl7Message: message('LANE-4') + '\rNTE|' + 'x'.repeat(MAX_MESSAGE_BYTES) }), bearer],
      ['another facility', envelope('submitSingleMessage', { username: '', password: '', facilityID: 'elsewhere', hl7Message: message('LANE-5') }), bearer],
      ['no credentials', envelope('submitSingleMessage', { username: '', password: '', facilityID: '', hl7Message: message('LANE-6') }), SOAP12],
      ['an unknown user', envelope('submitSingleMessage', { username: 'nobody', password: 'wrong', facilityID: '', hl7Message: message('LANE-7') }), SOAP12],
      ['a refused token', envelope('submitSingleMessage', { username: '', password: '', facilityID: '', hl7Message: message('LANE-8') }), { ...SOAP12, authorization: 'Bearer a.b.c' }],
      ['connectivityTest', envelope('connectivityTest', { echoBack: 'Hello <IIS> & co' }), SOAP12],
      ['SOAP 1.1', envelope('connectivityTest', { echoBack: 'hi' }, 'http://schemas.xmlsoap.org/soap/envelope/'), { 'content-type': 'text/xml; charset=utf-8' }],
      ['an unknown operation', envelope('submitBatch', { x: '1' }), SOAP12],
      ['not XML', 'hello <', SOAP12],
      ['a DOCTYPE', '<!DOCTYPE x [<!ENTITY a "b">]><x/>', SOAP12],
      ['an empty body', '', {}],
      ['a CORS origin and no request id', envelope('connectivityTest', { echoBack: 'o' }), { ...SOAP12, origin: 'https://clinic.example', 'x-request-id': '' }],
    ];
    for (const [name, body, headers] of cases) {
      const answers = await both(body, headers);
      // Without a request id from the client, each server makes its own UUID.
      if (headers['x-request-id'] === '') {
        expect(answers.lane.replace(/^X-Request-Id: .*$/im, ''), name).toBe(answers.express.replace(/^X-Request-Id: .*$/im, ''));
        expect(answers.lane, name).toMatch(/^X-Request-Id: [0-9a-f-]{36}\r$/im);
      } else expect(answers.lane, name).toBe(answers.express);
      expect(answers.lane, name).toMatch(/^HTTP\/1\.1 \d{3} /);
    }
  });

  it('answers arbitrary bodies and headers as the express route does (fast-check)', async () => {
    const fragments = ['<?xml version="1.0"?>', '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">', '<soap:Body>', '</soap:Body>', '</soap:Envelope>', '<connectivityTest xmlns="urn:cdc:iisb:2011">', '</connectivityTest>', '<echoBack>', '</echoBack>', '&amp;', '&#13;', '&bogus;', '<![CDATA[x]]>', '<!-- c -->', 'é', ' ', '<a>', '</a>'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 8 })), { maxLength: 14 }),
        fc.constantFrom('application/soap+xml', 'text/xml; charset=utf-8', 'application/json', ''),
        async (parts, contentType) => {
          const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
          const answers = await both(parts.join(''), headers);
          expect(answers.lane).toBe(answers.express);
        }
      ),
      { numRuns: 40 }
    );
  });

  it('answers requests pipelined on one keep-alive connection in order, as express does', async () => {
    const one = (echo: string, path: string) =>
      rawRequest(path, envelope('connectivityTest', { echoBack: echo }), { ...SOAP12, connection: 'keep-alive', 'x-request-id': `pipelined-${echo}` });
    const answer = async (server: TestServer, path: string) =>
      normalised(await exchange(portOf(server), one('first', path) + one('second', path) + rawRequest(path, envelope('connectivityTest', { echoBack: 'last' }), { ...SOAP12, 'x-request-id': 'pipelined-last' })));
    const lane = await answer(servers.viaLane, '/soap');
    expect(lane).toBe(await answer(servers.viaExpress, '/soap?via=express'));
    expect(lane.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    expect(lane.indexOf('first')).toBeLessThan(lane.indexOf('second'));
    expect(lane.indexOf('second')).toBeLessThan(lane.indexOf('last'));
  });

  it('claims only a plain POST /soap of a declared length within the limit (express answers the rest)', () => {
    const lane = soapFastLane({ options: { maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES } } as Hl7v2Deps);
    const limit = DEFAULT_MAX_MESSAGE_BYTES * 2 + 64 * 1024;
    const req = (method: string, url: string, headers: Record<string, string>) => ({ method, url, headers }) as unknown as IncomingMessage;
    expect(lane.claims(req('POST', '/soap', { 'content-length': '10' }))).toBe(true);
    expect(lane.claims(req('POST', '/soap', { 'content-length': String(limit) }))).toBe(true);
    expect(lane.claims(req('POST', '/soap', { 'content-length': String(limit + 1) }))).toBe(false);
    expect(lane.claims(req('POST', '/soap', {}))).toBe(false);
    expect(lane.claims(req('POST', '/soap', { 'transfer-encoding': 'chunked' }))).toBe(false);
    expect(lane.claims(req('POST', '/soap', { 'content-length': '10', 'content-encoding': 'gzip' }))).toBe(false);
    expect(lane.claims(req('POST', '/soap', { 'content-length': '10', 'content-encoding': 'identity' }))).toBe(false);
    expect(lane.claims(req('GET', '/soap', { 'content-length': '10' }))).toBe(false);
    expect(lane.claims(req('OPTIONS', '/soap', { 'content-length': '10' }))).toBe(false);
    expect(lane.claims(req('POST', '/soap?wsdl', { 'content-length': '10' }))).toBe(false);
    expect(lane.claims(req('POST', '/SOAP', { 'content-length': '10' }))).toBe(false);
    expect(lane.claims(req('POST', '/hl7v2', { 'content-length': '10' }))).toBe(false);
  });

  it('leaves an oversize or compressed request to express (a fault from its body reader)', async () => {
    const big = 'x'.repeat(MAX_MESSAGE_BYTES * 2 + 64 * 1024 + 1);
    const answers = await both(big, SOAP12);
    expect(answers.lane).toBe(answers.express);
    expect(answers.lane).toContain('MessageTooLarge');
  });

  it('stores a VXU sent through the lane like one sent through express', async () => {
    const token = servers.viaLane.token({ scope: 'user/*.cruds', organization: 'Organization/pharm-lane' });
    const body = envelope('submitSingleMessage', { username: '', password: '', facilityID: '', hl7Message: message(`LANE-${controlId('S')}`) });
    const answers = await both(body, { ...SOAP12, authorization: `Bearer ${token}` });
    expect(answers.lane).toBe(answers.express);
    expect(answers.lane).toContain('MSA|AA');
    const count = async (server: TestServer) => (await server.fhir('GET', 'Immunization?_summary=count')).body.total;
    expect(await count(servers.viaLane)).toBe(await count(servers.viaExpress));
  });
});
