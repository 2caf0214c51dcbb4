// The resource types this server stores. Everything else answers 404 (unknown type).
// CodeSystem, ValueSet and ConceptMap hold the vaccine code sets (src/terminology); Measure the
// coverage measures (src/population; the shipped ones are in profiles/measures). Condition holds a
// patient's conditions and observations the CDSi forecast reads (src/forecast, $immds-forecast).
export const SUPPORTED_TYPES = [
  'Patient',
  'Immunization',
  'Consent',
  'Condition',
  'Organization',
  'Group',
  'CodeSystem',
  'ValueSet',
  'ConceptMap',
  'Measure',
] as const;
export type SupportedType = (typeof SUPPORTED_TYPES)[number];

/** The types of the Patient compartment this server stores: one patient's record. */
export const PATIENT_COMPARTMENT_TYPES = ['Patient', 'Immunization', 'Consent', 'Condition'] as const;

export function isSupportedType(type: string): type is SupportedType {
  return (SUPPORTED_TYPES as readonly string[]).includes(type);
}

/** FHIR id syntax: 1-64 of [A-Za-z0-9-.]. */
export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Read-only over REST and only for public-health callers (src/audit/access.ts): the audit trail.
 * Never created, updated or deleted by clients, never in system history, searches of other types
 * or exports.
 */
export const AUDIT_TYPE = 'AuditEvent';
