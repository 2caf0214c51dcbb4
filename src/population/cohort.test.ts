// The patient of a dose read as JSON text: found without parsing, and a resource where the quick
// look could be fooled (contained resources, escapes, a display before the reference) is parsed.
import { expect, it } from 'vitest';
import { immunizationPatientId, immunizationPatientIdOf } from './cohort.js';

const rec = (resource: Record<string, unknown>) => ({ resourceType: 'Immunization', id: 'i', versionId: 1, lastUpdated: '', deleted: false, json: JSON.stringify(resource) });

it('reads the top-level patient reference from the JSON text', () => {
  expect(immunizationPatientId(rec({ resourceType: 'Immunization', id: 'i', status: 'completed', patient: { reference: 'Patient/p-1' } }))).toBe('p-1');
  expect(immunizationPatientId(rec({ resourceType: 'Immunization', patient: { display: 'Ada', reference: 'http://x/fhir/Patient/p-2/_history/3' } }))).toBe('p-2');
  expect(immunizationPatientId(rec({ resourceType: 'Immunization', patient: { identifier: { value: 'x' }, reference: 'Patient/p-3' } }))).toBe('p-3');
  expect(immunizationPatientId(rec({ resourceType: 'Immunization', patient: { display: 'quote " here', reference: 'Patient/p-4' } }))).toBe('p-4');
  expect(immunizationPatientId(rec({ resourceType: 'Immunization', status: 'completed' }))).toBeUndefined();
});

it('a contained resource naming another patient first does not fool it', () => {
  const json = rec({ resourceType: 'Immunization', contained: [{ resourceType: 'Immunization', id: 'c', patient: { reference: 'Patient/other' } }], patient: { reference: 'Patient/real' } });
  expect(immunizationPatientId(json)).toBe('real');
});

it('parsed records work too', () => {
  expect(immunizationPatientId({ resourceType: 'Immunization', id: 'i', versionId: 1, lastUpdated: '', deleted: false, resource: { resourceType: 'Immunization', patient: { reference: 'Patient/p-5' } } as never })).toBe('p-5');
});

it('from the stored bytes (a scan with rawBytes): the same answer as from the whole text, whatever the dose holds', () => {
  const cases: Array<Record<string, unknown>> = [
    { resourceType: 'Immunization', id: 'i', status: 'completed', patient: { reference: 'Patient/p-1' }, performer: [{ actor: { reference: 'Organization/o' } }] },
    { resourceType: 'Immunization', patient: { display: 'Zoë } Ådne', reference: 'Patient/p-6' } }, // a brace in a string before the reference
    { resourceType: 'Immunization', patient: { reference: 'Patient/p}7' } }, // not an id: none, both ways
    { resourceType: 'Immunization', note: [{ text: '"patient":{"x":1}' }], patient: { reference: 'Patient/p-8' } },
    { resourceType: 'Immunization', patient: { reference: 'Patient/p\\9' } },
    { resourceType: 'Immunization', contained: [{ resourceType: 'Immunization', id: 'c', patient: { reference: 'Patient/other' } }], patient: { reference: 'Patient/real' } },
    { resourceType: 'Immunization', status: 'completed' },
  ];
  const answers = cases.map((resource) => {
    const json = JSON.stringify(resource);
    const viaText = immunizationPatientId(rec(resource));
    const viaBytes = immunizationPatientIdOf({ resourceType: 'Immunization', id: 'i', versionId: 1, lastUpdated: '', deleted: false, jsonBytes: new Uint8Array(Buffer.from(json, 'utf8')) });
    expect(viaBytes, json).toBe(viaText);
    return viaBytes;
  });
  expect(answers).toEqual(['p-1', 'p-6', undefined, 'p-8', undefined, 'real', undefined]);
});
