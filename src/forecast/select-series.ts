// Logic spec chapter "Select best patient series": one prioritized series per series group
// (a complete series, else scoring of in-process series, else the default / age-fitting series),
// then the best series of the antigen across groups.
import { addDuration, dateAtAge } from './dates.js';
import type { PatientRecord, PatientSeries } from './model.js';

function firstValidDate(s: PatientSeries): number | undefined {
  return s.evaluations.find((e) => e.status === 'Valid')?.dose.date;
}

/**
 * Scorable: the series was (or can now be) started inside its start ages. The minimum age to start
 * is the patient's age at assessment, not at the first dose: an adult risk series counts a dose
 * given in childhood (HepA risk 2-dose series after a dose at 7 years), while a series for older
 * patients is still not scored for a child who had a dose of its product. A default series not
 * started yet only needs the patient old enough: past its maximum start age it is still the one
 * CDC forecasts when nothing has been given (HPV for an adult who never had a dose).
 */
function canStart(s: PatientSeries, patient: PatientRecord): boolean {
  const firstValid = firstValidDate(s);
  const start = firstValid ?? patient.assessmentDate;
  const min = dateAtAge(patient, s.series.minAgeToStart);
  const max = dateAtAge(patient, s.series.maxAgeToStart);
  // A started series is judged with the 4-day grace its doses' ages have (Heplisav-B 2-dose
  // series at 18 years - 4 days).
  if (min !== undefined && patient.assessmentDate < (firstValid === undefined ? min : min - 4)) return false;
  if (max !== undefined && start >= max && (firstValid !== undefined || !s.series.defaultSeries)) return false;
  return true;
}

/** A started series whose first valid dose came before its maximum age to start. */
function startedInTime(s: PatientSeries, patient: PatientRecord): boolean {
  const first = firstValidDate(s);
  const max = dateAtAge(patient, s.series.maxAgeToStart);
  return first === undefined || max === undefined || first < max;
}

const byPreference = (a: PatientSeries, b: PatientSeries) => a.series.seriesPreference - b.series.seriesPreference;

function isComplete(s: PatientSeries): boolean {
  return s.forecast.status === 'Complete';
}

function remaining(s: PatientSeries): number {
  return s.targetDoses.filter((t) => t === 'open').length;
}

/**
 * The soonest date the series could be finished: the next dose at its earliest date, then each
 * later open target dose at its minimum interval from the one before and its minimum age.
 */
function projectedCompletion(s: PatientSeries, patient: PatientRecord): number {
  let date = s.forecast.earliest;
  if (date === undefined) return Number.POSITIVE_INFINITY;
  const doses = s.series.doses;
  const dateOf = doses.map((_, i) => s.satisfiedBy[i]?.date);
  dateOf[s.nextTarget] = date;
  for (let t = s.nextTarget + 1; t < doses.length; t++) {
    if (s.targetDoses[t] !== 'open') continue;
    const target = doses[t]!;
    for (const interval of target.intervals) {
      if (!interval.minInt) continue;
      const from = interval.fromPrevious
        ? date
        : interval.fromTargetDose !== undefined
          ? dateOf[doses.findIndex((d) => d.doseNumber === interval.fromTargetDose)]
          : undefined;
      if (from !== undefined) date = Math.max(date, addDuration(from, interval.minInt));
    }
    const minAge = dateAtAge(patient, target.ages[0]?.minAge);
    if (minAge !== undefined && minAge > date) date = minAge;
    dateOf[t] = date;
  }
  return date;
}

/** Points for in-process series (logic spec scoring table); higher is better. */
function score(candidates: PatientSeries[], patient: PatientRecord): Map<PatientSeries, number> {
  const points = new Map<PatientSeries, number>(candidates.map((c) => [c, 0]));
  const add = (pick: (s: PatientSeries) => number, better: 'max' | 'min') => {
    const values = candidates.map(pick).filter((v) => Number.isFinite(v));
    if (values.length === 0) return;
    const best = better === 'max' ? Math.max(...values) : Math.min(...values);
    for (const c of candidates) if (pick(c) === best) points.set(c, points.get(c)! + 1);
  };
  add((s) => s.validCount, 'max');
  add((s) => remaining(s), 'min');
  add((s) => projectedCompletion(s, patient), 'min');
  for (const c of candidates) {
    // A product series scores when every dose given counted in it (all one product, all valid),
    // and loses a point when a dose given did not count in it (another product in the history:
    // Engerix-B, Heplisav-B, Recombivax HB goes to the Heplisav-B secondary 4-dose series, not
    // to the Heplisav-B 2-dose series that counts one of the three).
    if (c.series.productPath) {
      const allValid = c.evaluations.every((e) => e.status === 'Valid');
      const products = new Set(c.evaluations.map((e) => e.dose.cvx));
      if (allValid && products.size <= 1) points.set(c, points.get(c)! + 1);
      else if (!allValid) points.set(c, points.get(c)! - 1);
    }
    if (c.forecast.status === 'Aged Out') points.set(c, points.get(c)! - 1);
  }
  void patient;
  return points;
}

