// Generated families over HTTP (issue 12), on top of the fixed scenarios of
// matching-families.test.ts: fast-check draws a family — twins or triplets under one placeholder
// with birth orders, a boy and a girl of one birth date, look-alike newborns of other mothers, a
// single newborn, twins without birth orders — with names from a pool that holds look-alike
// names (Ann / Anna, Thor / Thorfinn, Leah / Lea, Eva / Ava), which household facts the clinic
// sends, the placeholder's wording (Baby Boy / Baby Girl, Baby, all caps, Newborn, or a first name
// not known: Unknown, FNU) and the order in which the clinic names the children. The
// hospital registers each newborn under its placeholder with a birth dose; then the clinic sends
// each legal record with a dose. Checked for every family:
//  - safety, always: a legal record never lands on another child's placeholder (no two children in
//    one record), and twins without birth orders are never merged into either placeholder;
//  - reconciliation, when the clinic sends two household facts or more (what a placeholder match
//    without an identifier rests on): every legal record reaches its own placeholder, so the
//    registry ends with one record per child and both doses on it.
// A failure prints the seed and the shrunk family (MATCHING_FAMILIES_SEED=… reproduces a run).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childRecord, MR, type Household, type HouseholdFact } from './helpers/families.js';
import { immunization, startTestServer, type TestServer } from './helpers/server.js';

const HOSPITALS = ['urn:oid:2.16.840.1.113883.3.9999.201', 'urn:oid:2.16.840.1.113883.3.9999.202'];
const NAMES = ['Liam', 'Noah', 'Ann', 'Anna', 'Thor', 'Thorfinn', 'Leah', 'Lea', 'Eva', 'Ava', 'Mason', 'Jason', 'Emma', 'Emily', 'Chris', 'Christina'];
const SURNAMES = ['Smith', 'Johnson', 'Williams', 'Garcia', 'Nguyen'];
type Kind = 'twins' | 'triplets' | 'boyGirl' | 'lookAlikes' | 'single' | 'twinsWithoutOrder';
type Placeholder = 'sexed' | 'plain' | 'caps' | 'newborn' | 'unknown';

interface Child {
  legal: string;
  gender: 'male' | 'female';
  household: Household;
  hospital: string;
  order?: number;
}

interface Family {
  kind: Kind;
  surname: string;
  /** 'sexed': Baby Boy / Baby Girl; 'plain': Baby; 'caps': BABY BOY / BABY GIRL; 'newborn': Newborn; 'unknown': Unknown / FNU (a first name not known). */
  placeholder: Placeholder;
  children: Child[];
  /** Household facts the clinic's records carry. */
  clinicFacts: HouseholdFact[];
  clinicOrder: number[];
}

let householdSeq = 0;
function household(): Household {
  const n = ++householdSeq;
  const streets = ['Birch Road', 'Lincoln Avenue', 'Cedar Lane', 'Monroe Street', 'Park Drive'];
  return {
    line: `${200 + 41 * n} ${streets[n % streets.length]}`,
    zip: `628${String(n % 100).padStart(2, '0')}`,
    phone: `217-556-${String(1000 + n).padStart(4, '0')}`,
    maiden: ['Kowalski', 'Okafor', 'Lindqvist', 'Moreau', 'Haddad'][n % 5],
  };
}

const familyArb: fc.Arbitrary<Family> = fc
  .record({
    kind: fc.constantFrom<Kind>('twins', 'triplets', 'boyGirl', 'lookAlikes', 'single', 'twinsWithoutOrder'),
    surname: fc.constantFrom(...SURNAMES),
    placeholder: fc.constantFrom<Placeholder>('sexed', 'plain', 'caps', 'newborn', 'unknown'),
    names: fc.shuffledSubarray(NAMES, { minLength: 3, maxLength: 3 }),
    sex: fc.constantFrom<'male' | 'female'>('male', 'female'),
    sameMother: fc.boolean(),
    sameHospital: fc.boolean(),
    clinicFacts: fc.subarray<HouseholdFact>(['address', 'phone', 'maiden']),
    shuffle: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
  })
  .map(({ kind, surname, placeholder, names, sex, sameMother, sameHospital, clinicFacts, shuffle }) => {
    const h = household();
    const other = sameMother ? h : household();
    const children: Child[] =
      kind === 'twins' || kind === 'triplets'
        ? names.slice(0, kind === 'twins' ? 2 : 3).map((legal, i) => ({ legal, gender: sex, household: h, hospital: HOSPITALS[0], order: i + 1 }))
        : kind === 'twinsWithoutOrder'
          ? names.slice(0, 2).map((legal) => ({ legal, gender: sex, household: h, hospital: HOSPITALS[0] }))
          : kind === 'boyGirl'
            ? [
                { legal: names[0], gender: 'male', household: h, hospital: HOSPITALS[0] },
                { legal: names[1], gender: 'female', household: other, hospital: HOSPITALS[sameHospital ? 0 : 1] },
              ]
            : kind === 'lookAlikes'
              ? [
                  { legal: names[0], gender: sex, household: h, hospital: HOSPITALS[0] },
                  { legal: names[1], gender: sex, household: household(), hospital: HOSPITALS[sameHospital ? 0 : 1] },
                ]
              : [{ legal: names[0], gender: sex, household: h, hospital: HOSPITALS[0] }];
    const clinicOrder = children.map((_, i) => i).sort((a, b) => (shuffle[a] ?? 0) - (shuffle[b] ?? 0) || a - b);
    return { kind, surname, placeholder, children, clinicFacts, clinicOrder };
  });

