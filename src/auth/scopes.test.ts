// SMART App Launch 2 scope syntax (v1 and v2), the permission each interaction needs, and the
// requested ∩ allowed scope grant of the token endpoint.
import { describe, expect, it } from 'vitest';
import { grants, intersectScopes, parseScope, parseScopes, permissionsFor, v2Letters, type Permission } from './scopes.js';

const perms = (scope: string) => {
  const parsed = parseScope(scope);
  return parsed ? v2Letters(parsed.permissions) : undefined;
};

describe('parseScope', () => {
  it.each([
    ['patient/Immunization.read', 'patient', 'Immunization', 'rs'],
    ['user/*.*', 'user', '*', 'cruds'],
    ['system/Patient.write', 'system', 'Patient', 'cud'],
    ['patient/Immunization.rs', 'patient', 'Immunization', 'rs'],
    ['system/*.cruds', 'system', '*', 'cruds'],
    ['user/Consent.c', 'user', 'Consent', 'c'],
    ['user/Consent.cd', 'user', 'Consent', 'cd'],
    ['system/Group.s', 'system', 'Group', 's'],
    ['system/Patient.ruds', 'system', 'Patient', 'ruds'],
  ])('%s → %s %s %s', (scope, context, type, letters) => {
    const parsed = parseScope(scope);
    expect(parsed?.context).toBe(context);
    expect(parsed?.resourceType).toBe(type);
    expect(v2Letters(parsed!.permissions)).toBe(letters);
  });

  it.each([
    'system/Patient.sr', // v2 letters out of order
    'system/Patient.rr', // repeated
    'system/Patient.x',
    'system/Patient.', // empty
    'system/Patient.Read', // case
    'system/Patient.r*',
    'system/*.rs?category=x', // v2 query restrictions are not evaluated: grant nothing
    'admin/Patient.read', // unknown context
    'Patient.read',
    'system/Patient',
    'openid',
    'launch/patient',
    'fhirUser',
    'offline_access',
    '',
  ])('%s grants nothing', (scope) => {
    expect(parseScope(scope)).toBeUndefined();
  });

  it('parses a space-separated list, skipping what is not a resource scope', () => {
    const scopes = parseScopes('openid  fhirUser system/Patient.rs\tuser/*.write launch');
    expect(scopes.map((s) => `${s.context}/${s.resourceType}.${v2Letters(s.permissions)}`)).toEqual(['system/Patient.rs', 'user/*.cud']);
    expect(parseScopes(undefined)).toEqual([]);
    expect(parseScopes('')).toEqual([]);
  });
});

describe('permissionsFor and grants', () => {
  it('maps each interaction to the v2 letters it needs', () => {
    expect(permissionsFor('read')).toEqual(['r']);
    expect(permissionsFor('vread')).toEqual(['r']);
    expect(permissionsFor('history-instance')).toEqual(['r']);
    expect(permissionsFor('search-type')).toEqual(['s']);
    expect(permissionsFor('history-type')).toEqual(['s']);
    expect(permissionsFor('create')).toEqual(['c']);
    expect(permissionsFor('update')).toEqual(['u']);
    expect(permissionsFor('patch')).toEqual(['u']);
    expect(permissionsFor('delete')).toEqual(['d']);
    expect(permissionsFor('conditional-update')).toEqual(['u', 's']);
    expect(permissionsFor('conditional-delete')).toEqual(['d', 's']);
    expect(permissionsFor('operation', 'validate')).toEqual(['r']);
    expect(permissionsFor('capabilities')).toEqual([]);
    expect(permissionsFor('batch')).toEqual([]);
  });

  it('grants only in the allowed contexts, for the type or *, every permission needed', () => {
    const scopes = parseScopes('user/Patient.r user/Patient.s patient/Immunization.cruds system/Consent.read');
    const need = (p: Permission[]) => p;
    expect(grants(scopes, 'Patient', need(['r', 's']), ['user', 'system'])).toBe(true); // from two scopes
    expect(grants(scopes, 'Patient', need(['u']), ['user', 'system'])).toBe(false);
    expect(grants(scopes, 'Immunization', need(['r']), ['user', 'system'])).toBe(false); // patient/ only
    expect(grants(scopes, 'Immunization', need(['r']), ['patient'])).toBe(true);
    expect(grants(scopes, 'Consent', need(['s']), ['system'])).toBe(true); // v1 read = rs
    expect(grants(scopes, 'Consent', need(['c']), ['system'])).toBe(false);
    expect(grants(parseScopes('system/*.rs'), 'Group', need(['s']), ['system'])).toBe(true);
    expect(grants(parseScopes('system/*.rs'), 'Group', need(['d']), ['system'])).toBe(false);
  });
});

describe('intersectScopes (token endpoint: requested ∩ allowed)', () => {
  it('grants a requested scope an allowed one covers as written (v1 or v2)', () => {
    expect(intersectScopes('system/Patient.read', 'system/*.cruds')).toEqual(['system/Patient.read']);
    expect(intersectScopes('system/Patient.rs system/Immunization.c', 'system/*.rs system/Immunization.cruds')).toEqual([
      'system/Patient.rs',
      'system/Immunization.c',
    ]);
    expect(intersectScopes('system/*.*', 'system/*.cruds')).toEqual(['system/*.*']);
  });

  it('narrows a partly covered scope to the intersection, in v2 syntax', () => {
    expect(intersectScopes('system/*.cruds', 'system/Patient.rs system/Immunization.cruds')).toEqual([
      'system/Patient.rs',
      'system/Immunization.cruds',
    ]);
    expect(intersectScopes('system/Patient.*', 'system/Patient.read')).toEqual(['system/Patient.rs']);
    expect(intersectScopes('system/Patient.write', 'system/*.cd')).toEqual(['system/Patient.cd']);
  });

  it('never widens: other contexts, types and permissions are not granted', () => {
    expect(intersectScopes('user/*.cruds', 'system/*.cruds')).toEqual([]);
    expect(intersectScopes('system/Consent.rs', 'system/Patient.cruds')).toEqual([]);
    expect(intersectScopes('system/Patient.d', 'system/Patient.rs')).toEqual([]);
    expect(intersectScopes('patient/*.rs', 'system/*.rs')).toEqual([]);
  });

  it('grants non-resource and query-restricted scopes only verbatim, and drops duplicates', () => {
    expect(intersectScopes('openid launch system/Patient.rs?active=true', 'system/*.rs')).toEqual([]);
    expect(intersectScopes('system/Patient.rs?active=true', 'system/Patient.rs?active=true')).toEqual(['system/Patient.rs?active=true']);
    expect(intersectScopes('system/Patient.rs system/Patient.rs', 'system/*.rs')).toEqual(['system/Patient.rs']);
    expect(intersectScopes('', 'system/*.rs')).toEqual([]);
  });
});

// Keep v2Letters in cruds order whatever the input order.
describe('v2Letters', () => {
  it('orders letters as cruds', () => {
    expect(v2Letters(new Set<Permission>(['s', 'c', 'r']))).toBe('crs');
    expect(perms('user/*.*')).toBe('cruds');
  });
});
