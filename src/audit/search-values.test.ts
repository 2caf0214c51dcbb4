// The direct AuditEvent search values equal the generic extractor's, for every shape the pipeline builds.
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@medplum/fhirtypes';
import type { Caller } from '../auth/caller.js';
import { parseScopes } from '../auth/scopes.js';
import { loadDefinitions } from '../fhir/definitions.js';
import { extractSearchIndex } from '../search/extract.js';
import { buildAuditEvent, type AccessEvent, type AuditInteraction } from './audit-event.js';
import { auditSearchIndex } from './search-values.js';

const SERVER = 'https://iis.example/fhir';
const INTERACTIONS: AuditInteraction[] = [
  'read', 'vread', 'update', 'conditional-update', 'patch', 'conditional-patch', 'delete', 'conditional-delete', 'create',
  'search-type', 'search-system', 'history-instance', 'history-type', 'history-system', 'batch', 'transaction', 'operation', 'capabilities',
];
const CALLERS: Caller[] = [
  { sub: 'nurse-1', scope: 'user/*.rs', scopes: parseScopes('user/*.rs'), organization: 'Organization/clinic-1', clientId: 'ehr-app', issuer: 'https://idp.example' },
  { scope: 'system/*.cruds', scopes: parseScopes('system/*.cruds') },
  { sub: 'Patient/p-9', scope: 'patient/*.rs', scopes: parseScopes('patient/*.rs'), patient: 'p-9', clientId: 'portal' },
  { sub: 'x', scope: '', scopes: [], organization: 'https://elsewhere.example/fhir/Organization/o-1' },
  { sub: 'y', scope: 'system/*.rs', scopes: parseScopes('system/*.rs'), organization: 'Patient/odd-claim', clientId: 'registry' },
  { sub: 'z', scope: 'system/*.rs', scopes: parseScopes('system/*.rs'), organization: 'not a reference' },
];

function events(): AuditEvent[] {
  const out: AuditEvent[] = [];
  let n = 0;
  for (const interaction of INTERACTIONS) {
    for (const caller of CALLERS) {
      const base: AccessEvent = { caller, interaction, patientRefs: [], outcome: [200, 201, 404, 403, 500][n++ % 5], requestId: `req-${n}` };
      out.push(buildAuditEvent(base, SERVER));
      out.push(buildAuditEvent({ ...base, resourceType: 'Immunization', id: 'imm-1', patientRefs: ['Patient/p-1'] }, SERVER));
      out.push(buildAuditEvent({ ...base, resourceType: 'Patient', id: 'p-1', patientRefs: ['Patient/p-1', 'https://x.example/fhir/Patient/p-2/_history/3'] }, SERVER));
      out.push(buildAuditEvent({ ...base, resourceType: 'Patient', id: 'p-3', patientRefs: [] }, SERVER));
      out.push(buildAuditEvent({ ...base, resourceType: 'Immunization', query: 'patient=Patient/p-1&_count=5', patientRefs: ['Patient/p-1', 'Patient/p-2', 'Patient/p-1'] }, SERVER));
      out.push(buildAuditEvent({ ...base, resourceType: 'Immunization', query: [['vaccine-code', 'http://hl7.org/fhir/sid/cvx|08']], patientRefs: [] }, SERVER));
      out.push(buildAuditEvent({ ...base, resourceType: 'Patient', operation: 'match', query: [], patientRefs: ['Patient/p-7'] }, SERVER));
      out.push(buildAuditEvent({ ...base, resourceType: 'Patient', id: 'p-5', operation: 'immds-forecast', patientRefs: ['Patient/p-5'] }, SERVER));
      out.push(buildAuditEvent({ ...base, operation: 'export', query: '_type=Patient', patientRefs: [] }, SERVER));
      out.push(buildAuditEvent({ ...base, resourceType: 'Immunization', id: 'odd id/with slash', patientRefs: [] }, SERVER));
      out.push(buildAuditEvent({ ...base, recorded: '2026-01-02T03:04:05.678Z', requestId: 'weird ~ id' }, SERVER));
      // An HL7 v2 message's one event (Pipeline.executeMessageAs): the lookup's query, the patients, the HL7 outcome.
      out.push(buildAuditEvent({ ...base, resourceType: 'Patient', query: 'identifier=urn%3Aoid%3A1.2%7CMRN-1&_count=20&_sort=_lastUpdated', patientRefs: ['Patient/p-9'], outcomeDesc: 'HL7 MSA-1 AE' }, SERVER));
    }
  }
  return out;
}

describe('auditSearchIndex', () => {
  loadDefinitions();

  it('gives exactly the generic extractor\u2019s search values for every audit event shape', () => {
    const all = events();
    expect(all.length).toBeGreaterThan(1000);
    for (const event of all) expect(auditSearchIndex(event)).toEqual(extractSearchIndex(event));
  });

  it('falls back to the generic extractor for events it does not know (sign-in events, foreign content)', () => {
    const foreign: AuditEvent = {
      resourceType: 'AuditEvent',
      type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114', display: 'User Authentication' },
      recorded: '2026-01-02T03:04:05Z',
      agent: [{ who: { reference: 'Practitioner/pr-1' }, name: 'Dr Who', requestor: true, network: { address: '10.0.0.1', type: '2' } }],
      source: { observer: { reference: 'Device/d-1' } },
      entity: [{ what: { reference: 'Patient/p-1' }, name: 'Jane' }],
    };
    expect(auditSearchIndex(foreign)).toEqual(extractSearchIndex(foreign));
    expect(auditSearchIndex(foreign)['agent-name']).toBeDefined();
  });

  it('shares only frozen entries: changing one index throws instead of changing the next', () => {
    const event = events()[1];
    const first = auditSearchIndex(event);
    expect(() => {
      (first.type as Array<Record<string, string>>)[0].c = 'changed';
    }).toThrow(TypeError);
    expect(auditSearchIndex(event)).toEqual(extractSearchIndex(event));
  });
});
