// POST /fhir/Patient/{id}/$health-cards-issue (HL7 SMART Health Cards and Links IG): a signed
// immunization card for a stored patient. The pipeline checks the caller's scopes (r on Patient
// and Immunization) and audits the issuance; the Patient and its Immunizations are read through
// the caller-scoped store, so the patient/ compartment and data sharing apply as to any read.
// Every card carries the patient's revocation identifier `vc.rid` for the signing key (rid.ts).
// Answers, by Accept: a Parameters (verifiableCredential + resourceLink; empty when there is
// nothing to issue), the `.smart-health-card` file (application/smart-health-card), the QR code
// (image/png or image/svg+xml) or its `shc:/` text (text/plain).
import type { Immunization, Parameters, ParametersParameter, Patient } from '@medplum/fhirtypes';
import { badRequest, conflict, FhirError, isFhirError, makeIssue, notFound, outcome } from '../fhir/outcome.js';
import { readCurrent } from '../interactions/read.js';
import type { FhirRequest, FhirResponse, Handler, HandlerContext } from '../interactions/types.js';
import { cardContent, IDENTITY_CLAIMS, IMMUNIZATION_CARD, HEALTH_CARD, type IdentityClaim } from './credential.js';
import type { HealthCardIssuer } from './issuer.js';
import { healthCardPayload, signHealthCard } from './jws.js';
import { MAX_SINGLE_QR_JWS, qrPng, qrSvg, toNumeric } from './qr.js';

/** credentialType values that ask for an immunization card. */
const IMMUNIZATION_TYPES = new Set([IMMUNIZATION_CARD, 'Immunization', HEALTH_CARD]);
const MAX_DOSES = 1000;
/** Longest wait for a revocation's last second to pass before signing (revocations are never in the future). */
const MAX_ISSUE_WAIT_MS = 2000;
export const SHC_FILE = 'application/smart-health-card';

interface IssueInput {
  credentialTypes: string[];
  identity?: IdentityClaim[];
  since?: string;
}

export function healthCardsIssueOperation(issuer: HealthCardIssuer): Handler {
  return (req, ctx) => issueCard(req, ctx, issuer);
}

async function issueCard(req: FhirRequest, ctx: HandlerContext, issuer: HealthCardIssuer): Promise<FhirResponse> {
  if (req.resourceType !== 'Patient' || req.id === undefined) {
    throw badRequest('$health-cards-issue is invoked on a patient: POST /fhir/Patient/[id]/$health-cards-issue');
  }
  const input = readInput(req.body, req.prefer.handling === 'lenient');
  const format = wantedFormat(req.accept);
  const nothing = (why: string): FhirResponse => {
    if (format !== 'parameters') throw notFound(`No health card to issue: ${why}`);
    return { status: 200, body: { resourceType: 'Parameters' } };
  };
  if (!input.credentialTypes.some((t) => IMMUNIZATION_TYPES.has(t))) {
    return nothing(`this server issues immunization cards only (credentialType ${IMMUNIZATION_CARD})`);
  }

  const issued = await issueImmunizationCard(ctx, issuer, req.id, input);
  if ('nothing' in issued) return nothing(issued.nothing);
  const { jws, links } = issued;
  switch (format) {
    case 'file':
      return {
        status: 200,
        headers: { 'Content-Disposition': `attachment; filename="patient-${req.id}.smart-health-card"` },
        raw: { contentType: SHC_FILE, data: JSON.stringify({ verifiableCredential: [jws] }) },
      };
    case 'png':
    case 'svg':
    case 'text': {
      if (jws.length > MAX_SINGLE_QR_JWS) {
        throw new FhirError(422, outcome([makeIssue('error', 'too-costly', `The card is ${jws.length} characters, more than the ${MAX_SINGLE_QR_JWS} one QR code holds; download it as a file (Accept: ${SHC_FILE})`)]));
      }
      if (format === 'text') return { status: 200, raw: { contentType: 'text/plain; charset=utf-8', data: toNumeric(jws) } };
      if (format === 'svg') return { status: 200, raw: { contentType: 'image/svg+xml', data: await qrSvg(jws) } };
      return { status: 200, raw: { contentType: 'image/png', data: await qrPng(jws) } };
    }
    default:
      return { status: 200, body: toParameters(jws, links) };
  }
}

/** A signed card, with the map from its Bundle's entries to the stored resources. */
export interface IssuedCard {
  jws: string;
  links: Array<{ bundledResource: string; hostedResource: string }>;
}

/**
 * The immunization card of a stored patient as the caller may read it (the Patient and its
 * Immunizations through the caller-scoped store: the patient/ compartment and data sharing apply),
 * or why there is none. Also what a SMART Health Link shares (link-create.ts).
 */
export async function issueImmunizationCard(
  ctx: HandlerContext,
  issuer: HealthCardIssuer,
  patientId: string,
  input: { identity?: IdentityClaim[]; since?: string } = {}
): Promise<IssuedCard | { nothing: string }> {
  const patientRecord = await readCurrent(ctx, 'Patient', patientId);
  const patient = patientRecord.resource as Patient;
  const records = await ctx.store.search('Immunization', {
    filter: { 's.patient': `Patient/${patientRecord.id}` },
    sort: [{ field: '_id', direction: 1 }],
    limit: MAX_DOSES,
  });
  const immunizations = records.map((r) => r.resource as Immunization);
  if (input.since) {
    const since = input.since;
    const changed = patientRecord.lastUpdated >= since || records.some((r) => r.lastUpdated >= since);
    if (!changed) return { nothing: `nothing changed since ${since}` };
  }
  const organizations = await performerNames(immunizations, ctx);
  const content = cardContent(patient, immunizations, {
    baseUrl: ctx.baseUrl,
    identity: input.identity,
    performerName: (imm) => {
      const ref = imm.performer?.find((p) => p.actor?.reference?.startsWith('Organization/'))?.actor?.reference;
      return imm.performer?.find((p) => p.actor?.display)?.actor?.display ?? (ref ? organizations.get(ref) : undefined);
    },
  });
  if (content.bundle.entry!.length === 1) return { nothing: `Patient/${patientId} has no completed immunizations on record` };

  const key = await issuer.keys.signingKey();
  const rid = issuer.rids.ridFor(key.kid, patientRecord.id);
  const jws = await signHealthCard(healthCardPayload(issuer.iss, content.bundle, await issueTime(issuer, key.kid, rid), rid), key);
  return { jws, links: content.links };
}

