// Builds the FHIR R4 AuditEvent for one access to patient data, in the spirit of IHE Basic Audit
// Log Patterns (BALP): type rest + the restful-interaction subtype, action, outcome, the requestor
// (token sub, its client and organization), the server as observer, one entity per patient
// (role Patient), one for the resource or the query (base64, role Query) and one for the request id.
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, Resource, ResourceType } from '@medplum/fhirtypes';
import type { Caller } from '../auth/caller.js';
import type { Interaction } from '../fhir/request.js';
import { isoNow } from '../fhir/instant.js';
import { newResourceId } from '../fhir/resource-id.js';

export type AuditInteraction = Interaction | 'transaction';

export interface AccessEvent {
  caller: Caller;
  interaction: AuditInteraction;
  /** `$name` without the dollar, for interaction 'operation'. */
  operation?: string;
  resourceType?: string;
  id?: string;
  /** The search or history parameters (a query string or name/value pairs). */
  query?: string | Array<[string, string]>;
  /** `Patient/<id>` of every patient whose data was touched (absolute URLs and versions are cut). */
  patientRefs: string[];
  /** The HTTP status of the response. */
  outcome: number;
  /** More about the outcome, after the status in outcomeDesc (an HL7 v2 message: `HL7 MSA-1 AE`). */
  outcomeDesc?: string;
  requestId: string;
  /** When it happened (ISO instant); default now. */
  recorded?: string;
}

export const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
export const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
export const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
export const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
export const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';

export const SUBTYPE: Record<AuditInteraction, string> = {
  capabilities: 'capabilities',
  read: 'read',
  vread: 'vread',
  update: 'update',
  'conditional-update': 'update',
  patch: 'patch',
  'conditional-patch': 'patch',
  delete: 'delete',
  'conditional-delete': 'delete',
  create: 'create',
  'search-type': 'search-type',
  'search-system': 'search-system',
  'history-instance': 'history-instance',
  'history-type': 'history-type',
  'history-system': 'history-system',
  batch: 'batch',
  transaction: 'transaction',
  operation: 'operation',
};

/** C create, R read (reads and history), U update/patch, D delete, E execute (search, operation, batch). */
export function actionOf(interaction: AuditInteraction): NonNullable<AuditEvent['action']> {
  switch (interaction) {
    case 'create':
      return 'C';
    case 'read':
    case 'vread':
    case 'history-instance':
    case 'history-type':
    case 'history-system':
    case 'capabilities':
      return 'R';
    case 'update':
    case 'conditional-update':
    case 'patch':
    case 'conditional-patch':
      return 'U';
    case 'delete':
    case 'conditional-delete':
      return 'D';
    default:
      return 'E';
  }
}

/** 0 success (status < 400), 4 minor failure (4xx), 8 serious failure (5xx). */
export function outcomeOf(status: number): NonNullable<AuditEvent['outcome']> {
  if (status < 400) return '0';
  if (status < 500) return '4';
  return '8';
}

/** `Patient/<id>` from a reference (relative, absolute, versioned), or undefined when it is not one. */
export function patientRef(reference: string): string | undefined {
  // Most references are already `Patient/<id>` (an Immunization's patient): that is the answer, and
  // an anchored test is cheap where the general pattern below, unanchored, is tried at every
  // position (~2 µs per reference; a transaction's event reads ~200). Same answers (audit-event.test.ts).
  if (PLAIN_PATIENT_REF.test(reference)) return reference;
  const match = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/.exec(reference);
  return match ? `Patient/${match[1]}` : undefined;
}

const PLAIN_PATIENT_REF = /^Patient\/[A-Za-z0-9\-.]{1,64}$/;

/**
 * The patients a set of resources belongs to (Patient itself, Immunization/Consent/
 * ImmunizationRecommendation.patient, Condition.subject, Group members, the patients a subject-list
 * MeasureReport lists).
 */
