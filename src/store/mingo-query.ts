// mingo queries for filters evaluated in process (the embedded store's plans, scans). The package's
// own `Query` copies every operator table it knows (~200 entries: accumulators, expressions,
// pipeline stages…) into each new query, and again for each nested `$elemMatch`: half the cost of
// building a query, paid by every search. Store filters use query operators only (the search
// compiler emits no `$expr` or `$where`), so queries here get a context of those, built once.
import { Context } from 'mingo/core';
import * as queryOperators from 'mingo/operators/query';
import { Query } from 'mingo/query';

const QUERY_CONTEXT = Context.init({ query: queryOperators });

/** A compiled filter; `test(doc)` tells whether a document matches. */
export type FilterQuery = Query;

export function filterQuery(filter: Record<string, unknown>): FilterQuery {
  return new Query(filter, { context: QUERY_CONTEXT });
}
