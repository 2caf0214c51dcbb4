// create: POST [type], with conditional create (If-None-Exist) made race-safe by a store lock.
import { randomUUID } from 'node:crypto';
import type { OperationOutcomeIssue, Patient, Resource } from '@medplum/fhirtypes';
import { makeIssue, outcome, preconditionFailed } from '../fhir/outcome.js';
import { decideIngest, ingestLockKey, type IngestDecision } from '../matching/ingest.js';
import { versionHeaders, writeResponse, chooseBody } from './respond.js';
import type { FhirRequest, FhirResponse, Prepared, HandlerContext } from './types.js';
import {
  commitRaw,
  conditionalLockKey,
  conditionalMatches,
  indexFor,
  runWrite,
  validateBody,
  type PendingResources,
} from './write-support.js';

export async function create(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const resourceType = req.resourceType as string;
  // A Patient create may merge into an existing record: a lost race with an update of that record
  // is retried from a fresh match.
  const attempt = async (): Promise<FhirResponse> => commitRaw(ctx, await prepareCreate(req, ctx));
  const retries = resourceType === 'Patient' ? 5 : 0;
  const locks = createLockKeys(req);
  const run = (keys: string[]): Promise<FhirResponse> =>
    keys.length === 0 ? runWrite(req, attempt, retries) : ctx.store.withLock(keys[0], () => run(keys.slice(1)));
  return run(locks);
}

/**
 * Locks a create holds: its If-None-Exist query, and for Patients the ingest lock of its birth date
 * so two copies of one child arriving at once cannot both be stored. Sorted, like transactions.
 */
export function createLockKeys(req: FhirRequest): string[] {
  const keys: string[] = [];
  if (req.ifNoneExist !== undefined) keys.push(conditionalLockKey(req.resourceType as string, req.ifNoneExist));
  if (req.resourceType === 'Patient' && isObject(req.body)) keys.push(ingestLockKey(req.body as unknown as Patient));
  return keys.sort();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Validates and resolves a create. With If-None-Exist: one match answers 200 with it and writes
 * nothing; several answer 412. The body's id is ignored (the server assigns ids on create).
 */
export async function prepareCreate(
  req: FhirRequest,
  ctx: HandlerContext,
  options: { id?: string; pending?: PendingResources; ingest?: IngestDecision } = {}
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
  let toStore: Resource = resource;
  if (resourceType === 'Patient') {
    const decision = options.ingest ?? (await decideIngest(ctx.store, resource as Patient));
    if (decision.kind === 'merge') return prepareMerge(req, ctx, decision, issues);
    toStore = decision.patient;
    if (decision.probable.length > 0) {
      const names = decision.probable.slice(0, 5).map((c) => `Patient/${c.patient.id} (${c.decision.grade})`);
      issues.push(
        makeIssue(
          'information',
          'informational',
          `Stored as a new record, tagged for review as a possible duplicate of ${names.join(', ')}; a reviewer can combine them with Patient/$merge`,
          { expression: 'Patient' }
        )
      );
    }
  }
  const id = options.id ?? randomUUID();
  const stored = { ...toStore, id };
  return {
    kind: 'write',
    op: { resourceType, id, resource: stored, ifVersion: 'absent', index: indexFor(stored) },
    issues,
    respond: (record) => writeResponse(req, ctx.baseUrl, record, 201, issues, { location: true }),
  };
}

/** A certain match: the existing record is updated instead of storing a duplicate (200). */
function prepareMerge(
  req: FhirRequest,
  ctx: HandlerContext,
  decision: Extract<IngestDecision, { kind: 'merge' }>,
  validationIssues: OperationOutcomeIssue[]
): Prepared {
  const { existing, merged } = decision;
  const stored = { ...merged, id: existing.id };
  const issues = [
    ...validationIssues,
    makeIssue(
      'information',
      'informational',
      `This child is already registered as Patient/${existing.id} (certain match, score ${decision.candidate.decision.score.toFixed(2)}): that record was updated instead of creating a duplicate`,
      { ruleCode: 'merged-into-existing', expression: 'Patient' }
    ),
  ];
  return {
    kind: 'write',
    op: { resourceType: 'Patient', id: existing.id, resource: stored, ifVersion: existing.versionId, index: indexFor(stored) },
    issues,
    // Candidates come from the caller-scoped store: the existing record is one the caller may see.
    respond: (record) => writeResponse(req, ctx.baseUrl, record, 200, issues, { location: true }),
  };
}

function withoutId(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body) || !('id' in body)) return body;
  const { id: _ignored, ...rest } = body as Record<string, unknown>;
  return rest;
}
