// POST /hl7v2's fast lane (hl7FastLane: answered without express) against the express route it
// stands in for, as soap-lane.test.ts does for /soap: two servers get the same requests in the
// same order, one at `/hl7v2?via=express` (not claimed, so express's route answers), the other at
// `/hl7v2` (the lane); their raw answers must be the same bytes but for what differs by nature
// (the Date header, each server's own URL in the Bearer realm, HL7 timestamps, the ACK's control
// id, resource ids).
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { TestServer } from '../../test/helpers/server.js';
import { exchange, normalisedHl7Answer, portOf, rawPost, serverPair } from '../../test/helpers/raw-exchange.js';
import { DEFAULT_MAX_MESSAGE_BYTES, hl7FastLane, type Hl7v2Deps } from './http.js';
import { controlId, hl7Date, msh, order, pid, vxu, yearsAgo } from './test-messages.js';

const MAX_MESSAGE_BYTES = 4096;
const servers = serverPair({ logLevel: 'silent', hl7v2MaxMessageBytes: MAX_MESSAGE_BYTES });

function rawRequest(path: string, body: string, headers: Record<string, string>): string {
  return rawPost(path, body, { 'x-request-id': 'hl7-lane-1', ...headers });
}

const normalised = normalisedHl7Answer;

async function both(body: string, headers: Record<string, string>): Promise<{ express: string; lane: string }> {
  const express = await exchange(portOf(servers.viaExpress), rawRequest('/hl7v2?via=express', body, headers));
  const lane = await exchange(portOf(servers.viaLane), rawRequest('/hl7v2', body, headers));
  return { express: normalised(express), lane: normalised(lane) };
}

function message(mrn: string): string {
  return vxu({
    facility: 'CLINIC-LANE',
    pid: pid({ mrn, authority: 'LANECLINIC', family: 'Adeyemi', given: 'Tobi', birth: yearsAgo(2), sex: 'M' }),
    orders: [order({ filler: `${mrn}-1`, cvx: '20', date: hl7Date(5) })],
  });
}

