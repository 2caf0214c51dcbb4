// Asynchronous $reminder-recall with `_outputFormat=text/csv` (the synchronous CSV as job files), and
// the audit of every patient a reminder/recall answer gives out (JSON page, streamed CSV, job files),
// on both stores (the jobs, their files and the AuditEvents live in the store).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@medplum/fhirtypes';
import { exportAll, kickoff, rawDownload, resourcesOf, withEnv, type Manifest } from '../bulk/test-helpers.js';
import { immunization, sharingConsent, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { CSV_OUTPUT_TYPE } from './async-jobs.js';

const kinds: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];
if (!testMongoUrl()) console.warn('[reminder/recall async] MongoDB tier SKIPPED: set TEST_MONGODB_URL (e.g. a FerretDB from scripts/ferretdb.sh) to run it');

const AS_OF = '2025-11-10';
const PRACTICE = 'Organization/rr-practice';
const OTHER = 'Organization/rr-other';
const QUERY = `$reminder-recall?organization=${PRACTICE}&asOf=${AS_OF}&vaccineGroup=MMR,Polio`;
const HEADER = 'id,name,birthDate,phone,address,vaccineGroup,dose,recommended,pastDue,status';

/** The CSV patients' ids (first column of each data row). */
function csvIds(csv: string): Set<string> {
  return new Set(csv.split('\r\n').slice(1).filter(Boolean).map((row) => row.slice(0, row.indexOf(','))));
}

