// Builders of Patient resources for the matching tests (not a test file itself).
import type { HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import { MOTHERS_MAIDEN_NAME_URL, SSN_SYSTEM } from './features.js';

export const HOSPITAL_MRN = 'urn:oid:2.16.840.1.113883.3.9999.1';
export const CLINIC_MRN = 'urn:oid:2.16.840.1.113883.3.9999.2';

const MR = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] };

export interface PatientSpec {
  id?: string;
  given?: string[];
  family?: string;
  /** Extra names (old placeholder, nickname …). */
  names?: HumanName[];
  birthDate?: string;
  gender?: Patient['gender'];
  hospitalMrn?: string;
  clinicMrn?: string;
  ssn?: string;
  identifiers?: Identifier[];
  phone?: string;
  line?: string;
  city?: string;
  zip?: string;
  mothersMaidenName?: string;
  order?: number;
  multiple?: boolean;
}

export function patient(spec: PatientSpec): Patient {
  const p: Patient = { resourceType: 'Patient' };
  if (spec.id) p.id = spec.id;
  const names: HumanName[] = [];
  if (spec.given || spec.family) {
    names.push({ use: 'official', ...(spec.family ? { family: spec.family } : {}), ...(spec.given ? { given: spec.given } : {}) });
  }
  names.push(...(spec.names ?? []));
  if (names.length) p.name = names;
  if (spec.birthDate) p.birthDate = spec.birthDate;
  if (spec.gender) p.gender = spec.gender;
  const ids: Identifier[] = [...(spec.identifiers ?? [])];
  if (spec.hospitalMrn) ids.push({ type: MR, system: HOSPITAL_MRN, value: spec.hospitalMrn });
  if (spec.clinicMrn) ids.push({ type: MR, system: CLINIC_MRN, value: spec.clinicMrn });
  if (spec.ssn) ids.push({ system: SSN_SYSTEM, value: spec.ssn });
  if (ids.length) p.identifier = ids;
  if (spec.phone) p.telecom = [{ system: 'phone', value: spec.phone }];
  if (spec.line || spec.city || spec.zip) {
    p.address = [{ ...(spec.line ? { line: [spec.line] } : {}), ...(spec.city ? { city: spec.city } : {}), state: 'MI', ...(spec.zip ? { postalCode: spec.zip } : {}) }];
  }
  if (spec.mothersMaidenName) p.extension = [{ url: MOTHERS_MAIDEN_NAME_URL, valueString: spec.mothersMaidenName }];
  if (spec.order !== undefined) p.multipleBirthInteger = spec.order;
  else if (spec.multiple !== undefined) p.multipleBirthBoolean = spec.multiple;
  return p;
}

/** One household: the mother's address, phone and maiden name, shared by her newborns. */
export const HOUSEHOLD = {
  phone: '(517) 555-0134',
  line: '12 Oak Street',
  city: 'Lansing',
  zip: '48909',
  mothersMaidenName: 'Garcia',
} as const;
