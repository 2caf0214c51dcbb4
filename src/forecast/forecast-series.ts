// Logic spec chapter "Forecast dates and reasons" for one patient series: conditional skip at the
// assessment date, evidence of immunity, contraindications, whether another dose is needed, and
// the earliest / recommended / past-due / latest dates of the next target dose.
import { skipTargetDose } from './conditional-skip.js';
import { addDuration, dateAtAge, type Day, dayFromYmd, FAR_FUTURE, FAR_PAST, ymdFromDay } from './dates.js';
import { intervalReference, ruleInEffect, type SeriesEvaluation } from './evaluate.js';
import type { Forecast, PatientRecord } from './model.js';
import type { Antigen, Series, SeriesDose, SupportingData, VaccineRule } from './supporting-data.js';

/** Evidence of immunity for the antigen (clinical history or birth before a date). */
export function isImmune(antigen: Antigen, patient: PatientRecord): boolean {
  // Loops, not closures: asked for every relevant series of every antigen.
  for (const code of antigen.immunityObservationCodes) if (patient.observations.has(code)) return true;
  for (const b of antigen.immunityBirthDates) {
    if (patient.birthDate >= b.before) continue;
    if (!b.exclusions.some((c) => patient.observations.has(c))) return true;
  }
  return false;
}

/** A vaccine-group contraindication of the antigen applies on the assessment date. */
export function isContraindicated(antigen: Antigen, patient: PatientRecord): boolean {
  for (const c of antigen.groupContraindications) {
    if (!patient.observations.has(c.code)) continue;
    const begin = dateAtAge(patient, c.beginAge) ?? FAR_PAST;
    const end = dateAtAge(patient, c.endAge) ?? FAR_FUTURE;
    if (patient.assessmentDate >= begin && patient.assessmentDate < end) return true;
  }
  return false;
}

const NO_VACCINES: ReadonlySet<string> = new Set();

/** CVX codes contraindicated for this patient on the assessment date (vaccine-level contraindications). */
export function contraindicatedVaccines(antigen: Antigen, patient: PatientRecord): ReadonlySet<string> {
  // Asked for every target dose forecast: most patients have no observation, and get no new Set.
  if (patient.observations.size === 0) return NO_VACCINES;
  let out: Set<string> | undefined;
  for (const c of antigen.vaccineContraindications) {
    if (!patient.observations.has(c.code)) continue;
    for (const v of c.vaccines) {
      const begin = dateAtAge(patient, v.beginAge) ?? FAR_PAST;
      const end = dateAtAge(patient, v.endAge) ?? FAR_FUTURE;
      if (patient.assessmentDate >= begin && patient.assessmentDate < end) (out ??= new Set()).add(v.cvx);
    }
  }
  return out ?? NO_VACCINES;
}

export function forecastSeries(
  data: SupportingData,
  antigen: Antigen,
  patient: PatientRecord,
  series: Series,
  evaluation: SeriesEvaluation,
  completedSeriesGroups: ReadonlySet<string>,
): Forecast {
  if (isImmune(antigen, patient)) return { status: 'Immune' };
  if (isContraindicated(antigen, patient)) return { status: 'Contraindicated' };

  const targets = series.doses;
  let t = evaluation.nextTarget;
  // Forecast-context skips are judged at the assessment date, and also at the date the dose could
  // first be given ("not required for those 4 years or older at the earliest forecasted date").
  while (t < targets.length) {
    const skips = targets[t]!.conditionalSkips;
    if (skips.length === 0) break;
    const context = {
      patient,
      referenceDate: patient.assessmentDate,
      previousDoses: evaluation.countedDoses,
      allDoses: evaluation.allDoses,
      validDoses: evaluation.validDoses,
      completedSeriesGroups,
    };
    let skipped = skipTargetDose(skips, 'forecast', context);
    if (!skipped) {
      const earliest = forecastDates(data, antigen, patient, targets[t]!, evaluation).earliest;
      if (earliest > patient.assessmentDate) skipped = skipTargetDose(skips, 'forecast', { ...context, referenceDate: earliest });
    }
    if (!skipped) break;
    evaluation.targetDoses[t] = 'skipped';
    t++;
  }
  evaluation.nextTarget = t;
  if (t >= targets.length) return { status: 'Complete' };

  const target = targets[t]!;
  const season = seasonOf(target, patient.assessmentDate);
  const dates = forecastDates(data, antigen, patient, target, evaluation, season);
  if (dates.maxAgeDate !== undefined && patient.assessmentDate >= dates.maxAgeDate) return { status: 'Aged Out' };
  if (season !== undefined && patient.assessmentDate > season.end) {
    return { status: 'Not Recommended' };
  }
  return {
    status: 'Not Complete',
    doseNumber: forecastDoseNumber(target, evaluation, season),
    numberedByHistory: season === undefined && !(target.recurring && target.doseNumber === 1),
    earliest: dates.earliest,
    recommended: dates.recommended,
    pastDue: dates.pastDue,
    latest: dates.latest,
    vaccineTypes: dates.vaccineTypes,
  };
}

interface Season {
  start: Day;
  end: Day;
}

/**
 * The season a forecast on this assessment date falls in. The supporting data names one season
 * (the release's, e.g. 2025-10-01 → 2026-03-31); seasons recur every year, so an assessment date
 * in an earlier season gets that season's window: the data's window moved back by whole years to
 * the first one that has not ended on the assessment date. After the data's own season has ended
 * nothing is moved (that season is over and the release names no later one: Not Recommended).
 */
