import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { describe, expect, it, vi } from 'vitest';
import { FhirError, RULE_CODE_SYSTEM, makeIssue, serverError } from '../fhir/outcome.js';
import { RuleRegistry, rejectionStatus, validateWrite } from './business-rules.js';
import type { BusinessRule, RuleContext } from './business-rules.js';
import { clone, validImmunization, validPatient } from './test-fixtures.js';
import { validateResource } from './validate-resource.js';

function context(resources: Record<string, Resource> = {}): RuleContext {
  return {
    now: new Date('2024-06-01T00:00:00Z'),
    interaction: 'create',
    resolve: vi.fn(async (reference: string) => resources[reference]),
  };
}

const ruleIssue = (severity: OperationOutcomeIssue['severity'], ruleCode: string): OperationOutcomeIssue =>
  makeIssue(severity, severity === 'error' ? 'business-rule' : 'informational', `rule ${ruleCode}`, {
    ruleCode,
    expression: 'Immunization.occurrence',
  });

/** Runs `fn`, expecting it to reject with a FhirError, and returns that error. */
async function rejection(fn: () => Promise<unknown>): Promise<FhirError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FhirError);
    return err as FhirError;
  }
  throw new Error('expected a FhirError');
}

describe('RuleRegistry', () => {
  it('runs the rules for the type and for "*" in registration order, collecting all issues', async () => {
    const registry = new RuleRegistry();
    const calls: string[] = [];
    registry.register('Immunization', () => (calls.push('a'), [ruleIssue('error', 'a')]));
    registry.register('*', async () => {
      await new Promise((r) => setTimeout(r, 10)); // finishes last, still reported second
      calls.push('b');
      return [ruleIssue('warning', 'b1'), ruleIssue('information', 'b2')];
    });
    registry.register('Patient', () => (calls.push('patient'), [ruleIssue('error', 'p')]));
    registry.register('Immunization', () => (calls.push('c'), [ruleIssue('error', 'c')]));

    const issues = await registry.run(clone(validImmunization) as Resource, context());
    expect(issues.map((i) => i.details?.coding?.[0]?.code)).toEqual(['a', 'b1', 'b2', 'c']);
    expect(calls).not.toContain('patient');
    expect(registry.rulesFor('Patient')).toHaveLength(2);
  });

  it('returns no issues when no rule applies', async () => {
    expect(await new RuleRegistry().run(clone(validPatient) as Resource, context())).toEqual([]);
  });

  it('lets a rule failure (e.g. store unavailable) through unchanged', async () => {
    const registry = new RuleRegistry();
    registry.register('*', async () => {
      throw serverError('boom');
    });
    const err = await rejection(() => registry.run(clone(validPatient) as Resource, context()));
    expect(err.status).toBe(500);
  });
});

describe('rejectionStatus', () => {
  it('is undefined without errors', () => {
    expect(rejectionStatus([])).toBeUndefined();
    expect(rejectionStatus([ruleIssue('warning', 'w'), ruleIssue('information', 'i')])).toBeUndefined();
  });

  it('is 422 for content errors and 400 when any error is a malformed-request issue', () => {
    const content = validateResource({ ...clone(validPatient), gender: 'xx' }, { resourceType: 'Patient' });
    expect(rejectionStatus(content)).toBe(422);
    expect(rejectionStatus([ruleIssue('error', 'x')])).toBe(422);
    const shape = validateResource(clone(validPatient), { resourceType: 'Immunization' });
    expect(rejectionStatus(shape)).toBe(400);
    expect(rejectionStatus([...content, ...shape])).toBe(400);
  });
});

