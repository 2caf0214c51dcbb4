// FHIR GETs answered by the lane without express (fhirGetLane) against express's FHIR edge. Two
// servers hold the same resources (written with the same client ids) and get the same requests:
// one with the lane turned off (`fhirGetLane: false`: every request goes through express), one
// with it on. Their raw answers (status line, every header in order, body) must be the same bytes,
// but for what differs between two servers by nature: the Date header, instants (when each server
// wrote or answered), random ids (Bundle ids) and the port in URLs.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { exchange, portOf } from '../../test/helpers/raw-exchange.js';

let viaExpress: TestServer;
let viaLane: TestServer;
let systemToken: string;
let patientToken: string;

const patients = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Ølsen', given: ['Zoë'] }], birthDate: '2020-01-02', gender: 'female' },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Smith', given: ['Anna'] }], birthDate: '2019-05-17', gender: 'female' },
];
const immunizations = Array.from({ length: 5 }, (_, i) => ({
  resourceType: 'Immunization',
  id: `i${i}`,
  status: 'completed',
  patient: { reference: `Patient/p${(i % 2) + 1}` },
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: i % 2 ? '08' : '20', display: `dose ${i} "quoted" é` }] },
  occurrenceDateTime: `2021-0${i + 1}-01`,
  primarySource: true,
}));

beforeAll(async () => {
  [viaExpress, viaLane] = await Promise.all([startTestServer('embedded', { fhirGetLane: false }), startTestServer('embedded')]);
  systemToken = viaLane.token();
  patientToken = viaLane.token({ scope: 'patient/*.rs', patient: 'p1' });
  for (const server of [viaExpress, viaLane]) {
    for (const r of [...patients, ...immunizations]) {
      const res = await server.fhir('PUT', `${r.resourceType}/${r.id}`, { body: r });
      expect(res.status, res.text).toBe(201);
    }
  }
});
afterAll(async () => {
  await Promise.all([viaExpress?.close(), viaLane?.close()]);
});



