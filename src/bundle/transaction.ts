// transaction: all or nothing. Each write entry is the same write operation a single request is
// (src/interactions/write-path.ts: resolve its conditions, prepare, commit); what is the
// transaction's own is only
//  - reference rewriting: every entry's fullUrl (urn:uuid:…, urn:oid:…, absolute URLs) becomes the
//    `Type/id` its entry resolved to, in conditions (If-None-Exist, conditional URLs) before they
//    are resolved, and in bodies before they are validated; conditional references
//    (`Patient?identifier=…`) in bodies become their one match;
//  - the atomic commit: every prepared operation in one store.transact().
// Each step over the entries lets other requests run before each entry (letOtherRequestsRun, as a
// batch does): a transaction of BUNDLE_MAX_ENTRIES entries holds the event loop for one entry at a
// time, not for its whole validation. It stays atomic: its locks are held throughout, nothing is
// written before the one commit, and the answer does not depend on what ran in between.
// Processing order follows R4: DELETE, POST, PUT/PATCH, then GET/HEAD (after the commit).
import type { Bundle, BundleEntry, Patient, Resource } from '@medplum/fhirtypes';
import { badRequest, FhirError, isFhirError, makeIssue, outcome, preconditionFailed } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse, HandlerContext, PreparedWrite } from '../interactions/types.js';
import {
  prefetchValidation,
  prepareWrite,
  resolveWrite,
  withLocks,
  WRITE_INTERACTIONS,
  writeLockKeys,
  type ResolvedWrite,
} from '../interactions/write-path.js';
import { reachChecker } from '../interactions/reach-scopes.js';
import { isFhirPathPatch } from '../interactions/fhirpath-patch.js';
import { followUpOps, translateConflict, type PendingResources } from '../interactions/write-support.js';
import { findMatches } from '../search/execute.js';
import { latencyTrace } from '../latency-trace.js';
import { comparePatients } from '../matching/compare.js';
import { copyWithId, TransactionsUnsupportedError } from '../store/store.js';
import { letOtherRequestsRun, responseEntry, routeEntry, type RoutedEntry } from './entries.js';

type Phase = 0 | 1 | 2 | 3;
const PHASE: Record<FhirRequest['method'], Phase> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

interface Planned extends RoutedEntry {
  /** The context the entry runs in: its scopes checked, the caller-scoped store it may use. */
  ctx: HandlerContext;
  /** Write entries, once their conditions are resolved. */
  resolved?: ResolvedWrite;
  /** The entry's answer: without a write (conditional create matched…), or after the commit. */
  response?: FhirResponse;
  prepared?: PreparedWrite;
}

