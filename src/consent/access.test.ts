// The patients an organization may not see are worked out once per snapshot of the data-sharing
// index and organization (every request of an organization caller needs them), and each policy
// still answers for its own organization.
import { describe, expect, it } from 'vitest';
import type { Caller } from '../fhir/request.js';
import { accessPolicyFor } from './access.js';
import type { DataSharing } from './data-sharing.js';
import type { SharingIndex } from './sharing-index.js';

/** A restricted map that counts how often it is gone through. */
class CountedMap extends Map<string, DataSharing> {
  walks = 0;
  override [Symbol.iterator](): MapIterator<[string, DataSharing]> {
    this.walks++;
    return super[Symbol.iterator]();
  }
  override entries(): MapIterator<[string, DataSharing]> {
    this.walks++;
    return super.entries();
  }
  override keys(): MapIterator<string> {
    this.walks++;
    return super.keys();
  }
  override forEach(...args: Parameters<Map<string, DataSharing>['forEach']>): void {
    this.walks++;
    super.forEach(...args);
  }
}

const organization = (id: string): Caller => ({ scopes: [], scope: '', organization: `Organization/${id}` }) as unknown as Caller;
const indexOf = (map: Map<string, DataSharing>) => ({ restricted: async () => map }) as unknown as SharingIndex;

function snapshot(): CountedMap {
  const map = new CountedMap();
  map.set('Patient/no-but-a', { status: 'no', exemptOrganizations: ['Organization/a'] });
  map.set('Patient/unknown', { status: 'unknown', exemptOrganizations: [] });
  map.set('Patient/yes-but-b', { status: 'yes', exemptOrganizations: [], deniedOrganizations: ['Organization/b'] });
  return map;
}

describe('the patients hidden from an organization', () => {
  it('are worked out once per snapshot and organization, each policy answering for its own organization', async () => {
    const map = snapshot();
    const sharing = indexOf(map);
    const a1 = await accessPolicyFor(organization('a'), undefined, sharing);
    const a2 = await accessPolicyFor(organization('a'), undefined, sharing);
    expect(map.walks).toBe(1);
    expect(a1.hiddenPatients).toEqual(['Patient/unknown']);
    expect(a2.hiddenPatients).toBe(a1.hiddenPatients);
    expect(a2.accessFilter('Patient')).toEqual({ _id: { $nin: ['unknown'] } });
    expect(a2.accessFilter('Immunization')).toEqual({ 's.patient': { $nin: ['Patient/unknown'] } });
    expect(a2.visible({ resourceType: 'Patient', id: 'no-but-a' })).toBe(true);
    expect(a2.visible({ resourceType: 'Patient', id: 'unknown' })).toBe(false);

    const b = await accessPolicyFor(organization('b'), undefined, sharing);
    expect(map.walks).toBe(2);
    expect(b.hiddenPatients).toEqual(['Patient/no-but-a', 'Patient/unknown', 'Patient/yes-but-b']);
    expect(b.visible({ resourceType: 'Immunization', id: 'i', patient: { reference: 'Patient/yes-but-b' } } as never)).toBe(false);
    const c = await accessPolicyFor(organization('c'), undefined, sharing);
    expect(c.hiddenPatients).toEqual(['Patient/no-but-a', 'Patient/unknown']);
    expect(c.visible({ resourceType: 'Patient', id: 'yes-but-b' })).toBe(true);

    // A new snapshot (a Consent or link changed) is gone through again.
    const next = snapshot();
    next.delete('Patient/unknown');
    const aNext = await accessPolicyFor(organization('a'), undefined, indexOf(next));
    expect(next.walks).toBe(1);
    expect(aNext.hiddenPatients).toEqual([]);
    expect(aNext.restricts).toBe(false);
    expect(aNext.accessFilter('Patient')).toBeUndefined();
  });

  it('hands out lists no request can change for the next one', async () => {
    const policy = await accessPolicyFor(organization('d'), undefined, indexOf(snapshot()));
    expect(Object.isFrozen(policy.hiddenPatients)).toBe(true);
    expect(Object.isFrozen((policy.accessFilter('Patient') as { _id: { $nin: string[] } })._id.$nin)).toBe(true);
  });
});
