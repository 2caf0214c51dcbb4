// Who is calling, as read from a verified access token.
import type { ResourceScope } from './scopes.js';

export interface Caller {
  sub?: string;
  /** `Organization/<id>` the caller acts for; absent for public-health system clients. */
  organization?: string;
  /** Patient id in context for patient/ scopes. */
  patient?: string;
  /** The OAuth client (`client_id` or `azp` claim). */
  clientId?: string;
  /** The token's `iss` claim, when it has one (always for JWKS-issuer and server-issued tokens). */
  issuer?: string;
  scopes: ResourceScope[];
  /** The raw scope string, for audit. */
  scope: string;
}
