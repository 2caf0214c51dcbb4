// The search matrix: parameter type × modifier × prefix with boundary cases, run against the mingo
// test store and the embedded store, so the compiled filter documents are proven on both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '@medplum/fhirtypes';
import type { Store } from '../store/store.js';
import {
  BASE,
  CVX,
  MR,
  STORE_FACTORIES,
  del,
  expectFhirError,
  includeIds,
  loadFixtures,
  matchIds,
  put,
  search,
} from './fixtures.js';

type Case = [type: string, params: Array<[string, string]>, expected: string[]];

const cases: Record<string, Case[]> = {
  'string (default starts-with, folded)': [
    ['Patient', [['name', 'jose']], ['pA', 'pB']],
    ['Patient', [['name', 'JOSÉ']], ['pA', 'pB']],
    ['Patient', [['given', 'Jos']], ['pA', 'pB']],
    ['Patient', [['family', 'smith']], ['pA']],
    ['Patient', [['family', 'jones']], ['pA']], // later word of a hyphenated name
    ['Patient', [['family', 'Smith-Jones']], ['pA']],
    ['Patient', [['family', 'smith jones']], ['pA']],
    ['Patient', [['family', 'smithj']], ['pA']], // words run together also match
    ['Patient', [['family', 'smithx']], []],
    ['Patient', [['family', 'mith']], []], // starts-with, not contains
    ['Patient', [['family', "o'brien"]], ['pC']],
    ['Patient', [['family', 'OBRIEN']], ['pC']],
    ['Patient', [['family', 'muller']], ['pD']],
    ['Patient', [['given', 'zoe']], ['pD']],
    ['Patient', [['name', 'baby']], ['pE']], // HumanName.text
    ['Patient', [['name', 'jose smith']], ['pA']], // full name text
    ['Patient', [['address-city', 'montreal']], ['pA']],
    ['Patient', [['address', 'principale']], ['pA']],
    ['Patient', [['address-postalcode', 'h2x']], ['pA']],
    ['Organization', [['name', 'clinique saint jerome']], ['o1']],
    ['Immunization', [['lot-number', 'ab']], ['i1']],
  ],
  'string OR / AND / modifiers': [
    ['Patient', [['name', 'jose,anna']], ['pA', 'pB', 'pC']],
    ['Patient', [['name', 'jose'], ['family', 'doe']], ['pB']],
    ['Patient', [['family:exact', 'Smith-Jones']], ['pA']],
    ['Patient', [['family:exact', 'smith-jones']], []],
    ['Patient', [['family:exact', 'Smith']], []],
    ['Patient', [['given:exact', 'José']], ['pA']],
    ['Patient', [['given:exact', 'Jose']], ['pB']],
    ['Patient', [['family:contains', 'ith']], ['pA']],
    ['Patient', [['given:contains', 'OS']], ['pA', 'pB']],
    ['Patient', [['family:contains', 'h-j']], ['pA']],
    ['Patient', [['phonetic', 'Smyth']], ['pA']],
    ['Patient', [['family:missing', 'true']], ['pE']],
    ['Patient', [['family:missing', 'false']], ['pA', 'pB', 'pC', 'pD']],
  ],
  'string: punctuation is ignored, never a pattern': [
    ['Patient', [['name', '.*']], []],
    ['Patient', [['name', '(']], []],
    ['Patient', [['name:contains', '[a-z]+']], []],
    ['Patient', [['name:contains', '.']], []],
    ['Patient', [['name', 'j.s']], []],
    ['Patient', [['name', 'jo.*']], ['pA', 'pB']], // = "jo": trailing punctuation ignored
    ['Patient', [['name', 'j.*e']], []], // = "j e": '.' and '*' are no wildcards
    ['Patient', [['name', '$ne']], []],
    ['Patient', [['family', '^smith']], ['pA']],
    ['Patient', [['family', 'smith-']], ['pA']],
    ['Patient', [['family', 'smithjones']], ['pA']],
    ['Immunization', [['lot-number', 'AB12']], ['i1']],
    ['Immunization', [['lot-number', 'ab 12']], ['i1']],
    ['Immunization', [['lot-number', '12']], ['i1']],
    ['Immunization', [['vaccine-code:text', '.*']], []],
  ],
  token: [
    ['Patient', [['gender', 'male']], ['pA']],
    ['Patient', [['gender', 'female']], ['pB', 'pC']],
    ['Patient', [['gender', 'male,female']], ['pA', 'pB', 'pC']],
    ['Patient', [['gender', 'MALE']], []], // codes are case-sensitive
    ['Patient', [['gender:not', 'male']], ['pB', 'pC', 'pD', 'pE']], // :not includes missing
    ['Patient', [['gender:not', 'male,female']], ['pD', 'pE']],
    ['Patient', [['gender:missing', 'true']], ['pD', 'pE']],
    ['Patient', [['gender:missing', 'false']], ['pA', 'pB', 'pC']],
    ['Patient', [['identifier', 'A1']], ['pA', 'pC']],
    ['Patient', [['identifier', 'urn:mrn|A1']], ['pA']],
    ['Patient', [['identifier', 'urn:mrn|']], ['pA', 'pB']],
    ['Patient', [['identifier', '|A1']], []],
    ['Patient', [['identifier', '|X9']], ['pE']],
    ['Patient', [['identifier', 'urn:ssn|B1']], []], // system and value must be on one identifier
    ['Patient', [['identifier', 'urn:mrn|A1,urn:ssn|123']], ['pA', 'pB']],
    ['Patient', [['identifier:not', 'urn:mrn|A1']], ['pB', 'pC', 'pD', 'pE']],
    ['Patient', [['identifier:of-type', `${MR}|MR|A1`]], ['pA']],
    ['Patient', [['identifier:of-type', `${MR}|MR|B1`]], []],
    ['Patient', [['identifier:text', 'medical']], ['pA']],
    ['Patient', [['active', 'true']], ['pA']],
    ['Patient', [['deceased', 'true']], ['pC']],
    ['Patient', [['_tag', 'http://example.org/tags|vip']], ['pB']],
    ['Patient', [['_tag', 'vip']], ['pB']],
    ['Patient', [['_tag:text', 'very']], ['pB']],
    ['Patient', [['phone', '555-0001']], ['pA']],
    ['Patient', [['phone', 'phone|555-0001']], ['pA']],
    ['Patient', [['language', 'urn:ietf:bcp:47|fr']], ['pA']],
    ['Patient', [['_id', 'pA,pC']], ['pA', 'pC']],
    ['Patient', [['_id:not', 'pA']], ['pB', 'pC', 'pD', 'pE']],
    ['Immunization', [['vaccine-code', `${CVX}|08`]], ['i1', 'i3']],
    ['Immunization', [['vaccine-code', '08,03']], ['i1', 'i3', 'i4', 'i5']],
    ['Immunization', [['vaccine-code', 'http://hl7.org/fhir/sid/ndc|58160-0811-52']], ['i2']],
    ['Immunization', [['vaccine-code', `${CVX}|58160-0811-52`]], []],
    ['Immunization', [['vaccine-code:text', 'mmr']], ['i4']],
    ['Immunization', [['vaccine-code:text', 'hep b']], ['i1']],
    ['Immunization', [['vaccine-code:text', 'pediatric']], ['i1']],
    ['Immunization', [['status:not', 'entered-in-error']], ['i1', 'i2', 'i4', 'i5']],
    ['Consent', [['category', 'http://loinc.org|59284-0']], ['c1']],
    ['Consent', [['scope', 'patient-privacy']], ['c1']],
  ],
  'date precision and prefixes (Patient.birthdate: pA 2020-05-01, pB 2020, pC 2019-12-31, pD 2020-05)': [
    ['Patient', [['birthdate', '2020']], ['pA', 'pB', 'pD']],
    ['Patient', [['birthdate', 'eq2020']], ['pA', 'pB', 'pD']],
    ['Patient', [['birthdate', '2020-05-01']], ['pA']],
    ['Patient', [['birthdate', '2020-05']], ['pA', 'pD']],
    ['Patient', [['birthdate', '2019']], ['pC']],
    ['Patient', [['birthdate', 'ne2020']], ['pC']],
    ['Patient', [['birthdate', 'gt2020-05']], ['pB']],
    ['Patient', [['birthdate', 'ge2020-05']], ['pA', 'pB', 'pD']],
    ['Patient', [['birthdate', 'lt2020-05-01']], ['pB', 'pC']],
    ['Patient', [['birthdate', 'le2020-05-01']], ['pA', 'pB', 'pC']],
    ['Patient', [['birthdate', 'gt2019-12-31']], ['pA', 'pB', 'pD']],
    ['Patient', [['birthdate', 'lt2020']], ['pC']],
    ['Patient', [['birthdate', 'sa2019-12-31']], ['pA', 'pB', 'pD']],
    ['Patient', [['birthdate', 'sa2020-01']], ['pA', 'pD']],
    ['Patient', [['birthdate', 'eb2020']], ['pC']],
    ['Patient', [['birthdate', 'eb2020-05-01']], ['pC']],
    // pB (the whole of 2020) overlaps both open ranges: R4 ge/le match on overlap
    ['Patient', [['birthdate', 'ge2020-01-01'], ['birthdate', 'le2020-05-31']], ['pA', 'pB', 'pD']],
    ['Patient', [['birthdate', 'ge2020-01-01'], ['birthdate', 'le2020-05-31'], ['birthdate', '2020-05']], ['pA', 'pD']],
    ['Patient', [['birthdate', '2019,2020-05-01']], ['pA', 'pC']],
    ['Patient', [['birthdate:missing', 'true']], ['pE']],
    ['Patient', [['birthdate', '2020-05-01T00:00:00Z']], []], // a second is narrower than a day
    ['Patient', [['birthdate', 'gt2020-04-30T23:59:59Z']], ['pA', 'pB', 'pD']],
  ],
  'dateTime with time zones (i1 2021-03-01T00:30+01:00 = 2021-02-28T23:30Z)': [
    ['Immunization', [['date', '2021-03-01']], ['i2']],
    ['Immunization', [['date', '2021-02-28']], ['i1']],
    ['Immunization', [['date', '2021-03-01T00:30:00+01:00']], ['i1']],
    ['Immunization', [['date', '2021-02-28T23:30:00Z']], ['i1']],
    ['Immunization', [['date', '2021-02-28T23:30']], ['i1']], // minute precision, UTC
    ['Immunization', [['date', '2021-02-28T18:30:00-05:00']], ['i1']],
    ['Immunization', [['date', 'ge2021-03-01T00:00:00+01:00']], ['i1', 'i2', 'i3', 'i5']],
    ['Immunization', [['date', 'lt2021-03-01T00:00:00Z']], ['i1', 'i4']],
    ['Immunization', [['date', '2022-01-10']], ['i5']], // 08:00-05:00 = 13:00Z
    ['Immunization', [['date', '2020']], ['i4']],
    ['Immunization', [['date', '2020-06']], []], // a year is wider than a month
    ['Immunization', [['date', 'gt2020-06']], ['i1', 'i2', 'i3', 'i4', 'i5']], // overlap counts
    ['Immunization', [['date', 'sa2020-06']], ['i1', 'i2', 'i3', 'i5']],
    ['Patient', [['death-date', '2020-12-31']], ['pC']],
    ['Patient', [['death-date', '2021-01-01']], []],
  ],
  'repeating dates (reaction-date: i1 2021-03-02 and 2021-03-05)': [
    ['Immunization', [['reaction-date', '2021-03-05']], ['i1']],
    ['Immunization', [['reaction-date', '2021-03-03']], []],
    ['Immunization', [['reaction-date', 'ge2021-03-04']], ['i1']],
    ['Immunization', [['reaction-date', 'eb2021-03-03']], ['i1']],
    ['Immunization', [['reaction-date', 'ne2021-03-02']], []],
    ['Immunization', [['reaction-date', 'ne2021-03']], []],
    ['Immunization', [['reaction-date', '2021-03']], ['i1']],
  ],
  reference: [
    ['Immunization', [['patient', 'Patient/pA']], ['i1', 'i2']],
    ['Immunization', [['patient', 'pA']], ['i1', 'i2']],
    ['Immunization', [['patient:Patient', 'pA']], ['i1', 'i2']],
    ['Immunization', [['patient', 'Patient/pA/_history/1']], ['i1', 'i2']],
    ['Immunization', [['patient', `${BASE}/Patient/pA`]], ['i1', 'i2']],
    ['Immunization', [['patient', 'pB']], ['i3']], // stored as an absolute URL under our base
    ['Immunization', [['patient', 'Patient/pA,Patient/pB']], ['i1', 'i2', 'i3']],
    ['Immunization', [['patient', 'http://other.example.org/fhir/Patient/zz']], ['i5']],
    ['Immunization', [['patient', 'Patient/nope']], []],
    ['Immunization', [['performer', 'Organization/o1']], ['i2']],
    ['Immunization', [['performer', 'o1']], ['i2']], // several targets: any type
    ['Immunization', [['performer:Organization', 'o1']], ['i2']],
    ['Immunization', [['performer:Practitioner', 'o1']], []],
    ['Immunization', [['performer:missing', 'true']], ['i1', 'i3', 'i4', 'i5']],
    ['Patient', [['organization', 'o1']], ['pA']],
    ['Patient', [['organization:missing', 'false']], ['pA']],
    ['Organization', [['partof', 'o1']], ['o2']],
    ['Consent', [['patient', 'pA']], ['c1']],
    ['Consent', [['organization', 'Organization/o1']], ['c1']],
  ],
  'uri and meta': [
    ['Patient', [['_profile', 'http://example.org/StructureDefinition/iis-patient']], ['pA']],
    ['Patient', [['_profile:below', 'http://example.org/StructureDefinition/']], ['pA']],
    ['Patient', [['_profile', 'http://example.org/StructureDefinition']], []],
    ['Patient', [['_profile:missing', 'true']], ['pB', 'pC', 'pD', 'pE']],
  ],
  chaining: [
    ['Immunization', [['patient.identifier', 'urn:mrn|A1']], ['i1', 'i2']],
    ['Immunization', [['patient.name', 'doe']], ['i3']],
    ['Immunization', [['patient.name', 'josé']], ['i1', 'i2', 'i3']],
    ['Immunization', [['patient.birthdate', '2020']], ['i1', 'i2', 'i3']],
    ['Immunization', [['patient.birthdate', 'lt2020']], ['i4']],
    ['Immunization', [['patient:Patient.family', 'smith']], ['i1', 'i2']],
    ['Immunization', [['patient.gender:not', 'male']], ['i3', 'i4']],
    ['Immunization', [['patient.organization.name', 'clinique']], ['i1', 'i2']],
    ['Immunization', [['patient.identifier', 'urn:mrn|A1'], ['vaccine-code', '20']], ['i2']],
    ['Immunization', [['performer:Organization.name', 'clinique']], ['i2']],
    ['Patient', [['organization.identifier', 'urn:org|ORG1']], ['pA']],
    ['Consent', [['patient.name', 'smith']], ['c1']],
  ],
  'reverse chaining (_has)': [
    ['Patient', [['_has:Immunization:patient:vaccine-code', '08']], ['pA', 'pB']],
    ['Patient', [['_has:Immunization:patient:vaccine-code', `${CVX}|03`]], ['pC']],
    ['Patient', [['_has:Immunization:patient:date', 'lt2021']], ['pC']],
    ['Patient', [['_has:Immunization:patient:status', 'entered-in-error']], ['pB']],
    ['Patient', [['_has:Consent:patient:status', 'active']], ['pA']],
    ['Patient', [['_has:Immunization:patient:vaccine-code', '08'], ['gender', 'female']], ['pB']],
    ['Organization', [['_has:Patient:organization:_has:Immunization:patient:vaccine-code', '20']], ['o1']],
    ['Organization', [['_has:Patient:organization:_has:Immunization:patient:vaccine-code', '03']], []],
    // i5 points at Patient/zz on another server: not a local patient
    ['Patient', [['_has:Immunization:patient:date', '2022']], []],
  ],
};

