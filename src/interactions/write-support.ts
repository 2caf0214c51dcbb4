// Shared steps of every write: validation (structure + business rules), search-index extraction,
// and committing a prepared write with the store's version precondition.
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { badRequest, conflict, preconditionFailed } from '../fhir/outcome.js';
import { matchKeysOf } from '../matching/candidates.js';
import { findMatches } from '../search/execute.js';
import { reachChecker } from './reach-scopes.js';
import { parseVersionTag } from './respond.js';
import { extractSearchIndex } from '../search/extract.js';
import { copyWithId, VersionConflictError, type ResourceRecord, type WriteOp } from '../store/store.js';
import { validateWrite, type FollowUpContext, type RuleContext } from '../validation/business-rules.js';
import type { FhirRequest, FhirResponse, Prepared, PreparedWrite, HandlerContext } from './types.js';

export interface ValidatedResource {
  resource: Resource;
  issues: OperationOutcomeIssue[];
}

/** Resources written earlier in the same transaction, by reference (`Patient/123`). */
export type PendingResources = Map<string, Resource | null>;

export function ruleContext(
  ctx: HandlerContext,
  interaction: RuleContext['interaction'],
  pending?: PendingResources,
  onResolve?: () => void
): RuleContext {
  return {
    now: new Date(),
    interaction,
    async resolve(reference: string) {
      onResolve?.();
      // A resource written (or deleted: null) earlier in the same transaction.
      if (pending?.has(reference)) return pending.get(reference) ?? undefined;
      const match = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
      if (!match) return undefined;
      const read = async () => {
        const record = await ctx.store.read(match[1], match[2]);
        return record && !record.deleted ? record.resource : undefined;
      };
      return pending ? readOncePerTransaction(pending, ctx, reference, read) : read();
    },
  };
}

/**
 * What the rules of a transaction's entries read (the Patient of each dose), per access policy: a
 * resource is read once per transaction however many entries name it. Entries with another policy
 * (a patient/ scope's compartment) read for themselves, so every read is still checked against
 * the policy of the entry that makes it.
 */
const transactionReads = new WeakMap<PendingResources, Map<object, Map<string, Promise<Resource | undefined>>>>();

function readOncePerTransaction(
  pending: PendingResources,
  ctx: HandlerContext,
  reference: string,
  read: () => Promise<Resource | undefined>
): Promise<Resource | undefined> {
  let byPolicy = transactionReads.get(pending);
  if (!byPolicy) transactionReads.set(pending, (byPolicy = new Map()));
  let reads = byPolicy.get(ctx.access);
  if (!reads) byPolicy.set(ctx.access, (reads = new Map()));
  let result = reads.get(reference);
  if (!result) {
    result = read();
    reads.set(reference, result);
  }
  return result;
}

/** Validates a body for a write to resourceType (and id, for updates); throws 400/422 on errors. */
export async function validateBody(
  ctx: HandlerContext,
  body: unknown,
  expect: { resourceType: string; id?: string },
  interaction: RuleContext['interaction'],
  pending?: PendingResources
): Promise<ValidatedResource> {
  const input = stripServerMeta(body);
  return validateWrite(
    input,
    { resourceType: expect.resourceType, id: expect.id, requireId: expect.id !== undefined },
    ruleContext(ctx, interaction, pending),
    ctx.rules
  );
}

/**
 * A validation whose result holds for a later validation of the same body: the body carried no id
 * (a create validates it without one) and no rule read another resource (so what else a
 * transaction writes could not change the outcome).
 */
export interface ReusableValidation {
  body: unknown;
  interaction: RuleContext['interaction'];
  result: ValidatedResource;
}

/**
 * validateBody for a create whose body is validated again when the write is prepared (a Patient
 * is validated before matching): returns the result and, when it may be reused for the same body
 * object, a ReusableValidation (see reuseValidation).
 */
