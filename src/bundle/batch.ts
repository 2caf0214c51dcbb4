// batch: every entry on its own; a failing entry gets its own error response, the rest proceed.
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import { errorEntry, letOtherRequestsRun, responseEntry, routeEntry } from './entries.js';

/** Entries run with bounded concurrency so the store can group their durable commits. */
const CONCURRENCY = 16;

export async function processBatch(
  bundle: Bundle,
  outer: FhirRequest,
  ctx: HandlerContext
): Promise<FhirResponse> {
  const entries = bundle.entry ?? [];
  const results: BundleEntry[] = new Array(entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const index = next++;
      // Let other requests run between entries: a batch of many searches never holds the event loop.
      await letOtherRequestsRun();
      try {
        // Each entry runs through the same pipeline as an HTTP request: scopes, policy, audit.
        const routed = routeEntry(entries[index], index, outer, ctx);
        results[index] = responseEntry(await ctx.entries.run(routed.request), ctx.baseUrl, routed.request.method);
      } catch (err) {
        results[index] = errorEntry(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker));
  return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', ...(results.length ? { entry: results } : {}) } };
}
