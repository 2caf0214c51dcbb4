// Patient/$merge (R5-style Parameters: source-patient and/or source-patient-identifier,
// target-patient and/or target-patient-identifier, preview, result-patient). A patient named by
// identifiers is looked up through the caller's view of the registry and must be exactly one live
// record carrying all of them (a record merged away is not a candidate while a live one carries
// the identifiers too: after a merge the target holds the source's identifiers); with a reference
// as well, every identifier given must be on the record referenced. Then:
// the source's Immunizations, Conditions and other Consents move to the target (its data-sharing
// Consents stay where they are: the status is the person's, src/consent/sharing-index.ts), the source becomes
// inactive with a replaced-by link, the target gets a replaces link and the source's identifiers
// and names, and the pair leaves the review list (the target's possible-duplicate-of naming the
// source goes, its review tag when no other candidate is named; the source, merged away, loses its
// review tag and possible-duplicate-of extensions). A target that is itself merged
// away or inactive is refused (422). With result-patient the target's content, meta included, is
// the client's, as in a PUT (only the pair's review is settled as above). Every change is an
// ordinary new version, so history shows each step. preview=true answers what would happen
// without writing.
import type { Condition, Consent, Extension, Identifier, Immunization, OperationOutcomeIssue, Parameters, ParametersParameter, Patient, PatientLink, Resource } from '@medplum/fhirtypes';
import { grants } from '../auth/scopes.js';
import { isDataSharingConsent } from '../consent/data-sharing.js';
import { badRequest, forbidden, makeIssue, outcome, unprocessable } from '../fhir/outcome.js';
import { readCurrent } from '../interactions/read.js';
import { versionUrl } from '../interactions/respond.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import { indexFor, translateConflict, validateBody } from '../interactions/write-support.js';
import { POSSIBLE_DUPLICATE_EXTENSION, REVIEW_TAG } from '../matching/ingest.js';
import { mergeNames } from '../matching/merge-records.js';
import { findMatches } from '../search/execute.js';
import type { ResourceRecord, WriteOp } from '../store/store.js';

const MAX_MOVED = 10_000;

/** Told about a committed merge (not a preview); its issues join the merge's outcome. */
export type AfterMerge = (merge: { sourceId: string; targetId: string; mergedAt: Date }, ctx: HandlerContext) => Promise<OperationOutcomeIssue[]>;

/** $merge with what the composition adds after a merge (src/app/handlers.ts: revoking the source's health cards). */
export function mergeOperationWith(afterMerge?: AfterMerge): (req: FhirRequest, ctx: HandlerContext) => Promise<FhirResponse> {
  return (req, ctx) => merge(req, ctx, afterMerge);
}

