// SMART App Launch 2 discovery (`/.well-known/smart-configuration`, also under the FHIR base).
// What we offer is SMART Backend Services only: the client_credentials grant with private_key_jwt
// client authentication at our token endpoint. There is no authorization_endpoint (and so no
// response_types_supported, code_challenge_methods_supported, launch or sso capabilities) because
// this server has no user-facing launch flow; `issuer` is omitted because we are not an OpenID
// Connect provider (SMART: "required if sso-openid-connect; otherwise, omitted").
import { SUPPORTED_TYPES } from '../fhir/resource-types.js';
import { ASSERTION_ALGORITHMS } from './token-endpoint.js';

export interface SmartUrls {
  tokenEndpoint: string;
  jwksUri: string;
}

export function smartUrls(publicBaseUrl: string): SmartUrls {
  return { tokenEndpoint: `${publicBaseUrl}/auth/token`, jwksUri: `${publicBaseUrl}/auth/jwks.json` };
}

/** The `iss` of access tokens from our token endpoint. */
export function tokenIssuer(publicBaseUrl: string): string {
  return `${publicBaseUrl}/auth`;
}

/** SMART capabilities that are real on this server. */
export const SMART_CAPABILITIES = ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'] as const;

/** The system/ scopes a backend client may ask for (v2 and v1 spellings), for each type and `*`. */
export function scopesSupported(): string[] {
  return ['*', ...SUPPORTED_TYPES].flatMap((type) => ['cruds', 'rs', 'read', 'write'].map((access) => `system/${type}.${access}`));
}

export function smartConfiguration(publicBaseUrl: string): Record<string, unknown> {
  const urls = smartUrls(publicBaseUrl);
  return {
    token_endpoint: urls.tokenEndpoint,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: ['client_credentials'],
    scopes_supported: scopesSupported(),
    capabilities: [...SMART_CAPABILITIES],
    jwks_uri: urls.jwksUri,
  };
}
