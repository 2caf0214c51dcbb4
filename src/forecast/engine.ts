// The CDSi process end to end for one patient: organise the history by antigen, find the relevant
// patient series, evaluate and forecast each, select the best series per antigen, and combine
// antigens into vaccine-group forecasts. Pure: supporting data and patient in, result out.
import { dateAtAge, FAR_FUTURE, FAR_PAST } from './dates.js';
import { evaluateSeries } from './evaluate.js';
import { contraindicatedVaccines, forecastSeries } from './forecast-series.js';
import type {
  AdministeredDose,
  AntigenResult,
  DoseEvaluation,
  EngineResult,
  Forecast,
  PatientRecord,
  PatientSeries,
  SeriesStatus,
  VaccineGroupForecast,
} from './model.js';
import { bestSeries, prioritizedPerGroup } from './select-series.js';
import type { Antigen, Series, SupportingData, VaccineGroup } from './supporting-data.js';

/**
 * Logic spec "organise immunization history": each antigen's doses, in the history's (date) order.
 * One pass over the history for all antigens, rather than one per antigen.
 */
export function dosesByAntigen(data: SupportingData, patient: PatientRecord): Map<string, AdministeredDose[]> {
  const byAntigen = new Map<string, AdministeredDose[]>();
  for (const dose of patient.doses) {
    for (const a of data.cvxToAntigens.get(dose.cvx) ?? []) {
      const begin = dateAtAge(patient, a.beginAge) ?? FAR_PAST;
      const end = dateAtAge(patient, a.endAge) ?? FAR_FUTURE;
      if (dose.date < begin || dose.date >= end) continue;
      const doses = byAntigen.get(a.antigen);
      if (!doses) byAntigen.set(a.antigen, [dose]);
      // A CVX may list an antigen twice (two age ranges): the dose is still one dose of it.
      else if (doses[doses.length - 1] !== dose) doses.push(dose);
    }
  }
  return byAntigen;
}

const NO_DOSES: readonly AdministeredDose[] = [];
const NO_EVALUATIONS: readonly DoseEvaluation[] = [];
const NO_COMPLETED_GROUPS: ReadonlySet<string> = new Set();
const NO_CVX: readonly string[] = [];

/** Logic spec "identify relevant patient series": gender, and for risk series an indication in effect. */
export function isRelevant(series: Series, patient: PatientRecord, beforeIndicationAge = false): boolean {
  if (series.requiredGender.length > 0 && !series.requiredGender.includes(patient.gender)) return false;
  if (series.type !== 'risk') return true;
  for (const i of series.indications) {
    if (!patient.observations.has(i.code)) continue;
    const begin = dateAtAge(patient, i.beginAge) ?? FAR_PAST;
    const end = dateAtAge(patient, i.endAge) ?? FAR_FUTURE;
    if ((patient.assessmentDate >= begin || beforeIndicationAge) && patient.assessmentDate < end) return true;
  }
  return false;
}

function runSeries(
  data: SupportingData,
  antigen: Antigen,
  patient: PatientRecord,
  series: Series,
  doses: readonly AdministeredDose[],
  completedGroups: ReadonlySet<string>,
  otherStatuses: ReadonlyMap<AdministeredDose, 'Valid' | 'Not Valid'>,
): PatientSeries {
  const evaluation = evaluateSeries(data, patient, series, antigen.name, doses, completedGroups, otherStatuses);
  const forecast = forecastSeries(data, antigen, patient, series, evaluation, completedGroups);
  return {
    series,
    evaluations: evaluation.evaluations,
    targetDoses: evaluation.targetDoses,
    satisfiedBy: evaluation.satisfiedBy,
    nextTarget: evaluation.nextTarget,
    validCount: evaluation.validDoses.length,
    forecast,
  };
}