async function merge(req: FhirRequest, ctx: HandlerContext, afterMerge: AfterMerge | undefined): Promise<FhirResponse> {
  if (req.id !== undefined) throw badRequest('$merge is a type-level operation: POST /fhir/Patient/$merge');
  const input = readInput(req.body);
  if (!grants(ctx.caller.scopes, 'Immunization', ['u'], ['user', 'system'])) {
    throw forbidden('$merge moves Immunizations: the token needs update rights on Immunization too');
  }
  const [sourceId, targetId] = await Promise.all([resolvePatient(ctx, input.source), resolvePatient(ctx, input.target)]);
  if (sourceId === targetId) throw badRequest('source-patient and target-patient are the same record');
  const [source, target] = await Promise.all([readCurrent(ctx, 'Patient', sourceId), readCurrent(ctx, 'Patient', targetId)]);
  requireIdentifiers(input.source, source);
  requireIdentifiers(input.target, target);
  // (readCurrent reads through the caller-scoped store: a patient the caller may not see is a 403.)
  const sourcePatient = source.resource as Patient;
  if (sourcePatient.link?.some((l) => l.type === 'replaced-by')) {
    throw unprocessable(`Patient/${source.id} was already merged into another record`, { expression: 'Patient.link' });
  }
  refuseInactiveTarget(target.id, target.resource as Patient);
  // R5 $merge: the result-patient's id SHALL be the target's. Another id was overwritten with the
  // target's, so a client that sent the wrong record's content had it stored as the target.
  const resultId = input.resultPatient?.id;
  if (resultId !== undefined && resultId !== target.id) {
    throw badRequest(`result-patient has id ${JSON.stringify(resultId)}; it must be the target's, Patient/${target.id}`, { expression: 'result-patient' });
  }

  const newTarget = await buildTarget(ctx, target, sourcePatient, input.resultPatient);
  const newSource: Patient = {
    ...withoutReview(sourcePatient),
    active: false,
    link: [
      ...(sourcePatient.link ?? []).filter((l) => l.other?.reference !== `Patient/${target.id}`),
      { other: { reference: `Patient/${target.id}` }, type: 'replaced-by' },
    ],
  };
  // Data-sharing Consents stay on the record they name: the links this merge writes make the two
  // records one person, whose status the newest choice on any of its records decides
  // (src/consent/sharing-index.ts), for the merged-away record (its name, identifiers and
  // replaced-by link) as for the survivor. Moving them rewrote them: every write renews
  // meta.lastUpdated, which orders choices of the same dateTime (or none), so an older choice
  // moved outranked a newer one left in place (a No child merged into a Yes child shown to all).
  const moved = (await recordsOf(ctx, `Patient/${source.id}`)).filter((r) => !(r.resourceType === 'Consent' && isDataSharingConsent(r.resource as Consent)));
  const conditions = moved.filter((r) => r.resourceType === 'Condition').length;
  const ops: WriteOp[] = [
    write('Patient', target, newTarget),
    write('Patient', source, newSource),
    ...moved.map((record) => write(record.resourceType, record, repoint(record.resource as Immunization | Consent | Condition, target.id))),
  ];
  const summary = makeIssue(
    'information',
    'informational',
    `${input.preview ? 'Would merge' : 'Merged'} Patient/${source.id} into Patient/${target.id}: ` +
      `${moved.filter((r) => r.resourceType === 'Immunization').length} Immunization(s) and ` +
      `${moved.filter((r) => r.resourceType === 'Consent').length} Consent(s)` +
      (conditions > 0 ? ` and ${conditions} Condition(s)` : '') +
      ' moved; the source is inactive with a replaced-by link (data-sharing Consents stay on their record and count for both)'
  );
  if (input.preview) return answer(req, ctx, result(input.raw, [summary], newTarget));

  let written: ResourceRecord[];
  try {
    if (ctx.store.supportsTransactions) written = await ctx.store.transact(ops);
    else {
      // Without transactions each step is its own versioned write, in an order that leaves no
      // Immunization pointing at a record marked replaced: target (its replaces link already joins
      // the two records' data sharing), moves, then the source.
      written = [];
      const ordered = [ops[0], ...ops.slice(2), ops[1]];
      for (const op of ordered) written.push(await ctx.store.write(op));
    }
  } catch (err) {
    throw translateConflict(err, false);
  }
  const stored = written.find((r) => r.resourceType === 'Patient' && r.id === target.id)?.resource as Patient;
  const more = afterMerge ? await afterMerge({ sourceId: source.id, targetId: target.id, mergedAt: new Date() }, ctx) : [];
  const storedTarget = written.find((r) => r.resourceType === 'Patient' && r.id === target.id);
  return answer(req, ctx, result(input.raw, [summary, ...more], stored), storedTarget);
}

/**
 * The merge's answer as `Prefer: return` asks (R4 http.html#ops: minimal, representation,
 * OperationOutcome); without it, and with representation, R5 $merge's Parameters (input, outcome,
 * result), as before. CONTRACT.md names the operation and what it does, not its answer, so the
 * default stays. minimal: no body, the survivor's new version in `Location` (none for a preview,
 * which wrote nothing); OperationOutcome: the outcome part alone.
 */
