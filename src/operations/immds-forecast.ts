// $immds-forecast (HL7 ImmDS IG) on the CDC CDSi engine of src/forecast:
// - POST /fhir/$immds-forecast: a Parameters with assessmentDate, patient, immunization*, condition*;
// - GET /fhir/Patient/{id}/$immds-forecast[?assessmentDate=]: the stored record (the Patient, its
//   Immunizations and, when the token may read them, its Conditions), read under the caller-scoped
//   store exactly like $everything (a hidden patient is a 403).
// Both answer a Parameters with evaluation* (ImmunizationEvaluation) and one recommendation.
import type { Condition, Immunization, OperationOutcomeIssue, Parameters, ParametersParameter, Patient, Resource } from '@medplum/fhirtypes';
import { grants } from '../auth/scopes.js';
import { badRequest, failWith, makeIssue } from '../fhir/outcome.js';
import { CDSI_OBSERVATION_SYSTEM, cvxOf, defaultSupportingData, forecastFromFhir, observationCodesOfConcept, type ForecastOutput } from '../forecast/index.js';
import { readCurrent } from '../interactions/read.js';
import type { FhirRequest, FhirResponse, Handler, HandlerContext } from '../interactions/types.js';
import { compareDates, isInFuture, parseFhirDate } from '../quality/dates.js';
import type { Filter } from '../store/store.js';
import { systemKind, type CodeSets } from '../terminology/code-sets.js';
import { withCvxFromNdc } from '../terminology/forecast-codes.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MAX_IMMUNIZATIONS = 10_000;
const MAX_CONDITIONS = 1_000;

