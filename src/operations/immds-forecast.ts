// $immds-forecast (HL7 ImmDS IG) on the CDC CDSi engine of src/forecast:
// - POST /fhir/$immds-forecast: a Parameters with assessmentDate, patient, immunization*, condition*;
// - GET /fhir/Patient/{id}/$immds-forecast[?assessmentDate=]: the stored record (the Patient, its
//   Immunizations and, when the token may read them, its Conditions), read under the caller-scoped
//   store exactly like $everything (a hidden patient is a 403).
// Both answer a Parameters with evaluation* (ImmunizationEvaluation) and one recommendation.
import type { Condition, Immunization, Parameters, ParametersParameter, Patient, Resource } from '@medplum/fhirtypes';
import { grants } from '../auth/scopes.js';
import { badRequest } from '../fhir/outcome.js';
import { forecastFromFhir, type ForecastOutput } from '../forecast/index.js';
import { readCurrent } from '../interactions/read.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import type { Filter } from '../store/store.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MAX_IMMUNIZATIONS = 10_000;
const MAX_CONDITIONS = 1_000;

export async function immdsForecastOperation(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  if (req.id !== undefined) {
    if (req.resourceType !== 'Patient') throw badRequest('$immds-forecast is defined on Patient instances and the system level');
    return { status: 200, body: await forecastStoredPatient(req, ctx) };
  }
  if (req.resourceType !== undefined) throw badRequest('$immds-forecast is invoked at /fhir/$immds-forecast or /fhir/Patient/[id]/$immds-forecast');
  if (req.method !== 'POST') throw badRequest('POST a Parameters resource to /fhir/$immds-forecast (or GET /fhir/Patient/[id]/$immds-forecast)');
  return { status: 200, body: forecastParameters(req.body) };
}

/** The POST body to the answer; pure (no store), so the CDSi evaluation tool runs exactly this. */
export function forecastParameters(body: unknown): Parameters {
  const input = readInput(body);
  return toParameters(forecastFromFhir(input));
}

function readInput(body: unknown): { assessmentDate: string; patient: Patient; immunizations: Immunization[]; conditions: Condition[] } {
  const params = body as Parameters | undefined;
  if (!params || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw badRequest('$immds-forecast expects a Parameters resource');
  }
  let assessmentDate: string | undefined;
  let patient: Patient | undefined;
  const immunizations: Immunization[] = [];
  const conditions: Condition[] = [];
  const issues: string[] = [];
  if (params.parameter !== undefined && !Array.isArray(params.parameter)) throw badRequest('Parameters.parameter must be an array');
  (params.parameter ?? []).forEach((p: ParametersParameter, i) => {
    if (!p || typeof p !== 'object') {
      issues.push(`Parameters.parameter[${i}] must be an object`);
      return;
    }
    const where = `Parameters.parameter[${i}]`;
    switch (p.name) {
      case 'assessmentDate':
        if (typeof p.valueDate !== 'string' || !DATE.test(p.valueDate)) issues.push(`${where}: assessmentDate needs valueDate YYYY-MM-DD`);
        else assessmentDate = p.valueDate;
        break;
      case 'patient':
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
  if (!assessmentDate) issues.push('assessmentDate (valueDate) is required');
  if (!patient) issues.push('patient (a Patient resource with birthDate) is required');
  else if (!patient.birthDate || !DATE.test(patient.birthDate)) issues.push('patient.birthDate must be a full date (YYYY-MM-DD)');
  immunizations.forEach((imm, i) => {
    if (!imm.occurrenceDateTime || !/^\d{4}-\d{2}-\d{2}/.test(imm.occurrenceDateTime)) {
      issues.push(`immunization ${imm.id ?? i}: occurrenceDateTime must hold a full date`);
    }
    const coding = imm.vaccineCode?.coding;
    if (!Array.isArray(coding) || !coding.some((c) => c && typeof c.code === 'string' && c.code)) issues.push(`immunization ${imm.id ?? i}: vaccineCode needs a CVX coding`);
  });
  if (immunizations.length > MAX_IMMUNIZATIONS) issues.push(`at most ${MAX_IMMUNIZATIONS} immunizations per request`);
  if (issues.length > 0) throw badRequest(issues.join('; '));
  return { assessmentDate: assessmentDate!, patient: patient!, immunizations, conditions };
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

async function forecastStoredPatient(req: FhirRequest, ctx: HandlerContext): Promise<Parameters> {
  let assessmentDate = new Date().toISOString().slice(0, 10);
  for (const [name, value] of req.query) {
    if (name === 'assessmentDate') {
      if (!DATE.test(value)) throw badRequest(`assessmentDate must be YYYY-MM-DD, got "${value}"`, { expression: 'assessmentDate' });
      assessmentDate = value;
    } else if (req.prefer.handling !== 'lenient' && !name.startsWith('_')) {
      throw badRequest(`Unknown $immds-forecast parameter "${name}"`, { expression: name });
    }
  }
  const patientRecord = await readCurrent(ctx, 'Patient', req.id!);
  const patient = patientRecord.resource as Patient;
  if (!patient.birthDate || !DATE.test(patient.birthDate)) {
    throw badRequest(`Patient/${req.id} has no full birthDate: CDSi cannot forecast without one`, { expression: 'Patient.birthDate' });
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
    .sort((a, b) => (a.id! < b.id! ? -1 : a.id! > b.id! ? 1 : 0));
  return toParameters(forecastFromFhir({ assessmentDate, patient, immunizations, conditions }));
}