/**
 * When the card is issued: now, unless the patient's cards were just revoked "before" a time still
 * in the current second (a revocation is taken to the next whole second, nbf is in seconds): then a
 * card signed now would be born revoked, so issuance waits for that second to pass (under 1 s).
 */
async function issueTime(issuer: HealthCardIssuer, kid: string, rid: string): Promise<Date> {
  const until = await issuer.revocations.revokedUntil(kid, rid);
  if (until === undefined || until * 1000 <= Date.now()) return new Date();
  if (until === Infinity || until * 1000 - Date.now() > MAX_ISSUE_WAIT_MS) {
    throw conflict(`The health cards of this patient are revoked${until === Infinity ? '' : ` until ${new Date(until * 1000).toISOString()}`}; a card issued now would be revoked too`);
  }
  await new Promise((resolve) => setTimeout(resolve, until * 1000 - Date.now()));
  return new Date(Math.max(Date.now(), until * 1000));
}

function toParameters(jws: string, links: Array<{ bundledResource: string; hostedResource: string }>): Parameters {
  const parameter: ParametersParameter[] = [{ name: 'verifiableCredential', valueString: jws }];
  for (const link of links) {
    parameter.push({
      name: 'resourceLink',
      part: [
        { name: 'vcIndex', valueInteger: 0 },
        { name: 'bundledResource', valueUri: link.bundledResource },
        { name: 'hostedResource', valueUri: link.hostedResource },
      ],
    });
  }
  return { resourceType: 'Parameters', parameter };
}

/** Names of the Organizations doses point at without a display (organizations are not patient data). */
async function performerNames(immunizations: Immunization[], ctx: HandlerContext): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const refs = new Set<string>();
  for (const imm of immunizations) {
    const performer = imm.performer?.find((p) => p.actor?.reference?.startsWith('Organization/'));
    if (performer && !imm.performer?.some((p) => p.actor?.display)) refs.add(performer.actor!.reference!);
  }
  for (const ref of [...refs].slice(0, 50)) {
    // Read as the caller: an Organization the caller may not read (outside a patient/ token's
    // compartment) gives no performer name rather than a refusal of the whole card.
    const record = await ctx.store.read('Organization', ref.slice('Organization/'.length)).catch((err: unknown) => {
      if (isFhirError(err) && err.status === 403) return undefined;
      throw err;
    });
    const name = (record?.resource as { name?: string } | undefined)?.name;
    if (name && !record?.deleted) names.set(ref, name);
  }
  return names;
}

type Format = 'parameters' | 'file' | 'png' | 'svg' | 'text';

function wantedFormat(accept: string | undefined): Format {
  const types = (accept ?? '').split(',').map((t) => t.split(';')[0].trim().toLowerCase());
  for (const t of types) {
    if (t === SHC_FILE) return 'file';
    if (t === 'image/png') return 'png';
    if (t === 'image/svg+xml') return 'svg';
    if (t === 'text/plain') return 'text';
    if (t === 'application/fhir+json' || t === 'application/json' || t === '*/*') return 'parameters';
  }
  return 'parameters';
}

function readInput(body: unknown, lenient: boolean): IssueInput {
  const params = body as Parameters | undefined;
  if (!params || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw badRequest('$health-cards-issue expects a Parameters resource with at least one credentialType');
  }
  const input: IssueInput = { credentialTypes: [] };
  const problems: string[] = [];
  (params.parameter ?? []).forEach((p, i) => {
    const where = `Parameters.parameter[${i}]`;
    switch (p.name) {
      case 'credentialType':
        if (typeof p.valueUri !== 'string') problems.push(`${where}: credentialType needs valueUri`);
        else input.credentialTypes.push(p.valueUri);
        break;
      case 'credentialValueSet':
        // Accepted: an immunization card holds every dose, so no value set narrows it.
        break;
      case 'includeIdentityClaim':
        if (typeof p.valueString !== 'string' || !(IDENTITY_CLAIMS as readonly string[]).includes(p.valueString)) {
          problems.push(`${where}: includeIdentityClaim must be one of ${IDENTITY_CLAIMS.join(', ')}`);
        } else {
          (input.identity ??= []).push(p.valueString as IdentityClaim);
        }
        break;
      case '_since': {
        const value = p.valueDateTime ?? p.valueInstant;
        const time = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
        if (Number.isNaN(time)) problems.push(`${where}: _since needs valueDateTime`);
        else input.since = new Date(time).toISOString();
        break;
      }
      default:
        if (!lenient) problems.push(`${where}: unknown parameter "${p.name}"`);
    }
  });
  if (input.credentialTypes.length === 0) problems.push('credentialType is required (https://smarthealth.cards#immunization or Immunization)');
  if (problems.length > 0) {
    throw new FhirError(400, outcome(problems.map((text) => makeIssue('error', 'invalid', text, { expression: 'Parameters.parameter' }))));
  }
  return input;
}
