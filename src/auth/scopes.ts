// SMART App Launch scopes, v1 (`patient/Immunization.read`, `user/*.*`) and v2
// (`patient/Immunization.rs`, `system/*.cruds`), and the permission each interaction needs.
import type { Interaction, Permission, ResourceScope, ScopeContext } from '../fhir/request.js';

export type { Permission, ResourceScope, ScopeContext } from '../fhir/request.js';

const V2_ORDER = 'cruds';
const RESOURCE_SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)$/;

/**
 * Parses the resource scopes of a space-separated scope string. Non-resource scopes (openid,
 * launch…) are ignored. A v2 scope with search parameters (`…rs?category=x`) grants less than its
 * letters say; we do not evaluate those restrictions yet, so such scopes grant nothing.
 */
export function parseScopes(scope: string | undefined): ResourceScope[] {
  if (!scope) return [];
  const scopes: ResourceScope[] = [];
  for (const token of scope.split(/\s+/)) {
    const parsed = parseScope(token);
    if (parsed) scopes.push(parsed);
  }
  return scopes;
}

/** One resource scope (`system/Patient.rs`, `user/*.read`…), or undefined for anything else. */
export function parseScope(token: string): ResourceScope | undefined {
  const match = RESOURCE_SCOPE.exec(token);
  if (!match) return undefined;
  const permissions = permissionsOf(match[3]);
  return permissions ? { context: match[1] as ScopeContext, resourceType: match[2], permissions } : undefined;
}

function permissionsOf(access: string): Set<Permission> | undefined {
  switch (access) {
    case 'read':
      return new Set(['r', 's']);
    case 'write':
      return new Set(['c', 'u', 'd']);
    case '*':
      return new Set(['c', 'r', 'u', 'd', 's']);
  }
  // v2: a non-empty subsequence of "cruds", in that order.
  let position = 0;
  for (const letter of access) {
    const at = V2_ORDER.indexOf(letter, position);
    if (at === -1) return undefined;
    position = at + 1;
  }
  return new Set(access.split('') as Permission[]);
}

/** The v2 letters of a permission set, in `cruds` order. */
export function v2Letters(permissions: ReadonlySet<Permission>): string {
  return [...V2_ORDER].filter((l) => permissions.has(l as Permission)).join('');
}

/**
 * The scopes to grant a client that asks for `requested` and is allowed `allowed` (both space
 * separated): requested ∩ allowed. A requested scope an allowed one covers entirely (same context,
 * type equal or allowed `*`, every permission) is granted as written (v1 or v2). One covered only in
 * part is narrowed to the intersection, written in v2 syntax (`system/*.cruds` asked, `system/Patient.rs`
 * allowed → `system/Patient.rs`). Non-resource scopes and v2 scopes with search parameters are
 * granted only when allowed verbatim. Returns the granted scopes in request order, without duplicates.
 */
export function intersectScopes(requested: string, allowed: string): string[] {
  const allowedTokens = allowed.split(/\s+/).filter(Boolean);
  const allowedScopes = allowedTokens.map(parseScope).filter((s): s is ResourceScope => s !== undefined);
  const granted: string[] = [];
  const add = (scope: string) => {
    if (!granted.includes(scope)) granted.push(scope);
  };
  for (const token of requested.split(/\s+/).filter(Boolean)) {
    if (allowedTokens.includes(token)) {
      add(token);
      continue;
    }
    const asked = parseScope(token);
    if (!asked) continue;
    const covering = allowedScopes.find(
      (a) =>
        a.context === asked.context &&
        (a.resourceType === '*' || a.resourceType === asked.resourceType) &&
        [...asked.permissions].every((p) => a.permissions.has(p))
    );
    if (covering) {
      add(token);
      continue;
    }
    for (const a of allowedScopes) {
      if (a.context !== asked.context) continue;
      const type =
        asked.resourceType === '*' ? a.resourceType : a.resourceType === '*' || a.resourceType === asked.resourceType ? asked.resourceType : undefined;
      if (!type) continue;
      const common = new Set([...asked.permissions].filter((p) => a.permissions.has(p)));
      if (common.size > 0) add(`${asked.context}/${type}.${v2Letters(common)}`);
    }
  }
  return granted;
}

/** Bulk export kick-off, status and download: authorized per exported type by src/bulk/operations.ts. */
const BULK_OPERATIONS = new Set(['export', 'export-poll-status', 'export-download']);

/** Operations that only read: validation and terminology look-ups. */
const READ_ONLY_OPERATIONS = new Set(['validate', 'lookup', 'validate-code', 'translate']);

/** The permissions an interaction needs on its resource type. */
export function permissionsFor(interaction: Interaction, operation?: string): Permission[] {
  switch (interaction) {
    case 'read':
    case 'vread':
    case 'history-instance':
      return ['r'];
    case 'search-type':
    case 'search-system':
    case 'history-type':
    case 'history-system':
      return ['s'];
    case 'create':
      return ['c'];
    case 'update':
    case 'patch':
      return ['u'];
    case 'conditional-update':
    case 'conditional-patch':
      return ['u', 's'];
    case 'delete':
      return ['d'];
    case 'conditional-delete':
      return ['d', 's'];
    case 'operation':
      if (operation === 'match' || operation === 'everything') return ['r', 's'];
      // Bulk export checks r+s on every type it exports (and job ownership) itself: src/bulk.
      if (BULK_OPERATIONS.has(operation ?? '')) return [];
      return READ_ONLY_OPERATIONS.has(operation ?? '') ? ['r'] : ['r', 'u'];
    case 'capabilities':
    case 'batch':
      return [];
  }
}

/** True when the scopes grant every permission on resourceType in one of the allowed contexts. */
export function grants(
  scopes: ResourceScope[],
  resourceType: string,
  needed: Permission[],
  contexts: ReadonlyArray<ScopeContext>
): boolean {
  return needed.every((permission) =>
    scopes.some(
      (s) =>
        contexts.includes(s.context) &&
        (s.resourceType === '*' || s.resourceType === resourceType) &&
        s.permissions.has(permission)
    )
  );
}
