// The engine's own vocabulary (CDSi terms), independent of FHIR: what goes in, what comes out.
import type { Day, Duration } from './dates.js';
import type { Series } from './supporting-data.js';

/** One vaccine dose administered, as the engine sees it (logic spec "gather history"). */
export interface AdministeredDose {
  /** Caller's id for the dose (Immunization.id); echoed in evaluations. */
  id: string;
  date: Day;
  cvx: string;
  mvx?: string;
  /** Logic spec "dose administered condition": why the dose cannot count at all, if it cannot. */
  condition?: 'subpotent' | 'expired';
}

export interface PatientRecord {
  birthDate: Day;
  /** "female", "male" or "unknown". */
  gender: string;
  assessmentDate: Day;
  /** CDSi observation codes (e.g. "042"), with the date observed when known. */
  observations: ReadonlyMap<string, Day | undefined>;
  doses: readonly AdministeredDose[];
  /** Birth date + duration already worked out for this forecast (see dates.ts dateAtAge). */
  ageDates?: Map<Duration, Day>;
}

export type EvaluationStatus = 'Valid' | 'Not Valid' | 'Extraneous';

/** CDSi evaluation reasons, as the logic specification words them. */
export const Reason = {
  inadvertent: 'Inadvertent Vaccine',
  subpotent: 'Sub-standard dose',
  expired: 'Expired vaccine',
  tooYoung: 'Age: Too Young',
  tooOld: 'Age: Too Old',
  tooSoon: 'Interval: Too Soon',
  liveVirusConflict: 'Live Virus Conflict',
  notPreferableOrAllowable: 'Not a preferable or allowable vaccine',
  seriesComplete: 'Series Already Complete',
} as const;

export interface DoseEvaluation {
  dose: AdministeredDose;
  antigen: string;
  /** The patient series the dose was evaluated in. */
  series: string;
  status: EvaluationStatus;
  /** Every reason the dose is not valid / extraneous, in the order CDSi checks them. */
  reasons: readonly string[];
  /** Target dose number the dose satisfied (valid doses only). */
  targetDose?: number;
}

export type SeriesStatus = 'Not Complete' | 'Complete' | 'Immune' | 'Contraindicated' | 'Aged Out' | 'Not Recommended';

export interface Forecast {
  status: SeriesStatus;
  /** Number of the next dose (when a dose is needed): the patient's valid doses plus one. */
  doseNumber?: number;
  /** The dose number counts the whole history (not only the current season's doses). */
  numberedByHistory?: boolean;
  earliest?: Day;
  recommended?: Day;
  pastDue?: Day;
  latest?: Day;
  /** Preferable CVX codes for the next dose. */
  vaccineTypes?: readonly string[];
}

/** A relevant patient series after evaluation and forecast. */
export interface PatientSeries {
  series: Series;
  evaluations: DoseEvaluation[];
  /** Per target dose: satisfied by this dose, skipped, or still open. */
  targetDoses: ('satisfied' | 'skipped' | 'open')[];
  /** The dose that satisfied each target dose (by index). */
  satisfiedBy: (AdministeredDose | undefined)[];
  /** Index of the next open target dose; series.doses.length when the series is complete. */
  nextTarget: number;
  validCount: number;
  forecast: Forecast;
}

export interface AntigenResult {
  antigen: string;
  best?: PatientSeries;
  /** The dose evaluations reported for the antigen (see engine.ts reportedEvaluations). */
  evaluations: DoseEvaluation[];
  forecast: Forecast;
  /** Every relevant patient series, evaluated and forecast (the best one among them). */
  candidates?: readonly PatientSeries[];
}

export interface VaccineGroupForecast {
  vaccineGroup: string;
  antigens: readonly AntigenResult[];
  forecast: Forecast;
  seriesName?: string;
  /** CVX codes the patient must not be given on the assessment date (vaccine-level contraindications of the group's antigens). */
  contraindicatedVaccines: readonly string[];
}

export interface EngineResult {
  /** One entry per (dose, antigen) of the best series of each antigen, in dose order. */
  evaluations: DoseEvaluation[];
  vaccineGroups: VaccineGroupForecast[];
}
