// Scopes for the types a request reaches besides the one it names: the types chains, `_has` and
// conditional references search (src/search/reach.ts: 403 when not allowed), the types
// `_include` / `_revinclude` would add and `$everything`'s compartment types (left out when not
// allowed). The pipeline's scope check (src/pipeline/authorize.ts) sees only the named type, so
// these are checked here, once the request is parsed. user/ and system/ scopes grant them; patient/ scopes only when
// the request is already confined to the token's patient (then the caller-scoped store keeps the
// reached types inside that compartment too).
import { grants } from '../auth/scopes.js';
import type { Permission } from '../fhir/request.js';
import { forbidden } from '../fhir/outcome.js';
import type { ReachedTypes } from '../search/execute.js';
import type { HandlerContext } from './types.js';

type Caller = Pick<HandlerContext, 'caller' | 'access'>;

export function mayReach(ctx: Caller, resourceType: string, permissions: Iterable<Permission>): boolean {
  const contexts = ctx.access.kind === 'patient-compartment' ? (['user', 'system', 'patient'] as const) : (['user', 'system'] as const);
  return grants(ctx.caller.scopes, resourceType, [...permissions], contexts);
}

/** A check for searchBundle / findMatches: 403 naming every reached type the token may not use. */
export function reachChecker(ctx: Caller): (reached: ReachedTypes) => void {
  return (reached) => {
    const refused = [...reached]
      .filter(([type, permissions]) => !mayReach(ctx, type, permissions))
      .map(([type, permissions]) => `${type} (needs ${[...permissions].sort().join('')})`);
    if (refused.length > 0) {
      throw forbidden(`The token's scopes do not allow ${refused.join(', ')}, which this request searches through a chain, _has or a conditional reference`);
    }
  };
}
