// Data-sharing status from the patient's privacy Consents (CONTRACT.md "Data sharing"): the newest
// decides; active+permit Yes, active+deny No, proposed Unknown, none Yes.
import type { Consent } from './fhir-types';

export type SharingStatus = 'Yes' | 'No' | 'Unknown';
export const PRIVACY_SCOPE = { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' };
export const PRIVACY_CATEGORY = { system: 'http://loinc.org', code: '59284-0' };

export function isPrivacyConsent(c: Consent): boolean {
  return (
    (c.scope?.coding ?? []).some((x) => x.code === PRIVACY_SCOPE.code) &&
    (c.category ?? []).some((cat) => (cat.coding ?? []).some((x) => x.code === PRIVACY_CATEGORY.code))
  );
}

export function consentStatus(c: Consent): SharingStatus | undefined {
  if (c.status === 'proposed') return 'Unknown';
  if (c.status !== 'active') return undefined;
  return c.provision?.type === 'deny' ? 'No' : 'Yes';
}

/** Newest first. */
export function sharingHistory(consents: Consent[]): Consent[] {
  const key = (c: Consent) => `${c.dateTime ?? ''}|${c.meta?.lastUpdated ?? ''}`;
  return consents.filter(isPrivacyConsent).sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
}

export function currentSharing(consents: Consent[]): SharingStatus {
  for (const c of sharingHistory(consents)) {
    const status = consentStatus(c);
    if (status) return status;
  }
  return 'Yes';
}

export function newSharingConsent(patientId: string, choice: 'Yes' | 'No', organization: string | undefined): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [PRIVACY_SCOPE] },
    category: [{ coding: [PRIVACY_CATEGORY] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: new Date().toISOString(),
    ...(organization ? { organization: [{ reference: organization }] } : {}),
    policyRule: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: choice === 'Yes' ? 'OPTIN' : 'OPTOUT' }],
    },
    provision: { type: choice === 'Yes' ? 'permit' : 'deny' },
  };
}