/** The handler; `codeSets` (the server's CVX code set) judges the POSTed doses' vaccine codes. */
export function immdsForecastOperation(codeSets?: CodeSets): Handler {
  return async (req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> => {
    if (req.id !== undefined) {
      if (req.resourceType !== 'Patient') throw badRequest('$immds-forecast is defined on Patient instances and the system level');
      return { status: 200, body: await forecastStoredPatient(req, ctx, codeSets) };
    }
    if (req.resourceType !== undefined) throw badRequest('$immds-forecast is invoked at /fhir/$immds-forecast or /fhir/Patient/[id]/$immds-forecast');
    if (req.method !== 'POST') throw badRequest('POST a Parameters resource to /fhir/$immds-forecast (or GET /fhir/Patient/[id]/$immds-forecast)');
    return { status: 200, body: forecastParameters(req.body, { codeSets }) };
  };
}

export interface ForecastParametersOptions {
  /** The server's vaccine code sets: a CVX they do not know is refused (without them, none is). */
  codeSets?: CodeSets;
  /** The present moment, for doses and birth dates in the future (tests fix it). */
  now?: Date;
}

/** The POST body to the answer; pure (no store), so the CDSi evaluation tool runs exactly this. */
export function forecastParameters(body: unknown, options: ForecastParametersOptions = {}): Parameters {
  const input = readInput(body, options);
  return toParameters(forecastFromFhir({ ...input, immunizations: input.immunizations.map((imm) => withCvxFromNdc(imm, options.codeSets)) }));
}

function readInput(body: unknown, options: ForecastParametersOptions): { assessmentDate: string; patient: Patient; immunizations: Immunization[]; conditions: Condition[] } {
  const params = body as Parameters | undefined;
  if (!params || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw badRequest('$immds-forecast expects a Parameters resource');
  }
  let assessmentDate: string | undefined;
  let patient: Patient | undefined;
  const immunizations: Immunization[] = [];
  const conditions: Condition[] = [];
  const issues: string[] = [];
  const counts = { assessmentDate: 0, patient: 0 };
  if (params.parameter !== undefined && !Array.isArray(params.parameter)) throw badRequest('Parameters.parameter must be an array');
  (params.parameter ?? []).forEach((p: ParametersParameter, i) => {
    if (!p || typeof p !== 'object') {
      issues.push(`Parameters.parameter[${i}] must be an object`);
      return;
    }
    const where = `Parameters.parameter[${i}]`;
    switch (p.name) {
      case 'assessmentDate':
        counts.assessmentDate++;
        if (typeof p.valueDate !== 'string' || !DATE.test(p.valueDate)) issues.push(`${where}: assessmentDate needs valueDate YYYY-MM-DD`);
        else assessmentDate = p.valueDate;
        break;
      case 'patient':
        counts.patient++;
        if (resourceOf(p, 'Patient')) patient = p.resource as Patient;
        else issues.push(`${where}: patient needs a Patient resource`);
        break;
      case 'immunization':
        if (resourceOf(p, 'Immunization')) immunizations.push(p.resource as Immunization);
        else issues.push(`${where}: immunization needs an Immunization resource`);
        break;
      case 'condition':
        if (resourceOf(p, 'Condition')) conditions.push(p.resource as Condition);
        else issues.push(`${where}: condition needs a Condition resource`);
        break;
      default:
        // Other ImmDS inputs (e.g. a requested vaccine group) do not change CDSi's answer.
        break;
    }
  });
  if (counts.assessmentDate > 1) issues.push('assessmentDate is given more than once (ImmDS: 1..1)');
  if (counts.patient > 1) issues.push('patient is given more than once (ImmDS: 1..1): forecast one patient per request');
  if (!assessmentDate) issues.push('assessmentDate (valueDate) is required');
  if (!patient) issues.push('patient (a Patient resource with birthDate) is required');
  else if (!patient.birthDate || !DATE.test(patient.birthDate)) issues.push('patient.birthDate must be a full date (YYYY-MM-DD)');
  else if (assessmentDate && patient.birthDate > assessmentDate) issues.push(`patient.birthDate ${patient.birthDate} is after the assessmentDate ${assessmentDate}: there is nothing to forecast before birth`);
  const seenIds = new Set<string>();
  immunizations.forEach((imm, i) => {
    const name = typeof imm.id === 'string' && imm.id ? `immunization ${imm.id}` : `immunization ${i + 1}`;
    // Each ImmunizationEvaluation points at its dose by `Immunization/<id>`: without an id (or
    // with one id on two doses) the client cannot tell which dose an evaluation is about.
    if (typeof imm.id !== 'string' || !imm.id) issues.push(`${name}: an Immunization needs an id (each evaluation's immunizationEvent refers to it)`);
    else if (seenIds.has(imm.id)) issues.push(`${name}: two immunizations have the id "${imm.id}" (each evaluation's immunizationEvent refers to one)`);
    else seenIds.add(imm.id);
    const occurrence = parseFhirDate(imm.occurrenceDateTime);
    // A date the calendar does not have (2025-09-31) would drop the dose from the history unseen.
    if (!occurrence || (occurrence.precision !== 'day' && occurrence.precision !== 'time')) {
      issues.push(`${name}: occurrenceDateTime must hold a full, real date (YYYY-MM-DD or a dateTime), got ${JSON.stringify(imm.occurrenceDateTime ?? null)}`);
    }
    const coding = imm.vaccineCode?.coding;
    if (!Array.isArray(coding) || !coding.some((c) => c && typeof c.code === 'string' && c.code)) issues.push(`${name}: vaccineCode needs a CVX coding`);
  });
  for (const condition of conditions) {
    // A code written in the CDSi observation system that is no CDSi observation is a mistake that
    // would change nothing unseen: refused. Codes of other systems that map to no observation (a
    // problem list sent whole: asthma, otitis…) are other conditions, and are left out.
    const codings = Array.isArray(condition.code?.coding) ? condition.code.coding : [];
    const unknown = codings.filter((c) => c && typeof c === 'object' && c.system === CDSI_OBSERVATION_SYSTEM && observationCodesOfConcept({ coding: [c] }, defaultSupportingData()).length === 0);
    if (unknown.length > 0) {
      issues.push(`condition${typeof condition.id === 'string' ? ` ${condition.id}` : ''}: ${unknown.map((c) => `${CDSI_OBSERVATION_SYSTEM}|${c.code ?? ''}`).join(', ')} is no CDSi observation code (see CodeSystem/cdsi-observation)`);
    }
  }
  if (immunizations.length > MAX_IMMUNIZATIONS) issues.push(`at most ${MAX_IMMUNIZATIONS} immunizations per request`);
  if (conditions.length > MAX_CONDITIONS) issues.push(`at most ${MAX_CONDITIONS} conditions per request`);
  if (issues.length > 0) throw badRequest(issues.join('; '));
  const ruleIssues = ruleBreaches(patient!, immunizations, options);
  if (ruleIssues.length > 0) throw failWith(422, ruleIssues);
  return { assessmentDate: assessmentDate!, patient: patient!, immunizations, conditions };
}

/**
 * The data-quality rules (CONTRACT.md "Rule codes") a forecast input cannot pass either: a dose or a
 * birth in the future has not happened (a planned dose must not count as given), a dose before
 * birth is a wrong date (CDSi would grade it "too young" and go on), and a CVX the
 * server's code set does not know is no vaccine the forecast can place (it would silently count for nothing).
 */
function ruleBreaches(patient: Patient, immunizations: Immunization[], options: ForecastParametersOptions): OperationOutcomeIssue[] {
  const now = options.now ?? new Date();
  const issues: OperationOutcomeIssue[] = [];
  const birth = parseFhirDate(patient.birthDate);
  if (birth && isInFuture(birth, now)) {
    issues.push(makeIssue('error', 'business-rule', `patient.birthDate ${patient.birthDate} is in the future`, { ruleCode: 'birthdate-in-future', expression: 'Patient.birthDate' }));
  }
  const codeSets = options.codeSets?.hasVaccineCodes ? options.codeSets : undefined;
  immunizations.forEach((imm, i) => {
    const where = `Parameters.parameter.where(name = 'immunization')[${i}].resource`;
    const occurrence = parseFhirDate(imm.occurrenceDateTime);
    if (occurrence && isInFuture(occurrence, now)) {
      issues.push(makeIssue('error', 'business-rule', `immunization ${imm.id}: occurrenceDateTime ${imm.occurrenceDateTime} is in the future (a planned dose is not history)`, { ruleCode: 'vaccination-date-in-future', expression: `${where}.occurrenceDateTime` }));
    }
    if (occurrence && birth && compareDates(occurrence, birth) < 0) {
      issues.push(makeIssue('error', 'business-rule', `immunization ${imm.id}: occurrenceDateTime ${imm.occurrenceDateTime} is before the patient's birthDate ${patient.birthDate}`, { ruleCode: 'vaccination-before-birth', expression: `${where}.occurrenceDateTime` }));
    }
    const cvx = cvxOf(imm);
    const cvxCoding = (imm.vaccineCode?.coding ?? []).some((c) => c && systemKind(c.system) === 'cvx') || !!cvx;
    if (codeSets && cvxCoding && (!cvx || !codeSets.cvx(cvx))) {
      issues.push(makeIssue('error', 'code-invalid', `immunization ${imm.id}: CVX "${cvx ?? ''}" is not in the CDC CVX code set (see CodeSystem/cvx)`, { ruleCode: 'vaccine-code-unknown', expression: `${where}.vaccineCode` }));
    } else if (codeSets && !cvxCoding && cvxOf(withCvxFromNdc(imm, codeSets)) === undefined) {
      // No CVX, and no NDC the code set maps to one: the dose would count for nothing, unseen.
      issues.push(makeIssue('error', 'code-invalid', `immunization ${imm.id}: no CVX coding, and no NDC the CDC code set maps to a CVX (see CodeSystem/cvx and the NDC ConceptMap)`, { ruleCode: 'vaccine-code-unknown', expression: `${where}.vaccineCode` }));
    }
  });
  return issues;
}

function resourceOf(p: ParametersParameter, type: string): boolean {
  const r = p.resource as Resource | undefined;
  return !!r && typeof r === 'object' && r.resourceType === type;
}

export function toParameters(out: ForecastOutput): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      ...out.evaluations.map((resource) => ({ name: 'evaluation', resource })),
      { name: 'recommendation', resource: out.recommendation },
    ],
  };
}

