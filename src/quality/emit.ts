// How rule checks report: `emit(code, expression, text)`; the severity comes from the policy, the
// issue type from the catalogue, and a rule switched 'off' reports nothing.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { makeIssue } from '../fhir/outcome.js';
import type { SeverityPolicy } from './policy.js';
import { IIS_RULES, type RuleCode } from './rule-catalog.js';

export type Emit = (code: RuleCode, expression: string, text: string) => void;

/** Per-code severity and issue type, computed once from the policy. */
export class IssueFactory {
  private readonly table = new Map<string, { severity: OperationOutcomeIssue['severity'] | undefined; type: OperationOutcomeIssue['code'] }>();

  constructor(policy: SeverityPolicy) {
    for (const rule of IIS_RULES) {
      const setting = policy.severityOf(rule.code);
      this.table.set(rule.code, { severity: setting === 'off' ? undefined : setting, type: rule.issueType });
    }
  }

  isOn(code: RuleCode): boolean {
    return this.table.get(code)?.severity !== undefined;
  }

  /** A fresh issue list and the emit function that fills it. */
  collector(): { issues: OperationOutcomeIssue[]; emit: Emit } {
    const issues: OperationOutcomeIssue[] = [];
    const emit: Emit = (code, expression, text) => {
      const entry = this.table.get(code);
      if (!entry?.severity) return;
      issues.push(makeIssue(entry.severity, entry.type, text, { expression, ruleCode: code }));
    };
    return { issues, emit };
  }
}
