// read: GET [type]/[id], with conditional read (If-None-Match, If-Modified-Since → 304), _summary
// and _elements.
import { gone, notFound } from '../fhir/outcome.js';
import type { ResourceRecord } from '../store/store.js';
import { parseReadSubset, subsetResource } from '../search/subset.js';
import { notModified, versionHeaders } from './respond.js';
import type { FhirRequest, FhirResponse, HandlerContext } from './types.js';

export async function read(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const subset = parseReadSubset(req.query, { types: [req.resourceType as string], lenient: req.prefer.handling === 'lenient' });
  const record = await readCurrent(ctx, req.resourceType as string, req.id as string);
  const headers = versionHeaders(record);
  if (notModified(req, record)) return { status: 304, headers, lastUpdated: record.lastUpdated };
  const body = record.resource && subsetResource(record.resource, subset);
  return { status: 200, headers, body, lastUpdated: record.lastUpdated };
}

/** The current, non-deleted version, or 404 / 410. */
export async function readCurrent(ctx: HandlerContext, resourceType: string, id: string): Promise<ResourceRecord> {
  const record = await ctx.store.read(resourceType, id);
  if (!record) throw notFound(`${resourceType}/${id} is not known to this server`);
  if (record.deleted) {
    const err = gone(`${resourceType}/${id} was deleted (version ${record.versionId})`);
    Object.assign(err.headers, versionHeaders(record));
    throw err;
  }
  return record;
}
