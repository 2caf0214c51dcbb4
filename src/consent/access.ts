// What one caller may see: the patient compartment of a patient/ token, and the data-sharing
// choices of patients for callers acting for an organization. The policy is applied in one place,
// inside the caller-scoped store view (scoped-store.ts): reads check the resource, searches,
// counts, scans and includes AND its filter, history drops what it hides, writes must stay inside a
// patient compartment. Public health gets an explicit unrestricted policy, never an absent one.
import type { Consent, Resource } from '@medplum/fhirtypes';
import type { Caller } from '../fhir/request.js';
import { forbidden, FhirError, makeIssue, outcome } from '../fhir/outcome.js';
import type { Filter } from '../store/store.js';
import { isDataSharingConsent, localReference, type DataSharing } from './data-sharing.js';
import type { SharingIndex } from './sharing-index.js';

/** Resource types whose instances belong to one patient, and where that patient is named. */
const PATIENT_OF: Record<string, (r: Resource) => string | undefined> = {
  Patient: (r) => (r.id ? `Patient/${r.id}` : undefined),
  Immunization: (r) => normaliseRef((r as { patient?: { reference?: string } }).patient?.reference),
  Consent: (r) => normaliseRef((r as { patient?: { reference?: string } }).patient?.reference),
  Condition: (r) => normaliseRef((r as { subject?: { reference?: string } }).subject?.reference),
};

export interface AccessPolicy {
  /** Which kind of policy this is (audit, logs, tests). */
  readonly kind: 'public-health' | 'organization' | 'patient-compartment' | 'anonymous';
  /** True when the policy hides anything at all (then totals that could count hidden records are left out). */
  readonly restricts: boolean;
  /**
   * `Patient/<id>` of the patients a caller acting for an organization may not see, in a patient
   * context too (Group members, src/consent/group-members.ts; a Patient's references to them,
   * src/consent/patient-references.ts).
   */
  readonly hiddenPatients?: readonly string[];
  /** Filter ANDed onto every query of that type (undefined: no restriction). */
  accessFilter(resourceType: string): Filter | undefined;
  /** Throws 403 (with a data-sharing rule code where that is the reason) when the resource is hidden. */
  assertVisible(resource: Resource): void;
  visible(resource: Resource): boolean;
  /** Throws 403 when the caller may not write this content (a patient/ token outside its compartment). */
  assertWritable(resource: Resource): void;
}

/** Public-health callers (no organization, not confined to a patient) see everything: said explicitly. */
export const PUBLIC_HEALTH: AccessPolicy = {
  kind: 'public-health',
  restricts: false,
  accessFilter: () => undefined,
  assertVisible: () => undefined,
  visible: () => true,
  assertWritable: () => undefined,
};

/** A request nobody authenticated (GET /metadata): sees no patient data at all. */
export const ANONYMOUS: AccessPolicy = {
  kind: 'anonymous',
  restricts: true,
  accessFilter: () => ({ _id: { $in: [] } }),
  assertVisible: (resource) => {
    throw forbidden(`${resource.resourceType}/${resource.id ?? ''} needs an access token`);
  },
  visible: () => false,
  assertWritable: (resource) => {
    throw forbidden(`Writing ${resource.resourceType} needs an access token`);
  },
};

