// transaction: all or nothing. Entries are routed, their targets resolved (new ids for creates,
// conditional creates/updates/deletes by search), urn:uuid and conditional references rewritten,
// every write validated and prepared, and then committed in one store.transact(). Processing order
// follows the R4 spec: DELETE, POST, PUT/PATCH, then GET/HEAD (after the commit).
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { badRequest, FhirError, isFhirError, makeIssue, outcome, preconditionFailed } from '../fhir/outcome.js';
import type { Patient } from '@medplum/fhirtypes';
import { createLockKeys, prepareCreate } from '../interactions/create.js';
import { decideIngest, type IngestDecision } from '../matching/ingest.js';
import { prepareDelete } from '../interactions/delete.js';
import { preparePatch } from '../interactions/patch.js';
import type { FhirRequest, FhirResponse, PreparedWrite, HandlerContext } from '../interactions/types.js';
import { prepareUpdate, queryString } from '../interactions/update.js';
import {
  conditionalLockKey,
  conditionalMatches,
  translateConflict,
  type PendingResources,
} from '../interactions/write-support.js';
import { findMatches } from '../search/execute.js';
import { TransactionsUnsupportedError } from '../store/store.js';
import { responseEntry, routeEntry, type RoutedEntry } from './entries.js';

type Phase = 0 | 1 | 2 | 3;
const PHASE: Record<FhirRequest['method'], Phase> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

interface Planned extends RoutedEntry {
  /** The context the entry runs in: its scopes checked, the caller-scoped store it may use. */
  ctx: HandlerContext;
  /** `Type/id` this entry writes, once resolved. */
  target?: string;
  /** The entry concluded without a write (conditional create matched, nothing to delete…). */
  response?: FhirResponse;
  prepared?: PreparedWrite;
  /** For Patient creates: the matching decision taken while resolving targets. */
  ingest?: IngestDecision;
}

export async function processTransaction(
  bundle: Bundle,
  outer: FhirRequest,
  ctx: HandlerContext
): Promise<FhirResponse> {
  if (!ctx.store.supportsTransactions) {
    throw new FhirError(
      400,
      outcome([
        makeIssue(
          'error',
          'not-supported',
          'This deployment cannot commit several writes atomically (its MongoDB is not a replica set), so transaction ' +
            'Bundles are refused: send a batch Bundle instead, or run MongoDB as a replica set.'
        ),
      ])
    );
  }
  const entries = bundle.entry ?? [];
  const routed = entries.map((entry, index) => atEntry(index, () => routeEntry(entry, index, outer, ctx)));
  const planned: Planned[] = [];
  for (const r of routed) planned.push({ ...r, ctx: await atEntry(r.index, () => ctx.entries.contextFor(r.request)) });

  const lockKeys = [
    ...new Set(
      planned.flatMap((p) => {
        if (p.request.method === 'POST' && p.request.ifNoneExist) return [conditionalLockKey(p.request.resourceType as string, p.request.ifNoneExist)];
        if (p.request.interaction === 'conditional-update') return [conditionalLockKey(p.request.resourceType as string, queryString(p.request))];
        if (p.request.interaction === 'create') return createLockKeys(p.request);
        return [];
      })
    ),
  ].sort();

  return withLocks(ctx, lockKeys, async () => {
    const references = new Map<string, string>();
    for (const p of planned) await atEntry(p.index, () => resolveTarget(p, references));
    checkDistinctTargets(planned);
    for (const p of planned) {
      if (p.request.body !== undefined && p.request.method !== 'PATCH') {
        p.request.body = await atEntry(p.index, () => rewriteReferences(p.request.body, references, ctx));
      }
    }
    const pending: PendingResources = new Map();
    for (const p of planned) {
      if (!p.target || p.response) continue;
      if (p.request.method === 'DELETE') pending.set(p.target, null);
      else if (p.request.method !== 'PATCH' && isResource(p.request.body)) {
        pending.set(p.target, { ...p.request.body, id: p.target.split('/')[1] } as Resource);
      }
    }
    const order = [...planned].sort((a, b) => PHASE[a.request.method] - PHASE[b.request.method] || a.index - b.index);
    for (const p of order) {
      if (PHASE[p.request.method] === 3 || p.response) continue;
      await atEntry(p.index, () => prepareEntry(p, pending));
    }
    const writes = order.filter((p) => p.prepared);
    let records;
    try {
      records = await ctx.store.transact(writes.map((p) => (p.prepared as PreparedWrite).op));
    } catch (err) {
      if (err instanceof TransactionsUnsupportedError) throw badRequest(err.message);
      throw translateConflict(err, writes.some((p) => p.request.ifMatch !== undefined));
    }
    writes.forEach((p, i) => {
      p.response = (p.prepared as PreparedWrite).respond(records[i]);
    });
    for (const p of order) {
      if (PHASE[p.request.method] === 3) {
        try {
          p.response = await ctx.entries.run(p.request);
        } catch (err) {
          if (!isFhirError(err)) throw err;
          p.response = { status: err.status, body: err.outcome };
        }
      }
    }
    const entry: BundleEntry[] = planned.map((p) => responseEntry(p.response as FhirResponse, ctx.baseUrl));
    return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', entry } };
  });
}

