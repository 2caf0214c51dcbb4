// POST /fhir/Patient/{id}/$health-link-create: a SMART Health Link to the patient's immunization
// card. Access is that of $health-cards-issue (the pipeline checks r on Patient and Immunization,
// a patient/ token only for its own patient, and audits the request; the card is built through the
// caller-scoped store, so data sharing applies): the card is issued here, as the caller, so a
// caller who may not have the card cannot make a link to it.
// Input (Parameters, all optional): `passcode` (valueString; flag P), `expiration` (valueInstant;
// at most MAX_LINK_LIFETIME_MS ahead, later ones are cut to it; default that maximum), `label`
// (valueString, at most 80 characters) and `longTerm` (valueBoolean; flag L: the card is re-issued
// as this caller at every manifest request, so it follows the record; otherwise the link shares
// the card signed now) and `directFile` (valueBoolean; flag U: the url answers GET ?recipient=…
// with the card's file itself; not with a passcode). Answers, by Accept: a Parameters (`shlink`, `link` = the handle to revoke
// it by, `flag`, `expiration`, `label`), the QR code (image/png, image/svg+xml) or the `shlink:/`
// text (text/plain).
import type { OperationOutcomeIssue, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { grants } from '../auth/scopes.js';
import { badRequest, FhirError, makeIssue, outcome, serverError, unprocessable } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse, Handler, HandlerContext } from '../interactions/types.js';
import { issueImmunizationCard } from './issue.js';
import type { HealthCardIssuer } from './issuer.js';
import { MAX_LINK_LIFETIME_MS, MAX_PASSCODE_LENGTH, type LinkSharer } from './link-store.js';
import { encodeShlink, linkHandle, MANIFEST_PATH, MAX_LABEL, MAX_MANIFEST_URL, randomToken, shlinkQrPng, shlinkQrSvg } from './shlink.js';
import { parameterList } from './parameters.js';
import { preferredMediaTypes } from './accept.js';

export const MIN_PASSCODE_LENGTH = 4;

interface LinkInput {
  passcode?: string;
  expiration?: number;
  label?: string;
  longTerm: boolean;
  directFile: boolean;
}

export function healthLinkCreateOperation(issuer: HealthCardIssuer): Handler {
  return (req, ctx) => createLink(req, ctx, issuer);
}

async function createLink(req: FhirRequest, ctx: HandlerContext, issuer: HealthCardIssuer): Promise<FhirResponse> {
  if (req.resourceType !== 'Patient' || req.id === undefined) {
    throw badRequest('$health-link-create is invoked on a patient: POST /fhir/Patient/[id]/$health-link-create');
  }
  const now = Date.now();
  const input = readInput(req.body, req.prefer.handling === 'lenient');
  const issues: OperationOutcomeIssue[] = [];
  let expiresAt = now + MAX_LINK_LIFETIME_MS;
  if (input.expiration !== undefined) {
    if (input.expiration <= now) throw badRequest('expiration is in the past: a link must be usable for some time', { expression: ['Parameters.parameter'] });
    if (input.expiration > expiresAt) {
      issues.push(makeIssue('information', 'informational', `expiration is cut to this server's longest link life (${MAX_LINK_LIFETIME_MS / 86_400_000} days): ${new Date(expiresAt).toISOString()}`));
    } else {
      expiresAt = input.expiration;
    }
  }

  // Issued now in every case: the caller's right to the card is checked as for $health-cards-issue.
  const issued = await issueImmunizationCard(ctx, issuer, req.id);
  if ('nothing' in issued) throw unprocessable(`No health card to share: ${issued.nothing}`);

  const id = randomToken();
  const url = `${issuer.iss}${MANIFEST_PATH}/${id}`;
  if (url.length > MAX_MANIFEST_URL) {
    throw serverError(`PUBLIC_BASE_URL is too long for SMART Health Links: the manifest URL would have ${url.length} characters, the specification allows ${MAX_MANIFEST_URL}`);
  }
  const flag = `${input.longTerm ? 'L' : ''}${input.passcode !== undefined ? 'P' : ''}${input.directFile ? 'U' : ''}`;
  const link = await issuer.links.create(
    {
      handle: linkHandle(id),
      patient: req.id,
      key: randomToken(),
      flag,
      ...(input.label === undefined ? {} : { label: input.label }),
      ...(input.longTerm ? { sharer: sharerOf(ctx) } : { card: issued.jws }),
      created: new Date(now).toISOString(),
      expiresAt,
    },
    input.passcode
  );
  const shlink = encodeShlink({ url, key: link.key, exp: Math.floor(expiresAt / 1000), flag, label: input.label });

  switch (wantedFormat(req.accept)) {
    case 'png':
      return { status: 200, raw: { contentType: 'image/png', data: await shlinkQrPng(shlink) } };
    case 'svg':
      return { status: 200, raw: { contentType: 'image/svg+xml', data: await shlinkQrSvg(shlink) } };
    case 'text':
      return { status: 200, raw: { contentType: 'text/plain; charset=utf-8', data: shlink } };
    default: {
      const parameter: ParametersParameter[] = [
        { name: 'shlink', valueString: shlink },
        { name: 'link', valueString: link.handle },
        // A link without flags has no flag parameter: a valueString "" is not a FHIR string
        // (ele-1, and a Parameters parameter needs a value), so validators refused the answer.
        ...(flag ? [{ name: 'flag', valueString: flag }] : []),
        { name: 'expiration', valueInstant: new Date(expiresAt).toISOString() },
      ];
      if (input.label !== undefined) parameter.push({ name: 'label', valueString: input.label });
      if (issues.length > 0) parameter.push({ name: 'outcome', resource: outcome(issues) });
      const body: Parameters = { resourceType: 'Parameters', parameter };
      return { status: 200, body };
    }
  }
}

