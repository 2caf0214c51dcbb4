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

/** Due items and the recommendation holding them; undefined when nothing is due or CDSi cannot forecast. */
export type DueResult = { items: DueItem[]; recommendation: ImmunizationRecommendation } | undefined;
/** In the numerator or not; undefined when CDSi cannot forecast the patient (no full birth date). */
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
  const dateOf = new Map(immunizations.map((i) => [`Immunization/${i.id}`, (i.occurrenceDateTime ?? '').slice(0, 10)]));
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

export function runTask<T extends PopulationTask>(task: T, input: PatientInput): TaskResult<T> {
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
