// medplumFindsNothing may only say "clean" when the @medplum/core validator returns no issue at
// all: checked against the validator itself on generated Immunizations and Patients, built from a
// valid base with random valid and invalid changes (so both answers are exercised).
import { evalFhirPathTyped, toTypedValue, validateResource as medplumValidate } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../fhir/definitions.js';
import { extensionPlainlyHolds, medplumFindsNothing } from './medplum-clean.js';

type Json = Record<string, unknown>;
type Change = (r: Json) => void;

beforeAll(() => {
  loadDefinitions();
});

const cc = (code: string, system = 'http://terminology.hl7.org/CodeSystem/v2-0162') => ({ coding: [{ system, code }], text: code });

/** Changes that keep an Immunization valid. */
const immunizationValid: Change[] = [
  (r) => (r.id = 'imm-1'),
  (r) => (r.meta = { versionId: '3', lastUpdated: '2024-03-14T10:00:00.000Z', source: 'urn:x' }),
  (r) => (r.identifier = [{ system: 'urn:oid:1.2.3', value: 'A-1' }]),
  (r) => (r.route = cc('IM')),
  (r) => (r.site = cc('LA', 'http://terminology.hl7.org/CodeSystem/v3-ActSite')),
  (r) => (r.doseQuantity = { value: 0.5, unit: 'mL', system: 'http://unitsofmeasure.org', code: 'mL' }),
  (r) => (r.performer = [{ actor: { reference: 'Practitioner/p1' }, function: cc('AP', 'http://terminology.hl7.org/CodeSystem/v2-0443') }]),
  (r) => (r.note = [{ text: 'left arm' }]),
  (r) => (r.protocolApplied = [{ doseNumberPositiveInt: 2, series: 'primary', targetDisease: [cc('14189004', 'http://snomed.info/sct')] }]),
  (r) => (r.manufacturer = { reference: 'Organization/o1', display: 'Maker' }),
  (r) => (r.location = { reference: 'Location/l1' }),
  (r) => (r.expirationDate = '2026-01'),
  (r) => (r.recorded = '2024-03-14T10:00:00Z'),
  (r) => (r.isSubpotent = false),
  (r) => (r.extension = [{ url: 'http://example.org/x', valueString: 'y' }]),
  (r) => (r.reportOrigin = cc('record', 'http://terminology.hl7.org/CodeSystem/immunization-origin')),
  (r) => (r.education = [{ documentType: 'VIS', publicationDate: '2020-01-01' }]),
  (r) => {
    delete r.occurrenceDateTime;
    r.occurrenceString = 'spring 2020';
  },
  (r) => (r.patient = { reference: 'Patient/xyz', display: 'A child' }),
  (r) => (r.encounter = { identifier: { value: 'e1' } }),
];

/** Changes that the validator (or only the FHIR rules) may object to. */
const immunizationDoubtful: Change[] = [
  (r) => (r.unknownThing = 1),
  (r) => (r.lotNumber = null),
  (r) => (r.lotNumber = ''),
  (r) => (r.lotNumber = '   '),
  (r) => (r.lotNumber = 12),
  (r) => (r.occurrenceDateTime = '2024-13-01'),
  (r) => (r.status = ['completed']),
  (r) => (r.identifier = { value: 'x' }),
  (r) => (r.patient = { reference: 'Practitioner/x' }),
  (r) => (r._lotNumber = { extension: [{ url: 'http://e/x', valueBoolean: true }] }),
  (r) => (r.contained = [{ resourceType: 'Patient', id: 'c1' }]),
  (r) => (r.occurrenceString = 'also'),
  (r) => delete r.status,
  (r) => delete r.vaccineCode,
  (r) => (r.protocolApplied = [{ series: 'no dose number' }]),
  (r) => (r.protocolApplied = [{ doseNumberPositiveInt: 0 }]),
  (r) => (r.protocolApplied = [{ doseNumberPositiveInt: 1.5 }]),
  (r) => (r.education = [{ presentationDate: '2020-01-01' }]),
  (r) => (r.extension = [{ valueString: 'no url' }]),
  (r) => (r.extension = [{ url: 'http://e/x', valueString: 'v', extension: [{ url: 'http://e/y', valueBoolean: true }] }]),
  (r) => (r.vaccineCode = {}),
  (r) => (r.note = []),
  (r) => (r.doseQuantity = { value: '0.5' }),
  (r) => (r.meta = { lastUpdated: 'yesterday' }),
  (r) => (r.id = 'bad id!'),
  (r) => (r.route = { coding: [{ system: 'x', code: 'has  two spaces' }] }),
  (r) => (r.route = { coding: [null] }),
  (r) => (r.vaccineCode = { coding: [{ resourceType: 'Coding', code: '08' }] }),
  (r) => (r.primarySource = 'yes'),
  (r) => (r.occurrenceDateTimeX = '2020'),
  (r) => (r.performer = [{ function: cc('AP') }]),
  (r) => (r.manufacturer = { reference: 'Patient/p' }),
];

