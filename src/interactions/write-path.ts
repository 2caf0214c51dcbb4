// The one write path. A single request and a transaction entry are the same write operation:
//   1. resolveWrite: its conditions are resolved in this one place (If-None-Exist, the conditional
//      update / patch / delete match, the body-id rules of conditional update, the Patient ingest
//      decision), giving the resource it addresses or an answer that needs no write;
//   2. prepareWrite: the content is validated and the store operation built, with its version
//      precondition (If-Match, or the version read) carried in the operation;
//   3. the commit: one store write (executeWrite, retried on a lost version race), or, for a
//      transaction, every entry's operation in one atomic store.transact.
// A transaction adds only what is its own: urn:uuid reference rewriting (before conditions are
// resolved, so a condition may name another entry) and the atomic commit.
import type { Patient } from '@medplum/fhirtypes';
import { badRequest, conflict, failWith, makeIssue, preconditionFailed } from '../fhir/outcome.js';
import { newResourceId } from '../fhir/resource-id.js';
import { decideIngest, type IngestDecision } from '../matching/ingest.js';
import { createLockKeys, prepareCreate, withoutId } from './create.js';
import { deletedResponse, prepareDelete } from './delete.js';
import { preparePatch } from './patch.js';
import { chooseBody, versionHeaders } from './respond.js';
import { copyWithId } from '../store/store.js';
import type { FhirRequest, FhirResponse, HandlerContext, Prepared } from './types.js';
import { prepareUpdate } from './update.js';
import {
  commitRaw,
  conditionalLockKey,
  conditionalMatches,
  prefetchBody,
  runWrite,
  validateForReuse,
  type PendingResources,
  type ReusableValidation,
} from './write-support.js';

/** Interactions that write, and so take this path. */
export const WRITE_INTERACTIONS: ReadonlySet<string> = new Set([
  'create',
  'update',
  'conditional-update',
  'patch',
  'conditional-patch',
  'delete',
  'conditional-delete',
]);

/** A write whose conditions are resolved. */
export interface ResolvedWrite {
  /** The request, addressed to its target (`id` set for every write that has one). */
  req: FhirRequest;
  /** `Type/id` the write addresses (absent when it concluded without one). */
  target?: string;
  /** The answer when no write is needed (If-None-Exist matched, a conditional delete matched nothing). */
  done?: FhirResponse;
  /** Patient creates: the matching decision (a certain match makes it an update of that record). */
  ingest?: IngestDecision;
  /** Patient creates: the validation matching needed, reused by prepareWrite when the body is unchanged. */
  validated?: ReusableValidation;
  /**
   * The id was given here by newResourceId (a conditional update that matched nothing): no version
   * of it can be stored, so prepareWrite does not read it (the write's precondition is 'absent').
   */
  freshId?: boolean;
}

/**
 * Resolves a write's conditions against the caller-scoped store (a record the caller may not see
 * never matches). Throws what the client is answered: 412 for several matches, 409 for a
 * conditional update whose body names another existing record, 404 for a conditional patch of
 * nothing, 400 for a body id that contradicts the match.
 */
