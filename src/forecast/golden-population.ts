// The inputs of the golden-output check (golden-output.test.ts, scripts/forecast-golden.ts): every
// CDC test case plus a generated, reproducible population (fast-check with a fixed seed) of
// children and adults with schedule-like and random dose histories, products (MVX), sub-potent and
// expired doses, entered-in-error / not-done records, doses after the assessment date, CDSi
// observations (as Conditions, dated or not, resolved, refuted, or as SNOMED / CDC PHIN VADS codes)
// and observation extensions on the Patient and on doses. The check compares the engine's whole
// output (evaluations and recommendation, as JSON) for each input: a change of speed must change
// no answer, and this reaches far more of the logic than CDC's cases alone.
import { createHash } from 'node:crypto';
import type { Condition, Immunization, Patient } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { CASE_FILES, caseToParameters, loadCases } from './cdc-test-cases.js';
import { formatDay, parseIsoDate } from './dates.js';
import { CDSI_OBSERVATION_SYSTEM, CDCPHINVS_SYSTEMS, CVX_SYSTEM, MVX_SYSTEM, OBSERVATION_EXTENSIONS, SNOMED_SYSTEM } from './fhir.js';
import type { ForecastFromFhirInput } from './index.js';
import type { SupportingData } from './supporting-data.js';

export interface GoldenInput {
  label: string;
  input: ForecastFromFhirInput;
}

/** Every CDC test case (healthy and underlying conditions) as forecast input. */
export function cdcCaseInputs(): GoldenInput[] {
  const out: GoldenInput[] = [];
  for (const [file, url] of Object.entries(CASE_FILES)) {
    for (const c of loadCases(url)) {
      const parameters = caseToParameters(c).parameter ?? [];
      const resource = (name: string) => parameters.filter((p) => p.name === name).map((p) => p.resource);
      out.push({
        label: `cdc ${file} ${c.id}`,
        input: {
          assessmentDate: parameters.find((p) => p.name === 'assessmentDate')!.valueDate!,
          patient: resource('patient')[0] as Patient,
          immunizations: resource('immunization') as Immunization[],
          conditions: resource('condition') as Condition[],
        },
      });
    }
  }
  return out;
}

// A routine US schedule (CVX, days after birth) to draw schedule-like histories from: the doses
// land near the ages CDC recommends, jittered, some missing, some early.
const ROUTINE: readonly (readonly [string, readonly number[]])[] = [
  ['08', [0, 61, 183]],
  ['20', [61, 122, 183, 457, 1461]],
  ['110', [61, 122, 183]],
  ['10', [61, 122, 183, 1461]],
  ['49', [61, 122, 365]],
  ['133', [61, 122, 183, 395]],
  ['116', [61, 122, 183]],
  ['03', [365, 1461]],
  ['94', [365, 1461]],
  ['21', [365, 1461]],
  ['83', [365, 548]],
  ['141', [200, 230, 600, 950, 1300, 1700, 2100, 2500]],
  ['115', [4100]],
  ['165', [4100, 4300]],
  ['114', [4100, 5900]],
  ['163', [5900, 6100]],
  ['113', [8000, 11650, 15300]],
  ['187', [18300, 18400]],
  ['33', [23800]],
  ['300', [23800, 24000]],
  ['208', [7000, 7021]],
];

const day = (iso: string) => parseIsoDate(iso)!;

function dosesArbitrary(cvxCodes: readonly string[], mvxCodes: readonly string[]) {
  const extraDose = fc.record({
    cvx: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ROUTINE.map(([cvx]) => cvx)) }, { weight: 2, arbitrary: fc.constantFrom(...cvxCodes) }),
    // Spread over the patient's life; > 1 means after the assessment date (left out by the engine).
    at: fc.double({ min: 0, max: 1.05, noNaN: true }),
  });
  return fc.record({
    routineKept: fc.double({ min: 0, max: 1, noNaN: true }),
    jitter: fc.array(fc.integer({ min: -30, max: 120 }), { minLength: 40, maxLength: 40 }),
    extras: fc.array(extraDose, { maxLength: 14 }),
    mvx: fc.array(fc.option(fc.constantFrom(...mvxCodes), { freq: 3 }), { minLength: 60, maxLength: 60 }),
    flags: fc.array(fc.constantFrom('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'subpotent', 'expired', 'entered-in-error', 'not-done', 'cvx-unpadded', 'datetime'), {
      minLength: 60,
      maxLength: 60,
    }),
  });
}

function conditionsArbitrary(observationCodes: readonly string[], codedValues: readonly string[]) {
  const condition = fc.record({
    code: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...observationCodes).map((c) => ({ system: CDSI_OBSERVATION_SYSTEM, code: c })) }, {
      weight: 1,
      arbitrary: fc.constantFrom(...codedValues).map((key) => {
        const [system, code] = key.split('|') as [string, string];
        return { system: system === 'SNOMED' ? SNOMED_SYSTEM : CDCPHINVS_SYSTEMS[0]!, code };
      }),
    }),
    onsetAt: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 2 }),
    clinical: fc.constantFrom(undefined, undefined, 'active', 'resolved', 'inactive'),
    verification: fc.constantFrom(undefined, undefined, undefined, 'confirmed', 'refuted', 'entered-in-error'),
    abatementAt: fc.option(fc.double({ min: 0, max: 1.1, noNaN: true }), { freq: 3 }),
    onDose: fc.option(fc.nat(40), { freq: 4 }),
  });
  return fc.array(condition, { maxLength: 4 });
}

