// vread: GET [type]/[id]/_history/[vid], with _summary, _elements and conditional read as read's
// (a version never changes, so a client holding it gets 304).
import { gone, notFound } from '../fhir/outcome.js';
import { parseReadSubset, subsetResource } from '../search/subset.js';
import { notModified, versionHeaders } from './respond.js';
import type { FhirRequest, FhirResponse, HandlerContext } from './types.js';

export async function vread(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const { resourceType, id, versionId } = req as Required<Pick<FhirRequest, 'resourceType' | 'id' | 'versionId'>>;
  const subset = parseReadSubset(req.query, { interaction: 'vread', types: [req.resourceType as string], lenient: req.prefer.handling === 'lenient' });
  const version = /^[1-9]\d{0,15}$/.test(versionId) ? Number(versionId) : undefined;
  const record = version === undefined ? undefined : await ctx.store.vread(resourceType, id, version);
  if (!record) throw notFound(`${resourceType}/${id} has no version ${versionId}`);
  if (record.deleted) {
    const err = gone(`${resourceType}/${id} version ${versionId} is a deletion`);
    Object.assign(err.headers, versionHeaders(record));
    throw err;
  }
  const headers = versionHeaders(record);
  if (notModified(req, record)) return { status: 304, headers, lastUpdated: record.lastUpdated };
  const body = record.resource && subsetResource(record.resource, subset);
  return { status: 200, headers, body, lastUpdated: record.lastUpdated };
}