/** Decides which resource each write entry addresses and records fullUrl → reference. */
async function resolveTarget(p: Planned, references: Map<string, string>): Promise<void> {
  const { request, ctx } = p;
  const route = { interaction: request.interaction, operation: request.operation };
  const resourceType = request.resourceType as string;
  switch (route.interaction) {
    case 'create': {
      if (request.ifNoneExist) {
        const prepared = await prepareCreate(request, ctx);
        if (prepared.kind === 'done') {
          p.response = prepared.response;
          const existing = prepared.response.body as Resource | undefined;
          const location = prepared.response.headers?.Location ?? '';
          const id = existing?.id ?? /\/([^/]+)\/_history\//.exec(location)?.[1];
          p.target = `${resourceType}/${id}`;
          break;
        }
        request.ifNoneExist = undefined;
      }
      if (resourceType === 'Patient' && isResource(request.body) && request.body.resourceType === 'Patient') {
        // A certain match becomes an update of the existing child, and references to this entry's
        // fullUrl (its Immunizations) point at the surviving record.
        p.ingest = await decideIngest(ctx.store, request.body as Patient);
        if (p.ingest.kind === 'merge') {
          p.target = `Patient/${p.ingest.existing.id}`;
          break;
        }
      }
      p.target = `${resourceType}/${randomUUID()}`;
      break;
    }
    case 'update':
    case 'patch':
    case 'delete':
      p.target = `${resourceType}/${request.id}`;
      break;
    case 'conditional-update': {
      const matches = await conditionalMatches(ctx, resourceType, queryString(request));
      if (matches.length > 1) throw preconditionFailed(`The conditional update matches more than one ${resourceType}`);
      const bodyId = (request.body as { id?: unknown } | undefined)?.id;
      const id = matches[0]?.id ?? (typeof bodyId === 'string' ? bodyId : randomUUID());
      if (matches[0] && typeof bodyId === 'string' && bodyId !== id) {
        throw badRequest(`The body id "${bodyId}" differs from the matching ${resourceType}/${id}`);
      }
      request.id = id;
      request.body = { ...(request.body as object), id };
      p.target = `${resourceType}/${id}`;
      break;
    }
    case 'conditional-delete':
    case 'conditional-patch': {
      const matches = await conditionalMatches(ctx, resourceType, queryString(request));
      if (matches.length > 1) throw preconditionFailed(`The conditional request matches more than one ${resourceType}`);
      if (matches.length === 0) {
        if (route.interaction === 'conditional-patch') {
          throw new FhirError(404, outcome([makeIssue('error', 'not-found', `No ${resourceType} matches the conditional patch`)]));
        }
        p.response = { status: 204 };
        break;
      }
      request.id = matches[0].id;
      p.target = `${resourceType}/${request.id}`;
      break;
    }
    default:
      if (PHASE[request.method] !== 3) {
        throw badRequest(`A transaction cannot contain ${route.operation ? `$${route.operation}` : route.interaction} entries`);
      }
  }
  const fullUrl = p.entry.fullUrl;
  if (fullUrl && p.target) {
    if (references.has(fullUrl)) throw badRequest(`fullUrl ${fullUrl} appears twice in the transaction`);
    references.set(fullUrl, p.target);
  }
}

