// What a SMART Health Links receiving app calls, without a token (the link id in the URL is the
// capability; CORS is open as for every answer of this server):
//   POST /shl/{id}        the manifest request: JSON {recipient, passcode?, embeddedLengthMax?}
//                         → {status, files: [{contentType, embedded | location, lastUpdated, status, …}]}
//   GET  /shl/file/{token} a manifest's single-use `location` (5 minutes; the first GET takes it)
//                         → the JWE, content-type application/jose
//   GET  /shl/{id}?recipient=…  a link with flag U: its one file (the card) directly, as a JWE
// The link is looked up by the SHA-256 of its id (shlink.ts), never by the id. An unknown, expired,
// revoked or disabled link answers 404 (the spec: "no longer active"). With flag P a wrong
// passcode answers 401 {"remainingAttempts": n} and costs one of the link's PASSCODE_ATTEMPTS; the
// last one disables the link; a missing passcode answers 401 without costing one.
// The manifest lists the card as `application/smart-health-card` (the file {"verifiableCredential":
// [jws]}) and its Bundle as `application/fhir+json`, each encrypted with the link's key (JWE, dir +
// A256GCM) and embedded, or behind a `location` when longer than the app's embeddedLengthMax.
// A snapshot link shares the card signed when it was made; a long-term one (flag L) has the card
// re-issued at each request through the FHIR pipeline as the person who made the link (read rights
// on Patient and Immunization only), so data sharing applies as of now and the issuance is audited.
// Every manifest request for a live link is an AuditEvent (DICOM Export): who = the recipient string
// the app sent, the link's handle, the Patient, the outcome; unknown ids are not audited (no patient,
// and anyone could fill the audit trail with them).
import { inflateRawSync } from 'node:zlib';
import type { AuditEvent, AuditEventEntity, Parameters } from '@medplum/fhirtypes';
import express, { type Request, type Response } from 'express';
import type { Caller, ResourceScope } from '../fhir/request.js';
import { FhirError, isFhirError, makeIssue, notFound, outcome } from '../fhir/outcome.js';
import { newResourceId } from '../fhir/resource-id.js';
import type { FrontDoorServices } from '../pipeline/front-door.js';
import { SHC_FILE } from './issue.js';
import { HealthLinks, type HealthLink } from './link-store.js';
import { encryptFile, LINK_ID, linkHandle, MANIFEST_PATH } from './shlink.js';

const FHIR_JSON = 'application/fhir+json';
const JOSE = 'application/jose';

/** A JWE as the SHL spec serves it: `Content-Type: application/jose` exactly (express would add a charset to a string). */
function sendJwe(res: Response, jwe: string): void {
  res.setHeader('Content-Type', JOSE);
  res.send(Buffer.from(jwe, 'ascii'));
}
/** A manifest request is a few fields; anything bigger is refused before it is parsed. */
const MAX_MANIFEST_BODY = '4kb';
const MAX_RECIPIENT = 256;
const SWEEP_MS = 10 * 60_000;
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const LINK_EVENT = 'https://iis-fhir-server.org/fhir/CodeSystem/health-link-event';
const ASK_CARD: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'credentialType', valueUri: 'https://smarthealth.cards#immunization' }] };

interface ManifestRequest {
  recipient: string;
  passcode?: string;
  embeddedLengthMax?: number;
}

interface ManifestFile {
  contentType: string;
  embedded?: string;
  location?: string;
  lastUpdated?: string;
  status?: 'finalized' | 'can-change';
  fhirVersion?: string;
}

type Services = Pick<FrontDoorServices, 'config' | 'systemStore' | 'pipeline' | 'audit' | 'onClose' | 'baseUrl'>;

