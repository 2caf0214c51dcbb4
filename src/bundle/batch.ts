// batch: every entry on its own; a failing entry gets its own error response, the rest proceed.
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { FhirRequest, FhirResponse, ServerContext } from '../interactions/types.js';
import { errorEntry, responseEntry, routeEntry, type RoutedEntry } from './entries.js';

/** Runs one routed entry through the same pipeline as an HTTP request (auth included). */
export type EntryExecutor = (entry: RoutedEntry) => Promise<FhirResponse>;

/** Entries run with bounded concurrency so the store can group their durable commits. */
const CONCURRENCY = 16;

export async function processBatch(
  bundle: Bundle,
  outer: FhirRequest,
  ctx: ServerContext,
  execute: EntryExecutor
): Promise<FhirResponse> {
  const entries = bundle.entry ?? [];
  const results: BundleEntry[] = new Array(entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const index = next++;
      // Let other requests run between entries: a batch of many searches never holds the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        const routed = routeEntry(entries[index], index, outer);
        results[index] = responseEntry(await execute(routed), ctx.baseUrl);
      } catch (err) {
        results[index] = errorEntry(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker));
  return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', entry: results } };
}
