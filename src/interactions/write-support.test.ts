import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { HandlerContext } from './types.js';
import { copyWithId } from '../store/store.js';
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

describe('copyWithId', () => {
  /** Everything a copy is: its JSON (key order included), own keys, prototype and each own property's descriptor. */
  const shape = (o: object) => ({
    json: JSON.stringify(o),
    keys: Reflect.ownKeys(o),
    proto: Object.getPrototypeOf(o) as unknown,
    descriptors: Object.getOwnPropertyDescriptors(o),
  });

  it('gives what { ...resource, id } gives, for any parsed JSON object, and leaves the resource as it was', () => {
    // Bodies arrive through JSON.parse, which makes own "__proto__", "constructor" and "id" keys of any value.
    const key = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'id', 'constructor', 'resourceType', 'meta', 'toString'));
    const value = fc.jsonValue();
    const body = fc.array(fc.tuple(key, value), { maxLength: 8 }).map((pairs) => {
      const text = `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
      return JSON.parse(text) as object;
    });
    fc.assert(
      fc.property(body, fc.string({ minLength: 1 }), (resource, id) => {
        const before = JSON.stringify(resource);
        const copy = copyWithId(resource, id);
        expect(shape(copy)).toEqual(shape({ ...resource, id }));
        expect(copy).not.toBe(resource);
        expect(JSON.stringify(resource)).toBe(before);
      }),
      { numRuns: 2000 }
    );
  });

  it('copies a body whose own "__proto__" key is data as data (the prototype stays Object.prototype)', () => {
    const body = JSON.parse('{"resourceType":"Immunization","__proto__":{"polluted":true},"status":"completed"}') as object;
    const copy = copyWithId(body, 'x') as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(copy.polluted).toBeUndefined();
    expect(JSON.stringify(copy)).toBe('{"resourceType":"Immunization","__proto__":{"polluted":true},"status":"completed","id":"x"}');
  });
});
