// CDC's CDSi test cases (test/fixtures/cdsi) run through the $immds-forecast POST handler's own
// code path, and compared field by field: each dose's evaluation status and reason for the case's
// vaccine group, and the group's series status, dose number, earliest, recommended and past-due
// dates. Used by `npm run eval:cdsi` and by the pass-rate test.
import { readFileSync } from 'node:fs';
import type { Immunization, ImmunizationEvaluation, ImmunizationRecommendation, Parameters } from '@medplum/fhirtypes';
import { forecastParameters } from '../operations/immds-forecast.js';
import { CDSI_OBSERVATION_SYSTEM, CVX_SYSTEM, DATE_CRITERIA, MVX_SYSTEM } from './fhir.js';
import type { SupportingData } from './supporting-data.js';

export interface CdsiCase {
  id: string;
  name: string;
  dob: string;
  gender: string;
  assessmentDate: string;
  vaccineGroup: string;
  seriesStatus: string;
  doses: {
    dateAdministered: string;
    cvx: string;
    mvx: string | null;
    evaluationStatus: string | null;
    evaluationReason: string | null;
  }[];
  forecast: { number: number | null; earliest: string | null; recommended: string | null; pastDue: string | null } | null;
  observations?: { code: string; text: string; date: string | null }[];
  medHistory?: { code: string | null };
}

export interface CaseResult {
  id: string;
  vaccineGroup: string;
  evaluationsRight: boolean;
  forecastRight: boolean;
  differences: string[];
}

export const CASE_FILES = {
  healthy: new URL('../../test/fixtures/cdsi/test-cases.json', import.meta.url),
  conditions: new URL('../../test/fixtures/cdsi/test-cases-underlying-conditions.json', import.meta.url),
} as const;

export function loadCases(file: URL): CdsiCase[] {
  return JSON.parse(readFileSync(file, 'utf8')) as CdsiCase[];
}

// The test files label vaccine groups with their own short names; the schedule's names are the
// ones the engine answers with.
const TEST_CASE_GROUP_LABELS: Record<string, string> = {
  DTAP: 'DTaP/Tdap/Td',
  POL: 'Polio',
  IPOL: 'Polio',
  PCV: 'Pneumococcal',
  VAR: 'Varicella',
  ROTA: 'Rotavirus',
  MCV: 'Meningococcal',
  MENB: 'Meningococcal B',
  FLU: 'Influenza',
};

export function scheduleGroupName(label: string, data: SupportingData): string {
  const exact = data.vaccineGroups.find((g) => g.name.toLowerCase() === label.toLowerCase());
  return exact?.name ?? TEST_CASE_GROUP_LABELS[label.toUpperCase()] ?? label;
}

export function caseToParameters(c: CdsiCase): Parameters {
  // CDSi observations become Conditions; a dated observation (weeks of gestation) keeps its date.
  const observations = new Map<string, string | null>();
  for (const o of c.observations ?? []) if (o.code) observations.set(o.code, o.date ?? observations.get(o.code) ?? null);
  if (c.medHistory?.code && !observations.has(c.medHistory.code)) observations.set(c.medHistory.code, null);
  const immunizations: Immunization[] = c.doses.map((d, i) => ({
    resourceType: 'Immunization',
    id: `dose-${i + 1}`,
    status: 'completed',
    patient: { reference: `Patient/${c.id}` },
    vaccineCode: { coding: [{ system: CVX_SYSTEM, code: d.cvx }] },
    occurrenceDateTime: d.dateAdministered,
    ...(d.mvx ? { manufacturer: { identifier: { system: MVX_SYSTEM, value: d.mvx } } } : {}),
  }));
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'assessmentDate', valueDate: c.assessmentDate },
      {
        name: 'patient',
        resource: { resourceType: 'Patient', id: c.id, birthDate: c.dob, gender: c.gender === 'F' ? 'female' : c.gender === 'M' ? 'male' : 'unknown' },
      },
      ...immunizations.map((resource) => ({ name: 'immunization', resource })),
      ...[...observations].map(([code, date], i) => ({
        name: 'condition',
        resource: {
          resourceType: 'Condition' as const,
          id: `obs-${i + 1}`,
          subject: { reference: `Patient/${c.id}` },
          code: { coding: [{ system: CDSI_OBSERVATION_SYSTEM, code }] },
          ...(date ? { onsetDateTime: date } : {}),
        },
      })),
    ],
  };
}