/** A reproducible population of `size` patients (the same inputs for the same seed and data). */
export function generatedInputs(data: SupportingData, size: number, seed = 20261207): GoldenInput[] {
  const cvxCodes = [...data.cvxToAntigens.keys()].sort();
  const mvxCodes = [
    ...new Set(
      [...data.antigens.values()].flatMap((a) => a.series.flatMap((s) => s.doses.flatMap((d) => d.preferableVaccines.map((v) => v.mvx).filter((m): m is string => !!m)))),
    ),
  ].sort();
  const observationCodes = [...data.observations.keys()].sort();
  const codedValues = [...data.observationsByCodedValue.keys()].sort();
  const patientArbitrary = fc.record({
    birth: fc.integer({ min: day('1940-01-01'), max: day('2026-06-30') }),
    // Mostly children (the practices' bulk), also adolescents, adults and the elderly.
    ageDays: fc.oneof(fc.integer({ min: 0, max: 2200 }), fc.integer({ min: 0, max: 7000 }), fc.integer({ min: 0, max: 32000 })),
    gender: fc.constantFrom('female', 'male', 'unknown', undefined),
    doses: dosesArbitrary(cvxCodes, mvxCodes),
    conditions: conditionsArbitrary(observationCodes, codedValues),
    patientObservation: fc.option(fc.constantFrom(...observationCodes), { freq: 12 }),
    doseObservation: fc.option(fc.record({ code: fc.constantFrom(...observationCodes), onDose: fc.nat(40) }), { freq: 8 }),
  });
  return fc.sample(patientArbitrary, { seed, numRuns: size }).map((p, n) => {
    const assessment = p.birth + p.ageDays;
    const doses: { cvx: string; date: number }[] = [];
    let j = 0;
    for (const [cvx, days] of ROUTINE) {
      for (const d of days) {
        const jitter = p.doses.jitter[j++ % p.doses.jitter.length]!;
        // routineKept: how far through the schedule this patient's record goes.
        if (d > p.ageDays * p.doses.routineKept) continue;
        doses.push({ cvx, date: p.birth + Math.max(0, d + jitter) });
      }
    }
    for (const e of p.doses.extras) doses.push({ cvx: e.cvx, date: p.birth + Math.round(p.ageDays * e.at) });
    const immunizations: Immunization[] = doses.map((d, i) => {
      const flag = p.doses.flags[i % p.doses.flags.length];
      const mvx = p.doses.mvx[i % p.doses.mvx.length];
      const date = formatDay(d.date);
      return {
        resourceType: 'Immunization',
        id: `d${i}`,
        status: flag === 'entered-in-error' || flag === 'not-done' ? flag : 'completed',
        patient: { reference: `Patient/p${n}` },
        vaccineCode: { coding: [{ system: CVX_SYSTEM, code: flag === 'cvx-unpadded' ? d.cvx.replace(/^0/, '') : d.cvx }] },
        occurrenceDateTime: flag === 'datetime' ? `${date}T10:30:00-05:00` : date,
        ...(mvx ? { manufacturer: { identifier: { system: MVX_SYSTEM, value: mvx } } } : {}),
        ...(flag === 'subpotent' ? { isSubpotent: true } : {}),
        ...(flag === 'expired' ? { expirationDate: formatDay(d.date - 10) } : {}),
      };
    });
    const observationExtension = (code: string) => ({
      url: OBSERVATION_EXTENSIONS[0],
      valueCodeableConcept: { coding: [{ system: CDSI_OBSERVATION_SYSTEM, code }] },
    });
    if (p.doseObservation && immunizations.length > 0) {
      const imm = immunizations[p.doseObservation.onDose % immunizations.length]!;
      imm.extension = [observationExtension(p.doseObservation.code)];
    }
    const conditions: Condition[] = p.conditions.map((c, i) => ({
      resourceType: 'Condition',
      id: `c${i}`,
      subject: { reference: `Patient/p${n}` },
      code: { coding: [c.code] },
      ...(c.onsetAt !== null ? { onsetDateTime: formatDay(p.birth + Math.round(p.ageDays * c.onsetAt)) } : {}),
      ...(c.clinical ? { clinicalStatus: { coding: [{ code: c.clinical }] } } : {}),
      ...(c.verification ? { verificationStatus: { coding: [{ code: c.verification }] } } : {}),
      ...(c.abatementAt !== null ? { abatementDateTime: formatDay(p.birth + Math.round(p.ageDays * c.abatementAt)) } : {}),
      ...(c.onDose !== null && immunizations.length > 0 ? { evidence: [{ detail: [{ reference: `Immunization/d${c.onDose % immunizations.length}` }] }] } : {}),
    }));
    return {
      label: `generated ${n}`,
      input: {
        assessmentDate: formatDay(assessment),
        patient: {
          resourceType: 'Patient',
          id: `p${n}`,
          birthDate: formatDay(p.birth),
          ...(p.gender ? { gender: p.gender as Patient['gender'] } : {}),
          ...(p.patientObservation ? { extension: [observationExtension(p.patientObservation)] } : {}),
        },
        immunizations,
        conditions,
      },
    };
  });
}

/** The engine's answer for one input as text: the output's JSON, or the error it threw. */
export function outputText(forecast: (input: ForecastFromFhirInput) => unknown, input: ForecastFromFhirInput): string {
  try {
    return JSON.stringify(forecast(input));
  } catch (err) {
    return `error: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** SHA-256 of every output, in order (one line each). */
export function outputsDigest(outputs: readonly string[]): string {
  const hash = createHash('sha256');
  for (const o of outputs) hash.update(o).update('\n');
  return hash.digest('hex');
}
