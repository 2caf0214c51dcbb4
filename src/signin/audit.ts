// AuditEvents of people signing in and of account administration (DICOM security alert codes),
// queued on the same AuditLog as patient-data access (src/audit), readable by public health only.
import type { AuditEvent, AuditEventAgent, AuditEventEntity } from '@medplum/fhirtypes';
import { newResourceId } from '../fhir/resource-id.js';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const SIGNIN_EVENT = 'https://iis-fhir-server.org/fhir/CodeSystem/signin-event';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';

/** Where audit events go (AuditLog.recordEvent); tests pass an array's push. */
export type AuditSink = (event: AuditEvent & { id: string }) => void;

export interface SignInEvent {
  kind: 'signin';
  username: string;
  /** Present when the username names a user. */
  userId?: string;
  organization?: string;
  clientId?: string;
  /** Remote address of the browser or client. */
  address?: string;
  /** `success`, or why it failed: invalid-credentials, locked, disabled, facility-suspended, totp-invalid. */
  result: string;
}

export interface AdminEvent {
  kind: 'admin';
  /** Who changed it (a user id, or a client/sub for CLI and system callers). */
  actor: string;
  actorOrganization?: string;
  /** create, disable, enable, reset-password, change-role, totp-enable, totp-disable, unlock, client-register. */
  action: string;
  /** The account changed: `user:<username>` or `client:<client_id>`. */
  target: string;
  targetOrganization?: string;
  /** Refused changes are audited as well (outcome 4). */
  refused?: string;
  detail?: string;
}

export function buildSecurityEvent(event: SignInEvent | AdminEvent, serverUrl: string): AuditEvent & { id: string } {
  const source = {
    site: serverUrl,
    observer: { identifier: { value: serverUrl }, display: 'iis-fhir-server' },
    type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
  };
  const recorded = new Date().toISOString();
  if (event.kind === 'signin') {
    const ok = event.result === 'success';
    const agent: AuditEventAgent[] = [
      {
        who: {
          identifier: { system: `${serverUrl}/users`, value: event.username },
          ...(event.userId ? { reference: `Practitioner/${event.userId}` } : {}),
        },
        ...(event.clientId ? { altId: event.clientId } : {}),
        requestor: true,
        ...(event.address ? { network: { address: event.address, type: '2' as const } } : {}),
      },
    ];
    if (event.organization) agent.push({ type: { text: 'organization the user acts for' }, who: { reference: event.organization }, requestor: false });
    return {
      resourceType: 'AuditEvent',
      id: newResourceId(),
      type: { system: DCM, code: '110114', display: 'User Authentication' },
      subtype: [
        { system: DCM, code: '110122', display: 'Login' },
        { system: SIGNIN_EVENT, code: event.result, display: event.result },
      ],
      action: 'E',
      recorded,
      outcome: ok ? '0' : '4',
      outcomeDesc: ok ? 'signed in' : `sign-in refused: ${event.result}`,
      agent,
      source,
    };
  }
  const entity: AuditEventEntity[] = [
    {
      what: { identifier: { system: `${serverUrl}/${event.target.startsWith('client:') ? 'clients' : 'users'}`, value: event.target.replace(/^\w+:/, '') } },
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '11', display: 'Security User Entity' },
      ...(event.detail || event.targetOrganization
        ? {
            detail: [
              ...(event.detail ? [{ type: 'change', valueString: event.detail }] : []),
              ...(event.targetOrganization ? [{ type: 'organization', valueString: event.targetOrganization }] : []),
            ],
          }
        : {}),
    },
  ];
  const roleChange = event.action === 'change-role';
  return {
    resourceType: 'AuditEvent',
    id: newResourceId(),
    type: roleChange
      ? { system: DCM, code: '110136', display: 'Security Roles Changed' }
      : { system: DCM, code: '110137', display: 'User Security Attributes Changed' },
    subtype: [{ system: SIGNIN_EVENT, code: event.action, display: event.action }],
    action: event.action === 'create' || event.action === 'client-register' ? 'C' : 'U',
    recorded,
    outcome: event.refused ? '4' : '0',
    outcomeDesc: event.refused ? `refused: ${event.refused}` : 'done',
    agent: [
      {
        who: { identifier: { value: event.actor }, ...(event.actorOrganization ? { display: `acting for ${event.actorOrganization}` } : {}) },
        requestor: true,
      },
    ],
    source,
    entity,
  };
}
