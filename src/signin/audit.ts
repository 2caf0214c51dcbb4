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
  /** The username tried, or a registered app's client id (`app`). */
  username: string;
  /** The credentials were a registered app's client id and secret (SOAP), not a person's. */
  app?: boolean;
  /** Present when the username names a user. */
  userId?: string;
  organization?: string;
  clientId?: string;
  /** Remote address of the browser or client. */
  address?: string;
  /**
   * `success`, or why it failed: invalid-credentials, locked, disabled, facility-suspended, totp-invalid;
   * an app's: app-public, app-private-key-jwt, facility-missing, facility-unknown (app-credentials.ts).
   */
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

/**
 * One token request at /auth/token (IHE BALP IHE.IUA.71 "Get Access Token": DICOM 110114 User
 * Authentication, subtype ITI-71): a code exchanged, a refresh token used, a backend-services
 * client's client_credentials; issued or refused. The token itself is never recorded.
 */
export interface TokenEvent {
  kind: 'token';
  /** authorization_code, refresh_token, client_credentials (or what the client sent). */
  grantType: string;
  /** The client as authenticated, or as it named itself when refused. */
  clientId?: string;
  /** The signed-in user the token is for (people's apps). */
  userId?: string;
  /** The scopes granted. */
  scope?: string;
  address?: string;
  /** `success`, or the OAuth error code (invalid_grant, invalid_client, …). */
  result: string;
  /** The refusal's description. */
  description?: string;
}

export const IHE_EVENT_TYPE = 'urn:ihe:event-type-code';

export function buildSecurityEvent(event: SignInEvent | AdminEvent | TokenEvent, serverUrl: string): AuditEvent & { id: string } {
  const source = {
    site: serverUrl,
    observer: { identifier: { value: serverUrl }, display: 'iis-fhir-server' },
    type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
  };
  const recorded = new Date().toISOString();
  if (event.kind === 'token') {
    const ok = event.result === 'success';
    const client: AuditEventAgent = {
      type: { coding: [{ system: DCM, code: '110150', display: 'Application' }] },
      who: { identifier: { system: `${serverUrl}/clients`, value: event.clientId ?? 'unknown' } },
      requestor: event.userId === undefined,
    };
    if (event.address) client.network = { address: event.address, type: '2' };
    const agent: AuditEventAgent[] = [client];
    if (event.userId !== undefined) agent.push({ who: { reference: `Practitioner/${event.userId}` }, requestor: true });
    agent.push({
      type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
      who: { identifier: { value: serverUrl }, display: 'iis-fhir-server' },
      requestor: false,
    });
    const detail: NonNullable<AuditEventEntity['detail']> = [{ type: 'grant_type', valueString: event.grantType }];
    if (event.scope) detail.push({ type: 'scope', valueString: event.scope });
    return {
      resourceType: 'AuditEvent',
      id: newResourceId(),
      type: { system: DCM, code: '110114', display: 'User Authentication' },
      subtype: [
        { system: IHE_EVENT_TYPE, code: 'ITI-71', display: 'Get Access Token' },
        { system: SIGNIN_EVENT, code: `token-${event.result}`, display: `token ${ok ? 'issued' : 'refused'}: ${event.grantType}` },
      ],
      action: 'E',
      recorded,
      outcome: ok ? '0' : '4',
      outcomeDesc: ok ? `token issued (${event.grantType})` : `token refused (${event.grantType}): ${event.result}${event.description ? ` — ${event.description}` : ''}`.slice(0, 1000),
      agent,
      source,
      entity: [{ type: { system: ENTITY_TYPE, code: '2', display: 'System Object' }, what: { display: 'access token request' }, detail }],
    };
  }
  if (event.kind === 'signin') {
    const ok = event.result === 'success';
    const agent: AuditEventAgent[] = [
      {
        ...(event.app ? { type: { coding: [{ system: DCM, code: '110150', display: 'Application' }] } } : {}),
        who: {
          identifier: { system: `${serverUrl}/${event.app ? 'clients' : 'users'}`, value: event.username },
          ...(event.userId ? { reference: `Practitioner/${event.userId}` } : {}),
        },
        ...(event.clientId ? { altId: event.clientId } : {}),
        requestor: true,
        ...(event.address ? { network: { address: event.address, type: '2' as const } } : {}),
      },
    ];
    if (event.organization) agent.push({ type: { text: `organization the ${event.app ? 'app' : 'user'} acts for` }, who: { reference: event.organization }, requestor: false });
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
