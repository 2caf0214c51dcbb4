// HL7's null `""` in PID/PD1/NK1 over POST /hl7v2 (v2.5.1 section 2.5.3; CDC guide release 1.5):
// an empty field is "no information" and keeps what the registry holds; `""` deletes it, on the
// record PID-3 names and on the one newborn reconciliation finds; the fields that identify the
// patient (PID-3, PID-5, PID-7) are never deleted, and the ACK says so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hl7Message } from '@medplum/core';
import { mergeParameters, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { EXT } from './vxu-to-fhir.js';
import { hl7Date, order, pid, vxu, yearsAgo } from './test-messages.js';

const authority = (ns: string) => `https://iis-fhir-server.org/fhir/sid/hl7v2-authority/${ns}`;

/** A PID with fields replaced by position (PID-n is index n). */
function pidWith(base: string, fields: Record<number, string>): string {
  const parts = base.split('|');
  for (const [n, value] of Object.entries(fields)) {
    while (parts.length <= Number(n)) parts.push('');
    parts[Number(n)] = value;
  }
  return parts.join('|');
}

const WORK_PHONE = '^WPN^PH^^^617^5551234';
const NK1_MOTHER = 'NK1|1|Lam^Morgan^^^^^L|MTH^Mother^HL70063|32 Prescott Street Ave^^Warwick^MA^02452^USA^L|^PRN^PH^^^657^5558563';
const pd1 = (fields: { publicity?: string; protection?: string; protectionDate?: string; registry?: string; registryDate?: string }) =>
  `PD1|||||||||||${fields.publicity ?? ''}|${fields.protection ?? ''}|${fields.protectionDate ?? ''}|||${fields.registry ?? ''}|${fields.registryDate ?? ''}`;

const suites: Array<{ kind: StoreKind; skip: boolean }> = [
  { kind: 'embedded', skip: false },
  { kind: 'mongodb', skip: !testMongoUrl() },
];

for (const { kind, skip } of suites) {
  describe.skipIf(skip)(`HL7's null "" on the patient (${kind})`, () => {
    let server: TestServer;
    /** Without multi-document transactions every VXU is refused (AR): nothing here to check. */
    let noTransactions = false;
    beforeAll(async () => {
      server = await startTestServer(kind);
      noTransactions = !server.store.supportsTransactions;
      if (noTransactions) console.log(`${kind}: no multi-document transactions, every VXU is answered AR (vxu.test.ts "VXU on MongoDB"): the "" tests have nothing to check`);
    });
    afterAll(async () => {
      await server?.close();
    });

    async function post(message: string, token = server.token()): Promise<{ text: string; ack: Hl7Message; msa: string; errs: Array<{ location: string; hl7: string; severity: string; app: string; text: string }> }> {
      const res = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${token}` }, body: message });
      const text = await res.text();
      const ack = Hl7Message.parse(text);
      const errs = ack.getAllSegments('ERR').map((e) => ({
        location: e.getField(2).toString(),
        hl7: e.getComponent(3, 1),
        severity: e.getField(4).toString(),
        app: e.getComponent(5, 1),
        text: e.getField(8).toString(),
      }));
      return { text, ack, msa: ack.getSegment('MSA')?.getField(1).toString() ?? '', errs };
    }
    async function patientsBy(identifier: string): Promise<any[]> {
      const res = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(identifier)}`);
      return (res.body.entry ?? []).map((e: any) => e.resource);
    }
    const urls = (patient: any): string[] => (patient.extension ?? []).map((e: any) => e.url);

    it('an empty field keeps the stored value; "" deletes it (PID-6, -8, -10, -11, -13, -22, PD1-11, PD1-16, NK1), the rest untouched: AA', async (ctx) => {
      if (noTransactions) ctx.skip();
      const child = { mrn: 'NULL-P1', family: 'Aalto', given: 'Aino', birth: yearsAgo(2), sex: 'F' };
      const full = pidWith(pid(child), { 14: WORK_PHONE });
      const first = await post(
        vxu({ pid: full, pd1: pd1({ publicity: '02^Reminder/recall - any method^HL70215', registry: 'A', registryDate: hl7Date(10) }), nk1: [NK1_MOTHER], orders: [order({ filler: 'NULL-P1-A', cvx: '08', date: hl7Date(30) })] })
      );
      expect(first.msa, first.text).toBe('AA');
      const [stored] = await patientsBy(`${authority('MYEHR')}|NULL-P1`);
      expect(urls(stored)).toEqual(expect.arrayContaining([EXT.mothersMaidenName, EXT.race, EXT.ethnicity, EXT.publicity, EXT.registryStatus, EXT.registryStatusDate]));
      expect(stored.telecom).toHaveLength(2);

      // Empty fields, no PD1, no NK1: the sender has no information; nothing stored is lost.
      const empty = pidWith(pid(child), { 6: '', 8: '', 10: '', 11: '', 13: '', 22: '' });
      const second = await post(vxu({ pid: empty, orders: [order({ filler: 'NULL-P1-B', cvx: '20', date: hl7Date(5) })] }));
      expect(second.msa, second.text).toBe('AA');
      const [kept] = await patientsBy(`${authority('MYEHR')}|NULL-P1`);
      for (const key of ['gender', 'address', 'telecom', 'contact', 'extension', 'name', 'birthDate', 'identifier']) expect(kept[key], key).toEqual(stored[key]);

      // "" in each: each is deleted; PID-14 (sent as before) keeps the business phone.
      const nulls = pidWith(pid(child), { 6: '""', 8: '""', 10: '""', 11: '""', 13: '""', 14: WORK_PHONE, 22: '""' });
      const third = await post(vxu({ pid: nulls, pd1: pd1({ publicity: '""', registry: '""' }), nk1: ['NK1|1|""'], orders: [order({ filler: 'NULL-P1-C', cvx: '10', date: hl7Date(2) })] }));
      expect(third.msa, third.text).toBe('AA');
      expect(third.errs).toEqual([]);
      const [after] = await patientsBy(`${authority('MYEHR')}|NULL-P1`);
      expect(JSON.stringify(after)).not.toContain('\\"\\"');
      expect(after.gender).toBeUndefined();
      expect(after.address).toBeUndefined();
      expect(after.contact).toBeUndefined();
      expect(after.telecom).toEqual([expect.objectContaining({ use: 'work', value: '(617)555-1234' })]);
      expect(urls(after)).toEqual([]);
      // What identifies the child stays.
      expect(after.name).toEqual(stored.name);
      expect(after.birthDate).toBe(stored.birthDate);
      expect(after.identifier).toEqual(stored.identifier);
      // The deletion is a new version: the earlier one keeps what was deleted.
      const history = await server.fhir('GET', `Patient/${after.id}/_history`);
      expect(history.body.entry.some((e: any) => e.resource.address?.length > 0)).toBe(true);
    });

    it('PID-24/25 and PID-29/30 "": multiple birth and death are deleted', async (ctx) => {
      if (noTransactions) ctx.skip();
      const child = { mrn: 'NULL-P2', family: 'Brannstrom', given: 'Elsa', birth: yearsAgo(1), sex: 'F', multiple: 'Y', order: '2' };
      const first = await post(vxu({ pid: pidWith(pid(child), { 29: hl7Date(3), 30: 'Y' }), orders: [order({ filler: 'NULL-P2-A', cvx: '08', date: hl7Date(20) })] }));
      expect(first.msa, first.text).toBe('AA');
      const [stored] = await patientsBy(`${authority('MYEHR')}|NULL-P2`);
      expect(stored.multipleBirthInteger).toBe(2);
      expect(stored.deceasedDateTime).toBeDefined();
      const second = await post(vxu({ pid: pidWith(pid({ ...child, multiple: '""', order: '""' }), { 29: '""', 30: '""' }), orders: [] }));
      expect(second.msa, second.text).toBe('AA');
      const [after] = await patientsBy(`${authority('MYEHR')}|NULL-P2`);
      expect(after.multipleBirthInteger).toBeUndefined();
      expect(after.multipleBirthBoolean).toBeUndefined();
      expect(after.deceasedDateTime).toBeUndefined();
      expect(after.deceasedBoolean).toBeUndefined();
    });

    it('PID-5 and PID-7 "" on a stored child: required, they identify the patient, so they are kept; AE with a W ERR at each', async (ctx) => {
      if (noTransactions) ctx.skip();
      const child = { mrn: 'NULL-P3', family: 'Carvalho', given: 'Rui', birth: yearsAgo(3), sex: 'M' };
      expect((await post(vxu({ pid: pid(child), orders: [order({ filler: 'NULL-P3-A', cvx: '08', date: hl7Date(40) })] }))).msa).toBe('AA');
      const [stored] = await patientsBy(`${authority('MYEHR')}|NULL-P3`);
      const res = await post(vxu({ pid: pidWith(pid(child), { 5: '""', 7: '""' }), orders: [order({ filler: 'NULL-P3-B', cvx: '20', date: hl7Date(3) })] }));
      expect(res.msa, res.text).toBe('AE');
      expect(res.errs).toEqual([
        expect.objectContaining({ location: 'PID^1^5^1', hl7: '101', severity: 'W', app: '7', text: expect.stringContaining('cannot be deleted') }),
        expect.objectContaining({ location: 'PID^1^7^1', hl7: '101', severity: 'W', app: '7', text: expect.stringContaining('cannot be deleted') }),
      ]);
      const [after] = await patientsBy(`${authority('MYEHR')}|NULL-P3`);
      expect(after.name).toEqual(stored.name);
      expect(after.birthDate).toBe(stored.birthDate);
      const doses = await server.fhir('GET', `Immunization?patient=Patient/${after.id}`);
      expect(doses.body.entry).toHaveLength(2);
    });

    it('PID-3 "" names no one: AR, its ERR says the identifiers cannot be deleted; PID-5 "" for a new child: AR (name-missing)', async (ctx) => {
      if (noTransactions) ctx.skip();
      const noIds = await post(vxu({ pid: pidWith(pid({ mrn: 'x', family: 'Dahl', given: 'Ida', birth: yearsAgo(1) }), { 3: '""' }), orders: [] }));
      expect(noIds.msa).toBe('AR');
      expect(noIds.errs).toEqual([expect.objectContaining({ location: 'PID^1^3^1', hl7: '101', severity: 'E', text: expect.stringContaining('HL7\'s null ""') })]);
      const noName = await post(vxu({ pid: pidWith(pid({ mrn: 'NULL-P4', family: 'Dahl', given: 'Ida', birth: yearsAgo(1) }), { 5: '""' }), orders: [] }));
      expect(noName.msa, noName.text).toBe('AR');
      expect(noName.errs.some((e) => e.severity === 'E' && /name/i.test(e.text))).toBe(true);
      expect(await patientsBy(`${authority('MYEHR')}|NULL-P4`)).toEqual([]);
    });

    it('newborn reconciliation: the clinic\'s first VXU certainly matches the hospital\'s "BABY GIRL" record, and its "" (a field or a component) deletes on that record', async (ctx) => {
      if (noTransactions) ctx.skip();
      const birth = hl7Date(45);
      const hospital = await post(
        vxu({
          facility: 'HOSP-N',
          pid: pid({ mrn: 'H-NULL-1', authority: 'GENHOSP', family: 'Eklund', given: 'Baby Girl', birth, sex: 'F' }),
          pd1: pd1({ registry: 'A' }),
          nk1: [NK1_MOTHER],
          orders: [order({ filler: 'H-NULL-1-HEPB', cvx: '08', date: birth })],
        })
      );
      expect(['AA', 'AE'], hospital.text).toContain(hospital.msa);
      const clinicPid = pidWith(pid({ mrn: 'C-NULL-1', authority: 'CLINICEHR', family: 'Eklund', given: 'Saga', birth, sex: 'F' }), { 10: '""', 22: '""', 13: '^PRN^PH^^^657^""' });
      const clinic = await post(vxu({ facility: 'CLINIC-N', pid: clinicPid, pd1: pd1({ registry: '""' }), nk1: ['NK1|1|""'], orders: [order({ filler: 'C-NULL-1-DTAP', cvx: '20', date: hl7Date(0) })] }));
      expect(['AA', 'AE'], clinic.text).toContain(clinic.msa);
      const [byHospital] = await patientsBy(`${authority('GENHOSP')}|H-NULL-1`);
      const byClinic = await patientsBy(`${authority('CLINICEHR')}|C-NULL-1`);
      expect(byClinic.map((p) => p.id)).toEqual([byHospital.id]);
      expect(urls(byHospital)).toEqual(expect.not.arrayContaining([EXT.race, EXT.ethnicity, EXT.registryStatus]));
      expect(urls(byHospital)).toContain(EXT.mothersMaidenName);
      expect(byHospital.contact).toBeUndefined();
      // A "" component too: the home phone whose local number is "" is gone from the hospital's record.
      expect(byHospital.telecom).toBeUndefined();
      expect(byHospital.name.find((n: any) => n.use === 'official').given).toEqual(['Saga']);
    });

    it('"" in one component deletes that part of the stored name, address and phones (PID-5.3/.4, PID-11.2/.3, PID-13.4/.7/.8, PID-6.1); an empty component keeps it', async (ctx) => {
      if (noTransactions) ctx.skip();
      const child = { mrn: 'NULL-C1', family: 'Halonen', given: 'Ilmari', birth: yearsAgo(3), sex: 'M' };
      const base = pid(child);
      const full = pidWith(base, {
        5: 'Halonen^Ilmari^Kaarlo^Jr^^^L',
        11: '12 Main St^Apt 4^Boston^MA^02110^USA^L~9 Elm Rd^Unit B^Quincy^MA^02169^USA^M',
        13: '^PRN^PH^^^617^5551234^12~^PRN^CP^^^617^5559876~^NET^INTERNET^ilmari@example.org',
        14: '^WPN^PH^^^617^5550000',
      });
      expect((await post(vxu({ pid: full, orders: [order({ filler: 'NULL-C1-A', cvx: '08', date: hl7Date(60) })] }))).msa).toBe('AA');
      const [stored] = await patientsBy(`${authority('MYEHR')}|NULL-C1`);
      expect(stored.address).toHaveLength(2);

      // Components left empty: no information, the stored parts stay.
      const empty = pidWith(base, { 5: 'Halonen^Ilmari^^^^^L', 11: '12 Main St^^Boston^MA^02110^USA^L', 13: '^PRN^PH^^^617^5551234' });
      expect((await post(vxu({ pid: empty, orders: [order({ filler: 'NULL-C1-B', cvx: '20', date: hl7Date(30) })] }))).msa).toBe('AA');
      const [kept] = await patientsBy(`${authority('MYEHR')}|NULL-C1`);
      expect(kept.name.some((n: any) => n.given.includes('Kaarlo'))).toBe(true);
      expect(kept.address.find((a: any) => a.city === 'Boston').line).toEqual(['12 Main St', 'Apt 4']);
      expect(kept.telecom.map((t: any) => t.value)).toEqual(expect.arrayContaining(['(617)555-1234 x12', '(617)555-9876', 'ilmari@example.org']));

      // "" components: the middle name and suffix, Boston's second line, the first phone's
      // extension, the mobile number, the e-mail address and the mother's maiden name go; the rest stays.
      const nulls = pidWith(base, {
        5: 'Halonen^Ilmari^""^""^^^L',
        6: '""^Morgan',
        11: '12 Main St^""^Boston^MA^02110^USA^L~9 Elm Rd^Unit B^""^MA^02169^USA^M',
        13: '^PRN^PH^^^617^5551234^""~^PRN^CP^^^617^""~^NET^INTERNET^""',
      });
      const deleted = await post(vxu({ pid: nulls, orders: [order({ filler: 'NULL-C1-C', cvx: '10', date: hl7Date(10) })] }));
      expect(deleted.msa, deleted.text).toBe('AA');
      const [after] = await patientsBy(`${authority('MYEHR')}|NULL-C1`);
      expect(after.name).toEqual([{ family: 'Halonen', given: ['Ilmari'], use: 'official' }]);
      expect(urls(after)).not.toContain(EXT.mothersMaidenName);
      const lines = Object.fromEntries(after.address.map((a: any) => [a.postalCode, { line: a.line, city: a.city }]));
      expect(lines).toEqual({ '02110': { line: ['12 Main St'], city: 'Boston' }, '02169': { line: ['9 Elm Rd', 'Unit B'], city: undefined } });
      expect(after.telecom.map((t: any) => `${t.system}|${t.use}|${t.value}`).sort()).toEqual(['phone|home|(617)555-1234', 'phone|work|(617)555-0000']);
      expect(after.identifier.map((i: any) => i.value)).toContain('NULL-C1');
      // A repetition that sends no value besides its "" (a bare "" repetition, ^^"") stands for no stored value: nothing goes.
      const vague = await post(vxu({ pid: pidWith(base, { 5: 'Halonen^Ilmari^^^^^L~^^""', 11: '12 Main St^^Boston^MA^02110^USA^L~""~^""', 13: '^PRN^PH^^^617^5551234~""' }), orders: [order({ filler: 'NULL-C1-E', cvx: '10', date: hl7Date(4) })] }));
      expect(vague.msa, vague.text).toBe('AA');
      const [unchanged] = await patientsBy(`${authority('MYEHR')}|NULL-C1`);
      expect(unchanged.address).toEqual(after.address);
      expect(unchanged.telecom).toEqual(after.telecom);
      // The NK1 replace the contacts whole: a phone whose number is "" is no phone (not "617").
      const nk1 = await post(vxu({ pid: base, nk1: ['NK1|1|Halonen^Maija^^^^^L|MTH^Mother^HL70063||^PRN^PH^^^617^""~^PRN^CP^^^617^5552222'], orders: [order({ filler: 'NULL-C1-D', cvx: '10', date: hl7Date(5) })] }));
      expect(nk1.msa, nk1.text).toBe('AA');
      const [withContact] = await patientsBy(`${authority('MYEHR')}|NULL-C1`);
      expect(withContact.contact).toHaveLength(1);
      expect(withContact.contact[0].telecom).toEqual([{ system: 'phone', value: '(617)555-2222', use: 'mobile' }]);
      expect(after.birthDate).toBe(stored.birthDate);
    });

    it('"" in a first subcomponent (PID-11.1 SAD street address, PID-6.1 FN surname) deletes that part; in a later one it is empty; a name\'s other subcomponents are never stored as text', async (ctx) => {
      if (noTransactions) ctx.skip();
      const child = { mrn: 'NULL-S1', family: 'Koivu', given: 'Lauri', birth: yearsAgo(4), sex: 'M' };
      const base = pid(child);
      // FN's surname and SAD's street address are the parts kept: "van&Koivu" is not a family name.
      const full = pidWith(base, { 5: 'Koivu&van^Lauri^^^^^L', 6: 'Lam&de^Morgan', 11: '12 Main St&Main St&12^Apt 4^Boston^MA^02110^USA^L' });
      const first = await post(vxu({ pid: full, orders: [order({ filler: 'NULL-S1-A', cvx: '08', date: hl7Date(60) })] }));
      expect(first.msa, first.text).toBe('AA');
      const [stored] = await patientsBy(`${authority('MYEHR')}|NULL-S1`);
      expect(stored.name).toEqual([{ family: 'Koivu', given: ['Lauri'], use: 'official' }]);
      expect(stored.extension.find((e: any) => e.url === EXT.mothersMaidenName).valueString).toBe('Lam');
      expect(stored.address.map((a: any) => a.line)).toEqual([['12 Main St', 'Apt 4']]);

      // "" in a later subcomponent (the street name, the dwelling number): parts never kept, nothing deleted.
      const later = await post(vxu({ pid: pidWith(base, { 11: '12 Main St&""&""^Apt 4^Boston^MA^02110^USA^L' }), orders: [order({ filler: 'NULL-S1-B', cvx: '20', date: hl7Date(40) })] }));
      expect(later.msa, later.text).toBe('AA');
      const [kept] = await patientsBy(`${authority('MYEHR')}|NULL-S1`);
      expect(kept.address.map((a: any) => a.line)).toEqual([['12 Main St', 'Apt 4']]);

      // "" as the street address subcomponent: the street line goes from the address the rest agrees with; "" as the surname of PID-6.1: the maiden name goes.
      const nulls = await post(vxu({ pid: pidWith(base, { 6: '""&de^Morgan', 11: '""&Main St&12^Apt 4^Boston^MA^02110^USA^L' }), orders: [order({ filler: 'NULL-S1-C', cvx: '10', date: hl7Date(20) })] }));
      expect(nulls.msa, nulls.text).toBe('AA');
      const [after] = await patientsBy(`${authority('MYEHR')}|NULL-S1`);
      expect(after.address.map((a: any) => a.line)).toEqual([['Apt 4']]);
      expect(JSON.stringify(after)).not.toContain('""');
      expect(urls(after)).not.toContain(EXT.mothersMaidenName);

      // "" as PID-5.1's surname is the family name sent as "": it identifies the child, kept with a W ERR.
      const family = await post(vxu({ pid: pidWith(base, { 5: '""&van^Lauri^^^^^L' }), orders: [order({ filler: 'NULL-S1-D', cvx: '10', date: hl7Date(10) })] }));
      expect(family.msa, family.text).toBe('AE');
      expect(family.errs).toContainEqual(expect.objectContaining({ location: 'PID^1^5^1^1', hl7: '101', severity: 'W' }));
      const [named] = await patientsBy(`${authority('MYEHR')}|NULL-S1`);
      expect(named.name).toEqual([{ family: 'Koivu', given: ['Lauri'], use: 'official' }]);
    });

    it('"" in the family or given name (PID-5.1, PID-5.2): they identify the patient, the stored name is kept with a W ERR; a new child without another name: AR', async (ctx) => {
      if (noTransactions) ctx.skip();
      const child = { mrn: 'NULL-C2', family: 'Ilves', given: 'Juho', birth: yearsAgo(5), sex: 'M' };
      expect((await post(vxu({ pid: pid(child), orders: [order({ filler: 'NULL-C2-A', cvx: '08', date: hl7Date(60) })] }))).msa).toBe('AA');
      for (const [c, name] of [[1, '""^Juho^^^^^L'], [2, 'Ilves^""^^^^^L']] as const) {
        const answer = await post(vxu({ pid: pidWith(pid(child), { 5: name }), orders: [order({ filler: `NULL-C2-${c}`, cvx: '20', date: hl7Date(30 - c) })] }));
        expect(answer.msa, answer.text).toBe('AE');
        expect(answer.errs).toContainEqual(expect.objectContaining({ location: `PID^1^5^1^${c}`, hl7: '101', severity: 'W', app: '7' }));
        const [stored] = await patientsBy(`${authority('MYEHR')}|NULL-C2`);
        expect(stored.name).toEqual([{ family: 'Ilves', given: ['Juho'], use: 'official' }]);
      }
      // In a second repetition (an alias): its ERR names that repetition; the legal name is read as sent.
      const alias = await post(vxu({ pid: pidWith(pid(child), { 5: 'Ilves^Juho^^^^^L~""^Jussi^^^^^A' }), orders: [order({ filler: 'NULL-C2-3', cvx: '20', date: hl7Date(20) })] }));
      expect(alias.msa, alias.text).toBe('AE');
      expect(alias.errs).toContainEqual(expect.objectContaining({ location: 'PID^1^5^2^1', hl7: '101', severity: 'W' }));
      const newChild = await post(vxu({ pid: pidWith(pid({ mrn: 'NULL-C3', family: 'Jokela', given: 'Kaisa', birth: yearsAgo(6), sex: 'F' }), { 5: '""^Kaisa^^^^^L' }), orders: [order({ filler: 'NULL-C3-A', cvx: '08', date: hl7Date(60) })] }));
      expect(newChild.msa, newChild.text).toBe('AR');
      expect(await patientsBy(`${authority('MYEHR')}|NULL-C3`)).toEqual([]);
    });

    it('a "" component decides the same over SOAP and in a batch file', async (ctx) => {
      if (noTransactions) ctx.skip();
      const soap = (message: string) =>
        fetch(`${server.url}/soap`, {
          method: 'POST',
          headers: { 'content-type': 'application/soap+xml; charset=utf-8' },
          body:
            '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><submitSingleMessage xmlns="urn:cdc:iisb:2011">' +
            `<username>x</username><password>${server.token()}</password><facilityID></facilityID><hl7Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</hl7Message>` +
            '</submitSingleMessage></soap:Body></soap:Envelope>',
        }).then((r) => r.text());
      const soapChild = { mrn: 'NULL-C4', family: 'Kallio', given: 'Lauri', birth: yearsAgo(4), sex: 'M' };
      const batchChild = { mrn: 'NULL-C5', family: 'Laine', given: 'Mikko', birth: yearsAgo(4), sex: 'M' };
      for (const child of [soapChild, batchChild]) {
        const first = await post(vxu({ pid: pidWith(pid(child), { 5: `${child.family}^${child.given}^Olavi^^^^L` }), orders: [order({ filler: `${child.mrn}-A`, cvx: '08', date: hl7Date(60) })] }));
        expect(first.msa).toBe('AA');
      }
      const middleDeleted = (child: typeof soapChild) => vxu({ pid: pidWith(pid(child), { 5: `${child.family}^${child.given}^""^^^^L` }), orders: [order({ filler: `${child.mrn}-B`, cvx: '20', date: hl7Date(20) })] });
      expect(await soap(middleDeleted(soapChild))).toContain('MSA|AA');
      const batch = [`FHS|^~\\&|Test EHR Application|X68|IIS|IIS Facility|${hl7Date(0)}||||F-C5`, `BHS|^~\\&|Test EHR Application|X68|IIS|IIS Facility|${hl7Date(0)}||||B-C5`, middleDeleted(batchChild), 'BTS|1', 'FTS|1'].join('\r');
      const batchAnswer = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${server.token()}` }, body: batch }).then((r) => r.text());
      expect(batchAnswer).toContain('MSA|AA');
      for (const child of [soapChild, batchChild]) {
        const [stored] = await patientsBy(`${authority('MYEHR')}|${child.mrn}`);
        expect(stored.name, child.mrn).toEqual([{ family: child.family, given: [child.given], use: 'official' }]);
      }
    });

    it('PD1-12 "" on the surviving record withdraws the protection indicator the organization recorded on a record since merged into it', async (ctx) => {
      if (noTransactions) ctx.skip();
      const clinicA = server.token({ scope: 'user/*.cruds', organization: 'Organization/null-clinic-a' });
      const clinicB = server.token({ scope: 'user/*.cruds', organization: 'Organization/null-clinic-b' });
      const birth = yearsAgo(3);
      const source = { mrn: 'NULL-M1-S', family: 'Wennberg', given: 'Tove', birth, sex: 'F' };
      const target = { mrn: 'NULL-M1-T', family: 'Wennberg', given: 'Tova', birth, sex: 'F' };
      const protect = await post(vxu({ pid: pid(source), pd1: pd1({ protection: 'Y', protectionDate: hl7Date(10) }), orders: [order({ filler: 'NULL-M1-S-A', cvx: '08', date: hl7Date(60) })] }), clinicA);
      expect(protect.msa, protect.text).toMatch(/^A[AE]$/);
      expect((await post(vxu({ pid: pid(target), orders: [order({ filler: 'NULL-M1-T-A', cvx: '20', date: hl7Date(40) })] }), clinicA)).msa).toMatch(/^A[AE]$/);
      const [s] = await patientsBy(`${authority('MYEHR')}|NULL-M1-S`);
      const t = (await patientsBy(`${authority('MYEHR')}|NULL-M1-T`)).find((p) => p.id !== s.id);
      expect((await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(s.id, t.id) })).status).toBe(200);
      const readAs = (token: string, id: string) => fetch(`${server.url}/fhir/Patient/${id}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
      expect([await readAs(clinicB, s.id), await readAs(clinicB, t.id)]).toEqual([403, 403]);
      const withdrawn = await post(vxu({ pid: pid(target), pd1: pd1({ protection: '""', protectionDate: '""' }), orders: [order({ filler: 'NULL-M1-T-A', cvx: '20', date: hl7Date(40) })] }), clinicA);
      expect(withdrawn.msa, withdrawn.text).toBe('AA');
      const [kept] = (await server.fhir('GET', `Consent?patient=Patient/${s.id}`)).body.entry.map((e: any) => e.resource);
      expect(kept).toMatchObject({ status: 'inactive', provision: { type: 'deny' } });
      expect([await readAs(clinicB, s.id), await readAs(clinicB, t.id)]).toEqual([200, 200]);
    });

    it('PD1-12 "" in a message matching alone puts on a stored record (SSN only: a certain match) withdraws the protection this organization recorded there; another organization\'s stays', async (ctx) => {
      if (noTransactions) ctx.skip();
      const clinicA = server.token({ scope: 'user/*.cruds', organization: 'Organization/null-clinic-a' });
      const clinicB = server.token({ scope: 'user/*.cruds', organization: 'Organization/null-clinic-b' });
      const child = { mrn: 'NULL-P6', family: 'Sandvik', given: 'Ebba', birth: yearsAgo(4, 3), sex: 'F' };
      const withSsn = pid(child).replace(/^(PID\|1\|\|)([^|]*)/, '$1$2~402236678^^^SSA^SS');
      const ssnOnly = pid(child).replace(/^(PID\|1\|\|)([^|]*)/, '$1402236678^^^SSA^SS');
      expect((await post(vxu({ pid: withSsn, pd1: pd1({ protection: 'N', protectionDate: hl7Date(20) }), orders: [order({ filler: 'NULL-P6-A', cvx: '08', date: hl7Date(60) })] }), clinicB)).msa).toMatch(/^A[AE]$/);
      expect((await post(vxu({ pid: withSsn, pd1: pd1({ protection: 'Y', protectionDate: hl7Date(10) }), orders: [order({ filler: 'NULL-P6-A', cvx: '08', date: hl7Date(60) })] }), clinicA)).msa).toMatch(/^A[AE]$/);
      const [patient] = await patientsBy(`${authority('MYEHR')}|NULL-P6`);
      const readAs = (token: string) => fetch(`${server.url}/fhir/Patient/${patient.id}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
      expect(await readAs(clinicB)).toBe(403);

      // Another system of clinic A sends the child by its SSN alone, PD1-12 "": matching puts the dose on the record, and the protection goes.
      const withdrawn = await post(vxu({ pid: ssnOnly, pd1: pd1({ protection: '""', protectionDate: '""' }), orders: [order({ filler: 'NULL-P6-OTHER', cvx: '141', date: hl7Date(5) })] }), clinicA);
      expect(withdrawn.msa, withdrawn.text).toMatch(/^A[AE]$/);
      expect(withdrawn.errs.filter((e) => e.location.startsWith('PD1'))).toEqual([]);
      const doses = (await server.fhir('GET', `Immunization?patient=Patient/${patient.id}`)).body.entry.map((e: any) => e.resource.vaccineCode.coding[0].code);
      expect(doses.sort()).toEqual(['08', '141']);
      const consents = (await server.fhir('GET', `Consent?patient=Patient/${patient.id}`)).body.entry.map((e: any) => e.resource);
      const byOrganization = Object.fromEntries(consents.map((c: any) => [c.organization[0].reference, c]));
      expect(byOrganization['Organization/null-clinic-a']).toMatchObject({ status: 'inactive', provision: { type: 'deny' } });
      expect(byOrganization['Organization/null-clinic-b']).toMatchObject({ status: 'active', provision: { type: 'permit' } });
      expect(await readAs(clinicB)).toBe(200);
    });

    it('PD1-12 "": the protection indicator this organization recorded is withdrawn (its Consent inactive, history kept); another organization\'s stays', async (ctx) => {
      if (noTransactions) ctx.skip();
      const clinicA = server.token({ scope: 'user/*.cruds', organization: 'Organization/null-clinic-a' });
      const clinicB = server.token({ scope: 'user/*.cruds', organization: 'Organization/null-clinic-b' });
      const child = { mrn: 'NULL-P5', family: 'Fagerlund', given: 'Nils', birth: yearsAgo(4), sex: 'M' };
      const send = (token: string, protection: string, filler: string, date: string) =>
        post(vxu({ pid: pid(child), pd1: pd1({ protection, protectionDate: date }), orders: [order({ filler, cvx: '08', date: hl7Date(60) })] }), token);
      expect((await send(clinicB, 'N', 'NULL-P5-A', hl7Date(20))).msa).toBe('AA');
      expect((await send(clinicA, 'Y', 'NULL-P5-A', hl7Date(10))).msa).toBe('AA');
      const [patient] = await patientsBy(`${authority('MYEHR')}|NULL-P5`);
      const readAs = (token: string) => fetch(`${server.url}/fhir/Patient/${patient.id}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
      expect(await readAs(clinicB)).toBe(403);

      const withdrawn = await send(clinicA, '""', 'NULL-P5-A', '""');
      expect(withdrawn.msa, withdrawn.text).toBe('AA');
      const consents = (await server.fhir('GET', `Consent?patient=Patient/${patient.id}`)).body.entry.map((e: any) => e.resource);
      const byOrganization = Object.fromEntries(consents.map((c: any) => [c.organization[0].reference, c]));
      expect(byOrganization['Organization/null-clinic-a']).toMatchObject({ status: 'inactive', provision: { type: 'deny' } });
      expect(byOrganization['Organization/null-clinic-b']).toMatchObject({ status: 'active', provision: { type: 'permit' } });
      expect(await readAs(clinicB)).toBe(200);
      const history = await server.fhir('GET', `Consent/${byOrganization['Organization/null-clinic-a'].id}/_history`);
      expect(history.body.entry.map((e: any) => e.resource.status)).toEqual(['inactive', 'active']);
      // Sent again, nothing left to withdraw: no new version.
      expect((await send(clinicA, '""', 'NULL-P5-A', '""')).msa).toBe('AA');
      expect((await server.fhir('GET', `Consent/${byOrganization['Organization/null-clinic-a'].id}/_history`)).body.entry).toHaveLength(2);

      // Public health (no organization) withdraws what it recorded itself, never an organization's.
      const publicHealth = server.token();
      expect((await send(publicHealth, 'Y', 'NULL-P5-A', hl7Date(1))).msa).toBe('AA');
      expect((await send(publicHealth, '""', 'NULL-P5-A', '""')).msa).toBe('AA');
      const after = (await server.fhir('GET', `Consent?patient=Patient/${patient.id}`)).body.entry.map((e: any) => e.resource);
      expect(after.find((c: any) => !c.organization)).toMatchObject({ status: 'inactive', provision: { type: 'deny' } });
      expect(after.find((c: any) => c.organization?.[0]?.reference === 'Organization/null-clinic-b')).toMatchObject({ status: 'active' });
      expect(await readAs(clinicB)).toBe(200);
    });
  });
}
