// A data-sharing Consent dated in the future is stored, but data sharing reads its dateTime as the
// moment it was stored (data-sharing.ts: a choice cannot be made after it is recorded, and a 2099
// date would otherwise outrank every later choice). The client is told, so the order it sees
// in the registry's decision is no surprise.
import type { Consent, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { makeIssue } from '../fhir/outcome.js';
import { isInFuture, parseFhirDate } from '../quality/dates.js';
import type { RuleContext } from '../validation/business-rules.js';
import { isDataSharingConsent } from './data-sharing.js';

export function checkConsentFutureDate(resource: Resource, ctx: RuleContext): OperationOutcomeIssue[] {
  const consent = resource as Consent;
  if (!isDataSharingConsent(consent) || consent.status === 'entered-in-error') return [];
  const date = parseFhirDate(consent.dateTime);
  if (!date || !isInFuture(date, ctx.now)) return [];
  return [
    makeIssue(
      'warning',
      'business-rule',
      `The Consent's dateTime ${consent.dateTime} is in the future: data sharing counts it as the moment the Consent is stored, so a later Consent decides over it. Send the date the choice was made.`,
      { expression: 'Consent.dateTime' }
    ),
  ];
}
