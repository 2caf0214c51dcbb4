// $validate on a type (POST [type]/$validate) or an instance (POST [type]/[id]/$validate).
// Answers 200 with an OperationOutcome listing every issue, valid or not; only a malformed
// request (not a resource, wrong type) is a 4xx.
import type { OperationOutcomeIssue, Parameters, Resource } from '@medplum/fhirtypes';
import { badRequest, isFhirError, makeIssue, outcome } from '../fhir/outcome.js';
import { readCurrent } from '../interactions/read.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import { validateBody } from '../interactions/write-support.js';

export async function validateOperation(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const resourceType = req.resourceType as string;
  const { resource, mode } = readInput(req);
  if (mode === 'delete') {
    if (req.id === undefined) throw badRequest('mode=delete needs an instance: POST [type]/[id]/$validate');
    await readCurrent(ctx, resourceType, req.id);
    return ok([makeIssue('information', 'informational', `${resourceType}/${req.id} may be deleted`)]);
  }
  if (resource === undefined) throw badRequest('$validate needs a resource: the body, or a Parameters "resource" part');
  if (req.id !== undefined && mode === 'update') await readCurrent(ctx, resourceType, req.id);
  const expectId = mode === 'update' ? req.id ?? bodyId(resource) : req.id;
  try {
    const { issues } = await validateBody(ctx, resource, { resourceType, id: expectId }, 'validate');
    return ok(issues);
  } catch (err) {
    if (isFhirError(err) && (err.status === 400 || err.status === 422)) return ok(err.outcome.issue ?? []);
    throw err;
  }
}

function ok(issues: OperationOutcomeIssue[]): FhirResponse {
  const all = issues.length > 0 ? issues : [makeIssue('information', 'informational', 'Validation succeeded: no issues')];
  return { status: 200, body: outcome(all) };
}

function readInput(req: FhirRequest): { resource?: unknown; mode?: string } {
  const modeParam = req.query.find(([k]) => k === 'mode')?.[1];
  const body = req.body as Resource | undefined;
  if (body && typeof body === 'object' && (body as Resource).resourceType === 'Parameters') {
    const params = body as Parameters;
    const resource = params.parameter?.find((p) => p.name === 'resource')?.resource;
    const mode = params.parameter?.find((p) => p.name === 'mode')?.valueCode ?? modeParam;
    return { resource, mode: checkMode(mode) };
  }
  return { resource: body, mode: checkMode(modeParam) };
}

function checkMode(mode: string | undefined): string | undefined {
  if (mode === undefined || ['create', 'update', 'delete'].includes(mode)) return mode;
  throw badRequest(`$validate mode must be create, update or delete, got "${mode}"`, { expression: 'mode' });
}

function bodyId(resource: unknown): string | undefined {
  const id = (resource as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}