describe('validateWrite', () => {
  const expectImm = { resourceType: 'Immunization' } as const;

  it('returns the resource and the warning/information issues', async () => {
    const rules = new RuleRegistry();
    rules.register('Immunization', () => [ruleIssue('warning', 'lot-number-missing')]);
    rules.register('Immunization', () => [ruleIssue('information', 'note')]);
    const input = clone(validImmunization);
    const { resource, issues } = await validateWrite(input, expectImm, context(), rules);
    expect(resource).toBe(input);
    expect(issues.map((i) => [i.severity, i.details?.coding?.[0]?.code])).toEqual([
      ['warning', 'lot-number-missing'],
      ['information', 'note'],
    ]);
    expect(issues[0].details?.coding?.[0]?.system).toBe(RULE_CODE_SYSTEM);
  });

  it.each([
    ['not an object', ['x'], expectImm],
    ['missing resourceType', { status: 'completed' }, expectImm],
    ['wrong resourceType', clone(validPatient), expectImm],
    ['id mismatch', clone(validImmunization), { ...expectImm, id: 'other' }],
    ['id missing on update', { ...clone(validImmunization), id: undefined }, { ...expectImm, id: 'imm-1' }],
  ])('answers 400 for a malformed request (%s), without running rules', async (_label, body, expect_) => {
    const rule = vi.fn<BusinessRule>(() => []);
    const rules = new RuleRegistry();
    rules.register('*', rule);
    const err = await rejection(() => validateWrite(JSON.parse(JSON.stringify(body)), expect_, context(), rules));
    expect(err.status).toBe(400);
    expect(err.outcome.resourceType).toBe('OperationOutcome');
    expect(err.outcome.issue.length).toBeGreaterThan(0);
    expect(rule).not.toHaveBeenCalled();
  });

  it('answers 422 with every structural issue, without running rules', async () => {
    const rule = vi.fn<BusinessRule>(() => []);
    const rules = new RuleRegistry();
    rules.register('Immunization', rule);
    const body = { ...clone(validImmunization), status: 'bogus', lotNumber: '', occurrenceDateTime: ['2024'] };
    const err = await rejection(() => validateWrite(body, expectImm, context(), rules));
    expect(err.status).toBe(422);
    expect(err.outcome.issue.map((i) => [i.code, i.expression?.[0]])).toEqual([
      ['code-invalid', 'Immunization.status'],
      ['structure', 'Immunization.occurrence'],
      ['value', 'Immunization.lotNumber'],
    ]);
    expect(rule).not.toHaveBeenCalled();
  });

  it('runs the rules too when the only structural errors are codes outside a required binding, and reports all at once', async () => {
    const rules = new RuleRegistry();
    rules.register('Immunization', () => [ruleIssue('error', 'vaccination-date-in-future')]);
    const body = { ...clone(validImmunization), status: 'bogus' };
    const err = await rejection(() => validateWrite(body, expectImm, context(), rules));
    expect(err.status).toBe(422);
    expect(err.outcome.issue.map((i) => [i.code, i.details?.coding?.[0]?.code ?? i.expression?.[0]])).toEqual([
      ['code-invalid', 'Immunization.status'],
      ['business-rule', 'vaccination-date-in-future'],
    ]);
  });

  it('answers 422 with all rule issues (errors and warnings) when a rule reports an error', async () => {
    const rules = new RuleRegistry();
    rules.register('Immunization', () => [ruleIssue('error', 'vaccination-date-in-future')]);
    rules.register('Immunization', () => [ruleIssue('warning', 'lot-expired')]);
    rules.register('*', () => [ruleIssue('error', 'patient-unknown')]);
    const err = await rejection(() => validateWrite(clone(validImmunization), expectImm, context(), rules));
    expect(err.status).toBe(422);
    expect(err.outcome.issue.map((i) => i.details?.coding?.[0]?.code)).toEqual([
      'vaccination-date-in-future',
      'lot-expired',
      'patient-unknown',
    ]);
  });

  it('gives rules the context and resolves each reference once per write', async () => {
    const patient = clone(validPatient) as Resource;
    const ctx = context({ 'Patient/pat-1': patient });
    const seen: (Resource | undefined)[] = [];
    const rules = new RuleRegistry();
    const readPatient: BusinessRule = async (resource, c) => {
      expect(c.now).toBe(ctx.now);
      expect(c.interaction).toBe('create');
      seen.push(await c.resolve((resource as { patient: { reference: string } }).patient.reference));
      return [];
    };
    rules.register('Immunization', readPatient);
    rules.register('Immunization', readPatient);
    await validateWrite(clone(validImmunization), expectImm, ctx, rules);
    expect(seen).toEqual([patient, patient]);
    expect(ctx.resolve).toHaveBeenCalledTimes(1);
  });
});
