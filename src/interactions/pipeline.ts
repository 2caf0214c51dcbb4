// The one path every request takes, from HTTP or from a bundle entry:
// authorize scopes → handler (batch/transaction entries come back through here).
import type { Caller } from '../auth/caller.js';
import { processBatch } from '../bundle/batch.js';
import { checkBundle, type RoutedEntry } from '../bundle/entries.js';
import { processTransaction } from '../bundle/transaction.js';
import { capabilities } from './capabilities.js';
import { authorize } from './authorize.js';
import type { RouteResult } from './router.js';
import type { FhirRequest, FhirResponse, ServerContext } from './types.js';

export async function execute(
  req: FhirRequest,
  route: RouteResult,
  ctx: ServerContext,
  caller: Caller
): Promise<FhirResponse> {
  if (route.interaction === 'capabilities') return capabilities(req, ctx);
  if (route.interaction === 'batch') {
    const bundle = checkBundle(req.body);
    const runEntry = (entry: RoutedEntry): Promise<FhirResponse> => execute(entry.request, entry.route, ctx, caller);
    if (bundle.type === 'batch') return processBatch(bundle, req, ctx, runEntry);
    return processTransaction(bundle, req, ctx, runEntry, (entry) => authorize(caller, entry.route, entry.request));
  }
  authorize(caller, route, req);
  return route.handler(req, ctx);
}
