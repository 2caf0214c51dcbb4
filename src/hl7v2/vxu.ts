// VXU^V04 (Z22) → one FHIR transaction Bundle through the pipeline → ACK^V04 (Z23).
// The message is stored whole or not at all: a dose that a data-quality rule rejects is dropped
// and the rest committed again as one transaction (AE, "partly rejected"); anything wrong with the
// patient rejects the message (AR). Idempotent: the Patient is found by its PID-3 identifiers,
// doses by ORC-3 (or a key of the dose), the PD1-12 Consent by patient, choice and date.
import type { Bundle, BundleEntry, BundleEntryRequest, Consent, Identifier, OperationOutcomeIssue, Patient } from '@medplum/fhirtypes';
import { isFhirError } from '../fhir/outcome.js';
import { markUnchangedWritesNothing } from '../fhir/request.js';
import { sharedInFamilies } from '../matching/features.js';
import { REVIEW_TAG } from '../matching/ingest.js';
import { mergeInto } from '../matching/merge-records.js';
import { markWithdrawnFacts, withoutWithdrawnFacts } from '../matching/withdrawn-facts.js';
import { ackCodeFor, ackRequestOf, buildAck, type AckRequest } from './ack.js';
import type { ParsedMessage } from './er7.js';
import type { FhirRunner } from './fhir-runner.js';
import { personRecords } from './person-records.js';
import { isRegistryIdentifier, PD1_CONSENT_SYSTEM, token } from './identifiers.js';
import { hl7IssueFrom } from './issue-map.js';
import type { Hl7Issue } from './problems.js';
import { readVxu, type ConditionFromMessage, type DoseFromMessage, type VxuContent } from './vxu-to-fhir.js';

export interface VxuResult {
  ack: string;
  code: 'AA' | 'AE' | 'AR';
  issues: Hl7Issue[];
  /** HTTP status for the plain transport: 200 when stored, else the status the FHIR API gave. */
  status: number;
  /** `Patient/<id>` the message was stored under. */
  patient?: string;
}

/** What each transaction entry stands for, to place its issues in the message. */
type EntryRole = { kind: 'patient' } | { kind: 'consent' } | { kind: 'dose'; dose: DoseFromMessage } | { kind: 'condition'; dose: DoseFromMessage; item: ConditionFromMessage };

const MAX_CONFLICT_RETRIES = 5;
const PATIENT_URL = 'urn:uuid:9b4e1b6a-0000-4000-8000-000000000001';
/** The n-th dose entry's fullUrl, named only by the Conditions its OBX made (`evidence.detail`). */
const doseUrl = (n: number) => `urn:uuid:9b4e1b6a-0000-4000-8001-${String(n).padStart(12, '0')}`;

/**
 * Reads a VXU now (an Hl7Problem when the patient cannot be named) and returns the step that
 * stores it through a runner. That step holds the message's content and the few header facts its
 * ACK needs, not the parsed message: the message's text and parse tree are let go before its
 * requests run (an async function keeps every argument and local alive until it returns, so the
 * tree would be copied by each young-generation GC while the store works).
 */
export function prepareVxu(parsed: ParsedMessage, options: { organization?: string } = {}): (run: FhirRunner) => Promise<VxuResult> {
  const content = readVxu(parsed, options);
  const request = ackRequestOf(parsed);
  return (run) => storeVxu(content, request, run, options.organization);
}

async function storeVxu(content: VxuContent, request: AckRequest, run: FhirRunner, organization: string | undefined): Promise<VxuResult> {
  try {
    return await storeVxuSteps(content, request, run, organization);
  } catch (err) {
    if (!isFhirError(err)) throw err;
    // A read the message needs before its transaction (the record PID-3 names, the protection
    // Consents PD1-12 withdraws) refused by the pipeline — credentials that may not search
    // Patients, the store unavailable — is answered as the transaction's refusal is: an AR naming
    // why. It escaped as a FHIR OperationOutcome at /hl7v2 and a 500 UnknownFault at /soap.
    const refusal = (err.outcome.issue ?? []).map((i) => issueAt(i, undefined)).map((i) => (i.ruleCode || i.location ? i : { ...i, hl7Code: '207', appCode: '' }));
    return reject(request, [...content.issues, ...refusal], err.status);
  }
}