describe('POST /hl7v2 fast lane', () => {
  it('answers the same bytes as the express route, request by request', async () => {
    const token = servers.viaExpress.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-lane' });
    const auth = { authorization: `Bearer ${token}` };
    const ER7 = { 'content-type': 'application/hl7-v2', ...auth };
    const query = [msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z34^CDCPHINVS', controlId: controlId('HQ'), facility: 'CLINIC-LANE' }), `QPD|Z34^Request Immunization History^CDCPHINVS|HQ-1|HL-1^^^LANECLINIC^MR|Adeyemi^Tobi^^^^^L||${yearsAgo(2)}|M`, 'RCP|I|5^RD&Records&HL70126'].join('\r');
    const cases: Array<[string, string, Record<string, string>]> = [
      ['a new child (AA)', message('HL-1'), ER7],
      ['the same message again', message('HL-1'), ER7],
      ['the other media type, with parameters and capitals', message('HL-2'), { 'content-type': 'X-Application/HL7-V2+ER7; charset=UTF-8', ...auth }],
      ['a QBP for that child', query, ER7],
      ['an unsupported version (AR)', message('HL-3').replace('|2.5.1|', '|2.3|'), ER7],
      ['not HL7', 'hello', ER7],
      ['an empty body', '', ER7],
      ['a message over the limit (AR)', message('HL-4') + '\rNTE|' + 'x'.repeat(MAX_MESSAGE_BYTES), ER7],
      ['no token (401)', message('HL-5'), { 'content-type': 'application/hl7-v2' }],
      ['a refused token (401)', message('HL-6'), { 'content-type': 'application/hl7-v2', authorization: 'Bearer a.b.c' }],
      ['another scheme (401)', message('HL-7'), { 'content-type': 'application/hl7-v2', authorization: 'Basic eDp5' }],
      ['a JSON body (415, express both ways)', '{}', { 'content-type': 'application/json', ...auth }],
      ['a CORS origin', message('HL-8'), { ...ER7, origin: 'https://clinic.example' }],
    ];
    for (const [name, body, headers] of cases) {
      const answers = await both(body, headers);
      expect(answers.lane, name).toBe(answers.express);
      expect(answers.lane, name).toMatch(/^HTTP\/1\.1 \d{3} /);
    }
    const count = async (server: TestServer) => (await server.fhir('GET', 'Immunization?_summary=count')).body.total;
    expect(await count(servers.viaLane)).toBe(await count(servers.viaExpress));
    expect(await count(servers.viaLane)).toBeGreaterThan(0);
  });

  it('claims only an HL7 media type with a plain body of a declared length within the limit', () => {
    const lane = hl7FastLane({ options: { maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES } } as Hl7v2Deps);
    const limit = DEFAULT_MAX_MESSAGE_BYTES + 64 * 1024;
    const req = (method: string, url: string, headers: Record<string, string>) => ({ method, url, headers }) as unknown as IncomingMessage;
    const er7 = { 'content-type': 'application/hl7-v2', 'content-length': '10' };
    expect(lane.claims(req('POST', '/hl7v2', er7))).toBe(true);
    expect(lane.claims(req('POST', '/hl7v2', { ...er7, 'content-type': 'x-application/hl7-v2+er7; charset=utf-8' }))).toBe(true);
    expect(lane.claims(req('POST', '/hl7v2', { ...er7, 'content-length': String(limit) }))).toBe(true);
    expect(lane.claims(req('POST', '/hl7v2', { ...er7, 'content-length': String(limit + 1) }))).toBe(false);
    expect(lane.claims(req('POST', '/hl7v2', { ...er7, 'content-type': 'text/plain' }))).toBe(false);
    expect(lane.claims(req('POST', '/hl7v2', { 'content-length': '10' }))).toBe(false);
    expect(lane.claims(req('POST', '/hl7v2', { 'content-type': 'application/hl7-v2', 'transfer-encoding': 'chunked' }))).toBe(false);
    expect(lane.claims(req('POST', '/hl7v2', { ...er7, 'content-encoding': 'gzip' }))).toBe(false);
    expect(lane.claims(req('POST', '/hl7v2/report', er7))).toBe(false);
    expect(lane.claims(req('GET', '/hl7v2', er7))).toBe(false);
  });

  it('answers a batch file (FHS/BHS…BTS/FTS) with the same bytes as the express route', async () => {
    const token = servers.viaExpress.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-lane' });
    const headers = { 'content-type': 'application/hl7-v2', authorization: `Bearer ${token}` };
    // The batch's own control ids (FHS-11, BHS-11: 20 hex digits) differ by nature, like MSH-10.
    const ids = (answer: string) => answer.replace(/^((?:FHS|BHS)(?:\|[^|\r]*){9}\|)[0-9a-f]{20}/gm, '$1(id)').replace(/\r((?:FHS|BHS)(?:\|[^|\r]*){9}\|)[0-9a-f]{20}/g, '\r$1(id)');
    const cases: Array<[string, string]> = [
      ['a file of two messages', ['FHS|^~\\&|EHR|CLINIC-LANE|IIS|IIS|20261207||||F-1', 'BHS|^~\\&|EHR|CLINIC-LANE|IIS|IIS|20261207||||B-1', message('HL-B1'), message('HL-B2'), 'BTS|2', 'FTS|1'].join('\r')],
      ['counts that disagree (400)', ['BHS|^~\\&|EHR|CLINIC-LANE|IIS|IIS|20261207||||B-2', message('HL-B3'), 'BTS|5'].join('\r')],
    ];
    for (const [name, body] of cases) {
      const answers = await both(body, headers);
      expect(ids(answers.lane), name).toBe(ids(answers.express));
      expect(answers.lane, name).toMatch(/^HTTP\/1\.1 (200|400) /);
    }
  });

  it('leaves an oversize request to express (an AR from its body reader)', async () => {
    const answers = await both('MSH|' + 'x'.repeat(MAX_MESSAGE_BYTES + 64 * 1024 + 1), { 'content-type': 'application/hl7-v2' });
    expect(answers.lane).toBe(answers.express);
    expect(answers.lane).toMatch(/^HTTP\/1\.1 413 /);
  });
});
