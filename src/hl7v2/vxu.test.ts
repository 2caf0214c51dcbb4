// VXU^V04 over POST /hl7v2 against a running server (embedded store): what is stored, what the
// ACK says, and that the data-quality rules, matching and data sharing are the FHIR ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hl7Message } from '@medplum/core';
import type { AuditEvent } from '@medplum/fhirtypes';
import { startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { POSSIBLE_DUPLICATE_EXTENSION, REVIEW_TAG } from '../matching/ingest.js';
import { unescapeText } from './er7.js';
import { controlId, hl7Date, order, pid, VIS_OBX, vxu, yearsAgo, msh } from './test-messages.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer('embedded');
});
afterAll(async () => {
  await server?.close();
});

async function post(message: string, options: { token?: string; contentType?: string; requestId?: string } = {}): Promise<{ status: number; text: string; ack: Hl7Message }> {
  const res = await fetch(`${server.url}/hl7v2`, {
    method: 'POST',
    headers: {
      'content-type': options.contentType ?? 'application/hl7-v2',
      authorization: `Bearer ${options.token ?? server.token()}`,
      ...(options.requestId ? { 'x-request-id': options.requestId } : {}),
    },
    body: message,
  });
  const text = await res.text();
  return { status: res.status, text, ack: Hl7Message.parse(text) };
}

function msa(ack: Hl7Message): string {
  return ack.getSegment('MSA')?.getField(1).toString() ?? '';
}
function errs(ack: Hl7Message): Array<{ location: string; hl7: string; severity: string; app: string; text: string }> {
  return ack.getAllSegments('ERR').map((e) => ({
    location: e.getField(2).toString(),
    hl7: e.getComponent(3, 1),
    severity: e.getField(4).toString(),
    app: e.getComponent(5, 1),
    text: e.getField(8).toString(),
  }));
}

async function patientsBy(identifier: string): Promise<any[]> {
  const res = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(identifier)}`);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}
async function immunizationsOf(patientId: string): Promise<any[]> {
  const res = await server.fhir('GET', `Immunization?patient=Patient/${patientId}`);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}
const authority = (ns: string) => `https://iis-fhir-server.org/fhir/sid/hl7v2-authority/${ns}`;

