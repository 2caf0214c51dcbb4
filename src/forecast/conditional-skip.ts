// Logic spec "Evaluate conditional skip" (used by evaluation and forecast): a target dose is not
// needed when its skip sets are met. Condition types: Age, Interval, Vaccine Count by Age,
// Vaccine Count by Date, Completed Series.
import { addDuration, dateAtAge, type Day, FAR_FUTURE, FAR_PAST } from './dates.js';
import type { AdministeredDose, PatientRecord } from './model.js';
import type { ConditionalSkip, SkipCondition, SkipSet } from './supporting-data.js';

export interface SkipContext {
  patient: PatientRecord;
  /** Date administered (evaluation) or assessment date (forecast). */
  referenceDate: Day;
  /** The antigen's doses that count as administered before the reference dose (not inadvertent). */
  previousDoses: readonly AdministeredDose[];
  /** Every dose of the antigen before the reference dose ("Total" dose counts). */
  allDoses: readonly AdministeredDose[];
  /** Doses counted as valid so far in this patient series. */
  validDoses: readonly AdministeredDose[];
  /** Series groups of this antigen that hold a complete relevant series. */
  completedSeriesGroups: ReadonlySet<string>;
}

/** True when the target dose is skipped in this context ("evaluation" or "forecast"). */
export function skipTargetDose(
  skips: readonly ConditionalSkip[],
  context: 'evaluation' | 'forecast',
  ctx: SkipContext,
): boolean {
  for (const skip of skips) {
    if (skip.context !== context && skip.context !== 'both') continue;
    const sets = skip.sets.filter((s) => inEffect(s, ctx.referenceDate));
    if (sets.length === 0) continue;
    const met = skip.setLogic === 'and' ? sets.every((s) => setMet(s, ctx)) : sets.some((s) => setMet(s, ctx));
    if (met) return true;
  }
  return false;
}

function inEffect(set: SkipSet, date: Day): boolean {
  return (set.effectiveDate === undefined || date >= set.effectiveDate) && (set.cessationDate === undefined || date < set.cessationDate);
}

function setMet(set: SkipSet, ctx: SkipContext): boolean {
  if (set.conditions.length === 0) return false;
  return set.conditionLogic === 'or'
    ? set.conditions.some((c) => conditionMet(c, ctx))
    : set.conditions.every((c) => conditionMet(c, ctx));
}

function conditionMet(c: SkipCondition, ctx: SkipContext): boolean {
  switch (c.type) {
    case 'age': {
      const begin = dateAtAge(ctx.patient, c.beginAge) ?? FAR_PAST;
      const end = dateAtAge(ctx.patient, c.endAge) ?? FAR_FUTURE;
      return ctx.referenceDate >= begin && ctx.referenceDate < end;
    }
    case 'interval': {
      const previous = ctx.previousDoses[ctx.previousDoses.length - 1];
      if (!previous || !c.interval) return false;
      return ctx.referenceDate >= addDuration(previous.date, c.interval);
    }
    case 'vaccine count by age':
    case 'vaccine count by date': {
      const byAge = c.type === 'vaccine count by age';
      const begin = byAge ? dateAtAge(ctx.patient, c.beginAge) ?? FAR_PAST : c.startDate ?? FAR_PAST;
      const end = byAge ? dateAtAge(ctx.patient, c.endAge) ?? FAR_FUTURE : c.endDate ?? FAR_FUTURE;
      const pool = c.doseType === 'valid' ? ctx.validDoses : ctx.allDoses;
      let count = 0;
      for (const d of pool) {
        if (c.vaccineTypes && !c.vaccineTypes.has(d.cvx)) continue;
        if (d.date >= begin && d.date < end) count++;
      }
      const target = c.doseCount ?? 0;
      switch (c.doseCountLogic) {
        case 'greater than':
          return count > target;
        case 'less than':
          return count < target;
        default:
          return count === target;
      }
    }
    case 'completed series':
      return (c.seriesGroups ?? []).some((g) => ctx.completedSeriesGroups.has(g));
    default:
      return false;
  }
}