function checkDistinctTargets(planned: Planned[]): void {
  const seen = new Map<string, number>();
  for (const p of planned) {
    if (!p.target || p.response) continue;
    const earlier = seen.get(p.target);
    if (earlier !== undefined) {
      throw badRequest(`Bundle.entry[${earlier}] and Bundle.entry[${p.index}] both write ${p.target}`, {
        expression: `Bundle.entry[${p.index}]`,
      });
    }
    seen.set(p.target, p.index);
  }
}

async function prepareEntry(p: Planned, pending: PendingResources): Promise<void> {
  const { ctx } = p;
  const [resourceType, id] = (p.target as string).split('/');
  const request: FhirRequest = { ...p.request, resourceType, id };
  let prepared;
  switch (p.request.method) {
    case 'DELETE':
      prepared = await prepareDelete(request, ctx);
      break;
    case 'POST':
      prepared = await prepareCreate(request, ctx, { id, pending, ingest: p.ingest });
      break;
    case 'PUT':
      prepared = await prepareUpdate(request, ctx, { pending });
      break;
    case 'PATCH':
      prepared = await preparePatch(request, ctx, { pending });
      break;
    default:
      return;
  }
  if (prepared.kind === 'done') p.response = prepared.response;
  else p.prepared = prepared;
}

/**
 * Replaces references to entries' fullUrls (urn:uuid:…, urn:oid:…, absolute URLs) with the
 * resolved `Type/id`, and conditional references (`Patient?identifier=…`) with their one match.
 */
async function rewriteReferences(body: unknown, references: Map<string, string>, ctx: HandlerContext): Promise<unknown> {
  const visit = async (node: unknown): Promise<unknown> => {
    if (Array.isArray(node)) return Promise.all(node.map(visit));
    if (!node || typeof node !== 'object') return node;
    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      copy[key] = key === 'reference' && typeof value === 'string' ? await resolveReference(value) : await visit(value);
    }
    return copy;
  };
  const resolveReference = async (reference: string): Promise<string> => {
    const mapped = references.get(reference);
    if (mapped) return mapped;
    if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) {
      throw badRequest(`The reference ${reference} names no entry of this transaction`);
    }
    const conditional = /^([A-Z][A-Za-z]+)\?(.+)$/.exec(reference);
    if (conditional) {
      const matches = await findMatches(ctx.store, conditional[1], conditional[2], 2, { baseUrl: ctx.baseUrl });
      if (matches.length !== 1) {
        throw preconditionFailed(
          `The conditional reference ${reference} matches ${matches.length === 0 ? 'nothing' : 'more than one resource'}`
        );
      }
      return `${conditional[1]}/${matches[0].id}`;
    }
    return reference;
  };
  return visit(body);
}

/** Runs fn holding every lock, taken in sorted order so two transactions cannot deadlock. */
async function withLocks<T>(ctx: HandlerContext, keys: string[], fn: () => Promise<T>): Promise<T> {
  if (keys.length === 0) return fn();
  const [first, ...rest] = keys;
  return ctx.store.withLock(first, () => withLocks(ctx, rest, fn));
}

function isResource(body: unknown): body is Resource {
  return !!body && typeof body === 'object' && !Array.isArray(body) && typeof (body as Resource).resourceType === 'string';
}

/** Prefixes every issue of a failing entry with the entry's position. */
function atEntry<T>(index: number, fn: () => T): T {
  const relabel = (err: unknown): never => {
    if (isFhirError(err)) {
      for (const issue of err.outcome.issue ?? []) {
        const text = issue.diagnostics ?? issue.details?.text ?? '';
        if (!text.startsWith('Bundle.entry[')) {
          issue.diagnostics = `Bundle.entry[${index}]: ${text}`;
          if (issue.details) issue.details = { ...issue.details, text: issue.diagnostics };
        }
      }
    }
    throw err;
  };
  try {
    const result = fn();
    return (result instanceof Promise ? result.catch(relabel) : result) as T;
  } catch (err) {
    return relabel(err);
  }
}