describe('VXU^V04 → ACK^V04 (Z23)', () => {
  it('stores a CDC-style administered dose with its patient, VIS and funding, and acknowledges AA', async () => {
    const given = hl7Date(10);
    const message = vxu({
      pid: pid({ mrn: 'CDC-1001', family: 'Kennedy', given: 'Justin', middle: 'Getty', birth: yearsAgo(0, 120) }),
      pd1: `PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|${hl7Date(10)}|||A|${hl7Date(10)}|${hl7Date(10)}`,
      nk1: ['NK1|1|Lam^Morgan^^^^^L|MTH^Mother^HL70063|32 Prescott Street Ave^^Warwick^MA^02452^USA^L|^PRN^PH^^^657^5558563'],
      orders: [order({ filler: 'IZ-783274', cvx: '08', date: given, obx: VIS_OBX(given) })],
    });
    const { status, ack, text } = await post(message);
    expect(status, text).toBe(200);
    expect(msa(ack), text).toBe('AA');
    expect(ack.getSegment('MSH')?.getField(21).toString()).toBe('Z23^CDCPHINVS');
    expect(ack.getSegment('MSH')?.getField(9).toString()).toBe('ACK^V04^ACK');

    const [patient] = await patientsBy(`${authority('MYEHR')}|CDC-1001`);
    expect(patient.name[0]).toMatchObject({ family: 'Kennedy', given: ['Justin', 'Getty'], use: 'official' });
    expect(patient.gender).toBe('male');
    expect(patient.address[0]).toMatchObject({ line: ['32 Prescott Street Ave'], city: 'Warwick', state: 'MA', postalCode: '02452' });
    expect(patient.telecom[0]).toMatchObject({ system: 'phone', value: '(657)555-8563' });
    expect(patient.extension.find((e: any) => e.url.endsWith('patient-mothersMaidenName')).valueString).toBe('Lam');
    expect(patient.contact[0].relationship[0].coding[0].code).toBe('MTH');
    const [imm] = await immunizationsOf(patient.id);
    expect(imm).toMatchObject({
      status: 'completed',
      primarySource: true,
      lotNumber: 'Z0860BB',
      manufacturer: { identifier: { system: 'http://hl7.org/fhir/sid/mvx', value: 'SKB' } },
      doseQuantity: { value: 0.5, code: 'mL' },
    });
    expect(imm.vaccineCode.coding[0]).toMatchObject({ system: 'http://hl7.org/fhir/sid/cvx', code: '08' });
    expect(imm.programEligibility[0].coding[0].code).toBe('V02');
    expect(imm.fundingSource.coding[0].code).toBe('VXC50');
    expect(imm.education[0].documentType).toBe('253088698300012711120420');
    expect(imm.route.coding[0].code).toBe('C28161');
    expect(imm.site.coding[0].code).toBe('RT');

    // Resubmitting the same message stores one dose.
    const again = await post(message);
    expect(msa(again.ack)).toBe('AA');
    expect(await immunizationsOf(patient.id)).toHaveLength(1);
    const resent = await patientsBy(`${authority('MYEHR')}|CDC-1001`);
    expect(resent).toHaveLength(1);
    // The update a further message makes adds no tag the record did not have.
    expect(resent[0].meta.tag).toBeUndefined();
  });

  it('a pharmacy flu shot by NDC only is stored with the NDC', async () => {
    const message = vxu({
      facility: 'PHARM-22',
      pid: pid({ mrn: 'RX-5531', authority: 'PHARMACY', family: 'Quinn', given: 'Harriet', birth: '19620304', sex: 'F' }),
      orders: [order({ filler: 'RX-5531-FLU', ndc: '49281-0643-15', date: hl7Date(3), mvx: 'PMC' })],
    });
    const { ack, text } = await post(message);
    expect(['AA', 'AE'], text).toContain(msa(ack));
    const [patient] = await patientsBy(`${authority('PHARMACY')}|RX-5531`);
    const [imm] = await immunizationsOf(patient.id);
    expect(imm.vaccineCode.coding[0]).toMatchObject({ system: 'http://hl7.org/fhir/sid/ndc', code: '49281-0643-15' });
  });

  it('a newborn HepB dose under "BABY BOY" and the clinic\'s later VXU with the legal name end as one child', async () => {
    const birth = hl7Date(40);
    const hospital = vxu({
      facility: 'HOSP-1',
      pid: pid({ mrn: 'H-99812', authority: 'GENHOSP', family: 'Okafor', given: 'Baby Boy', birth }),
      orders: [order({ filler: 'H-99812-HEPB', cvx: '08', date: birth })],
    });
    const first = await post(hospital);
    expect(['AA', 'AE'], first.text).toContain(msa(first.ack));
    expect(errs(first.ack).some((e) => e.severity === 'I' && /placeholder|temporary/i.test(e.text))).toBe(true);

    const clinic = vxu({
      facility: 'CLINIC-7',
      pid: pid({ mrn: 'C-4410', authority: 'CLINICEHR', family: 'Okafor', given: 'Chidi', birth }),
      orders: [order({ filler: 'C-4410-DTAP', cvx: '20', date: hl7Date(0) })],
    });
    const second = await post(clinic);
    expect(['AA', 'AE'], second.text).toContain(msa(second.ack));
    const byHospital = await patientsBy(`${authority('GENHOSP')}|H-99812`);
    const byClinic = await patientsBy(`${authority('CLINICEHR')}|C-4410`);
    expect(byHospital).toHaveLength(1);
    expect(byClinic.map((p) => p.id)).toEqual([byHospital[0].id]);
    const child = byClinic[0];
    expect(child.name.find((n: any) => n.use === 'official').given).toEqual(['Chidi']);
    expect((await immunizationsOf(child.id)).map((i) => i.vaccineCode.coding[0].code).sort()).toEqual(['08', '20']);
  });

  it('twins: the hospital\'s two "BABY BOY" records with birth orders 1 and 2, then the clinic\'s legal names in the other order, end as two children, each dose on its own', async () => {
    const birth = hl7Date(41);
    for (const order_ of ['1', '2']) {
      const hospital = vxu({
        facility: 'HOSP-1',
        pid: pid({ mrn: `H-TW${order_}`, authority: 'GENHOSP', family: 'Adeyemi', given: 'Baby Boy', birth, multiple: 'Y', order: order_ }),
        orders: [order({ filler: `H-TW${order_}-HEPB`, cvx: '08', date: birth })],
      });
      const ack = await post(hospital);
      expect(['AA', 'AE'], ack.text).toContain(msa(ack.ack));
    }
    const legal: Record<string, string> = { '1': 'Tobi', '2': 'Femi' };
    for (const order_ of ['2', '1']) {
      const clinic = vxu({
        facility: 'CLINIC-7',
        pid: pid({ mrn: `C-TW${order_}`, authority: 'CLINICEHR', family: 'Adeyemi', given: legal[order_], birth, multiple: 'Y', order: order_ }),
        orders: [order({ filler: `C-TW${order_}-DTAP`, cvx: '20', date: hl7Date(0) })],
      });
      const ack = await post(clinic);
      expect(['AA', 'AE'], ack.text).toContain(msa(ack.ack));
    }
    for (const order_ of ['1', '2']) {
      const byHospital = await patientsBy(`${authority('GENHOSP')}|H-TW${order_}`);
      const byClinic = await patientsBy(`${authority('CLINICEHR')}|C-TW${order_}`);
      expect(byHospital, `twin ${order_}`).toHaveLength(1);
      expect(byClinic.map((p) => p.id), `twin ${order_}'s legal record reached its own placeholder`).toEqual([byHospital[0].id]);
      const child = byClinic[0];
      expect(child.multipleBirthInteger).toBe(Number(order_));
      expect(child.name.find((n: any) => n.use === 'official').given).toEqual([legal[order_]]);
      expect((await immunizationsOf(child.id)).map((i) => i.vaccineCode.coding[0].code).sort()).toEqual(['08', '20']);
    }
  });

  it('the hospital\'s next VXU for its newborn, still under "BABY BOY", is stored on the same record, the placeholder still its name', async () => {
    const birth = hl7Date(41);
    const hospital = (filler: string, date: string) =>
      vxu({ facility: 'HOSP-1', pid: pid({ mrn: 'H-99813', authority: 'GENHOSP', family: 'Nwosu', given: 'Baby Girl', birth, sex: 'F' }), orders: [order({ filler, cvx: '08', date })] });
    const first = await post(hospital('H-99813-HEPB', birth));
    expect(['AA', 'AE'], first.text).toContain(msa(first.ack));
    const second = await post(hospital('H-99813-HEPB2', hl7Date(3)));
    expect(['AA', 'AE'], second.text).toContain(msa(second.ack));
    const [child, ...others] = await patientsBy(`${authority('GENHOSP')}|H-99813`);
    expect(others).toEqual([]);
    expect(child.name.filter((n: any) => n.use !== 'old').map((n: any) => n.given)).toEqual([['Baby Girl']]);
    expect(await immunizationsOf(child.id)).toHaveLength(2);
  });

  it("siblings carrying a parent's SSN stay two children; the same child's SSN-only message reaches its record", async () => {
    const withSsn = (segment: string, ssn: string) => segment.replace(/^(PID\|1\|\|)([^|]*)/, `$1$2~${ssn}^^^SSA^SS`);
    const older = vxu({
      pid: withSsn(pid({ mrn: 'SIB-1', family: 'Whitaker', given: 'Noah', birth: yearsAgo(4, 10) }), '401235567'),
      orders: [order({ filler: 'SIB-1-DTAP', cvx: '20', date: hl7Date(30) })],
    });
    const younger = vxu({
      pid: withSsn(pid({ mrn: 'SIB-2', family: 'Whitaker', given: 'Emma', birth: yearsAgo(2, 40), sex: 'F' }), '401235567'),
      orders: [order({ filler: 'SIB-2-DTAP', cvx: '20', date: hl7Date(20) })],
    });
    for (const m of [older, younger]) {
      const r = await post(m);
      expect(['AA', 'AE'], r.text).toContain(msa(r.ack));
    }
    const noah = await patientsBy(`${authority('MYEHR')}|SIB-1`);
    const emma = await patientsBy(`${authority('MYEHR')}|SIB-2`);
    expect(noah).toHaveLength(1);
    expect(emma).toHaveLength(1);
    expect(emma[0].id).not.toBe(noah[0].id);
    expect(noah[0].name[0].given).toEqual(['Noah']);
    // The same child again from another system that sends only the SSN: matching (name, birth date,
    // sex and the SSN) puts it on Noah's record.
    const ssnOnly = vxu({
      pid: pid({ mrn: 'SIB-1', family: 'Whitaker', given: 'Noah', birth: yearsAgo(4, 10) }).replace(/^(PID\|1\|\|)([^|]*)/, (_m, head: string) => `${head}401235567^^^SSA^SS`),
      orders: [order({ filler: 'OTHER-FLU', cvx: '141', date: hl7Date(5) })],
    });
    const third = await post(ssnOnly);
    expect(['AA', 'AE'], third.text).toContain(msa(third.ack));
    expect((await immunizationsOf(noah[0].id)).map((i) => i.vaccineCode.coding[0].code).sort()).toEqual(['141', '20']);
    expect((await immunizationsOf(emma[0].id)).map((i) => i.vaccineCode.coding[0].code)).toEqual(['20']);
  });

  it("a child stored as a possible duplicate stays under review when its submitter's next VXU updates it", async () => {
    const birth = yearsAgo(1, 17);
    const iso = `${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6, 8)}`;
    // Registered earlier by another submitter, at another address: the clinic's record is only a
    // probable match of it (review), not a certain one.
    const registered = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Lindqvist', given: ['Elsa'] }], birthDate: iso, gender: 'female', address: [{ line: ['9 Harbor Road'], city: 'Salem', state: 'MA', postalCode: '01970' }] },
    });
    expect(registered.status, registered.text).toBe(201);
    const clinicVxu = (filler: string, cvx: string, daysAgo: number) =>
      vxu({
        facility: 'CLINIC-R',
        pid: pid({ mrn: 'REV-1', authority: 'REVIEWEHR', family: 'Lindqvist', given: 'Elsa', birth, sex: 'F' }),
        orders: [order({ filler, cvx, date: hl7Date(daysAgo) })],
      });
    const underReview = (p: any) => (p.meta?.tag ?? []).some((t: any) => t.system === REVIEW_TAG.system && t.code === REVIEW_TAG.code);
    const reviewList = async () => {
      const res = await server.fhir('GET', `Patient?_tag=${encodeURIComponent(`${REVIEW_TAG.system}|${REVIEW_TAG.code}`)}&active:not=false&_count=100`);
      return (res.body.entry ?? []).map((e: any) => e.resource.id);
    };

    const first = await post(clinicVxu('REV-1-DTAP', '20', 30));
    expect(['AA', 'AE'], first.text).toContain(msa(first.ack));
    const [stored] = await patientsBy(`${authority('REVIEWEHR')}|REV-1`);
    expect(stored.id).not.toBe(registered.body.id);
    expect(underReview(stored)).toBe(true);
    expect(await reviewList()).toContain(stored.id);
    // A security label someone put on the record meanwhile (a plain PUT keeps what its body says).
    const labelled = await server.fhir('PUT', `Patient/${stored.id}`, {
      body: { ...stored, meta: { tag: stored.meta.tag, security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } },
    });
    expect(labelled.status, labelled.text).toBe(200);

    const next = await post(clinicVxu('REV-1-MMR', '03', 2));
    expect(['AA', 'AE'], next.text).toContain(msa(next.ack));
    const after = await patientsBy(`${authority('REVIEWEHR')}|REV-1`);
    expect(after.map((p) => p.id)).toEqual([stored.id]);
    expect(Number(after[0].meta.versionId)).toBeGreaterThan(Number(labelled.body.meta.versionId));
    expect(underReview(after[0])).toBe(true);
    expect(after[0].meta.tag).toEqual(stored.meta.tag);
    expect(after[0].meta.security).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }]);
    expect(after[0].extension.filter((e: any) => e.url === POSSIBLE_DUPLICATE_EXTENSION).map((e: any) => e.valueReference.reference)).toEqual([
      `Patient/${registered.body.id}`,
    ]);
    expect(await reviewList()).toContain(stored.id);
    expect((await immunizationsOf(stored.id)).map((i) => i.vaccineCode.coding[0].code).sort()).toEqual(['03', '20']);
    // The record it may duplicate is untouched.
    const original = await server.fhir('GET', `Patient/${registered.body.id}`);
    expect(original.body.meta.versionId).toBe('1');
    expect(await immunizationsOf(registered.body.id)).toEqual([]);
  });

  it('a historical dose (RXA-9 NIP001 01) is stored as not from the primary source', async () => {
    const message = vxu({
      pid: pid({ mrn: 'HIST-1', family: 'Ramirez', given: 'Sofia', birth: yearsAgo(6), sex: 'F' }),
      orders: [order({ filler: 'HIST-1-MMR', cvx: '03', date: yearsAgo(5), source: '01' })],
    });
    const { ack, text } = await post(message);
    expect(msa(ack), text).toBe('AA');
    const [patient] = await patientsBy(`${authority('MYEHR')}|HIST-1`);
    const [imm] = await immunizationsOf(patient.id);
    expect(imm.primarySource).toBe(false);
    expect(imm.reportOrigin.coding[0].code).toBe('01');
  });

  it('ORC-3 updates the dose; RXA-21 D deletes it', async () => {
    const base = { pid: pid({ mrn: 'UPD-1', family: 'Berg', given: 'Lars', birth: yearsAgo(1) }) };
    const date = hl7Date(5);
    await post(vxu({ ...base, orders: [order({ filler: 'UPD-1-A', cvx: '10', date, lot: 'LOT-A' })] }));
    const update = await post(vxu({ ...base, orders: [order({ filler: 'UPD-1-A', cvx: '10', date, lot: 'LOT-B', action: 'U' })] }));
    expect(msa(update.ack), update.text).toBe('AA');
    const [patient] = await patientsBy(`${authority('MYEHR')}|UPD-1`);
    const doses = await immunizationsOf(patient.id);
    expect(doses).toHaveLength(1);
    expect(doses[0].lotNumber).toBe('LOT-B');

    const deletion = await post(vxu({ ...base, orders: [order({ filler: 'UPD-1-A', cvx: '10', date, action: 'D' })] }));
    expect(msa(deletion.ack), deletion.text).toBe('AA');
    expect(await immunizationsOf(patient.id)).toHaveLength(0);
    // The note of the deletion is located at its RXA and carries no CDC 0533 problem code (nothing was wrong).
    expect(errs(deletion.ack), deletion.text).toEqual([expect.objectContaining({ location: 'RXA^1', severity: 'I', app: '' })]);
  });

  it('HL7\'s null ("") is never stored as text: a resent dose with RXA-15 "" loses its lot number, PID-11 "" adds no address', async () => {
    const child = { mrn: 'NULL-1', family: 'Aalto', given: 'Aino', birth: yearsAgo(1), sex: 'F' };
    const date = hl7Date(5);
    await post(vxu({ pid: pid(child), orders: [order({ filler: 'NULL-1-A', cvx: '10', date, lot: 'LOT-A' })] }));
    const withoutAddress = pid(child).split('|').map((f, i) => (i === 11 ? '""' : f)).join('|');
    const resend = await post(vxu({ pid: withoutAddress, orders: [order({ filler: 'NULL-1-A', cvx: '10', date, lot: '""' })] }));
    expect(['AA', 'AE'], resend.text).toContain(msa(resend.ack));
    const [patient] = await patientsBy(`${authority('MYEHR')}|NULL-1`);
    expect(JSON.stringify(patient)).not.toContain('\\"\\"');
    const [dose] = await immunizationsOf(patient.id);
    expect(dose.lotNumber).toBeUndefined();
  });

  it('an unknown RXA-21 action code: that dose is not stored, and its ERR says so (E, table 0323); the others are (AE)', async () => {
    const message = vxu({
      pid: pid({ mrn: 'ACT-1', family: 'Okafor', given: 'Ada', birth: yearsAgo(1), sex: 'F' }),
      orders: [order({ filler: 'ACT-1-A', cvx: '10', date: hl7Date(5) }), order({ filler: 'ACT-1-X', cvx: '08', date: hl7Date(5), action: 'CP' })],
    });
    const { ack, text } = await post(message);
    expect(msa(ack), text).toBe('AE');
    const action = errs(ack).find((e) => e.location === 'RXA^2^21^1');
    expect(action, text).toMatchObject({ hl7: '103', severity: 'E', app: '5' });
    expect(unescapeText(action!.text)).toBe('RXA-21 "CP" is not a known action code (HL7 table 0323: A add, U update, D delete): the dose was not stored');
    const [patient] = await patientsBy(`${authority('MYEHR')}|ACT-1`);
    expect((await immunizationsOf(patient.id)).map((d) => d.vaccineCode.coding[0].code)).toEqual(['10']);
  });

  it("ORC-3 9999 (the IG's filler number of every dose not given) names no dose: two children's refusals stay each their own", async () => {
    const refusal = (mrn: string, family: string) =>
      vxu({ pid: pid({ mrn, family, given: 'Mia', birth: yearsAgo(1), sex: 'F' }), orders: [order({ filler: '9999', cvx: '03', date: hl7Date(2), completion: 'RE', refusal: '00^Parental decision^NIP002', amount: '999' })] });
    for (const [mrn, family] of [['NG-1', 'Virtanen'], ['NG-2', 'Korhonen']]) {
      const { ack, text } = await post(refusal(mrn, family));
      expect(['AA', 'AE'], text).toContain(msa(ack));
    }
    for (const mrn of ['NG-1', 'NG-2']) {
      const [patient] = await patientsBy(`${authority('MYEHR')}|${mrn}`);
      const doses = await immunizationsOf(patient.id);
      expect(doses.map((d) => d.status), mrn).toEqual(['not-done']);
    }
  });

  it("an ORC-3 the submitter also gave another child's dose neither moves that dose nor deletes it", async () => {
    const date = hl7Date(4);
    const first = pid({ mrn: 'ORC-DUP-1', family: 'Halvorsen', given: 'Ida', birth: yearsAgo(1), sex: 'F' });
    const second = pid({ mrn: 'ORC-DUP-2', family: 'Lindgren', given: 'Oskar', birth: yearsAgo(2) });
    await post(vxu({ pid: first, orders: [order({ filler: 'ORC-DUP', cvx: '10', date })] }));
    const other = await post(vxu({ pid: second, orders: [order({ filler: 'ORC-DUP', cvx: '08', date })] }));
    expect(['AA', 'AE'], other.text).toContain(msa(other.ack));
    const deletion = await post(vxu({ pid: second, orders: [order({ filler: 'ORC-DUP', cvx: '08', date, action: 'D' })] }));
    expect(msa(deletion.ack), deletion.text).toBe('AA');
    const [ida] = await patientsBy(`${authority('MYEHR')}|ORC-DUP-1`);
    expect((await immunizationsOf(ida.id)).map((d) => d.vaccineCode.coding[0].code)).toEqual(['10']);
    const [oskar] = await patientsBy(`${authority('MYEHR')}|ORC-DUP-2`);
    expect(await immunizationsOf(oskar.id)).toEqual([]);
  });

  it('a refusal (RXA-20 RE, RXA-18 parental decision) is stored as not-done with its reason', async () => {
    const message = vxu({
      pid: pid({ mrn: 'REF-1', family: 'Novak', given: 'Ema', birth: yearsAgo(1), sex: 'F' }),
      orders: [order({ filler: 'REF-1-MMR', cvx: '03', date: hl7Date(2), completion: 'RE', refusal: '00^Parental decision^NIP002', amount: '999' })],
    });
    const { ack, text } = await post(message);
    expect(['AA', 'AE'], text).toContain(msa(ack));
    const [patient] = await patientsBy(`${authority('MYEHR')}|REF-1`);
    const [imm] = await immunizationsOf(patient.id);
    expect(imm.status).toBe('not-done');
    expect(imm.statusReason.coding[0].code).toBe('00');
  });

  it('a dose a rule rejects is left out (AE) with ERR-3/4/5 and ERR-8 the FHIR sentence; the rest is stored', async () => {
    const message = vxu({
      pid: pid({ mrn: 'RULE-1', family: 'Ito', given: 'Ken', birth: yearsAgo(2) }),
      orders: [order({ filler: 'RULE-1-OK', cvx: '08', date: hl7Date(30) }), order({ filler: 'RULE-1-FUT', cvx: '08', date: hl7Date(-30) })],
    });
    const { ack, text, status } = await post(message);
    expect(status).toBe(200);
    expect(msa(ack), text).toBe('AE');
    const future = errs(ack).find((e) => e.hl7 === '102');
    expect(future, text).toMatchObject({ location: 'RXA^2^3^1', severity: 'E', app: '1' });
    // ERR-8 is the sentence the FHIR API gives for the same Immunization.
    const [patient] = await patientsBy(`${authority('MYEHR')}|RULE-1`);
    const fhir = await server.fhir('POST', 'Immunization', {
      body: { resourceType: 'Immunization', status: 'completed', vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] }, patient: { reference: `Patient/${patient.id}` }, occurrenceDateTime: new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10), primarySource: true, lotNumber: 'X' },
    });
    expect(fhir.status).toBe(422);
    const sentence = fhir.body.issue.find((i: any) => i.details?.coding?.[0]?.code === 'vaccination-date-in-future').diagnostics;
    expect(unescapeText(future?.text ?? '')).toBe(sentence);
    expect(await immunizationsOf(patient.id)).toHaveLength(1);
  });

  it('two doses a rule rejects: each reported once, at its own RXA; the patient is stored (AE)', async () => {
    const message = vxu({
      pid: pid({ mrn: 'RULE-3', family: 'Ito', given: 'Yui', birth: yearsAgo(2), sex: 'F' }),
      orders: [order({ filler: 'RULE-3-A', cvx: '08', date: hl7Date(-30) }), order({ filler: 'RULE-3-B', cvx: '10', date: hl7Date(-40) })],
    });
    const { ack, text } = await post(message);
    expect(msa(ack), text).toBe('AE');
    const future = errs(ack).filter((e) => e.severity === 'E');
    expect(future.map((e) => e.location), text).toEqual(['RXA^1^3^1', 'RXA^2^3^1']);
    const [patient] = await patientsBy(`${authority('MYEHR')}|RULE-3`);
    expect(await immunizationsOf(patient.id)).toEqual([]);
  });

  it('an OBX value that cannot be read (a VIS date that is no date, a funding source not coded) and VIS dates naming no VIS are ignored with a warning, not silently, and the dose is stored', async () => {
    const given = hl7Date(3);
    const obx = [`OBX|1|TS|29768-9^Date Vis Published^LN|1|2019-13-45||||||F`, `OBX|2|TS|29769-7^Date Vis Presented^LN|1|${given}||||||F`, `OBX|3|NM|30963-3^Vaccine funding source^LN|2|12||||||F`];
    const { ack, text } = await post(vxu({ pid: pid({ mrn: 'OBX-BAD-1', family: 'Berg', given: 'Ola', birth: yearsAgo(1) }), orders: [order({ filler: 'OBX-BAD-1-A', cvx: '10', date: given, obx })] }));
    expect(msa(ack), text).toBe('AE');
    expect(errs(ack)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ location: 'OBX^1^5^1', hl7: '102', severity: 'W', app: '2' }),
        expect.objectContaining({ location: 'OBX^3^5^1', hl7: '102', severity: 'W', app: '4' }),
      ])
    );
    // The presented date alone names no VIS (no 69764-9 / 30956-7 in its group): ignored with a warning, the dose stored.
    expect(errs(ack)).toContainEqual(expect.objectContaining({ location: 'OBX^2^4^1', hl7: '101', severity: 'W', app: '6' }));
    const [patient] = await patientsBy(`${authority('MYEHR')}|OBX-BAD-1`);
    const [dose] = await immunizationsOf(patient.id);
    expect(dose, text).toBeDefined();
    expect(dose.fundingSource).toBeUndefined();
    expect(dose.education).toBeUndefined();
  });

  it('a patient a rule rejects (no birth date) rejects the message: AR, nothing stored', async () => {
    const message = vxu({
      pid: pid({ mrn: 'RULE-2', family: 'Ito', given: 'Mai', birth: '' }),
      orders: [order({ filler: 'RULE-2-A', cvx: '08', date: hl7Date(30) })],
    });
    const { ack, status, text } = await post(message);
    expect(status).toBe(422);
    expect(msa(ack), text).toBe('AR');
    expect(errs(ack)).toContainEqual(expect.objectContaining({ location: 'PID^1^7^1', hl7: '101', severity: 'E', app: '7' }));
    expect(await patientsBy(`${authority('MYEHR')}|RULE-2`)).toHaveLength(0);
  });

  it('PD1-12 Y records a data-sharing Consent that denies sharing', async () => {
    const message = vxu({
      pid: pid({ mrn: 'PROT-1', family: 'Lindqvist', given: 'Alva', birth: yearsAgo(3), sex: 'F' }),
      pd1: `PD1|||||||||||01^No reminder/recall^HL70215|Y|${hl7Date(1)}`,
      orders: [order({ filler: 'PROT-1-A', cvx: '08', date: hl7Date(30) })],
    });
    const { ack, text } = await post(message);
    expect(msa(ack), text).toBe('AA');
    const [patient] = await patientsBy(`${authority('MYEHR')}|PROT-1`);
    const consents = await server.fhir('GET', `Consent?patient=Patient/${patient.id}`);
    expect(consents.body.entry).toHaveLength(1);
    expect(consents.body.entry[0].resource.provision.type).toBe('deny');
    // Resending does not record it twice.
    await post(message);
    expect((await server.fhir('GET', `Consent?patient=Patient/${patient.id}`)).body.entry).toHaveLength(1);
  });
});

