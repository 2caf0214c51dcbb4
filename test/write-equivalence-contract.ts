// One write path (issue 10): a write sent alone and the same write as a transaction entry give the
// same status and leave the same stored result, for every interaction and every condition
// (If-None-Exist, If-Match, conditional update / patch / delete with 0, 1 or 2 matches, body-id
// rules, validation failures). Run on both stores by http-embedded.test.ts and http-mongodb.test.ts
// (a MongoDB without transactions refuses transaction Bundles: then only that refusal is checked).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, startTestServer, type StoreKind, type TestServer } from './helpers/server.js';

const CASE_SYSTEM = 'urn:ietf:rfc:3986:case';

interface Setup {
  /** Unique to one run of a case: every resource the case stores carries it as an identifier. */
  marker: string;
  /** Ids the setup created, by name. */
  ids: Record<string, string>;
  /**
   * The run's own birth date. Two runs' random marker names can sound alike to the matching
   * engine (about 1 pair in 500 was graded probable and flagged possible-duplicate), so each run's
   * patients are born on a day no other run uses: year, month and day all differ.
   */
  birthDate: string;
}

let runs = 0;
/** A new Setup: a fresh marker and a birth date differing from every other run's in year, month and day. */
const newSetup = (): Setup => {
  runs += 1;
  const year = 1940 + (runs % 80);
  const month = String(1 + (runs % 12)).padStart(2, '0');
  const day = String(1 + (runs % 28)).padStart(2, '0');
  return { marker: `m${randomUUID().replace(/-/g, '')}`, ids: {}, birthDate: `${year}-${month}-${day}` };
};

interface WriteCall {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  body?: unknown;
  ifMatch?: string;
  ifNoneExist?: string;
}

interface Case {
  name: string;
  /** Patients (by name) to store first, each with the case marker. */
  patients?: string[];
  /** A second Patient with the same marker identifier under this name (for "2 matches"). */
  call(s: Setup): WriteCall;
}

const byMarker = (s: Setup) => `identifier=${CASE_SYSTEM}|${s.marker}`;
const namedPatient = (s: Setup, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  identifier: [{ system: CASE_SYSTEM, value: s.marker }],
  // Names unique to the run, so the matching engine never pairs records of different runs.
  name: [{ family: `F${s.marker}`, given: [`G${s.marker}`] }],
  gender: 'female',
  birthDate: s.birthDate,
  ...extra,
});
const patchOps = (ops: unknown[]) => ops;

