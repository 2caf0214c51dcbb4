// update: PUT [type]/[id] (update-as-create to a client id), and conditional update PUT [type]?query
// (its match resolved by the write path, write-path.ts).
import type { Patient, Resource } from '@medplum/fhirtypes';
import { preconditionFailed } from '../fhir/outcome.js';
import { unchangedWritesNothing } from '../fhir/request.js';
import { sameStoredContent } from '../fhir/same-content.js';
import { preserveLegalName } from '../matching/ingest.js';
import { writeResponse } from './respond.js';
import { copyWithId } from '../store/store.js';
import type { FhirRequest, FhirResponse, Prepared, HandlerContext } from './types.js';
import { ifMatchVersion, indexFor, validateBody, type PendingResources } from './write-support.js';

/**
 * Validates an update of [type]/[id]. The body's id must equal the URL id. If-Match must name the
 * current version (412 otherwise). The version read here becomes the write's precondition, so a
 * concurrent change makes the commit fail instead of being overwritten. An update an internal
 * caller marked (UNCHANGED_WRITES_NOTHING) whose content equals the stored version writes nothing:
 * its store operation only checks that version (WriteOp.verifyOnly).
 */
export async function prepareUpdate(
  req: FhirRequest,
  ctx: HandlerContext,
  options: { pending?: PendingResources; freshId?: boolean } = {}
): Promise<Prepared> {
  const resourceType = req.resourceType as string;
  const id = req.id as string;
  const { resource, issues } = await validateBody(ctx, req.body, { resourceType, id }, 'update', options.pending);
  const expected = ifMatchVersion(req);
  // A fresh server-given id (write-path.ts `freshId`) has no stored version: nothing to read.
  const current = options.freshId ? undefined : await ctx.store.read(resourceType, id);
  if (expected !== undefined && (!current || current.deleted || current.versionId !== expected)) {
    const actual = !current ? 'does not exist' : current.deleted ? 'is deleted' : `is at version ${current.versionId}`;
    throw preconditionFailed(`If-Match W/"${expected}" does not hold: ${resourceType}/${id} ${actual}`);
  }
  const exists = current !== undefined && !current.deleted;
  let stored: Resource = copyWithId(resource, id);
  if (resourceType === 'Patient' && exists && current.resource) {
    // A late hospital update with "Baby Boy Smith" keeps the legal name as official.
    stored = preserveLegalName(current.resource as Patient, stored as Patient);
  }
  if (exists && current.resource && unchangedWritesNothing(req) && sameStoredContent(stored, current.resource)) {
    // Nothing would change (an internal caller's update, UNCHANGED_WRITES_NOTHING): no new version,
    // only the check that the version read is still the current one, inside the store's write.
    return {
      kind: 'write',
      op: { resourceType, id, resource: stored, ifVersion: current.versionId, verifyOnly: true },
      issues,
      respond: (record) => writeResponse(req, ctx.baseUrl, record, 200, issues, { location: true }),
    };
  }
  return {
    kind: 'write',
    op: { resourceType, id, resource: stored, ifVersion: current ? current.versionId : 'absent', index: indexFor(stored) },
    issues,
    previous: exists ? current.resource : undefined,
    respond: (record) => writeResponse(req, ctx.baseUrl, record, exists ? 200 : 201, issues, { location: true }),
  };
}
