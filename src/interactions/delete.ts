// delete: DELETE [type]/[id] (a versioned delete marker) and conditional delete DELETE [type]?query.
import { makeIssue, preconditionFailed } from '../fhir/outcome.js';
import { chooseBody, versionHeaders } from './respond.js';
import type { FhirRequest, FhirResponse, Prepared, HandlerContext } from './types.js';
import { ifMatchVersion } from './write-support.js';

/** Deleting what does not exist or is already deleted succeeds without a new version (idempotent). */
export async function prepareDelete(req: FhirRequest, ctx: HandlerContext): Promise<Prepared> {
  const resourceType = req.resourceType as string;
  const id = req.id as string;
  const expected = ifMatchVersion(req);
  const current = await ctx.store.read(resourceType, id);
  if (expected !== undefined && (!current || current.deleted || current.versionId !== expected)) {
    throw preconditionFailed(`If-Match W/"${expected}" does not hold for ${resourceType}/${id}`);
  }
  if (!current || current.deleted) {
    const text = current ? `${resourceType}/${id} was already deleted` : `${resourceType}/${id} does not exist`;
    return { kind: 'done', response: deletedResponse(req, [makeIssue('information', 'informational', text)]) };
  }
  return {
    kind: 'write',
    op: { resourceType, id, ifVersion: current.versionId },
    issues: [],
    previous: current.resource,
    respond: (record) => ({
      ...deletedResponse(req, [makeIssue('information', 'informational', `Deleted ${resourceType}/${id}`)]),
      headers: versionHeaders(record),
      lastUpdated: record.lastUpdated,
    }),
  };
}

/** 204 without a body; 200 with an OperationOutcome when the client prefers one. */
export function deletedResponse(req: FhirRequest, issues: FhirResponse['issues'] = []): FhirResponse {
  const body = req.prefer.return === 'OperationOutcome' ? chooseBody(req, undefined, issues, 200) : undefined;
  return { status: body ? 200 : 204, body, issues };
}