export async function resolveWrite(req: FhirRequest, ctx: HandlerContext): Promise<ResolvedWrite> {
  const resourceType = req.resourceType as string;
  const at = (id: string, extra: Partial<ResolvedWrite> = {}): ResolvedWrite => ({
    req: { ...req, id },
    target: `${resourceType}/${id}`,
    ...extra,
  });
  switch (req.interaction) {
    case 'create': {
      if (req.ifNoneExist !== undefined) {
        const matches = await conditionalMatches(ctx, resourceType, req.ifNoneExist);
        if (matches.length > 1) throw preconditionFailed(`If-None-Exist "${req.ifNoneExist}" matches more than one ${resourceType}`);
        if (matches.length === 1) {
          const existing = matches[0];
          const response: FhirResponse = {
            status: 200,
            headers: { ...versionHeaders(existing), Location: `${ctx.baseUrl}/${resourceType}/${existing.id}/_history/${existing.versionId}` },
            body: chooseBody(req, existing.resource, [], 200),
            lastUpdated: existing.lastUpdated,
          };
          return { req: { ...req, id: existing.id }, target: `${resourceType}/${existing.id}`, done: response };
        }
      }
      if (resourceType === 'Patient') {
        // A certain match becomes an update of the existing child (and, in a transaction,
        // references to this entry point at the surviving record). Matching needs valid content.
        const { result, reusable: validated } = await validateForReuse(ctx, req.body, { resourceType }, 'create');
        const ingest = await decideIngest(ctx.store, result.resource as Patient);
        if (ingest.kind === 'merge') return at(ingest.existing.id, { ingest, validated });
        return at(newResourceId(), { ingest, validated });
      }
      return at(newResourceId());
    }
    case 'update':
    case 'patch':
    case 'delete':
      return at(req.id as string);
    case 'conditional-update': {
      const matches = await conditionalMatches(ctx, resourceType, queryString(req));
      if (matches.length > 1) throw preconditionFailed(`The conditional update matches more than one ${resourceType}`);
      const bodyId = bodyIdOf(req.body);
      if (matches.length === 1) {
        const id = matches[0].id;
        if (bodyId !== undefined && bodyId !== id) {
          throw badRequest(`The body id "${bodyId}" differs from the matching ${resourceType}/${id}`, { expression: `${resourceType}.id` });
        }
        return at(id, { req: { ...req, id, body: withId(req.body, id) } });
      }
      if (bodyId !== undefined) {
        // No match, and the body names a record: creating it must not overwrite one that exists.
        const existing = await ctx.store.read(resourceType, bodyId);
        if (existing && !existing.deleted) {
          throw conflict(`No ${resourceType} matches the condition, but ${resourceType}/${bodyId} exists already`);
        }
        return at(bodyId);
      }
      const id = newResourceId();
      return at(id, { req: { ...req, id, body: withId(req.body, id) }, freshId: true });
    }
    case 'conditional-patch': {
      const matches = await conditionalMatches(ctx, resourceType, queryString(req));
      if (matches.length > 1) throw preconditionFailed(`The conditional patch matches more than one ${resourceType}`);
      if (matches.length === 0) throw failWith(404, [makeIssue('error', 'not-found', `No ${resourceType} matches the conditional patch`)]);
      return at(matches[0].id);
    }
    case 'conditional-delete': {
      const matches = await conditionalMatches(ctx, resourceType, queryString(req));
      if (matches.length > 1) throw preconditionFailed(`The conditional delete matches more than one ${resourceType}`);
      if (matches.length === 0) {
        const issues = [makeIssue('information', 'informational', `No ${resourceType} matches; nothing deleted`)];
        return { req, done: deletedResponse(req, issues) };
      }
      return at(matches[0].id);
    }
    default:
      throw badRequest(`${req.interaction ?? 'this request'} is not a write`);
  }
}

/** Validates a resolved write and builds its store operation (or the answer that needs none). */
export async function prepareWrite(resolved: ResolvedWrite, ctx: HandlerContext, pending?: PendingResources): Promise<Prepared> {
  if (resolved.done) return { kind: 'done', response: resolved.done };
  const { req } = resolved;
  switch (req.interaction) {
    case 'create':
      return prepareCreate(req, ctx, { id: req.id as string, pending, ingest: resolved.ingest, validated: resolved.validated });
    case 'update':
    case 'conditional-update':
      return prepareUpdate(req, ctx, { pending, freshId: resolved.freshId });
    case 'patch':
    case 'conditional-patch':
      return preparePatch(req, ctx, { pending });
    case 'delete':
    case 'conditional-delete':
      return prepareDelete(req, ctx);
    default:
      throw badRequest(`${req.interaction ?? 'this request'} is not a write`);
  }
}

/**
 * Starts validating what prepareWrite will validate (see prefetchBody), so the writes of a
 * transaction are validated side by side in a validation pool while they are prepared in order.
 */
export function prefetchValidation(resolved: ResolvedWrite, ctx: HandlerContext): void {
  const { req, done, validated } = resolved;
  if (done || req.body === undefined) return;
  const resourceType = req.resourceType as string;
  switch (req.interaction) {
    case 'create':
      if (validated?.body === req.body) return; // validated before matching, reused
      prefetchBody(ctx, withoutId(req.body), { resourceType });
      return;
    case 'update':
    case 'conditional-update':
      prefetchBody(ctx, req.body, { resourceType, id: req.id as string });
      return;
    default:
  }
}

/** Locks a write holds from resolving its conditions to its commit (race-safe conditional writes). */
export function writeLockKeys(req: FhirRequest): string[] {
  if (req.interaction === 'create') return createLockKeys(req);
  if (req.interaction === 'conditional-update') return [conditionalLockKey(req.resourceType as string, queryString(req))];
  return [];
}

/**
 * A single write request: its locks, then resolve → prepare → commit. Without a client
 * precondition a lost version race is retried from a fresh resolution (see runWrite).
 */
export async function executeWrite(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  // A Patient create may merge into an existing record: a race with an update of it is retried a
  // few times from a fresh match; a plain create has a new id and cannot race.
  const retries = req.interaction === 'create' ? (req.resourceType === 'Patient' ? 5 : 0) : 100;
  const attempt = async (): Promise<FhirResponse> => commitRaw(ctx, await prepareWrite(await resolveWrite(req, ctx), ctx));
  return withLocks(ctx, writeLockKeys(req), () => runWrite(req, attempt, retries));
}

/** Runs fn holding every lock, taken in sorted order so two writers cannot deadlock. */
export async function withLocks<T>(ctx: HandlerContext, keys: string[], fn: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  const take = (i: number): Promise<T> => (i === sorted.length ? fn() : ctx.store.withLock(sorted[i], () => take(i + 1)));
  return take(0);
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
  return copyWithId(body, id);
}
