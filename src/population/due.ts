// What a forecast says is due or overdue on a date (CONTRACT.md "Reminder/recall and coverage"):
// a dose is due when its recommended date has come, overdue when its past-due date has come.
import type { ImmunizationRecommendation, ImmunizationRecommendationRecommendation } from '@medplum/fhirtypes';
import { DATE_CRITERIA } from '../forecast/index.js';

export type DueStatus = 'due' | 'overdue';

export interface DueItem {
  vaccineGroup: string;
  dose?: number;
  recommended?: string;
  pastDue?: string;
  status: DueStatus;
  /** The recommendation entry itself, for the ImmunizationRecommendation returned. */
  entry: ImmunizationRecommendationRecommendation;
}

function criterion(entry: ImmunizationRecommendationRecommendation, loinc: string): string | undefined {
  return entry.dateCriterion?.find((c) => c.code?.coding?.some((x) => x.code === loinc))?.value;
}

/** The vaccine groups due or overdue on asOf, optionally limited to some groups and statuses. */
export function dueItems(
  recommendation: ImmunizationRecommendation,
  asOf: string,
  filter: { groups?: ReadonlySet<string>; statuses?: ReadonlySet<DueStatus> } = {}
): DueItem[] {
  const items: DueItem[] = [];
  for (const entry of recommendation.recommendation ?? []) {
    const vaccineGroup = entry.vaccineCode?.[0]?.text ?? '';
    if (filter.groups && !filter.groups.has(vaccineGroup)) continue;
    if (entry.forecastStatus?.coding?.[0]?.code !== 'notComplete') continue;
    const recommended = criterion(entry, DATE_CRITERIA.recommended.code);
    const pastDue = criterion(entry, DATE_CRITERIA.pastDue.code);
    const status: DueStatus | undefined = pastDue !== undefined && pastDue <= asOf ? 'overdue' : recommended !== undefined && recommended <= asOf ? 'due' : undefined;
    if (!status || (filter.statuses && !filter.statuses.has(status))) continue;
    items.push({ vaccineGroup, dose: entry.doseNumberPositiveInt, recommended, pastDue, status, entry });
  }
  return items;
}