export async function processTransaction(bundle: Bundle, outer: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
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
  latencyTrace?.mark(ctx.requestId, 'transaction');
  const entries = bundle.entry ?? [];
  const routed = entries.map((entry, index) => atEntry(index, () => routeEntry(entry, index, outer, ctx)));
  const planned: Planned[] = [];
  for (const r of routed) {
    await letOtherRequestsRun();
    if (PHASE[r.request.method] !== 3 && !WRITE_INTERACTIONS.has(r.request.interaction ?? '')) {
      const what = r.request.operation ? `$${r.request.operation}` : r.request.interaction;
      throw atEntryError(r.index, badRequest(`A transaction cannot contain ${what} entries`));
    }
    // Scopes and the caller-scoped store of each entry, checked before anything is resolved.
    const entryCtx = await atEntry(r.index, () => ctx.entries.contextFor(r.request));
    planned.push({ index: r.index, entry: r.entry, request: r.request, ctx: entryCtx });
  }
  const writes = planned.filter((p) => PHASE[p.request.method] !== 3);
  const lockKeys: string[] = [];
  for (const p of writes) for (const key of writeLockKeys(p.request)) lockKeys.push(key);

  return withLocks(ctx, lockKeys, async () => {
    const refusals = new RuleRefusals();
    const references = await resolveAll(writes, refusals);
    if (!refusals.stopped) {
      checkDistinctTargets(writes);
      await checkDistinctChildren(writes);
    }
    for (const p of writes) {
      const req = p.resolved?.req;
      // A FHIRPath Patch is the entry's resource (a Parameters): its values' references are
      // rewritten as a body's; a JSON Patch's (from a Binary) by rewriteJsonPatchReferences.
      const jsonPatch = req?.method === 'PATCH' && Array.isArray(req.body);
      const rewritable = req?.method !== 'PATCH' || isFhirPathPatch(req.body) || jsonPatch;
      if (req && !p.resolved?.done && req.body !== undefined && rewritable && !refusals.stopped) {
        await letOtherRequestsRun();
        const body = await refusals.attempt(p.index, () =>
          jsonPatch ? rewriteJsonPatchReferences(req.body as unknown[], references, p.ctx) : rewriteReferences(req.body, references, p.ctx)
        );
        if (refusals.failed(p.index)) p.resolved = undefined;
        else req.body = body;
      }
    }
    // What earlier entries write, so validation of later ones resolves references to them.
    const pending: PendingResources = new Map();
    for (const p of writes) {
      const { target, done, req } = p.resolved ?? {};
      if (!target || done || !req) continue;
      if (req.method === 'DELETE') pending.set(target, null);
      else if (req.method !== 'PATCH' && isResource(req.body)) pending.set(target, copyWithId(req.body, target.split('/')[1]));
    }
    const order = [...writes].sort((a, b) => PHASE[a.request.method] - PHASE[b.request.method] || a.index - b.index);
    // With a validation pool, every entry's validation starts now, side by side with the preparing.
    for (const p of order) if (p.resolved) prefetchValidation(p.resolved, p.ctx);
    for (const p of order) {
      if (!p.resolved || refusals.stopped) continue;
      await letOtherRequestsRun();
      await refusals.attempt(p.index, async () => {
        const prepared = await prepareWrite(p.resolved as ResolvedWrite, p.ctx, pending);
        if (prepared.kind === 'done') p.response = prepared.response;
        else {
          // The entry's own policy (a patient/ scope's compartment) holds for what it writes.
          p.ctx.store.checkWrite(prepared.op);
          p.prepared = prepared;
        }
      });
    }
    refusals.throwIfAny();
    const committing = order.filter((p) => p.prepared);
    let records;
    latencyTrace?.mark(ctx.requestId, 'commitAsked');
    const commitAsked = latencyTrace?.now() ?? 0;
    try {
      // What the writes cause elsewhere (RuleRegistry.registerFollowUp), committed with them.
      const written = committing.map((p) => ({ ctx: p.ctx, prepared: p.prepared as PreparedWrite }));
      const followUps = await followUpOps(written, pending);
      records = await ctx.store.transact(followUps.length === 0 ? written.map((w) => w.prepared.op) : [...written.map((w) => w.prepared.op), ...followUps]);
    } catch (err) {
      if (err instanceof TransactionsUnsupportedError) throw badRequest(err.message);
      throw translateConflict(err, committing.some((p) => p.request.ifMatch !== undefined));
    }
    if (latencyTrace) {
      latencyTrace.mark(ctx.requestId, 'committed');
      latencyTrace.add(ctx.requestId, 'commitWaitMs', latencyTrace.now() - commitAsked);
    }
    committing.forEach((p, i) => {
      p.response = (p.prepared as PreparedWrite).respond(records[i]);
    });
    for (const p of planned) {
      if (PHASE[p.request.method] !== 3) continue;
      await letOtherRequestsRun();
      try {
        p.response = await ctx.entries.run(p.request);
      } catch (err) {
        if (!isFhirError(err)) throw err;
        p.response = { status: err.status, body: err.outcome };
      }
    }
    const entry: BundleEntry[] = planned.map((p) => responseEntry(p.response as FhirResponse, ctx.baseUrl, p.request.method));
    return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', ...(entry.length ? { entry } : {}) } };
  });
}

/**
 * Resolves every write entry and maps its fullUrl to the `Type/id` it resolved to. Entries whose
 * conditions name another entry's fullUrl are resolved after that entry, with the reference
 * rewritten, so `ifNoneExist: patient=urn:uuid:…` finds (or does not find) the right patient.
 */
