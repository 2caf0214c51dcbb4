// Measure/{id}/$evaluate-measure over HTTP (issue 14): 4:3:1:3:3:1:4 coverage of a small synthetic
// cohort whose answer is counted by hand below, by subject, by caller (data sharing), by ZIP code
// and by age band; subject-list; the adolescent measures; bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@medplum/fhirtypes';
import { addDays, addMonths } from '../src/population/dates.js';
import { exportAll, kickoff, resourcesOf } from '../src/bulk/test-helpers.js';
import { immunization, sharingConsent, startTestServer, type TestServer } from './helpers/server.js';

const PERIOD_END = '2026-06-30';
const PRACTICE = 'Organization/practice-7';
const OTHER = 'Organization/clinic-9';

// The standard childhood schedule, [CVX, age in months]: HepB 0/2/6, DTaP 2/4/6/15, IPV 2/4/6,
// Hib (PRP-T) 2/4/6/12, PCV13 2/4/6/12, MMR 12, varicella 12 — all valid in CDSi.
const STANDARD: Array<[string, number]> = [
  ['08', 0], ['08', 2], ['08', 6],
  ['20', 2], ['20', 4], ['20', 6], ['20', 15],
  ['10', 2], ['10', 4], ['10', 6],
  ['48', 2], ['48', 4], ['48', 6], ['48', 12],
  ['133', 2], ['133', 4], ['133', 6], ['133', 12],
  ['03', 12], ['21', 12],
];

interface Child {
  id: string;
  birthDate: string;
  zip: string;
  org: string;
  doses: Array<[string, string]>;
}

const at = (birth: string, schedule: Array<[string, number]>): Array<[string, string]> => schedule.map(([cvx, m]) => [cvx, addMonths(birth, m)]);

// Counted by hand (ages on 2026-06-30):
//   A 27 mo, ZIP 62701, practice, full series                         → numerator
//   B 27 mo, ZIP 62701, practice, no MMR                              → not
//   C 33 mo, ZIP 62702, practice, 4th DTaP at 25 months (after 24)    → not
//   D 29 mo, ZIP 62702, practice, 1st PCV at 2 weeks (invalid: 3 left) → not
//   F 34 mo, ZIP 62702, practice, full series                         → numerator
//   G 25 mo, ZIP 62703, other clinic, full series                     → numerator
//   H 24 mo, ZIP 62703, practice, HepB only; said No to data sharing with the other clinic's Consent → not
//   E 40 mo, practice, full series                                    → outside the 24–35 month population
const CHILDREN: Child[] = [
  { id: 'cov-a', birthDate: '2024-03-10', zip: '62701', org: PRACTICE, doses: at('2024-03-10', STANDARD) },
  { id: 'cov-b', birthDate: '2024-03-10', zip: '62701', org: PRACTICE, doses: at('2024-03-10', STANDARD.filter(([c]) => c !== '03')) },
  { id: 'cov-c', birthDate: '2023-09-05', zip: '62702', org: PRACTICE, doses: at('2023-09-05', STANDARD.map(([c, m]) => [c, c === '20' && m === 15 ? 25 : m])) },
  {
    id: 'cov-d', birthDate: '2024-01-20', zip: '62702', org: PRACTICE,
    doses: at('2024-01-20', STANDARD).map(([c, d], i) => [c, c === '133' && STANDARD[i][1] === 2 ? addDays('2024-01-20', 14) : d]),
  },
  { id: 'cov-f', birthDate: '2023-08-15', zip: '62702', org: PRACTICE, doses: at('2023-08-15', STANDARD) },
  { id: 'cov-g', birthDate: '2024-05-01', zip: '62703', org: OTHER, doses: at('2024-05-01', STANDARD) },
  { id: 'cov-h', birthDate: '2024-06-15', zip: '62703', org: PRACTICE, doses: at('2024-06-15', STANDARD.filter(([c]) => c === '08')) },
  { id: 'cov-e', birthDate: '2023-02-01', zip: '62701', org: PRACTICE, doses: at('2023-02-01', STANDARD) },
];