const CASES: Case[] = [
  { name: 'create', call: (s) => ({ method: 'POST', url: 'Patient', body: namedPatient(s) }) },
  { name: 'create, structurally invalid (400)', call: (s) => ({ method: 'POST', url: 'Patient', body: namedPatient(s, { birthDate: 'soon' }) }) },
  {
    name: 'create, a rule broken (422 patient-unknown)',
    call: (s) => ({ method: 'POST', url: 'Immunization', body: { ...immunization(`Patient/missing-${s.marker}`), identifier: [{ system: CASE_SYSTEM, value: s.marker }] } }),
  },
  { name: 'conditional create, no match', call: (s) => ({ method: 'POST', url: 'Patient', body: namedPatient(s), ifNoneExist: byMarker(s) }) },
  { name: 'conditional create, one match', patients: ['a'], call: (s) => ({ method: 'POST', url: 'Patient', body: namedPatient(s, { gender: 'male' }), ifNoneExist: byMarker(s) }) },
  { name: 'conditional create, two matches (412)', patients: ['a', 'b'], call: (s) => ({ method: 'POST', url: 'Patient', body: namedPatient(s), ifNoneExist: byMarker(s) }) },
  { name: 'update', patients: ['a'], call: (s) => ({ method: 'PUT', url: `Patient/${s.ids.a}`, body: namedPatient(s, { id: s.ids.a, gender: 'male' }) }) },
  { name: 'update as create to a client id', call: (s) => ({ method: 'PUT', url: `Patient/new-${s.marker}`, body: namedPatient(s, { id: `new-${s.marker}` }) }) },
  { name: 'update, If-Match holds', patients: ['a'], call: (s) => ({ method: 'PUT', url: `Patient/${s.ids.a}`, body: namedPatient(s, { id: s.ids.a, gender: 'male' }), ifMatch: 'W/"1"' }) },
  { name: 'update, If-Match stale (412)', patients: ['a'], call: (s) => ({ method: 'PUT', url: `Patient/${s.ids.a}`, body: namedPatient(s, { id: s.ids.a }), ifMatch: 'W/"7"' }) },
  { name: 'update, body id differs from the URL (400)', patients: ['a'], call: (s) => ({ method: 'PUT', url: `Patient/${s.ids.a}`, body: namedPatient(s, { id: `other-${s.marker}` }) }) },
  { name: 'conditional update, no match', call: (s) => ({ method: 'PUT', url: `Patient?${byMarker(s)}`, body: namedPatient(s) }) },
  { name: 'conditional update, one match', patients: ['a'], call: (s) => ({ method: 'PUT', url: `Patient?${byMarker(s)}`, body: namedPatient(s, { gender: 'male' }) }) },
  { name: 'conditional update, two matches (412)', patients: ['a', 'b'], call: (s) => ({ method: 'PUT', url: `Patient?${byMarker(s)}`, body: namedPatient(s) }) },
  {
    name: 'conditional update, no match, body id of an existing record (409)',
    patients: ['other'],
    call: (s) => ({ method: 'PUT', url: `Patient?identifier=${CASE_SYSTEM}|nobody-${s.marker}`, body: namedPatient(s, { id: s.ids.other, gender: 'male' }) }),
  },
  { name: 'conditional update, one match, another body id (400)', patients: ['a'], call: (s) => ({ method: 'PUT', url: `Patient?${byMarker(s)}`, body: namedPatient(s, { id: `x-${s.marker}` }) }) },
  { name: 'patch', patients: ['a'], call: (s) => ({ method: 'PATCH', url: `Patient/${s.ids.a}`, body: patchOps([{ op: 'replace', path: '/gender', value: 'other' }]) }) },
  { name: 'patch, If-Match stale (412)', patients: ['a'], call: (s) => ({ method: 'PATCH', url: `Patient/${s.ids.a}`, body: patchOps([{ op: 'replace', path: '/gender', value: 'other' }]), ifMatch: 'W/"3"' }) },
  { name: 'patch, a test operation fails (422)', patients: ['a'], call: (s) => ({ method: 'PATCH', url: `Patient/${s.ids.a}`, body: patchOps([{ op: 'test', path: '/gender', value: 'male' }]) }) },
  { name: 'patch of an unknown record (404)', call: (s) => ({ method: 'PATCH', url: `Patient/none-${s.marker}`, body: patchOps([{ op: 'replace', path: '/gender', value: 'other' }]) }) },
  { name: 'conditional patch, no match (404)', call: (s) => ({ method: 'PATCH', url: `Patient?${byMarker(s)}`, body: patchOps([{ op: 'replace', path: '/gender', value: 'other' }]) }) },
  { name: 'conditional patch, one match', patients: ['a'], call: (s) => ({ method: 'PATCH', url: `Patient?${byMarker(s)}`, body: patchOps([{ op: 'replace', path: '/gender', value: 'other' }]) }) },
  { name: 'conditional patch, two matches (412)', patients: ['a', 'b'], call: (s) => ({ method: 'PATCH', url: `Patient?${byMarker(s)}`, body: patchOps([{ op: 'replace', path: '/gender', value: 'other' }]) }) },
  { name: 'delete', patients: ['a'], call: (s) => ({ method: 'DELETE', url: `Patient/${s.ids.a}` }) },
  { name: 'delete of an unknown record', call: (s) => ({ method: 'DELETE', url: `Patient/none-${s.marker}` }) },
  { name: 'delete, If-Match stale (412)', patients: ['a'], call: (s) => ({ method: 'DELETE', url: `Patient/${s.ids.a}`, ifMatch: 'W/"5"' }) },
  { name: 'conditional delete, no match', call: (s) => ({ method: 'DELETE', url: `Patient?${byMarker(s)}` }) },
  { name: 'conditional delete, one match', patients: ['a'], call: (s) => ({ method: 'DELETE', url: `Patient?${byMarker(s)}` }) },
  { name: 'conditional delete, two matches (412)', patients: ['a', 'b'], call: (s) => ({ method: 'DELETE', url: `Patient?${byMarker(s)}` }) },
];