const norm = (s: string | null | undefined) => (s ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');

function evaluationStatus(e: ImmunizationEvaluation): string {
  if (e.doseStatus.coding?.some((c) => c.code === 'extraneous')) return 'Extraneous';
  return e.doseStatus.coding?.some((c) => c.code === 'valid') ? 'Valid' : 'Not Valid';
}

export function runCase(c: CdsiCase, data: SupportingData): CaseResult {
  const groupName = scheduleGroupName(c.vaccineGroup, data);
  const antigens = new Set(data.vaccineGroups.find((g) => g.name === groupName)?.antigens ?? []);
  const differences: string[] = [];
  let answer: Parameters;
  try {
    answer = forecastParameters(caseToParameters(c));
  } catch (err) {
    return { id: c.id, vaccineGroup: groupName, evaluationsRight: false, forecastRight: false, differences: [`error: ${(err as Error).message}`] };
  }
  const evaluations = (answer.parameter ?? []).filter((p) => p.name === 'evaluation').map((p) => p.resource as ImmunizationEvaluation);
  const recommendation = answer.parameter?.find((p) => p.name === 'recommendation')?.resource as ImmunizationRecommendation;

  let evaluationsRight = true;
  c.doses.forEach((d, i) => {
    if (!d.evaluationStatus) return;
    const ofDose = evaluations.filter((e) => e.immunizationEvent.reference === `Immunization/dose-${i + 1}`);
    // A case may list doses of other vaccine groups (a varicella dose in an MMR case): those are
    // judged by their own antigens.
    const inGroup = ofDose.filter((e) => antigens.has(e.targetDisease.text ?? ''));
    const ours = inGroup.length > 0 ? inGroup : ofDose;
    let status = 'none';
    let reasons: string[] = [];
    if (ours.length > 0) {
      // Per vaccine group: not valid for any antigen is not valid; otherwise a dose that counts for
      // some antigen (a decennial Tdap after the pertussis series is complete) is valid.
      const notValid = ours.find((e) => evaluationStatus(e) === 'Not Valid');
      const valid = ours.find((e) => evaluationStatus(e) === 'Valid');
      const extraneous = ours.find((e) => evaluationStatus(e) === 'Extraneous');
      const decisive = notValid ?? (valid ? undefined : extraneous);
      status = decisive ? evaluationStatus(decisive) : 'Valid';
      reasons = (decisive?.doseStatusReason ?? []).map((r) => r.text ?? '');
    }
    const statusOk = norm(status) === norm(d.evaluationStatus);
    // CDSi may give several reasons; CDC's case names one of them.
    const reasonOk = !d.evaluationReason || reasons.some((r) => norm(r) === norm(d.evaluationReason));
    if (!statusOk || !reasonOk) {
      evaluationsRight = false;
      differences.push(`dose ${i + 1} (${d.cvx} ${d.dateAdministered}): expected ${d.evaluationStatus}${d.evaluationReason ? ` / ${d.evaluationReason}` : ''}, got ${status}${reasons.length > 0 ? ` / ${reasons.join(' + ')}` : ''}`);
    }
  });

  let forecastRight = true;
  const rec = recommendation?.recommendation.find((r) => r.vaccineCode?.[0]?.text === groupName);
  if (!rec) {
    forecastRight = false;
    differences.push(`no recommendation for ${groupName}`);
  } else {
    const status = rec.forecastStatus.text ?? '';
    if (norm(status) !== norm(c.seriesStatus)) {
      forecastRight = false;
      differences.push(`status: expected ${c.seriesStatus}, got ${status}`);
    }
    const date = (code: string) => rec.dateCriterion?.find((d) => d.code.coding?.[0]?.code === code)?.value?.slice(0, 10) ?? null;
    const expected = c.forecast ?? { number: null, earliest: null, recommended: null, pastDue: null };
    const got = {
      number: rec.doseNumberPositiveInt ?? null,
      earliest: date(DATE_CRITERIA.earliest.code),
      recommended: date(DATE_CRITERIA.recommended.code),
      pastDue: date(DATE_CRITERIA.pastDue.code),
    };
    // Dose number and dates are compared only when CDC expects a forecast (status Not Complete).
    if (norm(c.seriesStatus) === 'notcomplete') {
      for (const key of ['number', 'earliest', 'recommended', 'pastDue'] as const) {
        if (String(expected[key] ?? null) !== String(got[key] ?? null)) {
          forecastRight = false;
          differences.push(`${key}: expected ${expected[key] ?? '-'}, got ${got[key] ?? '-'}`);
        }
      }
    }
  }
  return { id: c.id, vaccineGroup: groupName, evaluationsRight, forecastRight, differences };
}

export interface Tally {
  cases: number;
  evaluationsRight: number;
  forecastsRight: number;
  fullyRight: number;
}

export function tally(results: readonly CaseResult[]): { overall: Tally; byGroup: Map<string, Tally> } {
  const empty = (): Tally => ({ cases: 0, evaluationsRight: 0, forecastsRight: 0, fullyRight: 0 });
  const overall = empty();
  const byGroup = new Map<string, Tally>();
  for (const r of results) {
    const g = byGroup.get(r.vaccineGroup) ?? empty();
    for (const t of [overall, g]) {
      t.cases++;
      if (r.evaluationsRight) t.evaluationsRight++;
      if (r.forecastRight) t.forecastsRight++;
      if (r.evaluationsRight && r.forecastRight) t.fullyRight++;
    }
    byGroup.set(r.vaccineGroup, g);
  }
  return { overall, byGroup };
}