async function resolveAll(writes: Planned[], refusals: RuleRefusals): Promise<Map<string, string>> {
  const references = new Map<string, string>();
  const fullUrls = new Set(writes.map((p) => p.entry.fullUrl).filter((u): u is string => typeof u === 'string'));
  let waiting = [...writes];
  while (waiting.length > 0 && !refusals.stopped) {
    const blocked: Planned[] = [];
    for (const p of waiting) {
      if (refusals.stopped) break;
      const names = conditionReferences(p.request).filter((r) => fullUrls.has(r) && r !== p.entry.fullUrl);
      if (names.some((r) => !references.has(r))) {
        blocked.push(p);
        continue;
      }
      await letOtherRequestsRun();
      const request = atEntry(p.index, () => withConditionsRewritten(p.request, references));
      // An entry that breaks rules here (a Patient is validated before it is matched) resolves to
      // nothing; the entries whose conditions name it stay blocked and the refusal is reported.
      const resolved = await refusals.attempt(p.index, () => resolveWrite(request, p.ctx));
      if (!resolved) continue;
      p.resolved = resolved;
      const fullUrl = p.entry.fullUrl;
      if (fullUrl && p.resolved.target) {
        if (references.has(fullUrl)) throw atEntryError(p.index, badRequest(`fullUrl ${fullUrl} appears twice in the transaction`));
        references.set(fullUrl, p.resolved.target);
      }
    }
    if (blocked.length === waiting.length) {
      refusals.throwIfAny();
      throw atEntryError(blocked[0].index, badRequest('The conditions of these entries name each other: none can be resolved first'));
    }
    waiting = blocked;
  }
  return references;
}

/** Values in an entry's conditions (If-None-Exist, conditional URL) that may name another entry. */
function conditionReferences(req: FhirRequest): string[] {
  if (req.query.length === 0 && req.ifNoneExist === undefined) return []; // no conditions (most entries)
  // Loops rather than spreads and flatMap (V8's generic, slow paths) for the one or two values an entry has.
  const names: string[] = [];
  for (const [, value] of req.query) for (const name of value.split(',')) names.push(name);
  if (req.ifNoneExist) for (const value of new URLSearchParams(req.ifNoneExist.replace(/^\?/, '')).values()) for (const name of value.split(',')) names.push(name);
  return names;
}