export async function validateForReuse(
  ctx: HandlerContext,
  body: unknown,
  expect: { resourceType: string },
  interaction: RuleContext['interaction']
): Promise<{ result: ValidatedResource; reusable?: ReusableValidation }> {
  let resolved = false;
  const result = await validateWrite(
    stripServerMeta(body),
    { resourceType: expect.resourceType, requireId: false },
    ruleContext(ctx, interaction, undefined, () => (resolved = true)),
    ctx.rules
  );
  const hasId = !!body && typeof body === 'object' && 'id' in body;
  if (resolved || hasId) return { result };
  return { result, reusable: { body, interaction, result } };
}

/** The earlier validation's result when it holds for this body (the same object, unchanged since). */
export function reuseValidation(
  reusable: ReusableValidation | undefined,
  body: unknown,
  interaction: RuleContext['interaction']
): ValidatedResource | undefined {
  if (!reusable || reusable.body !== body || reusable.interaction !== interaction) return undefined;
  return { resource: reusable.result.resource, issues: [...reusable.result.issues] };
}

/**
 * Starts the structural validation validateBody will ask for (a validation pool works on it while
 * this thread prepares earlier writes); nothing when validation runs in this thread.
 */
export function prefetchBody(ctx: HandlerContext, body: unknown, expect: { resourceType: string; id?: string }): void {
  const prefetch = ctx.rules.structural.prefetch;
  if (!prefetch) return;
  prefetch(stripServerMeta(body), { resourceType: expect.resourceType, id: expect.id, requireId: expect.id !== undefined });
}

/** meta.versionId and meta.lastUpdated belong to the server: a client's values are ignored. */
function stripServerMeta(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const resource = body as Record<string, unknown>;
  const meta = resource.meta;
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) return body;
  const { versionId: _v, lastUpdated: _l, ...rest } = meta as Record<string, unknown>;
  const copy: Record<string, unknown> = { ...resource };
  if (Object.keys(rest).length > 0) copy.meta = rest;
  else delete copy.meta;
  return copy;
}

/** Search values for a resource; Patients also carry their matching blocking keys as `_m`. */
export function indexFor(resource: Resource): ReturnType<typeof extractSearchIndex> {
  const index = extractSearchIndex(resource);
  if (resource.resourceType === 'Patient') index._m = matchKeysOf(resource);
  return index;
}

/**
 * Commits a prepared write; a lost version race surfaces as VersionConflictError. Its follow-ups
 * (RuleRegistry.registerFollowUp: none for most writes) are committed with it in one store
 * transaction; a store without transactions writes them right after it (see followUpsAfter).
 */
export async function commitRaw(ctx: HandlerContext, prepared: Prepared): Promise<FhirResponse> {
  if (prepared.kind === 'done') return prepared.response;
  if (ctx.rules.followUpsFor(prepared.op.resourceType) === undefined) return prepared.respond(await ctx.store.write(prepared.op));
  const written = [{ ctx, prepared }];
  if (!ctx.store.supportsTransactions) {
    const record = await ctx.store.write(prepared.op);
    await followUpsAfter(written);
    return prepared.respond(record);
  }
  const followUps = await followUpOps(written);
  if (followUps.length === 0) return prepared.respond(await ctx.store.write(prepared.op));
  const records = await ctx.store.transact([prepared.op, ...followUps]);
  return prepared.respond(records[0]);
}

/**
 * The follow-up rewrites of writes about to be committed together (RuleRegistry.registerFollowUp),
 * as store operations whose precondition is the version the follow-up read: a change meanwhile fails
 * the commit and the write is retried from a fresh read, like any lost race. A resource the writes
 * themselves write is left to them (a client's own change to it wins), and none is rewritten twice.
 * `pending`: what a transaction's entries write (by `Type/id`; null: deleted), read before the store.
 */
export async function followUpOps(writes: ReadonlyArray<{ ctx: HandlerContext; prepared: PreparedWrite }>, pending?: PendingResources): Promise<WriteOp[]> {
  const ops: WriteOp[] = [];
  let targets: Set<string> | undefined;
  for (const { ctx, prepared } of writes) {
    const { op } = prepared;
    const followUps = ctx.rules.followUpsFor(op.resourceType);
    if (!followUps || op.verifyOnly) continue;
    const change = { resourceType: op.resourceType, id: op.id, previous: prepared.previous, next: op.resource };
    for (const followUp of followUps) {
      for (const { current, resource } of await followUp(change, followUpContext(ctx, pending))) {
        targets ??= new Set(writes.map((w) => `${w.prepared.op.resourceType}/${w.prepared.op.id}`));
        const key = `${current.resourceType}/${current.id}`;
        if (targets.has(key)) continue;
        targets.add(key);
        const stored = copyWithId(resource, current.id);
        ops.push({ resourceType: current.resourceType, id: current.id, resource: stored, ifVersion: current.versionId, index: indexFor(stored) });
      }
    }
  }
  return ops;
}

