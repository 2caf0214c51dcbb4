// A registered app's client id and secret as SOAP credentials (CONTRACT.md "HL7 v2": `username` /
// `password` of a registered user or client, `facilityID` naming the Organization). Only a
// confidential app with a secret (client_secret_basic, registered with `npm run clients -- add`)
// can prove itself this way: its secret is checked against the stored scrypt hash exactly as
// /auth/token checks it (AppClients.secretMatches). A public app has no secret and a
// private_key_jwt app signs assertions SOAP cannot carry: both are refused, saying so.
//
// What the app may do: an app is not a person, so it has no role of its own; as a SOAP submitter
// acting for a facility it sends what the facility's clinicians send (VXU with doses and data
// sharing, QBP), so it gets the clinician's user/ scopes for the Organization facilityID names.
// That organization is the caller's `organization`, so data sharing applies to it as to the
// facility's staff (src/consent/access.ts); it never gets the public-health view (no organization).
import type { Caller } from '../auth/caller.js';
import { parseScopes } from '../auth/scopes.js';
import type { Store } from '../store/store.js';
import { authMethodOf, type AppClients, type AppClient } from './app-clients.js';
import { narrowScope } from './roles.js';

/** Why an app's credentials were refused (the audit's result and the SecurityFault's reason). */
export type AppSignInFailure = 'invalid-credentials' | 'app-public' | 'app-private-key-jwt' | 'facility-missing' | 'facility-unknown' | 'facility-suspended';

export type AppSignInResult = { ok: true; client: AppClient; caller: Caller } | { ok: false; reason: AppSignInFailure; message: string; organization?: string };

/** The failures that are guesses (counted against the client address, as a wrong password is). */
export const APP_FAILURES_COUNTED: ReadonlySet<AppSignInFailure> = new Set<AppSignInFailure>(['invalid-credentials', 'app-public', 'app-private-key-jwt']);

/** An Organization id as the FHIR API takes it. */
const ORGANIZATION_ID = /^[A-Za-z0-9\-.]{1,64}$/;

const INVALID = 'The username or password is not valid (or the account is locked, disabled or its facility suspended)';

/**
 * Checks `clientId` / `secret` as a registered app's, acting for the Organization `facility` (an
 * id); undefined when no app has that client id (nor a removed one). The facility is looked at only once the secret is proved, so no one learns which
 * Organizations exist without credentials.
 */
export async function checkAppCredentials(clients: AppClients, store: Store, clientId: string, secret: string, facility: string, issuer: string): Promise<AppSignInResult | undefined> {
  const client = await clients.get(clientId);
  if (!client) return undefined;
  const method = authMethodOf(client);
  if (method === 'none') {
    return { ok: false, reason: 'app-public', message: `"${clientId}" is a public app: it has no secret, so it cannot sign in with a username and password; send an access token instead` };
  }
  if (method === 'private_key_jwt') {
    return {
      ok: false,
      reason: 'app-private-key-jwt',
      message: `"${clientId}" authenticates with signed JWT assertions (private_key_jwt), which SOAP credentials cannot carry; send an access token instead`,
    };
  }
  const stored = client.secretHash ?? client.secret;
  if (!stored || !(await clients.secretMatches(clientId, stored, secret))) return { ok: false, reason: 'invalid-credentials', message: INVALID };
  if (!facility) {
    return { ok: false, reason: 'facility-missing', message: `A registered app acts for the Organization facilityID names: send the id of the facility "${clientId}" submits for` };
  }
  if (!ORGANIZATION_ID.test(facility)) return { ok: false, reason: 'facility-unknown', message: `facilityID "${facility}" names no Organization of the registry` };
  const organization = `Organization/${facility}`;
  const record = await store.read('Organization', facility);
  if (!record || record.deleted || !record.resource) {
    return { ok: false, reason: 'facility-unknown', message: `facilityID "${facility}" names no Organization of the registry`, organization };
  }
  if ((record.resource as { active?: boolean }).active === false) {
    return { ok: false, reason: 'facility-suspended', message: `The facility ${organization} is suspended`, organization };
  }
  return { ok: true, client, caller: callerForApp(client, organization, issuer) };
}

/** The pipeline caller of an app submitting for a facility: the facility's clinicians' user/ scopes. */
export function callerForApp(client: Pick<AppClient, 'clientId'>, organization: string, issuer: string): Caller {
  const scope = narrowScope('clinician', 'user/*.cruds');
  return {
    // As a SMART Backend Services token names its client (sub = client_id): the audit's agent.
    sub: client.clientId,
    organization,
    clientId: client.clientId,
    issuer,
    scopes: parseScopes(scope),
    scope,
  };
}
