import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuleRegistry, rejectionStatus, validateWrite } from './business-rules.js';
import { StructuralValidationPool } from './structural-pool.js';
import { clone, validImmunization, validPatient } from './test-fixtures.js';
import { validateResource } from './validate-resource.js';
import { extractSearchIndex } from '../search/extract.js';
import type { AuditEvent } from '@medplum/fhirtypes';

const pool = new StructuralValidationPool(1);
beforeAll(() => pool.warm(), 120_000);
afterAll(() => pool.close());

const bodies: Array<[string, unknown, { resourceType?: string; id?: string; requireId?: boolean }]> = [
  ['a valid Patient', clone(validPatient), { resourceType: 'Patient' }],
  ['a valid Immunization', clone(validImmunization), { resourceType: 'Immunization' }],
  ['a wrong resourceType (400)', { ...clone(validPatient), resourceType: 'Immunization' }, { resourceType: 'Patient' }],
  ['an update without its id (400)', clone(validPatient), { resourceType: 'Patient', id: 'p1', requireId: true }],
  ['broken structure and codes (422)', { ...clone(validImmunization), status: 'done', occurrenceDateTime: '2019-02-29', lotNumber: ['x'] }, { resourceType: 'Immunization' }],
  ['not an object', [1, 2], { resourceType: 'Patient' }],
];

describe('StructuralValidationPool', () => {
  it.each(bodies)('gives the same issues and status as the request thread for %s', async (_name, body, expect_) => {
    const inThread = validateResource(body, expect_);
    const inWorker = await pool.validate(body, expect_);
    expect(inWorker).toEqual(inThread);
    // The 400/422 decision rests on marks kept by object identity: they survive the thread hop.
    expect(rejectionStatus(inWorker)).toBe(rejectionStatus(inThread));
  });

  it('answers many validations at once, each with its own issues', async () => {
    const inputs = Array.from({ length: 40 }, (_, i) => (i % 2 ? clone(validImmunization) : { ...clone(validImmunization), status: `bad-${i}` }));
    const results = await Promise.all(inputs.map((input) => pool.validate(input, { resourceType: 'Immunization' })));
    results.forEach((issues, i) => expect(issues).toEqual(validateResource(inputs[i], { resourceType: 'Immunization' })));
  });

  it('is what validateWrite uses when the RuleRegistry is given it, with the same outcome', async () => {
    const rules = new RuleRegistry({ structural: pool });
    const ctx = { now: new Date('2024-06-01T00:00:00Z'), interaction: 'create' as const, resolve: async () => undefined };
    await expect(validateWrite({ resourceType: 'Patient', id: 'x' }, { resourceType: 'Patient', id: 'y', requireId: true }, ctx, rules)).rejects.toMatchObject({ status: 400 });
    await expect(validateWrite({ ...clone(validPatient), gender: 'f' }, { resourceType: 'Patient' }, ctx, rules)).rejects.toMatchObject({ status: 422 });
    const ok = await validateWrite(clone(validPatient), { resourceType: 'Patient' }, ctx, rules);
    expect(ok.resource.resourceType).toBe('Patient');
  });

  it('answers a prefetched validation from the worker it started in, and equal content only', async () => {
    const body = { ...clone(validImmunization), status: 'done' };
    pool.prefetch?.(body, { resourceType: 'Immunization' });
    const copy = clone(body);
    expect(await pool.validate(copy, { resourceType: 'Immunization' })).toEqual(validateResource(copy, { resourceType: 'Immunization' }));
    // Other expectations of the same body are their own validation.
    const asUpdate = await pool.validate(copy, { resourceType: 'Immunization', id: 'i1', requireId: true });
    expect(asUpdate).toEqual(validateResource(copy, { resourceType: 'Immunization', id: 'i1', requireId: true }));
    expect(rejectionStatus(asUpdate)).toBe(400);
  });

  it('validates in the request thread until its worker is warm, with the same result', async () => {
    const cold = new StructuralValidationPool(1);
    try {
      const body = { ...clone(validImmunization), status: 'done' };
      expect(await cold.validate(body, { resourceType: 'Immunization' })).toEqual(validateResource(body, { resourceType: 'Immunization' }));
      await cold.warm();
      expect(await cold.validate(body, { resourceType: 'Immunization' })).toEqual(validateResource(body, { resourceType: 'Immunization' }));
    } finally {
      await cold.close();
    }
  }, 120_000);

  it('extracts the same search values as the request thread (AuditEvents), without starting cold workers', async () => {
    const event: AuditEvent = {
      resourceType: 'AuditEvent',
      id: 'a1',
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      action: 'C',
      recorded: '2026-12-06T10:00:00.000Z',
      outcome: '0',
      agent: [{ who: { identifier: { value: 'client-1' }, display: 'acting for Organization/o1' }, requestor: true }],
      source: { observer: { identifier: { value: 'http://x/fhir' } } },
      entity: Array.from({ length: 30 }, (_, i) => ({ what: { reference: `Patient/p${i}` }, role: { code: '1' } })),
    };
    expect(await pool.searchIndexOf(event)).toEqual(extractSearchIndex(event));
    const cold = new StructuralValidationPool(1);
    expect(await cold.searchIndexOf(event)).toEqual(extractSearchIndex(event));
    expect((cold as unknown as { workers: unknown[] }).workers).toHaveLength(0);
    await cold.close();
  });

  it('falls back to the request thread once closed', async () => {
    const closed = new StructuralValidationPool(1);
    await closed.close();
    expect(await closed.validate(clone(validPatient), { resourceType: 'Patient' })).toEqual([]);
  });
});