export function healthLinksFrontDoor(services: Services): express.Router {
  const links = new HealthLinks(services.systemStore);
  const publicBase = services.config.publicBaseUrl;
  const sweeper = setInterval(() => void links.sweep().catch(() => undefined), SWEEP_MS);
  sweeper.unref();
  services.onClose(async () => clearInterval(sweeper));

  const router = express.Router();
  const readJson = express.json({ limit: MAX_MANIFEST_BODY, inflate: false, strict: true, type: () => true });

  router.post(`${MANIFEST_PATH}/:id`, (req, res, next) => {
    // The id is checked before the body is read: an unknown link costs no parsing.
    if (!LINK_ID.test(req.params.id)) {
      next(notFound('No such SMART Health Link'));
      return;
    }
    readJson(req, res, (err?: unknown) => {
      if (err) {
        next(err);
        return;
      }
      answerManifest(req, res, links, services, publicBase).catch(next);
    });
  });

  // Flag U: the link's url answers GET ?recipient=… with its one file (the card), no manifest.
  router.get(`${MANIFEST_PATH}/:id`, (req, res, next) => {
    answerDirectFile(req, res, links, services).catch(next);
  });

  router.get(`${MANIFEST_PATH}/file/:token`, (req, res, next) => {
    (async () => {
      const file = LINK_ID.test(req.params.token) ? await links.takeFile(req.params.token) : undefined;
      if (file === undefined) throw notFound('No such file: file URLs of a SMART Health Link manifest are used once and expire after 5 minutes; request the manifest again');
      // The file leaves now: audited as its manifest request was (who asked for the manifest, the
      // link, the patient). The URL is a bearer token anyone holding it may use once, so the
      // manifest's event alone did not say whether or from where the card was fetched.
      const requestId = (res.locals as { requestId?: string }).requestId ?? newResourceId();
      services.audit.recordEvent(
        manifestEvent({ link: file.link, recipient: file.recipient, address: req.ip, status: 200, outcomeDesc: `file fetched from its location (${file.contentType})`, requestId, serverUrl: services.baseUrl, subtype: 'file' })
      );
      res.setHeader('Cache-Control', 'no-store');
      sendJwe(res, file.jwe);
    })().catch(next);
  });
  return router;
}

async function answerDirectFile(req: Request, res: Response, links: HealthLinks, services: Services): Promise<void> {
  const id = req.params.id as string;
  const link = LINK_ID.test(id) ? await links.get(linkHandle(id)) : undefined;
  if (!link || !link.flag.includes('U')) throw notFound('No such SMART Health Link with a direct file (flag U), or it is no longer active; other links answer a manifest request (POST)');
  // The server turns express's query parser off: the query string is read here.
  const recipient = readRecipient(new URLSearchParams((req.originalUrl ?? req.url).split('?')[1] ?? '').get('recipient') ?? undefined);
  if (recipient === undefined) throw new FhirError(400, outcome([makeIssue('error', 'invalid', `recipient is required: ?recipient= a string of 1-${MAX_RECIPIENT} characters naming who receives the data`)]));
  const requestId = (res.locals as { requestId?: string }).requestId ?? newResourceId();
  const audit = (status: number, outcomeDesc: string) =>
    services.audit.recordEvent(manifestEvent({ link, recipient, address: req.ip, status, outcomeDesc, requestId, serverUrl: services.baseUrl }));
  const jws = await currentCard(link, services, requestId, audit);
  if (jws === undefined) {
    audit(404, 'no completed dose to share');
    throw notFound('The patient has no completed immunization on record to share');
  }
  const jwe = await encryptFile(link.key, SHC_FILE, JSON.stringify({ verifiableCredential: [jws] }));
  audit(200, 'direct file (flag U)');
  res.setHeader('Cache-Control', 'no-store');
  sendJwe(res, jwe);
}

/** The recipient string as the audit trail shows it (control characters dropped), or undefined when unusable. */
function readRecipient(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_RECIPIENT) return undefined;
  return value.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
}

async function answerManifest(req: Request, res: Response, links: HealthLinks, services: Services, publicBase: string): Promise<void> {
  const input = readManifestRequest(req.body);
  const handle = linkHandle(req.params.id as string);
  const requestId = (res.locals as { requestId?: string }).requestId ?? newResourceId();
  let link = await links.get(handle);
  if (!link) throw notFound('No such SMART Health Link, or it is no longer active (expired, revoked or disabled)');

  const audit = (status: number, outcomeDesc: string) =>
    services.audit.recordEvent(manifestEvent({ link: link!, recipient: input.recipient, address: req.ip, status, outcomeDesc, requestId, serverUrl: services.baseUrl }));

  if (link.flag.includes('P')) {
    const check = await links.checkPasscode(handle, input.passcode);
    if (!check) throw notFound('No such SMART Health Link, or it is no longer active (expired, revoked or disabled)');
    if (!check.ok) {
      const why = input.passcode === undefined ? 'no passcode' : check.disabled ? 'wrong passcode; no attempts left, the link is disabled' : 'wrong passcode';
      audit(401, `${why} (${check.remainingAttempts} attempts left)`);
      res.setHeader('Cache-Control', 'no-store');
      res.status(401).json({ remainingAttempts: check.remainingAttempts });
      return;
    }
    link = check.link;
  }

  const jws = await currentCard(link, services, requestId, audit);
  const files = jws === undefined ? [] : await manifestFiles(link, jws, input.embeddedLengthMax, links, publicBase, input.recipient);
  audit(200, `manifest with ${files.length} file${files.length === 1 ? '' : 's'} (${files.map((f) => (f.embedded ? 'embedded' : 'location')).join(', ')})`);
  res.setHeader('Cache-Control', 'no-store');
  // The manifest's status (IG STU1: ShlManifest.status, whether the files may change; later
  // drafts put it on each file, which is kept too): a long-term link's card follows the record.
  res.status(200).json({ status: manifestStatus(link), files });
}

