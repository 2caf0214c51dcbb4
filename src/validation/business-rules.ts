// The single hook where IIS business rules (CONTRACT.md "Rule codes") plug into every write, and
// the one function that turns validation issues into 400 / 422.
import type { OperationOutcomeIssue, Patient, Resource } from '@medplum/fhirtypes';
import { failWith, hasErrors } from '../fhir/outcome.js';
import type { ResourceRecord, StoreReader } from '../store/store.js';
import { inThreadValidator, type StructuralValidation } from './structural-pool.js';
import { isMalformedRequestIssue } from './validate-resource.js';
import type { ValidationExpectations } from './validate-resource.js';

export interface RuleContext {
  /** "Now" for date rules (fixed per request, injectable in tests). */
  now: Date;
  interaction: 'create' | 'update' | 'patch' | 'validate';
  /** Reads another resource (e.g. the Immunization's Patient); undefined if absent or deleted. */
  resolve(reference: string): Promise<Resource | undefined>;
}

/**
 * A business rule: inspects a structurally valid resource and returns its issues (build them with
 * makeIssue and a `ruleCode`). Errors reject the write (422); warnings and information are stored
 * and returned to the client.
 */
export type BusinessRule = (
  resource: Resource,
  ctx: RuleContext
) => OperationOutcomeIssue[] | Promise<OperationOutcomeIssue[]>;

/** A write about to be committed: what it replaces and what it stores (none: a delete). */
export interface WriteChange {
  resourceType: string;
  id: string;
  /** The stored content the write replaces or deletes (none for a create). */
  previous?: Resource;
  /** The content the write stores; none when it deletes. */
  next?: Resource;
}

/** What a follow-up reads with: the caller-scoped store, and the transaction's own writes first. */
export interface FollowUpContext {
  store: StoreReader;
  /** `Type/id` → the content as it will be once the commit lands (the transaction's writes first, null: deleted there); undefined: absent. */
  resolve(reference: string): Promise<Resource | undefined>;
  /**
   * Stored Patients hidden from the caller by data sharing that this Patient probably is (current
   * versions, for a review mark only: never shown to the caller). None for callers who see all.
   */
  probableMatchesHiddenFromCaller(patient: Patient): Promise<ResourceRecord[]>;
}

/** A stored resource a follow-up rewrites, and the version it read (the commit's precondition). */
export interface FollowUpWrite {
  current: ResourceRecord;
  resource: Resource;
}

/**
 * A completion: runs on the body as received, before any validation, and may return a completed
 * copy (an element the server can derive with certainty and FHIR requires) with the issues that
 * tell the client what was added. Undefined: nothing to complete. It must not throw on bodies of
 * any shape (structural validation has not run yet) and must never change what the client said.
 */
export type Completion = (body: Record<string, unknown>) => { body: Record<string, unknown>; issues: OperationOutcomeIssue[] } | undefined;

/**
 * A consequence of a write on other stored resources (a Condition made from a dose's HL7 v2 OBX is
 * no longer asserted once that dose is deleted or resent without it): the rewrites are committed in
 * the same store transaction as the write that caused them. It must answer at once (no read) for
 * the writes that have no consequence: it runs on every write of its resource type.
 */
export type FollowUp = (change: WriteChange, ctx: FollowUpContext) => Promise<FollowUpWrite[]>;

/**
 * Rules by resource type ('*' = every type), run in registration order; the structural
 * validation every write goes through first (in the request thread, or a StructuralValidationPool);
 * completions of a body before validation (Completion); and the follow-ups of a write (FollowUp),
 * by the resource type written.
 */
export class RuleRegistry {
  private readonly rules: { resourceType: string; rule: BusinessRule }[] = [];
  private readonly completions = new Map<string, Completion[]>();
  private readonly followUps = new Map<string, FollowUp[]>();
  readonly structural: StructuralValidation;

  constructor(options: { structural?: StructuralValidation } = {}) {
    this.structural = options.structural ?? { validate: inThreadValidator };
  }

  register(resourceType: string | '*', rule: BusinessRule): void {
    this.rules.push({ resourceType, rule });
  }

  registerCompletion(resourceType: string, completion: Completion): void {
    const list = this.completions.get(resourceType) ?? [];
    list.push(completion);
    this.completions.set(resourceType, list);
  }