function answer(req: FhirRequest, ctx: HandlerContext, parameters: Parameters, stored?: ResourceRecord): FhirResponse {
  switch (req.prefer.return) {
    case 'minimal':
      return { status: 200, headers: stored ? { Location: versionUrl(ctx.baseUrl, stored) } : {}, body: undefined };
    case 'OperationOutcome':
      return { status: 200, body: parameters.parameter?.find((p) => p.name === 'outcome')?.resource };
    default:
      return { status: 200, body: parameters };
  }
}

async function buildTarget(ctx: HandlerContext, target: ResourceRecord, source: Patient, resultPatient: Patient | undefined): Promise<Patient> {
  const current = target.resource as Patient;
  let next: Patient;
  if (resultPatient) {
    const { resource } = await validateBody(ctx, { ...resultPatient, id: target.id }, { resourceType: 'Patient', id: target.id }, 'update');
    next = resource as Patient;
  } else {
    const name = mergeNames(current.name ?? [], (source.name ?? []).map((n) => ({ ...n, use: n.use === 'official' ? 'old' : n.use })));
    const identifier = unique([...(current.identifier ?? []), ...(source.identifier ?? []).map((i) => ({ ...i, use: i.use ?? 'old' }))], (i) => `${i.system}|${i.value}`);
    // A list with nothing in it is left out (FHIR ele-1: no empty arrays): two records without
    // identifiers stored `identifier: []`, which every write of that record would then refuse.
    next = { ...current };
    if (name.length > 0) next.name = name;
    if (identifier.length > 0) next.identifier = identifier;
  }
  next = resolveReview(next, source.id as string);
  const replaces: PatientLink = { other: { reference: `Patient/${source.id}` }, type: 'replaces' };
  return { ...next, id: target.id, link: [...(next.link ?? []).filter((l) => l.other?.reference !== replaces.other.reference), replaces] };
}

/**
 * A target merged away itself (a replaced-by link) or inactive cannot take the source's records:
 * its doses would land on a record nobody looks at, and two records could each replace the other.
 */
function refuseInactiveTarget(id: string, target: Patient): void {
  const replacedBy = target.link?.find((l) => l.type === 'replaced-by');
  if (replacedBy) {
    const into = replacedBy.other?.reference ?? 'another record';
    throw unprocessable(`target-patient Patient/${id} was already merged into ${into}: merge into that record instead`, { expression: 'Patient.link' });
  }
  if (target.active === false) {
    throw unprocessable(`target-patient Patient/${id} is inactive (active: false): a merge needs an active target`, { expression: 'Patient.active' });
  }
}

/**
 * The merge settles the review of this pair: the target's possible-duplicate-of naming the source
 * is removed, and the review tag too when no other candidate is named. Other tags, security
 * labels and extensions stay as they are.
 */
function resolveReview(target: Patient, sourceId: string): Patient {
  const namesSource = (e: Extension) => e.url === POSSIBLE_DUPLICATE_EXTENSION && referencesPatient(e.valueReference?.reference, sourceId);
  if (!target.extension?.some(namesSource)) return target;
  const resolved: Patient = { ...target, extension: target.extension.filter((e) => !namesSource(e)) };
  if (resolved.extension?.length === 0) delete resolved.extension;
  const stillUnderReview = resolved.extension?.some((e) => e.url === POSSIBLE_DUPLICATE_EXTENSION) ?? false;
  if (!stillUnderReview && target.meta?.tag) {
    const tag = target.meta.tag.filter((t) => !(t.system === REVIEW_TAG.system && t.code === REVIEW_TAG.code));
    resolved.meta = { ...target.meta, tag };
    if (tag.length === 0) delete resolved.meta.tag;
  }
  return resolved;
}

/**
 * A record merged away leaves the review list whichever side of the pair was under review: it can
 * no longer be merged (it is not a live record), so its review tag and every possible-duplicate-of
 * it carried go (its history keeps them). The target keeps its own review of other candidates.
 */
