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
import { cardContent, IDENTITY_CLAIMS, IMMUNIZATION_CARD, HEALTH_CARD, isCardDose, type IdentityClaim } from './credential.js';
import type { HealthCardIssuer } from './issuer.js';
import { healthCardPayload, signHealthCard } from './jws.js';
import { MAX_SINGLE_QR_JWS, qrPng, qrSvg, toNumeric } from './qr.js';
import { findValueSet, type CardValueSet } from './value-sets.js';
import { parameterList } from './parameters.js';
import { preferredMediaTypes } from './accept.js';
import { withCvxFromNdc } from '../terminology/forecast-codes.js';

/**
 * credentialType values an immunization card satisfies. Several types ask for a card holding all of
 * them (the IG: "logical AND"), so one type outside this list means no card. `#covid19` (the
 * framework's earlier COVID-19 card type) asks for the COVID-19 doses, as credentialValueSet
 * immunization-covid-all does.
 */
const COVID19_CARD = 'https://smarthealth.cards#covid19';
const COVID19_VALUE_SET = 'https://terminology.smarthealth.cards/ValueSet/immunization-covid-all';
const IMMUNIZATION_TYPES = new Set([IMMUNIZATION_CARD, 'Immunization', HEALTH_CARD, COVID19_CARD]);
const MAX_DOSES = 1000;
/** Longest wait for a revocation's last second to pass before signing (revocations are never in the future). */
const MAX_ISSUE_WAIT_MS = 2000;
export const SHC_FILE = 'application/smart-health-card';

interface IssueInput extends CardSelection {
  credentialTypes: string[];
}

/** What goes on a card besides its patient: the $health-cards-issue inputs that select content. */
export interface CardSelection {
  identity?: IdentityClaim[];
  /** Only Immunizations stored (created or changed) at or after this instant. */
  since?: string;
  /** credentialValueSet: only doses whose vaccine is in one of these, and a card only when each has one. */
  valueSets?: CardValueSet[];
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
  const otherType = input.credentialTypes.find((t) => !IMMUNIZATION_TYPES.has(t));
  if (otherType !== undefined) {
    return nothing(`this server issues immunization cards only (credentialType ${IMMUNIZATION_CARD}), not ${otherType}`);
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
  input: CardSelection = {}
): Promise<IssuedCard | { nothing: string }> {
  const patientRecord = await readCurrent(ctx, 'Patient', patientId);
  const patient = patientRecord.resource as Patient;
  const records = await ctx.store.search('Immunization', {
    filter: { 's.patient': `Patient/${patientRecord.id}` },
    sort: [{ field: '_id', direction: 1 }],
    limit: MAX_DOSES,
  });
  const since = input.since;
  const valueSets = input.valueSets ?? [];
  // _since: "only cards pertaining to data since a specific point in time": the doses stored or
  // changed since then (the patient's own changes alone make no new vaccination data).
  const recent = since === undefined ? records : records.filter((r) => r.lastUpdated >= since);
  const immunizations = recent
    // An NDC-only dose gets the CVX of its NDC (the vaccination IG's verifiers read CVX, not NDC),
    // so it is on the card in a form they read and counts for the CVX value sets.
    .map((r) => withCvxFromNdc(r.resource as Immunization, issuer.codeSets))
    .filter((imm) => isCardDose(imm) && (valueSets.length === 0 || valueSets.some((vs) => vs.hasVaccine(imm))));
  if (immunizations.length === 0) {
    const what = [valueSets.length > 0 ? `in ${valueSets.map((vs) => vs.url).join(' or ')}` : '', since ? `recorded since ${since}` : ''].filter(Boolean).join(', ');
    return { nothing: `Patient/${patientId} has no completed immunizations${what ? ` ${what}` : ''} on record` };
  }
  // Several credentialValueSets ask for "content from all of the supplied ValueSets" (logical AND):
  // the card carries the doses of every set, and is issued only when each set has one.
  const emptySet = valueSets.find((vs) => !immunizations.some((imm) => vs.hasVaccine(imm)));
  if (emptySet) return { nothing: `Patient/${patientId} has no completed immunization in ${emptySet.url}${since ? ` recorded since ${since}` : ''}` };
  const organizations = await performerNames(immunizations, ctx);
  const content = cardContent(patient, immunizations, {
    baseUrl: ctx.baseUrl,
    identity: input.identity,
    performerName: (imm) => {
      const ref = imm.performer?.find((p) => p.actor?.reference?.startsWith('Organization/'))?.actor?.reference;
      return imm.performer?.find((p) => p.actor?.display)?.actor?.display ?? (ref ? organizations.get(ref) : undefined);
    },
  });

  const key = await issuer.keys.signingKey();
  const rid = issuer.rids.ridFor(key.kid, patientRecord.id);
  const cardTypes = [...new Set(valueSets.flatMap((vs) => vs.cardTypes))];
  const jws = await signHealthCard(healthCardPayload(issuer.iss, content.bundle, await issueTime(issuer, key.kid, rid), rid, cardTypes), key);
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
  for (const t of preferredMediaTypes(accept)) {
    if (t === SHC_FILE) return 'file';
    if (t === 'image/png') return 'png';
    if (t === 'image/svg+xml') return 'svg';
    if (t === 'text/plain') return 'text';
    if (t === 'application/fhir+json' || t === 'application/json' || t === '*/*') return 'parameters';
  }
  return 'parameters';
}

/** FHIR dateTime forms (https://hl7.org/fhir/R4/datatypes.html#dateTime); a time must carry its zone. */
const FHIR_DATE_TIME = /^(\d{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01])(?:T([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d+)?(Z|[+-](?:0\d|1[0-4]):[0-5]\d))?)?)?$/;

