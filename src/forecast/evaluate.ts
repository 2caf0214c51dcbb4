// Logic spec chapter "Evaluate dose administered": each of the antigen's doses, in date order,
// against the patient series' next target dose: conditional skip, inadvertent vaccine, age,
// preferable then allowable interval, live-virus conflict, preferable then allowable vaccine,
// satisfy target dose. A dose that fails keeps the target dose open for the next dose.
import { skipTargetDose } from './conditional-skip.js';
import { addDuration, dateAtAge, type Day, FAR_FUTURE } from './dates.js';
import { type AdministeredDose, type DoseEvaluation, type PatientRecord, Reason } from './model.js';
import type { AgeRule, IntervalRule, LiveVirusConflict, Series, SeriesDose, SupportingData, VaccineRule } from './supporting-data.js';

export interface SeriesEvaluation {
  targets: readonly SeriesDose[];
  evaluations: DoseEvaluation[];
  targetDoses: ('satisfied' | 'skipped' | 'open')[];
  satisfiedBy: (AdministeredDose | undefined)[];
  nextTarget: number;
  validDoses: AdministeredDose[];
  /** Doses that take part in intervals (not inadvertent, not extraneous). */
  countedDoses: AdministeredDose[];
  /** Every dose of the antigen (for "Total" dose counts in the forecast). */
  allDoses: readonly AdministeredDose[];
}

/** Picks the rule in effect on `date` (effective/cessation dates), else the first undated one. */
export function ruleInEffect<T extends { effectiveDate?: Day; cessationDate?: Day }>(rules: readonly T[], date: Day): T | undefined {
  for (const rule of rules) if (inEffect(rule, date)) return rule;
  return undefined;
}

function inEffect(rule: { effectiveDate?: Day; cessationDate?: Day }, date: Day): boolean {
  return (rule.effectiveDate === undefined || date >= rule.effectiveDate) && (rule.cessationDate === undefined || date < rule.cessationDate);
}

export function evaluateSeries(
  data: SupportingData,
  patient: PatientRecord,
  series: Series,
  antigen: string,
  doses: readonly AdministeredDose[],
  completedSeriesGroups: ReadonlySet<string>,
  statusOfOtherDoses: ReadonlyMap<AdministeredDose, 'Valid' | 'Not Valid'>,
): SeriesEvaluation {
  const targets = series.doses;
  const state: SeriesEvaluation = {
    targets,
    evaluations: [],
    targetDoses: targets.map(() => 'open'),
    satisfiedBy: targets.map(() => undefined),
    nextTarget: 0,
    validDoses: [],
    countedDoses: [],
    allDoses: doses,
  };
  for (let doseIndex = 0; doseIndex < doses.length; doseIndex++) {
    const dose = doses[doseIndex]!;
    // A sub-potent or expired dose counts for nothing, not even as the previous dose of an interval.
    if (dose.condition) {
      const reason = dose.condition === 'expired' ? Reason.expired : Reason.subpotent;
      state.evaluations.push({ dose, antigen, series: series.name, status: 'Not Valid', reasons: [reason] });
      continue;
    }
    let t = state.nextTarget;
    // Conditional skips (evaluation context) move past target doses that are not needed (most
    // target doses have none: no skip context to build then).
    while (
      t < targets.length &&
      targets[t]!.conditionalSkips.length > 0 &&
      skipTargetDose(targets[t]!.conditionalSkips, 'evaluation', {
        patient,
        referenceDate: dose.date,
        previousDoses: state.countedDoses,
        allDoses: doses.slice(0, doseIndex),
        validDoses: state.validDoses,
        completedSeriesGroups,
      })
    ) {
      state.targetDoses[t] = 'skipped';
      t++;
    }
    state.nextTarget = t;
    if (t >= targets.length) {
      state.evaluations.push({ dose, antigen, series: series.name, status: 'Extraneous', reasons: [Reason.seriesComplete] });
      continue;
    }
    const target = targets[t]!;
    const outcome = evaluateAgainstTarget(data, patient, state, target, dose, statusOfOtherDoses);
    if (outcome.status === 'Valid') {
      state.evaluations.push({ dose, antigen, series: series.name, status: 'Valid', reasons: [], targetDose: target.doseNumber });
      state.satisfiedBy[t] = dose;
      state.targetDoses[t] = 'satisfied';
      state.validDoses.push(dose);
      state.countedDoses.push(dose);
      // A recurring target dose (yearly influenza, boosters) stays the next target.
      if (!target.recurring) state.nextTarget = t + 1;
    } else {
      state.evaluations.push({ dose, antigen, series: series.name, status: outcome.status, reasons: outcome.reasons });
      if (!outcome.reasons.includes(Reason.inadvertent) && outcome.status !== 'Extraneous') state.countedDoses.push(dose);
    }
  }
  // Trailing target doses skipped at the assessment date are decided by the forecast.
  return state;
}

interface Outcome {
  status: 'Valid' | 'Not Valid' | 'Extraneous';
  reasons: string[];
}

