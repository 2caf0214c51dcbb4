// Families over HTTP (issue 12): a hospital registers each newborn under a placeholder name with a
// birth dose, then the clinic sends each child's legal record with a dose of its own. Whatever the
// family — twins under one placeholder, a boy and a girl of one birth date, look-alike newborns of
// other mothers — every legal record must reach its own placeholder (200, merged-into-existing),
// so the registry ends with one record per child, each dose on its child, and no twin merged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childRecord, MR, type Household } from './helpers/families.js';
import { immunization, startTestServer, type TestServer } from './helpers/server.js';

const HOSPITAL_A = 'urn:oid:2.16.840.1.113883.3.9999.101';
const HOSPITAL_B = 'urn:oid:2.16.840.1.113883.3.9999.102';

interface Child {
  placeholder: string[];
  legal: string;
  family: string;
  gender: 'male' | 'female';
  household: Household;
  hospital: string;
  /** multipleBirthInteger on both the hospital and the clinic record. */
  order?: number;
}

let familySeq = 0;
let mrnSeq = 0;

function household(n: number): Household {
  const streets = ['Birch Road', 'Lincoln Avenue', 'Cedar Lane', 'Monroe Street', 'Park Drive'];
  return {
    line: `${100 + 37 * n} ${streets[n % streets.length]}`,
    zip: `627${String(n % 100).padStart(2, '0')}`,
    phone: `217-555-${String(3000 + n).padStart(4, '0')}`,
    maiden: ['Garcia', 'Nguyen', 'Kowalski', 'Okafor'][n % 4],
  };
}