export function patientRefsOf(resources: Iterable<Resource | undefined>): string[] {
  const refs = new Set<string>();
  const add = (reference: string | undefined) => {
    const ref = reference ? patientRef(reference) : undefined;
    if (ref) refs.add(ref);
  };
  for (const resource of resources) {
    if (!resource) continue;
    switch (resource.resourceType) {
      case 'Patient':
        if (resource.id) refs.add(`Patient/${resource.id}`);
        break;
      case 'Immunization':
      case 'Consent':
        add(resource.patient?.reference);
        break;
      case 'Condition':
        add(resource.subject?.reference);
        break;
      case 'Group':
        for (const member of resource.member ?? []) add(member.entity?.reference);
        break;
      case 'ImmunizationRecommendation':
        add(resource.patient?.reference);
        break;
      case 'MeasureReport':
        // A subject-list report names its patients in contained Lists (initial population,
        // numerator, per stratum): who is, and who is not, up to date is patient data.
        add(resource.subject?.reference);
        for (const contained of resource.contained ?? []) {
          if (contained.resourceType === 'List') for (const entry of contained.entry ?? []) add(entry.item?.reference);
        }
        break;
    }
  }
  return [...refs];
}

/**
 * The patients a search's parameters name (BALP: a query about a known patient names it, whatever
 * it found): `patient`, `subject` and `_id` on Patient (with modifiers and chains cut: `patient:Patient`
 * yes, `patient.name` no), comma-separated values, `Patient/<id>` or a bare id where the parameter
 * can only mean a Patient. A search that finds nothing (`Immunization?patient=X`: X has no dose on
 * record, also an answer about X) named no patient before.
 */
export function queriedPatientRefs(resourceType: string | undefined, query: ReadonlyArray<readonly [string, string]>): string[] {
  const refs: string[] = [];
  for (const [key, value] of query) {
    const colon = key.indexOf(':');
    const name = colon < 0 ? key : key.slice(0, colon);
    const modifier = colon < 0 ? '' : key.slice(colon + 1);
    if (modifier !== '' && modifier !== 'Patient') continue; // :not, :missing, :identifier, chains: not these patients
    // A bare id means a Patient for patient=, subject:Patient= and Patient?_id=; subject= only names
    // one as Patient/<id>.
    const bareIsPatient = name === 'patient' || (name === 'subject' && modifier === 'Patient') || (name === '_id' && resourceType === 'Patient' && modifier === '');
    if (!bareIsPatient && name !== 'subject') continue;
    for (const item of value.split(',')) {
      const given = item.trim();
      const ref = patientRef(given) ?? (bareIsPatient && !given.includes('/') ? patientRef(`Patient/${given}`) : undefined);
      if (ref) refs.push(ref);
    }
  }
  return refs;
}

/**
 * What a `Patient/$match` searched for, as the equivalent search's parameters (family, given,
 * birthdate, gender, identifier, address-postalcode, phone; each value at most 256 characters, at
 * most 24 in all): the input is a Patient in the body, not a query string, so a $match that found
 * nobody (an HL7 v2 QBP answered Z33 "not found") recorded no trace of the demographics asked
 * about. Undefined when the body holds no Patient.
 */
