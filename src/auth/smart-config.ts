// SMART App Launch 2 discovery (`/.well-known/smart-configuration`, also under the FHIR base).
// Two ways to a token: SMART Backend Services (client_credentials with a private_key_jwt assertion,
// src/auth/token-endpoint.ts) and, for people, the authorization server of src/signin
// (authorization code with PKCE S256, standalone launch with launch/patient, EHR launch from the
// clinic web app with launch + the launch id, OpenID Connect with
// fhirUser, refresh tokens, revocation, introspection). Both share the token endpoint.
import { SUPPORTED_TYPES } from '../fhir/resource-types.js';
import { ASSERTION_ALGORITHMS } from './token-endpoint.js';

export interface SmartUrls {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint: string;
  introspectionEndpoint: string;
  /** Dynamic client registration (RFC 7591, src/signin/registration.ts; needs an initial access token). */
  registrationEndpoint: string;
  jwksUri: string;
}

export function smartUrls(publicBaseUrl: string): SmartUrls {
  const auth = `${publicBaseUrl}/auth`;
  return {
    issuer: auth,
    authorizationEndpoint: `${auth}/authorize`,
    tokenEndpoint: `${auth}/token`,
    revocationEndpoint: `${auth}/revoke`,
    introspectionEndpoint: `${auth}/introspect`,
    registrationEndpoint: `${auth}/register`,
    jwksUri: `${auth}/jwks.json`,
  };
}

/** The `iss` of access tokens from our token endpoint. */
export function tokenIssuer(publicBaseUrl: string): string {
  return `${publicBaseUrl}/auth`;
}

/** SMART capabilities that are real on this server. */
export const SMART_CAPABILITIES = [
  'launch-standalone',
  'launch-ehr',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'context-standalone-patient',
  'context-ehr-patient',
  // need_patient_banner in the token response of a launch (src/signin/provider.ts).
  'context-passthrough-banner',
  'sso-openid-connect',
  'permission-offline',
  'permission-online',
  'permission-user',
  'permission-patient',
  'permission-v1',
  'permission-v2',
  // SMART Health Cards ("Discovery of FHIR Support"): a server issuing cards through
  // $health-cards-issue SHALL list it, so a wallet knows to ask (src/health-cards).
  'health-cards',
] as const;

/**
 * How clients authenticate at the token endpoint: backend services and asymmetric apps with a
 * signed assertion, confidential apps with their secret in the Authorization header or in the form
 * (oidc-provider takes either for a client with a secret), public apps with none (PKCE).
 */
export const TOKEN_ENDPOINT_AUTH_METHODS = ['private_key_jwt', 'client_secret_basic', 'client_secret_post', 'none'] as const;

/** Every grant the token endpoint answers: people's apps (src/signin) and backend services. */
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

/** Scopes of the sign-in flow that are not about resources. */
const LAUNCH_SCOPES = ['openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'offline_access', 'online_access'];

/** The scopes clients may ask for (v2 and v1 spellings), for each type and `*`. */
export function scopesSupported(): string[] {
  const types = ['*', ...SUPPORTED_TYPES];
  return [
    ...LAUNCH_SCOPES,
    ...['system', 'user', 'patient'].flatMap((context) => types.flatMap((type) => ['cruds', 'rs', 'read', 'write'].map((access) => `${context}/${type}.${access}`))),
  ];
}

export function smartConfiguration(publicBaseUrl: string): Record<string, unknown> {
  const urls = smartUrls(publicBaseUrl);
  return {
    issuer: urls.issuer,
    jwks_uri: urls.jwksUri,
    authorization_endpoint: urls.authorizationEndpoint,
    token_endpoint: urls.tokenEndpoint,
    token_endpoint_auth_methods_supported: [...TOKEN_ENDPOINT_AUTH_METHODS],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: [...GRANT_TYPES],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    revocation_endpoint: urls.revocationEndpoint,
    introspection_endpoint: urls.introspectionEndpoint,
    registration_endpoint: urls.registrationEndpoint,
    scopes_supported: scopesSupported(),
    capabilities: [...SMART_CAPABILITIES],
  };
}
