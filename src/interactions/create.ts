// create: POST [type], with conditional create (If-None-Exist) made race-safe by a store lock.
import { randomUUID } from 'node:crypto';
import { preconditionFailed } from '../fhir/outcome.js';
import { versionHeaders, writeResponse, chooseBody } from './respond.js';
import type { FhirRequest, FhirResponse, Prepared, ServerContext } from './types.js';
import {
  commitRaw,
  conditionalLockKey,
  conditionalMatches,
  indexFor,
  runWrite,
  validateBody,
  type PendingResources,
} from './write-support.js';

export async function create(req: FhirRequest, ctx: ServerContext): Promise<FhirResponse> {
  const resourceType = req.resourceType as string;
  const attempt = async (): Promise<FhirResponse> => commitRaw(ctx, await prepareCreate(req, ctx));
  if (req.ifNoneExist === undefined) return runWrite(req, attempt, 0);
  const key = conditionalLockKey(resourceType, req.ifNoneExist);
  return ctx.store.withLock(key, () => runWrite(req, attempt, 0));
}

/**
 * Validates and resolves a create. With If-None-Exist: one match answers 200 with it and writes
 * nothing; several answer 412. The body's id is ignored (the server assigns ids on create).
 */
export async function prepareCreate(
  req: FhirRequest,
  ctx: ServerContext,
  options: { id?: string; pending?: PendingResources } = {}
): Promise<Prepared> {
  const resourceType = req.resourceType as string;
  const { resource, issues } = await validateBody(ctx, withoutId(req.body), { resourceType }, 'create', options.pending);
  if (req.ifNoneExist !== undefined) {
    const matches = await conditionalMatches(ctx, resourceType, req.ifNoneExist);
    if (matches.length > 1) {
      throw preconditionFailed(`If-None-Exist "${req.ifNoneExist}" matches more than one ${resourceType}`);
    }
    if (matches.length === 1) {
      const existing = matches[0];
      return {
        kind: 'done',
        response: {
          status: 200,
          headers: {
            ...versionHeaders(existing),
            Location: `${ctx.baseUrl}/${resourceType}/${existing.id}/_history/${existing.versionId}`,
          },
          body: chooseBody(req, existing.resource, [], 200),
        },
      };
    }
  }
  const id = options.id ?? randomUUID();
  const stored = { ...resource, id };
  return {
    kind: 'write',
    op: { resourceType, id, resource: stored, ifVersion: 'absent', index: indexFor(stored) },
    issues,
    respond: (record) => writeResponse(req, ctx.baseUrl, record, 201, issues, { location: true }),
  };
}

function withoutId(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body) || !('id' in body)) return body;
  const { id: _ignored, ...rest } = body as Record<string, unknown>;
  return rest;
}