export function matchQuery(body: unknown): Array<[string, string]> | undefined {
  const parameter = (body as { resourceType?: unknown; parameter?: unknown } | undefined)?.parameter;
  if ((body as { resourceType?: unknown } | undefined)?.resourceType !== 'Parameters' || !Array.isArray(parameter)) return undefined;
  const pairs: Array<[string, string]> = [];
  const add = (name: string, value: unknown) => {
    if (pairs.length < 24 && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') && String(value) !== '') pairs.push([name, String(value).slice(0, 256)]);
  };
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
  let patient: Record<string, unknown> | undefined;
  for (const p of parameter as Array<Record<string, unknown>>) {
    if (p?.name === 'resource' && (p.resource as { resourceType?: unknown } | undefined)?.resourceType === 'Patient') patient = p.resource as Record<string, unknown>;
    else if (p?.name === 'onlyCertainMatches') add('onlyCertainMatches', p.valueBoolean);
    else if (p?.name === 'count') add('count', p.valueInteger);
  }
  if (!patient) return pairs.length > 0 ? pairs : undefined;
  for (const name of list(patient.name) as Array<Record<string, unknown>>) {
    add('family', name?.family);
    for (const given of list(name?.given)) add('given', given);
  }
  add('birthdate', patient.birthDate);
  add('gender', patient.gender);
  for (const id of list(patient.identifier) as Array<Record<string, unknown>>) {
    if (typeof id?.value === 'string') add('identifier', typeof id.system === 'string' ? `${id.system}|${id.value}` : id.value);
  }
  for (const address of list(patient.address) as Array<Record<string, unknown>>) add('address-postalcode', address?.postalCode);
  for (const telecom of list(patient.telecom) as Array<Record<string, unknown>>) if (telecom?.system === 'phone') add('phone', telecom.value);
  return pairs;
}

export function buildAuditEvent(event: AccessEvent, serverUrl: string): AuditEvent & { id: string } {
  const { caller } = event;
  const subtype: Coding[] = [{ system: RESTFUL_INTERACTION, code: SUBTYPE[event.interaction], display: SUBTYPE[event.interaction] }];
  if (event.interaction === 'operation' && event.operation) subtype.push({ code: `$${event.operation}`, display: `$${event.operation}` });

  // The optional members are set one by one where they belong (the same keys in the same order as
  // the conditional spreads `{ ...(caller.issuer ? { system } : {}), value }` this used): a literal
  // that spreads and then adds members takes V8's slow path on Node 20 (audit-event.test.ts
  // compares the two with fast-check).
  const identifier: { system?: string; value?: string } = {};
  if (caller.issuer) identifier.system = caller.issuer;
  identifier.value = caller.sub ?? caller.clientId ?? 'unknown';
  const who: NonNullable<AuditEventAgent['who']> = { identifier };
  if (caller.organization) who.display = `acting for ${caller.organization}`;
  const requestor: AuditEventAgent = {
    type: { coding: [{ system: PARTICIPATION, code: 'IRCP', display: 'information recipient' }] },
    who,
  } as AuditEventAgent;
  if (caller.clientId) requestor.altId = caller.clientId;
  requestor.requestor = true;
  const agent: AuditEventAgent[] = [requestor];
  if (caller.organization) {
    agent.push({
      type: { text: 'organization the requestor acts for' },
      who: { reference: caller.organization },
      requestor: false,
    });
  }
  if (caller.clientId) {
    agent.push({
      type: { coding: [{ system: DCM, code: '110150', display: 'Application' }] },
      who: { identifier: { value: caller.clientId } },
      requestor: false,
    });
  }
  agent.push({
    type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
    who: { identifier: { value: serverUrl }, display: 'iis-fhir-server' },
    requestor: false,
  });

  const entity: AuditEventEntity[] = [];
  const patients = [...new Set(event.patientRefs.map((r) => patientRef(r) ?? r))];
  for (const ref of patients) {
    entity.push({
      what: { reference: ref },
      type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
      role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
    });
  }
  if (event.resourceType && event.id) {
    const ref = `${event.resourceType}/${event.id}`;
    if (!patients.includes(ref)) {
      entity.push({
        what: { reference: ref },
        type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
        role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
      });
    }
  } else if (event.resourceType && event.query === undefined) {
    entity.push({
      what: { type: event.resourceType as ResourceType },
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
    });
  }
  if (event.query !== undefined) {
    const params = typeof event.query === 'string' ? event.query.replace(/^\?/, '') : new URLSearchParams(event.query).toString();
    const text = `${event.resourceType ?? ''}${event.id ? `/${event.id}` : ''}?${params}`;
    const queried: AuditEventEntity = {};
    if (event.resourceType) queried.what = { type: event.resourceType as ResourceType };
    queried.type = { system: ENTITY_TYPE, code: '2', display: 'System Object' };
    queried.role = { system: OBJECT_ROLE, code: '24', display: 'Query' };
    queried.query = Buffer.from(text, 'utf8').toString('base64');
    entity.push(queried);
  }
  const request: AuditEventEntity = {
    what: { identifier: { value: event.requestId } },
    type: { system: BALP_ENTITY_TYPE, code: 'XrequestId', display: 'HTTP X-Request-Id' },
  };
  if (caller.scope) request.detail = [{ type: 'scope', valueString: caller.scope }];
  entity.push(request);

  return {
    resourceType: 'AuditEvent',
    id: newResourceId(),
    type: { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' },
    subtype,
    action: actionOf(event.interaction),
    recorded: event.recorded ?? isoNow(),
    outcome: outcomeOf(event.outcome),
    outcomeDesc: event.outcomeDesc ? `HTTP ${event.outcome}, ${event.outcomeDesc}` : `HTTP ${event.outcome}`,
    agent,
    source: {
      site: serverUrl,
      observer: { identifier: { value: serverUrl }, display: 'iis-fhir-server' },
      type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
    },
    entity,
  };
}