function seasonOf(target: SeriesDose, assessmentDate: Day): Season | undefined {
  if (target.seasonalStart === undefined) return undefined;
  let start = target.seasonalStart;
  let end = target.seasonalEnd ?? FAR_FUTURE;
  if (target.seasonalEnd === undefined) return { start, end };
  for (;;) {
    const earlierEnd = shiftYears(end, -1);
    if (earlierEnd < assessmentDate) return { start, end };
    start = shiftYears(start, -1);
    end = earlierEnd;
  }
}

/** The same month and day a whole number of years away (29 February becomes 28 February). */
function shiftYears(day: Day, years: number): Day {
  const [y, m, d] = ymdFromDay(day);
  const target = y + years;
  const leap = (target % 4 === 0 && target % 100 !== 0) || target % 400 === 0;
  return dayFromYmd(target, m, m === 2 && d === 29 && !leap ? 28 : d);
}

interface TargetDates {
  earliest: Day;
  recommended: Day;
  pastDue?: Day;
  latest?: Day;
  maxAgeDate?: Day;
  vaccineTypes: readonly string[];
}

/**
 * The dates of one target dose. Earliest: the latest of the minimum age, every minimum interval,
 * the antigen's latest dose, live-virus conflicts and the season's start. Recommended and past due
 * come from the target dose's age when it has one, else from its intervals; neither is before the
 * earliest date (logic spec "forecast dates").
 */
function forecastDates(
  data: SupportingData,
  antigen: Antigen,
  patient: PatientRecord,
  target: SeriesDose,
  evaluation: SeriesEvaluation,
  season = seasonOf(target, patient.assessmentDate),
): TargetDates {
  const dob = patient.birthDate;
  const age = ruleInEffect(target.ages, patient.assessmentDate);
  const maxAgeDate = dateAtAge(patient, age?.maxAge);
  const minAgeDate = dateAtAge(patient, age?.minAge) ?? dateAtAge(patient, age?.absMinAge) ?? dob;
  let earliest = minAgeDate;
  let recommendedByInterval: Day | undefined;
  let pastDueByInterval: Day | undefined;
  for (const rule of target.intervals) {
    if (rule.effectiveDate !== undefined && patient.assessmentDate < rule.effectiveDate) continue;
    if (rule.cessationDate !== undefined && patient.assessmentDate >= rule.cessationDate) continue;
    const from = intervalReference(rule, patient, evaluation, patient.assessmentDate + 1);
    if (from === undefined) continue;
    earliest = Math.max(earliest, rule.minInt ? addDuration(from, rule.minInt) : from);
    if (rule.earliestRecInt) recommendedByInterval = Math.max(recommendedByInterval ?? -Infinity, addDuration(from, rule.earliestRecInt));
    if (rule.latestRecInt) pastDueByInterval = Math.max(pastDueByInterval ?? -Infinity, addDuration(from, rule.latestRecInt) - 1);
  }
  const earliestRecAge = dateAtAge(patient, age?.earliestRecAge);
  const latestRecAge = dateAtAge(patient, age?.latestRecAge);
  const unadjustedRecommended = earliestRecAge ?? recommendedByInterval;
  const unadjustedPastDue = latestRecAge !== undefined ? latestRecAge - 1 : pastDueByInterval;

  // No forecast before the antigen's latest dose, even one that counts for nothing (inadvertent).
  const lastDose = evaluation.allDoses[evaluation.allDoses.length - 1];
  if (lastDose) earliest = Math.max(earliest, lastDose.date);

  const excluded = contraindicatedVaccines(antigen, patient);
  const forecastVaccines = excluded.size === 0 ? target.preferableVaccines : target.preferableVaccines.filter((v) => !excluded.has(v.cvx));
  const conflictEnd = liveVirusConflictEnd(data, patient, forecastVaccines);
  if (conflictEnd !== undefined) earliest = Math.max(earliest, conflictEnd);
  if (season !== undefined) earliest = Math.max(earliest, season.start);

  return {
    earliest,
    recommended: Math.max(unadjustedRecommended ?? earliest, earliest),
    pastDue: unadjustedPastDue === undefined ? undefined : Math.max(unadjustedPastDue, earliest),
    latest: maxAgeDate !== undefined ? maxAgeDate - 1 : undefined,
    maxAgeDate,
    vaccineTypes:
      excluded.size === 0 ? target.forecastVaccineTypes : forecastVaccines.filter((v) => v.forecastVaccineType).map((v) => v.cvx),
  };
}

/**
 * CDC numbers the forecast dose by the patient's history: valid doses so far, plus one. A seasonal
 * dose counts only this season's doses (a new COVID-19 season starts again at 1), and so does a
 * series whose first dose recurs.
 */
function forecastDoseNumber(target: SeriesDose, evaluation: SeriesEvaluation, season: Season | undefined): number {
  if (season !== undefined) {
    return evaluation.validDoses.filter((d) => d.date >= season.start).length + 1;
  }
  if (target.recurring && target.doseNumber === 1) return 1;
  return evaluation.validDoses.length + 1;
}

/** The latest end of a live-virus conflict a dose of the forecast vaccines would fall into. */
function liveVirusConflictEnd(data: SupportingData, patient: PatientRecord, forecastVaccines: readonly VaccineRule[]): Day | undefined {
  let latest: Day | undefined;
  for (const { cvx } of forecastVaccines) {
    const conflictsByPrevious = data.liveVirusConflictsByPair.get(cvx);
    if (!conflictsByPrevious) continue;
    for (const previous of patient.doses) {
      if (previous.date > patient.assessmentDate) continue;
      for (const c of conflictsByPrevious.get(previous.cvx) ?? []) {
        const end = addDuration(previous.date, c.end);
        if (latest === undefined || end > latest) latest = end;
      }
    }
  }
  return latest;
}