/**
 * Who a long-term link re-issues the card as: the caller's identity with read rights on Patient and
 * Immunization only, in the scope context it read them under now (patient/ for a family's token).
 */
function sharerOf(ctx: HandlerContext): LinkSharer {
  const { caller } = ctx;
  const context = (['patient', 'user', 'system'] as const).find((c) => ['Patient', 'Immunization'].every((type) => grants(caller.scopes, type, ['r'], [c])));
  if (!context) throw new FhirError(403, outcome([makeIssue('error', 'forbidden', 'A long-term link needs read rights on Patient and Immunization in one scope context')]));
  const sharer: LinkSharer = { context };
  if (caller.sub !== undefined) sharer.sub = caller.sub;
  if (caller.organization !== undefined) sharer.organization = caller.organization;
  if (caller.fhirUser !== undefined) sharer.fhirUser = caller.fhirUser;
  if (caller.patient !== undefined) sharer.patient = caller.patient;
  if (caller.clientId !== undefined) sharer.clientId = caller.clientId;
  if (caller.issuer !== undefined) sharer.issuer = caller.issuer;
  return sharer;
}

function wantedFormat(accept: string | undefined): 'parameters' | 'png' | 'svg' | 'text' {
  for (const type of preferredMediaTypes(accept)) {
    if (type === 'image/png') return 'png';
    if (type === 'image/svg+xml') return 'svg';
    if (type === 'text/plain') return 'text';
    if (type === 'application/fhir+json' || type === 'application/json' || type === '*/*') return 'parameters';
  }
  return 'parameters';
}

/** FHIR instant: date, time and a zone. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function readInput(body: unknown, lenient: boolean): LinkInput {
  const input: LinkInput = { longTerm: false, directFile: false };
  if (body === undefined) return input;
  const params = body as Parameters;
  if (params === null || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw badRequest('$health-link-create expects a Parameters resource (passcode, expiration, label, longTerm; all optional) or no body');
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  parameterList(params, '$health-link-create').forEach((p, i) => {
    const where = `Parameters.parameter[${i}]`;
    const name = typeof p?.name === 'string' ? p.name : '';
    if (['passcode', 'expiration', 'label', 'longTerm', 'directFile'].includes(name)) {
      if (seen.has(name)) {
        problems.push(`${where}: ${name} is given more than once`);
        return;
      }
      seen.add(name);
    }
    switch (name) {
      case 'passcode': {
        const value = p.valueString;
        if (typeof value !== 'string' || value.length < MIN_PASSCODE_LENGTH || value.length > MAX_PASSCODE_LENGTH) {
          problems.push(`${where}: passcode needs valueString of ${MIN_PASSCODE_LENGTH}-${MAX_PASSCODE_LENGTH} characters`);
        } else {
          input.passcode = value;
        }
        break;
      }
      case 'expiration': {
        const value = p.valueInstant ?? p.valueDateTime;
        if (typeof value !== 'string' || !INSTANT.test(value) || Number.isNaN(Date.parse(value))) {
          problems.push(`${where}: expiration needs an instant with a time zone (valueInstant), e.g. 2027-01-31T00:00:00Z`);
        } else {
          input.expiration = Date.parse(value);
        }
        break;
      }
      case 'label': {
        const value = p.valueString;
        if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LABEL) problems.push(`${where}: label needs valueString of 1-${MAX_LABEL} characters`);
        else input.label = value;
        break;
      }
      case 'longTerm':
      case 'directFile':
        if (typeof p.valueBoolean !== 'boolean') problems.push(`${where}: ${name} needs valueBoolean`);
        else input[name] = p.valueBoolean;
        break;
      default:
        if (!lenient) problems.push(`${where}: unknown parameter "${name}" (passcode, expiration, label, longTerm, directFile)`);
    }
  });
  // The spec: U "SHALL NOT be used in combination with P" (a GET carries no passcode).
  if (input.directFile && input.passcode !== undefined) problems.push('directFile (flag U) cannot be combined with a passcode (flag P)');
  if (problems.length > 0) {
    throw new FhirError(400, outcome(problems.map((text) => makeIssue('error', 'invalid', text, { expression: 'Parameters.parameter' }))));
  }
  return input;
}