describe('the audit trail: one AuditEvent per message', () => {
  async function eventsOf(requestId: string): Promise<AuditEvent[]> {
    await server.audit.flush(5000);
    const history = await server.store.history({ resourceType: 'AuditEvent', count: 10_000 });
    return history
      .map((r) => r.resource as AuditEvent)
      .filter((e) => e.entity?.some((x) => x.type?.code === 'XrequestId' && x.what?.identifier?.value === requestId));
  }
  const queryOf = (event: AuditEvent) => {
    const entity = event.entity?.find((x) => x.role?.code === '24');
    return entity ? { type: entity.what?.type, text: Buffer.from(entity.query ?? '', 'base64').toString('utf8') } : undefined;
  };
  const patientsOf = (event: AuditEvent) => (event.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference);
  const lookup = (mrn: string) => `Patient?identifier=${encodeURIComponent(`${authority('MYEHR')}|${mrn}`)}&_count=20&_sort=_lastUpdated`;

  it('a VXU leaves one event: the transaction, its patient, the PID-3 lookup as the query, the answer as the outcome', async () => {
    const message = vxu({ pid: pid({ mrn: 'AUD-1', family: 'Audit', given: 'Ada', birth: yearsAgo(1) }), orders: [order({ filler: 'AUD-1-A', cvx: '08', date: hl7Date(3) })] });
    const first = await post(message, { requestId: 'vxu-audit-1' });
    expect(msa(first.ack), first.text).toBe('AA');
    const [patient] = await patientsBy(`${authority('MYEHR')}|AUD-1`);
    const [event, ...more] = await eventsOf('vxu-audit-1');
    expect(more).toHaveLength(0);
    expect(event).toMatchObject({ subtype: [{ code: 'transaction' }], action: 'E', outcome: '0', outcomeDesc: 'HTTP 200, HL7 MSA-1 AA' });
    expect(event.agent?.[0]?.who?.identifier?.value).toBe('test');
    expect(patientsOf(event)).toEqual([`Patient/${patient.id}`]);
    expect(queryOf(event)).toEqual({ type: 'Patient', text: lookup('AUD-1') });

    // The same child again: the lookup finds it, the transaction updates it; still one event.
    const again = vxu({ pid: pid({ mrn: 'AUD-1', family: 'Audit', given: 'Ada', birth: yearsAgo(1) }), orders: [order({ filler: 'AUD-1-B', cvx: '20', date: hl7Date(2) })] });
    expect(msa((await post(again, { requestId: 'vxu-audit-2' })).ack)).toBe('AA');
    const second = await eventsOf('vxu-audit-2');
    expect(second).toHaveLength(1);
    expect(patientsOf(second[0])).toEqual([`Patient/${patient.id}`]);
    expect(queryOf(second[0])).toEqual({ type: 'Patient', text: lookup('AUD-1') });
  });

  it('a dose dropped by a rule (the message stored again without it): still one event, outcome AE', async () => {
    const message = vxu({
      pid: pid({ mrn: 'AUD-2', family: 'Audit', given: 'Bo', birth: yearsAgo(2) }),
      orders: [order({ filler: 'AUD-2-OK', cvx: '08', date: hl7Date(30) }), order({ filler: 'AUD-2-FUT', cvx: '08', date: hl7Date(-30) })],
    });
    expect(msa((await post(message, { requestId: 'vxu-audit-3' })).ack)).toBe('AE');
    const [patient] = await patientsBy(`${authority('MYEHR')}|AUD-2`);
    const events = await eventsOf('vxu-audit-3');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ subtype: [{ code: 'transaction' }], outcome: '0', outcomeDesc: 'HTTP 200, HL7 MSA-1 AE' });
    expect(patientsOf(events[0])).toEqual([`Patient/${patient.id}`]);
  });

  it('a rejected message (AR) leaves its one event with the failure', async () => {
    const message = vxu({ pid: pid({ mrn: 'AUD-3', family: 'Audit', given: 'Cy', birth: '' }), orders: [order({ filler: 'AUD-3-A', cvx: '08', date: hl7Date(3) })] });
    const { ack, status } = await post(message, { requestId: 'vxu-audit-4' });
    expect([status, msa(ack)]).toEqual([422, 'AR']);
    const events = await eventsOf('vxu-audit-4');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ subtype: [{ code: 'transaction' }], outcome: '4', outcomeDesc: 'HTTP 422, HL7 MSA-1 AR' });
    expect(queryOf(events[0])).toEqual({ type: 'Patient', text: lookup('AUD-3') });
  });

  it('a QBP keeps its own events, one per request as for FHIR', async () => {
    const qbp = [
      msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z34^CDCPHINVS' }),
      `QPD|Z34^Request Immunization History^CDCPHINVS|Q-AUD-1|AUD-1^^^MYEHR^MR|Audit^Ada|||F`,
      'RCP|I|5^RD&records&HL70126',
    ].join('\r');
    const { ack, text } = await post(qbp, { requestId: 'qbp-audit-1' });
    expect(ack.getSegment('MSA')?.getField(1).toString(), text).toBe('AA');
    const events = await eventsOf('qbp-audit-1');
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) expect(event.outcomeDesc).toMatch(/^HTTP \d+$/);
    expect(events.map((e) => e.subtype?.[0]?.code)).toContain('search-type');
  });
});