async function storeVxuSteps(content: VxuContent, request: AckRequest, run: FhirRunner, organization: string | undefined): Promise<VxuResult> {
  const issues: Hl7Issue[] = [...content.issues];
  let doses = content.doses;
  /** Conditions the store refused (a rule, or credentials that may not write Conditions): the dose keeps the OBX as its extension. */
  const refusedConditions = new Set<ConditionFromMessage>();
  let conflicts = 0;
  // A dose dropped by a rule is retried without; a version race on the Patient (another message
  // for the same child committed in between) is retried with the new version.
  for (let attempt = 0; attempt <= content.doses.length + MAX_CONFLICT_RETRIES; attempt++) {
    // The record PID-3 names directly: by record numbers only. An SSN or Medicaid number is shared
    // in families (siblings with a parent's SSN), so a message carrying only those goes through the
    // create path's matching, which weighs it with the name, birth date and sex as FHIR does.
    const found = await findPatient(run, content.identifiers.filter((id) => !sharedInFamilies(id)));
    const existing = found?.chosen;
    if (found && found.others.length > 0 && attempt === 0) {
      issues.push({
        severity: 'W',
        hl7Code: '205',
        appCode: '3',
        text: `The identifiers in PID-3 name ${found.others.length + 1} patients in the registry (possible duplicates awaiting review): the message was stored on Patient/${existing?.patient.id}`,
        location: { segment: 'PID', sequence: 1, field: 3 },
      });
    }
    // PD1-12 "" withdraws the protection indicator this submitter recorded on the record PID-3
    // names, or on a record merged into it, in the message's transaction (on a record only
    // matching finds: withdrawOnMatchedRecord, after it).
    const withdrawnConsents = content.protectionWithdrawn && existing ? await ownProtectionConsents(run, existing.patient, organization) : [];
    const { bundle, roles } = transactionFor(content, doses, existing, refusedConditions, withdrawnConsents);
    try {
      const response = await run({ method: 'POST', url: '', body: bundle });
      const body = response.body as Bundle;
      (body.entry ?? []).forEach((entry, index) => {
        for (const issue of entry.response?.outcome && 'issue' in entry.response.outcome ? (entry.response.outcome.issue as OperationOutcomeIssue[]) : []) {
          issues.push(issueAt(issue, roles[index]));
        }
      });
      const patientEntry = body.entry?.[0];
      const patient = patientEntry?.resource?.id ? `Patient/${patientEntry.resource.id}` : locationOf(patientEntry);
      if (existing) issues.push(...content.requiredNulls.map(requiredNullKept));
      // PID-3 named no record and matching put the message on a stored one (a certain match: the
      // POST answered 200, the record the doses went to): PD1-12 "" withdraws there too.
      if (content.protectionWithdrawn && !existing && patient && parseInt(patientEntry?.response?.status ?? '', 10) === 200) {
        issues.push(...(await withdrawOnMatchedRecord(run, patient, organization)));
      }
      const code = ackCodeFor(true, issues);
      return { ack: buildAck(request, code, issues), code, issues, status: 200, patient };
    } catch (err) {
      if (!isFhirError(err)) throw err;
      // A 422 names every entry that broke a rule (each issue prefixed with its entry): when each of
      // them is a dose, all are reported at their own RXA and left out together.
      const refused = err.status === 422 ? refusedEntries(err.outcome.issue ?? [], roles) : undefined;
      if (refused && refused.length > 1) {
        for (const { role, issues: own } of refused) {
          if (role.kind === 'condition') {
            refusedConditions.add(role.item);
            issues.push(...own.map(conditionLeftOut));
          } else {
            issues.push(...own);
            doses = doses.filter((d) => d !== role.dose);
          }
        }
        continue;
      }
      const failing = failingEntry(err.outcome.issue ?? []);
      const role = failing === undefined ? undefined : roles[failing];
      const entryIssues = (err.outcome.issue ?? []).map((i) => issueAt(i, role));
      if (role?.kind === 'condition' && err.status >= 400 && err.status < 500 && err.status !== 409 && err.status !== 412) {
        // The Condition alone is left out; the OBX stays on its dose (and in the forecast) as before.
        refusedConditions.add(role.item);
        issues.push(...entryIssues.map(conditionLeftOut));
        continue;
      }
      if (role?.kind === 'dose' && err.status === 422 && doses.length > 0) {
        // This dose breaks a rule: report it and store the rest of the message.
        issues.push(...entryIssues);
        doses = doses.filter((d) => d !== role.dose);
        continue;
      }
      if ((err.status === 409 || err.status === 412) && conflicts < MAX_CONFLICT_RETRIES) {
        conflicts += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * conflicts));
        continue;
      }
      if (err.status === 400 && failing === undefined && err.outcome.issue?.some((i) => i.code === 'not-supported')) {
        // The FHIR refusal tells a FHIR client to send a batch Bundle: the sender of a VXU can do nothing
        // of the kind, the registry's operators can.
        issues.push({ severity: 'E', hl7Code: '207', appCode: '', text: DEPLOYMENT_WITHOUT_TRANSACTIONS });
        return reject(request, issues, err.status);
      }
      // Refusals that are not about a field (scopes, data sharing).
      issues.push(...entryIssues.map((i) => (i.ruleCode || i.location ? i : { ...i, hl7Code: '207', appCode: '' })));
      return reject(request, issues, err.status);
    }
  }
  issues.push({ severity: 'E', hl7Code: '207', appCode: '', text: 'The message could not be stored after several attempts; send it again' });
  return reject(request, issues, 409);
}