/**
 * The instant a `_since` starts at: a year, month or day starts at its first moment (UTC: the
 * registry's clock; the IG's own example asks for "2023-03"), a date and time is that instant.
 */
function sinceInstant(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = FHIR_DATE_TIME.exec(value);
  if (!m) return undefined;
  const [, year, month = '01', day = '01', time] = m;
  const text = time === undefined ? `${year}-${month}-${day}T00:00:00Z` : value;
  // A day the month does not have (2021-02-30) is not a date, though Date.parse may roll it over.
  if (Number(day) > new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate()) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function readInput(body: unknown, lenient: boolean): IssueInput {
  const params = body as Parameters | undefined;
  if (!params || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw badRequest('$health-cards-issue expects a Parameters resource with at least one credentialType');
  }
  const input: IssueInput = { credentialTypes: [] };
  const problems: string[] = [];
  parameterList(params, '$health-cards-issue').forEach((p, i) => {
    const where = `Parameters.parameter[${i}]`;
    switch (p.name) {
      case 'credentialType':
        if (typeof p.valueUri !== 'string') problems.push(`${where}: credentialType needs valueUri`);
        else input.credentialTypes.push(p.valueUri);
        break;
      case 'credentialValueSet': {
        if (typeof p.valueUri !== 'string') {
          problems.push(`${where}: credentialValueSet needs valueUri`);
          break;
        }
        const found = findValueSet(p.valueUri);
        if ('problem' in found) problems.push(`${where}: ${found.problem}`);
        else if (!input.valueSets?.includes(found)) (input.valueSets ??= []).push(found);
        break;
      }
      case 'includeIdentityClaim':
        if (p.valueString === 'Patient.gender') {
          problems.push(`${where}: Patient.gender is never put on a card (the SMART Health Cards vaccination IG's Patient profiles forbid it); includeIdentityClaim may be ${IDENTITY_CLAIMS.join(', ')}`);
        } else if (typeof p.valueString !== 'string' || !(IDENTITY_CLAIMS as readonly string[]).includes(p.valueString)) {
          problems.push(`${where}: includeIdentityClaim must be one of ${IDENTITY_CLAIMS.join(', ')}`);
        } else {
          (input.identity ??= []).push(p.valueString as IdentityClaim);
        }
        break;
      case '_since': {
        const since = sinceInstant(p.valueDateTime ?? p.valueInstant);
        if (since === undefined) problems.push(`${where}: _since needs a valueDateTime (a year, year-month, date, or date and time with a zone: 2021, 2021-03, 2021-03-01, 2021-03-01T08:00:00Z)`);
        else if (input.since !== undefined) problems.push(`${where}: _since may be given once`);
        else input.since = since;
        break;
      }
      default:
        if (!lenient) problems.push(`${where}: unknown parameter "${p.name}"`);
    }
  });
  if (input.credentialTypes.length === 0) problems.push('credentialType is required (https://smarthealth.cards#immunization or Immunization)');
  if (input.credentialTypes.includes(COVID19_CARD) && problems.length === 0) {
    const covid = findValueSet(COVID19_VALUE_SET) as CardValueSet;
    if (!input.valueSets?.includes(covid)) (input.valueSets ??= []).push(covid);
  }
  if (problems.length > 0) {
    throw new FhirError(400, outcome(problems.map((text) => makeIssue('error', 'invalid', text, { expression: 'Parameters.parameter' }))));
  }
  return input;
}
