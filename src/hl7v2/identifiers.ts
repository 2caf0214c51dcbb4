// Identifier systems for what HL7 v2 names by assigning authority (CX-4, EI-2/3, HD): an OID
// becomes urn:oid:, a namespace a URI under this server, and the namespace is kept in
// Identifier.assigner.display so the message can be rebuilt as it came.
import { createHash } from 'node:crypto';
import type { Identifier } from '@medplum/fhirtypes';

export const AUTHORITY_BASE = 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/';
export const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
/** Doses sent without ORC-3: identified by what the message says about them (see doseKey). */
export const DOSE_KEY_SYSTEM = 'https://iis-fhir-server.org/fhir/sid/hl7v2-dose-key';
/** Data-sharing Consents recorded from PD1-12: one per patient, choice and effective date. */
export const PD1_CONSENT_SYSTEM = 'https://iis-fhir-server.org/fhir/sid/hl7v2-pd1-protection';

/**
 * The registry's own id for a record (the FHIR Patient id) in PID-3 of its answers (RSP Z31/Z32/Z42):
 * a CX of identifier type SR ("State registry ID", HL7 table 0203) whose assigning authority is
 * this namespace — the CDC guide makes PID-3 required and has the IIS return its own id there. A
 * sender that sends it back (PID-3 of a VXU, QPD-3 of a QBP) names that record. Both parts must
 * agree: an `IIS` authority of another type (MR…) or an SR of another authority is an identifier
 * like any other.
 */
export const REGISTRY_AUTHORITY = 'IIS';
export const REGISTRY_ID_TYPE = 'SR';
/** The system such an id is read into (as any namespace is), kept apart from the record's identifiers. */
export const REGISTRY_ID_SYSTEM = `${AUTHORITY_BASE}${REGISTRY_AUTHORITY}`;
/** A FHIR id (R4 `id`): what a registry id must look like to name a record. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** CX-1, CX-4 (its namespace and universal id) and CX-5 name a record of this registry. */
export function isRegistryCx(value: string, namespace: string, universalId: string, type: string): boolean {
  return namespace === REGISTRY_AUTHORITY && !universalId && type.toUpperCase() === REGISTRY_ID_TYPE && FHIR_ID.test(value);
}

/** An identifier read from such a CX (system REGISTRY_ID_SYSTEM, type SR). */
export function isRegistryIdentifier(identifier: Identifier): boolean {
  return identifier.system === REGISTRY_ID_SYSTEM && identifier.type?.coding?.[0]?.code === REGISTRY_ID_TYPE && FHIR_ID.test(identifier.value ?? '');
}

/** HD components: namespace id, universal id, universal id type. */
export function authoritySystem(namespace: string, universalId = '', universalIdType = ''): string | undefined {
  if (universalId && (universalIdType.toUpperCase() === 'ISO' || /^\d+(\.\d+)+$/.test(universalId))) return `urn:oid:${universalId}`;
  if (namespace) return `${AUTHORITY_BASE}${encodeURIComponent(namespace)}`;
  return undefined;
}

/** The namespace (or OID) an identifier system stands for, for CX-4 / EI-2. */
export function authorityOf(identifier: Identifier): { namespace: string; universalId: string; universalIdType: string } {
  const system = identifier.system ?? '';
  const display = identifier.assigner?.display ?? '';
  if (system.startsWith('urn:oid:')) return { namespace: display, universalId: system.slice(8), universalIdType: 'ISO' };
  if (system.startsWith(AUTHORITY_BASE)) {
    return { namespace: display || decodeURIComponent(system.slice(AUTHORITY_BASE.length)), universalId: '', universalIdType: '' };
  }
  return { namespace: display, universalId: '', universalIdType: '' };
}

/** A stable key for a dose that came without a filler order number. */
export function doseKey(parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40);
}

/** The characters FHIR search escapes in a token (`\\`, `|`, `,`, `$`). */
const SEARCH_SPECIALS = /[\\|,$]/;

/** `system|value` as a search token, with the FHIR search escapes. */
export function token(identifier: Identifier): string {
  // Most systems and values hold none of the four: no replace to run (four per part per message).
  const esc = (s: string) =>
    SEARCH_SPECIALS.test(s) ? s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/,/g, '\\,').replace(/\$/g, '\\$') : s;
  return `${esc(identifier.system ?? '')}|${esc(identifier.value ?? '')}`;
}
