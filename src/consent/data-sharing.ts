// A patient's data-sharing status from its Consent resources (CONTRACT.md "Data sharing"):
// scope patient-privacy, category LOINC 59284-0; the newest (by dateTime, then meta.lastUpdated)
// decides: active + permit → yes, active + deny → no, proposed → unknown; none → yes.
import type { Consent, ConsentProvision } from '@medplum/fhirtypes';

export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const CONSENT_SCOPE_CODE = 'patient-privacy';
export const LOINC = 'http://loinc.org';
export const DATA_SHARING_CATEGORY = '59284-0';

export type SharingStatus = 'yes' | 'no' | 'unknown';

export interface DataSharing {
  status: SharingStatus;
  /** Organizations (`Organization/<id>`) that still see the patient when the status is no. */
  exemptOrganizations: string[];
  /** The Consent that decided, if any. */
  decidedBy?: string;
}

const REFERENCE_TO = {
  Patient: /(?:^|\/)(Patient\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/,
  Organization: /(?:^|\/)(Organization\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/,
};

/**
 * `<type>/<id>` from a reference in any form the store accepts and search indexes alike: relative
 * (`Patient/1`), versioned (`Patient/1/_history/2`) or absolute (`http://host/fhir/Patient/1`).
 * Data sharing must key on this form: a Consent naming its patient by an absolute or versioned
 * URL is the same objection, and the search index already finds it under `Patient/1`.
 */
export function localReference(type: 'Patient' | 'Organization', reference: string | undefined): string | undefined {
  if (!reference) return undefined;
  const match = REFERENCE_TO[type].exec(reference);
  return match ? match[1] : undefined;
}

/** The `Patient/<id>` a Consent is about, whatever form its reference takes. */
export function consentPatient(consent: Consent): string | undefined {
  return localReference('Patient', consent.patient?.reference);
}

/** True for a Consent that records the data-sharing choice (others, e.g. treatment consents, do not count). */
export function isDataSharingConsent(consent: Consent): boolean {
  const scoped = consent.scope?.coding?.some((c) => c.system === CONSENT_SCOPE_SYSTEM && c.code === CONSENT_SCOPE_CODE);
  const categorised = consent.category?.some((cc) => cc.coding?.some((c) => c.system === LOINC && c.code === DATA_SHARING_CATEGORY));
  return !!scoped && !!categorised && consentPatient(consent) !== undefined;
}

/** The Consent's effect, or undefined when it does not take part (draft, inactive, rejected…). */
function effect(consent: Consent): SharingStatus | undefined {
  if (consent.status === 'proposed') return 'unknown';
  if (consent.status !== 'active') return undefined;
  if (consent.provision?.type === 'deny') return 'no';
  if (consent.provision?.type === 'permit') return 'yes';
  return undefined;
}

/** Newest first: dateTime, then meta.lastUpdated. */
function newestFirst(a: Consent, b: Consent): number {
  const byDate = time(b.dateTime) - time(a.dateTime);
  if (byDate !== 0) return byDate;
  return time(b.meta?.lastUpdated) - time(a.meta?.lastUpdated);
}

function time(value: string | undefined): number {
  if (!value) return Number.NEGATIVE_INFINITY;
  const t = Date.parse(value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value);
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
}

export function dataSharingOf(consents: Consent[]): DataSharing {
  const deciding = consents
    .filter(isDataSharingConsent)
    .filter((c) => effect(c) !== undefined)
    .sort(newestFirst)[0];
  if (!deciding) return { status: 'yes', exemptOrganizations: [] };
  const status = effect(deciding) as SharingStatus;
  const exempt = status === 'no' ? exemptOrganizationsOf(deciding) : [];
  return { status, exemptOrganizations: exempt, decidedBy: deciding.id };
}

/** The Consent's own organizations, and the actors of permit provisions nested in the deny. */
function exemptOrganizationsOf(consent: Consent): string[] {
  const orgs = new Set<string>();
  const add = (reference: string | undefined): void => {
    const org = localReference('Organization', reference);
    if (org) orgs.add(org);
  };
  for (const org of consent.organization ?? []) add(org.reference);
  const visit = (provisions: ConsentProvision[] | undefined): void => {
    for (const p of provisions ?? []) {
      if (p.type === 'permit') for (const actor of p.actor ?? []) add(actor.reference?.reference);
      visit(p.provision);
    }
  };
  visit(consent.provision?.provision);
  return [...orgs];
}