export function runWriteEquivalenceContract(kind: StoreKind): void {
  describe(`a transaction entry and the same request alone (${kind} store)`, () => {
    let server: TestServer;
    let transactions = true;
    beforeAll(async () => {
      server = await startTestServer(kind);
      const probe = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [] } });
      transactions = probe.status === 200;
      if (!transactions) expect(probe.body.issue[0].code).toBe('not-supported');
    });
    afterAll(async () => {
      await server?.close();
    });

    const setUp = async (c: Case): Promise<Setup> => {
      const s = newSetup();
      for (const name of c.patients ?? []) {
        const id = `${name}-${s.marker}`;
        // Stored by id (update as create), so the matching engine never merges the setup's records.
        const res = await server.fhir('PUT', `Patient/${id}`, { body: namedPatient(s, { id }) });
        expect(res.status, res.text).toBe(201);
        s.ids[name] = id;
      }
      return s;
    };

    const sendAlone = async (call: WriteCall): Promise<number> => {
      const headers: Record<string, string> = {};
      if (call.ifMatch) headers['if-match'] = call.ifMatch;
      if (call.ifNoneExist) headers['if-none-exist'] = call.ifNoneExist;
      if (call.method === 'PATCH') {
        headers['content-type'] = 'application/json-patch+json';
        return (await server.fhir('PATCH', call.url, { raw: JSON.stringify(call.body), headers })).status;
      }
      return (await server.fhir(call.method, call.url, { body: call.body, headers })).status;
    };

    const sendAsEntry = async (call: WriteCall): Promise<number> => {
      const resource =
        call.method === 'PATCH'
          ? { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(call.body)).toString('base64') }
          : call.body;
      const entry = {
        fullUrl: `urn:uuid:${randomUUID()}`,
        ...(resource ? { resource } : {}),
        request: { method: call.method, url: call.url, ...(call.ifMatch ? { ifMatch: call.ifMatch } : {}), ...(call.ifNoneExist ? { ifNoneExist: call.ifNoneExist } : {}) },
      };
      const res = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [entry] } });
      if (res.status !== 200) return res.status;
      return Number(String(res.body.entry[0].response.status).split(' ')[0]);
    };

    /** What the case left stored, with the run's marker, ids and server-assigned ids made neutral. */
    const storedResult = async (s: Setup): Promise<string[]> => {
      const found: unknown[] = [];
      for (const type of ['Patient', 'Immunization']) {
        const res = await server.fhir('GET', `${type}?${byMarker(s)}&_count=50`);
        expect(res.status).toBe(200);
        for (const e of res.body.entry ?? []) found.push(e.resource);
      }
      return found
        .map((r) => {
          const { meta, ...rest } = r as { meta?: { versionId?: string } };
          return JSON.stringify({ ...rest, versionId: meta?.versionId })
            .split(s.marker)
            .join('<marker>')
            .split(s.birthDate)
            .join('<birthDate>')
            .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>');
        })
        .sort();
    };

    for (const c of CASES) {
      it(c.name, async () => {
        const alone = await setUp(c);
        const aloneStatus = await sendAlone(c.call(alone));
        const asEntry = await setUp(c);
        if (!transactions) {
          expect(await sendAsEntry(c.call(asEntry))).toBe(400);
          return;
        }
        const entryStatus = await sendAsEntry(c.call(asEntry));
        expect({ status: entryStatus, stored: await storedResult(asEntry) }).toEqual({ status: aloneStatus, stored: await storedResult(alone) });
      });
    }

    it('a conditional entry may name another entry: If-None-Exist on a urn:uuid Patient of the same transaction', async () => {
      if (!transactions) return;
      const s = newSetup();
      const patientUrl = `urn:uuid:${randomUUID()}`;
      const bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: patientUrl,
            // A real-looking child (the matching engine treats the marker names as junk), born on a day of its own.
            resource: namedPatient(s, { name: [{ family: 'Lindqvist', given: ['Maren'] }], birthDate: `2016-0${1 + Math.floor(Math.random() * 9)}-1${Math.floor(Math.random() * 9)}` }),
            request: { method: 'POST', url: 'Patient' },
          },
          {
            fullUrl: `urn:uuid:${randomUUID()}`,
            resource: { ...immunization(patientUrl), identifier: [{ system: CASE_SYSTEM, value: s.marker }] },
            request: { method: 'POST', url: 'Immunization', ifNoneExist: `patient=${patientUrl}&vaccine-code=http://hl7.org/fhir/sid/cvx|08` },
          },
        ],
      };
      const res = await server.fhir('POST', '', { body: bundle });
      expect(res.status, res.text).toBe(200);
      expect(res.body.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '201 Created']);
      const patientId = res.body.entry[0].resource.id;
      expect(res.body.entry[1].resource.patient.reference).toBe(`Patient/${patientId}`);
      // Sent again: the Patient certainly matches the stored child (merged into it), so the
      // Immunization's condition, rewritten to that child, finds the dose already stored.
      const again = await server.fhir('POST', '', { body: bundle });
      expect(again.status, again.text).toBe(200);
      expect(again.body.entry.map((e: any) => e.response.status)).toEqual(['200 OK', '200 OK']);
      expect(again.body.entry[1].resource.id).toBe(res.body.entry[1].resource.id);
    });
  });
}
