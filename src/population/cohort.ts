// Who a population run is about, streamed from the store in batches: the patients of an
// organization (its managingOrganization, or a dose it gave: Immunization.performer.actor), the
// members of a Group, or every patient of the registry; each with its Immunizations. Read through
// the caller-scoped store (ctx.store), so patients hidden from the caller never enter a run.
// Memory: one batch of patients and their doses at a time, plus the ids (strings) of the patients
// already visited, so each patient is visited once.
//  - Streamed (`ordered: false`: CSV, coverage): an organization's managed patients first, then
//    the patients of its doses as the store's walk of `performer` finds them: the first batch is
//    ready after a few hundred index entries, not after reading every dose the organization gave.
//  - Ordered (`ordered: true`: reminder/recall JSON pages): the sorted patient ids are collected
//    first, so pages have a stable cursor (`after` = the last patient id of the previous page).
// Doses are read with one index walk per batch (`s.patient` $in the batch) and handed on as the
// store's JSON text, unparsed (patient-task.ts parses them where the forecast runs).
import type { Group, Immunization, Patient } from '@medplum/fhirtypes';
import { grants } from '../auth/scopes.js';
import type { Caller } from '../fhir/request.js';
import { badRequest, notFound } from '../fhir/outcome.js';
import type { Filter, ResourceRecord, StoreReader } from '../store/store.js';

export type CohortSubject =
  | { kind: 'organization'; reference: string }
  | { kind: 'group'; reference: string }
  | { kind: 'all' };

/** What a run needs of its context: the caller-scoped store and the base URL (a HandlerContext, or an async job's). */
export interface RunContext {
  store: StoreReader;
  baseUrl: string;
}

export interface CohortMember {
  patient: Patient;
  /** The patient's Immunizations as a JSON array text (parse where needed). */
  immunizations: string;
  /** The patient's Conditions as a JSON array text, when the run reads them (`conditions` option). */
  conditions?: string;
}

export interface CohortOptions {
  /** Born on or after (YYYY-MM-DD). */
  bornFrom?: string;
  /** Born on or before (YYYY-MM-DD). */
  bornTo?: string;
  /** Patients per batch (default 200). */
  batchSize?: number;
  /** Patients in the first batch (default batchSize): smaller, so a streamed answer starts sooner. */
  firstBatchSize?: number;
  /** Visit an organization's or Group's patients in id order (needed for `after`). */
  ordered?: boolean;
  /** Only patients whose id sorts after this one (paging cursor; ordered runs only). */
  after?: string;
  /** Also read each patient's Conditions (when the caller may: the forecast then counts them). */
  conditions?: boolean;
}

const ID_REF = /^(Organization|Group)\/([A-Za-z0-9\-.]{1,64})$/;
const PATIENT_REF = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
/** `"patient":{…"reference":"…"` (or `"subject"`) with no nested object before the reference. */
const PATIENT_IN_JSON = /"patient":\{[^{}]*?"reference":"((?:[^"\\]|\\.)*)"/;
const SUBJECT_IN_JSON = /"subject":\{[^{}]*?"reference":"((?:[^"\\]|\\.)*)"/;

/**
 * Whether a run reads the patients' Conditions (CDSi risk indications, immunity, contraindications):
 * when the caller's token may read them, as Patient/{id}/$immds-forecast does; otherwise the
 * forecasts use the doses alone.
 */
export function readsConditions(caller: Caller): boolean {
  return grants(caller.scopes, 'Condition', ['r', 's'], ['patient', 'user', 'system']);
}

/** `Organization/x` or `Group/x` (a bare id is taken as the given default type). */
export function parseSubject(value: string, defaultType: 'Organization' | 'Group' = 'Organization'): CohortSubject {
  const ref = value.includes('/') ? value.trim() : `${defaultType}/${value.trim()}`;
  const m = ID_REF.exec(ref);
  if (!m) throw badRequest(`"${value}" is not an Organization/{id} or Group/{id} reference`, { expression: 'subject' });
  return m[1] === 'Organization' ? { kind: 'organization', reference: ref } : { kind: 'group', reference: ref };
}

function patientIdOf(reference: string | undefined): string | undefined {
  const m = reference ? PATIENT_REF.exec(reference) : null;
  return m ? m[1] : undefined;
}

/**
 * The patient id of an Immunization read as JSON text, without parsing the whole resource: the
 * top-level `patient` reference (a resource with contained resources, where a nested `patient`
 * could come first, is parsed).
 */
export function immunizationPatientId(record: ResourceRecord): string | undefined {
  return patientIdIn(record, 'patient', PATIENT_IN_JSON);
}