function manifestStatus(link: HealthLink): 'finalized' | 'can-change' {
  return link.flag.includes('L') ? 'can-change' : 'finalized';
}

/**
 * The card a link shares now: re-issued for a long-term link; for a snapshot the card it was made
 * with, as long as the patient's record is not deleted (a deleted record was wrong or is gone: its
 * links stop, as they stop when its cards are revoked). An error is audited before it is thrown.
 */
async function currentCard(link: HealthLink, services: Services, requestId: string, audit: (status: number, outcomeDesc: string) => void): Promise<string | undefined> {
  try {
    if (link.sharer) return await reissue(link, services, requestId);
    const record = await services.systemStore.read('Patient', link.patient);
    if (!record || record.deleted) throw notFound(`The record of the patient this SMART Health Link shares was deleted; the link is no longer active`);
    return link.card;
  } catch (err) {
    audit(isFhirError(err) ? err.status : 500, `no card to share: ${err instanceof Error ? err.message : String(err)}`);
    throw forLinkHolder(err);
  }
}

/**
 * A data-sharing refusal as the link's holder gets it: anyone holding the link, no caller of ours,
 * so it keeps the status and rule code but names neither the registry's id of the patient nor the
 * organization the family stopped sharing with (the audit trail keeps the full reason).
 */
function forLinkHolder(err: unknown): unknown {
  if (!isFhirError(err) || err.status !== 403) return err;
  const ruleCode = err.outcome.issue?.[0]?.details?.coding?.[0]?.code;
  if (ruleCode !== 'data-sharing-restricted' && ruleCode !== 'data-sharing-unknown') return err;
  const text =
    ruleCode === 'data-sharing-unknown'
      ? 'The record this SMART Health Link shares cannot be shared now: its data-sharing status is unknown'
      : 'The record this SMART Health Link shares is no longer shared with the organization that made the link';
  return new FhirError(403, outcome([makeIssue('error', 'forbidden', text, { ruleCode })]));
}

/** The card of a long-term link, issued now through the pipeline as the link's sharer; undefined when there is no dose to show. */
async function reissue(link: HealthLink, services: Services, requestId: string): Promise<string | undefined> {
  const sharer = link.sharer!;
  const read = new Set(['r'] as const);
  const scopes: ResourceScope[] = [
    { context: sharer.context, resourceType: 'Patient', permissions: read },
    { context: sharer.context, resourceType: 'Immunization', permissions: read },
  ];
  const caller: Caller = {
    ...(sharer.sub === undefined ? {} : { sub: sharer.sub }),
    ...(sharer.organization === undefined ? {} : { organization: sharer.organization }),
    ...(sharer.fhirUser === undefined ? {} : { fhirUser: sharer.fhirUser }),
    ...(sharer.patient === undefined ? {} : { patient: sharer.patient }),
    ...(sharer.clientId === undefined ? {} : { clientId: sharer.clientId }),
    ...(sharer.issuer === undefined ? {} : { issuer: sharer.issuer }),
    scopes,
    scope: `${sharer.context}/Patient.r ${sharer.context}/Immunization.r`,
  };
  const response = await services.pipeline.executeAs(caller, { method: 'POST', url: `Patient/${link.patient}/$health-cards-issue`, body: ASK_CARD, requestId });
  const card = (response.body as Parameters | undefined)?.parameter?.find((p) => p.name === 'verifiableCredential')?.valueString;
  return card;
}

