// The app's pure logic: typed dates, forecast rows and urgency, data-sharing status, error wording,
// vaccine suggestions.
import { describe, expect, it } from 'vitest';
import { ageAt, parseDate, showDate } from './dates';
import { describeFailure, STATUS_TEXT } from './errors';
import { mayCreate } from './scopes';
import type { Bundle, Consent, Parameters, Patient } from './fhir-types';
import { readForecast } from './forecast';
import { currentSharing, newSharingConsent, personRecordIds, sharingHistory } from './sharing';
import { doseVaccineName, ndcDigits, resolveVaccine, suggest, vaccineLabel, type Vaccine } from './vaccines';

describe('dates', () => {
  it('reads ISO and US forms, refuses impossible dates', () => {
    expect(parseDate('2024-03-05')).toBe('2024-03-05');
    expect(parseDate('3/5/2024')).toBe('2024-03-05');
    expect(parseDate('03052024')).toBe('2024-03-05');
    expect(parseDate('2023-02-29')).toBeUndefined();
    expect(parseDate('13/01/2024')).toBeUndefined();
    expect(parseDate('soon')).toBeUndefined();
    expect(showDate('2024-03-05T10:00:00Z')).toBe('5 Mar 2024');
    expect(ageAt('2024-01-10', '2025-02-09')).toBe('12 months');
    expect(ageAt('2020-01-10', '2025-02-09')).toBe('5 years');
  });
});

describe('forecast', () => {
  const rec = (group: string, status: string, recommended?: string, pastDue?: string) => ({
    vaccineCode: [{ text: group }],
    forecastStatus: { coding: [{ system: 'http://hl7.org/fhir/us/immds/CodeSystem/ForecastStatus', code: status }] },
    doseNumberPositiveInt: 2,
    dateCriterion: [
      ...(recommended ? [{ code: { coding: [{ system: 'http://loinc.org', code: '30980-7' }] }, value: recommended }] : []),
      ...(pastDue ? [{ code: { coding: [{ system: 'http://loinc.org', code: '59778-1' }] }, value: pastDue }] : []),
    ],
  });
  it('flags overdue and due groups first and keys evaluations by immunization', () => {
    const params = {
      resourceType: 'Parameters',
      parameter: [
        {
          name: 'recommendation',
          resource: {
            resourceType: 'ImmunizationRecommendation',
            recommendation: [rec('MMR', 'notComplete', '2025-06-01', '2025-09-01'), rec('HepB', 'complete'), rec('Polio', 'notComplete', '2024-01-01', '2024-05-01'), rec('HPV', 'notComplete', '2030-01-01', '2031-01-01')],
          },
        },
        {
          name: 'evaluation',
          resource: {
            resourceType: 'ImmunizationEvaluation',
            immunizationEvent: { reference: 'Immunization/abc' },
            targetDisease: { text: 'Measles' },
            doseStatus: { coding: [{ code: 'notvalid' }] },
            doseStatusReason: [{ text: 'Age: Too Young' }],
          },
        },
      ],
    } as Parameters;
    const forecast = readForecast(params, '2025-07-01');
    expect(forecast.rows.map((r) => [r.group, r.urgency])).toEqual([
      ['Polio', 'overdue'],
      ['MMR', 'due'],
      ['HPV', 'upcoming'],
      ['HepB', 'none'],
    ]);
    expect(forecast.rows[3].status).toBe('Complete');
    expect(forecast.evaluations.get('abc')).toEqual([{ antigen: 'Measles', valid: false, reason: 'Age: Too Young', series: undefined }]);
  });
});

describe('data sharing', () => {
  const consent = (status: Consent['status'], type: 'permit' | 'deny' | undefined, dateTime: string): Consent => ({
    ...newSharingConsent('p1', type === 'deny' ? 'No' : 'Yes', 'Organization/a'),
    status,
    provision: type ? { type } : undefined,
    dateTime,
  });
  it('the newest privacy Consent decides; none means Yes', () => {
    expect(currentSharing([])).toBe('Yes');
    expect(currentSharing([consent('proposed', undefined, '2024-01-01')])).toBe('Unknown');
    const history = [consent('active', 'deny', '2024-02-01'), consent('active', 'permit', '2024-03-01'), consent('proposed', undefined, '2024-01-01')];
    expect(currentSharing(history)).toBe('Yes');
    expect(sharingHistory(history).map((c) => c.dateTime)).toEqual(['2024-03-01', '2024-02-01', '2024-01-01']);
    expect(currentSharing(history.slice(0, 1))).toBe('No');
    // A Consent dated in the future counts as stored; a period that ended takes no part; instants, not strings.
    const future = { ...consent('active', 'deny', '2099-01-01'), meta: { lastUpdated: '2024-04-01T00:00:00Z' } };
    const later = { ...consent('active', 'permit', '2024-05-01'), meta: { lastUpdated: '2024-05-01T00:00:00Z' } };
    expect(currentSharing([future, later])).toBe('Yes');
    expect(currentSharing([future])).toBe('No');
    const ended = { ...consent('active', 'permit', '2024-06-01'), provision: { type: 'permit' as const, period: { end: '2024-06-30' } } };
    expect(currentSharing([history[0]!, ended])).toBe('No');
    expect(currentSharing([consent('active', 'permit', '2024-03-01T09:00:00Z'), consent('active', 'deny', '2024-03-01T10:00:00+05:00')])).toBe('Yes');
    expect(currentSharing([consent('active', undefined, '2024-09-01'), history[0]!])).toBe('No');
    expect(newSharingConsent('p1', 'No', 'Organization/a')).toMatchObject({ status: 'active', provision: { type: 'deny' }, organization: [{ reference: 'Organization/a' }] });
  });
});