/** The request with entry fullUrls in its conditions replaced by the `Type/id` they resolved to. */
function withConditionsRewritten(req: FhirRequest, references: Map<string, string>): FhirRequest {
  if (req.query.length === 0 && req.ifNoneExist === undefined) return req; // no conditions: nothing to rewrite
  // Only a value that is exactly an entry's fullUrl is a reference to it (`urn:oid:…|123` is a token).
  const map = (value: string): string =>
    value
      .split(',')
      .map((part) => references.get(part) ?? part)
      .join(',');
  const query = req.query.map(([k, v]): [string, string] => [k, map(v)]);
  let ifNoneExist = req.ifNoneExist;
  if (ifNoneExist !== undefined) {
    const params = new URLSearchParams(ifNoneExist.replace(/^\?/, ''));
    ifNoneExist = [...params.entries()].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(map(v))}`).join('&');
  }
  return { ...req, query, ifNoneExist };
}

function checkDistinctTargets(writes: Planned[]): void {
  const seen = new Map<string, number>();
  for (const p of writes) {
    const target = p.resolved?.target;
    if (!target || p.resolved?.done) continue;
    const earlier = seen.get(target);
    if (earlier !== undefined) {
      throw badRequest(`Bundle.entry[${earlier}] and Bundle.entry[${p.index}] both write ${target}`, {
        expression: `Bundle.entry[${p.index}]`,
      });
    }
    seen.set(target, p.index);
  }
}

/** Patient comparisons between two turns of the event loop (a comparison takes a few µs). */
const COMPARISONS_PER_TURN = 2_000;

/**
 * Two Patient creates of one transaction that certainly are one child: each was matched against
 * the stored records only (the other is not stored yet), so both would be stored, a duplicate no
 * review list shows. Refused as two entries writing one record are (checkDistinctTargets, which
 * also catches both merging into one stored child). Twins are never a certain match.
 */
async function checkDistinctChildren(writes: Planned[]): Promise<void> {
  // By birth date, as concurrent creates are serialised (ingestLockKey): a transaction of many
  // children compares only those born the same day. Many children of one birth date make this
  // quadratic (500 newborns: ~125,000 comparisons, ~0.4 s): other requests run between every
  // COMPARISONS_PER_TURN of them, as between the transaction's entries.
  const byBirthDate = new Map<string, Array<{ index: number; patient: Patient }>>();
  let compared = 0;
  for (const p of writes) {
    const ingest = p.resolved?.done ? undefined : p.resolved?.ingest;
    if (ingest?.kind !== 'new') continue;
    const key = ingest.patient.birthDate ?? '';
    const created = byBirthDate.get(key) ?? [];
    byBirthDate.set(key, created);
    for (const earlier of created) {
      if (++compared % COMPARISONS_PER_TURN === 0) await letOtherRequestsRun();
      if (comparePatients(earlier.patient, ingest.patient).grade === 'certain') {
        throw badRequest(
          `Bundle.entry[${earlier.index}] and Bundle.entry[${p.index}] create the same child (a certain match): send the child once and point the other entries at its fullUrl`,
          { expression: `Bundle.entry[${p.index}]` }
        );
      }
    }
    created.push({ index: p.index, patient: ingest.patient });
  }
}

/**
 * Replaces references to entries' fullUrls (urn:uuid:…, urn:oid:…, absolute URLs) with the
 * resolved `Type/id`, and conditional references (`Patient?identifier=…`) with their one match
 * among the resources the caller may see. Copy on write: a body with nothing to rewrite is returned
 * as is, and only the objects on the way to a rewritten reference are copied.
 */
async function rewriteReferences(body: unknown, references: Map<string, string>, ctx: HandlerContext): Promise<unknown> {
  // 1. Every reference that changes, in document order (the first bad one is the error reported).
  const found: ReferenceScan = { references, replacements: new Map(), conditionals: [] };
  if (body !== null && typeof body === 'object') scanReferences(body, found);
  const { replacements, conditionals } = found;
  for (const reference of conditionals) {
    const [, type, query] = CONDITIONAL_REFERENCE.exec(reference) as RegExpExecArray;
    // Resolving it searches the type it names (and what its chains reach): the token needs s there.
    const checkReach = reachChecker(ctx);
    const matches = await findMatches(ctx.store, type, query, 2, {
      baseUrl: ctx.baseUrl,
      checkReach: (reached) => checkReach(new Map([...reached, [type, new Set([...(reached.get(type) ?? []), 's' as const])]])),
    });
    if (matches.length !== 1) {
      throw preconditionFailed(`The conditional reference ${reference} matches ${matches.length === 0 ? 'nothing' : 'more than one resource'}`);
    }
    replacements.set(reference, `${type}/${matches[0].id}`);
  }
  if (replacements.size === 0) return body;
  // 2. The body with those references replaced.
  return withReplacements(body, replacements);
}

/**
 * A JSON Patch's references to entries' fullUrls (and conditional references), rewritten as a
 * body's are: in an operation's `value` that holds References (`{"reference": …}` at any depth),
 * and in a `value` that is the reference string itself (a `path` ending in `/reference`, e.g.
 * `replace /patient/reference`). Anything that is not an operation object is left for the PATCH
 * interaction to refuse. Copy on write, as rewriteReferences.
 */
export async function rewriteJsonPatchReferences(operations: unknown[], references: Map<string, string>, ctx: HandlerContext): Promise<unknown[]> {
  // A bare reference string is scanned as the Reference it is part of, then unwrapped.
  const wrapped = operations.map((op) => (holdsReferenceString(op) ? { ...op, value: { reference: op.value } } : op));
  const rewritten = (await rewriteReferences(wrapped, references, ctx)) as unknown[];
  if (rewritten === wrapped) return operations; // nothing replaced
  return rewritten.map((op, i) =>
    wrapped[i] === operations[i] ? op : { ...(op as object), value: ((op as { value: { reference: string } }).value).reference }
  );
}

function holdsReferenceString(op: unknown): op is { path: string; value: string } {
  if (op === null || typeof op !== 'object' || Array.isArray(op)) return false;
  const { path, value } = op as { path?: unknown; value?: unknown };
  return typeof path === 'string' && typeof value === 'string' && /(^|\/)reference$/.test(path);
}

/** What scanReferences collects: the fullUrls it maps, and what it finds to replace. */
export interface ReferenceScan {
  references: Map<string, string>;
  replacements: Map<string, string>;
  /** Conditional references (`Patient?identifier=…`), each once, in document order. */
  conditionals: string[];
}

/**
 * Every `reference` string under node, in document order. Only objects and arrays are descended
 * into (a function, not a closure, called only for them: a body is mostly primitive values).
 */
export function scanReferences(node: object, found: ReferenceScan): void {
  if (Array.isArray(node)) {
    for (const item of node) if (item !== null && typeof item === 'object') scanReferences(item as object, found);
    return;
  }
  for (const key in node) {
    const value = (node as Record<string, unknown>)[key];
    if (key === 'reference' && typeof value === 'string') {
      const mapped = found.references.get(value);
      if (mapped) found.replacements.set(value, mapped);
      else if (value.startsWith('urn:uuid:') || value.startsWith('urn:oid:')) {
        throw badRequest(`The reference ${value} names no entry of this transaction`);
      } else if (CONDITIONAL_REFERENCE.test(value) && !found.conditionals.includes(value)) found.conditionals.push(value);
    } else if (value !== null && typeof value === 'object') scanReferences(value, found);
  }
}

/** node with its `reference` strings replaced; copy on write (untouched objects are kept as they are). */
export function withReplacements(node: unknown, replacements: Map<string, string>): unknown {
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < node.length; i++) {
      const item: unknown = node[i];
      const next = withReplacements(item, replacements);
      if (next !== item) (copy ??= [...node])[i] = next;
    }
    return copy ?? node;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key in node) {
    const value = (node as Record<string, unknown>)[key];
    const next = key === 'reference' && typeof value === 'string' ? (replacements.get(value) ?? value) : withReplacements(value, replacements);
    if (next !== value) (copy ??= { ...(node as Record<string, unknown>) })[key] = next;
  }
  return copy ?? node;
}

const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?(.+)$/;

/**
 * The entries refused for breaking rules (422). Such a refusal does not stop the other entries'
 * validation: the answer reports every entry's issues at once, as a single request's 422 reports
 * all of its own. Any other refusal (400, 403, 404, 409, 412) is thrown as it comes when it is the
 * first; after a rule refusal it only stops the work, and the rule issues found so far are the
 * answer (the first refusal in processing order decides the status).
 */
class RuleRefusals {
  private readonly refused = new Map<number, FhirError>();
  stopped = false;

  async attempt<T>(index: number, fn: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await atEntry(index, fn);
    } catch (err) {
      if (isFhirError(err) && err.status === 422) {
        this.refused.set(index, err);
        return undefined;
      }
      if (this.refused.size === 0) throw err;
      this.stopped = true;
      return undefined;
    }
  }

  failed(index: number): boolean {
    return this.refused.has(index);
  }

  throwIfAny(): void {
    if (this.refused.size === 0) return;
    const refusals = [...this.refused.entries()].sort(([a], [b]) => a - b).map(([, err]) => err);
    if (refusals.length === 1) throw refusals[0];
    throw new FhirError(422, outcome(refusals.flatMap((err) => err.outcome.issue ?? [])));
  }
}

function isResource(body: unknown): body is Resource {
  return !!body && typeof body === 'object' && !Array.isArray(body) && typeof (body as Resource).resourceType === 'string';
}

/** Prefixes every issue of a failing entry with the entry's position. */
function atEntry<T>(index: number, fn: () => T): T {
  try {
    const result = fn();
    return (result instanceof Promise ? result.catch((err: unknown) => { throw atEntryError(index, err); }) : result) as T;
  } catch (err) {
    throw atEntryError(index, err);
  }
}

function atEntryError(index: number, err: unknown): unknown {
  if (isFhirError(err)) {
    for (const issue of err.outcome.issue ?? []) {
      const text = issue.diagnostics ?? issue.details?.text ?? '';
      if (!text.startsWith('Bundle.entry[')) {
        issue.diagnostics = `Bundle.entry[${index}]: ${text}`;
        if (issue.details) issue.details = { ...issue.details, text: issue.diagnostics };
      }
    }
  }
  return err;
}
