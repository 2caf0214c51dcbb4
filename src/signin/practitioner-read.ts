// GET [base]/Practitioner/[id]: the signed-in person, so that the `fhirUser` of a sign-in token
// (`<FHIR base>/Practitioner/<user id>`, in the id_token and the access token) resolves, as SMART App
// Launch 2 has apps treat it ("the URL of a FHIR resource representing the current user";
// fhirclient's `client.user.read()` GETs it). It was a 404 "Resource type Practitioner is not
// supported by this server".
//
// People are not stored as FHIR resources: the answer is made from the user directory at the
// moment of the request. It is the user's own record only: a token of this sign-in server whose
// fhirUser names this Practitioner and whose scope holds `fhirUser` (SMART: "permission to retrieve
// information about the current logged-in user"). Any other token is 403; there is no search, and
// no one reads another person this way (administrators have /auth/admin/users).
import type { Practitioner } from '@medplum/fhirtypes';
import { forbidden, notFound } from '../fhir/outcome.js';
import type { Handler } from '../interactions/types.js';
import { fhirUserOf, type User, type UserDirectory } from './users.js';

export const PRACTITIONER_TYPE = 'Practitioner';

/** The Practitioner read; `issuer` is the sign-in server's (`PUBLIC_BASE_URL/auth`), whose tokens name people. */
export function practitionerRead(users: Pick<UserDirectory, 'get'>, issuer: string): Handler {
  return async (req, ctx) => {
    const reference = `${PRACTITIONER_TYPE}/${req.id as string}`;
    const { caller } = ctx;
    if (caller.issuer !== issuer || caller.fhirUser !== reference) {
      throw forbidden(`${reference} is readable only with a sign-in token whose fhirUser names it (the signed-in user reads their own record)`);
    }
    if (!caller.scope.split(/\s+/).includes('fhirUser')) {
      throw forbidden(`Reading the signed-in user (${reference}) needs the fhirUser scope`);
    }
    const user = await users.get(req.id as string);
    // A user removed since the token was issued (a disabled one's tokens are refused before this).
    if (!user) throw notFound(`${reference} is not a user of this server`);
    return { status: 200, body: practitionerOf(user, issuer), lastUpdated: user.updatedAt };
  };
}

/** What the record says about a person: the id, whether the account is active, the username, the name. */
export function practitionerOf(user: User, issuer: string): Practitioner {
  return {
    resourceType: PRACTITIONER_TYPE,
    id: fhirUserOf(user).slice(PRACTITIONER_TYPE.length + 1),
    meta: { lastUpdated: user.updatedAt },
    active: user.active,
    identifier: [{ use: 'usual', system: `${issuer}/users`, value: user.username }],
    ...(user.name ? { name: [{ text: user.name }] } : {}),
  };
}