/** ERR-8 of a VXU refused because the store cannot commit a message's writes together. */
export const DEPLOYMENT_WITHOUT_TRANSACTIONS =
  'This registry cannot store VXU messages yet: each message is stored as one atomic write of the patient and its doses, ' +
  'and the registry\'s MongoDB is not a replica set. Nothing was stored; the registry\'s operators must run MongoDB as a replica set.';

function withoutMeta(consent: Consent): Consent {
  const copy = { ...consent };
  delete copy.meta;
  return copy;
}

/** A required PID field sent as HL7's null on a stored record: the value identifies the patient, so it is kept (AE). */
function requiredNullKept({ field, component, repetition, what }: { field: number; component?: number; repetition?: number; what: string }): Hl7Issue {
  const where = component ? `PID-${field}.${component}` : `PID-${field}`;
  return {
    severity: 'W',
    hl7Code: '101',
    appCode: '7',
    text: `${where} (${what}) is HL7's null "": it is required and identifies the patient, so it cannot be deleted; the stored value was kept`,
    location: { segment: 'PID', sequence: 1, field, ...(repetition ? { repetition } : {}), ...(component ? { component } : {}) },
  };
}

/**
 * PD1-12 "" on the record matching found: this organization's protection Consents on it (and on
 * records merged into it) become inactive in a transaction of their own, right after the message's
 * (the record is known only once matching has run inside that one); a Consent changed meanwhile is
 * read again. What could not be withdrawn stays active — the record stays protected, never the
 * reverse — and the ACK says so (W): a resend names the record by the PID-3 it now carries and
 * withdraws in the message's own transaction.
 */
async function withdrawOnMatchedRecord(run: FhirRunner, reference: string, organization: string | undefined): Promise<Hl7Issue[]> {
  for (let attempt = 0; attempt <= MAX_CONFLICT_RETRIES; attempt++) {
    try {
      const patient = (await run({ method: 'GET', url: reference })).body as Patient;
      const consents = await ownProtectionConsents(run, patient, organization);
      if (consents.length === 0) return [];
      const entry = consents.map((consent) => ({
        resource: { ...withoutMeta(consent), status: 'inactive' as const },
        request: { method: 'PUT' as const, url: `Consent/${consent.id}`, ifMatch: `W/"${consent.meta?.versionId ?? ''}"` },
      }));
      await run({ method: 'POST', url: '', body: { resourceType: 'Bundle', type: 'transaction', entry } });
      return [];
    } catch (err) {
      if (!isFhirError(err)) throw err;
      if ((err.status === 409 || err.status === 412) && attempt < MAX_CONFLICT_RETRIES) continue;
      break;
    }
  }
  return [
    {
      severity: 'W',
      hl7Code: '207',
      appCode: '',
      text: `PD1-12 (protection indicator) is HL7's null "", but the protection this organization recorded on ${reference} (the record the message was matched to) could not be withdrawn: it stays in force; send the message again`,
      location: { segment: 'PD1', sequence: 1, field: 12 },
    },
  ];
}