function runAntigen(
  data: SupportingData,
  antigen: Antigen,
  patient: PatientRecord,
  doses: readonly AdministeredDose[],
  otherStatuses: ReadonlyMap<AdministeredDose, 'Valid' | 'Not Valid'>,
): AntigenResult {
  // An antigen given only for risk (dengue, travel vaccines): a patient with the indication who is
  // not yet old enough gets the series forecast for when they reach the indication's begin age.
  const riskOnly = antigen.series.every((s) => s.type === 'risk');
  const relevant = antigen.series.filter((s) => isRelevant(s, patient, riskOnly));
  if (relevant.length === 0) return { antigen: antigen.name, evaluations: [], forecast: { status: 'Not Recommended' } };
  let results = relevant.map((s) => runSeries(data, antigen, patient, s, doses, NO_COMPLETED_GROUPS, otherStatuses));
  // "Completed Series" skip conditions depend on the other series' outcome: a second pass.
  const completed = new Set(results.filter((r) => r.forecast.status === 'Complete').map((r) => r.series.seriesGroup));
  if (completed.size > 0 && relevant.some((s) => s.usesCompletedSeries)) {
    results = relevant.map((s) => runSeries(data, antigen, patient, s, doses, completed, otherStatuses));
  }
  const prioritized = prioritizedPerGroup(results, patient);
  const best = bestSeries(results, patient, prioritized);
  const evaluations = reportedEvaluations(best, prioritized);
  let forecast = best?.forecast ?? { status: 'Not Recommended' as const };
  if (forecast.numberedByHistory) {
    // The dose number counts every dose reported valid, whichever series counted it.
    forecast = { ...forecast, doseNumber: evaluations.filter((e) => e.status === 'Valid').length + 1 };
  }
  return { antigen: antigen.name, best, evaluations, forecast, candidates: results };
}

/**
 * The best series' evaluations, except that a dose it does not count but the prioritized series
 * of another series group does (childhood doses under an adult risk booster series, a risk booster
 * after a complete standard series) is reported valid from that series.
 */
function reportedEvaluations(best: PatientSeries | undefined, prioritized: readonly PatientSeries[]): DoseEvaluation[] {
  if (!best) return [];
  return best.evaluations.map((e) => {
    if (e.status === 'Valid') return e;
    for (const other of prioritized) {
      if (other === best) continue;
      const there = other.evaluations.find((o) => o.dose === e.dose);
      if (there?.status === 'Valid') return there;
    }
    return e;
  });
}

const STATUS_ORDER: readonly SeriesStatus[] = ['Not Complete', 'Contraindicated', 'Aged Out', 'Complete', 'Immune', 'Not Recommended'];

/** Logic spec "vaccine group forecast": one forecast from the group's antigens. */
export function vaccineGroupForecast(group: VaccineGroup, antigens: readonly AntigenResult[]): Forecast {
  const applicable = antigens.filter((a) => a.best !== undefined);
  if (applicable.length === 0) return { status: 'Not Recommended' };
  const needing = applicable.filter((a) => a.forecast.status === 'Not Complete');
  if (needing.length > 0 && group.administerFullVaccineGroup) {
    // All antigens are given together (MMR): the dose is the one of the antigen furthest behind,
    // and it cannot be given before every antigen can.
    const lowest = Math.min(...needing.map((a) => a.forecast.doseNumber ?? Number.POSITIVE_INFINITY));
    const lead = needing.find((a) => a.forecast.doseNumber === lowest) ?? needing[0]!;
    const earliest = Math.max(...needing.map((a) => a.forecast.earliest ?? Number.NEGATIVE_INFINITY));
    const atLeastEarliest = (d: number | undefined) => (d === undefined ? undefined : Math.max(d, earliest));
    return {
      status: 'Not Complete',
      doseNumber: lead.forecast.doseNumber,
      earliest,
      recommended: atLeastEarliest(lead.forecast.recommended),
      pastDue: atLeastEarliest(lead.forecast.pastDue),
      latest: lead.forecast.latest,
      vaccineTypes: lead.forecast.vaccineTypes,
    };
  }
  if (needing.length > 0) {
    // Antigens given separately (DTaP/Tdap/Td): the group is due as soon as any antigen is.
    const pick = Math.min;
    const dates = (key: 'earliest' | 'recommended' | 'pastDue' | 'latest') => {
      const values = needing.map((a) => a.forecast[key]).filter((v): v is number => v !== undefined);
      return values.length > 0 ? pick(...values) : undefined;
    };
    // …but not before the group's latest dose (a DT given today answers for diphtheria and
    // tetanus, and the next pertussis-containing dose comes after it).
    const latestGroupDose = Math.max(...antigens.flatMap((a) => a.evaluations.map((e) => e.dose.date)));
    const notBeforeLatest = (d: number | undefined) => (d === undefined ? undefined : Math.max(d, latestGroupDose));
    const earliest = notBeforeLatest(dates('earliest'));
    const lead = needing.find((a) => a.forecast.earliest === dates('earliest')) ?? needing[0]!;
    return {
      status: 'Not Complete',
      doseNumber: Math.max(...needing.map((a) => a.forecast.doseNumber ?? 0)) || lead.forecast.doseNumber,
      earliest,
      recommended: notBeforeLatest(dates('recommended')),
      pastDue: notBeforeLatest(dates('pastDue')),
      latest: dates('latest'),
      vaccineTypes: lead.forecast.vaccineTypes,
    };
  }
  const statuses = new Set(applicable.map((a) => a.forecast.status));
  if (statuses.has('Contraindicated')) return { status: 'Contraindicated' };
  if (statuses.size === 1) return { status: applicable[0]!.forecast.status };
  if (statuses.has('Complete')) return { status: 'Complete' };
  return { status: STATUS_ORDER.find((s) => statuses.has(s)) ?? 'Not Recommended' };
}

