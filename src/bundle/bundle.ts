// POST [base] with a Bundle: an ordinary handler (registered by src/app) that runs a batch
// (entries independent) or a transaction (all or nothing).
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import { processBatch } from './batch.js';
import { checkBundle } from './entries.js';
import { processTransaction } from './transaction.js';

export async function bundleHandler(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const bundle = checkBundle(req.body);
  return bundle.type === 'batch' ? processBatch(bundle, req, ctx) : processTransaction(bundle, req, ctx);
}
