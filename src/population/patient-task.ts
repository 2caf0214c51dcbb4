// What a population run computes for one patient, as a pure function of the patient and its doses,
// so the same code runs in the request thread and in a worker thread (worker-pool.ts):
//  - `due` (reminder/recall): the vaccine groups due or overdue on asOf, with the recommendation;
//  - `measure` (coverage): whether the patient is in the measure's numerator.
// The doses arrive as the store's JSON text (a JSON array), parsed here: in a worker that keeps
// the parsing off the thread that reads the store.
import type { Condition, Immunization, ImmunizationRecommendation, Patient } from '@medplum/fhirtypes';
import type { ForecastOutput } from '../forecast/index.js';
import { addMonths } from './dates.js';
import { dueItems, type DueItem, type DueStatus } from './due.js';
import { forecastOrSkip } from './forecast.js';
import type { AgeUnit, NumeratorRule } from './measure-definition.js';

export type PopulationTask =
  | { kind: 'due'; asOf: string; groups?: string[]; statuses?: DueStatus[] }
  | { kind: 'measure'; periodEnd: string; numerator: NumeratorRule; vaccineGroups: string[] };

export interface PatientInput {
  patient: Patient;
  /** The patient's Immunizations, parsed or as a JSON array text. */
  immunizations: Immunization[] | string;
  /** The patient's Conditions (parsed or JSON array text), when the run reads them. */
  conditions?: Condition[] | string;
}

/** Due items and the recommendation holding them; undefined when nothing is due, CDSi cannot forecast or the patient is out of the run (outOfPopulation). */
export type DueResult = { items: DueItem[]; recommendation: ImmunizationRecommendation } | undefined;
/** In the numerator or not; undefined (not in the population) when CDSi cannot forecast the patient (no full birth date) or it is out of the run (outOfPopulation). */
export type MeasureResult = boolean | undefined;

export type TaskResult<T extends PopulationTask> = T extends { kind: 'due' } ? DueResult : MeasureResult;

function months(n: number, unit: AgeUnit): number {
  return unit === 'years' ? n * 12 : n;
}

/** Does the patient's forecast put it in the numerator? Only doses CDSi calls valid count. */
export function inNumerator(rule: NumeratorRule, patient: Patient, immunizations: Immunization[], forecast: ForecastOutput): boolean {
  if (rule.kind === 'status') {
    const entry = forecast.recommendation.recommendation?.find((r) => r.vaccineCode?.[0]?.text === rule.vaccineGroup);
    const code = entry?.forecastStatus?.coding?.[0]?.code;
    return code === 'complete' || code === 'immune';
  }
  const birth = patient.birthDate as string;
  const by = rule.by ? addMonths(birth, months(rule.by.n, rule.by.unit)) : undefined;
  const from = rule.from ? addMonths(birth, months(rule.from.n, rule.from.unit)) : undefined;
  // The day the CDSi engine dated the dose by (src/forecast/fhir.ts): occurrenceDateTime, or an
  // occurrenceString that starts with a date — such a dose was valid for CDSi yet never counted here.
  const dateOf = new Map(immunizations.map((i) => [`Immunization/${i.id}`, /^\d{4}-\d{2}-\d{2}/.exec(i.occurrenceDateTime ?? i.occurrenceString ?? '')?.[0] ?? '']));
  const valid = new Map<string, Set<string>>();
  for (const e of forecast.evaluations) {
    if (!e.doseStatus?.coding?.some((c) => c.code === 'valid')) continue;
    const antigen = e.targetDisease?.text ?? '';
    const ref = e.immunizationEvent?.reference ?? '';
    const date = dateOf.get(ref);
    if (!date || (by && date > by) || (from && date < from)) continue;
    let set = valid.get(antigen);
    if (!set) valid.set(antigen, (set = new Set()));
    set.add(ref);
  }
  return rule.counts.every((c) => (valid.get(c.antigen)?.size ?? 0) >= c.min);
}

/**
 * A patient no population run is about on `date`: a record no longer in use (`active: false`: merged
 * into another by $merge, or created in error: its doses, if any, live on the surviving record) or
 * a patient who had died by then (`deceasedBoolean`, or `deceasedDateTime` on or before `date`, at
 * whatever precision it is written). No reminder is sent for them, and coverage leaves them out of
 * every population (as HEDIS-style measures exclude deaths), rather than counting a duplicate or a
 * dead child as not up to date.
 */
export function outOfPopulation(patient: Patient, date: string): boolean {
  if (patient.active === false || patient.deceasedBoolean === true) return true;
  const died = typeof patient.deceasedDateTime === 'string' ? patient.deceasedDateTime.slice(0, 10) : undefined;
  // A year or month alone (2025, 2025-06) sorts before every day of it: died "in 2025" counts from its start.
  return died !== undefined && died !== '' && died <= date;
}

export function runTask<T extends PopulationTask>(task: T, input: PatientInput): TaskResult<T> {
  if (outOfPopulation(input.patient, task.kind === 'due' ? task.asOf : task.periodEnd)) return undefined as TaskResult<T>;
  const immunizations = typeof input.immunizations === 'string' ? (JSON.parse(input.immunizations) as Immunization[]) : input.immunizations;
  const conditions = typeof input.conditions === 'string' ? (JSON.parse(input.conditions) as Condition[]) : input.conditions;
  const more = conditions && conditions.length > 0 ? { conditions } : {};
  if (task.kind === 'due') {
    const forecast = forecastOrSkip({ assessmentDate: task.asOf, patient: input.patient, immunizations, ...more }, task.groups);
    if (!forecast) return undefined as TaskResult<T>;
    const items = dueItems(forecast.recommendation, task.asOf, {
      groups: task.groups ? new Set(task.groups) : undefined,
      statuses: task.statuses ? new Set(task.statuses) : undefined,
    });
    if (items.length === 0) return undefined as TaskResult<T>;
    return { items, recommendation: { ...forecast.recommendation, recommendation: items.map((x) => x.entry) } } as TaskResult<T>;
  }
  const forecast = forecastOrSkip({ assessmentDate: task.periodEnd, patient: input.patient, immunizations, ...more }, task.vaccineGroups);
  return (forecast ? inNumerator(task.numerator, input.patient, immunizations, forecast) : undefined) as TaskResult<T>;
}
