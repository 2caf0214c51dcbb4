import { describe, expect, it } from 'vitest';
import { narrowScope, roleScope } from './roles.js';

describe('role scopes', () => {
  it('grants a clinician what the app asks within her role', () => {
    expect(narrowScope('clinician', 'openid fhirUser launch/patient patient/Immunization.rs')).toBe(
      'openid fhirUser launch/patient patient/Immunization.rs'
    );
  });

  it('narrows wide requests to the role, per type', () => {
    const granted = narrowScope('reports', 'user/*.cruds').split(' ');
    expect(granted).toContain('user/Patient.rs');
    expect(granted).toContain('user/Immunization.rs');
    expect(granted.some((s) => /\.(c|u|d)/.test(s) && !s.endsWith('.rs'))).toBe(false);
  });

  it('never grants system/ scopes or unknown scopes to people', () => {
    expect(narrowScope('admin', 'system/*.cruds launch/encounter user/*.cruds')).toBe('user/*.cruds');
  });

  it('lets data-entry record but not change data sharing', () => {
    expect(narrowScope('data-entry', 'user/Consent.cruds')).toBe('user/Consent.rs');
    expect(narrowScope('data-entry', 'user/Immunization.write')).toBe('user/Immunization.cu');
  });

  it('lets reports and clinicians run coverage measures (Measure read) but not change them', () => {
    expect(narrowScope('reports', 'user/Measure.cruds')).toBe('user/Measure.rs');
    expect(narrowScope('clinician', 'user/Measure.rs')).toBe('user/Measure.rs');
    expect(narrowScope('data-entry', 'user/Measure.rs')).toBe('');
  });

  it('lists v2 scopes for every role', () => {
    expect(roleScope('site-admin')).toContain('user/*.rs');
  });
});