describe('errors in plain words', () => {
  it('names the rule and the field', () => {
    const failure = describeFailure(422, {
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'business-rule', diagnostics: 'The vaccination date is before the birth date', expression: ['Immunization.occurrenceDateTime'], details: { coding: [{ code: 'vaccination-before-birth' }] } },
        { severity: 'warning', code: 'business-rule', diagnostics: 'No lot number' },
      ],
    });
    expect(failure.message).toMatch(/did not accept/);
    expect(failure.details).toEqual(['Date given: The vaccination date is before the birth date']);
    expect(failure.codes).toContain('vaccination-before-birth');
    expect(describeFailure(403, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden', details: { coding: [{ code: 'data-sharing-restricted' }] } }] }).message).toMatch(/chosen not to share/);
    expect(describeFailure(503).message).toMatch(/temporarily unavailable/);
  });

  it('says for every status the registry answers with what happened and what to do next', () => {
    // CONTRACT.md "Errors": every status a request can end with, plus 0 (the registry not reached).
    const next = /try again|Sign in again|Ask |Search for|Correct|Wait|Send less|Reload/i;
    for (const status of [0, 400, 401, 403, 404, 405, 406, 409, 410, 412, 413, 415, 422, 429, 500, 502, 503]) {
      const message = status === 0 ? STATUS_TEXT[0] : describeFailure(status).message;
      expect(message, `HTTP ${status}`).not.toMatch(/HTTP \d/);
      expect(message, `HTTP ${status}`).toMatch(next);
    }
    for (const code of ['data-sharing-restricted', 'data-sharing-unknown']) {
      const oo = { resourceType: 'OperationOutcome' as const, issue: [{ severity: 'error' as const, code: 'forbidden' as const, details: { coding: [{ code }] } }] };
      expect(describeFailure(403, oo).message).toMatch(/record Yes|ask the clinic|Ask the family/i);
    }
  });
});

describe('vaccine suggestions', () => {
  const all: Vaccine[] = [
    { cvx: '03', name: 'MMR', active: true },
    { cvx: '94', name: 'MMRV', active: true },
    { cvx: '08', name: 'Hep B, adolescent or pediatric', active: true },
    { cvx: '05', name: 'measles', active: false },
  ];
  it('matches code or every word of the name, active first; resolves a chosen label or a bare code', () => {
    expect(suggest(all, 'mmr').map((v) => v.cvx)).toEqual(['03', '94']);
    expect(suggest(all, 'hep ped').map((v) => v.cvx)).toEqual(['08']);
    expect(suggest(all, '3')[0].cvx).toBe('03');
    expect(resolveVaccine(all, vaccineLabel(all[1]), [])?.cvx).toBe('94');
    expect(resolveVaccine(all, '3', [])?.cvx).toBe('03');
    expect(resolveVaccine(all, 'mmr', [])?.cvx).toBe('03');
    expect(resolveVaccine(all, 'nothing', [])).toBeUndefined();
    const ndc = [{ cvx: '03', name: 'MMR', active: true, ndc: '00006-4681-00' }];
    expect(resolveVaccine(all, '00006468100', ndc)?.ndc).toBe('00006-4681-00');
    expect(ndcDigits('0006-4681-00')).toBe('0006-4681-00');
    expect(ndcDigits('03')).toBeUndefined();
  });
});

describe('coverage', () => {
  it('reads the overall figure and one figure per age band from a MeasureReport', async () => {
    const { coverageBar } = await import('./coverage');
    const pop = (initial: number, numerator: number) => [
      { code: { coding: [{ code: 'initial-population' }] }, count: initial },
      { code: { coding: [{ code: 'denominator' }] }, count: initial },
      { code: { coding: [{ code: 'numerator' }] }, count: numerator },
    ];
    const bar = coverageBar(
      {
        resourceType: 'MeasureReport',
        status: 'complete',
        type: 'summary',
        measure: 'Measure/childhood-combined-7',
        period: { end: '2025-06-30' },
        group: [
          {
            population: pop(10, 7),
            measureScore: { value: 0.7 },
            stratifier: [
              {
                code: [{ text: 'age-band' }],
                stratum: [
                  { value: { text: '24-29' }, population: pop(4, 4), measureScore: { value: 1 } },
                  { value: { text: '30-35' }, population: pop(6, 3), measureScore: { value: 0.5 } },
                ],
              },
            ],
          },
        ],
      },
      { id: 'childhood-combined-7', vaccine: 'Combined', short: 'Childhood 7-series', age: 'Children 24–35 months', unit: 'months' }
    );
    expect(bar).toMatchObject({ numerator: 7, denominator: 10, score: 0.7 });
    expect(bar.bands).toEqual([
      { label: '24-29 months', numerator: 4, denominator: 4, score: 1 },
      { label: '30-35 months', numerator: 3, denominator: 6, score: 0.5 },
    ]);
  });
});