const patientValid: Change[] = [
  (r) => (r.id = 'p-1'),
  (r) => (r.active = true),
  (r) => (r.telecom = [{ system: 'phone', value: '555-1234', use: 'home' }]),
  (r) => (r.address = [{ line: ['1 Main St'], city: 'Town', state: 'MA', postalCode: '02101' }]),
  (r) => (r.multipleBirthInteger = 2),
  (r) => (r.deceasedBoolean = false),
  (r) => (r.contact = [{ name: { family: 'Doe' }, relationship: [cc('N', 'http://terminology.hl7.org/CodeSystem/v2-0131')] }]),
  (r) => (r.generalPractitioner = [{ reference: 'Practitioner/g1' }]),
  (r) => (r.managingOrganization = { reference: 'Organization/o1' }),
  (r) => (r.communication = [{ language: cc('en', 'urn:ietf:bcp:47'), preferred: true }]),
  (r) => (r.extension = [{ url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' }]),
  (r) => (r.link = [{ other: { reference: 'Patient/p2' }, type: 'seealso' }]),
];

const patientDoubtful: Change[] = [
  (r) => (r.birthDate = '2015-02-30'),
  (r) => (r.birthDate = '15-02-03'),
  (r) => (r.gender = 5),
  (r) => (r.name = [{ given: [null, 'x'] }]),
  (r) => (r.name = [{ family: ['Smith'] }]),
  (r) => (r.contact = [{}]),
  (r) => (r.contact = [{ relationship: [cc('N')] }]),
  (r) => (r.multipleBirthInteger = 1.5),
  (r) => (r.multipleBirthBoolean = true),
  (r) => (r.managingOrganization = { reference: 'Patient/p3' }),
  (r) => (r.link = [{ type: 'seealso' }]),
  (r) => (r._birthDate = { extension: [{ url: 'http://e/t', valueDateTime: '2015-03-11T10:00:00Z' }] }),
  (r) => (r.telecom = [{ system: 'phone', value: '' }]),
  (r) => (r.extra = {}),
];

function build(base: () => Json, valid: Change[], doubtful: Change[]) {
  return fc
    .tuple(fc.subarray(valid.map((_, i) => i)), fc.subarray(doubtful.map((_, i) => i), { maxLength: 2 }), fc.boolean())
    .map(([v, d, withDoubtful]) => {
      const r = base();
      for (const i of v) valid[i](r);
      if (withDoubtful) for (const i of d) doubtful[i](r);
      return r as unknown as Resource;
    });
}

const immunization = () => ({
  resourceType: 'Immunization',
  status: 'completed',
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] },
  patient: { reference: 'Patient/abc' },
  occurrenceDateTime: '2024-03-14',
  primarySource: true,
  lotNumber: 'L1',
});

const patient = () => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: 'x1' }],
  name: [{ family: 'Smith', given: ['Ava'] }],
  gender: 'female',
  birthDate: '2015-03-11',
});

function medplumIssueCount(resource: Resource): number {
  try {
    return medplumValidate(resource).length;
  } catch (err) {
    return (err as { outcome?: { issue?: unknown[] } }).outcome?.issue?.length ?? 1;
  }
}

