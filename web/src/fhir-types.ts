// FHIR R4 types (type-only: nothing of this reaches the bundle).
export type {
  Bundle,
  BundleEntry,
  CodeSystem,
  Consent,
  HumanName,
  Immunization,
  ImmunizationEvaluation,
  ImmunizationRecommendation,
  ImmunizationRecommendationRecommendation,
  MeasureReport,
  OperationOutcome,
  OperationOutcomeIssue,
  Parameters,
  Patient,
  Resource,
} from '@medplum/fhirtypes';
