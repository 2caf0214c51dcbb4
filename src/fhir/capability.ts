// Builds the CapabilityStatement from the code itself: the types, interactions, search parameters
// and operations the router and search compiler really support. `npm run capability` writes it
// to capability-statement.json; test/capability.test.ts fails when the file and the code differ.
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { supportedSearchParams } from '../search/capability.js';
import { SUPPORTED_TYPES } from './resource-types.js';

export const TYPE_INTERACTIONS = [
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'create',
  'search-type',
] as const;

export const SYSTEM_INTERACTIONS = ['transaction', 'batch', 'search-system', 'history-system'] as const;

/** Operations by resource type (an empty key list means every supported type). */
export const TYPE_OPERATIONS = [
  { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
] as const;

export function buildCapabilityStatement(version: string): CapabilityStatement {
  const resource: CapabilityStatementRestResource[] = SUPPORTED_TYPES.map((type) => ({
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: true,
    conditionalRead: 'full-support',
    conditionalUpdate: true,
    conditionalDelete: 'single',
    referencePolicy: ['literal', 'local'],
    searchParam: supportedSearchParams(type).map((p) => ({
      name: p.name,
      type: p.type,
      ...(p.definition ? { definition: p.definition } : {}),
      ...(p.documentation ? { documentation: p.documentation } : {}),
    })),
    operation: TYPE_OPERATIONS.map((op) => ({ name: op.name, definition: op.definition })),
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-21',
    publisher: 'IIS FHIR server contributors',
    kind: 'instance',
    software: { name: 'iis-fhir-server', version },
    implementation: { description: 'FHIR R4 Immunization Information System server' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        documentation: 'Every request except GET /metadata needs Authorization: Bearer <JWT> (HS256).',
        security: {
          cors: true,
          description:
            'Bearer JWT access tokens signed HS256 with the server secret (AUTH_JWT_SECRET or DATA_DIR/auth-secret). ' +
            'SMART v1/v2 user/ and system/ resource scopes are enforced per interaction; patient/ scopes are refused.',
        },
        resource,
        interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
      },
    ],
  };
}
