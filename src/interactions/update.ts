// update: PUT [type]/[id] (update-as-create to a client id), and conditional update PUT [type]?query.
import type { Patient, Resource } from '@medplum/fhirtypes';
import { badRequest, conflict, preconditionFailed } from '../fhir/outcome.js';
import { preserveLegalName } from '../matching/ingest.js';
import { randomUUID } from 'node:crypto';
import { writeResponse } from './respond.js';
import type { FhirRequest, FhirResponse, Prepared, HandlerContext } from './types.js';
import {
  commitRaw,
  conditionalLockKey,
  conditionalMatches,
  ifMatchVersion,
  indexFor,
  runWrite,
  validateBody,
  type PendingResources,
} from './write-support.js';

export async function update(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  return runWrite(req, async () => commitRaw(ctx, await prepareUpdate(req, ctx)));
}

/**
 * Validates an update of [type]/[id]. The body's id must equal the URL id. If-Match must name the
 * current version (412 otherwise). The version read here becomes the write's precondition, so a
 * concurrent change makes the commit fail instead of being overwritten.
 */
export async function prepareUpdate(
  req: FhirRequest,
  ctx: HandlerContext,
  options: { pending?: PendingResources } = {}
): Promise<Prepared> {
  const resourceType = req.resourceType as string;
  const id = req.id as string;
  const { resource, issues } = await validateBody(ctx, req.body, { resourceType, id }, 'update', options.pending);
  const expected = ifMatchVersion(req);
  const current = await ctx.store.read(resourceType, id);
  if (expected !== undefined && (!current || current.deleted || current.versionId !== expected)) {
    const actual = !current ? 'does not exist' : current.deleted ? 'is deleted' : `is at version ${current.versionId}`;
    throw preconditionFailed(`If-Match W/"${expected}" does not hold: ${resourceType}/${id} ${actual}`);
  }
  const exists = current !== undefined && !current.deleted;
  let stored: Resource = { ...resource, id };
  if (resourceType === 'Patient' && exists && current.resource) {
    // A late hospital update with "Baby Boy Smith" keeps the legal name as official.
    stored = preserveLegalName(current.resource as Patient, stored as Patient);
  }
  return {
    kind: 'write',
    op: { resourceType, id, resource: stored, ifVersion: current ? current.versionId : 'absent', index: indexFor(stored) },
    issues,
    respond: (record) => writeResponse(req, ctx.baseUrl, record, exists ? 200 : 201, issues, { location: true }),
  };
}

/** PUT [type]?query: R4 conditional update rules (0 → create, 1 → update it, more → 412). */
export async function conditionalUpdate(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const resourceType = req.resourceType as string;
  const query = queryString(req);
  return ctx.store.withLock(conditionalLockKey(resourceType, query), () =>
    runWrite(req, async () => commitRaw(ctx, await prepareConditionalUpdate(req, ctx)))
  );
}

export async function prepareConditionalUpdate(
  req: FhirRequest,
  ctx: HandlerContext,
  options: { pending?: PendingResources; newId?: string } = {}
): Promise<Prepared> {
  const resourceType = req.resourceType as string;
  const matches = await conditionalMatches(ctx, resourceType, queryString(req));
  if (matches.length > 1) throw preconditionFailed(`The conditional update matches more than one ${resourceType}`);
  const bodyId = bodyIdOf(req.body);
  if (matches.length === 1) {
    const id = matches[0].id;
    if (bodyId !== undefined && bodyId !== id) {
      throw badRequest(`The body id "${bodyId}" differs from the matching ${resourceType}/${id}`, {
        expression: `${resourceType}.id`,
      });
    }
    return prepareUpdate({ ...req, id, body: withId(req.body, id) }, ctx, options);
  }
  if (bodyId !== undefined) {
    const existing = await ctx.store.read(resourceType, bodyId);
    if (existing && !existing.deleted) {
      throw conflict(`No ${resourceType} matches the condition, but ${resourceType}/${bodyId} exists already`);
    }
    return prepareUpdate({ ...req, id: bodyId }, ctx, options);
  }
  const id = options.newId ?? randomUUID();
  return prepareUpdate({ ...req, id, body: withId(req.body, id) }, ctx, options);
}

export function queryString(req: FhirRequest): string {
  return req.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

function bodyIdOf(body: unknown): string | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const id = (body as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

function withId(body: unknown, id: string): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  return { ...(body as object), id };
}
