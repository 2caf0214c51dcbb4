// Newborns and families as hospitals and clinics really write them (issue 12, session 17), on top
// of matching-families*.test.ts: the placeholder wordings hospitals use, a first name written as
// "Unknown" / "FNU", the sex recorded wrong on the placeholder, triplets, twins whose legal records
// arrive before a placeholder, twins with look-alike names, the mother's and an older sibling's
// records, a birth date mistyped on the legal record, unrelated newborns under one placeholder.
// Submitted over FHIR (POST, transaction Bundle) and HL7 v2 (/hl7v2, SOAP). Checked for each:
// no two children in one record; each child's records end as one record (merged-into-existing),
// or, where the evidence cannot tell, the second record is tagged for review and names the other
// (`possible-duplicate-of`) — never a duplicate nobody is shown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childRecord, MR, type Household } from './helpers/families.js';
import { immunization, startTestServer, type TestServer } from './helpers/server.js';
import { POSSIBLE_DUPLICATE_EXTENSION } from '../src/matching/ingest.js';
import { pid, order, vxu } from '../src/hl7v2/test-messages.js';

const HOSPITAL = 'urn:oid:2.16.840.1.113883.3.9999.401';
const OTHER_HOSPITAL = 'urn:oid:2.16.840.1.113883.3.9999.402';

let householdSeq = 0;
function household(): Household {
  const n = ++householdSeq;
  const streets = ['Birch Road', 'Lincoln Avenue', 'Cedar Lane', 'Monroe Street', 'Park Drive'];
  return {
    line: `${500 + 47 * n} ${streets[n % streets.length]}`,
    zip: `631${String(n % 100).padStart(2, '0')}`,
    phone: `217-558-${String(3000 + n).padStart(4, '0')}`,
    maiden: ['Kowalski', 'Okafor', 'Lindqvist', 'Moreau', 'Haddad'][n % 5],
  };
}

let dateSeq = 0;
/** A birth date no other scenario of this file uses, nor a day next to it. */
function birthDate(): string {
  dateSeq++;
  const d = new Date(Date.UTC(2024, 0, 10) + dateSeq * 9 * 86_400_000);
  return d.toISOString().slice(0, 10);
}

type Sex = 'male' | 'female';
interface Record_ {
  name: { family?: string; given?: string[] };
  gender: Sex;
  birthDate: string;
  household: Household;
  order?: number;
  mrn?: string;
}

const isReview = (patient: any): boolean => (patient.meta?.tag ?? []).some((t: any) => t.code === 'possible-duplicate');
const duplicateOf = (patient: any): string[] =>
  (patient.extension ?? []).filter((e: any) => e.url === POSSIBLE_DUPLICATE_EXTENSION).map((e: any) => e.valueReference?.reference);