const PATIENT_KEY = Buffer.from('"patient":{');
const CONTAINED_KEY = Buffer.from('"contained"');

/**
 * immunizationPatientId for a record a scan gave as stored bytes (`rawBytes`): only its
 * `"patient":{…}` object is decoded (a walk of an organization's doses reads them only for this;
 * decoding each whole dose cost ~3 µs and its garbage). Anything unusual — contained resources,
 * no match in that first object (a `}` in one of its strings, say) — goes to immunizationPatientId
 * on the whole text, so the answer is the same.
 */
export function immunizationPatientIdOf(record: ResourceRecord): string | undefined {
  const bytes = record.jsonBytes;
  if (bytes === undefined) return immunizationPatientId(record);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.indexOf(CONTAINED_KEY) < 0) {
    const start = buf.indexOf(PATIENT_KEY);
    const end = start < 0 ? -1 : buf.indexOf(0x7d, start); // the first `}` after it
    const m = end < 0 ? null : PATIENT_IN_JSON.exec(buf.toString('utf8', start, end + 1));
    if (m && !m[1].includes('\\')) return patientIdOf(m[1]);
  }
  return immunizationPatientId({ ...record, json: buf.toString('utf8') });
}

/** The patient (`subject`) of a Condition read as JSON text, the same way. */
export function conditionPatientId(record: ResourceRecord): string | undefined {
  return patientIdIn(record, 'subject', SUBJECT_IN_JSON);
}

function patientIdIn(record: ResourceRecord, field: 'patient' | 'subject', quick: RegExp): string | undefined {
  const json = record.json;
  const parsed = (r: unknown) => patientIdOf((r as Record<string, { reference?: string } | undefined> | undefined)?.[field]?.reference);
  if (json === undefined) return parsed(record.resource);
  if (!json.includes('"contained"')) {
    const m = quick.exec(json);
    if (m && !m[1].includes('\\')) return patientIdOf(m[1]);
  }
  return parsed(JSON.parse(json));
}

function and(...clauses: Array<Filter | undefined>): Filter {
  const present = clauses.filter((c): c is Filter => c !== undefined && Object.keys(c).length > 0);
  return present.length === 0 ? {} : present.length === 1 ? present[0] : { $and: present };
}

function birthFilter(options: CohortOptions): Filter | undefined {
  const range: Record<string, string> = {};
  if (options.bornFrom) range.$gte = `${options.bornFrom}T00:00:00.000Z`;
  if (options.bornTo) range.$lte = `${options.bornTo}T00:00:00.000Z`;
  return Object.keys(range).length > 0 ? { 's.birthdate.lo': range } : undefined;
}

// Single references are asked as `{ $in: [ref] }`: the store then checks candidates with a set
// look-up instead of a general filter evaluation (src/store/filter-predicate.ts).

/** The sorted ids of the subject's patients (before access and age filters). */
async function subjectIds(store: StoreReader, subject: Exclude<CohortSubject, { kind: 'all' }>): Promise<string[]> {
  const ids = new Set<string>();
  if (subject.kind === 'organization') {
    for await (const r of store.scan('Patient', { 's.organization': { $in: [subject.reference] } }, { raw: true, rawBytes: true })) ids.add(r.id); // ids only: the bytes are never decoded
    for await (const r of store.scan('Immunization', { 's.performer': { $in: [subject.reference] } }, { raw: true, rawBytes: true })) {
      const id = immunizationPatientIdOf(r);
      if (id) ids.add(id);
    }
  } else {
    for (const id of await groupMemberIds(store, subject.reference)) ids.add(id);
  }
  return [...ids].sort();
}

async function groupMemberIds(store: StoreReader, reference: string): Promise<string[]> {
  const record = await store.read('Group', reference.slice('Group/'.length));
  if (!record || record.deleted || !record.resource) throw notFound(`${reference} is not known to this server`);
  const ids: string[] = [];
  for (const m of (record.resource as Group).member ?? []) {
    const pid = patientIdOf(m.entity?.reference);
    if (pid && !m.inactive) ids.push(pid);
  }
  return ids;
}

/** A batch's records of one type (one index walk of `s.patient`), as a JSON array text per patient id. */
async function recordsOf(store: StoreReader, type: 'Immunization' | 'Condition', patients: Patient[]): Promise<Map<string, string>> {
  const byPatient = new Map<string, string[]>(patients.map((p) => [p.id as string, []]));
  if (patients.length > 0) {
    const refs = patients.map((p) => `Patient/${p.id}`);
    const patientOf = type === 'Immunization' ? immunizationPatientId : conditionPatientId;
    for await (const r of store.scan(type, { 's.patient': { $in: refs } }, { raw: true })) {
      const list = byPatient.get(patientOf(r) ?? '');
      if (list) list.push(r.json ?? JSON.stringify(r.resource));
    }
  }
  return new Map([...byPatient].map(([id, list]) => [id, `[${list.join(',')}]`]));
}

