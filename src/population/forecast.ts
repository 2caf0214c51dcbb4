// The CDSi forecast for population runs: forecastFromFhir's engine (src/forecast) limited to the
// vaccine groups a run asks about. A reminder list for MMR or a coverage measure of seven groups
// need not forecast all 26 groups of the schedule: each group left out is work saved per patient
// (measured: all groups ≈ 5× the seven childhood groups, ≈ 35× MMR alone). The groups kept run in
// the schedule's own order, exactly as in the full forecast.
import type { Condition, Immunization, Patient } from '@medplum/fhirtypes';
import { badRequest, isFhirError } from '../fhir/outcome.js';
import { forecastWith } from '../forecast/fhir.js';
import { defaultSupportingData, type ForecastOutput } from '../forecast/index.js';
import type { SupportingData } from '../forecast/supporting-data.js';

export interface PopulationForecastInput {
  assessmentDate: string;
  patient: Patient;
  immunizations: Immunization[];
  /** The patient's stored Conditions (CDSi observations), when the caller may read them. */
  conditions?: Condition[];
}

const limited = new Map<string, SupportingData>();

/** The schedule's vaccine-group names, in its order (CONTRACT.md "Forecasting"). */
export function vaccineGroupNames(): string[] {
  return defaultSupportingData().vaccineGroups.map((g) => g.name);
}

/** The canonical group name for a user's spelling (case-insensitive), or a 400 naming the valid ones. */
export function canonicalGroup(name: string): string {
  const found = vaccineGroupNames().find((g) => g.toLowerCase() === name.trim().toLowerCase());
  if (!found) throw badRequest(`Unknown vaccine group "${name}"; CDSi vaccine groups: ${vaccineGroupNames().join(', ')}`, { expression: 'vaccineGroup' });
  return found;
}

function dataFor(groups: readonly string[] | undefined): SupportingData {
  const full = defaultSupportingData();
  if (!groups || groups.length === 0) return full;
  const key = [...groups].sort().join('|');
  let data = limited.get(key);
  if (!data) {
    const wanted = new Set(groups);
    data = { ...full, vaccineGroups: full.vaccineGroups.filter((g) => wanted.has(g.name)) };
    limited.set(key, data);
  }
  return data;
}

/** Forecast of the given vaccine groups only (all groups when none are given). */
export function forecastGroups(input: PopulationForecastInput, groups?: readonly string[]): ForecastOutput {
  return forecastWith(dataFor(groups), input);
}

/** A patient CDSi refuses (400: no full birth date) is left out of the run, not a failed run. */
export function forecastOrSkip(input: PopulationForecastInput, groups?: readonly string[]): ForecastOutput | undefined {
  try {
    return forecastGroups(input, groups);
  } catch (err) {
    if (isFhirError(err) && err.status === 400) return undefined;
    throw err;
  }
}
