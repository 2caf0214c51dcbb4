// "Not the same child": exactly what the tagged record's PUT body becomes.
import { describe, expect, it } from 'vitest';
import type { Patient } from '../fhir-types';
import { DUPLICATE_OF, duplicateOf, notTheSameChild, REVIEW_CODE, REVIEW_SYSTEM, underReview } from './duplicate-review';

const reviewTag = { system: REVIEW_SYSTEM, code: REVIEW_CODE, display: 'Possible duplicate: review and $merge' };
const otherTag = { system: 'https://example.org/clinic-flags', code: 'vfc' };
const label = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };
const maiden = { url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Adeyemi' };
const of = (reference: string) => ({ url: DUPLICATE_OF, valueReference: { reference } });

function tagged(extension: NonNullable<Patient['extension']>): Patient {
  return {
    resourceType: 'Patient',
    id: 'new-1',
    meta: { versionId: '3', lastUpdated: '2026-12-01T10:00:00Z', tag: [otherTag, reviewTag], security: [label] },
    extension,
    name: [{ family: 'Mensah', given: ['Ama'] }],
    birthDate: '2026-11-01',
  };
}

describe('not the same child', () => {
  it('removes the extension naming that record and, with none left, the review tag; nothing else', () => {
    const before = tagged([maiden, of('Patient/old-1')]);
    const snapshot = structuredClone(before);
    const after = notTheSameChild(before, 'old-1');
    expect(after).toEqual({
      resourceType: 'Patient',
      id: 'new-1',
      meta: { versionId: '3', lastUpdated: '2026-12-01T10:00:00Z', tag: [otherTag], security: [label] },
      extension: [maiden],
      name: [{ family: 'Mensah', given: ['Ama'] }],
      birthDate: '2026-11-01',
    });
    expect(underReview(after)).toBe(false);
    expect(before).toEqual(snapshot); // the page's copy is not changed in place
  });

  it('keeps the review tag while the record still resembles another one', () => {
    const after = notTheSameChild(tagged([of('Patient/old-1'), maiden, of('https://iis.example/fhir/Patient/old-2/_history/4')]), 'old-1');
    expect(after.extension).toEqual([maiden, of('https://iis.example/fhir/Patient/old-2/_history/4')]);
    expect(after.meta?.tag).toEqual([otherTag, reviewTag]);
    expect(duplicateOf(after)).toEqual(['old-2']);
    expect(underReview(after)).toBe(true);
  });

  it('drops empty lists rather than sending [] (FHIR forbids empty arrays)', () => {
    const only: Patient = { resourceType: 'Patient', id: 'new-1', meta: { tag: [reviewTag] }, extension: [of('Patient/old-1')] };
    const after = notTheSameChild(only, 'old-1');
    expect(after).toEqual({ resourceType: 'Patient', id: 'new-1', meta: {} });
  });

  it('matches the named record by id, not by a prefix of it', () => {
    const after = notTheSameChild(tagged([of('Patient/old-10'), of('Patient/old-1')]), 'old-1');
    expect(duplicateOf(after)).toEqual(['old-10']);
    expect(underReview(after)).toBe(true);
  });
});