/**
 * The stored-patient form's one input, `assessmentDate`: from the query (GET) or, POSTed, from a
 * Parameters body as well (an operation's POST carries its parameters in the body). Given twice
 * (ImmDS: 1..1) or with another parameter: a 400, never one of them silently.
 */
function storedPatientAssessmentDate(req: FhirRequest): string | undefined {
  const pairs: Array<[string, unknown]> = [...req.query];
  if (req.method === 'POST' && req.body !== undefined) {
    const params = req.body as Parameters;
    if (!params || typeof params !== 'object' || params.resourceType !== 'Parameters') throw badRequest('POST a Parameters resource (assessmentDate) to /fhir/Patient/[id]/$immds-forecast, or GET it');
    if (params.parameter !== undefined && !Array.isArray(params.parameter)) throw badRequest('Parameters.parameter must be an array');
    for (const p of params.parameter ?? []) {
      if (!p || typeof p !== 'object') throw badRequest('Parameters.parameter entries must be objects');
      pairs.push([String(p.name), p.name === 'assessmentDate' ? p.valueDate : undefined]);
    }
  }
  let assessmentDate: string | undefined;
  for (const [name, value] of pairs) {
    if (name === 'assessmentDate') {
      if (typeof value !== 'string' || !DATE.test(value) || parseFhirDate(value) === undefined) throw badRequest(`assessmentDate must be a date YYYY-MM-DD (valueDate when POSTed), got ${JSON.stringify(value ?? null)}`, { expression: 'assessmentDate' });
      if (assessmentDate !== undefined) throw badRequest('assessmentDate is given more than once (ImmDS: 1..1)', { expression: 'assessmentDate' });
      assessmentDate = value;
    } else if (req.prefer.handling !== 'lenient' && !name.startsWith('_')) {
      throw badRequest(`Unknown $immds-forecast parameter "${name}"`, { expression: name });
    }
  }
  return assessmentDate;
}

