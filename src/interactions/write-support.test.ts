import type { Resource } from '@medplum/fhirtypes';
import { describe, expect, it, vi } from 'vitest';
import type { HandlerContext } from './types.js';
import { ruleContext, type PendingResources } from './write-support.js';

function contextWith(read: (type: string, id: string) => Promise<unknown>, access: object): HandlerContext {
  return { store: { read }, access } as unknown as HandlerContext;
}

const patient = { resourceType: 'Patient', id: 'p1', birthDate: '2020-01-01' } as Resource;

describe('ruleContext().resolve', () => {
  it('reads a resource once per transaction and access policy, however many entries name it', async () => {
    const read = vi.fn(async () => ({ resourceType: 'Patient', id: 'p1', versionId: 1, deleted: false, resource: patient }));
    const policy = { kind: 'public-health' };
    const pending: PendingResources = new Map();
    // Three entries of one transaction (each its own rule context, as each entry's write has).
    for (let i = 0; i < 3; i++) expect(await ruleContext(contextWith(read, policy), 'create', pending).resolve('Patient/p1')).toBe(patient);
    expect(read).toHaveBeenCalledTimes(1);
    // An entry under another policy (a patient/ scope's compartment) reads for itself.
    await ruleContext(contextWith(read, { kind: 'patient-compartment' }), 'create', pending).resolve('Patient/p1');
    expect(read).toHaveBeenCalledTimes(2);
    // Another transaction reads again; a single write (no transaction) always reads.
    await ruleContext(contextWith(read, policy), 'create', new Map()).resolve('Patient/p1');
    await ruleContext(contextWith(read, policy), 'create').resolve('Patient/p1');
    await ruleContext(contextWith(read, policy), 'create').resolve('Patient/p1');
    expect(read).toHaveBeenCalledTimes(5);
  });

  it('answers what the transaction writes itself without reading, and a refused read refuses every entry', async () => {
    const refusal = Object.assign(new Error('hidden'), { status: 403 });
    const read = vi.fn(async () => {
      throw refusal;
    });
    const policy = { kind: 'organization' };
    const pending: PendingResources = new Map([['Patient/new', patient]]);
    expect(await ruleContext(contextWith(read, policy), 'create', pending).resolve('Patient/new')).toBe(patient);
    expect(read).not.toHaveBeenCalled();
    await expect(ruleContext(contextWith(read, policy), 'create', pending).resolve('Patient/hidden')).rejects.toBe(refusal);
    await expect(ruleContext(contextWith(read, policy), 'create', pending).resolve('Patient/hidden')).rejects.toBe(refusal);
  });
});
