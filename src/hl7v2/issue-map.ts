// FHIR OperationOutcome issues (from the same validation and data-quality rules every FHIR write
// passes) → HL7 ERR content: every IIS rule code has its HL7 table 0357 and CDC table 0533 code and
// the message field it is about; other issues are placed by their FHIRPath expression.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { RULE_CODE_SYSTEM } from '../fhir/outcome.js';
import type { ErrorLocation, Hl7Issue, Hl7Severity } from './problems.js';

interface RuleMapping {
  /** Segment and field the rule is about (the segment's ordinal comes from the resource's entry). */
  segment: 'PID' | 'RXA' | 'PD1';
  field: number;
  hl7Code: string;
  appCode: string;
}

/** Every rule code of src/quality/rule-catalog.ts and the issue codes the pipeline adds (a test keeps them in step). */
export const RULE_MAP: Record<string, RuleMapping> = {
  'vaccination-date-in-future': { segment: 'RXA', field: 3, hl7Code: '102', appCode: '1' },
  'vaccination-before-birth': { segment: 'RXA', field: 3, hl7Code: '102', appCode: '1' },
  'vaccination-after-death': { segment: 'RXA', field: 3, hl7Code: '102', appCode: '1' },
  'patient-unknown': { segment: 'PID', field: 3, hl7Code: '204', appCode: '7' },
  'patient-merged': { segment: 'PID', field: 3, hl7Code: '204', appCode: '7' },
  'vaccine-code-unknown': { segment: 'RXA', field: 5, hl7Code: '103', appCode: '5' },
  'ndc-cvx-mismatch': { segment: 'RXA', field: 5, hl7Code: '103', appCode: '3' },
  'vaccine-code-inactive-for-date': { segment: 'RXA', field: 5, hl7Code: '103', appCode: '3' },
  'lot-number-missing': { segment: 'RXA', field: 15, hl7Code: '101', appCode: '7' },
  'lot-expired': { segment: 'RXA', field: 16, hl7Code: '102', appCode: '1' },
  'birthdate-in-future': { segment: 'PID', field: 7, hl7Code: '102', appCode: '1' },
  'birthdate-missing': { segment: 'PID', field: 7, hl7Code: '101', appCode: '7' },
  'birthdate-implausible': { segment: 'PID', field: 7, hl7Code: '102', appCode: '1' },
  'name-missing': { segment: 'PID', field: 5, hl7Code: '101', appCode: '7' },
  'placeholder-name': { segment: 'PID', field: 5, hl7Code: '0', appCode: '3' },
  'test-patient-name': { segment: 'PID', field: 5, hl7Code: '0', appCode: '3' },
  'multiple-birth-order-missing': { segment: 'PID', field: 25, hl7Code: '101', appCode: '7' },
  'deceased-before-birth': { segment: 'PID', field: 29, hl7Code: '102', appCode: '1' },
  'manufacturer-unknown': { segment: 'RXA', field: 17, hl7Code: '103', appCode: '5' },
  'ndc-mvx-mismatch': { segment: 'RXA', field: 17, hl7Code: '103', appCode: '3' },
  'recorded-before-vaccination': { segment: 'RXA', field: 22, hl7Code: '102', appCode: '1' },
  // Added by matching and data sharing rather than by a quality rule.
  'merged-into-existing': { segment: 'PID', field: 3, hl7Code: '0', appCode: '' },
  'data-sharing-restricted': { segment: 'PID', field: 3, hl7Code: '207', appCode: '' },
  'data-sharing-unknown': { segment: 'PID', field: 3, hl7Code: '207', appCode: '' },
};

