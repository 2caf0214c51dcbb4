// A visible Patient's references to patients hidden from the caller: left out of what the caller
// sees, put back when it writes the Patient.
import type { Patient, Resource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { POSSIBLE_DUPLICATE_EXTENSION, REVIEW_TAG } from '../matching/ingest.js';
import type { ResourceRecord } from '../store/store.js';
import type { AccessPolicy } from './access.js';
import { withHiddenPatientReferencesKept, withoutHiddenPatientReferences } from './patient-references.js';

const policy = {
  kind: 'organization',
  restricts: true,
  hiddenPatients: ['Patient/h'],
  visible: (r: Resource) => !(r.resourceType === 'Patient' && r.id === 'h'),
} as unknown as AccessPolicy;

const duplicateOf = (reference: string) => ({ url: POSSIBLE_DUPLICATE_EXTENSION, valueReference: { reference, display: 'probable match, score 0.65' } });
const flagged: Patient = {
  resourceType: 'Patient',
  id: 'v',
  meta: { tag: [REVIEW_TAG] },
  extension: [duplicateOf('Patient/h'), duplicateOf('Patient/w'), { url: 'http://example.org/other', valueString: 'x' }],
  link: [{ type: 'seealso', other: { reference: 'http://host/fhir/Patient/h' } }, { type: 'seealso', other: { reference: 'Patient/w' } }],
};
const record = (resource: Patient, raw = false): ResourceRecord =>
  (raw ? { resourceType: 'Patient', id: resource.id, versionId: 1, lastUpdated: '2026-01-01T00:00:00Z', json: JSON.stringify(resource) } : { resourceType: 'Patient', id: resource.id, versionId: 1, lastUpdated: '2026-01-01T00:00:00Z', resource }) as unknown as ResourceRecord;

describe('references of a visible Patient to hidden patients', () => {
  it('are left out of what the caller sees (parsed or raw record), the rest kept', () => {
    for (const raw of [false, true]) {
      const shown = withoutHiddenPatientReferences(record(flagged, raw), policy);
      expect(shown.json).toBeUndefined();
      const text = JSON.stringify(shown.resource);
      expect(text).not.toContain('Patient/h');
      expect((shown.resource as Patient).extension).toHaveLength(2);
      expect((shown.resource as Patient).link?.map((l) => l.other?.reference)).toEqual(['Patient/w']);
    }
  });

  it('a record naming no hidden patient is returned as it is, not parsed', () => {
    const plain = record({ resourceType: 'Patient', id: 'p', extension: [duplicateOf('Patient/w')] }, true);
    expect(withoutHiddenPatientReferences(plain, policy)).toBe(plain);
    const noReferences = record({ resourceType: 'Patient', id: 'q', birthDate: '2020-01-01' }, true);
    expect(withoutHiddenPatientReferences(noReferences, policy)).toBe(noReferences);
    // Stored bytes (an export's raw scan) are read the same way.
    const asBytes = (p: Patient) => ({ ...record(p), resource: undefined, jsonBytes: new TextEncoder().encode(JSON.stringify(p)) }) as unknown as ResourceRecord;
    const shown = withoutHiddenPatientReferences(asBytes(flagged), policy);
    expect(shown.jsonBytes).toBeUndefined();
    expect(JSON.stringify(shown.resource)).not.toContain('Patient/h');
    const plainBytes = asBytes({ resourceType: 'Patient', id: 'q', birthDate: '2020-01-01' });
    expect(withoutHiddenPatientReferences(plainBytes, policy)).toBe(plainBytes);
  });

  it('are put back when the caller writes the Patient, with the review tag the stored version had', () => {
    const seen = withoutHiddenPatientReferences(record(flagged), policy).resource as Patient;
    // The caller settled the pair it could see (Patient/w) and took the review tag off.
    const written: Patient = { ...seen, meta: {}, extension: seen.extension?.filter((e) => e.url !== POSSIBLE_DUPLICATE_EXTENSION) };
    const kept = withHiddenPatientReferencesKept(written, flagged, policy) as Patient;
    expect(kept.extension?.filter((e) => e.url === POSSIBLE_DUPLICATE_EXTENSION).map((e) => e.valueReference?.reference)).toEqual(['Patient/h']);
    expect(kept.meta?.tag).toEqual([REVIEW_TAG]);
    expect(kept.link?.map((l) => l.other?.reference)).toEqual(['Patient/w', 'http://host/fhir/Patient/h']);
    // A record merged away keeps no review mark ($merge takes them off), only its links.
    const mergedAway: Patient = { ...written, active: false, link: [...(written.link ?? []), { type: 'replaced-by', other: { reference: 'Patient/w' } }] };
    const keptOnMerge = withHiddenPatientReferencesKept(mergedAway, flagged, policy) as Patient;
    expect(JSON.stringify(keptOnMerge.extension ?? [])).not.toContain('Patient/h');
    expect(keptOnMerge.meta?.tag).toBeUndefined();
    expect(keptOnMerge.link?.map((l) => l.other?.reference)).toEqual(['Patient/w', 'Patient/w', 'http://host/fhir/Patient/h']);
    // Nothing hidden in the stored version: nothing to change.
    expect(withHiddenPatientReferencesKept(written, { resourceType: 'Patient', id: 'v' }, policy)).toBeUndefined();
  });
});
