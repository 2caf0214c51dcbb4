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

/** Each status the registry answers with (CONTRACT.md "Errors"): what happened and what to do. */
export const STATUS_TEXT: Record<number, string> = {
  0: 'The registry could not be reached. Check the network connection and try again.',
  400: 'The registry could not read this request. Check the fields below and try again.',
  401: 'Your sign-in has ended. Sign in again to continue.',
  403: 'Your account is not allowed to do this. Ask your site administrator for access.',
  404: 'The registry has no such record: it may have been merged or removed. Search for the patient again.',
  405: 'The registry does not allow this action here. Reload the page and try again; if it keeps happening, tell your registry help desk.',
  406: 'The registry cannot answer in the form this page asked for. Reload the page and try again; if it keeps happening, tell your registry help desk.',
  409: 'Someone else changed this record at the same time. Reload the page and try again.',
  410: 'This record was deleted from the registry. Search for the patient again.',
  412: 'Someone else changed this record at the same time. Reload the page and try again.',
  413: 'This request is too large for the registry. Send less at once (for example, fewer records or shorter notes).',
  415: 'The registry could not read what this page sent. Reload the page and try again; if it keeps happening, tell your registry help desk.',
  422: 'The registry did not accept this because of the problems below. Correct them and save again.',
  429: 'The registry is busy. Wait a few seconds and try again.',
  500: 'Something went wrong in the registry. Try again; if it keeps happening, tell your registry help desk.',
  503: 'The registry is temporarily unavailable. Try again in a minute.',
};

export function describeFailure(status: number, outcome?: OperationOutcome): { message: string; details: string[]; codes: string[] } {
  const issues = (outcome?.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  const codes = (outcome?.issue ?? []).flatMap((i) => (i.details?.coding ?? []).map((c) => c.code ?? '')).filter(Boolean);
  const details = issues.map(issueText);
  const message = (() => {
    if (codes.includes('data-sharing-restricted')) {
      return 'The family has chosen not to share this record with other providers, so it cannot be shown. If they now agree to share, they can ask the clinic that recorded their choice to record Yes.';
    }
    if (codes.includes('data-sharing-unknown')) return 'This record stays closed until the family’s data-sharing choice (Yes or No) is recorded. Ask the family, then record Yes or No.';
    return STATUS_TEXT[status] ?? (status >= 500 ? STATUS_TEXT[500] : `The registry refused this request (HTTP ${status}). Check what you entered and try again; if it keeps happening, tell your registry help desk.`);
  })();
  return { message, details, codes };
}