function placeholderGiven(family: Family, child: Child, index: number): string[] {
  switch (family.placeholder) {
    case 'plain':
      return ['Baby'];
    case 'caps':
      return ['BABY', child.gender === 'male' ? 'BOY' : 'GIRL'];
    case 'newborn':
      return ['Newborn'];
    case 'unknown':
      return [index % 2 === 0 ? 'Unknown' : 'FNU'];
    default:
      return ['Baby', child.gender === 'male' ? 'Boy' : 'Girl'];
  }
}


describe('generated families over HTTP: never two children in one record; one record per child when the clinic sends the household', () => {
  let server: TestServer;
  let birthSeq = 0;
  let mrnSeq = 0;
  const seen = new Map<string, number>();
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  async function run(family: Family): Promise<void> {
    birthSeq++;
    // A birth date of its own per family (no other family shares it), so each family is judged alone.
    const birthDate = `20${10 + Math.floor(birthSeq / 300)}-${String(1 + (Math.floor(birthSeq / 28) % 12)).padStart(2, '0')}-${String(1 + (birthSeq % 28)).padStart(2, '0')}`;
    const placeholders: string[] = [];
    for (const [index, child] of family.children.entries()) {
      const hospital = await server.fhir('POST', 'Patient', {
        body: {
          ...childRecord(child, birthDate),
          identifier: [{ type: MR, system: child.hospital, value: `GNB-${++mrnSeq}` }],
          name: [{ family: family.surname, given: placeholderGiven(family, child, index) }],
        },
      });
      expect(hospital.status, hospital.text).toBe(201);
      placeholders.push(hospital.body.id);
      const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${hospital.body.id}`, { occurrenceDateTime: birthDate }) });
      expect(dose.status, dose.text).toBe(201);
    }
    const reconciles = family.clinicFacts.length >= 2 && family.kind !== 'twinsWithoutOrder';
    for (const i of family.clinicOrder) {
      const child = family.children[i];
      const clinic = await server.fhir('POST', 'Patient', {
        body: { ...childRecord(child, birthDate, family.clinicFacts), name: [{ use: 'official', family: family.surname, given: [child.legal] }] },
      });
      expect([200, 201], clinic.text).toContain(clinic.status);
      const landed = placeholders.indexOf(clinic.body.id);
      // Safety: never on another child's placeholder; twins without birth orders on neither.
      if (landed >= 0) expect(landed, `${child.legal}'s legal record reached another child's placeholder`).toBe(i);
      if (family.kind === 'twinsWithoutOrder') expect(landed, `${child.legal}: a twin without birth order merged`).toBe(-1);
      if (reconciles) expect(landed, `${child.legal}'s legal record did not reach its own placeholder`).toBe(i);
      const dose = await server.fhir('POST', 'Immunization', {
        body: immunization(`Patient/${clinic.body.id}`, { occurrenceDateTime: `${birthDate}T12:00:00Z`, vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] } }),
      });
      expect(dose.status, dose.text).toBe(201);
    }
    if (!reconciles) return;
    const records = await server.fhir('GET', `Patient?birthdate=${birthDate}&_count=50`);
    expect(records.body.entry?.length ?? 0, 'one record per child').toBe(family.children.length);
    for (const [i, child] of family.children.entries()) {
      const stored = (await server.fhir('GET', `Patient/${placeholders[i]}`)).body;
      const official = stored.name.filter((n: { use?: string }) => n.use === 'official').map((n: { given: string[] }) => n.given.join(' '));
      expect(official, `record of ${child.legal}`).toEqual([child.legal]);
      const doses = await server.fhir('GET', `Immunization?patient=Patient/${placeholders[i]}`);
      expect(doses.body.entry?.length ?? 0, `doses of ${child.legal}`).toBe(2);
    }
    seen.set(family.kind, (seen.get(family.kind) ?? 0) + 1);
  }

  it('every generated family', async () => {
    const seed = process.env.MATCHING_FAMILIES_SEED ? Number(process.env.MATCHING_FAMILIES_SEED) : undefined;
    await fc.assert(fc.asyncProperty(familyArb, run), { numRuns: Number(process.env.MATCHING_FAMILIES_RUNS ?? 120), ...(seed !== undefined ? { seed } : {}) });
    // Each kind that reconciles was met and reconciled (the draw is not left to chance alone).
    for (const kind of ['twins', 'triplets', 'boyGirl', 'lookAlikes', 'single'] as const) expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(0);
  }, 240_000);
});