function evaluateAgainstTarget(
  data: SupportingData,
  patient: PatientRecord,
  state: SeriesEvaluation,
  target: SeriesDose,
  dose: AdministeredDose,
  statusOfOtherDoses: ReadonlyMap<AdministeredDose, 'Valid' | 'Not Valid'>,
): Outcome {
  if (target.inadvertentVaccines.has(dose.cvx)) return { status: 'Not Valid', reasons: [Reason.inadvertent] };

  // Every check runs; a dose that fails several carries every reason (CDSi reports them all).
  const reasons: string[] = [];
  const dob = patient.birthDate;
  const age: AgeRule | undefined = ruleInEffect(target.ages, dose.date);
  if (age) {
    const absMin = dateAtAge(patient, age.absMinAge) ?? dob;
    const max = dateAtAge(patient, age.maxAge) ?? FAR_FUTURE;
    if (dose.date < absMin) reasons.push(Reason.tooYoung);
    else if (dose.date >= max) return { status: 'Extraneous', reasons: [Reason.tooOld] };
  }
  if (!intervalsPass(patient, state, target, dose)) reasons.push(Reason.tooSoon);
  if (inLiveVirusConflict(data, dose, patient, statusOfOtherDoses, state)) reasons.push(Reason.liveVirusConflict);
  if (!vaccineMatches(target.preferableVaccines, dose, patient, true) && !vaccineMatches(target.allowableVaccines, dose, patient, false)) {
    reasons.push(Reason.notPreferableOrAllowable);
  }
  return reasons.length > 0 ? { status: 'Not Valid', reasons } : { status: 'Valid', reasons };
}

/** The date an interval runs from, or undefined when the interval does not apply. */
export function intervalReference(
  rule: IntervalRule,
  patient: PatientRecord,
  state: Pick<SeriesEvaluation, 'countedDoses' | 'satisfiedBy' | 'targets'>,
  before: Day,
): Day | undefined {
  if (rule.fromPrevious) {
    const prev = state.countedDoses[state.countedDoses.length - 1];
    return prev?.date;
  }
  if (rule.fromTargetDose !== undefined) {
    const index = state.targets.findIndex((t) => t.doseNumber === rule.fromTargetDose);
    return index >= 0 ? state.satisfiedBy[index]?.date : undefined;
  }
  if (rule.fromMostRecent) {
    const wanted = new Set(rule.fromMostRecent);
    let latest: Day | undefined;
    for (const d of patient.doses) {
      if (d.date < before && wanted.has(d.cvx) && (latest === undefined || d.date > latest)) latest = d.date;
    }
    return latest;
  }
  if (rule.fromRelevantObs) {
    if (!patient.observations.has(rule.fromRelevantObs)) return undefined;
    // An observation without a date (e.g. "had a stem cell transplant") counts from the assessment
    // date when forecasting; it cannot time doses already given.
    const observed = patient.observations.get(rule.fromRelevantObs);
    return observed ?? (before > patient.assessmentDate ? patient.assessmentDate : undefined);
  }
  return undefined;
}

/** The preferable intervals in effect on the dose's date all pass, else the allowable ones (when there are any). */
function intervalsPass(patient: PatientRecord, state: SeriesEvaluation, target: SeriesDose, dose: AdministeredDose): boolean {
  if (intervalsInEffectPass(target.intervals, patient, state, dose) !== false) return true;
  return intervalsInEffectPass(target.allowableIntervals, patient, state, dose) === true;
}

/** Whether every interval in effect on the dose's date passes; undefined when none is in effect. */
function intervalsInEffectPass(rules: readonly IntervalRule[], patient: PatientRecord, state: SeriesEvaluation, dose: AdministeredDose): boolean | undefined {
  let anyInEffect = false;
  for (const rule of rules) {
    if (!inEffect(rule, dose.date)) continue;
    anyInEffect = true;
    const from = intervalReference(rule, patient, state, dose.date);
    if (from === undefined) continue;
    const absMin = rule.absMinInt ? addDuration(from, rule.absMinInt) : from;
    if (dose.date < absMin) return false;
  }
  return anyInEffect ? true : undefined;
}

function inLiveVirusConflict(
  data: SupportingData,
  dose: AdministeredDose,
  patient: PatientRecord,
  statusOfOtherDoses: ReadonlyMap<AdministeredDose, 'Valid' | 'Not Valid'>,
  state: SeriesEvaluation,
): boolean {
  const conflictsByPrevious = data.liveVirusConflictsByPair.get(dose.cvx);
  if (!conflictsByPrevious) return false;
  for (const other of patient.doses) {
    if (other === dose || other.date >= dose.date) continue;
    for (const c of conflictsByPrevious.get(other.cvx) ?? []) {
      if (conflictWindowHolds(c, other, dose.date, previousStatus(other, state, statusOfOtherDoses))) return true;
    }
  }
  return false;
}

function previousStatus(
  other: AdministeredDose,
  state: SeriesEvaluation,
  statusOfOtherDoses: ReadonlyMap<AdministeredDose, 'Valid' | 'Not Valid'>,
): 'Valid' | 'Not Valid' {
  const own = state.evaluations.find((e) => e.dose === other);
  if (own) return own.status === 'Valid' ? 'Valid' : 'Not Valid';
  return statusOfOtherDoses.get(other) ?? 'Valid';
}

/** A valid earlier live dose blocks until the minimum conflict end (its 4-day grace); a not valid one until the full end. */
export function conflictWindowHolds(c: LiveVirusConflict, previous: AdministeredDose, date: Day, previousStatusValue: 'Valid' | 'Not Valid'): boolean {
  const begin = addDuration(previous.date, c.begin);
  const end = addDuration(previous.date, previousStatusValue === 'Valid' ? c.minEnd : c.end);
  return date >= begin && date < end;
}

function vaccineMatches(rules: readonly VaccineRule[], dose: AdministeredDose, patient: PatientRecord, checkProduct: boolean): boolean {
  for (const v of rules) {
    if (v.cvx !== dose.cvx) continue;
    const begin = dateAtAge(patient, v.beginAge);
    const end = dateAtAge(patient, v.endAge);
    if (begin !== undefined && dose.date < begin) continue;
    if (end !== undefined && dose.date >= end) continue;
    if (checkProduct && v.mvx && dose.mvx && v.mvx.toUpperCase() !== dose.mvx.toUpperCase()) continue;
    return true;
  }
  return false;
}
