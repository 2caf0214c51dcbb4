// Every IIS data-quality rule the server applies: its code (carried in issue.details.coding with
// system RULE_CODE_SYSTEM), the severity CONTRACT.md gives it (a registry's severity policy may
// change it), and the FHIR issue type it reports. profiles/CodeSystem-iis-rule.json lists the same
// codes (a test keeps the two equal).
import type { IssueType } from '../fhir/outcome.js';

export type RuleSeverity = 'error' | 'warning' | 'information';

export interface RuleDefinition {
  code: string;
  resourceType: 'Patient' | 'Immunization';
  severity: RuleSeverity;
  issueType: IssueType;
  /** When the rule fires (also the CodeSystem definition). */
  when: string;
}

export const IIS_RULES = [
  // Immunization, CONTRACT.md
  { code: 'vaccination-date-in-future', resourceType: 'Immunization', severity: 'error', issueType: 'business-rule', when: 'occurrence after now' },
  { code: 'vaccination-before-birth', resourceType: 'Immunization', severity: 'error', issueType: 'business-rule', when: "occurrence before the patient's birthDate" },
  { code: 'vaccination-after-death', resourceType: 'Immunization', severity: 'error', issueType: 'business-rule', when: "occurrence after the patient's deceasedDateTime" },
  { code: 'patient-unknown', resourceType: 'Immunization', severity: 'error', issueType: 'not-found', when: 'Immunization.patient does not resolve' },
  { code: 'vaccine-code-unknown', resourceType: 'Immunization', severity: 'error', issueType: 'code-invalid', when: "no CVX or NDC code known to the server's code sets" },
  { code: 'ndc-cvx-mismatch', resourceType: 'Immunization', severity: 'error', issueType: 'code-invalid', when: 'NDC and CVX both given and the NDC maps to another CVX' },
  { code: 'vaccine-code-inactive-for-date', resourceType: 'Immunization', severity: 'warning', issueType: 'business-rule', when: 'the code was not in use on the occurrence date' },
  { code: 'lot-number-missing', resourceType: 'Immunization', severity: 'warning', issueType: 'required', when: 'an administered dose (primarySource true) without lotNumber' },
  { code: 'lot-expired', resourceType: 'Immunization', severity: 'warning', issueType: 'business-rule', when: 'expirationDate before the occurrence' },
  // Patient, CONTRACT.md
  { code: 'birthdate-in-future', resourceType: 'Patient', severity: 'error', issueType: 'business-rule', when: 'birthDate after now' },
  { code: 'birthdate-missing', resourceType: 'Patient', severity: 'error', issueType: 'required', when: 'Patient without birthDate' },
  { code: 'birthdate-implausible', resourceType: 'Patient', severity: 'error', issueType: 'business-rule', when: 'birthDate more than 125 years ago' },
  { code: 'name-missing', resourceType: 'Patient', severity: 'error', issueType: 'required', when: 'Patient without a family name, or without any given name' },
  { code: 'placeholder-name', resourceType: 'Patient', severity: 'information', issueType: 'informational', when: 'a temporary newborn name (Baby Boy, BabyGirl Smith, Newborn, Infant …)' },
  { code: 'test-patient-name', resourceType: 'Patient', severity: 'warning', issueType: 'business-rule', when: 'a name that looks like test data' },
  { code: 'multiple-birth-order-missing', resourceType: 'Patient', severity: 'warning', issueType: 'incomplete', when: 'multipleBirthBoolean true without a birth order' },
  // Further rules a real IIS applies (MQE), not in CONTRACT.md
  { code: 'deceased-before-birth', resourceType: 'Patient', severity: 'error', issueType: 'business-rule', when: "deceasedDateTime before the patient's birthDate" },
  { code: 'manufacturer-unknown', resourceType: 'Immunization', severity: 'warning', issueType: 'code-invalid', when: "manufacturer given as an MVX code that is not in the server's MVX code set" },
  { code: 'ndc-mvx-mismatch', resourceType: 'Immunization', severity: 'warning', issueType: 'business-rule', when: 'NDC and MVX both given and the NDC belongs to another manufacturer' },
  { code: 'recorded-before-vaccination', resourceType: 'Immunization', severity: 'warning', issueType: 'business-rule', when: 'recorded (entry date) before the occurrence' },
  { code: 'patient-merged', resourceType: 'Immunization', severity: 'error', issueType: 'business-rule', when: 'Immunization.patient is a record merged into another (active false, link replaced-by)' },
] as const satisfies readonly RuleDefinition[];

export type RuleCode = (typeof IIS_RULES)[number]['code'];

export const RULES_BY_CODE: ReadonlyMap<string, RuleDefinition> = new Map(IIS_RULES.map((r) => [r.code, r]));
