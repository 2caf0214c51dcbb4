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
