// The AuditEvent built for one access: R4-valid, BALP-like content, and who may read the trail.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Caller } from '../auth/caller.js';
import { parseScopes } from '../auth/scopes.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { validateResource } from '../validation/validate-resource.js';
import { auditAllowed } from './access.js';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, ResourceType } from '@medplum/fhirtypes';
import { newResourceId } from '../fhir/resource-id.js';
import {
  type AccessEvent,
  actionOf,
  AUDIT_EVENT_TYPE,
  BALP_ENTITY_TYPE,
  buildAuditEvent,
  DCM,
  ENTITY_TYPE,
  OBJECT_ROLE,
  outcomeOf,
  PARTICIPATION,
  patientRef,
  matchQuery,
  patientRefsOf,
  queriedPatientRefs,
  RESTFUL_INTERACTION,
  SOURCE_TYPE,
  SUBTYPE,
} from './audit-event.js';

const SERVER = 'https://iis.example/fhir';
const caller = (scope: string, extra: Partial<Caller> = {}): Caller => ({ sub: 'nurse-1', scope, scopes: parseScopes(scope), ...extra });

describe('buildAuditEvent', () => {
  loadDefinitions();

  it('records who, what, which interaction, outcome and when for a read', () => {
    const event = buildAuditEvent(
      {
        caller: caller('user/*.rs', { organization: 'Organization/clinic-1', clientId: 'ehr-app', issuer: 'https://idp.example' }),
        interaction: 'read',
        resourceType: 'Immunization',
        id: 'imm-1',
        patientRefs: ['Patient/p-1'],
        outcome: 200,
        requestId: 'req-1',
        recorded: '2026-01-02T03:04:05.678Z',
      },
      SERVER
    );
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.type).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' });
    expect(event.subtype).toEqual([{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read', display: 'read' }]);
    expect(event.action).toBe('R');
    expect(event.outcome).toBe('0');
    expect(event.recorded).toBe('2026-01-02T03:04:05.678Z');
    const requestor = event.agent.find((a) => a.requestor);
    expect(requestor?.who?.identifier).toEqual({ system: 'https://idp.example', value: 'nurse-1' });
    expect(requestor?.altId).toBe('ehr-app');
    expect(event.agent.filter((a) => a.requestor)).toHaveLength(1);
    expect(event.agent.some((a) => a.who?.reference === 'Organization/clinic-1')).toBe(true);
    expect(event.agent.some((a) => a.who?.identifier?.value === 'ehr-app' && a.type?.coding?.[0].code === '110150')).toBe(true);
    expect(event.source.observer.identifier?.value).toBe(SERVER);
    const patientEntity = event.entity?.find((e) => e.role?.code === '1');
    expect(patientEntity).toMatchObject({ what: { reference: 'Patient/p-1' }, role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1' } });
    expect(event.entity?.find((e) => e.role?.code === '4')?.what?.reference).toBe('Immunization/imm-1');
    const request = event.entity?.find((e) => e.type?.code === 'XrequestId');
    expect(request?.what?.identifier?.value).toBe('req-1');
    expect(request?.detail?.[0]).toEqual({ type: 'scope', valueString: 'user/*.rs' });
    expect(validateResource(event).filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('records a search with its query base64-encoded, one entity per patient found', () => {
    const event = buildAuditEvent(
      {
        caller: caller('system/*.rs'),
        interaction: 'search-type',
        resourceType: 'Immunization',
        query: [
          ['patient', 'Patient/p-1'],
          ['date', 'ge2020-01-01'],
        ],
        patientRefs: ['Patient/p-1', 'http://other/fhir/Patient/p-2/_history/3', 'Patient/p-1'],
        outcome: 200,
        requestId: 'req-2',
      },
      SERVER
    );
    expect(event.action).toBe('E');
    expect(event.subtype?.[0].code).toBe('search-type');
    const query = event.entity?.find((e) => e.role?.code === '24');
    expect(Buffer.from(query?.query as string, 'base64').toString()).toBe('Immunization?patient=Patient%2Fp-1&date=ge2020-01-01');
    expect(query?.name).toBeUndefined(); // sev-1: name or query, not both
    expect(event.entity?.filter((e) => e.role?.code === '1').map((e) => e.what?.reference)).toEqual(['Patient/p-1', 'Patient/p-2']);
    expect(validateResource(event).filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('a Patient read names the patient once; a failed write is outcome 4; a 5xx is 8', () => {
    const read = buildAuditEvent(
      { caller: caller('system/*.rs'), interaction: 'read', resourceType: 'Patient', id: 'p-9', patientRefs: ['Patient/p-9'], outcome: 200, requestId: 'r' },
      SERVER
    );
    expect(read.entity?.filter((e) => e.what?.reference === 'Patient/p-9')).toHaveLength(1);
    const denied = buildAuditEvent(
      { caller: caller('user/*.rs', { sub: undefined, clientId: 'c' }), interaction: 'update', resourceType: 'Patient', id: 'p-9', patientRefs: ['Patient/p-9'], outcome: 403, requestId: 'r' },
      SERVER
    );
    expect(denied).toMatchObject({ action: 'U', outcome: '4', outcomeDesc: 'HTTP 403' });
    expect(denied.agent[0].who?.identifier?.value).toBe('c'); // no sub: the client stands in
    expect(outcomeOf(503)).toBe('8');
    expect(outcomeOf(201)).toBe('0');
    expect(validateResource(denied).filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('maps interactions to actions and subtypes', () => {
    expect(actionOf('create')).toBe('C');
    expect(actionOf('vread')).toBe('R');
    expect(actionOf('history-instance')).toBe('R');
    expect(actionOf('patch')).toBe('U');
    expect(actionOf('conditional-delete')).toBe('D');
    expect(actionOf('search-system')).toBe('E');
    expect(actionOf('operation')).toBe('E');
    const op = buildAuditEvent(
      { caller: caller('system/*.rs'), interaction: 'operation', operation: 'everything', resourceType: 'Patient', id: 'p', patientRefs: ['Patient/p'], outcome: 200, requestId: 'r' },
      SERVER
    );
    expect(op.subtype?.map((c) => c.code)).toEqual(['operation', '$everything']);
    const cond = buildAuditEvent(
      { caller: caller('system/*.cruds'), interaction: 'conditional-update', resourceType: 'Patient', query: 'identifier=x|1', patientRefs: [], outcome: 200, requestId: 'r' },
      SERVER
    );
    expect(cond.subtype?.[0].code).toBe('update');
  });
});

describe('patientRef / patientRefsOf', () => {
  it('normalises patient references and finds the patients of resources', () => {
    expect(patientRef('Patient/1')).toBe('Patient/1');
    expect(patientRef('https://x/fhir/Patient/1/_history/2')).toBe('Patient/1');
    expect(patientRef('Group/1')).toBeUndefined();
    expect(
      patientRefsOf([
        { resourceType: 'Patient', id: 'a' },
        { resourceType: 'Immunization', status: 'completed', vaccineCode: {}, patient: { reference: 'Patient/b' }, occurrenceDateTime: '2020' },
        { resourceType: 'Consent', status: 'active', scope: {}, category: [], patient: { reference: 'Patient/a' } },
        { resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/c' } }, { entity: { reference: 'Practitioner/x' } }] },
        { resourceType: 'Organization', id: 'o' },
        undefined,
      ])
    ).toEqual(['Patient/a', 'Patient/b', 'Patient/c']);
  });

  it('queriedPatientRefs: the patients a search\'s parameters name', () => {
    expect(queriedPatientRefs('Immunization', [['patient', 'a'], ['date', 'ge2020']])).toEqual(['Patient/a']);
    expect(queriedPatientRefs('Immunization', [['patient', 'Patient/a,https://x/fhir/Patient/b']])).toEqual(['Patient/a', 'Patient/b']);
    expect(queriedPatientRefs('Condition', [['subject', 'Patient/c']])).toEqual(['Patient/c']);
    expect(queriedPatientRefs('Condition', [['subject:Patient', 'c']])).toEqual(['Patient/c']);
    expect(queriedPatientRefs('Patient', [['_id', 'd,e']])).toEqual(['Patient/d', 'Patient/e']);
    expect(queriedPatientRefs(undefined, [['_type', 'Immunization,Consent'], ['patient', 'f']])).toEqual(['Patient/f']);
    // Not about these patients, or not patients at all:
    expect(queriedPatientRefs('Immunization', [['_id', 'i-1']])).toEqual([]);
    expect(queriedPatientRefs('Condition', [['subject', 'g'], ['subject', 'Group/h']])).toEqual([]);
    expect(queriedPatientRefs('Immunization', [['patient:not', 'a'], ['patient:missing', 'true'], ['patient.name', 'Smith'], ['patient:identifier', 'sys|1']])).toEqual([]);
    expect(queriedPatientRefs('Patient', [['_id:not', 'a'], ['name', 'Patient/x']])).toEqual([]);
  });

  it('matchQuery: a $match input as the equivalent search parameters, bounded', () => {
    const resource = {
      resourceType: 'Patient',
      name: [{ family: 'Doe', given: ['Jo', 'Ann'] }],
      birthDate: '2020-01-02',
      gender: 'female',
      identifier: [{ system: 'urn:mrn', value: '42' }],
      address: [{ postalCode: '02452' }],
      telecom: [{ system: 'phone', value: '555-1234' }, { system: 'email', value: 'x@y' }],
    };
    expect(matchQuery({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource }, { name: 'onlyCertainMatches', valueBoolean: true }] })).toEqual([
      ['onlyCertainMatches', 'true'],
      ['family', 'Doe'],
      ['given', 'Jo'],
      ['given', 'Ann'],
      ['birthdate', '2020-01-02'],
      ['gender', 'female'],
      ['identifier', 'urn:mrn|42'],
      ['address-postalcode', '02452'],
      ['phone', '555-1234'],
    ]);
    const many = { resourceType: 'Patient', name: Array.from({ length: 50 }, () => ({ family: 'x'.repeat(1000) })) };
    const bounded = matchQuery({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource: many }] }) ?? [];
    expect(bounded.length).toBe(24);
    expect(bounded.every(([, v]) => v.length <= 256)).toBe(true);
    expect(matchQuery({ resourceType: 'Patient' })).toBeUndefined();
    expect(matchQuery({ resourceType: 'Parameters', parameter: { name: 'resource' } })).toBeUndefined();
  });

  it('names the patients of a subject-list MeasureReport (its contained Lists) and of an ImmunizationRecommendation', () => {
    expect(
      patientRefsOf([
        {
          resourceType: 'MeasureReport',
          status: 'complete',
          type: 'subject-list',
          measure: 'm',
          period: {},
          subject: { reference: 'Organization/clinic' },
          contained: [
            { resourceType: 'List', id: 'initial-population', status: 'current', mode: 'snapshot', entry: [{ item: { reference: 'Patient/d' } }, { item: { reference: 'Patient/e' } }] },
            { resourceType: 'List', id: 'numerator', status: 'current', mode: 'snapshot', entry: [{ item: { reference: 'Patient/e' } }] },
          ],
        },
        { resourceType: 'ImmunizationRecommendation', patient: { reference: 'Patient/f' }, date: '2020', recommendation: [] },
      ])
    ).toEqual(['Patient/d', 'Patient/e', 'Patient/f']);
  });
});

describe('auditAllowed', () => {
  it('only public-health system callers (system/ scope covering AuditEvent, no organization)', () => {
    expect(auditAllowed(caller('system/*.rs'))).toBe(true);
    expect(auditAllowed(caller('system/AuditEvent.s'))).toBe(true);
    expect(auditAllowed(caller('system/AuditEvent.read'))).toBe(true);
    expect(auditAllowed(caller('system/*.rs', { organization: 'Organization/clinic-1' }))).toBe(false);
    expect(auditAllowed(caller('user/*.cruds'))).toBe(false);
    expect(auditAllowed(caller('patient/*.rs'))).toBe(false);
    expect(auditAllowed(caller('system/Patient.rs'))).toBe(false);
    expect(auditAllowed(caller('system/*.cud'))).toBe(false);
    expect(auditAllowed(caller(''))).toBe(false);
    expect(auditAllowed(undefined)).toBe(false);
  });
});

describe('patientRef', () => {
  /** The general pattern alone, as patientRef was before its plain `Patient/<id>` fast path. */
  const byPattern = (reference: string) => {
    const match = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/.exec(reference);
    return match ? `Patient/${match[1]}` : undefined;
  };

  it('gives what the general pattern gives, for plain, absolute, versioned, too long and odd references', () => {
    const idChar = fc.constantFrom(...'aZ09-._/ %:'.split(''));
    const id = fc.array(idChar, { minLength: 0, maxLength: 70 }).map((c) => c.join(''));
    const reference = fc.oneof(
      id.map((x) => `Patient/${x}`),
      fc.tuple(fc.constantFrom('', 'https://a.example/fhir/', 'x/', 'Patient/', 'Group/'), id, fc.constantFrom('', '/_history/3', '/_history/', '/x')).map(
        ([pre, x, post]) => `${pre}Patient/${x}${post}`
      ),
      fc.uuid().map((u) => `Patient/${u}`),
      fc.string()
    );
    fc.assert(
      fc.property(reference, (ref) => {
        expect(patientRef(ref)).toBe(byPattern(ref));
      }),
      { numRuns: 5000 }
    );
    for (const ref of ['Patient/' + 'a'.repeat(64), 'Patient/' + 'a'.repeat(65), 'Patient/', 'Patient/a\n', 'Patient/a.b-c']) {
      expect(patientRef(ref)).toBe(byPattern(ref));
    }
  });
});

// buildAuditEvent as it was before its optional members were set one by one (conditional spreads,
// V8's slow path for a literal that spreads and then adds members): the reference for the test below.
function buildAuditEventBySpread(event: AccessEvent, serverUrl: string): AuditEvent & { id: string } {
  const { caller } = event;
  const subtype: Coding[] = [{ system: RESTFUL_INTERACTION, code: SUBTYPE[event.interaction], display: SUBTYPE[event.interaction] }];
  if (event.interaction === 'operation' && event.operation) subtype.push({ code: `$${event.operation}`, display: `$${event.operation}` });

  const agent: AuditEventAgent[] = [
    {
      type: { coding: [{ system: PARTICIPATION, code: 'IRCP', display: 'information recipient' }] },
      who: {
        identifier: { ...(caller.issuer ? { system: caller.issuer } : {}), value: caller.sub ?? caller.clientId ?? 'unknown' },
        ...(caller.organization ? { display: `acting for ${caller.organization}` } : {}),
      },
      ...(caller.clientId ? { altId: caller.clientId } : {}),
      requestor: true,
    },
  ];
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
    entity.push({
      ...(event.resourceType ? { what: { type: event.resourceType as ResourceType } } : {}),
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
      query: Buffer.from(text, 'utf8').toString('base64'),
    });
  }
  entity.push({
    what: { identifier: { value: event.requestId } },
    type: { system: BALP_ENTITY_TYPE, code: 'XrequestId', display: 'HTTP X-Request-Id' },
    ...(caller.scope ? { detail: [{ type: 'scope', valueString: caller.scope }] } : {}),
  });

  return {
    resourceType: 'AuditEvent',
    id: newResourceId(),
    type: { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' },
    subtype,
    action: actionOf(event.interaction),
    recorded: event.recorded ?? new Date().toISOString(),
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

describe('buildAuditEvent built member by member', () => {
  // Keys in order, undefined members included: JSON output order is observable.
  const withOrder = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (v === undefined ? '<undefined>' : v));
  const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
  const text = fc.oneof(fc.constant(''), fc.string({ maxLength: 12 }));
  const callerArb = fc.record(
    {
      sub: optional(text),
      organization: optional(text),
      clientId: optional(text),
      issuer: optional(text),
      scope: text,
    },
    { requiredKeys: ['scope'] }
  );
  const eventArb = fc.record(
    {
      caller: callerArb,
      interaction: fc.constantFrom(...(Object.keys(SUBTYPE) as Array<keyof typeof SUBTYPE>)),
      operation: optional(text),
      resourceType: optional(fc.constantFrom('', 'Patient', 'Immunization', 'AuditEvent')),
      id: optional(text),
      query: optional(fc.oneof(text, fc.array(fc.tuple(text, text), { maxLength: 3 }))),
      patientRefs: fc.array(fc.oneof(fc.constant('Patient/p-1'), fc.constant('https://x.example/fhir/Patient/p-2/_history/3'), text), { maxLength: 4 }),
      outcome: fc.constantFrom(200, 201, 404, 422, 500),
      outcomeDesc: optional(text),
      requestId: text,
      recorded: fc.constant('2026-01-02T03:04:05.678Z'),
    },
    { requiredKeys: ['caller', 'interaction', 'patientRefs', 'outcome', 'requestId', 'recorded'] }
  );

  it('gives the same event as the conditional spreads, keys in the same order', () => {
    fc.assert(
      fc.property(eventArb, (input) => {
        const event = { ...input, caller: { scopes: [], ...input.caller } } as AccessEvent;
        const built = { ...buildAuditEvent(event, SERVER), id: 'same' };
        const reference = { ...buildAuditEventBySpread(event, SERVER), id: 'same' };
        expect(withOrder(built)).toBe(withOrder(reference));
        expect(built).toStrictEqual(reference);
      }),
      { numRuns: 500 }
    );
  });
});