describe('$evaluate-measure', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('embedded');
    const patients = CHILDREN.map((c) => ({
      resource: {
        resourceType: 'Patient', id: c.id, name: [{ family: 'Cohort', given: [c.id] }], birthDate: c.birthDate, gender: 'female',
        address: [{ line: ['5 Elm St'], city: 'Springfield', state: 'IL', postalCode: c.zip }], managingOrganization: { reference: c.org },
      },
      request: { method: 'PUT', url: `Patient/${c.id}` },
    }));
    // Teens for the adolescent measures: T1 15 years with Tdap and MenACWY at 11; T2 14 years with neither.
    patients.push(
      { resource: { resourceType: 'Patient', id: 'teen-1', name: [{ family: 'Teen', given: ['One'] }], birthDate: '2011-05-01', gender: 'male', managingOrganization: { reference: PRACTICE } } as any, request: { method: 'PUT', url: 'Patient/teen-1' } },
      { resource: { resourceType: 'Patient', id: 'teen-2', name: [{ family: 'Teen', given: ['Two'] }], birthDate: '2012-01-01', gender: 'female', managingOrganization: { reference: PRACTICE } } as any, request: { method: 'PUT', url: 'Patient/teen-2' } }
    );
    const doses = [
      ...CHILDREN.flatMap((c) => c.doses.map(([cvx, date]) => ({ ref: `Patient/${c.id}`, cvx, date }))),
      ...at('2011-05-01', STANDARD).map(([cvx, date]) => ({ ref: 'Patient/teen-1', cvx, date })),
      { ref: 'Patient/teen-1', cvx: '115', date: '2022-06-01' },
      { ref: 'Patient/teen-1', cvx: '114', date: '2022-06-01' },
      ...at('2012-01-01', STANDARD).map(([cvx, date]) => ({ ref: 'Patient/teen-2', cvx, date })),
    ].map(({ ref, cvx, date }) => ({
      resource: immunization(ref, { vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] }, occurrenceDateTime: date }),
      request: { method: 'POST', url: 'Immunization' },
    }));
    for (const entry of [patients, ...Array.from({ length: Math.ceil(doses.length / 100) }, (_, i) => doses.slice(i * 100, i * 100 + 100))]) {
      const res = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry } });
      expect(res.status, res.text).toBe(200);
      for (const e of res.body.entry) expect(e.response.status, JSON.stringify(e.response.outcome)).toMatch(/^20[01]/);
    }
    const group = await server.fhir('PUT', 'Group/cohort-g', {
      body: { resourceType: 'Group', id: 'cohort-g', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/cov-g' } }, { entity: { reference: 'Patient/cov-a' } }] },
    });
    expect(group.status, group.text).toBe(201);
    const consent = await server.fhir('POST', 'Consent', { body: sharingConsent('cov-h', { provision: { type: 'deny' }, organization: [{ reference: OTHER }] }) });
    expect(consent.status, consent.text).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  const counts = (group: any) => Object.fromEntries(group.population.map((p: any) => [p.code.coding[0].code, p.count]));

  async function evaluate(measure: string, query: string, headers?: Record<string, string>) {
    const res = await server.fhir('GET', `Measure/${measure}/$evaluate-measure?${query}`, headers ? { headers } : undefined);
    expect(res.status, res.text).toBe(200);
    expect(res.body.resourceType).toBe('MeasureReport');
    return res.body;
  }

  it('the whole registry: 7 children of 24–35 months, 3 with 4:3:1:3:3:1:4 by their second birthday', async () => {
    const report = await evaluate('childhood-combined-7', `periodEnd=${PERIOD_END}`);
    expect(report).toMatchObject({ status: 'complete', type: 'summary', period: { start: '2025-07-01', end: PERIOD_END } });
    expect(report.measure).toMatch(/Measure\/childhood-combined-7$/);
    expect(counts(report.group[0])).toEqual({ 'initial-population': 7, denominator: 7, numerator: 3 });
    expect(report.group[0].measureScore.value).toBeCloseTo(3 / 7, 4);
  });

  it('by ZIP code and by age band (stratifiers)', async () => {
    const report = await evaluate('childhood-combined-7', `periodEnd=${PERIOD_END}`);
    const strata = (code: string) =>
      Object.fromEntries(
        report.group[0].stratifier.find((s: any) => s.code[0].text === code).stratum.map((s: any) => [s.value.text, [counts(s).denominator, counts(s).numerator]])
      );
    expect(strata('zip')).toEqual({ '62701': [2, 1], '62702': [3, 1], '62703': [2, 1] });
    expect(strata('age-band')).toEqual({ '24-29 months': [5, 2], '30-35 months': [2, 1] });
  });

  it('subject Organization: its patients only; a caller acting for it does not see the child who said No', async () => {
    const publicHealth = await evaluate('childhood-combined-7', `periodEnd=${PERIOD_END}&subject=${PRACTICE}`);
    expect(publicHealth.subject).toEqual({ reference: PRACTICE });
    expect(counts(publicHealth.group[0])).toEqual({ 'initial-population': 6, denominator: 6, numerator: 2 });
    const token = server.token({ scope: 'user/Patient.rs user/Immunization.rs user/Measure.rs', organization: PRACTICE });
    const practice = await evaluate('childhood-combined-7', `periodEnd=${PERIOD_END}&subject=${PRACTICE}`, { authorization: `Bearer ${token}` });
    expect(counts(practice.group[0])).toEqual({ 'initial-population': 5, denominator: 5, numerator: 2 });
    expect(practice.group[0].measureScore.value).toBe(0.4);
  });

  it('subject Group and reportType=subject-list (POST Parameters)', async () => {
    const res = await server.fhir('POST', 'Measure/childhood-combined-7/$evaluate-measure', {
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'periodEnd', valueDate: PERIOD_END },
          { name: 'subject', valueString: 'Group/cohort-g' },
          { name: 'reportType', valueCode: 'subject-list' },
        ],
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(counts(res.body.group[0])).toEqual({ 'initial-population': 2, denominator: 2, numerator: 2 });
    const numerator = res.body.group[0].population.find((p: any) => p.code.coding[0].code === 'numerator');
    const list = res.body.contained.find((c: any) => `#${c.id}` === numerator.subjectResults.reference);
    expect(list.entry.map((e: any) => e.item.reference).sort()).toEqual(['Patient/cov-a', 'Patient/cov-g']);
  });

  it('a subject-list report is audited naming every patient it lists (synchronous, and its job\'s file); a summary names none', async () => {
    const auditOf = async (requestId: string) => {
      await server.audit.flush(5000);
      const events: AuditEvent[] = [];
      for await (const r of server.store.scan('AuditEvent', {})) {
        const e = r.resource as AuditEvent;
        if (e.entity?.some((x) => x.what?.identifier?.value === requestId)) events.push(e);
      }
      return events;
    };
    const patientsOf = (events: AuditEvent[]) => [...new Set(events.flatMap((e) => (e.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference)))].sort();
    const query = `periodEnd=${PERIOD_END}&subject=${PRACTICE}&reportType=subject-list`;
    const listed = ['Patient/cov-a', 'Patient/cov-b', 'Patient/cov-c', 'Patient/cov-d', 'Patient/cov-f', 'Patient/cov-h'];
    await evaluate('childhood-combined-7', query, { 'x-request-id': 'measure-list-1' });
    expect(patientsOf(await auditOf('measure-list-1'))).toEqual(listed);
    await evaluate('childhood-combined-7', `periodEnd=${PERIOD_END}&subject=${PRACTICE}`, { 'x-request-id': 'measure-summary-1' });
    const summary = await auditOf('measure-summary-1');
    expect(summary.length).toBe(1);
    expect(patientsOf(summary)).toEqual([]);
    const token = server.token();
    const { manifest } = await exportAll(server.baseUrl, `Measure/childhood-combined-7/$evaluate-measure?${query}`, { token, headers: { 'x-request-id': 'measure-list-job' } });
    const [report] = await resourcesOf(manifest, 'MeasureReport', token);
    expect(report.contained.length).toBeGreaterThan(0);
    const jobEvents = (await auditOf('measure-list-job')).filter((e) => e.outcomeDesc?.includes('written to its MeasureReport file'));
    expect(patientsOf(jobEvents)).toEqual(listed);
  });

  it('adolescent measures: Tdap and MenACWY at 10 years or older; HPV', async () => {
    const tdap = await evaluate('adolescent-tdap', `periodEnd=${PERIOD_END}`);
    expect(counts(tdap.group[0])).toEqual({ 'initial-population': 2, denominator: 2, numerator: 1 });
    const mening = await evaluate('adolescent-mening', `periodEnd=${PERIOD_END}`);
    expect(counts(mening.group[0])).toEqual({ 'initial-population': 2, denominator: 2, numerator: 1 });
    const hpv = await evaluate('adolescent-hpv-utd', `periodEnd=${PERIOD_END}`);
    expect(counts(hpv.group[0])).toEqual({ 'initial-population': 2, denominator: 2, numerator: 0 });
  });

  it('Prefer: respond-async: a job polled like $export whose one MeasureReport is the synchronous answer', async () => {
    const token = server.token({ scope: 'user/Patient.rs user/Immunization.rs user/Measure.rs', organization: PRACTICE });
    const query = `Measure/childhood-combined-7/$evaluate-measure?periodEnd=${PERIOD_END}&subject=${PRACTICE}`;
    const { manifest } = await exportAll(server.baseUrl, query, { token });
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['MeasureReport', 1]]);
    const [report] = await resourcesOf(manifest, 'MeasureReport', token);
    const sync = await evaluate('childhood-combined-7', `periodEnd=${PERIOD_END}&subject=${PRACTICE}`, { authorization: `Bearer ${token}` });
    expect(counts(report.group[0])).toEqual({ 'initial-population': 5, denominator: 5, numerator: 2 }); // cov-h hidden from the practice
    expect(report.group).toEqual(sync.group);
    const bad = await kickoff(server.baseUrl, 'Measure/no-such-measure/$evaluate-measure?periodEnd=2026-06-30', { token });
    expect(bad.status).toBe(404);
  });

  it('bad input is a 400 (or 404) OperationOutcome', async () => {
    for (const [path, status] of [
      ['Measure/childhood-combined-7/$evaluate-measure', 400],
      ['Measure/childhood-combined-7/$evaluate-measure?periodEnd=2026-13-01', 400],
      [`Measure/childhood-combined-7/$evaluate-measure?periodEnd=${PERIOD_END}&reportType=population`, 400],
      [`Measure/childhood-combined-7/$evaluate-measure?periodEnd=${PERIOD_END}&subject=Patient/cov-a`, 400],
      [`Measure/childhood-combined-7/$evaluate-measure?periodEnd=${PERIOD_END}&periodStart=2027-01-01`, 400],
      [`Measure/no-such-measure/$evaluate-measure?periodEnd=${PERIOD_END}`, 404],
      [`Measure/childhood-combined-7/$evaluate-measure?periodEnd=${PERIOD_END}&subject=Group/missing`, 404],
      // A second value is not silently preferred; a dateTime must be one (seconds and offset).
      [`Measure/childhood-combined-7/$evaluate-measure?periodEnd=${PERIOD_END}&periodEnd=2020-01-01`, 400],
      [`Measure/childhood-combined-7/$evaluate-measure?periodEnd=${PERIOD_END}&subject=${PRACTICE}&subject=${OTHER}`, 400],
      ['Measure/childhood-combined-7/$evaluate-measure?periodEnd=2026-06-30Tjunk', 400],
      ['Measure/childhood-combined-7/$evaluate-measure?periodEnd=2026-06-30T25:00:00Z', 400],
    ] as const) {
      const res = await server.fhir('GET', path);
      expect(res.status, path).toBe(status);
      expect(res.body.resourceType, path).toBe('OperationOutcome');
    }
  });
});
