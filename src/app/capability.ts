// Builds the CapabilityStatement from the code itself: the types, interactions, search parameters
// and operations the router and search compiler really support. `npm run capability` writes it
// to capability-statement.json; test/capability.test.ts fails when the file and the code differ.
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { supportedIncludes, supportedRevIncludes, supportedSearchParams } from '../search/capability.js';
import { AUDIT_TYPE, SUPPORTED_TYPES } from '../fhir/resource-types.js';
import { PRACTITIONER_TYPE } from '../signin/practitioner-read.js';
import { OPERATION_DEFINITION_TYPE } from '../conformance/operation-definition-read.js';

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

/** SMART's CapabilityStatement extension carrying the OAuth endpoint URLs. */
export const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

export const SYSTEM_INTERACTIONS = ['transaction', 'batch', 'search-system', 'history-system'] as const;

/** Operations by resource type (no `types`: every supported type). */
export const TYPE_OPERATIONS: ReadonlyArray<{ name: string; definition: string; types?: readonly string[]; instanceOnly?: boolean }> = [
  { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
  { name: 'lookup', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup', types: ['CodeSystem'] },
  { name: 'validate-code', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code', types: ['CodeSystem'] },
  { name: 'validate-code', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code', types: ['ValueSet'] },
  { name: 'translate', definition: 'http://hl7.org/fhir/OperationDefinition/ConceptMap-translate', types: ['ConceptMap'] },
  { name: 'match', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-match', types: ['Patient'] },
  // R4 has no merge: R5's parameters, under our canonical (profiles/OperationDefinition-merge.json, base R5 Patient-merge).
  { name: 'merge', definition: 'https://iis-fhir-server.org/fhir/OperationDefinition/merge', types: ['Patient'] },
  { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything', types: ['Patient'], instanceOnly: true },
  // CDC CDSi forecasting (src/forecast): profiles/OperationDefinition-immds-forecast.json.
  { name: 'immds-forecast', definition: 'https://iis-fhir-server.org/fhir/OperationDefinition/immds-forecast', types: ['Patient'], instanceOnly: true },
  // SMART Health Cards (src/health-cards): profiles/OperationDefinition-health-cards-issue.json.
  { name: 'health-cards-issue', definition: 'https://iis-fhir-server.org/fhir/OperationDefinition/health-cards-issue', types: ['Patient'], instanceOnly: true },
  // Revoking a patient's cards: profiles/OperationDefinition-health-cards-revoke.json.
  { name: 'health-cards-revoke', definition: 'https://iis-fhir-server.org/fhir/OperationDefinition/health-cards-revoke', types: ['Patient'], instanceOnly: true },
  // SMART Health Links to a patient's card: profiles/OperationDefinition-health-link-create.json and -revoke.json.
  { name: 'health-link-create', definition: 'https://iis-fhir-server.org/fhir/OperationDefinition/health-link-create', types: ['Patient'], instanceOnly: true },
  { name: 'health-link-revoke', definition: 'https://iis-fhir-server.org/fhir/OperationDefinition/health-link-revoke', types: ['Patient'], instanceOnly: true },
  // Coverage (src/population): the Measures shipped in profiles/measures and any stored ones.
  { name: 'evaluate-measure', definition: 'http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure', types: ['Measure'], instanceOnly: true },
  // Bulk Data Access 2.0 (src/bulk): Patient/$export and Group/[id]/$export; [base]/$export is in SYSTEM_OPERATIONS.
  { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export', types: ['Patient'] },
  { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export', types: ['Group'], instanceOnly: true },
];

/** Operations on the FHIR base. */
export const SYSTEM_OPERATIONS: ReadonlyArray<{ name: string; definition: string }> = [
  { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' },
  { name: 'immds-forecast', definition: 'https://iis-fhir-server.org/fhir/OperationDefinition/immds-forecast' },
  // Reminder/recall (src/population): profiles/OperationDefinition-reminder-recall.json.
  { name: 'reminder-recall', definition: 'https://iis-fhir-server.org/fhir/OperationDefinition/reminder-recall' },
];

/** The canonicals of the operations' definitions the statement names, each once. */
export function operationDefinitionCanonicals(): string[] {
  return [...new Set([...TYPE_OPERATIONS, ...SYSTEM_OPERATIONS].map((op) => op.definition))];
}

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
    // The _include / _revinclude values the search compiler takes (src/search/capability.ts):
    // clients such as Inferno read them here before asking.
    searchInclude: supportedIncludes(type),
    searchRevInclude: supportedRevIncludes(type),
    searchParam: searchParamsOf(type),
    operation: TYPE_OPERATIONS.filter((op) => !op.types || op.types.includes(type)).map((op) => ({ name: op.name, definition: op.definition })),
  }));
  // The audit trail (src/audit): read, vread, history and search for public-health system clients only; it
  // is never written over REST, and its searches take no _include / _revinclude.
  resource.push({
    type: AUDIT_TYPE,
    profile: `http://hl7.org/fhir/StructureDefinition/${AUDIT_TYPE}`,
    documentation:
      'The audit trail: one AuditEvent per request (IHE BALP). Readable only by public-health system clients (a system/ scope and no organization claim); never created, updated or deleted over REST.',
    interaction: [{ code: 'read' }, { code: 'vread' }, { code: 'history-instance' }, { code: 'history-type' }, { code: 'search-type' }],
    searchParam: searchParamsOf(AUDIT_TYPE),
  });
  // People are not stored resources: the one a sign-in token's fhirUser names is read from the
  // user directory (src/signin/practitioner-read.ts), by that token only.
  resource.push({
    type: PRACTITIONER_TYPE,
    profile: `http://hl7.org/fhir/StructureDefinition/${PRACTITIONER_TYPE}`,
    documentation:
      "The signed-in person: GET the fhirUser URL of a sign-in token (Practitioner/<user id>) with that token and the fhirUser scope. No other token reads it; no search.",
    interaction: [{ code: 'read' }],
  });
  // The operations' definitions (src/conformance/operation-definition-read.ts), read by id.
  resource.push({
    type: OPERATION_DEFINITION_TYPE,
    profile: `http://hl7.org/fhir/StructureDefinition/${OPERATION_DEFINITION_TYPE}`,
    documentation:
      "The definitions of the operations listed here: GET OperationDefinition/<the definition canonical's last segment>, or OperationDefinition?url=<the canonical> (this server's own, and the R4 core ones it implements; the Bulk Data IG publishes its export operations).",
    interaction: [{ code: 'read' }, { code: 'search-type' }],
    searchParam: [
      { name: 'url', type: 'uri', definition: 'http://hl7.org/fhir/SearchParameter/OperationDefinition-url', documentation: 'The canonical, exactly (several separated by commas).' },
      { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id', documentation: 'The id, exactly.' },
      { name: 'code', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/OperationDefinition-code', documentation: "The operation's code (name without $), exactly." },
    ],
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-21',
    publisher: 'IIS FHIR server contributors',
    kind: 'instance',
    instantiates: ['http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'],
    software: { name: 'iis-fhir-server', version },
    implementation: { description: 'FHIR R4 Immunization Information System server' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Every request except GET /metadata and GET /.well-known/smart-configuration needs Authorization: Bearer <JWT>. ' +
          'SMART App Launch 2 for people (authorization code with PKCE S256 at /auth/authorize, standalone launch with launch/patient, ' +
          'openid fhirUser, refresh tokens) and SMART Backend Services (POST /auth/token, client_credentials, private_key_jwt with RS384 or ES384).',
        security: {
          cors: true,
          service: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }],
              text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
            },
          ],
          extension: [
            {
              url: OAUTH_URIS,
              // Relative to PUBLIC_BASE_URL here; made absolute when GET /metadata serves it
              // (absoluteSecurityUrls).
              extension: [
                { url: 'authorize', valueUri: 'auth/authorize' },
                { url: 'token', valueUri: 'auth/token' },
                { url: 'revoke', valueUri: 'auth/revoke' },
                { url: 'introspect', valueUri: 'auth/introspect' },
                // Dynamic client registration (RFC 7591, src/signin/registration.ts), as smart-configuration's registration_endpoint.
                { url: 'register', valueUri: 'auth/register' },
              ],
            },
          ],
          description:
            'Bearer JWT access tokens: HS256 with AUTH_JWT_SECRET (or the development secret in DATA_DIR when no JWKS issuer is configured); ' +
            'RS256/RS384/ES256/ES384 from the issuer AUTH_ISSUER whose keys are at AUTH_JWKS_URL; ' +
            'and ES384 tokens from this server\'s own SMART Backend Services token endpoint (POST /auth/token, client_credentials ' +
            'with a private_key_jwt assertion signed RS384 or ES384, clients registered in AUTH_CLIENTS_FILE); ' +
            'and ES256 tokens issued to people signing in at /auth/authorize (SMART App Launch: fhirUser, organization = the user\'s facility, ' +
            'scope narrowed to the user\'s role). exp is required; aud, when present, must be the FHIR base. Discovery: GET /.well-known/smart-configuration. ' +
            'SMART v1/v2 patient/, user/ and system/ resource scopes are enforced per interaction and per Bundle entry.',
        },
        resource,
        interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
        operation: SYSTEM_OPERATIONS.map((op) => ({ name: op.name, definition: op.definition })),
      },
    ],
  };
}

function searchParamsOf(type: string): NonNullable<CapabilityStatementRestResource['searchParam']> {
  return supportedSearchParams(type).map((p) => ({
    name: p.name,
    type: p.type,
    ...(p.definition ? { definition: p.definition } : {}),
    ...(p.documentation ? { documentation: p.documentation } : {}),
  }));
}

/** The statement with the oauth-uris endpoint URLs made absolute against PUBLIC_BASE_URL. */
export function absoluteSecurityUrls(statement: CapabilityStatement, publicBaseUrl: string): CapabilityStatement {
  const base = `${publicBaseUrl.replace(/\/+$/, '')}/`;
  return {
    ...statement,
    rest: statement.rest?.map((rest) => ({
      ...rest,
      ...(rest.security
        ? {
            security: {
              ...rest.security,
              extension: rest.security.extension?.map((ext) =>
                ext.url === OAUTH_URIS
                  ? { ...ext, extension: ext.extension?.map((e) => (e.valueUri ? { ...e, valueUri: new URL(e.valueUri, base).toString() } : e)) }
                  : ext
              ),
            },
          }
        : {}),
    })),
  };
}
