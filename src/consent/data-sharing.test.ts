// A patient's status from its Consents: the contract's newest-decides order, a dateTime later than
// the Consent was stored, provision periods and nested provisions (FHIR R4 Consent semantics).
import type { Consent } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { dataSharingOf, nextPeriodBoundary } from './data-sharing.js';

const NOW = new Date('2026-06-15T12:00:00Z');

const consent = (id: string, over: Partial<Consent>): Consent => ({
  resourceType: 'Consent',
  id,
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: 'Patient/7' },
  ...over,
});
const stored = (at: string) => ({ meta: { lastUpdated: at } });
const actor = (org: string) => ({ role: { text: 'custodian' }, reference: { reference: org } });

describe('newest decides', () => {
  it('by dateTime, then meta.lastUpdated, for Consents dated when or before they were stored', () => {
    const deny = consent('d', { dateTime: '2026-01-02', provision: { type: 'deny' }, ...stored('2026-01-05T00:00:00Z') });
    const permit = consent('p', { dateTime: '2026-01-01', provision: { type: 'permit' }, ...stored('2026-02-01T00:00:00Z') });
    expect(dataSharingOf([permit, deny], NOW)).toMatchObject({ status: 'no', decidedBy: 'd' });
    const sameDay = consent('p2', { dateTime: '2026-01-02', provision: { type: 'permit' }, ...stored('2026-01-06T00:00:00Z') });
    expect(dataSharingOf([deny, sameDay], NOW)).toMatchObject({ status: 'yes', decidedBy: 'p2' });
  });

  it('Consents without a dateTime: the one stored last decides, in whatever order they were read', () => {
    const permit = consent('p', { provision: { type: 'permit' }, ...stored('2026-01-01T00:00:00Z') });
    const deny = consent('d', { provision: { type: 'deny' }, ...stored('2026-01-02T00:00:00Z') });
    expect(dataSharingOf([permit, deny], NOW)).toMatchObject({ status: 'no', decidedBy: 'd' });
    expect(dataSharingOf([deny, permit], NOW)).toMatchObject({ status: 'no', decidedBy: 'd' });
    // A dated Consent still outranks an undated one (the contract orders by dateTime first).
    const dated = consent('t', { dateTime: '2025-01-01', provision: { type: 'permit' }, ...stored('2025-01-01T00:00:00Z') });
    expect(dataSharingOf([deny, dated], NOW)).toMatchObject({ status: 'yes', decidedBy: 't' });
  });

  it('a dateTime later than the Consent was stored counts as the moment it was stored: it cannot pin the choice', () => {
    const future = consent('f', { dateTime: '2099-01-01', provision: { type: 'deny' }, ...stored('2026-03-01T00:00:00Z') });
    const withdrawal = consent('w', { dateTime: '2026-04-01T00:00:00Z', provision: { type: 'permit' }, ...stored('2026-04-01T00:00:01Z') });
    expect(dataSharingOf([future], NOW)).toMatchObject({ status: 'no' });
    expect(dataSharingOf([future, withdrawal], NOW)).toMatchObject({ status: 'yes', decidedBy: 'w' });
    // Written before the future-dated one, the permit stays older.
    const earlier = consent('e', { dateTime: '2026-02-01', provision: { type: 'permit' }, ...stored('2026-02-01T00:00:00Z') });
    expect(dataSharingOf([earlier, future], NOW)).toMatchObject({ status: 'no', decidedBy: 'f' });
  });
});

describe('provision.period', () => {
  it('a Consent whose provision period has ended or not yet begun takes no part', () => {
    const older = consent('o', { dateTime: '2025-01-01', provision: { type: 'deny' } });
    const ended = consent('x', { dateTime: '2026-01-01', provision: { type: 'permit', period: { start: '2026-01-01', end: '2026-06-14' } } });
    expect(dataSharingOf([older, ended], NOW)).toMatchObject({ status: 'no', decidedBy: 'o' });
    const endsToday = consent('t', { dateTime: '2026-01-01', provision: { type: 'permit', period: { end: '2026-06-15' } } });
    expect(dataSharingOf([older, endsToday], NOW)).toMatchObject({ status: 'yes', decidedBy: 't' });
    const notYet = consent('n', { dateTime: '2026-01-01', provision: { type: 'deny', period: { start: '2026-07-01' } } });
    expect(dataSharingOf([notYet], NOW)).toEqual({ status: 'yes', exemptOrganizations: [] });
    const running = consent('r', { dateTime: '2026-01-01', provision: { type: 'deny', period: { start: '2026-06-01', end: '2026-12' } } });
    expect(dataSharingOf([running], NOW)).toMatchObject({ status: 'no', decidedBy: 'r' });
  });

  it('a nested permit whose period ended no longer exempts its organization', () => {
    const deny = consent('d', {
      provision: {
        type: 'deny',
        provision: [
          { type: 'permit', actor: [actor('Organization/A')], period: { end: '2026-05-31' } },
          { type: 'permit', actor: [actor('Organization/B')], period: { start: '2026-06-01' } },
        ],
      },
    });
    expect(dataSharingOf([deny], NOW).exemptOrganizations).toEqual(['Organization/B']);
  });

  it('names the next instant a period begins or ends', () => {
    const c = consent('c', { provision: { type: 'deny', period: { start: '2026-06-01', end: '2026-06-20' }, provision: [{ type: 'permit', period: { start: '2026-06-16T08:00:00Z' } }] } });
    expect(new Date(nextPeriodBoundary([c], NOW)).toISOString()).toBe('2026-06-16T08:00:00.000Z');
    expect(nextPeriodBoundary([consent('none', { provision: { type: 'deny' } })], NOW)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('nested provisions refine who', () => {
  it('a deny nested in a permit names the organizations that do not see the patient (status stays Yes)', () => {
    const permit = consent('p', { provision: { type: 'permit', provision: [{ type: 'deny', actor: [actor('http://host/fhir/Organization/X')] }] } });
    expect(dataSharingOf([permit], NOW)).toEqual({ status: 'yes', exemptOrganizations: [], deniedOrganizations: ['Organization/X'], decidedBy: 'p' });
  });

  it('a deny nested in a deny exempts nobody', () => {
    const deny = consent('d', { provision: { type: 'deny', provision: [{ type: 'deny', actor: [actor('Organization/X')] }] } });
    expect(dataSharingOf([deny], NOW)).toEqual({ status: 'no', exemptOrganizations: [], decidedBy: 'd' });
  });
});