function withoutReview(source: Patient): Patient {
  const next: Patient = { ...source };
  const extension = source.extension?.filter((e) => e.url !== POSSIBLE_DUPLICATE_EXTENSION);
  if (extension && extension.length > 0) next.extension = extension;
  else delete next.extension;
  const tag = source.meta?.tag?.filter((t) => !(t.system === REVIEW_TAG.system && t.code === REVIEW_TAG.code));
  if (source.meta?.tag && tag) {
    next.meta = { ...source.meta, tag };
    if (tag.length === 0) delete next.meta.tag;
  }
  return next;
}

function referencesPatient(reference: string | undefined, id: string): boolean {
  return reference === `Patient/${id}` || (reference?.endsWith(`/Patient/${id}`) ?? false);
}

async function recordsOf(ctx: HandlerContext, patientRef: string): Promise<ResourceRecord[]> {
  const [immunizations, consents, conditions] = await Promise.all([
    ctx.store.search('Immunization', { filter: { 's.patient': patientRef }, limit: MAX_MOVED + 1 }),
    ctx.store.search('Consent', { filter: { 's.patient': patientRef }, limit: MAX_MOVED + 1 }),
    ctx.store.search('Condition', { filter: { 's.patient': patientRef }, limit: MAX_MOVED + 1 }),
  ]);
  if (immunizations.length + consents.length + conditions.length > MAX_MOVED) {
    throw unprocessable(`More than ${MAX_MOVED} records would move; merge refused`);
  }
  return [...immunizations, ...consents, ...conditions];
}

function repoint<T extends Immunization | Consent | Condition>(resource: T, targetId: string): T {
  // A Condition names its patient as subject; Immunization and Consent as patient.
  if (resource.resourceType === 'Condition') return { ...resource, subject: { ...resource.subject, reference: `Patient/${targetId}` } };
  return { ...resource, patient: { ...(resource as Immunization | Consent).patient, reference: `Patient/${targetId}` } };
}

function write(resourceType: string, current: ResourceRecord, resource: Resource): WriteOp {
  return { resourceType, id: current.id, resource, ifVersion: current.versionId, index: indexFor(resource) };
}

function unique<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function result(input: Parameters, issues: OperationOutcomeIssue[], target: Patient): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'input', resource: input },
      { name: 'outcome', resource: outcome(issues) },
      { name: 'result', resource: target },
    ],
  };
}

/** One side of the merge as the client named it: a reference, identifiers, or both. */
interface PatientSelector {
  /** The parameter's name (source-patient, target-patient), for messages. */
  name: string;
  id?: string;
  identifiers: Identifier[];
}

interface MergeInput {
  raw: Parameters;
  source: PatientSelector;
  target: PatientSelector;
  preview: boolean;
  resultPatient?: Patient;
}

/** The number of records an ambiguous identifier lookup names in its message. */
const NAMED_WHEN_AMBIGUOUS = 10;

/**
 * The id of the record a selector names: its reference, or the one live record (not merged away)
 * the caller may see that carries every identifier. None or several is a 422: the client must
 * say which record it means.
 */
async function resolvePatient(ctx: HandlerContext, selector: PatientSelector): Promise<string> {
  if (selector.id !== undefined) return selector.id;
  const query = selector.identifiers.map((i) => `identifier=${encodeURIComponent(tokenOf(i))}`).join('&');
  const found = await findMatches(ctx.store, 'Patient', query, NAMED_WHEN_AMBIGUOUS + 1, { baseUrl: ctx.baseUrl });
  const live = found.filter((r) => !(r.resource as Patient).link?.some((l) => l.type === 'replaced-by'));
  const candidates = live.length > 0 ? live : found;
  const shown = selector.identifiers.map(tokenOf).join(', ');
  if (candidates.length === 0) {
    throw unprocessable(`${selector.name}-identifier ${shown} matches no Patient`, { expression: `${selector.name}-identifier` });
  }
  if (candidates.length > 1) {
    const ids = candidates.slice(0, NAMED_WHEN_AMBIGUOUS).map((r) => `Patient/${r.id}`).join(', ');
    throw unprocessable(`${selector.name}-identifier ${shown} matches more than one Patient (${ids}${found.length > NAMED_WHEN_AMBIGUOUS ? ', …' : ''}): give ${selector.name} as a reference`, {
      expression: `${selector.name}-identifier`,
    });
  }
  return candidates[0].id;
}