/** Runs CDSi for one patient over every vaccine group of the supporting data. */
export function runCdsi(data: SupportingData, patient: PatientRecord): EngineResult {
  const sorted: PatientRecord = { ...patient, doses: [...patient.doses].sort((a, b) => a.date - b.date), ageDates: new Map() };
  const antigenDoses = dosesByAntigen(data, sorted);
  const otherStatuses = new Map<AdministeredDose, 'Valid' | 'Not Valid'>();
  const byAntigen = new Map<string, AntigenResult>();
  const vaccineGroups: VaccineGroupForecast[] = [];
  for (const group of data.vaccineGroups) {
    const results: AntigenResult[] = [];
    for (const name of group.antigens) {
      const antigen = data.antigens.get(name);
      if (!antigen) continue;
      const result = runAntigen(data, antigen, sorted, antigenDoses.get(name) ?? NO_DOSES, otherStatuses);
      for (const e of result.evaluations) {
        if (e.status !== 'Valid') otherStatuses.set(e.dose, 'Not Valid');
        else if (!otherStatuses.has(e.dose)) otherStatuses.set(e.dose, 'Valid');
      }
      byAntigen.set(name, result);
      results.push(result);
    }
    const lead = results.find((r) => r.best)?.best;
    let contraindicated: Set<string> | undefined;
    for (const name of group.antigens) {
      const antigen = data.antigens.get(name);
      if (antigen && antigen.vaccineContraindications.length > 0) {
        for (const cvx of contraindicatedVaccines(antigen, sorted)) (contraindicated ??= new Set()).add(cvx);
      }
    }
    vaccineGroups.push({
      vaccineGroup: group.name,
      antigens: results,
      forecast: vaccineGroupForecast(group, results),
      seriesName: lead?.series.name,
      contraindicatedVaccines: contraindicated ? [...contraindicated].sort() : NO_CVX,
    });
  }
  // In dose order, and for one dose in the order of the antigens (what a stable sort by dose gives).
  const ofDose = new Map<AdministeredDose, DoseEvaluation[]>();
  for (const r of byAntigen.values()) {
    for (const e of r.evaluations) {
      const list = ofDose.get(e.dose);
      if (list) list.push(e);
      else ofDose.set(e.dose, [e]);
    }
  }
  const evaluations: DoseEvaluation[] = [];
  for (const dose of sorted.doses) for (const e of ofDose.get(dose) ?? NO_EVALUATIONS) evaluations.push(e);
  return { evaluations, vaccineGroups };
}
