// Patient/$match (CONTRACT.md "Matching"): Parameters `resource` (a Patient), `onlyCertainMatches`,
// `count` → a searchset Bundle, best first, each entry with search.score and the match-grade
// extension. Also serves the IIP multiple-match query: every candidate with its grade.
import type { Bundle, BundleEntry, Parameters, ParametersParameter, Patient } from '@medplum/fhirtypes';
import { badRequest, failWith } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import { findMatches } from '../matching/candidates.js';
import { rejectionStatus } from '../validation/business-rules.js';

export const MATCH_GRADE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/match-grade';
export const MATCH_REASONS_EXTENSION = 'https://iis-fhir-server.org/fhir/StructureDefinition/match-reasons';
const DEFAULT_COUNT = 10;
const MAX_COUNT = 100;

export async function matchOperation(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  if (req.id !== undefined) throw badRequest('$match is a type-level operation: POST /fhir/Patient/$match');
  const { patient, onlyCertain, count } = readInput(req.body);
  // The engine reads the Patient's elements as FHIR types them: a name that is a string, an
  // identifier that is no list or a birthDate that is a number crashed it (500). Checked as a
  // create would check it, without the rules (a search input need not be a storable record).
  const issues = await ctx.rules.structural.validate(patient, { resourceType: 'Patient' });
  const status = rejectionStatus(issues);
  if (status) throw failWith(status, issues);
  // Candidates come from the caller-scoped store: patients hidden from the caller are never candidates.
  const ranked = await findMatches(ctx.store, patient);
  const kept = ranked.filter((c) => (onlyCertain ? c.decision.grade === 'certain' : c.decision.grade !== 'none')).slice(0, count);
  const entry: BundleEntry[] = kept.map((c) => ({
    fullUrl: `${ctx.baseUrl}/Patient/${c.patient.id}`,
    resource: c.patient,
    search: {
      mode: 'match',
      score: Number(c.decision.score.toFixed(4)),
      extension: [
        { url: MATCH_GRADE_EXTENSION, valueCode: c.decision.grade },
        {
          url: MATCH_REASONS_EXTENSION,
          valueString: c.decision.reasons.map((r) => `${r.field}: ${r.outcome} (${r.detail})`).join('; '),
        },
      ],
    },
  }));
  // FHIR JSON has no empty arrays: no candidate, no entry element.
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: entry.length,
    // The search this set answers (R4 search: a searchset's self link); its input is the POSTed Parameters.
    link: [{ relation: 'self', url: `${ctx.baseUrl}/Patient/$match` }],
    ...(entry.length ? { entry } : {}),
  };
  return { status: 200, body: bundle };
}

function readInput(body: unknown): { patient: Patient; onlyCertain: boolean; count: number } {
  const params = body as Parameters | undefined;
  if (!params || params.resourceType !== 'Parameters' || !Array.isArray(params.parameter)) {
    throw badRequest('$match needs a Parameters body with a "resource" part holding a Patient');
  }
  // Each input is 0..1 (resource 1..1) in the operation's definition: a second one is refused, not
  // silently dropped (which count, which Patient, would the client be answered for?).
  const part = (name: string): ParametersParameter | undefined => {
    const parts = params.parameter?.filter((p) => p.name === name) ?? [];
    if (parts.length > 1) throw badRequest(`$match takes one "${name}" parameter; it was given ${parts.length} times`, { expression: 'Parameters.parameter' });
    return parts[0];
  };
  const patient = part('resource')?.resource;
  if (!patient || patient.resourceType !== 'Patient') {
    throw badRequest('$match needs a "resource" parameter holding a Patient', { expression: 'Parameters.parameter' });
  }
  const only = part('onlyCertainMatches');
  if (only && typeof only.valueBoolean !== 'boolean') throw badRequest('onlyCertainMatches must be a valueBoolean');
  const countPart = part('count');
  if (countPart && (!Number.isInteger(countPart.valueInteger) || (countPart.valueInteger as number) < 1)) {
    throw badRequest('count must be a positive valueInteger');
  }
  return {
    patient: patient as Patient,
    onlyCertain: only?.valueBoolean === true,
    count: Math.min(countPart?.valueInteger ?? DEFAULT_COUNT, MAX_COUNT),
  };
}
