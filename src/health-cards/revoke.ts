// POST /fhir/Patient/{id}/$health-cards-revoke: revokes the SMART Health Cards issued for a
// patient (before an optional `before` instant; default: now), by listing the patient's rid with
// that time in the Card Revocation List of every issuer key (revocation-list.ts) and so bumping
// each list's ctr and the key's crlVersion in jwks.json.
// Who may: callers that may correct the record (update rights on Patient and Immunization in a
// user/ or system/ scope): public health (no organization claim) for every patient; a facility
// (organization claim: clinician, data-entry) only for the patients it manages
// (Patient.managingOrganization). A patient/ token never may: a family asks the registry. The
// patient is read through the caller-scoped store, so data sharing applies as to a read; a deleted
// patient's cards may be revoked too (its last version decides the facility). The pipeline audits
// the request like every operation (the Patient as entity, the outcome).
import type { Parameters, ParametersParameter, Patient } from '@medplum/fhirtypes';
import { grants } from '../auth/scopes.js';
import { badRequest, FhirError, forbidden, makeIssue, notFound, outcome } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse, Handler, HandlerContext } from '../interactions/types.js';
import type { HealthCardIssuer } from './issuer.js';
import { parameterList } from './parameters.js';

export function healthCardsRevokeOperation(issuer: HealthCardIssuer): Handler {
  return (req, ctx) => revokeCards(req, ctx, issuer);
}

async function revokeCards(req: FhirRequest, ctx: HandlerContext, issuer: HealthCardIssuer): Promise<FhirResponse> {
  if (req.resourceType !== 'Patient' || req.id === undefined) {
    throw badRequest('$health-cards-revoke is invoked on a patient: POST /fhir/Patient/[id]/$health-cards-revoke');
  }
  const before = readBefore(req.body, req.prefer.handling === 'lenient', new Date());
  if (!['Patient', 'Immunization'].every((type) => grants(ctx.caller.scopes, type, ['u'], ['user', 'system']))) {
    throw forbidden('Revoking health cards needs user/ or system/ update rights on Patient and Immunization (a patient/ token cannot revoke: the registry does, on request)');
  }
  const patient = await patientForRevocation(ctx, req.id);
  if (ctx.caller.organization !== undefined && patient.managingOrganization?.reference !== ctx.caller.organization) {
    throw forbidden(`Only public health or the patient's managing facility may revoke its health cards; Patient/${req.id} is not managed by ${ctx.caller.organization}`);
  }
  const revoked = await issuer.revokePatient(req.id, before);
  return { status: 200, body: revocationAnswer(revoked) };
}

/** The patient as the caller may see it; a deleted one as it was before its deletion. */
async function patientForRevocation(ctx: HandlerContext, id: string): Promise<Patient> {
  const record = await ctx.store.read('Patient', id);
  if (!record) throw notFound(`Patient/${id} is not known to this server`);
  if (!record.deleted) return record.resource as Patient;
  const last = record.versionId > 1 ? await ctx.store.vread('Patient', id, record.versionId - 1) : undefined;
  if (!last?.resource) throw notFound(`Patient/${id} has no version before its deletion`);
  return last.resource as Patient;
}

/** `before` (an instant with a time zone, not in the future), else now. */
function readBefore(body: unknown, lenient: boolean, now: Date): Date {
  if (body === undefined) return now;
  const params = body as Parameters;
  if (params === null || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw badRequest('$health-cards-revoke expects a Parameters resource (with an optional "before" instant) or no body');
  }
  let before: Date | undefined;
  const problems: string[] = [];
  parameterList(params, '$health-cards-revoke').forEach((p, i) => {
    const where = `Parameters.parameter[${i}]`;
    if (p.name !== 'before') {
      if (!lenient) problems.push(`${where}: unknown parameter "${p.name}" (only "before")`);
      return;
    }
    const value = p.valueInstant ?? p.valueDateTime;
    if (typeof value !== 'string' || !INSTANT.test(value) || Number.isNaN(Date.parse(value))) {
      problems.push(`${where}: before needs an instant with a time zone (valueInstant), e.g. 2026-12-01T00:00:00Z`);
    } else if (Date.parse(value) > now.getTime()) {
      problems.push(`${where}: before (${value}) is in the future: only cards already issued can be revoked`);
    } else if (before !== undefined) {
      problems.push(`${where}: before is given more than once`);
    } else {
      before = new Date(Date.parse(value));
    }
  });
  if (problems.length > 0) {
    throw new FhirError(400, outcome(problems.map((text) => makeIssue('error', 'invalid', text, { expression: 'Parameters.parameter' }))));
  }
  return before ?? now;
}

/** FHIR instant: date, time and a zone. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** The answer to a revoke (the operation's, and the CLI's when it opens the store itself): the time written and, per key, its list entry. */
export function revocationAnswer(revoked: Awaited<ReturnType<HealthCardIssuer['revokePatient']>>): Parameters {
  const parameter: ParametersParameter[] = [{ name: 'before', valueInstant: new Date(revoked.before * 1000).toISOString() }];
  for (const list of revoked.lists) {
    parameter.push({
      name: 'revocationList',
      part: [
        { name: 'kid', valueString: list.kid },
        { name: 'rid', valueString: list.rid },
        { name: 'entry', valueString: list.entry },
        { name: 'crlVersion', valueInteger: list.ctr },
        { name: 'changed', valueBoolean: list.changed },
      ],
    });
  }
  // The patient's SMART Health Links go with the cards (link-revoke.ts).
  parameter.push({ name: 'healthLinksDeactivated', valueInteger: revoked.linksDeactivated });
  return { resourceType: 'Parameters', parameter };
}