/** With a reference and identifiers, the record referenced must carry every identifier given. */
function requireIdentifiers(selector: PatientSelector, record: ResourceRecord): void {
  if (selector.id === undefined) return;
  const carried = (record.resource as Patient).identifier ?? [];
  for (const wanted of selector.identifiers) {
    const found = carried.some((i) => i.value === wanted.value && (wanted.system === undefined || i.system === wanted.system));
    if (!found) {
      throw unprocessable(`Patient/${record.id} (${selector.name}) does not carry the identifier ${tokenOf(wanted)} given for it`, { expression: `${selector.name}-identifier` });
    }
  }
}

/** An Identifier as a search token (system|value, or value alone), with FHIR's escapes. */
function tokenOf(identifier: Identifier): string {
  const escape = (v: string) => v.replace(/[\\|,$]/g, (c) => `\\${c}`);
  const value = escape(identifier.value ?? '');
  return identifier.system === undefined ? value : `${escape(identifier.system)}|${value}`;
}

function readInput(body: unknown): MergeInput {
  const params = body as Parameters | undefined;
  if (!params || params.resourceType !== 'Parameters' || !Array.isArray(params.parameter)) {
    throw badRequest('$merge needs a Parameters body with source-patient and target-patient references');
  }
  // source-patient, target-patient, preview and result-patient are 0..1 (only the -identifier
  // forms repeat): given twice, which record would be merged into which? Refused, never guessed.
  const part = (name: string): ParametersParameter | undefined => {
    const parts = params.parameter?.filter((p) => p.name === name) ?? [];
    if (parts.length > 1) throw badRequest(`$merge takes one "${name}" parameter; it was given ${parts.length} times`, { expression: name });
    return parts[0];
  };
  const selectorOf = (name: string): PatientSelector => {
    const ref = part(name);
    const identifiers: Identifier[] = [];
    for (const p of params.parameter ?? []) {
      if (p.name !== `${name}-identifier`) continue;
      const identifier = p.valueIdentifier;
      if (!identifier || typeof identifier.value !== 'string' || identifier.value === '' || (identifier.system !== undefined && typeof identifier.system !== 'string')) {
        throw badRequest(`${name}-identifier must be a valueIdentifier with a value (and a system)`, { expression: `${name}-identifier` });
      }
      identifiers.push({ system: identifier.system, value: identifier.value });
    }
    // A logical reference may carry the identifier itself (Reference.identifier).
    const logical = ref?.valueReference?.identifier;
    if (logical) {
      if (typeof logical.value !== 'string' || logical.value === '') throw badRequest(`${name}.identifier needs a value`, { expression: name });
      identifiers.push({ system: logical.system, value: logical.value });
    }
    const reference = ref?.valueReference?.reference;
    if (reference === undefined) {
      if (identifiers.length > 0) return { name, identifiers };
      throw badRequest(`${name} (a valueReference to Patient/<id>) or ${name}-identifier is required`, { expression: name });
    }
    const match = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
    if (!match) throw badRequest(`${name} must be a valueReference to Patient/<id>`, { expression: name });
    return { name, id: match[1], identifiers };
  };
  const preview = part('preview');
  if (preview && typeof preview.valueBoolean !== 'boolean') throw badRequest('preview must be a valueBoolean');
  const resultPatient = part('result-patient')?.resource;
  if (resultPatient && resultPatient.resourceType !== 'Patient') throw badRequest('result-patient must be a Patient');
  return {
    raw: params,
    source: selectorOf('source-patient'),
    target: selectorOf('target-patient'),
    preview: preview?.valueBoolean === true,
    resultPatient: resultPatient as Patient | undefined,
  };
}