async function manifestFiles(link: HealthLink, jws: string, embeddedLengthMax: number | undefined, links: HealthLinks, publicBase: string, recipient: string): Promise<ManifestFile[]> {
  const payload = JSON.parse(inflateRawSync(Buffer.from(jws.split('.')[1], 'base64url')).toString('utf8')) as {
    nbf: number;
    vc: { credentialSubject: { fhirVersion: string; fhirBundle: unknown } };
  };
  const lastUpdated = new Date(payload.nbf * 1000).toISOString();
  const status = manifestStatus(link);
  const contents: Array<[string, string, Partial<ManifestFile>]> = [
    [SHC_FILE, JSON.stringify({ verifiableCredential: [jws] }), {}],
    [FHIR_JSON, JSON.stringify(payload.vc.credentialSubject.fhirBundle), { fhirVersion: payload.vc.credentialSubject.fhirVersion }],
  ];
  const files: ManifestFile[] = [];
  for (const [contentType, content, extra] of contents) {
    const jwe = await encryptFile(link.key, contentType, content);
    const file: ManifestFile = { contentType };
    if (embeddedLengthMax === undefined || jwe.length <= embeddedLengthMax) file.embedded = jwe;
    else file.location = `${publicBase}${MANIFEST_PATH}/file/${await links.putFile(link, jwe, recipient, contentType)}`;
    files.push({ ...file, lastUpdated, status, ...extra });
  }
  return files;
}

function readManifestRequest(body: unknown): ManifestRequest {
  const problems: string[] = [];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new FhirError(400, outcome([makeIssue('error', 'invalid', 'A manifest request is a JSON object: {"recipient": "…", "passcode": "…" (with flag P), "embeddedLengthMax": n (optional)}')]));
  }
  const { recipient: given, passcode, embeddedLengthMax } = body as Record<string, unknown>;
  const recipient = readRecipient(given);
  if (recipient === undefined) problems.push(`recipient is required: a string of 1-${MAX_RECIPIENT} characters naming who receives the data`);
  if (passcode !== undefined && (typeof passcode !== 'string' || passcode.length > 1024)) problems.push('passcode must be a string');
  if (embeddedLengthMax !== undefined && !(typeof embeddedLengthMax === 'number' && Number.isSafeInteger(embeddedLengthMax) && embeddedLengthMax >= 0)) {
    problems.push('embeddedLengthMax must be a non-negative integer');
  }
  if (problems.length > 0) throw new FhirError(400, outcome(problems.map((text) => makeIssue('error', 'invalid', text))));
  return {
    recipient: recipient as string,
    ...(typeof passcode === 'string' ? { passcode } : {}),
    ...(typeof embeddedLengthMax === 'number' ? { embeddedLengthMax } : {}),
  };
}

/** The AuditEvent of one manifest request: the recipient, the link (its handle), the Patient, the outcome. */
export function manifestEvent(event: {
  link: Pick<HealthLink, 'handle' | 'patient' | 'flag' | 'label'>;
  /** manifest (default): a manifest request or a flag U direct file; file: a file fetched from its single-use location. */
  subtype?: 'manifest' | 'file';
  recipient: string;
  address?: string;
  status: number;
  outcomeDesc: string;
  requestId: string;
  serverUrl: string;
}): AuditEvent & { id: string } {
  const entity: AuditEventEntity[] = [
    {
      what: { reference: `Patient/${event.link.patient}` },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    },
    {
      what: { identifier: { system: `${event.serverUrl}/health-links`, value: event.link.handle } },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      description: 'SMART Health Link',
      detail: [
        { type: 'flag', valueString: event.link.flag || '(none)' },
        ...(event.link.label ? [{ type: 'label', valueString: event.link.label }] : []),
      ],
    },
    { what: { identifier: { value: event.requestId } }, type: { system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', code: 'XrequestId' } },
  ];
  return {
    resourceType: 'AuditEvent',
    id: newResourceId(),
    type: { system: DCM, code: '110106', display: 'Export' },
    subtype: [event.subtype === 'file' ? { system: LINK_EVENT, code: 'file', display: 'SMART Health Link file fetched' } : { system: LINK_EVENT, code: 'manifest', display: 'SMART Health Link manifest request' }],
    action: 'R',
    recorded: new Date().toISOString(),
    outcome: event.status < 400 ? '0' : event.status < 500 ? '4' : '8',
    outcomeDesc: `${event.status} ${event.outcomeDesc}`,
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' }] },
        who: { display: event.recipient },
        requestor: true,
        ...(event.address ? { network: { address: event.address, type: '2' as const } } : {}),
      },
      {
        type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
        who: { identifier: { value: event.serverUrl }, display: 'iis-fhir-server' },
        requestor: false,
      },
    ],
    source: {
      site: event.serverUrl,
      observer: { identifier: { value: event.serverUrl }, display: 'iis-fhir-server' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity,
  };
}