describe('families over HTTP: one record per child', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  /**
   * Registers the children at the hospital, then their legal records at the clinic in `clinicOrder`,
   * and checks the registry: one record per child, the legal name official on its own placeholder,
   * both doses on it.
   */
  async function reconcile(children: Child[], clinicOrder: number[]): Promise<void> {
    familySeq++;
    const birthDate = `2026-0${1 + (familySeq % 9)}-${String(1 + (familySeq % 27)).padStart(2, '0')}`;
    const placeholderIds: string[] = [];
    for (const child of children) {
      const hospital = await server.fhir('POST', 'Patient', {
        body: {
          ...childRecord(child, birthDate),
          identifier: [{ type: MR, system: child.hospital, value: `NB-${++mrnSeq}` }],
          name: [{ family: child.family, given: child.placeholder }],
        },
      });
      expect(hospital.status, hospital.text).toBe(201);
      placeholderIds.push(hospital.body.id);
      const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${hospital.body.id}`, { occurrenceDateTime: birthDate }) });
      expect(dose.status, dose.text).toBe(201);
    }
    for (const i of clinicOrder) {
      const child = children[i];
      const clinic = await server.fhir('POST', 'Patient', {
        body: { ...childRecord(child, birthDate), name: [{ use: 'official', family: child.family, given: [child.legal] }] },
        headers: { prefer: 'return=representation' },
      });
      expect(clinic.status, `${child.legal}: ${clinic.text}`).toBe(200);
      expect(clinic.body.id, `${child.legal} reached another record`).toBe(placeholderIds[i]);
      expect(clinic.body.meta?.tag ?? []).not.toContainEqual(expect.objectContaining({ code: 'possible-duplicate' }));
      const dose = await server.fhir('POST', 'Immunization', {
        body: immunization(`Patient/${clinic.body.id}`, { occurrenceDateTime: `${birthDate}T12:00:00Z`, vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] } }),
      });
      expect(dose.status, dose.text).toBe(201);
    }

    const records = await server.fhir('GET', `Patient?birthdate=${birthDate}&_count=50`);
    expect(records.body.entry?.length ?? 0, 'one record per child').toBe(children.length);
    for (const [i, child] of children.entries()) {
      const record = (await server.fhir('GET', `Patient/${placeholderIds[i]}`)).body;
      const official = record.name.filter((n: any) => n.use === 'official').map((n: any) => n.given.join(' '));
      expect(official, `record of ${child.legal}`).toEqual([child.legal]);
      const doses = await server.fhir('GET', `Immunization?patient=Patient/${placeholderIds[i]}`);
      expect(doses.body.entry?.length ?? 0, `doses of ${child.legal}`).toBe(2);
    }
  }

  describe('twins from one hospital under the same placeholder, birth order on both sides', () => {
    const twins = (): Child[] => {
      const h = household(familySeq + 1);
      return [
        { placeholder: ['Baby', 'Boy'], legal: 'Liam', family: 'Williams', gender: 'male', household: h, hospital: HOSPITAL_A, order: 1 },
        { placeholder: ['Baby', 'Boy'], legal: 'Noah', family: 'Williams', gender: 'male', household: h, hospital: HOSPITAL_A, order: 2 },
      ];
    };
    it('first-born named first', async () => reconcile(twins(), [0, 1]));
    it('second-born named first', async () => reconcile(twins(), [1, 0]));
  });

  describe('a boy and a girl with the same surname and birth date', () => {
    const pair = (placeholders: [string[], string[]], sameMother: boolean): Child[] => {
      const h1 = household(familySeq + 1);
      const h2 = sameMother ? h1 : household(familySeq + 50);
      return [
        { placeholder: placeholders[0], legal: 'Mason', family: 'Johnson', gender: 'male', household: h1, hospital: HOSPITAL_A },
        { placeholder: placeholders[1], legal: 'Ava', family: 'Johnson', gender: 'female', household: h2, hospital: HOSPITAL_A },
      ];
    };
    for (const sameMother of [true, false]) {
      const mother = sameMother ? 'one mother' : 'two mothers';
      it(`"Baby Boy" / "Baby Girl", ${mother}, boy named first`, async () => reconcile(pair([['Baby', 'Boy'], ['Baby', 'Girl']], sameMother), [0, 1]));
      it(`"Baby Boy" / "Baby Girl", ${mother}, girl named first`, async () => reconcile(pair([['Baby', 'Boy'], ['Baby', 'Girl']], sameMother), [1, 0]));
      it(`"Baby" for both, ${mother}`, async () => reconcile(pair([['Baby'], ['Baby']], sameMother), [0, 1]));
      it(`"Baby" for both, ${mother}, girl named first`, async () => reconcile(pair([['Baby'], ['Baby']], sameMother), [1, 0]));
    }
  });

  describe('unrelated look-alike newborns: common surname, same birth date and sex, other mothers', () => {
    const lookAlikes = (hospitals: [string, string]): Child[] => [
      { placeholder: ['Baby', 'Girl'], legal: 'Olivia', family: 'Smith', gender: 'female', household: household(familySeq + 1), hospital: hospitals[0] },
      { placeholder: ['Baby', 'Girl'], legal: 'Emma', family: 'Smith', gender: 'female', household: household(familySeq + 2), hospital: hospitals[1] },
    ];
    it('same hospital', async () => reconcile(lookAlikes([HOSPITAL_A, HOSPITAL_A]), [0, 1]));
    it('same hospital, the other child named first', async () => reconcile(lookAlikes([HOSPITAL_A, HOSPITAL_A]), [1, 0]));
    it('different hospitals', async () => reconcile(lookAlikes([HOSPITAL_A, HOSPITAL_B]), [0, 1]));
    it('different hospitals, the other child named first', async () => reconcile(lookAlikes([HOSPITAL_A, HOSPITAL_B]), [1, 0]));
  });

  describe('a genuine ambiguity still goes to review', () => {
    it('twins under one placeholder without birth orders: the legal record is not merged into either', async () => {
      familySeq++;
      const birthDate = `2025-1${familySeq % 3}-0${1 + (familySeq % 9)}`;
      const h = household(familySeq + 7);
      const twin = (legal: string): Child => ({ placeholder: ['Baby', 'Boy'], legal, family: 'Brown', gender: 'male', household: h, hospital: HOSPITAL_A });
      const ids: string[] = [];
      for (const child of [twin('Liam'), twin('Noah')]) {
        const res = await server.fhir('POST', 'Patient', {
          body: { ...childRecord(child, birthDate), identifier: [{ type: MR, system: child.hospital, value: `NB-${++mrnSeq}` }], name: [{ family: 'Brown', given: ['Baby', 'Boy'] }] },
        });
        ids.push(res.body.id);
      }
      const clinic = await server.fhir('POST', 'Patient', { body: { ...childRecord(twin('Liam'), birthDate), name: [{ use: 'official', family: 'Brown', given: ['Liam'] }] } });
      expect(clinic.status, clinic.text).toBe(201);
      expect(ids).not.toContain(clinic.body.id);
      expect(clinic.body.meta.tag.map((t: any) => t.code)).toContain('possible-duplicate');
    });
  });
});
