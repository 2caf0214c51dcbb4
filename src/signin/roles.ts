// Roles of people (CONTRACT.md "Users, facilities and sign-in") and the most each may be granted.
// A token never carries more than its user's role allows, whatever the app asked for: the scopes
// an app requests are intersected with the role's (src/auth/scopes.ts intersectScopes).
import { intersectScopes } from '../auth/scopes.js';

export const ROLES = ['admin', 'site-admin', 'clinician', 'data-entry', 'reports'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Roles that belong to a facility; `admin` (public health) belongs to none. */
export const FACILITY_ROLES: readonly Role[] = ['site-admin', 'clinician', 'data-entry', 'reports'];

const TERMINOLOGY = ['CodeSystem', 'ValueSet', 'ConceptMap'];

/** Per resource type (or `*`), the SMART v2 permissions a role may hold. */
const ROLE_PERMISSIONS: Record<Role, Record<string, string>> = {
  // Public health: everything, for every facility (no organization claim).
  admin: { '*': 'cruds' },
  // An access administrator manages accounts; it may look at its facility's records.
  'site-admin': { '*': 'rs' },
  // Reads, records doses and data sharing.
  clinician: { Patient: 'cruds', Immunization: 'cruds', Consent: 'cruds', Condition: 'cruds', Organization: 'rs', Group: 'rs', Measure: 'rs', ...Object.fromEntries(TERMINOLOGY.map((t) => [t, 'rs'])) },
  // Records patients and doses; does not change data sharing.
  'data-entry': { Patient: 'crus', Immunization: 'crus', Consent: 'rs', Condition: 'crus', Organization: 'rs', ...Object.fromEntries(TERMINOLOGY.map((t) => [t, 'rs'])) },
  // Reminder/recall and coverage reports (Measure/$evaluate-measure needs Measure read): reads only.
  reports: { Patient: 'rs', Immunization: 'rs', Organization: 'rs', Group: 'rs', Measure: 'rs', ...Object.fromEntries(TERMINOLOGY.map((t) => [t, 'rs'])) },
};

/** Scopes that are not about resources: sign-in, identity, launch context, refresh tokens. */
export const NON_RESOURCE_SCOPES = ['openid', 'fhirUser', 'profile', 'offline_access', 'online_access', 'launch', 'launch/patient'] as const;

/** The widest scope string a role allows (user/ and patient/ contexts, plus non-resource scopes). */
export function roleScope(role: Role): string {
  const resource = Object.entries(ROLE_PERMISSIONS[role]).flatMap(([type, letters]) => [`user/${type}.${letters}`, `patient/${type}.${letters}`]);
  return [...NON_RESOURCE_SCOPES, ...resource].join(' ');
}

/** What a user of this role gets when an app asks for `requested`: requested ∩ role. */
export function narrowScope(role: Role, requested: string): string {
  return intersectScopes(requested, roleScope(role)).join(' ');
}
