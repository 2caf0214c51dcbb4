// Who a population run is about, streamed from the store in batches: the patients of an
// organization (its managingOrganization, or a dose it gave: Immunization.performer.actor), the
// members of a Group, or every patient of the registry; each with its Immunizations. Read through
// the caller-scoped store (ctx.store), so patients hidden from the caller never enter a run.
// Memory: one batch of patients and their doses at a time; for an organization or a Group the
// sorted patient ids (strings, not resources) are held to visit each patient once, in id order —
// which also gives reminder/recall a stable paging cursor.
import type { Group, Immunization, Patient } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../fhir/outcome.js';
import type { Filter, StoreReader } from '../store/store.js';

export type CohortSubject =
  | { kind: 'organization'; reference: string }
  | { kind: 'group'; reference: string }
  | { kind: 'all' };

export interface CohortMember {
  patient: Patient;
  immunizations: Immunization[];
}

export interface CohortOptions {
  /** Born on or after (YYYY-MM-DD). */
  bornFrom?: string;
  /** Born on or before (YYYY-MM-DD). */
  bornTo?: string;
  /** Patients per batch (default 200). */
  batchSize?: number;
  /** Only patients whose id sorts after this one (paging cursor; organization and Group only). */
  after?: string;
}

const ID_REF = /^(Organization|Group)\/([A-Za-z0-9\-.]{1,64})$/;

/** `Organization/x` or `Group/x` (a bare id is taken as the given default type). */
export function parseSubject(value: string, defaultType: 'Organization' | 'Group' = 'Organization'): CohortSubject {
  const ref = value.includes('/') ? value.trim() : `${defaultType}/${value.trim()}`;
  const m = ID_REF.exec(ref);
  if (!m) throw badRequest(`"${value}" is not an Organization/{id} or Group/{id} reference`, { expression: 'subject' });
  return m[1] === 'Organization' ? { kind: 'organization', reference: ref } : { kind: 'group', reference: ref };
}

function patientIdOf(reference: string | undefined): string | undefined {
  const m = reference ? /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference) : null;
  return m ? m[1] : undefined;
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

/** The sorted ids of the subject's patients (before access and age filters). */
async function subjectIds(store: StoreReader, subject: Exclude<CohortSubject, { kind: 'all' }>): Promise<string[]> {
  const ids = new Set<string>();
  if (subject.kind === 'organization') {
    for await (const r of store.scan('Patient', { 's.organization': subject.reference })) ids.add(r.id);
    for await (const r of store.scan('Immunization', { 's.performer': subject.reference })) {
      const id = patientIdOf((r.resource as Immunization).patient?.reference);
      if (id) ids.add(id);
    }
  } else {
    const id = subject.reference.slice('Group/'.length);
    const record = await store.read('Group', id);
    if (!record || record.deleted || !record.resource) throw notFound(`${subject.reference} is not known to this server`);
    for (const m of (record.resource as Group).member ?? []) {
      const pid = patientIdOf(m.entity?.reference);
      if (pid && !m.inactive) ids.add(pid);
    }
  }
  return [...ids].sort();
}

/** The Immunizations of a batch of patients, by patient id. */
async function dosesOf(store: StoreReader, patients: Patient[]): Promise<Map<string, Immunization[]>> {
  const byPatient = new Map<string, Immunization[]>(patients.map((p) => [p.id as string, []]));
  if (patients.length === 0) return byPatient;
  const refs = patients.map((p) => `Patient/${p.id}`);
  for await (const r of store.scan('Immunization', { 's.patient': { $in: refs } })) {
    const imm = r.resource as Immunization;
    byPatient.get(patientIdOf(imm.patient?.reference) ?? '')?.push(imm);
  }
  return byPatient;
}

async function withDoses(store: StoreReader, patients: Patient[]): Promise<CohortMember[]> {
  const doses = await dosesOf(store, patients);
  return patients.map((patient) => ({ patient, immunizations: doses.get(patient.id as string) ?? [] }));
}

/** The subject's patients (with their doses) in batches; ordered by id for organizations and Groups. */
export async function* cohortBatches(store: StoreReader, subject: CohortSubject, options: CohortOptions = {}): AsyncGenerator<CohortMember[]> {
  const size = Math.max(1, options.batchSize ?? 200);
  const patientFilter = birthFilter(options) ?? {};
  if (subject.kind === 'all') {
    let batch: Patient[] = [];
    for await (const r of store.scan('Patient', patientFilter, { batchSize: 1000 })) {
      batch.push(r.resource as Patient);
      if (batch.length >= size) {
        yield await withDoses(store, batch);
        batch = [];
      }
    }
    if (batch.length > 0) yield await withDoses(store, batch);
    return;
  }
  let ids = await subjectIds(store, subject);
  if (options.after !== undefined) ids = ids.filter((id) => id > options.after!);
  for (let i = 0; i < ids.length; i += size) {
    const slice = ids.slice(i, i + size);
    const records = await store.search('Patient', {
      filter: and({ _id: { $in: slice } }, patientFilter),
      sort: [{ field: '_id', direction: 1 }],
      limit: slice.length,
    });
    const patients = records.map((r) => r.resource as Patient);
    if (patients.length > 0) yield await withDoses(store, patients);
  }
}
