// OperationOutcome construction and the one error type every layer throws.
// Errors are turned into HTTP exactly once, at the edge (src/http/error-edge.ts).
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** Canonical URL of the code system for our IIS rule codes (profiles/CodeSystem-iis-rule.json). */
export const RULE_CODE_SYSTEM = 'https://iis-fhir-server.org/fhir/CodeSystem/iis-rule';

export type IssueSeverity = OperationOutcomeIssue['severity'];
export type IssueType = OperationOutcomeIssue['code'];

export interface IssueOptions {
  /** FHIRPath of the offending element, e.g. `Patient.birthDate`. */
  expression?: string | string[];
  /** An IIS rule code (CONTRACT.md "Rule codes"), carried in details.coding. */
  ruleCode?: string;
}

export function makeIssue(
  severity: IssueSeverity,
  code: IssueType,
  text: string,
  options: IssueOptions = {}
): OperationOutcomeIssue {
  const issue: OperationOutcomeIssue = { severity, code, diagnostics: text };
  issue.details = options.ruleCode
    ? { coding: [{ system: RULE_CODE_SYSTEM, code: options.ruleCode }], text }
    : { text };
  if (options.expression !== undefined) {
    issue.expression = Array.isArray(options.expression) ? options.expression : [options.expression];
  }
  return issue;
}

export function outcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export function informational(text: string, options: IssueOptions = {}): OperationOutcome {
  return outcome([makeIssue('information', 'informational', text, options)]);
}

/** The error every layer throws: an HTTP status and the OperationOutcome that explains it. */
export class FhirError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;
  readonly headers: Record<string, string>;

  constructor(status: number, body: OperationOutcome, headers: Record<string, string> = {}) {
    super(firstText(body) ?? `HTTP ${status}`);
    this.name = 'FhirError';
    this.status = status;
    this.outcome = body;
    this.headers = headers;
  }
}

export function isFhirError(err: unknown): err is FhirError {
  return err instanceof FhirError;
}

function firstText(body: OperationOutcome): string | undefined {
  const first = body.issue?.[0];
  return first?.diagnostics ?? first?.details?.text;
}

const fail =
  (status: number, code: IssueType) =>
  (text: string, options: IssueOptions = {}): FhirError =>
    new FhirError(status, outcome([makeIssue('error', code, text, options)]));

export const badRequest = fail(400, 'invalid');
export const unauthorized = fail(401, 'login');
export const forbidden = fail(403, 'forbidden');
export const notFound = fail(404, 'not-found');
/**
 * 405 with the `Allow` header RFC 9110 15.5.6 requires: the methods the address does answer
 * (HEAD wherever GET is, as the router serves it).
 */
export function methodNotAllowed(text: string, allowed: readonly string[], options: IssueOptions = {}): FhirError {
  const methods = allowed.includes('GET') && !allowed.includes('HEAD') ? [...allowed, 'HEAD'] : allowed;
  return new FhirError(405, outcome([makeIssue('error', 'not-supported', text, options)]), { Allow: methods.join(', ') });
}
export const conflict = fail(409, 'conflict');
export const gone = fail(410, 'deleted');
export const preconditionFailed = fail(412, 'conflict');
export const payloadTooLarge = fail(413, 'too-costly');
export const unsupportedMediaType = fail(415, 'not-supported');
export const unprocessable = fail(422, 'processing');
export const tooManyRequests = fail(429, 'throttled');
export const serverError = fail(500, 'exception');
export const storeUnavailable = fail(503, 'transient');

/** Several issues at once (validation reports all of them, not the first). */
export function failWith(status: number, issues: OperationOutcomeIssue[]): FhirError {
  return new FhirError(status, outcome(issues));
}

export function hasErrors(issues: OperationOutcomeIssue[]): boolean {
  return issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
}