export async function accessPolicyFor(
  caller: Caller,
  confinedToPatient: string | undefined,
  sharing: SharingIndex
): Promise<AccessPolicy> {
  const compartment = confinedToPatient ? `Patient/${confinedToPatient}` : undefined;
  const organization = caller.organization;
  if (!compartment && !organization) return PUBLIC_HEALTH;

  // The patient's choice binds whoever acts for an organization, in a patient context too: an app
  // a clinician of that facility launched for the child (a patient/ token carrying the facility's
  // `organization`) sees nothing of a child who is No / Unknown for that facility, even when the
  // choice was recorded after the launch. Only a token without an organization (public health's)
  // is not subject to it.
  const { hidden, hiddenRefs, hiddenIds } = organization ? hiddenFromOrganization(await sharing.restricted(), organization) : NOTHING_HIDDEN;
  const compartmentHidden = compartment !== undefined && hidden.has(compartment);

  const outsideCompartment = (resource: Resource): FhirError | undefined => {
    const patientOf = PATIENT_OF[resource.resourceType];
    if (compartment && (!patientOf || patientOf(resource) !== compartment)) {
      return forbidden(`${resource.resourceType}/${resource.id ?? ''} is outside the patient compartment of this token`);
    }
    return undefined;
  };

  const reasonFor = (resource: Resource): FhirError | undefined => {
    const outside = outsideCompartment(resource);
    if (outside) return outside;
    const patientOf = PATIENT_OF[resource.resourceType];
    const patient = patientOf?.(resource);
    const s = patient ? hidden.get(patient) : undefined;
    if (!s) return undefined;
    // Name what was asked for, never the patient it belongs to: "Patient/7 does not share…" in
    // answer to Immunization/3 would tell the caller whose dose that is.
    const asked = `${resource.resourceType}/${resource.id ?? ''}`;
    const whose = resource.resourceType === 'Patient' ? asked : `The patient of ${asked}`;
    return s.status === 'unknown'
      ? sharingError(
          'data-sharing-unknown',
          `The data-sharing status of ${resource.resourceType === 'Patient' ? asked : `the patient of ${asked}`} is unknown: record a Consent (Yes or No) for the patient before reading the record`
        )
      : sharingError('data-sharing-restricted', `${whose} does not share data with ${organization}`);
  };

  // A write names the patient itself (the id the caller sent), so the answer may name it; the
  // resource's id is the server's new one for a create, which would tell the caller nothing.
  const writeRefusal = (resource: Resource): FhirError | undefined => {
    const patient = PATIENT_OF[resource.resourceType]?.(resource);
    const s = patient ? hidden.get(patient) : undefined;
    if (!s) return undefined;
    return s.status === 'unknown'
      ? sharingError(
          'data-sharing-unknown',
          `The data-sharing status of ${patient} is unknown: record a Consent (Yes or No) for the patient before recording a ${resource.resourceType} about them`
        )
      : sharingError('data-sharing-restricted', `${patient} does not share data with ${organization}: no ${resource.resourceType} can be recorded about them`);
  };

  return {
    kind: compartment ? 'patient-compartment' : 'organization',
    restricts: compartment !== undefined || hiddenRefs.length > 0,
    hiddenPatients: hiddenRefs,
    accessFilter(resourceType) {
      const inCompartment = resourceType in PATIENT_OF;
      if (compartment) {
        // A compartment the organization may not see matches nothing (no count, no search hit).
        if (!inCompartment || compartmentHidden) return { _id: { $in: [] } };
        return resourceType === 'Patient' ? { _id: confinedToPatient } : { 's.patient': compartment };
      }
      if (hiddenRefs.length === 0 || !inCompartment) return undefined;
      return resourceType === 'Patient' ? { _id: { $nin: hiddenIds } } : { 's.patient': { $nin: hiddenRefs } };
    },
    assertVisible(resource) {
      const err = reasonFor(resource);
      if (err) throw err;
    },
    visible(resource) {
      return reasonFor(resource) === undefined;
    },
    assertWritable(resource) {
      // A patient/ token writes only inside its compartment. An organization the child does not
      // share with may record nothing about it (a Condition, a dose, any record naming it): the
      // same 403 and rule code as a read, so a write can neither add to a hidden record nor tell
      // more than the read does. Two writes stay open: the family's data-sharing choice (CONTRACT.md:
      // POSTing that Consent is always allowed to such a caller), and the Patient itself — an
      // update reads the stored record first (403 there), while the registry's own review mark on
      // a hidden duplicate (hidden-duplicates.ts) is a Patient write made on this caller's behalf.
      const err = outsideCompartment(resource) ?? (recordsAbout(resource) ? writeRefusal(resource) : undefined);
      if (err) throw err;
    },
  };
}

interface HiddenPatients {
  hidden: ReadonlyMap<string, DataSharing>;
  /** `Patient/<id>`; frozen: shared by every policy of the same snapshot and organization. */
  hiddenRefs: readonly string[];
  /** The ids alone, for `_id: {$nin}`; frozen likewise. */
  hiddenIds: readonly string[];
}

const NOTHING_HIDDEN: HiddenPatients = { hidden: new Map(), hiddenRefs: Object.freeze([]), hiddenIds: Object.freeze([]) };

/**
 * The patients hidden from an organization, per restricted map (a SharingIndex snapshot's, never
 * changed once built: a Consent or link change builds a new one) and organization. Every request
 * of an organization caller needs them (each FHIR call of a VXU); going through the whole map each
 * time cost ~150 µs per request with 1,500 restricted patients and ~5.6 ms with 15,000 (1.5 % of a
 * 1 M registry). At most MAX_ORGANIZATIONS_KEPT organizations per snapshot are kept, so many
 * clinics cannot hold a copy each of a large list.
 */
const hiddenBySnapshot = new WeakMap<ReadonlyMap<string, DataSharing>, Map<string, HiddenPatients>>();
const MAX_ORGANIZATIONS_KEPT = 32;

function hiddenFromOrganization(restricted: ReadonlyMap<string, DataSharing>, organization: string): HiddenPatients {
  let byOrganization = hiddenBySnapshot.get(restricted);
  if (!byOrganization) hiddenBySnapshot.set(restricted, (byOrganization = new Map()));
  const known = byOrganization.get(organization);
  if (known) return known;
  const hidden = new Map<string, DataSharing>();
  for (const [patient, s] of restricted) {
    if (hiddenFrom(s, organization)) hidden.set(patient, s);
  }
  const hiddenRefs = [...hidden.keys()];
  const computed: HiddenPatients = {
    hidden,
    hiddenRefs: Object.freeze(hiddenRefs),
    hiddenIds: Object.freeze(hiddenRefs.map((r) => r.slice('Patient/'.length))),
  };
  if (byOrganization.size >= MAX_ORGANIZATIONS_KEPT) byOrganization.clear();
  byOrganization.set(organization, computed);
  return computed;
}

/** Whether writing the resource records something about its patient that data sharing governs. */
function recordsAbout(resource: Resource): boolean {
  if (resource.resourceType === 'Patient') return false;
  return !(resource.resourceType === 'Consent' && isDataSharingConsent(resource as Consent));
}

/** Unknown hides from every organization; No from all but the exempt; Yes only from nested deny actors. */
function hiddenFrom(sharing: DataSharing, organization: string): boolean {
  if (sharing.status === 'unknown') return true;
  if (sharing.status === 'no') return !sharing.exemptOrganizations.includes(organization);
  return sharing.deniedOrganizations?.includes(organization) ?? false;
}

function sharingError(code: string, text: string): FhirError {
  return new FhirError(403, outcome([makeIssue('error', 'forbidden', text, { ruleCode: code })]));
}

function normaliseRef(reference: string | undefined): string | undefined {
  return localReference('Patient', reference);
}
