// Plugs the IIS data-quality rules into the RuleRegistry: one rule per resource type that runs all
// of that type's checks and reports with the policy's severities.
import type { Immunization, Patient } from '@medplum/fhirtypes';
import type { CodeSets } from '../terminology/code-sets.js';
import type { RuleRegistry } from '../validation/business-rules.js';
import { IssueFactory } from './emit.js';
import { checkImmunization } from './immunization-rules.js';
import { checkPatient } from './patient-rules.js';
import type { SeverityPolicy } from './policy.js';

export interface IisRuleDeps {
  codeSets: CodeSets;
  policy: SeverityPolicy;
}

export function registerIisRules(registry: RuleRegistry, deps: IisRuleDeps): void {
  const factory = new IssueFactory(deps.policy);
  registry.register('Patient', (resource, ctx) => {
    const { issues, emit } = factory.collector();
    checkPatient(resource as Patient, ctx.now, emit);
    return issues;
  });
  registry.register('Immunization', async (resource, ctx) => {
    const { issues, emit } = factory.collector();
    await checkImmunization(resource as Immunization, ctx, deps.codeSets, emit);
    return issues;
  });
}
