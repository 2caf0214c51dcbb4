// FHIR in, FHIR out around the CDSi engine: Patient + Immunizations + Conditions become a
// PatientRecord; the engine's evaluations and vaccine-group forecasts become
// ImmunizationEvaluations and one ImmunizationRecommendation shaped as CONTRACT.md "Forecasting".
import type {
  CodeableConcept,
  Condition,
  Extension,
  Immunization,
  ImmunizationEvaluation,
  ImmunizationRecommendation,
  ImmunizationRecommendationRecommendation,
  Patient,
} from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcome.js';
import { type Day, formatDay, parseIsoDate } from './dates.js';
import { runCdsi } from './engine.js';
import type { AdministeredDose, DoseEvaluation, EngineResult, Forecast, SeriesStatus } from './model.js';
import type { SupportingData } from './supporting-data.js';

export const CVX_SYSTEM = 'http://hl7.org/fhir/sid/cvx';
export const MVX_SYSTEM = 'http://hl7.org/fhir/sid/mvx';
/**
 * The HL7 OIDs of the CVX and MVX tables (HL7 tables 0292 and 0227): the server stores doses coded
 * with them as CVX / MVX (src/terminology), so the forecast reads them as such too — a dose coded
 * `urn:oid:2.16.840.1.113883.12.292` was stored and then counted for nothing.
 */
const CVX_SYSTEMS: readonly string[] = [CVX_SYSTEM, 'urn:oid:2.16.840.1.113883.12.292'];
const MVX_SYSTEMS: readonly string[] = [MVX_SYSTEM, 'urn:oid:2.16.840.1.113883.12.227'];
export const CDSI_OBSERVATION_SYSTEM = 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html';
export const SNOMED_SYSTEM = 'http://snomed.info/sct';
/** CDC PHIN VADS code system for the VXC observation codes. */
export const CDCPHINVS_SYSTEMS = ['urn:oid:2.16.840.1.114222.4.5.274', 'CDCPHINVS', 'http://phinvads.cdc.gov'];
export const FORECAST_STATUS_SYSTEM = 'http://hl7.org/fhir/us/immds/CodeSystem/ForecastStatus';
export const DOSE_STATUS_SYSTEM = 'http://terminology.hl7.org/CodeSystem/immunization-evaluation-dose-status';
export const LOINC_SYSTEM = 'http://loinc.org';

/**
 * Extensions holding a patient observation reported with a dose (HL7 v2 OBX 59784-9 "evidence of
 * immunity" and 30945-0 "contraindication", stored on the Immunization — or the Patient — by
 * src/hl7v2 with the same URLs): each valueCodeableConcept (SNOMED, CDCPHINVS or a CDSi code) is
 * an observation for the forecast, dated by the Immunization's occurrence.
 */
export const OBSERVATION_EXTENSIONS = [
  'https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity',
  'https://iis-fhir-server.org/fhir/StructureDefinition/contraindication',
] as const;

export const DATE_CRITERIA = {
  earliest: { code: '30981-5', display: 'Earliest date to give' },
  recommended: { code: '30980-7', display: 'Date vaccine due' },
  pastDue: { code: '59778-1', display: 'Date when overdue for immunization' },
  latest: { code: '59777-3', display: 'Latest date to give immunization' },
} as const;

const DATE_CRITERION_KEYS = Object.keys(DATE_CRITERIA) as (keyof typeof DATE_CRITERIA)[];

const FORECAST_STATUS: Record<SeriesStatus, string> = {
  'Not Complete': 'notComplete',
  Complete: 'complete',
  Immune: 'immune',
  Contraindicated: 'contraindicated',
  'Aged Out': 'agedOut',
  'Not Recommended': 'notRecommended',
};

export interface ForecastInput {
  assessmentDate: string;
  patient: Patient;
  immunizations: Immunization[];
  conditions?: Condition[];
}

export interface ForecastOutput {
  evaluations: ImmunizationEvaluation[];
  recommendation: ImmunizationRecommendation;
}

/**
 * An array element of the input, or none: the POST form's resources are not validated before they
 * get here, so `coding: {}` or `extension: "x"` must mean "nothing", never a crash.
 */