async function withDoses(store: StoreReader, patients: Patient[], conditions: boolean): Promise<CohortMember[]> {
  const doses = await recordsOf(store, 'Immunization', patients);
  const observed = conditions ? await recordsOf(store, 'Condition', patients) : undefined;
  return patients.map((patient) => {
    const member: CohortMember = { patient, immunizations: doses.get(patient.id as string) ?? '[]' };
    const c = observed?.get(patient.id as string);
    if (c !== undefined && c !== '[]') member.conditions = c;
    return member;
  });
}

/**
 * The patients with these ids that pass the filter, in id order. A scan of the ids (a set look-up
 * per record, no general filter evaluation unless an age range is given), sorted here.
 */
async function patientsById(store: StoreReader, ids: string[], patientFilter: Filter | undefined): Promise<Patient[]> {
  const patients: Patient[] = [];
  for await (const r of store.scan('Patient', and({ _id: { $in: ids } }, patientFilter))) patients.push(r.resource as Patient);
  return patients.sort((a, b) => ((a.id as string) < (b.id as string) ? -1 : (a.id as string) > (b.id as string) ? 1 : 0));
}

/** The subject's patients (with their doses) in batches. */
export async function* cohortBatches(store: StoreReader, subject: CohortSubject, options: CohortOptions = {}): AsyncGenerator<CohortMember[]> {
  const size = Math.max(1, options.batchSize ?? 200);
  const patientFilter = birthFilter(options);
  const withConditions = options.conditions === true;
  if (subject.kind === 'all') {
    let batch: Patient[] = [];
    for await (const r of store.scan('Patient', patientFilter ?? {}, { batchSize: 1000 })) {
      batch.push(r.resource as Patient);
      if (batch.length >= size) {
        yield await withDoses(store, batch, withConditions);
        batch = [];
      }
    }
    if (batch.length > 0) yield await withDoses(store, batch, withConditions);
    return;
  }
  if (!options.ordered && subject.kind === 'organization') {
    yield* organizationStream(store, subject.reference, patientFilter, size, Math.max(1, Math.min(size, options.firstBatchSize ?? size)), withConditions);
    return;
  }
  let ids = await subjectIds(store, subject);
  if (options.after !== undefined) ids = ids.filter((id) => id > options.after!);
  for (let i = 0; i < ids.length; i += size) {
    const patients = await patientsById(store, ids.slice(i, i + size), patientFilter);
    if (patients.length > 0) yield await withDoses(store, patients, withConditions);
  }
}

/** An organization's patients as the store finds them: managed ones, then those it gave a dose. */
async function* organizationStream(
  store: StoreReader,
  organization: string,
  patientFilter: Filter | undefined,
  batchSize: number,
  firstSize: number,
  withConditions: boolean
): AsyncGenerator<CohortMember[]> {
  const seen = new Set<string>();
  let size = firstSize;
  let batch: Patient[] = [];
  for await (const r of store.scan('Patient', and({ 's.organization': { $in: [organization] } }, patientFilter), { batchSize: 1000 })) {
    seen.add(r.id);
    batch.push(r.resource as Patient);
    if (batch.length >= size) {
      yield await withDoses(store, batch, withConditions);
      batch = [];
      size = batchSize;
    }
  }
  let pending: string[] = [];
  const flush = async (): Promise<CohortMember[] | undefined> => {
    const ids = pending;
    pending = [];
    batch.push(...(await patientsById(store, ids, patientFilter)));
    if (batch.length === 0) return undefined;
    const members = await withDoses(store, batch, withConditions);
    batch = [];
    return members;
  };
  if (patientFilter) {
    // The managed patients outside the age range are known too (ids only), so the dose walk does
    // not fetch each again by id, with the age filter evaluated, only to leave it out.
    for await (const r of store.scan('Patient', { 's.organization': { $in: [organization] } }, { raw: true, rawBytes: true })) seen.add(r.id);
  }
  for await (const r of store.scan('Immunization', { 's.performer': { $in: [organization] } }, { raw: true, rawBytes: true })) {
    const id = immunizationPatientIdOf(r);
    if (!id || seen.has(id)) continue;
    seen.add(id);
    pending.push(id);
    if (pending.length + batch.length >= size) {
      const members = await flush();
      if (members) {
        yield members;
        size = batchSize;
      }
    }
  }
  const members = await flush();
  if (members) yield members;
}
