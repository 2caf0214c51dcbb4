// create: POST [type]. The write path (write-path.ts) resolves If-None-Exist and the Patient
// ingest decision, then prepareCreate validates and builds the store operation: the same steps for
// a single request and a transaction entry.
import type { OperationOutcomeIssue, Patient, Resource } from '@medplum/fhirtypes';
import { makeIssue } from '../fhir/outcome.js';
import { sameStoredContent } from '../fhir/same-content.js';
import { ingestLockKey, markForReview, type IngestDecision } from '../matching/ingest.js';
import { withdrawnFactsOf, withoutWithdrawnFacts } from '../matching/withdrawn-facts.js';
import { shareFeatures } from '../matching/features.js';
import { mergeInto } from '../matching/merge-records.js';
import { writeResponse } from './respond.js';
import { copyWithId } from '../store/store.js';
import type { FhirRequest, FhirResponse, HandlerContext, Prepared } from './types.js';
import {
  conditionalLockKey,
  indexFor,
  reuseValidation,
  validateBody,
  type PendingResources,
  type ReusableValidation,
} from './write-support.js';

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
 * Validates a create to the id the write path chose (the server assigns ids: the body's id is
 * ignored). A Patient that certainly matches an existing record (ingest decided by the write path)
 * becomes an update of that record instead.
 */
export async function prepareCreate(
  req: FhirRequest,
  ctx: HandlerContext,
  options: { id: string; pending?: PendingResources; ingest?: IngestDecision; validated?: ReusableValidation }
): Promise<Prepared> {
  const resourceType = req.resourceType as string;
  // A Patient was validated before matching: that result holds when the body is unchanged since.
  const { resource, issues } =
    reuseValidation(options.validated, req.body, 'create') ??
    (await validateBody(ctx, withoutId(req.body), { resourceType }, 'create', options.pending));
  let toStore: Resource = resource;
  const decision = options.ingest;
  if (resourceType === 'Patient' && decision) {
    if (decision.kind === 'merge') return prepareMerge(req, ctx, decision, resource as Patient, issues);
    if (decision.probable.length > 0) {
      toStore = markForReview(resource as Patient, decision.probable);
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
  const id = options.id;
  const stored = copyWithId(toStore, id);
  // The copy differs only by its id, which matching does not read: its blocking keys (indexFor)
  // come from the features matching already computed for the lookup, not from a second extraction.
  if (resourceType === 'Patient') shareFeatures(stored as Patient, toStore as Patient);
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
  incoming: Patient,
  validationIssues: OperationOutcomeIssue[]
): Prepared {
  const { existing } = decision;
  // Merged with the content as validated (in a transaction: after its references were rewritten),
  // after the facts its sender withdrew (HL7 v2's null "") are deleted from the record.
  const stored = { ...mergeInto(withoutWithdrawnFacts(existing.resource as Patient, withdrawnFactsOf(req)), incoming), id: existing.id };
  const issues = [
    ...validationIssues,
    makeIssue(
      'information',
      'informational',
      `This child is already registered as Patient/${existing.id} (certain match, score ${decision.candidate.decision.score.toFixed(2)}): that record was updated instead of creating a duplicate`,
      { ruleCode: 'merged-into-existing', expression: 'Patient' }
    ),
  ];
  // Nothing new for the record (the child sent again as it is stored): the answer carries the
  // stored version and nothing is written, the version matched still checked inside the store's
  // write (a record changed or merged away meanwhile fails it as the update would).
  const unchanged = sameStoredContent(stored as Patient, existing.resource as Patient);
  return {
    kind: 'write',
    op: unchanged
      ? { resourceType: 'Patient', id: existing.id, resource: stored, ifVersion: existing.versionId, verifyOnly: true }
      : { resourceType: 'Patient', id: existing.id, resource: stored, ifVersion: existing.versionId, index: indexFor(stored) },
    issues,
    // Candidates come from the caller-scoped store: the existing record is one the caller may see.
    respond: (record) => writeResponse(req, ctx.baseUrl, record, 200, issues, { location: true }),
  };
}

export function withoutId(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body) || !('id' in body)) return body;
  const { id: _ignored, ...rest } = body as Record<string, unknown>;
  return rest;
}
