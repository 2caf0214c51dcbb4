// A patient's data-sharing status from its Consent resources (CONTRACT.md "Data sharing"):
// scope patient-privacy, category LOINC 59284-0; the newest (by dateTime, then meta.lastUpdated)
// decides: active + permit → yes, active + deny → no, proposed → unknown; none → yes.
// FHIR R4 provision semantics refine this: a provision counts only during its period (a Consent
// whose top-level provision's period has ended or not yet begun takes no part), and nested
// provisions refine who — permit actors inside a deny still see the patient, deny actors inside a
// permit do not.
import type { Consent, ConsentProvision, Period } from '@medplum/fhirtypes';

export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const CONSENT_SCOPE_CODE = 'patient-privacy';
export const LOINC = 'http://loinc.org';
export const DATA_SHARING_CATEGORY = '59284-0';

export type SharingStatus = 'yes' | 'no' | 'unknown';

export interface DataSharing {
  status: SharingStatus;
  /** Organizations (`Organization/<id>`) that still see the patient when the status is no. */
  exemptOrganizations: string[];
  /** Organizations that do not see the patient although the status is yes (nested deny actors). */
  deniedOrganizations?: string[];
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

/** The Consent's effect, or undefined when it does not take part (draft, inactive, rejected, outside its period…). */
function effect(consent: Consent, now: number): SharingStatus | undefined {
  if (consent.status === 'proposed') return 'unknown';
  if (consent.status !== 'active') return undefined;
  if (!inForce(consent.provision?.period, now)) return undefined;
  if (consent.provision?.type === 'deny') return 'no';
  if (consent.provision?.type === 'permit') return 'yes';
  return undefined;
}

/** Newest first: dateTime, then meta.lastUpdated. */
function newestFirst(a: Consent, b: Consent): number {
  // Compared, not subtracted: two Consents without a dateTime are both -Infinity, whose difference
  // is NaN, which sort takes as "equal" — the order they were read in decided, never lastUpdated.
  return compareTimes(decisionTime(b), decisionTime(a)) || compareTimes(time(b.meta?.lastUpdated), time(a.meta?.lastUpdated));
}

function compareTimes(x: number, y: number): number {
  return x === y ? 0 : x > y ? 1 : -1;
}

/**
 * When the Consent's choice was made: its dateTime, but never later than the moment the server
 * stored it. A choice cannot have been made after it was recorded, and a dateTime in the future
 * (2099, a typo or a wrong clock) taken as written would outrank every later Consent for the patient
 * until that date: the family could not change its choice. Honest Consents (dated when or before they
 * were stored) keep the contract's order exactly.
 */
function decisionTime(consent: Consent): number {
  const stated = time(consent.dateTime);
  const stored = time(consent.meta?.lastUpdated);
  return stored !== Number.NEGATIVE_INFINITY && stated > stored ? stored : stated;
}

function time(value: string | undefined): number {
  if (!value) return Number.NEGATIVE_INFINITY;
  const t = Date.parse(value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value);
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
}

export function dataSharingOf(consents: Consent[], now: Date = new Date()): DataSharing {
  const at = now.getTime();
  const deciding = consents
    .filter(isDataSharingConsent)
    .filter((c) => effect(c, at) !== undefined)
    .sort(newestFirst)[0];
  if (!deciding) return { status: 'yes', exemptOrganizations: [] };
  const status = effect(deciding, at) as SharingStatus;
  if (status === 'yes') {
    const denied = nestedActors(deciding, 'deny', at);
    return denied.length > 0 ? { status, exemptOrganizations: [], deniedOrganizations: denied, decidedBy: deciding.id } : { status, exemptOrganizations: [], decidedBy: deciding.id };
  }
  const exempt = status === 'no' ? exemptOrganizationsOf(deciding, at) : [];
  return { status, exemptOrganizations: exempt, decidedBy: deciding.id };
}

/** The Consent's own organizations, and the actors of permit provisions nested in the deny. */
function exemptOrganizationsOf(consent: Consent, now: number): string[] {
  const orgs = new Set<string>(nestedActors(consent, 'permit', now));
  for (const org of consent.organization ?? []) {
    const ref = localReference('Organization', org.reference);
    if (ref) orgs.add(ref);
  }
  return [...orgs];
}

/** Organizations that are actors of nested provisions of this type in force at `now`. */
function nestedActors(consent: Consent, type: 'permit' | 'deny', now: number): string[] {
  const orgs = new Set<string>();
  const visit = (provisions: ConsentProvision[] | undefined): void => {
    for (const p of provisions ?? []) {
      // A nested rule outside its period does not apply, nor do the rules nested in it.
      if (!inForce(p.period, now)) continue;
      if (p.type === type) {
        for (const actor of p.actor ?? []) {
          const org = localReference('Organization', actor.reference?.reference);
          if (org) orgs.add(org);
        }
      }
      visit(p.provision);
    }
  };
  visit(consent.provision?.provision);
  return [...orgs];
}

/** True when `now` lies in the period (FHIR: the timeframe in which the rule is valid); no period: always. */
function inForce(period: Period | undefined, now: number): boolean {
  if (!period) return true;
  if (period.start && time(period.start) > now) return false;
  if (period.end && endOf(period.end) <= now) return false;
  return true;
}

/** The first instant after a period end given to year, month, day or instant precision. */
function endOf(value: string): number {
  const start = time(value);
  if (start === Number.NEGATIVE_INFINITY) return Number.POSITIVE_INFINITY;
  const d = new Date(start);
  if (value.length === 4) return Date.UTC(d.getUTCFullYear() + 1, 0, 1);
  if (value.length === 7) return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  if (value.length === 10) return start + 24 * 60 * 60 * 1000;
  return start + 1;
}

/**
 * The next instant after `now` at which a provision period of these Consents begins or ends (the
 * status they give may change then), or +Infinity.
 */
export function nextPeriodBoundary(consents: Consent[], now: Date = new Date()): number {
  const at = now.getTime();
  let next = Number.POSITIVE_INFINITY;
  const consider = (instant: number): void => {
    if (instant > at && instant < next) next = instant;
  };
  const visit = (p: ConsentProvision | undefined): void => {
    if (!p) return;
    if (p.period?.start) consider(time(p.period.start));
    if (p.period?.end) consider(endOf(p.period.end));
    for (const nested of p.provision ?? []) visit(nested);
  };
  for (const consent of consents) if (isDataSharingConsent(consent)) visit(consent.provision);
  return next;
}