/** What differs between two servers by nature (see the top of the file). */
function normalised(raw: string, port: number): string {
  return raw
    .replaceAll(`127.0.0.1:${port}`, '127.0.0.1:(port)')
    .replace(/^Date: .*$/gim, 'Date: (now)')
    .replace(/^Last-Modified: .*$/gim, 'Last-Modified: (then)')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[-+]\d{2}:\d{2})/g, '(instant)')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '(uuid)')
    .replace(/_page_token=[^"&]+/g, '_page_token=(token)');
}

async function both(path: string, headers: Record<string, string> = {}): Promise<{ express: string; lane: string }> {
  const request = (server: TestServer) => {
    const head = Object.entries({ host: `127.0.0.1:${portOf(server)}`, connection: 'close', 'x-request-id': 'lane-test-1', ...headers })
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n');
    return `GET ${path} HTTP/1.1\r\n${head}\r\n\r\n`;
  };
  const [express, lane] = await Promise.all([exchange(portOf(viaExpress), request(viaExpress)), exchange(portOf(viaLane), request(viaLane))]);
  return { express: normalised(express, portOf(viaExpress)), lane: normalised(lane, portOf(viaLane)) };
}

const auth = () => ({ authorization: `Bearer ${systemToken}` });

describe('fhirGetLane answers FHIR GETs as express does', () => {
  const cases: Array<[string, string, () => Record<string, string>]> = [
    ['a read', '/fhir/Patient/p1', auth],
    ['a read of a missing resource', '/fhir/Patient/nope', auth],
    ['a read of an unknown type', '/fhir/Nothing/1', auth],
    ["a patient's Immunizations", '/fhir/Immunization?patient=Patient/p1', auth],
    ['… with _include', '/fhir/Immunization?patient=Patient/p1&_include=Immunization:patient', auth],
    ['… with _count=1 (next link)', '/fhir/Immunization?patient=Patient/p1&_count=1', auth],
    ['… _summary=count', '/fhir/Immunization?patient=Patient/p1&_summary=count', auth],
    ['… _elements', '/fhir/Immunization?patient=Patient/p1&_elements=status', auth],
    ['… _pretty', '/fhir/Immunization?patient=Patient/p1&_pretty=true', auth],
    ['… _format=json', '/fhir/Immunization?patient=Patient/p1&_format=json', auth],
    ['… _format=xml (406)', '/fhir/Immunization?patient=Patient/p1&_format=xml', auth],
    ['… Accept: application/json', '/fhir/Immunization?patient=Patient/p1', () => ({ ...auth(), accept: 'application/json' })],
    ['… Accept: text/csv (406)', '/fhir/Immunization?patient=Patient/p1', () => ({ ...auth(), accept: 'text/csv' })],
    ['… an unknown parameter, strict (400)', '/fhir/Immunization?patient=Patient/p1&nonsense=1', () => ({ ...auth(), prefer: 'handling=strict' })],
    ['… a malformed date (400)', '/fhir/Immunization?date=notadate', auth],
    ['… with an Origin (CORS)', '/fhir/Immunization?patient=Patient/p1', () => ({ ...auth(), origin: 'https://app.example' })],
    ['no token (401 + challenge)', '/fhir/Immunization?patient=Patient/p1', () => ({})],
    ['a bad token (401 + challenge)', '/fhir/Immunization?patient=Patient/p1', () => ({ authorization: 'Bearer nonsense' })],
    ['a patient token, own data', '/fhir/Immunization?patient=Patient/p1', () => ({ authorization: `Bearer ${patientToken}` })],
    ["a patient token, another's record (403)", '/fhir/Patient/p2', () => ({ authorization: `Bearer ${patientToken}` })],
    ['capabilities (no token)', '/fhir/metadata', () => ({})],
    ['type history', '/fhir/Immunization/_history', auth],
    ['instance history', '/fhir/Patient/p1/_history', auth],
    ['vread', '/fhir/Patient/p1/_history/1', auth],
    ['a conditional read (304)', '/fhir/Patient/p1', () => ({ ...auth(), 'if-none-match': 'W/"1"' })],
    ['an operation', '/fhir/Patient/p1/$everything', auth],
    ['a system search', '/fhir/?_type=Patient', auth],
    ['an encoded path', '/fhir/Patient/p%31', auth],
    ['SMART discovery (not claimed: a router)', '/fhir/.well-known/smart-configuration', () => ({})],
  ];
  it.each(cases)('%s', async (_name, path, headers) => {
    const { express, lane } = await both(path, headers());
    expect(express).toMatch(/^HTTP\/1\.1 \d{3}/);
    expect(lane).toBe(express);
  });

  it('claims only FHIR-shaped GETs under /fhir/ without a body', async () => {
    const { fhirGetLane } = await import('./app.js');
    const lane = fhirGetLane({ pipeline: { baseUrl: 'http://x/fhir' } as never, config: {} as never, verifier: {} as never, logger: {} as never });
    const req = (method: string, url: string, headers: Record<string, string> = {}) => ({ method, url, headers }) as never;
    expect(lane.claims(req('GET', '/fhir/Immunization?patient=Patient/p1'))).toBe(true);
    expect(lane.claims(req('GET', '/fhir/metadata'))).toBe(true);
    expect(lane.claims(req('GET', '/fhir/Patient/p1', { 'content-length': '0' }))).toBe(true);
    expect(lane.claims(req('HEAD', '/fhir/Patient/p1'))).toBe(false);
    expect(lane.claims(req('POST', '/fhir/Patient/_search'))).toBe(false);
    expect(lane.claims(req('GET', '/fhir/Patient/p1', { 'content-length': '2' }))).toBe(false);
    expect(lane.claims(req('GET', '/fhir/Patient/p1', { 'transfer-encoding': 'chunked' }))).toBe(false);
    expect(lane.claims(req('GET', '/fhir/.well-known/smart-configuration'))).toBe(false);
    expect(lane.claims(req('GET', '/fhir'))).toBe(false);
    expect(lane.claims(req('GET', '/FHIR/Patient'))).toBe(false);
    expect(lane.claims(req('GET', '/healthz'))).toBe(false);
  });

  it('searches with arbitrary parameters (property)', async () => {
    const names = fc.constantFrom('patient', 'date', 'vaccine-code', 'status', '_count', '_sort', '_summary', '_elements', '_include', '_total', 'family', 'birthdate', '_id', 'nonsense', '_format');
    const values = fc.oneof(
      fc.constantFrom('Patient/p1', 'p2', 'ge2021-02-01', 'lt2021', 'http://hl7.org/fhir/sid/cvx|08', 'completed', '2', '-date', 'true', 'count', 'status', 'Immunization:patient', 'accurate', 'Ølsen', 'i1,i2', 'json'),
      fc.string({ maxLength: 12 })
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('Immunization', 'Patient'), fc.array(fc.tuple(names, values), { maxLength: 4 }), async (type, params) => {
        const query = params.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('&');
        const { express, lane } = await both(`/fhir/${type}${query ? `?${query}` : ''}`, auth());
        expect(lane).toBe(express);
      }),
      { numRuns: 60 }
    );
  });
});
