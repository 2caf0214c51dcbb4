// What one caller may see: the patient compartment of a patient/ token, and the data-sharing
// choices of patients for callers acting for an organization. Every read path asks this policy:
// reads check the resource, searches and includes AND its filter, history drops what it hides.
import type { Resource } from '@medplum/fhirtypes';
import type { Caller } from '../auth/caller.js';
import { forbidden, FhirError, makeIssue, outcome } from '../fhir/outcome.js';
import type { Filter } from '../store/store.js';
import type { DataSharing } from './data-sharing.js';
import type { SharingIndex } from './sharing-index.js';

/** Resource types whose instances belong to one patient, and where that patient is named. */
const PATIENT_OF: Record<string, (r: Resource) => string | undefined> = {
  Patient: (r) => (r.id ? `Patient/${r.id}` : undefined),
  Immunization: (r) => normaliseRef((r as { patient?: { reference?: string } }).patient?.reference),
  Consent: (r) => normaliseRef((r as { patient?: { reference?: string } }).patient?.reference),
};

export interface AccessPolicy {
  /** Filter ANDed onto every query of that type (undefined: no restriction). */
  accessFilter(resourceType: string): Filter | undefined;
  /** Throws 403 (with a data-sharing rule code where that is the reason) when the resource is hidden. */
  assertVisible(resource: Resource): void;
  visible(resource: Resource): boolean;
}

/** Public-health callers and unconfined callers without an organization see everything. */
export const UNRESTRICTED: AccessPolicy = {
  accessFilter: () => undefined,
  assertVisible: () => undefined,
  visible: () => true,
};

export async function accessPolicyFor(
  caller: Caller,
  confinedToPatient: string | undefined,
  sharing: SharingIndex
): Promise<AccessPolicy> {
  const compartment = confinedToPatient ? `Patient/${confinedToPatient}` : undefined;
  const organization = caller.organization;
  if (!compartment && !organization) return UNRESTRICTED;

  // A patient's own app is not subject to the patient's sharing choice; an organization is.
  const hidden = new Map<string, DataSharing>();
  if (organization && !compartment) {
    for (const [patient, s] of await sharing.restricted()) {
      if (s.status === 'unknown' || !s.exemptOrganizations.includes(organization)) hidden.set(patient, s);
    }
  }
  const hiddenRefs = [...hidden.keys()];
  const hiddenIds = hiddenRefs.map((r) => r.slice('Patient/'.length));

  const reasonFor = (resource: Resource): FhirError | undefined => {
    const patientOf = PATIENT_OF[resource.resourceType];
    if (compartment) {
      if (!patientOf || patientOf(resource) !== compartment) {
        return forbidden(`${resource.resourceType}/${resource.id ?? ''} is outside the patient compartment of this token`);
      }
      return undefined;
    }
    const patient = patientOf?.(resource);
    const s = patient ? hidden.get(patient) : undefined;
    if (!s) return undefined;
    return s.status === 'unknown'
      ? sharingError(
          'data-sharing-unknown',
          `The data-sharing status of ${patient} is unknown: record a Consent (Yes or No) before reading the record`
        )
      : sharingError('data-sharing-restricted', `${patient} does not share data with ${organization}`);
  };

  return {
    accessFilter(resourceType) {
      const inCompartment = resourceType in PATIENT_OF;
      if (compartment) {
        if (!inCompartment) return { _id: { $in: [] } };
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
  };
}

function sharingError(code: string, text: string): FhirError {
  return new FhirError(403, outcome([makeIssue('error', 'forbidden', text, { ruleCode: code })]));
}

function normaliseRef(reference: string | undefined): string | undefined {
  if (!reference) return undefined;
  const match = /(?:^|\/)(Patient\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return match ? match[1] : undefined;
}
