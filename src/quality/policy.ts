// Severity policy: which severity each rule reports, per registry. Defaults are CONTRACT.md's;
// a JSON file (env IIS_RULE_POLICY) overrides them, e.g. a registry where a missing lot number
// rejects the dose:  { "lot-number-missing": "error", "test-patient-name": "off" }
import { readFileSync } from 'node:fs';
import { RULES_BY_CODE, type RuleSeverity } from './rule-catalog.js';

export type PolicySetting = RuleSeverity | 'off';
const SETTINGS: readonly PolicySetting[] = ['error', 'warning', 'information', 'off'];

export class SeverityPolicy {
  private readonly overrides: ReadonlyMap<string, PolicySetting>;

  /** Throws on an unknown rule code or setting, so a typo never silently keeps the default. */
  constructor(overrides: Record<string, unknown> = {}, readonly source = 'defaults') {
    const map = new Map<string, PolicySetting>();
    const problems: string[] = [];
    for (const [code, value] of Object.entries(overrides)) {
      if (code.startsWith('$') || code.startsWith('//')) continue; // room for "$comment"
      if (!RULES_BY_CODE.has(code)) problems.push(`unknown rule code "${code}"`);
      else if (typeof value !== 'string' || !SETTINGS.includes(value as PolicySetting)) {
        problems.push(`"${code}" must be one of ${SETTINGS.join(', ')}, got ${JSON.stringify(value)}`);
      } else map.set(code, value as PolicySetting);
    }
    if (problems.length > 0) throw new Error(`Rule severity policy (${source}): ${problems.join('; ')}`);
    this.overrides = map;
  }

  /** The severity a rule reports, or 'off'. */
  severityOf(code: string): PolicySetting {
    const override = this.overrides.get(code);
    if (override) return override;
    const rule = RULES_BY_CODE.get(code);
    if (!rule) throw new Error(`No such rule: ${code}`);
    return rule.severity;
  }

  /** Every rule with its effective setting (for logs and docs). */
  effective(): Record<string, PolicySetting> {
    const out: Record<string, PolicySetting> = {};
    for (const code of RULES_BY_CODE.keys()) out[code] = this.severityOf(code);
    return out;
  }
}

/** The policy from a JSON file (path from IIS_RULE_POLICY), or the defaults when no path is given. */
export function loadSeverityPolicy(file: string | undefined): SeverityPolicy {
  if (!file) return new SeverityPolicy();
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`IIS_RULE_POLICY: cannot read ${file} as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`IIS_RULE_POLICY: ${file} must hold a JSON object of rule code → "error" | "warning" | "information" | "off"`);
  }
  return new SeverityPolicy(parsed as Record<string, unknown>, file);
}
