// Public API of the CDC CDSi forecasting engine (used by $immds-forecast, reminder/recall, the
// HL7 v2 Z44 query and the web app). Synchronous and pure; the supporting data in profiles/cdsi
// is parsed once per process, on first use.
import type { Condition, Immunization, Patient } from '@medplum/fhirtypes';
import { type ForecastOutput, forecastWith } from './fhir.js';
import { defaultSupportingData } from './supporting-data.js';

export interface ForecastFromFhirInput {
  /** YYYY-MM-DD */
  assessmentDate: string;
  patient: Patient;
  immunizations: Immunization[];
  conditions?: Condition[];
}

/** Evaluates the history and forecasts every CDSi vaccine group. Throws a 400 FhirError on bad input. */
export function forecastFromFhir(input: ForecastFromFhirInput): ForecastOutput {
  return forecastWith(defaultSupportingData(), input);
}

export type { ForecastOutput } from './fhir.js';
export { cvxOf, observationCodesOfConcept } from './fhir.js';
export {
  CDSI_OBSERVATION_SYSTEM,
  CVX_SYSTEM,
  DATE_CRITERIA,
  DOSE_STATUS_SYSTEM,
  FORECAST_STATUS_SYSTEM,
  LOINC_SYSTEM,
  MVX_SYSTEM,
} from './fhir.js';
export { defaultSupportingData, loadSupportingData } from './supporting-data.js';