/** FHIRPath element → message field, for issues without a rule code (structural validation). */
const EXPRESSION_FIELDS: Array<[RegExp, 'PID' | 'RXA' | 'RXR' | 'PD1', number]> = [
  [/^Patient\.identifier/, 'PID', 3],
  [/^Patient\.name/, 'PID', 5],
  [/^Patient\.birthDate/, 'PID', 7],
  [/^Patient\.gender/, 'PID', 8],
  [/^Patient\.address/, 'PID', 11],
  [/^Patient\.telecom/, 'PID', 13],
  [/^Patient\.multipleBirth/, 'PID', 24],
  [/^Patient\.deceased/, 'PID', 29],
  [/^Patient\.contact/, 'PID', 5],
  [/^Immunization\.patient/, 'PID', 3],
  [/^Immunization\.occurrence/, 'RXA', 3],
  [/^Immunization\.vaccineCode/, 'RXA', 5],
  [/^Immunization\.doseQuantity/, 'RXA', 6],
  [/^Immunization\.(primarySource|reportOrigin)/, 'RXA', 9],
  [/^Immunization\.performer/, 'RXA', 10],
  [/^Immunization\.location/, 'RXA', 11],
  [/^Immunization\.lotNumber/, 'RXA', 15],
  [/^Immunization\.expirationDate/, 'RXA', 16],
  [/^Immunization\.manufacturer/, 'RXA', 17],
  [/^Immunization\.statusReason/, 'RXA', 18],
  [/^Immunization\.status/, 'RXA', 20],
  [/^Immunization\.recorded/, 'RXA', 22],
  [/^Immunization\.route/, 'RXR', 1],
  [/^Immunization\.site/, 'RXR', 2],
  [/^Consent/, 'PD1', 12],
];

/** Anything else about a resource points at the segment it came from. */
const RESOURCE_SEGMENTS: Array<[RegExp, 'PID' | 'RXA' | 'PD1']> = [
  [/^Patient/, 'PID'],
  [/^Immunization/, 'RXA'],
  [/^Consent/, 'PD1'],
];

export function ruleCodeOf(issue: OperationOutcomeIssue): string | undefined {
  return issue.details?.coding?.find((c) => c.system === RULE_CODE_SYSTEM)?.code;
}

/** The sentence of an issue as the FHIR API reports it, without the transaction's entry prefix. */
export function sentenceOf(issue: OperationOutcomeIssue): string {
  const text = issue.diagnostics ?? issue.details?.text ?? '';
  return text.replace(/^Bundle\.entry\[\d+\]: /, '');
}

function severityOf(issue: OperationOutcomeIssue): Hl7Severity {
  if (issue.severity === 'error' || issue.severity === 'fatal') return 'E';
  if (issue.severity === 'warning') return 'W';
  return 'I';
}

/**
 * One FHIR issue → one ERR. `ordinal` is the sequence of the segment the resource came from
 * (the RXA ordinal for an Immunization, 1 for PID and PD1).
 */
export function hl7IssueFrom(issue: OperationOutcomeIssue, ordinal: number): Hl7Issue {
  const ruleCode = ruleCodeOf(issue);
  const severity = severityOf(issue);
  const mapped = ruleCode ? RULE_MAP[ruleCode] : undefined;
  let location: ErrorLocation | undefined;
  let hl7Code: string;
  let appCode: string;
  if (mapped) {
    location = { segment: mapped.segment, sequence: mapped.segment === 'RXA' ? ordinal : 1, field: mapped.field };
    hl7Code = mapped.hl7Code;
    appCode = mapped.appCode;
  } else {
    const expression = issue.expression?.[0] ?? '';
    const hit = EXPRESSION_FIELDS.find(([re]) => re.test(expression));
    if (hit) location = { segment: hit[1], sequence: hit[1] === 'RXA' || hit[1] === 'RXR' ? ordinal : 1, field: hit[2] };
    else {
      const segment = RESOURCE_SEGMENTS.find(([re]) => re.test(expression))?.[1];
      if (segment) location = { segment, sequence: segment === 'RXA' ? ordinal : 1 };
    }
    hl7Code = issue.code === 'required' ? '101' : issue.code === 'code-invalid' ? '103' : severity === 'E' ? '102' : '0';
    // CDC table 0533 names problems: a note of what was done (an informational issue, "Deleted
    // Immunization/…") has none, so ERR-5 stays empty rather than "4 Invalid value".
    appCode = issue.code === 'required' ? '7' : issue.code === 'code-invalid' ? '5' : issue.code === 'informational' && severity === 'I' ? '' : '4';
  }
  return { severity, hl7Code, appCode, text: sentenceOf(issue), location, ruleCode };
}
