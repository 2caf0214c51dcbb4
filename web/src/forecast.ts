// The $immds-forecast answer (CONTRACT.md "Forecasting") as rows the record screen shows.
import type { ImmunizationEvaluation, ImmunizationRecommendation, Parameters } from './fhir-types';

export const LOINC_EARLIEST = '30981-5';
export const LOINC_RECOMMENDED = '30980-7';
export const LOINC_PAST_DUE = '59778-1';
export const LOINC_LATEST = '59777-3';

export type Urgency = 'overdue' | 'due' | 'upcoming' | 'none';

export interface ForecastRow {
  group: string;
  status: string;
  dose?: string;
  earliest?: string;
  recommended?: string;
  pastDue?: string;
  latest?: string;
  urgency: Urgency;
}

export interface EvaluationRow {
  antigen: string;
  valid: boolean;
  reason?: string;
  series?: string;
}

export interface Forecast {
  rows: ForecastRow[];
  /** Evaluations keyed by the Immunization id they judge. */
  evaluations: Map<string, EvaluationRow[]>;
}

const STATUS_TEXT: Record<string, string> = {
  complete: 'Complete',
  notComplete: 'Not complete',
  immune: 'Immune',
  contraindicated: 'Contraindicated',
  agedOut: 'Aged out',
  notRecommended: 'Not recommended',
};

export function readForecast(params: Parameters, asOf: string): Forecast {
  const parts = params.parameter ?? [];
  const recommendation = parts.find((p) => p.name === 'recommendation')?.resource as ImmunizationRecommendation | undefined;
  const rows: ForecastRow[] = (recommendation?.recommendation ?? []).map((r) => {
    const date = (code: string) => r.dateCriterion?.find((d) => d.code?.coding?.some((c) => c.code === code))?.value?.slice(0, 10);
    const statusCode = r.forecastStatus?.coding?.[0]?.code ?? '';
    const row: ForecastRow = {
      group: r.vaccineCode?.[0]?.text ?? r.vaccineCode?.[0]?.coding?.[0]?.display ?? r.targetDisease?.text ?? 'Vaccine',
      status: STATUS_TEXT[statusCode] ?? r.forecastStatus?.text ?? statusCode,
      dose: r.doseNumberPositiveInt !== undefined ? String(r.doseNumberPositiveInt) : r.doseNumberString,
      earliest: date(LOINC_EARLIEST),
      recommended: date(LOINC_RECOMMENDED),
      pastDue: date(LOINC_PAST_DUE),
      latest: date(LOINC_LATEST),
      urgency: 'none',
    };
    if (statusCode === 'notComplete') {
      if (row.pastDue && row.pastDue <= asOf) row.urgency = 'overdue';
      else if (row.recommended && row.recommended <= asOf) row.urgency = 'due';
      else row.urgency = 'upcoming';
    }
    return row;
  });
  const order: Record<Urgency, number> = { overdue: 0, due: 1, upcoming: 2, none: 3 };
  rows.sort((a, b) => order[a.urgency] - order[b.urgency] || (a.recommended ?? '9').localeCompare(b.recommended ?? '9') || a.group.localeCompare(b.group));

  const evaluations = new Map<string, EvaluationRow[]>();
  for (const p of parts) {
    if (p.name !== 'evaluation' || p.resource?.resourceType !== 'ImmunizationEvaluation') continue;
    const e = p.resource as ImmunizationEvaluation;
    const id = e.immunizationEvent?.reference?.split('/').pop();
    if (!id) continue;
    const list = evaluations.get(id) ?? [];
    list.push({
      antigen: e.targetDisease?.text ?? e.targetDisease?.coding?.[0]?.display ?? 'Antigen',
      valid: e.doseStatus?.coding?.some((c) => c.code === 'valid') ?? false,
      reason: e.doseStatusReason?.map((r) => r.text ?? r.coding?.[0]?.display).filter(Boolean).join('; ') || undefined,
      series: e.series,
    });
    evaluations.set(id, list);
  }
  return { rows, evaluations };
}
