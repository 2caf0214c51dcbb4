// patch: PATCH [type]/[id] with a JSON Patch (RFC 6902) body or a FHIRPath Patch (a Parameters
// resource, fhirpath-patch.ts), and conditional patch PATCH [type]?query.
import jsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, makeIssue, failWith, isFhirError, preconditionFailed, unsupportedMediaType } from '../fhir/outcome.js';
import { applyFhirPathPatch, isFhirPathPatch, parseFhirPathPatch } from './fhirpath-patch.js';
import { MAX_NODES } from '../validation/validate-resource.js';
import { readCurrent } from './read.js';
import { prepareUpdate } from './update.js';
import type { FhirRequest, FhirResponse, Prepared, HandlerContext } from './types.js';
import { ifMatchVersion, type PendingResources } from './write-support.js';

const JSON_PATCH = 'application/json-patch+json';
/** FHIRPath Patch travels as a FHIR resource (Parameters), in any JSON type the server reads FHIR in. */
const FHIR_JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);

/** Applies the patch to the current version; the result is validated like any update. */
export async function preparePatch(
  req: FhirRequest,
  ctx: HandlerContext,
  options: { pending?: PendingResources } = {}
): Promise<Prepared> {
  const resourceType = req.resourceType as string;
  const id = req.id as string;
  const apply = patchOf(req, MAX_NODES);
  const expected = ifMatchVersion(req);
  const current = await readCurrent(ctx, resourceType, id);
  if (expected !== undefined && current.versionId !== expected) {
    throw preconditionFailed(`If-Match W/"${expected}" does not hold: ${resourceType}/${id} is at version ${current.versionId}`);
  }
  const patched = await apply(current.resource as Resource);
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

/** The patch the body holds, checked before anything is read: JSON Patch or FHIRPath Patch. */
function patchOf(req: FhirRequest, maxValues: number): (resource: Resource) => Promise<Resource> {
  if (req.contentType === undefined || req.contentType === JSON_PATCH) {
    const operations = parseOperations(req.body);
    return async (resource) => applyOperations(resource, operations, maxValues);
  }
  if (!FHIR_JSON_TYPES.has(req.contentType)) {
    throw unsupportedMediaType(`PATCH needs Content-Type ${JSON_PATCH} (JSON Patch) or application/fhir+json (FHIRPath Patch), got ${req.contentType}`);
  }
  const body = req.body;
  if (!isFhirPathPatch(body)) {
    throw badRequest(`A PATCH with Content-Type ${req.contentType} is a FHIRPath Patch: its body must be a Parameters resource (a JSON Patch array needs Content-Type ${JSON_PATCH})`);
  }
  const operations = parseFhirPathPatch(body);
  return (resource) => applyFhirPathPatch(resource, operations);
}

function parseOperations(body: unknown): Operation[] {
  if (!Array.isArray(body)) throw badRequest('A JSON Patch body must be an array of operations');
  const problem = jsonPatch.validate(body as Operation[]);
  if (problem) throw badRequest(`Invalid JSON Patch operation ${problem.index ?? ''}: ${problem.message}`);
  return body as Operation[];
}

/**
 * Applies the operations in order. A `copy` duplicates part of the document, so each may double
 * it (30 copies of a list into itself would need 2^30 times its size, and the server would run
 * out of memory before validation could refuse the result): the document is held to the JSON
 * values the validator accepts in a resource (MAX_NODES), counted before each copy is made.
 */
function applyOperations(resource: Resource, operations: Operation[], maxValues: number): Resource {
  let document = structuredClone(resource);
  // Counted at the first copy: a patch without one never walks the resource for it.
  let values: number | undefined;
  try {
    operations.forEach((operation, index) => {
      if (operation.op === 'copy') {
        values ??= countValues(document, maxValues);
        values += countValues(jsonPatch.getValueByPointer(document, operation.from), maxValues);
        if (values > maxValues) {
          throw failWith(400, [
            makeIssue('error', 'too-costly', `JSON Patch operation ${index} (copy from ${operation.from}) would make the resource too large: more than ${maxValues} JSON values are not accepted`),
          ]);
        }
      }
      document = jsonPatch.applyOperation(document, operation, true, true, true, index).newDocument;
    });
    return document;
  } catch (err) {
    if (isFhirError(err)) throw err;
    const name = (err as { name?: string }).name;
    if (name === 'TEST_OPERATION_FAILED') {
      throw failWith(422, [makeIssue('error', 'processing', 'A JSON Patch "test" operation failed')]);
    }
    throw badRequest(`The JSON Patch cannot be applied: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** The JSON values in value (objects, arrays and primitives), counted up to just past limit. */
function countValues(value: unknown, limit: number): number {
  let count = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && count <= limit) {
    const next = pending.pop();
    if (next === undefined) continue;
    count++;
    if (typeof next === 'object' && next !== null) for (const child of Array.isArray(next) ? next : Object.values(next)) pending.push(child);
  }
  return count;
}
