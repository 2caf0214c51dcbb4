// patch: PATCH [type]/[id] with a JSON Patch (RFC 6902) body, and conditional patch PATCH [type]?query.
import jsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, makeIssue, failWith, preconditionFailed, unsupportedMediaType } from '../fhir/outcome.js';
import { readCurrent } from './read.js';
import { prepareUpdate } from './update.js';
import type { FhirRequest, FhirResponse, Prepared, HandlerContext } from './types.js';
import { ifMatchVersion, type PendingResources } from './write-support.js';

const JSON_PATCH = 'application/json-patch+json';

/** Applies the patch to the current version; the result is validated like any update. */
export async function preparePatch(
  req: FhirRequest,
  ctx: HandlerContext,
  options: { pending?: PendingResources } = {}
): Promise<Prepared> {
  const resourceType = req.resourceType as string;
  const id = req.id as string;
  if (req.contentType !== undefined && req.contentType !== JSON_PATCH) {
    throw unsupportedMediaType(`PATCH needs Content-Type ${JSON_PATCH}, got ${req.contentType}`);
  }
  const operations = parseOperations(req.body);
  const expected = ifMatchVersion(req);
  const current = await readCurrent(ctx, resourceType, id);
  if (expected !== undefined && current.versionId !== expected) {
    throw preconditionFailed(`If-Match W/"${expected}" does not hold: ${resourceType}/${id} is at version ${current.versionId}`);
  }
  const patched = applyOperations(current.resource as Resource, operations);
  if (patched.resourceType !== resourceType || patched.id !== id) {
    throw failWith(422, [
      makeIssue('error', 'processing', 'A patch may not change resourceType or id', {
        expression: [`${resourceType}.resourceType`, `${resourceType}.id`],
      }),
    ]);
  }
  // The version read here becomes the write's precondition: a concurrent change fails the commit.
  return prepareUpdate({ ...req, body: patched, ifMatch: `W/"${current.versionId}"` }, ctx, options);
}

function parseOperations(body: unknown): Operation[] {
  if (!Array.isArray(body)) throw badRequest('A JSON Patch body must be an array of operations');
  const problem = jsonPatch.validate(body as Operation[]);
  if (problem) throw badRequest(`Invalid JSON Patch operation ${problem.index ?? ''}: ${problem.message}`);
  return body as Operation[];
}

function applyOperations(resource: Resource, operations: Operation[]): Resource {
  const target = structuredClone(resource);
  try {
    return jsonPatch.applyPatch(target, operations, true, true).newDocument as Resource;
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'TEST_OPERATION_FAILED') {
      throw failWith(422, [makeIssue('error', 'processing', 'A JSON Patch "test" operation failed')]);
    }
    throw badRequest(`The JSON Patch cannot be applied: ${(err as Error).message.split('\n')[0]}`);
  }
}
