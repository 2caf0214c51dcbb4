// Who is calling, as read from a verified access token.
import type { ResourceScope } from './scopes.js';

export interface Caller {
  sub?: string;
  /** `Organization/<id>` the caller acts for; absent for public-health system clients. */
  organization?: string;
  /** Patient id in context for patient/ scopes. */
  patient?: string;
  clientId?: string;
  scopes: ResourceScope[];
  /** The raw scope string, for audit. */
  scope: string;
}