/** The first series priority in sort order ("A" before "B"). */
function bestPriorityOf(list: readonly PatientSeries[]): string | undefined {
  let best: string | undefined;
  for (const s of list) if (best === undefined || s.series.seriesPriority < best) best = s.series.seriesPriority;
  return best;
}

/** The prioritized series of one series group. */
export function prioritizedSeries(group: PatientSeries[], patient: PatientRecord): PatientSeries | undefined {
  const bestPriority = bestPriorityOf(group);
  const complete = group.filter((s) => isComplete(s) && s.series.seriesPriority === bestPriority && startedInTime(s, patient));
  if (complete.length > 0) {
    return complete.sort((a, b) => b.validCount - a.validCount || byPreference(a, b))[0];
  }
  // A group none of whose series the patient can start (or has started) in its start ages gives none.
  const scorable = group.filter((s) => canStart(s, patient));
  if (scorable.length === 0) return undefined;
  const highestPriority = (list: PatientSeries[]) => {
    const best = bestPriorityOf(list);
    return list.filter((s) => s.series.seriesPriority === best);
  };
  const inProcess = highestPriority(scorable).filter((s) => s.validCount > 0);
  if (inProcess.length > 0) {
    const points = score(inProcess, patient);
    return inProcess.sort((a, b) => points.get(b)! - points.get(a)! || byPreference(a, b))[0];
  }
  const defaults = scorable.filter((s) => s.series.defaultSeries);
  if (defaults.length > 0) return defaults.sort(byPreference)[0];
  // No valid dose and no default: a series the patient starts at its first target dose beats one
  // whose opening doses are skipped for age (an infant series for an adult), then priority.
  const fromStart = scorable.filter((s) => s.targetDoses[0] !== 'skipped');
  return highestPriority(fromStart.length > 0 ? fromStart : scorable).sort(byPreference)[0];
}

/** The best patient series of an antigen across its series groups. */
/** One prioritized series per series group (groups the patient cannot start give none). */
export function prioritizedPerGroup(all: readonly PatientSeries[], patient: PatientRecord): PatientSeries[] {
  const groups = new Map<string, PatientSeries[]>();
  for (const s of all) {
    const list = groups.get(s.series.seriesGroup) ?? [];
    list.push(s);
    groups.set(s.series.seriesGroup, list);
  }
  return [...groups.values()].map((g) => prioritizedSeries(g, patient)).filter((s): s is PatientSeries => s !== undefined);
}

/**
 * `prioritizedOfAll`: prioritizedPerGroup(all, patient) when the caller has it already (it is not
 * changed here).
 */
export function bestSeries(all: PatientSeries[], patient: PatientRecord, prioritizedOfAll?: readonly PatientSeries[]): PatientSeries | undefined {
  // "Evaluation only" series judge doses already given; they are never the series forecast.
  const forecastable = all.filter((s) => s.series.type !== 'evaluation only');
  const fromAll = forecastable.length === 0 || forecastable.length === all.length;
  let prioritized = fromAll ? [...(prioritizedOfAll ?? prioritizedPerGroup(all, patient))] : prioritizedPerGroup(forecastable, patient);
  if (prioritized.length === 0) {
    // No series can be started: report the default series of the first group (aged out, …).
    const first = [...all].sort((a, b) => Number(a.series.seriesGroup) - Number(b.series.seriesGroup) || Number(b.series.defaultSeries) - Number(a.series.defaultSeries) || byPreference(a, b));
    return first[0];
  }
  if (prioritized.length === 1) return prioritized[0];
  // A series whose equivalent series group holds a complete series needs nothing more (the risk
  // 3-dose HepB series after the standard one); a series without equivalents (dialysis) still does.
  const completeGroups = new Set(prioritized.filter(isComplete).map((s) => s.series.seriesGroup));
  const stillNeeded = prioritized.filter((s) => !s.series.equivalentSeriesGroups.some((g) => completeGroups.has(g)));
  const needing = stillNeeded.filter((s) => s.forecast.status === 'Not Complete');
  if (needing.length > 0) {
    const risk = (x: PatientSeries) => (x.series.type === 'risk' ? 0 : 1);
    return needing.sort(
      (a, b) =>
        risk(a) - risk(b) ||
        (a.forecast.earliest ?? 0) - (b.forecast.earliest ?? 0) ||
        Number(a.series.seriesGroup) - Number(b.series.seriesGroup) ||
        byPreference(a, b),
    )[0];
  }
  prioritized = prioritized.sort((a, b) => Number(a.series.seriesGroup) - Number(b.series.seriesGroup));
  return prioritized.find(isComplete) ?? prioritized[0];
}