describe('newborn records as hospitals and clinics write them', () => {
  let server: TestServer;
  let mrnSeq = 0;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  /** POSTs one record with a dose on whatever record it lands on; answers the status and the record. */
  async function submit(record: Record_, official = false): Promise<{ status: number; patient: any }> {
    const body = {
      ...childRecord({ gender: record.gender, household: record.household, order: record.order }, record.birthDate),
      name: [{ ...(official ? { use: 'official' } : {}), ...record.name }],
      ...(record.mrn ? { identifier: [{ type: MR, system: HOSPITAL, value: record.mrn }] } : {}),
    };
    const res = await server.fhir('POST', 'Patient', { body, headers: { prefer: 'return=representation' } });
    expect([200, 201], res.text).toContain(res.status);
    const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${res.body.id}`, { occurrenceDateTime: record.birthDate }) });
    expect(dose.status, dose.text).toBe(201);
    return { status: res.status, patient: res.body };
  }

  const hospital = (r: Omit<Record_, 'mrn'>) => submit({ ...r, mrn: `NBV-${++mrnSeq}` });
  const clinic = (r: Record_) => submit(r, true);

  async function dosesOf(id: string): Promise<number> {
    return (await server.fhir('GET', `Immunization?patient=Patient/${id}`)).body.entry?.length ?? 0;
  }
  async function recordsBorn(date: string): Promise<any[]> {
    return ((await server.fhir('GET', `Patient?birthdate=${date}&_count=50`)).body.entry ?? []).map((e: any) => e.resource);
  }

  /** The legal record reached the placeholder: one record, the legal name official, the placeholder kept as old, both doses. */
  async function expectMerged(legal: { status: number; patient: any }, placeholderId: string, given: string): Promise<void> {
    expect(legal.status, `${given} was not merged into its placeholder`).toBe(200);
    expect(legal.patient.id).toBe(placeholderId);
    expect(isReview(legal.patient)).toBe(false);
    const stored = (await server.fhir('GET', `Patient/${placeholderId}`)).body;
    expect(stored.name.filter((n: any) => n.use === 'official').map((n: any) => n.given.join(' '))).toEqual([given]);
    expect(await dosesOf(placeholderId)).toBe(2);
  }

  /** The record was stored on its own, tagged for review against `otherId`, and merged into nothing. */
  function expectReview(res: { status: number; patient: any }, otherId: string, label: string): void {
    expect(res.status, `${label}: merged where a reviewer must decide`).toBe(201);
    expect(res.patient.id).not.toBe(otherId);
    expect(isReview(res.patient), `${label}: a duplicate nobody is shown`).toBe(true);
    expect(duplicateOf(res.patient)).toContain(`Patient/${otherId}`);
  }

  describe('a first name that says it is not known yet stands in for the name, like "Baby Boy"', () => {
    const wordings: Array<[string, { family: string; given: string[] }]> = [
      ['Unknown', { family: 'Walsh', given: ['Unknown'] }],
      ['UNKNOWN, all caps', { family: 'WALSH', given: ['UNKNOWN'] }],
      ['FNU (first name unknown)', { family: 'Walsh', given: ['FNU'] }],
      ['No Name', { family: 'Walsh', given: ['No', 'Name'] }],
    ];
    for (const [label, name] of wordings) {
      it(`"${label}": the clinic's legal record merges into the hospital's`, async () => {
        const date = birthDate();
        const h = household();
        const placeholder = await hospital({ name, gender: 'male', birthDate: date, household: h });
        expect(placeholder.status).toBe(201);
        const legal = await clinic({ name: { family: 'Walsh', given: ['Finn'] }, gender: 'male', birthDate: date, household: h });
        await expectMerged(legal, placeholder.patient.id, 'Finn');
        expect(legal.patient.name).toContainEqual(expect.objectContaining({ use: 'old', given: name.given }));
        expect(await recordsBorn(date)).toHaveLength(1);
      });
    }

    it('in a transaction Bundle, the dose sent with the legal record lands on the hospital\'s "FNU" record', async () => {
      const date = birthDate();
      const h = household();
      const placeholder = await hospital({ name: { family: 'Walsh', given: ['FNU'] }, gender: 'female', birthDate: date, household: h });
      const urn = 'urn:uuid:0d6f0d3c-5d43-4b0e-9e55-6a1c1f2e7b21';
      const res = await server.fhir('POST', '', {
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: urn, resource: { ...childRecord({ gender: 'female', household: h }, date), name: [{ use: 'official', family: 'Walsh', given: ['Nora'] }] }, request: { method: 'POST', url: 'Patient' } },
            { resource: immunization(urn, { occurrenceDateTime: date }), request: { method: 'POST', url: 'Immunization' } },
          ],
        },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.entry[0].response.status).toBe('200 OK');
      expect(res.body.entry[1].resource.patient.reference).toBe(`Patient/${placeholder.patient.id}`);
      expect(await recordsBorn(date)).toHaveLength(1);
    });

    it('$match with onlyCertainMatches for the hospital\'s "Unknown Walsh" answers the registered legal record', async () => {
      const date = birthDate();
      const h = household();
      const legal = await clinic({ name: { family: 'Walsh', given: ['Finn'] }, gender: 'male', birthDate: date, household: h });
      const input = { ...childRecord({ gender: 'male', household: h }, date), name: [{ family: 'Walsh', given: ['Unknown'] }] };
      const match = await server.fhir('POST', 'Patient/$match', {
        body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: input }, { name: 'onlyCertainMatches', valueBoolean: true }] },
      });
      expect(match.status, match.text).toBe(200);
      expect((match.body.entry ?? []).map((e: any) => e.resource.id)).toEqual([legal.patient.id]);
    });

    it('another mother\'s "Unknown Walsh" born the same day is not merged (no household fact in common)', async () => {
      const date = birthDate();
      const placeholder = await hospital({ name: { family: 'Walsh', given: ['Unknown'] }, gender: 'male', birthDate: date, household: household() });
      const legal = await clinic({ name: { family: 'Walsh', given: ['Finn'] }, gender: 'male', birthDate: date, household: household() });
      expect(legal.status).toBe(201);
      expect(legal.patient.id).not.toBe(placeholder.patient.id);
    });
  });

  describe('a newborn placeholder of the other sex: a reviewer decides, never a merge nor an unseen duplicate', () => {
    it('"Baby Girl" recorded for a boy: the legal record is stored for review against the placeholder', async () => {
      const date = birthDate();
      const h = household();
      const placeholder = await hospital({ name: { family: 'Adams', given: ['Baby', 'Girl'] }, gender: 'female', birthDate: date, household: h });
      const legal = await clinic({ name: { family: 'Adams', given: ['Noah'] }, gender: 'male', birthDate: date, household: h });
      expectReview(legal, placeholder.patient.id, 'Noah');
      expect(await dosesOf(placeholder.patient.id)).toBe(1);
      const match = await server.fhir('POST', 'Patient/$match', { body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { ...legal.patient, id: undefined, meta: undefined, extension: undefined } }] } });
      const graded = (match.body.entry ?? []).map((e: any) => [e.resource.id, e.search.extension?.[0]?.valueCode]);
      expect(graded).toContainEqual([placeholder.patient.id, 'probable']);
    });

    it('boy/girl twins both registered as "Baby Boy": the boy reaches his own placeholder, the girl goes to review against hers', async () => {
      const date = birthDate();
      const h = household();
      const boy = await hospital({ name: { family: 'Adams', given: ['Baby', 'Boy'] }, gender: 'male', birthDate: date, household: h, order: 1 });
      const girl = await hospital({ name: { family: 'Adams', given: ['Baby', 'Boy'] }, gender: 'male', birthDate: date, household: h, order: 2 });
      const noah = await clinic({ name: { family: 'Adams', given: ['Noah'] }, gender: 'male', birthDate: date, household: h, order: 1 });
      await expectMerged(noah, boy.patient.id, 'Noah');
      const emma = await clinic({ name: { family: 'Adams', given: ['Emma'] }, gender: 'female', birthDate: date, household: h, order: 2 });
      expectReview(emma, girl.patient.id, 'Emma');
      expect(duplicateOf(emma.patient)).not.toContain(`Patient/${boy.patient.id}`);
    });

    it('the legal record first, the hospital\'s "Baby Girl" for the boy after it: the placeholder is stored for review against it', async () => {
      const date = birthDate();
      const h = household();
      const legal = await clinic({ name: { family: 'Adams', given: ['Noah'] }, gender: 'male', birthDate: date, household: h });
      const placeholder = await hospital({ name: { family: 'Adams', given: ['Baby', 'Girl'] }, gender: 'female', birthDate: date, household: h });
      expectReview(placeholder, legal.patient.id, 'the "Baby Girl" placeholder');
    });

    it('a "Baby Girl" of another household: no review (look-alike newborns stay apart silently)', async () => {
      const date = birthDate();
      await hospital({ name: { family: 'Adams', given: ['Baby', 'Girl'] }, gender: 'female', birthDate: date, household: household() });
      const legal = await clinic({ name: { family: 'Adams', given: ['Noah'] }, gender: 'male', birthDate: date, household: household() });
      expect(legal.status).toBe(201);
      expect(isReview(legal.patient)).toBe(false);
    });
  });

  describe('families that reach their own placeholders', () => {
    it('triplets with birth orders 1–3, legal records in the order 3, 1, 2', async () => {
      const date = birthDate();
      const h = household();
      const names = ['Liam', 'Noah', 'Owen'];
      const placeholders = [];
      for (const [i] of names.entries()) placeholders.push(await hospital({ name: { family: 'Reyes', given: ['Baby', 'Boy'] }, gender: 'male', birthDate: date, household: h, order: i + 1 }));
      for (const i of [2, 0, 1]) {
        const legal = await clinic({ name: { family: 'Reyes', given: [names[i]] }, gender: 'male', birthDate: date, household: h, order: i + 1 });
        await expectMerged(legal, placeholders[i].patient.id, names[i]);
      }
      expect(await recordsBorn(date)).toHaveLength(3);
    });

    it('triplets "Baby Girl A / B / C", the clinic giving birth orders', async () => {
      const date = birthDate();
      const h = household();
      const names = ['Ella', 'Ivy', 'Zoe'];
      const placeholders = [];
      for (const [i] of names.entries()) placeholders.push(await hospital({ name: { family: 'Tran', given: ['Baby', 'Girl', 'ABC'[i]] }, gender: 'female', birthDate: date, household: h }));
      for (const i of [1, 2, 0]) {
        await expectMerged(await clinic({ name: { family: 'Tran', given: [names[i]] }, gender: 'female', birthDate: date, household: h, order: i + 1 }), placeholders[i].patient.id, names[i]);
      }
    });

    it('twins whose legal records arrive before the second placeholder: that placeholder merges into its own child', async () => {
      const date = birthDate();
      const h = household();
      const first = await hospital({ name: { family: 'Kim', given: ['Baby', 'Boy'] }, gender: 'male', birthDate: date, household: h, order: 1 });
      await expectMerged(await clinic({ name: { family: 'Kim', given: ['Liam'] }, gender: 'male', birthDate: date, household: h, order: 1 }), first.patient.id, 'Liam');
      const noah = await clinic({ name: { family: 'Kim', given: ['Noah'] }, gender: 'male', birthDate: date, household: h, order: 2 });
      expect(noah.status).toBe(201);
      const second = await hospital({ name: { family: 'Kim', given: ['Baby', 'Boy'] }, gender: 'male', birthDate: date, household: h, order: 2 });
      expect(second.status).toBe(200);
      expect(second.patient.id).toBe(noah.patient.id);
      expect(await dosesOf(noah.patient.id)).toBe(2);
      expect(await recordsBorn(date)).toHaveLength(2);
    });

    it('twin placeholders with birth orders, then the clinic\'s two legal records in one transaction Bundle: each reaches its own', async () => {
      const date = birthDate();
      const h = household();
      const first = await hospital({ name: { family: 'Ross', given: ['Baby', 'Boy'] }, gender: 'male', birthDate: date, household: h, order: 1 });
      const second = await hospital({ name: { family: 'Ross', given: ['Baby', 'Boy'] }, gender: 'male', birthDate: date, household: h, order: 2 });
      const entries = (['Liam', 'Noah'] as const).flatMap((given, i) => {
        const urn = `urn:uuid:5c1e7d2a-0b7c-4e0e-9a51-7d3f4c2b1a0${i}`;
        return [
          { fullUrl: urn, resource: { ...childRecord({ gender: 'male', household: h, order: i + 1 }, date), name: [{ use: 'official', family: 'Ross', given: [given] }] }, request: { method: 'POST', url: 'Patient' } },
          { resource: immunization(urn, { occurrenceDateTime: date }), request: { method: 'POST', url: 'Immunization' } },
        ];
      });
      const res = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: entries } });
      expect(res.status, res.text).toBe(200);
      expect(res.body.entry.filter((_: unknown, i: number) => i % 2 === 0).map((e: any) => [e.response.status, e.resource.id])).toEqual([
        ['200 OK', first.patient.id],
        ['200 OK', second.patient.id],
      ]);
      for (const id of [first.patient.id, second.patient.id]) expect(await dosesOf(id)).toBe(2);
      expect(await recordsBorn(date)).toHaveLength(2);
    });

    for (const [a, b, sex] of [['Aiden', 'Aidan', 'male'], ['Mia', 'Maya', 'female'], ['Jon', 'John', 'male']] as const) {
      it(`twins ${a} and ${b} (look-alike names) with birth orders, named in the other order`, async () => {
        const date = birthDate();
        const h = household();
        const placeholder = sex === 'male' ? ['Baby', 'Boy'] : ['Baby', 'Girl'];
        const first = await hospital({ name: { family: 'Olsen', given: placeholder }, gender: sex, birthDate: date, household: h, order: 1 });
        const second = await hospital({ name: { family: 'Olsen', given: placeholder }, gender: sex, birthDate: date, household: h, order: 2 });
        await expectMerged(await clinic({ name: { family: 'Olsen', given: [b] }, gender: sex, birthDate: date, household: h, order: 2 }), second.patient.id, b);
        await expectMerged(await clinic({ name: { family: 'Olsen', given: [a] }, gender: sex, birthDate: date, household: h, order: 1 }), first.patient.id, a);
      });
    }

    const wordings: Array<[string, { family: string; given: string[] }]> = [
      ['BB', { family: 'Walsh', given: ['BB'] }],
      ['Boy', { family: 'Walsh', given: ['Boy'] }],
      ['Infant', { family: 'Walsh', given: ['Infant'] }],
      ['Newborn', { family: 'Walsh', given: ['Newborn'] }],
      ['NB Boy', { family: 'Walsh', given: ['NB', 'Boy'] }],
      ['Male', { family: 'Walsh', given: ['Male'] }],
      ['BABY BOY, all caps', { family: 'WALSH', given: ['BABY', 'BOY'] }],
      ['BABYBOY glued', { family: 'Walsh', given: ['BABYBOY'] }],
      ['trailing spaces', { family: 'Walsh ', given: ['Baby ', 'Boy '] }],
      ['Baby of Maria (the mother\'s first name)', { family: 'Walsh', given: ['Baby', 'of', 'Maria'] }],
      ['"Baby Boy" in the family field, the surname in the given', { family: 'Baby Boy', given: ['Walsh'] }],
    ];
    for (const [label, name] of wordings) {
      it(`placeholder "${label}"`, async () => {
        const date = birthDate();
        const h = household();
        const placeholder = await hospital({ name, gender: 'male', birthDate: date, household: h });
        await expectMerged(await clinic({ name: { family: 'Walsh', given: ['Finn'] }, gender: 'male', birthDate: date, household: h }), placeholder.patient.id, 'Finn');
      });
    }

    it("the mother's own record and an older sibling's (same surname, address, phone) are not the newborn", async () => {
      const date = birthDate();
      const h = household();
      const mother = await clinic({ name: { family: 'Brooks', given: ['Sarah'] }, gender: 'female', birthDate: '1994-06-03', household: h });
      const sibling = await clinic({ name: { family: 'Brooks', given: ['Ethan'] }, gender: 'male', birthDate: '2022-04-11', household: h });
      const placeholder = await hospital({ name: { family: 'Brooks', given: ['Baby', 'Girl'] }, gender: 'female', birthDate: date, household: h });
      expect(placeholder.status).toBe(201);
      expect(isReview(placeholder.patient)).toBe(false);
      await expectMerged(await clinic({ name: { family: 'Brooks', given: ['Lily'] }, gender: 'female', birthDate: date, household: h }), placeholder.patient.id, 'Lily');
      for (const other of [mother, sibling]) expect(await dosesOf(other.patient.id)).toBe(1);
    });
  });

  describe('where a reviewer decides', () => {
    const shifts: Array<[string, (d: string) => string]> = [
      ['one day off', (d) => new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)],
      ['the year off by one', (d) => `${Number(d.slice(0, 4)) - 1}${d.slice(4)}`],
      ['day and month swapped', (d) => `${d.slice(0, 4)}-${d.slice(8, 10)}-${d.slice(5, 7)}`],
    ];
    for (const [label, shift] of shifts) {
      it(`the legal record's birth date mistyped (${label}): stored for review against the placeholder`, async () => {
        let date = birthDate();
        while (Number(date.slice(8, 10)) > 12 || date.slice(8, 10) === date.slice(5, 7)) date = birthDate();
        const h = household();
        const placeholder = await hospital({ name: { family: 'Patel', given: ['Baby', 'Girl'] }, gender: 'female', birthDate: date, household: h });
        const legal = await clinic({ name: { family: 'Patel', given: ['Zara'] }, gender: 'female', birthDate: shift(date), household: h });
        expectReview(legal, placeholder.patient.id, 'Zara');
      });
    }

    it('triplets, one legal record without its birth order: either remaining placeholder fits, review', async () => {
      const date = birthDate();
      const h = household();
      const names = ['Ella', 'Ivy', 'Zoe'];
      const placeholders = [];
      for (const [i] of names.entries()) placeholders.push(await hospital({ name: { family: 'Reyes', given: ['Baby', 'Girl'] }, gender: 'female', birthDate: date, household: h, order: i + 1 }));
      await expectMerged(await clinic({ name: { family: 'Reyes', given: ['Ella'] }, gender: 'female', birthDate: date, household: h, order: 1 }), placeholders[0].patient.id, 'Ella');
      const ivy = await clinic({ name: { family: 'Reyes', given: ['Ivy'] }, gender: 'female', birthDate: date, household: h });
      expectReview(ivy, placeholders[1].patient.id, 'Ivy');
      expect(duplicateOf(ivy.patient)).toContain(`Patient/${placeholders[2].patient.id}`);
      await expectMerged(await clinic({ name: { family: 'Reyes', given: ['Zoe'] }, gender: 'female', birthDate: date, household: h, order: 3 }), placeholders[2].patient.id, 'Zoe');
    });

    it('unrelated newborns of one day under the same placeholder and nothing else: two records, the second for review', async () => {
      const date = birthDate();
      const bare = (mrn: string, system: string) => ({
        resourceType: 'Patient',
        name: [{ family: 'Smith', given: ['Baby', 'Boy'] }],
        gender: 'male',
        birthDate: date,
        identifier: [{ type: MR, system, value: mrn }],
      });
      const a = await server.fhir('POST', 'Patient', { body: bare(`NBV-${++mrnSeq}`, HOSPITAL) });
      const b = await server.fhir('POST', 'Patient', { body: bare(`NBV-${++mrnSeq}`, OTHER_HOSPITAL) });
      expect([a.status, b.status]).toEqual([201, 201]);
      expectReview({ status: b.status, patient: b.body }, a.body.id, 'the second Baby Boy Smith');
    });
  });

  describe('over HL7 v2', () => {
    const HL7_BIRTH = '20240805';
    async function postHl7(message: string): Promise<string> {
      const res = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${server.token()}` }, body: message });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      return text;
    }
    async function postSoap(message: string): Promise<string> {
      const escaped = message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\r/g, '&#13;');
      const envelope = `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><submitSingleMessage xmlns="urn:cdc:iisb:2011"><username></username><password>${server.token()}</password><facilityID></facilityID><hl7Message>${escaped}</hl7Message></submitSingleMessage></soap:Body></soap:Envelope>`;
      const res = await fetch(`${server.url}/soap`, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: envelope });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      return text;
    }
    const accepted = (ack: string) => expect(ack).toMatch(/MSA\|A[AE]\|/);
    async function byMrn(authority: string, mrn: string): Promise<any[]> {
      const res = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(`https://iis-fhir-server.org/fhir/sid/hl7v2-authority/${authority}|${mrn}`)}`);
      return (res.body.entry ?? []).map((e: any) => e.resource);
    }

    it('the hospital\'s "WALSH^UNKNOWN" and the clinic\'s legal name over /hl7v2 end as one child with both doses', async () => {
      accepted(await postHl7(vxu({ facility: 'HOSP-NB', pid: pid({ mrn: 'NBV-U1', authority: 'NBHOSP', family: 'WALSH', given: 'UNKNOWN', birth: HL7_BIRTH }), orders: [order({ filler: 'NBV-U1-HEPB', cvx: '08', date: HL7_BIRTH })] })));
      accepted(await postHl7(vxu({ facility: 'CLINIC-NB', pid: pid({ mrn: 'NBV-C1', authority: 'NBCLINIC', family: 'Walsh', given: 'Finn', birth: HL7_BIRTH }), orders: [order({ filler: 'NBV-C1-DTAP', cvx: '20', date: '20241005' })] })));
      const [byHospital] = await byMrn('NBHOSP', 'NBV-U1');
      const byClinic = await byMrn('NBCLINIC', 'NBV-C1');
      expect(byClinic.map((p) => p.id), 'the legal record reached the hospital\'s').toEqual([byHospital.id]);
      expect(await dosesOf(byHospital.id)).toBe(2);
      // The hospital's next VXU, still "UNKNOWN", lands on the same record and leaves the legal name official.
      accepted(await postHl7(vxu({ facility: 'HOSP-NB', pid: pid({ mrn: 'NBV-U1', authority: 'NBHOSP', family: 'WALSH', given: 'UNKNOWN', birth: HL7_BIRTH }), orders: [order({ filler: 'NBV-U1-HEPB2', cvx: '08', date: '20240905' })] })));
      const [after] = await byMrn('NBHOSP', 'NBV-U1');
      expect(after.id).toBe(byHospital.id);
      expect(after.name.filter((n: any) => n.use === 'official').map((n: any) => n.given.join(' '))).toEqual(['Finn']);
      expect(await dosesOf(byHospital.id)).toBe(3);
    });

    it('a "BABY^GIRL" placeholder of a boy, the legal record over SOAP: stored for review against it, its dose on its own record', async () => {
      const birth = '20240911';
      accepted(await postHl7(vxu({ facility: 'HOSP-NB', pid: pid({ mrn: 'NBV-S1', authority: 'NBHOSP', family: 'QUINN', given: 'BABY GIRL', birth, sex: 'F' }), orders: [order({ filler: 'NBV-S1-HEPB', cvx: '08', date: birth })] })));
      accepted(await postSoap(vxu({ facility: 'CLINIC-NB', pid: pid({ mrn: 'NBV-S2', authority: 'NBCLINIC', family: 'Quinn', given: 'Owen', birth, sex: 'M' }), orders: [order({ filler: 'NBV-S2-DTAP', cvx: '20', date: '20241101' })] })));
      const [placeholder] = await byMrn('NBHOSP', 'NBV-S1');
      const [legal] = await byMrn('NBCLINIC', 'NBV-S2');
      expect(legal.id).not.toBe(placeholder.id);
      expect(isReview(legal), 'a duplicate nobody is shown').toBe(true);
      expect(duplicateOf(legal)).toContain(`Patient/${placeholder.id}`);
      expect(await dosesOf(placeholder.id)).toBe(1);
      expect(await dosesOf(legal.id)).toBe(1);
    });
  });
});
