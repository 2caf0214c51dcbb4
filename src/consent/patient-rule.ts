// A data-sharing Consent must name a Patient stored on this server. Data sharing keys every
// decision on `Patient/<id>` (data-sharing.ts): a Consent naming an unknown patient, another type
// (Group/1, Organization/1), a contained patient (#p) or none at all was stored, answered 201,
// and restricted nobody — the family's objection was silently lost. No IIS rule code fits (the
// catalogue's patient-unknown is the Immunization's), so the issue carries none.
import type { Consent, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { FhirError, makeIssue, RULE_CODE_SYSTEM } from '../fhir/outcome.js';
import type { RuleContext } from '../validation/business-rules.js';
import { CONSENT_SCOPE_CODE, CONSENT_SCOPE_SYSTEM, DATA_SHARING_CATEGORY, LOINC, localReference } from './data-sharing.js';

const EXPRESSION = 'Consent.patient';

export async function checkConsentPatient(resource: Resource, ctx: RuleContext): Promise<OperationOutcomeIssue[]> {
  const consent = resource as Consent;
  if (!recordsDataSharing(consent)) return [];
  // Withdrawing a Consent entered in error must stay possible, whatever it named.
  if (consent.status === 'entered-in-error') return [];
  const ref = consent.patient?.reference;
  if (!ref) return [refusal('A data-sharing Consent needs patient.reference naming the Patient (Patient/<id>): without it the choice applies to nobody.')];
  if (ref.startsWith('#')) {
    return [refusal(`The patient ${ref} is a contained resource: data sharing applies to patients stored on this server. Send the Patient first and reference it as Patient/<id>.`)];
  }
  if (ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:')) {
    // Inside a transaction the reference is rewritten to the new Patient before the rules run; one left here names nothing.
    return [refusal(`The patient ${ref} names no Patient in this request: reference a stored Patient as Patient/<id>.`)];
  }
  const local = localReference('Patient', ref);
  if (!local) return [refusal(`The patient ${ref} is not a Patient reference: a data-sharing Consent names the Patient it is about as Patient/<id>.`)];
  if (!(await patientExists(local, ctx))) {
    return [refusal(`The patient ${ref} is not on this server: create the Patient first (or in the same transaction) and reference its id.`)];
  }
  return [];
}

/**
 * Whether the Patient is stored. An organization the patient does not share with (No, Unknown) may
 * not read it but must be able to record the family's choice (CONTRACT.md: POSTing that Consent is
 * always allowed): its 403 for data sharing says the patient exists, which the read already tells.
 */
async function patientExists(reference: string, ctx: RuleContext): Promise<boolean> {
  try {
    return (await ctx.resolve(reference))?.resourceType === 'Patient';
  } catch (err) {
    if (err instanceof FhirError && err.status === 403 && SHARING_CODES.has(ruleCodeOf(err) ?? '')) return true;
    throw err;
  }
}

const SHARING_CODES = new Set(['data-sharing-restricted', 'data-sharing-unknown']);

function ruleCodeOf(err: FhirError): string | undefined {
  return err.outcome.issue?.[0]?.details?.coding?.find((c) => c.system === RULE_CODE_SYSTEM)?.code;
}

function recordsDataSharing(consent: Consent): boolean {
  const scoped = consent.scope?.coding?.some((c) => c.system === CONSENT_SCOPE_SYSTEM && c.code === CONSENT_SCOPE_CODE);
  const categorised = consent.category?.some((cc) => cc.coding?.some((c) => c.system === LOINC && c.code === DATA_SHARING_CATEGORY));
  return !!scoped && !!categorised;
}

function refusal(text: string): OperationOutcomeIssue {
  return makeIssue('error', 'not-found', text, { expression: EXPRESSION });
}