describe('messages refused as a whole (AR)', () => {
  const good = () =>
    vxu({ pid: pid({ mrn: 'BAD-0', family: 'Doe', given: 'Jon', birth: yearsAgo(1) }), orders: [order({ filler: 'BAD-0-A', cvx: '08', date: hl7Date(3) })] });

  it('a malformed segment', async () => {
    const message = good().replace('\rPID|', '\rP!D|');
    const { ack, status, text } = await post(message);
    expect(status).toBe(400);
    expect(msa(ack)).toBe('AR');
    expect(errs(ack)[0]).toMatchObject({ hl7: '100', severity: 'E' });
    // The MSH was readable: the AR answers that message (MSA-2 its MSH-10, its applications swapped).
    const request = Hl7Message.parse(message.replace(/\r.*$/s, ''));
    expect(ack.getSegment('MSA')?.getField(2).toString(), text).toBe(request.getSegment('MSH')?.getField(10).toString());
    expect(ack.getSegment('MSH')?.getField(5).toString(), text).toBe(request.getSegment('MSH')?.getField(3).toString());
  });

  it('wrong delimiters (MSH-2)', async () => {
    const message = good().replace('MSH|^~\\&|', 'MSH|^~\\#|').replace(/\r/g, '\r');
    const { ack, status } = await post(message);
    expect(status).toBe(400);
    expect(msa(ack)).toBe('AR');
    expect(errs(ack)[0]).toMatchObject({ location: 'MSH^1^2^1', hl7: '102', app: '4' });
  });

  it('a message over the size limit', async () => {
    const message = `${good()}\r${Array.from({ length: 12_000 }, (_, i) => `NTE|${i}||${'x'.repeat(100)}`).join('\r')}`;
    const { ack, status } = await post(message);
    expect(status).toBe(413);
    expect(msa(ack)).toBe('AR');
    expect(errs(ack)[0]).toMatchObject({ hl7: '207', severity: 'E' });
  });

  it('a wrong MSH-12 version', async () => {
    const message = good().replace(/^MSH\|.*?(\r)/, `${msh({ version: '2.3.1', controlId: controlId('V') })}$1`);
    const { ack, status } = await post(message);
    expect(status).toBe(400);
    expect(msa(ack)).toBe('AR');
    expect(errs(ack)[0]).toMatchObject({ location: 'MSH^1^12^1', hl7: '203', severity: 'E' });
    expect(ack.getSegment('MSA')?.getField(2).toString()).toMatch(/^V-/);
  });

  it('MSH-22/23 (responsible organizations, XON) come back swapped in the ACK (AA and AR) and the RSP, as MSH-3/4 and MSH-5/6 do', async () => {
    const clinic = 'Clinic \\T\\ Co^^^^^NIST-AA-IZ-1&2.16.840.1.113883.3.72.5.40.1&ISO^XX^^^100-6482';
    const registry = 'State IIS^^^^^NIST-AA-IZ-1^XX^^^100-3322';
    const withOrganizations = (message: string) => message.replace(/^(MSH[^\r]*)/, (header) => `${header}|${clinic}|${registry}`);
    const sent = withOrganizations(vxu({ pid: pid({ mrn: 'RESP-ORG-1', family: 'Oja', given: 'Pia', birth: yearsAgo(1), sex: 'F' }), orders: [order({ filler: 'RESP-ORG-1-A', cvx: '08', date: hl7Date(10) })] }));
    expect(sent.split('\r')[0].split('|')[20]).toBe('Z22^CDCPHINVS'); // index n is MSH-(n+1)
    const answers = [
      await post(sent),
      await post(withOrganizations(good().replace(/^(MSH(?:\|[^|\r]*){10})\|2\.5\.1/, '$1|2.3.1'))),
      await post(withOrganizations([msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z34^CDCPHINVS', controlId: controlId('Q') }), 'QPD|Z34^Request Immunization History^CDCPHINVS|T1|RESP-ORG-1^^^MYEHR^MR|Oja^Pia^^^^^L||' + yearsAgo(1), 'RCP|I|5^RD&Records&HL70126'].join('\r'))),
    ];
    expect(answers.map(({ ack }) => `${ack.getSegment('MSH')?.getComponent(9, 1)} ${msa(ack)}`)).toEqual(['ACK AA', 'ACK AR', 'RSP AA']);
    for (const { text } of answers) {
      const header = text.split('\r')[0].split('|');
      expect(header.slice(21, 23), text).toEqual([registry, clinic]);
    }
  });

  it('an unsupported message type', async () => {
    const message = good().replace('VXU^V04^VXU_V04', 'ADT^A01^ADT_A01');
    const { ack } = await post(message);
    expect(msa(ack)).toBe('AR');
    expect(errs(ack)[0]).toMatchObject({ hl7: '200' });
  });

  it('no token: 401 as for FHIR; a wrong content type: 415', async () => {
    const res = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2' }, body: good() });
    expect(res.status).toBe(401);
    const wrongType = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${server.token()}` }, body: good() });
    expect(wrongType.status).toBe(415);
    expect((await wrongType.json()).resourceType).toBe('OperationOutcome');
  });

  it('a token that may not search Patients (the PID-3 look-up before the transaction): AR 403 naming why, not a FHIR OperationOutcome', async () => {
    const { ack, status, text } = await post(good(), { token: server.token({ scope: 'system/Immunization.cruds' }) });
    expect(status).toBe(403);
    expect(text.startsWith('MSH|'), text).toBe(true);
    expect(msa(ack)).toBe('AR');
    expect(errs(ack)[0]).toMatchObject({ hl7: '207', severity: 'E' });
    expect(errs(ack)[0].text).toMatch(/scopes do not allow search-type on Patient/);
  });

  it('a token without write scopes: AR, nothing stored', async () => {
    const { ack, status } = await post(good(), { token: server.token({ scope: 'system/*.rs' }) });
    expect(status).toBe(403);
    expect(msa(ack)).toBe('AR');
    expect(errs(ack)[0]).toMatchObject({ hl7: '207', severity: 'E' });
  });
});

// The MongoDB tier (TEST_MONGODB_URL): a replica set stores the message as one transaction; a
// MongoDB without transactions (FerretDB 1.x, a standalone server) answers AR and stores nothing.
describe.skipIf(!testMongoUrl())('VXU on MongoDB', () => {
  let mongo: TestServer;
  beforeAll(async () => {
    mongo = await startTestServer('mongodb');
  });
  afterAll(async () => {
    await mongo?.close();
  });

  it('is stored whole or answered AR, never half stored', async () => {
    const message = vxu({ pid: pid({ mrn: 'MG-1', family: 'Castillo', given: 'Ines', birth: yearsAgo(1), sex: 'F' }), orders: [order({ filler: 'MG-1-A', cvx: '08', date: hl7Date(10) })] });
    const res = await fetch(`${mongo.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${mongo.token()}` }, body: message });
    const ack = Hl7Message.parse(await res.text());
    const stored = await mongo.fhir('GET', `Patient?identifier=${encodeURIComponent(`${authority('MYEHR')}|MG-1`)}`);
    if (mongo.store.supportsTransactions) {
      expect(msa(ack)).toBe('AA');
      expect(stored.body.entry).toHaveLength(1);
    } else {
      console.log('MongoDB without multi-document transactions: the VXU is refused (AR), as FHIR transaction Bundles are');
      expect(res.status).toBe(400);
      expect(msa(ack)).toBe('AR');
      expect(errs(ack)[0]).toMatchObject({ hl7: '207', severity: 'E' });
      // Words for the sender of a VXU, not the FHIR refusal's advice to send a batch Bundle.
      expect(ack.toString()).not.toContain('batch Bundle');
      expect(ack.toString()).toContain('not a replica set');
      expect(stored.body.entry ?? []).toHaveLength(0);
    }
  });
});