describe('coverage band labels', () => {
  it('keeps a unit the server already wrote', async () => {
    const { coverageBar } = await import('./coverage');
    const bar = coverageBar(
      {
        resourceType: 'MeasureReport',
        status: 'complete',
        type: 'summary',
        measure: 'Measure/adolescent-tdap',
        period: { end: '2025-06-30' },
        group: [{ stratifier: [{ code: [{ text: 'age-band' }], stratum: [{ value: { text: '13-15 years' } }, { value: { text: '16-17' } }] }] }],
      },
      { id: 'adolescent-tdap', vaccine: 'Tdap', short: 'Tdap', age: 'Adolescents', unit: 'years' }
    );
    expect(bar.bands.map((b) => b.label)).toEqual(['13-15 years', '16-17 years']);
  });
});

describe('the records of a merged child', () => {
  it('finds every record joined by replaced-by / replaces links, both ways and through a chain (a → b → c), and no other', async () => {
    const records: Patient[] = [
      { resourceType: 'Patient', id: 'a', active: false, link: [{ type: 'replaced-by', other: { reference: 'Patient/b' } }] },
      { resourceType: 'Patient', id: 'b', active: false, link: [{ type: 'replaces', other: { reference: 'Patient/a' } }, { type: 'replaced-by', other: { reference: 'Patient/c' } }] },
      // The survivor names b only; a is found through b.
      { resourceType: 'Patient', id: 'c', link: [{ type: 'replaces', other: { reference: 'http://host/fhir/Patient/b' } }] },
      { resourceType: 'Patient', id: 'x', link: [{ type: 'seealso', other: { reference: 'Patient/c' } }] },
    ];
    const api = {
      async get<T>(path: string): Promise<T> {
        const byLink = /^Patient\?link=Patient\/([^&]+)/.exec(path);
        if (byLink) {
          const named = records.filter((p) => p.link?.some((l) => l.other?.reference?.endsWith(`Patient/${byLink[1]}`)));
          return { resourceType: 'Bundle', type: 'searchset', entry: named.map((resource) => ({ resource })) } as Bundle as T;
        }
        const found = records.find((p) => path === `Patient/${p.id}`);
        if (!found) throw new Error(`not found: ${path}`);
        return found as T;
      },
    };
    for (const start of ['a', 'b', 'c']) expect((await personRecordIds(api, start)).sort()).toEqual(['a', 'b', 'c']);
    expect(await personRecordIds(api, 'x')).toEqual(['x']);
  });
});

describe('a dose\'s vaccine name', () => {
  const names = new Map([['08', 'Hep B, adolescent or pediatric']]);
  it('takes the dose\'s own text or display first, the CVX code set\'s name for a bare code', () => {
    expect(doseVaccineName({ text: 'Engerix-B', coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] }, names)).toBe('Engerix-B');
    expect(doseVaccineName({ coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08', display: 'HepB peds' }] }, names)).toBe('HepB peds');
    expect(doseVaccineName({ coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] }, names)).toBe('Hep B, adolescent or pediatric');
    expect(doseVaccineName({ coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] })).toBeUndefined();
    expect(doseVaccineName({ coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '999' }] }, names)).toBeUndefined();
  });
});

describe('what the session may create', () => {
  const info = (scopes?: string[]) => ({ user: 'u', roles: [], scopes });
  it('reads SMART v2 and v1 scopes for the type or every type', () => {
    expect(mayCreate(info(['openid', 'user/Patient.cruds', 'user/Consent.cruds']), 'Consent')).toBe(true);
    expect(mayCreate(info(['user/*.cruds']), 'Consent')).toBe(true);
    expect(mayCreate(info(['user/Consent.write']), 'Consent')).toBe(true);
    expect(mayCreate(info(['user/Patient.crus', 'user/Consent.rs']), 'Consent')).toBe(false);
    expect(mayCreate(info(['user/*.rs']), 'Consent')).toBe(false);
    expect(mayCreate(info(['user/Immunization.cruds']), 'Consent')).toBe(false);
  });
  it('leaves the decision to the registry when the token names no scopes', () => {
    expect(mayCreate(info(undefined), 'Consent')).toBe(true);
  });
});