describe.each(STORE_FACTORIES)('search matrix on the $name', (factory) => {
  let store: Store;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ store, dispose } = await factory.open());
    await loadFixtures(store);
  });
  afterAll(async () => dispose());

  for (const [group, list] of Object.entries(cases)) {
    describe(group, () => {
      it.each(list.map(([type, params, expected]) => ({ type, params, expected, label: params.map((p) => p.join('=')).join('&') })))(
        '$type?$label',
        async ({ type, params, expected }) => {
          const bundle = await search(store, type, params);
          expect(matchIds(bundle)).toEqual([...expected].sort());
          expect(bundle.total).toBe(expected.length);
        }
      );
    });
  }

  it('ap: approximately, 10% of the distance to now', async () => {
    const now = new Date('2020-06-01T00:00:00Z'); // 31 days after 2020-05-01: tolerance ~3 days
    const bundle = await search(store, 'Patient', [['birthdate', 'ap2020-05-01']], { now });
    expect(matchIds(bundle)).toEqual(['pA', 'pB', 'pD']);
    const far = await search(store, 'Patient', [['birthdate', 'ap2020-05-01']], { now: new Date('2030-05-01T00:00:00Z') });
    expect(matchIds(far)).toEqual(['pA', 'pB', 'pC', 'pD']); // a year of tolerance reaches 2019-12-31
  });

  it('_lastUpdated compares the stored instant', async () => {
    const all = await search(store, 'Patient', [['_sort', '_lastUpdated']]);
    const stamps = (all.entry ?? []).map((e) => e.resource?.meta?.lastUpdated as string);
    expect(stamps).toHaveLength(5);
    const third = stamps[2];
    expect(matchIds(await search(store, 'Patient', [['_lastUpdated', `gt${third}`]]))).toHaveLength(2);
    expect(matchIds(await search(store, 'Patient', [['_lastUpdated', `ge${third}`]]))).toHaveLength(3);
    expect(matchIds(await search(store, 'Patient', [['_lastUpdated', third]]))).toHaveLength(1);
    expect(matchIds(await search(store, 'Patient', [['_lastUpdated', `le${third}`]]))).toHaveLength(3);
    expect(matchIds(await search(store, 'Patient', [['_lastUpdated', 'gt2000']]))).toHaveLength(5);
    expect(matchIds(await search(store, 'Patient', [['_lastUpdated', 'lt2000']]))).toHaveLength(0);
  });

  describe('_include / _revinclude', () => {
    it('_include=Immunization:patient adds the patients as include entries', async () => {
      const b = await search(store, 'Immunization', [['vaccine-code', '08'], ['_include', 'Immunization:patient']]);
      expect(matchIds(b)).toEqual(['i1', 'i3']);
      expect(includeIds(b)).toEqual(['Patient/pA', 'Patient/pB']); // i3 refers by absolute URL under our base
      expect(b.total).toBe(2); // includes do not count
      for (const e of b.entry ?? []) expect(e.fullUrl).toBe(`${BASE}/${e.resource?.resourceType}/${e.resource?.id}`);
    });

    it('_include with a target type, and a patient included once for several matches', async () => {
      const b = await search(store, 'Immunization', [['patient', 'pA'], ['_include', 'Immunization:patient:Patient']]);
      expect(matchIds(b)).toEqual(['i1', 'i2']);
      expect(includeIds(b)).toEqual(['Patient/pA']);
      const none = await search(store, 'Immunization', [['patient', 'pA'], ['_include', 'Immunization:performer:Practitioner']]);
      expect(includeIds(none)).toEqual([]);
    });

    it('_revinclude=Immunization:patient and Consent:patient', async () => {
      const b = await search(store, 'Patient', [
        ['_id', 'pA'],
        ['_revinclude', 'Immunization:patient'],
        ['_revinclude', 'Consent:patient'],
      ]);
      expect(matchIds(b)).toEqual(['pA']);
      expect(includeIds(b)).toEqual(['Consent/c1', 'Immunization/i1', 'Immunization/i2']);
    });

    it('_revinclude finds references stored as absolute URLs under our base', async () => {
      const b = await search(store, 'Patient', [['_id', 'pB'], ['_revinclude', 'Immunization:patient']]);
      expect(includeIds(b)).toEqual(['Immunization/i3']);
    });

    it('_include:iterate follows references of included resources', async () => {
      const b = await search(store, 'Immunization', [
        ['_id', 'i1'],
        ['_include', 'Immunization:patient'],
        ['_include:iterate', 'Patient:organization'],
      ]);
      expect(matchIds(b)).toEqual(['i1']);
      expect(includeIds(b)).toEqual(['Organization/o1', 'Patient/pA']);
    });

    it('_revinclude:iterate and _include:iterate chains', async () => {
      const b = await search(store, 'Organization', [
        ['_id', 'o1'],
        ['_revinclude', 'Patient:organization'],
        ['_revinclude:iterate', 'Immunization:patient'],
      ]);
      expect(matchIds(b)).toEqual(['o1']);
      expect(includeIds(b)).toEqual(['Immunization/i1', 'Immunization/i2', 'Patient/pA']);
      const up = await search(store, 'Organization', [['_id', 'o2'], ['_include:iterate', 'Organization:partof']]);
      expect(includeIds(up)).toEqual(['Organization/o1']);
    });

    it('_include without :iterate of a type that is not searched is a 400', async () => {
      const err = await expectFhirError(
        search(store, 'Immunization', [['_id', 'i1'], ['_include', 'Patient:organization']])
      );
      expect(err.status).toBe(400);
      expect(err.text).toContain('_include');
    });

    it('_include does not follow references to another server', async () => {
      await put(store, { resourceType: 'Patient', id: 'zz', name: [{ family: 'Local' }] } as Resource);
      try {
        const b = await search(store, 'Immunization', [['_id', 'i5'], ['_include', 'Immunization:patient']]);
        expect(includeIds(b)).toEqual([]);
        expect(matchIds(await search(store, 'Patient', [['_has:Immunization:patient:date', '2022']]))).toEqual([]);
      } finally {
        await del(store, 'Patient', 'zz');
      }
    });

    it('_include=* follows every reference parameter', async () => {
      const b = await search(store, 'Immunization', [['_id', 'i2'], ['_include', '*']]);
      expect(includeIds(b)).toEqual(['Organization/o1', 'Patient/pA']);
    });
  });

  describe('accessFilter is ANDed everywhere', () => {
    const accessFilter = (type: string) =>
      type === 'Patient'
        ? { _id: { $ne: 'pB' } }
        : type === 'Immunization'
          ? { 's.patient': { $ne: 'Patient/pB' } }
          : undefined;

    it('on matches and totals', async () => {
      const b = await search(store, 'Patient', [['name', 'jose']], { accessFilter });
      expect(matchIds(b)).toEqual(['pA']);
      expect(b.total).toBe(1);
      const count = await search(store, 'Patient', [['_summary', 'count']], { accessFilter });
      expect(count.total).toBe(4);
    });

    it('on chains and reverse chains', async () => {
      expect(matchIds(await search(store, 'Immunization', [['patient.name', 'doe']], { accessFilter }))).toEqual([]);
      expect(matchIds(await search(store, 'Patient', [['_has:Immunization:patient:vaccine-code', '08']], { accessFilter }))).toEqual([
        'pA',
      ]);
    });

    it('on includes and revincludes', async () => {
      const onlyPatients = (type: string) => (type === 'Patient' ? { _id: { $ne: 'pB' } } : undefined);
      const b = await search(store, 'Immunization', [['vaccine-code', '08'], ['_include', 'Immunization:patient']], {
        accessFilter: onlyPatients,
      });
      expect(matchIds(b)).toEqual(['i1', 'i3']);
      expect(includeIds(b)).toEqual(['Patient/pA']);
      const rev = await search(store, 'Patient', [['_id', 'pA'], ['_revinclude', 'Immunization:patient']], {
        accessFilter: (t) => (t === 'Immunization' ? { _id: { $ne: 'i2' } } : undefined),
      });
      expect(includeIds(rev)).toEqual(['Immunization/i1']);
    });
  });

  describe('system-level search', () => {
    it('_type with common parameters', async () => {
      const b = await search(store, undefined, [['_type', 'Patient,Organization'], ['_id', 'pA,o1,i1']]);
      expect(matchIds(b, false, true)).toEqual(['Organization/o1', 'Patient/pA']);
      expect(b.total).toBe(2);
      expect(b.link?.[0].url).toBe(`${BASE}?_type=Patient,Organization&_id=pA,o1,i1&_count=20`);
    });

    it('without _type searches every stored type', async () => {
      const b = await search(store, undefined, [['_id', 'pA,o1,i1,c1']]);
      expect(matchIds(b, false, true)).toEqual(['Consent/c1', 'Immunization/i1', 'Organization/o1', 'Patient/pA']);
    });

    it('a parameter not defined on every type is a 400', async () => {
      const err = await expectFhirError(search(store, undefined, [['_type', 'Patient,Immunization'], ['birthdate', '2020']]));
      expect(err.status).toBe(400);
      expect(err.text).toContain('birthdate');
    });
  });
});
