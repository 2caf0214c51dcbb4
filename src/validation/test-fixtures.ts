// Valid R4 resources used by the validation tests (each test clones what it changes).

export const validPatient = {
  resourceType: 'Patient',
  id: 'pat-1',
  meta: { versionId: '1', lastUpdated: '2024-01-01T00:00:00Z' },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jane Doe</div>' },
  identifier: [{ use: 'official', system: 'urn:oid:2.16.840.1.113883.4.1', value: '123-45-6789' }],
  active: true,
  name: [
    {
      use: 'official',
      family: 'Doe',
      given: ['Jane', 'Q'],
      _given: [null, { extension: [{ url: 'http://example.org/initial', valueBoolean: true }] }],
    },
  ],
  telecom: [{ system: 'phone', value: '555-0100', use: 'home' }],
  gender: 'female',
  birthDate: '2020-02-29',
  address: [{ use: 'home', type: 'physical', line: ['1 Main St'], city: 'Springfield', state: 'IL', postalCode: '62701' }],
  multipleBirthBoolean: false,
  contact: [{ relationship: [{ text: 'mother' }], name: { family: 'Doe', given: ['Mary'] }, gender: 'female' }],
};

export const validImmunization = {
  resourceType: 'Immunization',
  id: 'imm-1',
  status: 'completed',
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08', display: 'Hep B, adolescent or pediatric' }] },
  patient: { reference: 'Patient/pat-1' },
  occurrenceDateTime: '2024-01-15T10:30:00Z',
  recorded: '2024-01-15',
  primarySource: true,
  lotNumber: 'ABC123',
  expirationDate: '2025-01-01',
  site: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActSite', code: 'LA' }] },
  route: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration', code: 'IM' }] },
  doseQuantity: { value: 0.5, unit: 'mL', system: 'http://unitsofmeasure.org', code: 'mL' },
  performer: [
    {
      function: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0443', code: 'AP' }] },
      actor: { reference: 'Organization/org-1' },
    },
  ],
  note: [{ text: 'No adverse reaction observed.' }],
  protocolApplied: [{ doseNumberPositiveInt: 1, seriesDosesPositiveInt: 3 }],
};

export const validConsent = {
  resourceType: 'Consent',
  id: 'consent-1',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: 'Patient/pat-1' },
  dateTime: '2024-03-01T12:00:00Z',
  organization: [{ reference: 'Organization/org-1' }],
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
  provision: {
    type: 'deny',
    provision: [{ type: 'permit', actor: [{ role: { text: 'custodian' }, reference: { reference: 'Organization/org-2' } }] }],
  },
};

export const validOrganization = {
  resourceType: 'Organization',
  id: 'org-1',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.4.6', value: '1234567893' }],
  active: true,
  type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov' }] }],
  name: 'Springfield Pediatrics',
  telecom: [{ system: 'email', value: 'front-desk@example.org', use: 'work' }],
  address: [{ use: 'work', city: 'Springfield', state: 'IL' }],
};

export const validGroup = {
  resourceType: 'Group',
  id: 'grp-1',
  type: 'person',
  actual: true,
  name: 'School 42 cohort',
  quantity: 2,
  member: [{ entity: { reference: 'Patient/pat-1' } }, { entity: { reference: 'Patient/pat-2' }, inactive: false }],
};

/** A deep copy to mutate in a test (untyped on purpose: tests write invalid shapes into it). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function clone(value: object): any {
  return structuredClone(value);
}