/** The active PD1-12 Consents of the child (any of its merged records) that this submitter's organization recorded (none of another's). */
async function ownProtectionConsents(run: FhirRunner, patient: Patient, organization: string | undefined): Promise<Consent[]> {
  // Those recorded on a record since merged into this one (or this one's) count for this child too.
  const records = (await personRecords(run, patient)).map((id) => `Patient/${id}`).join(',');
  const query = `patient=${records}&identifier=${encodeURIComponent(`${PD1_CONSENT_SYSTEM}|`)}&status=active&_count=100`;
  const response = await run({ method: 'GET', url: `Consent?${query}` });
  return ((response.body as Bundle).entry ?? [])
    .map((e) => e.resource as Consent)
    .filter((c) => c?.resourceType === 'Consent' && c.status === 'active')
    .filter((c) => {
      const owners = (c.organization ?? []).map((o) => o.reference);
      return organization ? owners.includes(organization) : owners.length === 0;
    });
}

function reject(request: AckRequest, issues: Hl7Issue[], status: number): VxuResult {
  return { ack: buildAck(request, 'AR', issues), code: 'AR', issues, status };
}

function ordinalOf(role: EntryRole | undefined): number {
  return role?.kind === 'dose' || role?.kind === 'condition' ? role.dose.rxa.sequence : 1;
}

/** An entry's FHIR issue as an ERR: a Condition's issues point at the OBX it came from. */
function issueAt(issue: OperationOutcomeIssue, role: EntryRole | undefined): Hl7Issue {
  const mapped = hl7IssueFrom(issue, ordinalOf(role));
  if (role?.kind === 'condition') return { ...mapped, location: { ...role.item.obx, field: 5 } };
  // An issue of a dose's entry that names no element (a deletion's "Deleted Immunization/…") is still that dose's: its RXA.
  if (role?.kind === 'dose' && !mapped.location) return { ...mapped, location: { segment: 'RXA', sequence: role.dose.rxa.sequence } };
  return mapped;
}

function locationOf(entry: BundleEntry | undefined): string | undefined {
  const location = entry?.response?.location;
  const m = location ? /(Patient\/[^/]+)/.exec(location) : null;
  return m?.[1];
}

/** The entry a transaction error names (`Bundle.entry[i]: …`), if any. */
type RefusedEntry = { role: Extract<EntryRole, { kind: 'dose' | 'condition' }>; issues: Hl7Issue[] };

/**
 * The entries a 422 refuses, each with its own issues at its own segment (every issue names its
 * entry); undefined when one of them is not a dose or a Condition (the message is then refused).
 */
function refusedEntries(issues: OperationOutcomeIssue[], roles: EntryRole[]): RefusedEntry[] | undefined {
  const byEntry = new Map<number, RefusedEntry>();
  for (const issue of issues) {
    const index = failingEntry([issue]);
    const role = index === undefined ? undefined : roles[index];
    if (index === undefined || (role?.kind !== 'dose' && role?.kind !== 'condition')) return undefined;
    const entry = byEntry.get(index) ?? { role, issues: [] };
    entry.issues.push(issueAt(issue, role));
    byEntry.set(index, entry);
  }
  return [...byEntry.values()];
}

/** A Condition's refusal as the information that it was left out (the OBX stays on its dose). */
function conditionLeftOut(issue: Hl7Issue): Hl7Issue {
  return { ...issue, severity: 'I', hl7Code: '0', appCode: '8', text: `OBX-5 was kept with the dose but not recorded as a Condition: ${issue.text}` };
}