/**
 * A store without multi-document transactions (MongoDB that is not a replica set): the writes are
 * committed, then their follow-ups are worked out again from what is stored now and written one by
 * one, a lost race retried from a fresh read. Not atomic: a crash in between leaves the follow-up
 * undone (said in src/hl7v2/README.md).
 */
async function followUpsAfter(writes: ReadonlyArray<{ ctx: HandlerContext; prepared: PreparedWrite }>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      for (const op of await followUpOps(writes)) await writes[0].ctx.store.write(op);
      return;
    } catch (err) {
      if (!(err instanceof VersionConflictError) || attempt >= 10) throw err;
    }
  }
}

function followUpContext(ctx: HandlerContext, pending: PendingResources | undefined): FollowUpContext {
  return {
    store: ctx.store,
    probableMatchesHiddenFromCaller: (patient) => ctx.store.probableMatchesHiddenFromCaller(patient),
    async resolve(reference) {
      if (pending?.has(reference)) return pending.get(reference) ?? undefined;
      const match = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
      if (!match) return undefined;
      const record = await ctx.store.read(match[1], match[2]);
      return record && !record.deleted ? record.resource : undefined;
    },
  };
}

/**
 * Runs one write interaction. Without a client precondition (If-Match) a lost version race is
 * retried from a fresh read, with a small random back-off so many writers to one resource all
 * land; with one it answers 412. A conflict that persists answers 409.
 */
export async function runWrite(
  req: FhirRequest,
  attempt: () => Promise<FhirResponse>,
  retries = 100
): Promise<FhirResponse> {
  const clientPrecondition = req.ifMatch !== undefined;
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof VersionConflictError && !clientPrecondition && i < retries) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * (i + 1))));
        continue;
      }
      throw translateConflict(err, clientPrecondition);
    }
  }
}

export function translateConflict(err: unknown, clientPrecondition: boolean): unknown {
  if (!(err instanceof VersionConflictError)) return err;
  const text = `${err.resourceType}/${err.id} was changed by another request (now at version ${err.actual ?? 'none'})`;
  return clientPrecondition ? preconditionFailed(text) : conflict(text);
}

/** If-Match as a version number; a malformed value is a 400. */
export function ifMatchVersion(req: FhirRequest): number | undefined {
  if (req.ifMatch === undefined) return undefined;
  const version = parseVersionTag(req.ifMatch);
  if (version === undefined) throw badRequest(`If-Match must be a version ETag like W/"3", got "${req.ifMatch}"`);
  return version;
}

/** A stable lock name for a conditional write, independent of parameter order. */
export function conditionalLockKey(resourceType: string, query: string): string {
  const params = new URLSearchParams(query);
  const pairs = [...params.entries()].map(([k, v]) => `${k}=${v}`).sort();
  return `conditional:${resourceType}?${pairs.join('&')}`;
}

/** Resolves a conditional query (If-None-Exist, conditional update/delete/patch) to at most 2 records. */
export async function conditionalMatches(ctx: HandlerContext, resourceType: string, query: string): Promise<ResourceRecord[]> {
  // The condition is the query (R4: If-None-Exist: [search parameters]); a leading `?`, or the
  // `[type]?` of clients that send the whole search URL, names the same search.
  const typePrefix = `${resourceType}?`;
  const trimmed = query.startsWith(typePrefix) ? query.slice(typePrefix.length) : query.replace(/^\?/, '');
  if (trimmed.trim() === '') throw badRequest('A conditional request needs search parameters');
  return findMatches(ctx.store, resourceType, trimmed, 2, { baseUrl: ctx.baseUrl, checkReach: reachChecker(ctx) });
}
