// The resource types a search's criteria search besides the searched ones: a chained parameter
// (`patient.family=`) searches its target type, `_has:Immunization:patient:lot-number=` searches
// Immunization. The scope check needs these as well as the searched types, or a token without
// rights on Immunization would learn lot numbers through `Patient?_has:…` (and one without rights
// on Patient their names through `Immunization?patient.family=`). `_include`/`_revinclude` are
// not here: what they would add of an unreadable type is left out instead (execute.ts `readable`).
import type { Permission } from '../fhir/request.js';
import { isSupportedType } from '../fhir/resource-types.js';
import type { Criterion, ParsedSearch } from './parse.js';

/** Type → permissions the search uses on it, for types other than the searched ones. */
export type ReachedTypes = Map<string, Set<Permission>>;

export function typesReached(parsed: Pick<ParsedSearch, 'types' | 'criteria'>): ReachedTypes {
  const reached: ReachedTypes = new Map();
  const searches = (type: string): void => {
    if (isSupportedType(type)) reached.set(type, new Set(['s']));
  };
  const walk = (criterion: Criterion): void => {
    if (criterion.kind === 'chain') {
      for (const sub of criterion.subs) {
        searches(sub.type);
        walk(sub.criterion);
      }
    } else if (criterion.kind === 'has') {
      searches(criterion.sourceType);
      walk(criterion.criterion);
    }
  };
  for (const criteria of parsed.criteria.values()) for (const c of criteria) walk(c);
  for (const type of parsed.types) reached.delete(type);
  return reached;
}

/** The same for a conditional request's criteria (If-None-Exist, conditional update/delete/patch). */
export function typesReachedByCriteria(resourceType: string, criteria: Criterion[]): ReachedTypes {
  return typesReached({ types: [resourceType], criteria: new Map([[resourceType, criteria]]) });
}
