// Server failures in words a clinic user understands, with what to do next. The server's own
// sentences (OperationOutcome diagnostics) are kept as details: they name the field to fix.
import type { OperationOutcome } from './fhir-types';

const FIELD_NAMES: Array<[RegExp, string]> = [
  [/occurrence/i, 'Date given'],
  [/vaccineCode/i, 'Vaccine'],
  [/lotNumber/i, 'Lot number'],
  [/expirationDate/i, 'Expiration date'],
  [/birthDate/i, 'Date of birth'],
  [/\.name/i, 'Name'],
  [/site/i, 'Site'],
  [/route/i, 'Route'],
];

export function fieldName(expression: string | undefined): string | undefined {
  if (!expression) return undefined;
  return FIELD_NAMES.find(([pattern]) => pattern.test(expression))?.[1];
}

export function issueText(issue: NonNullable<OperationOutcome['issue']>[number]): string {
  const text = issue.details?.text ?? issue.diagnostics ?? issue.code ?? 'Unknown problem';
  const field = fieldName(issue.expression?.[0]);
  return field ? `${field}: ${text}` : text;
}

export function describeFailure(status: number, outcome?: OperationOutcome): { message: string; details: string[]; codes: string[] } {
  const issues = (outcome?.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  const codes = (outcome?.issue ?? []).flatMap((i) => (i.details?.coding ?? []).map((c) => c.code ?? '')).filter(Boolean);
  const details = issues.map(issueText);
  const message = (() => {
    if (codes.includes('data-sharing-restricted')) return 'The family has chosen not to share this record with other providers, so it cannot be shown.';
    if (codes.includes('data-sharing-unknown')) return 'This record stays closed until the family’s data-sharing choice (Yes or No) is recorded.';
    switch (status) {
      case 400:
        return 'The registry could not read this request. Check the fields below and try again.';
      case 401:
        return 'Your sign-in has ended. Sign in again to continue.';
      case 403:
        return 'Your account is not allowed to do this. Ask your site administrator for access.';
      case 404:
        return 'The registry has no such record (it may have been merged or removed), or this feature is not available on this server.';
      case 409:
      case 412:
        return 'Someone else changed this record at the same time. Reload the page and try again.';
      case 413:
        return 'This request is too large for the registry.';
      case 422:
        return 'The registry did not accept this because of the problems below. Correct them and save again.';
      case 429:
        return 'The registry is busy. Wait a few seconds and try again.';
      case 503:
        return 'The registry is temporarily unavailable. Try again in a minute.';
      default:
        return status >= 500
          ? 'Something went wrong in the registry. Try again; if it keeps happening, tell your registry help desk.'
          : `The registry refused this request (HTTP ${status}).`;
    }
  })();
  return { message, details, codes };
}