describe.each(kinds)('$reminder-recall as CSV files, and its audit (%s store)', (kind) => {
  let server: TestServer;
  let practiceToken: string;

  beforeAll(async () => {
    // Files rotate every 3 rows: the list spans several files, each with its own header.
    server = await withEnv({ BULK_FILE_MAX_LINES: '3', BULK_POLL_SECONDS: '0.2' }, () => startTestServer(kind, { logLevel: 'error' }));
    practiceToken = server.token({ sub: 'nurse-1', scope: 'user/Patient.rs user/Immunization.rs', organization: PRACTICE });
    for (let i = 0; i < 9; i++) {
      // Children of 1–6 years; names and addresses with commas and quotes (CSV quoting); every third
      // one with an MMR dose (then only Polio is due); the last three the practice's by a dose it gave.
      const byDose = i >= 6;
      const patient = {
        resourceType: 'Patient',
        id: `rr-${i}`,
        name: [{ family: i === 1 ? "O'Hara, Jr" : `Case${i}`, given: [i === 2 ? 'Ana "Nan"' : 'Test'] }],
        birthDate: `${2019 + (i % 6)}-0${1 + (i % 9)}-15`,
        gender: i % 2 ? 'male' : 'female',
        telecom: [{ system: 'phone', value: `217-555-01${String(i).padStart(2, '0')}` }],
        address: [{ line: [`${i} Main St`], city: 'Springfield', state: 'IL', postalCode: '62701' }],
        ...(byDose ? {} : { managingOrganization: { reference: PRACTICE } }),
      };
      const put = await server.fhir('PUT', `Patient/rr-${i}`, { body: patient });
      expect(put.status, put.text).toBe(201);
      if (byDose || i % 3 === 0) {
        const dose = immunization(`Patient/rr-${i}`, {
          vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: i % 3 === 0 ? '03' : '10' }] },
          occurrenceDateTime: `${2020 + (i % 6)}-06-01`,
          ...(byDose ? { performer: [{ actor: { reference: PRACTICE } }] } : {}),
        });
        const res = await server.fhir('POST', 'Immunization', { body: dose });
        expect(res.status, res.text).toBe(201);
      }
    }
    // A patient of the practice who said No to sharing with another clinic: hidden from the practice.
    const hidden = await server.fhir('PUT', 'Patient/rr-hidden', {
      body: { resourceType: 'Patient', id: 'rr-hidden', name: [{ family: 'Hidden', given: ['Ada'] }], birthDate: '2022-01-15', gender: 'female', managingOrganization: { reference: PRACTICE } },
    });
    expect(hidden.status, hidden.text).toBe(201);
    const consent = await server.fhir('POST', 'Consent', { body: sharingConsent('rr-hidden', { provision: { type: 'deny' }, organization: [{ reference: OTHER }] }) });
    expect(consent.status, consent.text).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  async function syncCsv(token: string, requestId: string = randomUUID()): Promise<string> {
    const res = await server.fhir('GET', `${QUERY}&_format=text/csv`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId } });
    expect(res.status, res.text).toBe(200);
    return res.text;
  }

  /** The job's CSV files downloaded gzip-compressed (and once plain), joined: one header, then every row. */
  async function asyncCsv(manifest: Manifest, token: string): Promise<string> {
    let rows = '';
    expect(manifest.output.length).toBeGreaterThan(1);
    for (const [n, file] of manifest.output.entries()) {
      expect(file.type).toBe(CSV_OUTPUT_TYPE);
      const gz = await rawDownload(file.url, { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' });
      expect(gz.status, gz.inflated).toBe(200);
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gz.headers['content-type']).toMatch(/^text\/csv/);
      const [header, ...lines] = gz.inflated.split('\r\n');
      expect(header).toBe(HEADER);
      expect(lines.pop()).toBe(''); // every row ends with CRLF
      expect(lines.length).toBe(file.count);
      rows += lines.map((l) => `${l}\r\n`).join('');
      if (n === 0) {
        const plain = await rawDownload(file.url, { authorization: `Bearer ${token}` });
        expect(plain.headers['content-encoding']).toBeUndefined();
        expect(plain.inflated).toBe(gz.inflated);
      }
    }
    return `${HEADER}\r\n${rows}`;
  }

  it('_outputFormat=text/csv: the job files hold exactly the synchronous CSV (same rows, order, quoting, data sharing)', async () => {
    for (const [token, hiddenListed] of [[server.token(), true], [practiceToken, false]] as const) {
      const sync = await syncCsv(token);
      const { manifest } = await exportAll(server.baseUrl, `${QUERY}&_outputFormat=text/csv`, { token });
      expect(manifest.requiresAccessToken).toBe(true);
      expect(await asyncCsv(manifest, token)).toBe(sync);
      expect(csvIds(sync).has('rr-hidden')).toBe(hiddenListed);
      expect(sync).toContain('"Test O\'Hara, Jr"'); // quoted as the synchronous CSV quotes it
      expect(sync).toContain('"Ana ""Nan"" Case2"');
      expect(csvIds(sync).size).toBeGreaterThan(5);
    }
  }, 120_000);

  it('the CSV as a job is asked for with _outputFormat (Bulk Data); _format/Accept name the kick-off answer, 400 with a pointer', async () => {
    const token = server.token();
    const viaFormat = await kickoff(server.baseUrl, `${QUERY}&_format=text/csv`, { token });
    expect(viaFormat.status).toBe(400);
    expect(JSON.stringify(viaFormat.body)).toContain('_outputFormat=text/csv');
    expect((await kickoff(server.baseUrl, `${QUERY}&_outputFormat=application/json`, { token })).status).toBe(400);
    expect((await kickoff(server.baseUrl, `${QUERY}&_outputFormat=text/csv&_outputFormat=ndjson`, { token })).status).toBe(400);
    const sync = await server.fhir('GET', `${QUERY}&_outputFormat=text/csv`);
    expect(sync.status).toBe(400);
    const lenient = await server.fhir('GET', `${QUERY}&_outputFormat=text/csv`, { headers: { prefer: 'handling=lenient' } });
    expect(lenient.status, lenient.text).toBe(200);
    expect(lenient.body.resourceType).toBe('Bundle');
    // NDJSON stays the default, and its Bulk Data names are accepted.
    const { manifest } = await exportAll(server.baseUrl, `${QUERY}&_outputFormat=application/fhir%2Bndjson`, { token });
    expect(manifest.output.map((o) => o.type)).toContain('Patient');
    expect(manifest.output.every((o) => !o.url.includes('.csv'))).toBe(true);
  }, 120_000);

  it('an age range: the streamed CSV lists the same patients as the JSON pages (managed ones and those of its doses)', async () => {
    const json = await server.fhir('GET', `${QUERY}&ageMax=5&_count=1000`);
    expect(json.status, json.text).toBe(200);
    const listed = new Set<string>((json.body.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id));
    const csv = csvIds(await syncCsv(server.token()));
    const young = csvIds((await server.fhir('GET', `${QUERY}&ageMax=5&_format=text/csv`)).text);
    expect(young).toEqual(listed);
    expect(young.has('rr-7') && young.has('rr-8')).toBe(true); // the practice's by a dose it gave
    expect(csv.has('rr-0') && !young.has('rr-0')).toBe(true); // managed, 6 years old
    expect(csv.has('rr-6') && !young.has('rr-6')).toBe(true); // by a dose, 6 years old
  });

  /** The AuditEvents in the store (written once the audit log is flushed). */
  async function auditEvents(): Promise<AuditEvent[]> {
    await server.audit.flush();
    const out: AuditEvent[] = [];
    for await (const r of server.store.scan('AuditEvent', {})) out.push(r.resource as AuditEvent);
    return out;
  }
  const requestIdOf = (e: AuditEvent) => e.entity?.find((x) => x.type?.code === 'XrequestId')?.what?.identifier?.value;
  const patientsOf = (e: AuditEvent) => (e.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference as string);
  const queryOf = (e: AuditEvent) => Buffer.from(e.entity?.find((x) => x.role?.code === '24')?.query ?? '', 'base64').toString('utf8');

  it('a streamed CSV: every patient in it is named by an AuditEvent of the request (same caller, query, request id)', async () => {
    const requestId = `csv-${randomUUID()}`;
    const csv = await syncCsv(practiceToken, requestId);
    const events = (await auditEvents()).filter((e) => requestIdOf(e) === requestId);
    const named = events.flatMap(patientsOf);
    expect(new Set(named)).toEqual(new Set([...csvIds(csv)].map((id) => `Patient/${id}`)));
    expect(named.length).toBe(csvIds(csv).size); // each once
    const disclosures = events.filter((e) => patientsOf(e).length > 0);
    expect(disclosures.length).toBeGreaterThan(0);
    for (const e of events) {
      expect(e.subtype?.map((c) => c.code)).toContain('$reminder-recall');
      expect(queryOf(e)).toContain(`organization=${encodeURIComponent(PRACTICE)}`);
      expect(e.agent?.find((a) => a.requestor)?.who?.identifier?.value).toBe('nurse-1');
    }
    for (const e of disclosures) expect(e.outcomeDesc).toMatch(/^HTTP 200, \$reminder-recall CSV: patients 1-\d+ \(part 1\)$/);
  });

  it('a JSON page: its AuditEvent names exactly the patients of the page', async () => {
    const requestId = `page-${randomUUID()}`;
    const res = await server.fhir('GET', `${QUERY}&_count=4`, { headers: { 'x-request-id': requestId } });
    expect(res.status, res.text).toBe(200);
    const page = (res.body.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => `Patient/${e.resource.id}`);
    expect(page.length).toBe(4);
    const events = (await auditEvents()).filter((e) => requestIdOf(e) === requestId);
    expect(events.length).toBe(1);
    expect(new Set(patientsOf(events[0]))).toEqual(new Set(page));
  });

  it('a job: the patients written to its files (CSV or NDJSON) are named by AuditEvents of the kick-off, naming the job', async () => {
    for (const format of ['text/csv', 'application/fhir+ndjson']) {
      const requestId = `job-${randomUUID()}`;
      const { manifest } = await exportAll(server.baseUrl, `${QUERY}&_outputFormat=${encodeURIComponent(format)}`, { token: practiceToken, headers: { 'x-request-id': requestId } });
      const jobId = new URL(manifest.output[0].url).searchParams.get('_jobId') as string;
      const written =
        format === 'text/csv'
          ? csvIds(await asyncCsv(manifest, practiceToken))
          : new Set((await resourcesOf(manifest, 'Patient', practiceToken)).map((p) => p.id as string));
      expect(written.size).toBeGreaterThan(5);
      const events = (await auditEvents()).filter((e) => e.outcomeDesc?.includes(`asynchronous job ${jobId},`));
      expect(events.length).toBeGreaterThan(0);
      expect(new Set(events.flatMap(patientsOf))).toEqual(new Set([...written].map((id) => `Patient/${id}`)));
      for (const e of events) {
        expect(requestIdOf(e)).toBe(requestId);
        expect(queryOf(e)).toContain('_outputFormat=');
        expect(e.agent?.find((a) => a.requestor)?.who?.identifier?.value).toBe('nurse-1');
        expect(e.agent?.find((a) => a.who?.reference === PRACTICE)).toBeDefined();
      }
    }
  }, 120_000);
});