async function forecastStoredPatient(req: FhirRequest, ctx: HandlerContext, codeSets?: CodeSets): Promise<Parameters> {
  const assessmentDate = storedPatientAssessmentDate(req) ?? new Date().toISOString().slice(0, 10);
  const patientRecord = await readCurrent(ctx, 'Patient', req.id!);
  const patient = patientRecord.resource as Patient;
  if (!patient.birthDate || !DATE.test(patient.birthDate)) {
    throw badRequest(`Patient/${req.id} has no full birthDate: CDSi cannot forecast without one`, { expression: 'Patient.birthDate' });
  }
  if (patient.birthDate > assessmentDate) {
    throw badRequest(`assessmentDate ${assessmentDate} is before Patient/${req.id}'s birthDate ${patient.birthDate}: there is nothing to forecast before birth`, { expression: 'assessmentDate' });
  }
  // One indexed equality and no store-side sort: the store answers it from the patient index alone
  // (a sort or an $and would make it evaluate a filter and sort every dose); ordered here by id so
  // the answer does not depend on the store's order.
  const filter: Filter = { 's.patient': `Patient/${patientRecord.id}` };
  // The patient's Conditions (CDSi observations: risk indications, evidence of immunity,
  // contraindications) when the token may read them; a token without Condition read forecasts
  // from the doses alone, as before Conditions were stored.
  const readsConditions = grants(ctx.caller.scopes, 'Condition', ['r', 's'], ['patient', 'user', 'system']);
  const [records, conditionRecords] = await Promise.all([
    ctx.store.search('Immunization', { filter, limit: MAX_IMMUNIZATIONS }),
    readsConditions ? ctx.store.search('Condition', { filter, limit: MAX_CONDITIONS }) : Promise.resolve([]),
  ]);
  const conditions = conditionRecords.map((r) => r.resource as Condition);
  const immunizations = records
    .map((r) => r.resource as Immunization)
    .sort((a, b) => (a.id! < b.id! ? -1 : a.id! > b.id! ? 1 : 0))
    .map((imm) => withCvxFromNdc(imm, codeSets));
  return toParameters(forecastFromFhir({ assessmentDate, patient, immunizations, conditions }));
}
