// FHIR R4 requires every Consent to name the policy it follows (invariant ppc-1: `policy` or
// `policyRule`). The contract's data-sharing Consent is defined by scope, category, patient, status
// and provision.type only, and clinics' systems send exactly that; rejecting such a record would
// lose the family's decision. For a data-sharing Consent that names no policy, the policy follows
// from its provision with certainty (HL7 v3 ActCode OPTOUT for deny, OPTIN otherwise, as the web
// app and the HL7 v2 PD1-12 mapping write it), so the server adds it and says so.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { makeIssue } from '../fhir/outcome.js';
import { CONSENT_SCOPE_CODE, CONSENT_SCOPE_SYSTEM, DATA_SHARING_CATEGORY, LOINC } from './data-sharing.js';

export const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

/** The Consent body with `policyRule` added when it is a data-sharing Consent naming no policy. */
export function completePolicyRule(body: Record<string, unknown>): { body: Record<string, unknown>; issues: OperationOutcomeIssue[] } | undefined {
  if (body.policy !== undefined || body.policyRule !== undefined) return undefined;
  if (!hasCoding(body.scope, CONSENT_SCOPE_SYSTEM, CONSENT_SCOPE_CODE)) return undefined;
  if (!Array.isArray(body.category) || !body.category.some((c) => hasCoding(c, LOINC, DATA_SHARING_CATEGORY))) return undefined;
  const provision = body.provision;
  const type = isObject(provision) ? provision.type : undefined;
  const code = type === 'deny' ? 'OPTOUT' : 'OPTIN';
  const display = code === 'OPTOUT' ? 'opt-out' : 'opt-in';
  return {
    body: { ...body, policyRule: { coding: [{ system: ACT_CODE_SYSTEM, code, display }] } },
    issues: [
      makeIssue(
        'information',
        'informational',
        `The Consent named no policy (FHIR requires policy or policyRule): policyRule ${code} (${display}) was added from provision.type ${typeof type === 'string' ? type : '(none)'}.`,
        { expression: 'Consent.policyRule' }
      ),
    ],
  };
}

function hasCoding(concept: unknown, system: string, code: string): boolean {
  if (!isObject(concept) || !Array.isArray(concept.coding)) return false;
  return concept.coding.some((c) => isObject(c) && c.system === system && c.code === code);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