  /** The body with every completion of its resource type applied, and their issues. */
  complete(input: unknown): { input: unknown; issues: OperationOutcomeIssue[] } {
    if (this.completions.size === 0 || typeof input !== 'object' || input === null || Array.isArray(input)) return { input, issues: [] };
    const resourceType = (input as { resourceType?: unknown }).resourceType;
    const completions = typeof resourceType === 'string' ? this.completions.get(resourceType) : undefined;
    if (!completions) return { input, issues: [] };
    let body = input as Record<string, unknown>;
    const issues: OperationOutcomeIssue[] = [];
    for (const completion of completions) {
      const done = completion(body);
      if (!done) continue;
      body = done.body;
      issues.push(...done.issues);
    }
    return { input: body, issues };
  }

  registerFollowUp(resourceType: string, followUp: FollowUp): void {
    this.followUps.set(resourceType, [...(this.followUps.get(resourceType) ?? []), followUp]);
  }

  /** The follow-ups of writes to a resource type (none: most types, nothing to do). */
  followUpsFor(resourceType: string): readonly FollowUp[] | undefined {
    return this.followUps.get(resourceType);
  }

  /** The rules that apply to a resource type, in registration order. */
  rulesFor(resourceType: string): BusinessRule[] {
    return this.rules.filter((r) => r.resourceType === '*' || r.resourceType === resourceType).map((r) => r.rule);
  }

  /**
   * Runs every applicable rule and returns all their issues, in registration order (a rule's
   * errors never stop the others). Rules run concurrently; a rule that throws fails the whole
   * run with that error (a FhirError, e.g. 503 from the store, keeps its status).
   */
  async run(resource: Resource, ctx: RuleContext): Promise<OperationOutcomeIssue[]> {
    const rules = this.rulesFor(resource.resourceType);
    const results = await Promise.all(rules.map(async (rule) => rule(resource, ctx)));
    return results.flat();
  }
}

/**
 * The HTTP status for a set of validation issues, decided in one place:
 * - 400 (CONTRACT: "malformed request") when the body cannot be read as the resource the request
 *   addresses: not a JSON object, resourceType missing / not a string / unknown / not the URL's
 *   type, id missing or different from the URL's on update, id present where forbidden, or
 *   pathological size (see isMalformedRequestIssue);
 * - 422 (CONTRACT: "the resource breaks a rule") when it is that resource but some issue is an
 *   error: structure, cardinality, formats, required bindings, or a business rule;
 * - undefined when nothing is an error (warnings and information do not reject).
 */
export function rejectionStatus(issues: readonly OperationOutcomeIssue[]): 400 | 422 | undefined {
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length === 0) return undefined;
  return errors.some(isMalformedRequestIssue) ? 400 : 422;
}

/**
 * Validates a write: structural validation first, then (if structurally valid, or wrong only in
 * codes of required bindings) the business rules registered for the resource type. Throws a FhirError with every issue found (status from
 * rejectionStatus); otherwise returns the resource and the warning / information issues to store
 * and return.
 */
export async function validateWrite(
  input: unknown,
  expect: ValidationExpectations,
  ctx: RuleContext,
  rules: RuleRegistry
): Promise<{ resource: Resource; issues: OperationOutcomeIssue[] }> {
  const completed = rules.complete(input);
  const structural = await rules.structural.validate(completed.input, expect);
  const structuralStatus = rejectionStatus(structural);
  // The rules read a resource of the right shape; one whose only errors are codes outside a
  // required binding has it, so they run too and the client hears every issue at once (CONTRACT.md
  // "Errors") instead of learning of a future date only after fixing a status code.
  if (structuralStatus && !onlyCodeErrors(structural)) throw failWith(structuralStatus, structural);

  const resource = completed.input as Resource;
  const ruleIssues = await rules.run(resource, { ...ctx, resolve: memoize(ctx.resolve.bind(ctx)) });
  const issues = [...structural, ...completed.issues, ...ruleIssues];
  if (hasErrors(issues)) throw failWith(rejectionStatus(issues) ?? 422, issues);
  return { resource, issues };
}

function onlyCodeErrors(issues: readonly OperationOutcomeIssue[]): boolean {
  return issues.every((i) => (i.severity !== 'error' && i.severity !== 'fatal') || i.code === 'code-invalid');
}

/** Several rules often read the same reference (the Patient): read it once per write. */
function memoize(resolve: RuleContext['resolve']): RuleContext['resolve'] {
  const cache = new Map<string, Promise<Resource | undefined>>();
  return (reference) => {
    let pending = cache.get(reference);
    if (!pending) {
      pending = resolve(reference);
      cache.set(reference, pending);
    }
    return pending;
  };
}