describe('medplumFindsNothing', () => {
  for (const [name, arb] of [
    ['Immunization', build(immunization, immunizationValid, immunizationDoubtful)],
    ['Patient', build(patient, patientValid, patientDoubtful)],
  ] as const) {
    it(`says "clean" for a generated ${name} only when the medplum validator finds nothing`, () => {
      let clean = 0;
      let doubted = 0;
      fc.assert(
        fc.property(arb, (resource) => {
          const fast = medplumFindsNothing(resource);
          if (fast) {
            clean++;
            expect(medplumIssueCount(resource)).toBe(0);
          } else doubted++;
        }),
        { numRuns: 600 }
      );
      // Both answers were exercised (the fast path is taken for valid bodies).
      expect(clean).toBeGreaterThan(50);
      expect(doubted).toBeGreaterThan(50);
    });
  }

  it('is taken for every valid change on its own (each would otherwise cost a full validation)', () => {
    for (const [base, changes] of [
      [immunization, immunizationValid],
      [patient, patientValid],
    ] as const) {
      for (const change of changes) {
        const r = base() as Json;
        change(r);
        expect(medplumIssueCount(r as unknown as Resource)).toBe(0);
        expect(medplumFindsNothing(r as unknown as Resource)).toBe(true);
      }
    }
  });
});

describe('extensionPlainlyHolds (ext-1 without FHIRPath)', () => {
  const EXT_1 = 'extension.exists() != value.exists()';
  const valueOf = fc.oneof(
    fc.constantFrom<unknown>('', ' ', 'x', 'F', 0, 1.5, Number.NaN, true, false, null, [], ['x'], {}, { coding: [] }, { code: 'x' }, { reference: 'Patient/1' }, { value: 1 })
  );
  const valueKey = fc.constantFrom('valueString', 'valueCode', 'valueBoolean', 'valueInteger', 'valueDecimal', 'valueReference', 'valueCodeableConcept', 'valueQuantity', 'value', 'valueFoo', 'valuestring', 'valueDateTime');
  const other = fc.constantFrom('_valueString', '_extension', 'url', 'id', 'valueX');
  const extensionList = fc.constantFrom<unknown>(undefined, [], [{ url: 'http://e/a', valueBoolean: true }], [{ url: 'http://e/a' }], [{ url: '' }], [{ id: 'a' }], [null], ['x'], {}, [{}]);
  const extension = fc
    .tuple(fc.dictionary(valueKey, valueOf, { maxKeys: 3 }), fc.dictionary(other, valueOf, { maxKeys: 2 }), extensionList, fc.boolean())
    .map(([values, others, ext, withUrl]) => {
      const e: Record<string, unknown> = { ...values, ...others };
      if (withUrl) e.url = 'http://example.org/x';
      if (ext !== undefined) e.extension = ext;
      return e;
    });

  it('says true only where FHIRPath gives exactly [true], and for plain extensions', () => {
    let plain = 0;
    fc.assert(
      fc.property(extension, (e) => {
        const typed = toTypedValue({ resourceType: 'Patient', extension: [e] });
        const item = { type: 'Extension', value: e };
        if (!extensionPlainlyHolds(item)) return;
        plain++;
        const result = evalFhirPathTyped(EXT_1, [item], { '%context': item, '%resource': typed, '%rootResource': typed });
        expect(result.length).toBe(1);
        expect(result[0].value).toBe(true);
      }),
      { numRuns: 3000 }
    );
    expect(plain).toBeGreaterThan(40);
    expect(extensionPlainlyHolds({ type: 'Extension', value: { url: 'http://e/x', valueString: 'BrownB' } })).toBe(true);
    expect(extensionPlainlyHolds({ type: 'Extension', value: { url: 'http://e/x', extension: [{ url: 'a', valueCode: 'L' }] } })).toBe(true);
    expect(extensionPlainlyHolds({ type: 'Extension', value: { url: 'http://e/x', valueString: 'v', extension: [{ url: 'a', valueCode: 'L' }] } })).toBe(false);
    expect(extensionPlainlyHolds({ type: 'Extension', value: { url: 'http://e/x' } })).toBe(false);
  });
});