function listOf<T>(value: T[] | undefined): T[] {
  return Array.isArray(value) ? value.filter((v) => v !== null && typeof v === 'object') : [];
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function requireDate(value: string | undefined, what: string, expression: string): Day {
  const day = parseIsoDate(value);
  if (day === undefined || !/^\d{4}-\d{2}-\d{2}/.test(value ?? '')) {
    throw badRequest(`${what} must be a full date (YYYY-MM-DD), got ${JSON.stringify(value ?? null)}`, { expression });
  }
  return day;
}

/** The dose's CVX code, two digits at least ("3" and "03" are the same vaccine). */
export function cvxOf(imm: Immunization): string | undefined {
  const coding = listOf(imm.vaccineCode?.coding);
  const cvx = coding.find((c) => CVX_SYSTEMS.includes(c.system as string) && text(c.code)) ?? coding.find((c) => !c.system && text(c.code));
  const code = text(cvx?.code)?.trim();
  // CVX codes are written with or without their leading zero ("3" / "03"); CDC's tables use two digits.
  return code && /^\d+$/.test(code) ? code.padStart(2, '0') : code;
}

function mvxOf(imm: Immunization): string | undefined {
  const identifier = imm.manufacturer?.identifier;
  const value = text(identifier?.value);
  if (value && (!identifier!.system || MVX_SYSTEMS.includes(identifier!.system))) return value.trim().toUpperCase();
  return undefined;
}

/**
 * Condition codes to CDSi observation codes (direct, or SNOMED / CDCPHINVS via the supporting data).
 * `vaccines`: the CVX codes of the doses the Condition was reported with (its `evidence.detail`),
 * which tell "allergy to a previous dose of this vaccine" (VXC20) apart; see observationCodesOfConcept.
 */
export function observationCodesOf(condition: Condition, data: SupportingData, vaccines?: readonly string[]): string[] {
  return observationCodesOfConcept(condition.code, data, vaccines);
}

/**
 * A coded value (SNOMED, CDCPHINVS or a CDSi code) → the CDSi observation codes it stands for.
 *
 * CDSi codes in the concept are the precise translation (the server writes them beside the code
 * sent): when there are any, they alone count. A SNOMED or CDC PHIN VADS code the supporting data
 * lists on several observations stands for:
 * - with `vaccines` (the CVX of the dose it was reported with), the observations that name one of
 *   those vaccines (VXC20 on a DTaP dose: the allergies to diphtheria, tetanus and pertussis);
 * - otherwise the observations that name no vaccine (VXC20 without a vaccine: 080, an adverse
 *   reaction to a vaccine component, which contraindicates every vaccine — a clinician must look
 *   rather than the forecast recommend a dose the child may have reacted to);
 * - otherwise all of them (SNOMED AIDS: 154 and 155; recombinant and live zoster allergy: both), so
 *   a contraindication is never dropped because the code was less precise than the observations.
 */
export function observationCodesOfConcept(concept: CodeableConcept | undefined, data: SupportingData, vaccines?: readonly string[]): string[] {
  const direct: string[] = [];
  const mapped: string[] = [];
  for (const c of listOf(concept?.coding)) {
    const code = text(c.code);
    if (!code) continue;
    if (c.system === CDSI_OBSERVATION_SYSTEM) {
      if (data.observations.has(code)) direct.push(code);
      else if (/^\d{1,3}$/.test(code) && data.observations.has(code.padStart(3, '0'))) direct.push(code.padStart(3, '0'));
    } else if (c.system === SNOMED_SYSTEM) {
      mapped.push(...chooseObservations(data.observationsByCodedValue.get(`SNOMED|${code}`), data, vaccines));
    } else if (c.system && CDCPHINVS_SYSTEMS.includes(c.system)) {
      mapped.push(...chooseObservations(data.observationsByCodedValue.get(`CDCPHINVS|${code}`), data, vaccines));
    }
  }
  return [...new Set(direct.length > 0 ? direct : mapped)];
}

function chooseObservations(candidates: readonly string[] | undefined, data: SupportingData, vaccines: readonly string[] | undefined): readonly string[] {
  if (!candidates || candidates.length <= 1) return candidates ?? [];
  const given = vaccines && vaccines.length > 0 ? new Set(vaccines) : undefined;
  if (given) {
    const ofTheVaccine = candidates.filter((o) => [...(data.observationVaccines.get(o) ?? [])].some((cvx) => given.has(cvx)));
    if (ofTheVaccine.length > 0) return ofTheVaccine;
  }
  const general = candidates.filter((o) => !data.observationVaccines.has(o));
  return general.length > 0 ? general : candidates;
}

const EXCLUDED_VERIFICATION = new Set(['refuted', 'entered-in-error']);
/** Clinical statuses saying the condition no longer holds (http://terminology.hl7.org/CodeSystem/condition-clinical). */
const ENDED_CLINICAL = new Set(['inactive', 'resolved']);

/** The condition had ended by the assessment date: inactive / resolved, and no abatement after that date. */
function endedBy(condition: Condition, assessmentDate: Day): boolean {
  const clinical = listOf(condition.clinicalStatus?.coding)[0]?.code;
  if (!clinical || !ENDED_CLINICAL.has(clinical)) return false;
  const abated = parseIsoDate(condition.abatementDateTime);
  return abated === undefined || abated <= assessmentDate;
}

const immunityCodesOf = new WeakMap<SupportingData, ReadonlySet<string>>();
/** Every observation code some antigen takes as evidence of immunity. */
function immunityCodes(data: SupportingData): ReadonlySet<string> {
  let codes = immunityCodesOf.get(data);
  if (!codes) {
    codes = new Set([...data.antigens.values()].flatMap((a) => a.immunityObservationCodes));
    immunityCodesOf.set(data, codes);
  }
  return codes;
}

const contraindicationCodesOf = new WeakMap<SupportingData, ReadonlySet<string>>();
/** Every observation code some antigen takes as a contraindication (vaccine group or vaccine). */
function contraindicationCodes(data: SupportingData): ReadonlySet<string> {
  let codes = contraindicationCodesOf.get(data);
  if (!codes) {
    codes = new Set([...data.antigens.values()].flatMap((a) => [...a.groupContraindications, ...a.vaccineContraindications].map((c) => c.code)));
    contraindicationCodesOf.set(data, codes);
  }
  return codes;
}

/**
 * What a Condition tells the forecast on `assessmentDate`, by the rules toPatientRecord applies:
 * the CDSi codes it carries that count as evidence of immunity, and those that count as a
 * contraindication (none when entered in error or refuted; a resolved one stays evidence of immunity only).
 */
export function conditionObservations(
  condition: Condition,
  assessmentDate: Day,
  data: SupportingData,
  vaccines?: readonly string[]
): { immunity: string[]; contraindication: string[] } {
  const verification = listOf(condition.verificationStatus?.coding)[0]?.code;
  if (verification && EXCLUDED_VERIFICATION.has(verification)) return { immunity: [], contraindication: [] };
  const codes = observationCodesOf(condition, data, vaccines);
  const ended = endedBy(condition, assessmentDate);
  return {
    immunity: codes.filter((c) => immunityCodes(data).has(c)),
    contraindication: ended ? [] : codes.filter((c) => contraindicationCodes(data).has(c)),
  };
}

export function toPatientRecord(input: ForecastInput, data: SupportingData) {
  const assessmentDate = requireDate(input.assessmentDate, 'assessmentDate', 'assessmentDate');
  const birthDate = requireDate(input.patient?.birthDate, 'Patient.birthDate', 'Patient.birthDate');
  const gender = input.patient.gender === 'female' || input.patient.gender === 'male' ? input.patient.gender : 'unknown';
  const doses: AdministeredDose[] = [];
  listOf(input.immunizations).forEach((imm, index) => {
    if (imm.status === 'entered-in-error' || imm.status === 'not-done') return;
    const date = parseIsoDate(imm.occurrenceDateTime ?? imm.occurrenceString);
    const cvx = cvxOf(imm);
    if (date === undefined || !cvx || date > assessmentDate) return;
    const expiration = parseIsoDate(imm.expirationDate);
    const condition = imm.isSubpotent ? 'subpotent' : expiration !== undefined && expiration < date ? 'expired' : undefined;
    doses.push({ id: imm.id ?? String(index), date, cvx, mvx: mvxOf(imm), ...(condition ? { condition } : {}) });
  });
  const observations = new Map<string, Day | undefined>();
  // A Condition recorded from a dose's OBX (src/hl7v2: `evidence.detail` names that Immunization,
  // which keeps the OBX as an extension) is the same piece of evidence as the extension: the
  // Condition decides whether it counts (entered in error, refuted, resolved), the extension still
  // dates it as before. `Immunization/<id>|<observation code>`.
  const recordedAsCondition = new Set<string>();
  // The vaccine of each dose, for a code that names "this vaccine" (VXC20): `Immunization/<id>` → CVX.
  const vaccineOf = new Map<string, string>();
  for (const imm of listOf(input.immunizations)) {
    const cvx = cvxOf(imm);
    if (imm.id && cvx) vaccineOf.set(`Immunization/${imm.id}`, cvx);
  }
  const dosesOf = (condition: Condition) =>
    listOf(condition.evidence).flatMap((e) => listOf(e.detail)).map((d) => text(d.reference)).filter((r): r is string => !!r && r.startsWith('Immunization/'));
  const vaccinesOf = (doses: string[]) => doses.map((d) => vaccineOf.get(d)).filter((cvx): cvx is string => cvx !== undefined);
  for (const condition of listOf(input.conditions)) {
    const doses = dosesOf(condition);
    if (doses.length === 0) continue;
    for (const code of observationCodesOf(condition, data, vaccinesOf(doses))) for (const dose of doses) recordedAsCondition.add(`${dose}|${code}`);
  }
  for (const condition of listOf(input.conditions)) {
    const verification = listOf(condition.verificationStatus?.coding)[0]?.code;
    if (verification && EXCLUDED_VERIFICATION.has(verification)) continue;
    const onset = parseIsoDate(condition.onsetDateTime ?? condition.recordedDate);
    const ended = endedBy(condition, assessmentDate);
    for (const code of observationCodesOf(condition, data, vaccinesOf(dosesOf(condition)))) {
      // A resolved contraindication or indication (pregnancy over, treatment stopped) no longer
      // applies; a resolved disease stays evidence of immunity — its history is the evidence.
      if (ended && !immunityCodes(data).has(code)) continue;
      // The earliest dated report dates it, whatever order the Conditions come in (a store's order is
      // its own: the backfill of older records, src/hl7v2/backfill-conditions.ts, must not change a forecast).
      const known = observations.get(code);
      if (!observations.has(code) || (onset !== undefined && (known === undefined || onset < known))) observations.set(code, onset ?? known);
    }
  }
  const observe = (extensions: Extension[] | undefined, date: Day | undefined, reference?: string, vaccine?: string) => {
    for (const ext of listOf(extensions)) {
      if (!(OBSERVATION_EXTENSIONS as readonly string[]).includes(ext.url)) continue;
      for (const code of observationCodesOfConcept(ext.valueCodeableConcept, data, vaccine ? [vaccine] : undefined)) {
        // Its Condition did not count (entered in error, resolved contraindication): neither does the extension.
        if (reference && !observations.has(code) && recordedAsCondition.has(`${reference}|${code}`)) continue;
        // The earliest report dates an observation; one already given undated stays undated.
        if (!observations.has(code)) observations.set(code, date);
        else if (date !== undefined && observations.get(code) !== undefined && date < observations.get(code)!) observations.set(code, date);
      }
    }
  };
  observe(input.patient.extension, undefined);
  for (const imm of listOf(input.immunizations)) {
    if (imm.status === 'entered-in-error' || !imm.extension) continue;
    const date = parseIsoDate(imm.occurrenceDateTime ?? imm.occurrenceString);
    if (date !== undefined && date > assessmentDate) continue;
    observe(imm.extension, date, imm.id ? `Immunization/${imm.id}` : undefined, cvxOf(imm));
  }
  return { assessmentDate, birthDate, gender, doses, observations };
}

function patientReference(patient: Patient) {
  return patient.id ? { reference: `Patient/${patient.id}` } : { display: 'Patient given in the request' };
}

function evaluationResource(e: DoseEvaluation, patient: Patient, date: string): ImmunizationEvaluation {
  const valid = e.status === 'Valid';
  const doseStatus: CodeableConcept = {
    coding: [{ system: DOSE_STATUS_SYSTEM, code: valid ? 'valid' : 'notvalid', display: valid ? 'Valid' : 'Not valid' }],
    text: e.status,
  };
  // CDSi's third status has no code of its own in the FHIR dose-status system: say it beside.
  if (e.status === 'Extraneous') doseStatus.coding!.push({ system: CDSI_OBSERVATION_SYSTEM, code: 'extraneous', display: 'Extraneous' });
  // Optional elements are assigned in place (no spread of temporary objects: one resource per dose
  // and antigen); the order of assignment is the order of the JSON.
  const resource: ImmunizationEvaluation = {
    resourceType: 'ImmunizationEvaluation',
    status: 'completed',
    patient: patientReference(patient),
    date,
    targetDisease: { text: e.antigen },
    immunizationEvent: { reference: `Immunization/${e.dose.id}` },
    doseStatus,
  };
  if (e.reasons.length > 0) resource.doseStatusReason = e.reasons.map((text) => ({ text }));
  resource.series = e.series;
  if (e.targetDose !== undefined) resource.doseNumberPositiveInt = e.targetDose;
  return resource;
}

function recommendationEntry(
  group: string,
  antigens: readonly string[],
  forecast: Forecast,
  series: string | undefined,
  contraindicatedVaccines: readonly string[],
): ImmunizationRecommendationRecommendation {
  const criteria: ImmunizationRecommendationRecommendation['dateCriterion'] = [];
  for (const k of DATE_CRITERION_KEYS) {
    const day = forecast[k];
    if (day === undefined) continue;
    criteria.push({ code: { coding: [{ system: LOINC_SYSTEM, code: DATE_CRITERIA[k].code, display: DATE_CRITERIA[k].display }] }, value: formatDay(day) });
  }
  const code = FORECAST_STATUS[forecast.status];
  // Optional elements are assigned in place, in the order of the JSON (see evaluationResource).
  const entry: ImmunizationRecommendationRecommendation = {
    vaccineCode: [{ text: group }],
    targetDisease: { text: antigens.join(', ') },
  } as ImmunizationRecommendationRecommendation;
  // CDSi vaccine-level contraindications: these vaccines must not fulfil the recommendation.
  if (contraindicatedVaccines.length > 0) {
    entry.contraindicatedVaccineCode = contraindicatedVaccines.map((code) => ({ coding: [{ system: CVX_SYSTEM, code }] }));
  }
  entry.forecastStatus = { coding: [{ system: FORECAST_STATUS_SYSTEM, code, display: forecast.status }], text: forecast.status };
  if (forecast.doseNumber !== undefined) entry.doseNumberPositiveInt = forecast.doseNumber;
  if (criteria.length > 0) entry.dateCriterion = criteria;
  if (series && forecast.status === 'Not Complete') entry.series = series;
  return entry;
}

export function toFhir(result: EngineResult, input: ForecastInput): ForecastOutput {
  const date = input.assessmentDate.slice(0, 10);
  const evaluations = result.evaluations.map((e) => evaluationResource(e, input.patient, date));
  const recommendation: ImmunizationRecommendation = {
    resourceType: 'ImmunizationRecommendation',
    patient: patientReference(input.patient),
    date,
    recommendation: result.vaccineGroups.map((g) =>
      recommendationEntry(g.vaccineGroup, g.antigens.map((a) => a.antigen), g.forecast, g.seriesName, g.contraindicatedVaccines),
    ),
  };
  return { evaluations, recommendation };
}

export function forecastWith(data: SupportingData, input: ForecastInput): ForecastOutput {
  const record = toPatientRecord(input, data);
  return toFhir(runCdsi(data, record), input);
}