function failingEntry(issues: OperationOutcomeIssue[]): number | undefined {
  for (const issue of issues) {
    const m = /^Bundle\.entry\[(\d+)\]/.exec(issue.diagnostics ?? issue.details?.text ?? '');
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * The patient the submitter's identifiers already name, as the caller sees it. When several do (a
 * possible duplicate awaiting review), the record created first is chosen, then the one not
 * tagged for review: the review tag is on the newer record when matching stored a probable
 * duplicate, but on the OLDER one when an organization the child is hidden from registered it
 * again (src/consent/hidden-duplicates.ts), and the messages of the organization the family
 * shares with must stay on the record its choice protects, not go to the new one every
 * organization sees.
 */
async function findPatient(
  run: FhirRunner,
  identifiers: Identifier[]
): Promise<{ chosen: { patient: Patient; version: string }; others: Patient[] } | undefined> {
  if (identifiers.length === 0) return undefined;
  // The registry's own id (SR, sent back from an RSP) names the record itself; one it does not
  // name (another deployment's, a record merged away or hidden from the caller) names nothing,
  // and the submitter's own identifiers decide as ever.
  if (identifiers.some(isRegistryIdentifier)) {
    const registryIds = identifiers.filter(isRegistryIdentifier);
    const response = await run({ method: 'GET', url: `Patient?_id=${registryIds.map((id) => encodeURIComponent(id.value ?? '')).join(',')}&_count=20` });
    const named = ((response.body as Bundle).entry ?? []).map((e) => e.resource as Patient).find((p) => p?.resourceType === 'Patient' && p.active !== false);
    if (named) return { chosen: { patient: named, version: named.meta?.versionId ?? '' }, others: [] };
    identifiers = identifiers.filter((id) => !isRegistryIdentifier(id));
    if (identifiers.length === 0) return undefined;
  }
  const query = identifiers.map(token).map(encodeURIComponent).join(',');
  const response = await run({ method: 'GET', url: `Patient?identifier=${query}&_count=20&_sort=_lastUpdated` });
  const found = ((response.body as Bundle).entry ?? [])
    .map((e) => e.resource as Patient)
    .filter((p) => p?.resourceType === 'Patient' && p.active !== false);
  if (found.length === 0) return undefined;
  const underReview = (p: Patient) => p.meta?.tag?.some((t) => t.system === REVIEW_TAG.system && t.code === REVIEW_TAG.code) ?? false;
  let chosen = found.find((p) => !underReview(p)) ?? found[0];
  if (found.length > 1) {
    const created = await Promise.all(found.map((p) => createdAt(run, p)));
    const first = Math.min(...created);
    const earliest = found.filter((_, i) => created[i] === first);
    if (!earliest.includes(chosen)) chosen = earliest.find((p) => !underReview(p)) ?? earliest[0];
  }
  return { chosen: { patient: chosen, version: chosen.meta?.versionId ?? '' }, others: found.filter((p) => p !== chosen) };
}

/** When the record was created: its first version's meta.lastUpdated (+Infinity when that cannot be read). */
async function createdAt(run: FhirRunner, patient: Patient): Promise<number> {
  try {
    const response = await run({ method: 'GET', url: `Patient/${patient.id}/_history/1` });
    const instant = Date.parse((response.body as Patient).meta?.lastUpdated ?? '');
    return Number.isNaN(instant) ? Number.POSITIVE_INFINITY : instant;
  } catch (err) {
    if (isFhirError(err)) return Number.POSITIVE_INFINITY;
    throw err;
  }
}

function transactionFor(
  content: VxuContent,
  doses: DoseFromMessage[],
  existing: { patient: Patient; version: string } | undefined,
  refusedConditions: ReadonlySet<ConditionFromMessage>,
  withdrawnConsents: Consent[]
): { bundle: Bundle; roles: EntryRole[] } {
  const entry: BundleEntry[] = [];
  const roles: EntryRole[] = [];
  if (existing) {
    // The version read stays the write's precondition (a record merged away or changed meanwhile
    // fails it and the message is retried); when the message changes nothing on the record (a
    // further dose with the same demographics), no new version is written, the version is only
    // checked inside the store's write (UNCHANGED_WRITES_NOTHING).
    entry.push({
      fullUrl: PATIENT_URL,
      // Facts the message sent as HL7's null are deleted from the record, then its values merged in.
      resource: updatedPatient(withoutWithdrawnFacts(existing.patient, content.withdrawn), content.patient),
      request: markUnchangedWritesNothing<BundleEntryRequest>({ method: 'PUT', url: `Patient/${existing.patient.id}`, ifMatch: `W/"${existing.version}"` }),
    });
  } else {
    // A plain create: matching runs on it (serialised per birth date), so a copy of this message
    // arriving at the same time, or the same child sent by another facility, is merged, not doubled.
    // The facts the message deletes go with it: a certain match deletes them from the record it updates.
    entry.push({ fullUrl: PATIENT_URL, resource: content.patient, request: markWithdrawnFacts<BundleEntryRequest>({ method: 'POST', url: 'Patient' }, content.withdrawn) });
  }
  roles.push({ kind: 'patient' });
  if (content.consent) {
    entry.push({
      resource: { ...content.consent.consent, patient: { reference: PATIENT_URL } },
      request: { method: 'POST', url: 'Consent', ifNoneExist: `identifier=${encodeURIComponent(token(content.consent.identifier))}` },
    });
    roles.push({ kind: 'consent' });
  }
  for (const consent of withdrawnConsents) {
    // Withdrawn, not deleted: its history keeps the choice and when it stopped counting.
    entry.push({
      resource: { ...withoutMeta(consent), status: 'inactive' },
      request: { method: 'PUT', url: `Consent/${consent.id}`, ifMatch: `W/"${consent.meta?.versionId ?? ''}"` },
    });
    roles.push({ kind: 'consent' });
  }
  const conditions: Array<{ dose: DoseFromMessage; item: ConditionFromMessage; doseUrl: string }> = [];
  doses.forEach((dose, n) => {
    // The dose of THIS patient that the identifier names: an ORC-3 the submitter also gave a dose
    // of another child (a reused or mistyped order number) must neither move that dose to this
    // child nor delete it (the patient entry's fullUrl is rewritten to its id before the condition runs).
    const condition = `Immunization?identifier=${encodeURIComponent(token(dose.identifier))}&patient=${PATIENT_URL}`;
    if (dose.action === 'D') entry.push({ request: { method: 'DELETE', url: condition } });
    else {
      const resource = { ...dose.immunization, patient: { reference: PATIENT_URL } };
      const request: BundleEntryRequest = { method: 'PUT', url: condition };
      // Only a dose whose OBX made Conditions gets a fullUrl (their evidence.detail): the others' entries are as before.
      const wanted = dose.conditions.filter((c) => !refusedConditions.has(c));
      if (wanted.length > 0) {
        const fullUrl = doseUrl(n);
        entry.push({ fullUrl, resource, request });
        for (const item of wanted) conditions.push({ dose, item, doseUrl: fullUrl });
      } else entry.push({ resource, request });
    }
    roles.push({ kind: 'dose', dose });
  });
  // After the doses (R4 processing order: creates before updates anyway); a conditional create by
  // the identifier the message gives each one, so a resend stores nothing new and never reopens a
  // Condition a clinician has since resolved or marked entered in error.
  for (const { dose, item, doseUrl: detail } of conditions) {
    entry.push({
      resource: { ...item.condition, subject: { reference: PATIENT_URL }, evidence: [{ detail: [{ reference: detail }] }] },
      request: { method: 'POST', url: 'Condition', ifNoneExist: `identifier=${encodeURIComponent(token(item.identifier))}` },
    });
    roles.push({ kind: 'condition', dose, item });
  }
  return { bundle: { resourceType: 'Bundle', type: 'transaction', entry }, roles };
}

/**
 * The stored record with what the message says: the submitter's current demographics win for
 * single-valued facts, identifiers, names, telecoms and addresses from elsewhere are kept, and so
 * are the record's tags and security labels.
 */
function updatedPatient(current: Patient, incoming: Patient): Patient {
  const merged = mergeInto(current, incoming);
  for (const key of ['gender', 'birthDate', 'multipleBirthBoolean', 'multipleBirthInteger', 'deceasedBoolean', 'deceasedDateTime'] as const) {
    if (incoming[key] !== undefined) (merged as unknown as Record<string, unknown>)[key] = incoming[key];
  }
  if (incoming.multipleBirthInteger !== undefined) delete merged.multipleBirthBoolean;
  if (incoming.multipleBirthBoolean !== undefined) delete merged.multipleBirthInteger;
  if (incoming.deceasedDateTime !== undefined) delete merged.deceasedBoolean;
  const incomingUrls = new Set((incoming.extension ?? []).map((e) => e.url));
  const extension = [...(current.extension ?? []).filter((e) => !incomingUrls.has(e.url)), ...(incoming.extension ?? [])];
  if (extension.length > 0) merged.extension = extension;
  if (incoming.contact) merged.contact = incoming.contact;
  // The message has no say on the record's labels: its tags (a possible duplicate stays on the
  // review list until a reviewer resolves it with $merge) and security labels are kept as stored.
  // The rest of meta is left out, as before (version and lastUpdated are the store's).
  const { tag, security } = merged.meta ?? {};
  delete merged.meta;
  if (tag?.length || security?.length) merged.meta = { ...(tag?.length ? { tag } : {}), ...(security?.length ? { security } : {}) };
  return merged;
}
