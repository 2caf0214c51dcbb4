import { describe, expect, it } from 'vitest';
import { parseSearch } from './parse.js';
import { typesReached } from './reach.js';

const reached = (resourceType: string | undefined, query: string): Record<string, string> => {
  const parsed = parseSearch([...new URLSearchParams(query).entries()], { resourceType });
  return Object.fromEntries([...typesReached(parsed)].map(([type, p]) => [type, [...p].sort().join('')]));
};

describe('typesReached', () => {
  it('names the types that chains and _has search, at any depth', () => {
    expect(reached('Immunization', 'patient.family=X')).toEqual({ Patient: 's' });
    expect(reached('Immunization', 'patient:Patient.organization.name=X')).toEqual({ Patient: 's', Organization: 's' });
    expect(reached('Patient', '_has:Immunization:patient:lot-number=L')).toEqual({ Immunization: 's' });
    expect(reached('Organization', '_has:Patient:organization:_has:Immunization:patient:lot-number=L')).toEqual({ Patient: 's', Immunization: 's' });
  });

  it('leaves out the searched types, plain parameters and includes (those are left out by type when unreadable)', () => {
    expect(reached('Patient', 'family=X&link.family=Y')).toEqual({});
    expect(reached('Immunization', 'lot-number=L&_include=Immunization:patient&_revinclude=Consent:patient')).toEqual({});
  });
});
