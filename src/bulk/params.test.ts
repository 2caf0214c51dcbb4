import { describe, expect, it } from 'vitest';
import { loadDefinitions } from '../fhir/definitions.js';
import { isFhirError } from '../fhir/outcome.js';
import { exportPairs, parseExportParams, parseInstant, splitTypeFilters, type ParseContext } from './params.js';

loadDefinitions();
const base = 'http://localhost:8080/fhir';
const ctx = (over: Partial<ParseContext> = {}): ParseContext => ({ level: 'system', method: 'GET', lenient: false, baseUrl: base, ...over });

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (isFhirError(err) && err.status === 400) return err.outcome.issue?.map((i) => `${i.expression?.[0]}: ${i.diagnostics}`) ?? [];
    throw err;
  }
  throw new Error('expected a 400');
}

describe('$export kick-off parameters', () => {
  it('_elements of a type this server does not export is a 400 (or dropped under lenient handling)', () => {
    expect(issuesOf(() => parseExportParams([['_elements', 'Patient.name,Patinet.birthDate']], ctx()))[0]).toContain('"Patinet.birthDate" names Patinet');
    const lenient = parseExportParams([['_elements', 'Foo.bar']], ctx({ lenient: true }));
    expect(lenient.elements).toBeUndefined();
    expect(lenient.issues.some((i) => i.expression?.[0] === '_elements')).toBe(true);
    expect(parseExportParams([['_elements', 'Patient.name,birthDate']], ctx()).elements).toEqual(['Patient.name', 'birthDate']);
    // A name no exported type has cuts nothing: a 400, or left out with a warning under lenient handling.
    expect(issuesOf(() => parseExportParams([['_type', 'Patient,Immunization'], ['_elements', 'lotNumber,shoeSize']], ctx()))[0]).toContain('"shoeSize" is not an element of Patient or Immunization');
    expect(issuesOf(() => parseExportParams([['_type', 'Patient'], ['_elements', 'Immunization.lotNumber']], ctx()))[0]).toContain('names Immunization');
    const kept = parseExportParams([['_elements', 'gender,shoeSize'], ['_type', 'Patient']], ctx({ lenient: true }));
    expect(kept.elements).toEqual(['gender']);
    expect(kept.issues.map((i) => i.diagnostics)).toEqual([expect.stringContaining('"shoeSize"')]);
  });

  it('reads application/fhir+ndjson with its + decoded to a space (typed unencoded in a URL) as NDJSON', () => {
    expect(parseExportParams([['_outputFormat', 'application/fhir ndjson']], ctx()).outputFormat).toBe('application/fhir+ndjson');
    expect(issuesOf(() => parseExportParams([['_outputFormat', 'application/fhir json']], ctx()))[0]).toContain('_outputFormat');
  });

  it('parses every supported parameter', () => {
    const p = parseExportParams(
      [
        ['_outputFormat', 'application/ndjson'],
        ['_since', '2024-01-31T10:00:00.1234+02:00'],
        ['_until', '2024-02-01T00:00:00Z'],
        ['_type', 'Patient, Immunization'],
        ['_type', 'Consent'],
        ['_typeFilter', 'Immunization?vaccine-code=08,20'],
        ['_elements', 'Patient.name,birthDate'],
        ['includeAssociatedData', 'LatestProvenanceResources'],
      ],
      ctx()
    );
    expect(p.outputFormat).toBe('application/fhir+ndjson');
    expect(p.since).toBe('2024-01-31T08:00:00.123Z');
    expect(p.until).toBe('2024-02-01T00:00:00.000Z');
    expect(p.types).toEqual(['Patient', 'Immunization', 'Consent']);
    expect(p.typeFilters).toEqual([{ type: 'Immunization', query: 'vaccine-code=08,20' }]);
    expect(p.elements).toEqual(['Patient.name', 'birthDate']);
    expect(p.issues.map((i) => i.severity)).toEqual(['information']);
  });

  it('_until: an instant, once, after _since', () => {
    const problems = (pairs: Array<[string, string]>) => issuesOf(() => parseExportParams(pairs, ctx())).map((i) => i.split(':')[0]);
    expect(problems([['_until', '2024-01-31']])).toEqual(['_until']);
    expect(problems([['_until', '2024-01-31T00:00:00Z'], ['_until', '2024-02-01T00:00:00Z']])).toEqual(['_until']);
    expect(problems([['_since', '2024-02-01T00:00:00Z'], ['_until', '2024-02-01T00:00:00Z']])).toEqual(['_until']);
    const lenient = parseExportParams([['_since', '2024-02-01T00:00:00Z'], ['_until', '2024-01-01T00:00:00Z']], ctx({ lenient: true }));
    expect(lenient.until).toBeUndefined();
    expect(lenient.since).toBe('2024-02-01T00:00:00.000Z');
    expect(lenient.issues.map((i) => i.expression?.[0])).toEqual(['_until']);
  });

  it('reports every problem at once (strict), or drops them with warnings (lenient)', () => {
    const bad: Array<[string, string]> = [
      ['_outputFormat', 'application/json'],
      ['_since', '2024-01-31'],
      ['_type', 'Observation'],
      ['_typeFilter', 'Patient?unknown=1'],
      ['_elements', 'Patient.name.given'],
      ['includeAssociatedData', '_mine'],
      ['patient', 'Patient/1'],
      ['foo', 'bar'],
    ];
    const issues = issuesOf(() => parseExportParams(bad, ctx()));
    expect(issues.map((i) => i.split(':')[0])).toEqual(['_outputFormat', '_since', '_type', '_elements', 'includeAssociatedData', 'patient', 'foo', '_typeFilter']);
    const lenient = parseExportParams(bad, ctx({ lenient: true }));
    expect(lenient.issues.filter((i) => i.severity === 'warning')).toHaveLength(8);
    expect(lenient.types).toBeUndefined();
    expect(lenient.typeFilters).toEqual([]);
  });

  it('patient: POST Parameters only, Patient references only, not at system level', () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'patient', valueReference: { reference: 'Patient/a' } },
        { name: 'patient', valueReference: { reference: 'https://other.example/fhir/Patient/b' } },
        { name: 'patient', valueReference: { reference: 'Patient/a' } },
        { name: '_type', valueString: 'Immunization' },
      ],
    };
    const p = parseExportParams(exportPairs('POST', [], body), ctx({ level: 'patient', method: 'POST' }));
    expect(p.patients).toEqual(['a', 'b']);
    expect(p.types).toEqual(['Immunization']);
    expect(issuesOf(() => parseExportParams(exportPairs('POST', [], body), ctx({ level: 'system', method: 'POST' })))[0]).toMatch(/^patient: .*system-level/);
    expect(issuesOf(() => parseExportParams([['patient', 'Group/1']], ctx({ level: 'patient', method: 'POST' })))[0]).toMatch(/not a Patient reference/);
    expect(issuesOf(() => exportPairs('POST', [], { resourceType: 'Patient' }))[0]).toMatch(/Parameters/);
    expect(issuesOf(() => exportPairs('POST', [], { resourceType: 'Parameters', parameter: [{ name: 'x' }] }))[0]).toMatch(/value/);
  });

  it('Patient and Group level: only the Patient compartment', () => {
    expect(issuesOf(() => parseExportParams([['_type', 'Organization']], ctx({ level: 'group' })))[0]).toMatch(/compartment/);
    expect(issuesOf(() => parseExportParams([['_typeFilter', 'Organization?name=x']], ctx({ level: 'patient' })))[0]).toMatch(/compartment/);
    expect(parseExportParams([['_type', 'Consent']], ctx({ level: 'patient' })).types).toEqual(['Consent']);
  });

  it('_typeFilter: the search compiler decides what is valid; types must be in _type', () => {
    expect(parseExportParams([['_typeFilter', 'Immunization?patient.family=smith&date=ge2020']], ctx()).typeFilters).toHaveLength(1);
    for (const bad of ['Immunization?_sort=date', 'Immunization?_include=Immunization:patient', 'Immunization?date=notadate', 'Nope?x=1', 'Immunization?']) {
      expect(issuesOf(() => parseExportParams([['_typeFilter', bad]], ctx())), bad).toHaveLength(1);
    }
    expect(issuesOf(() => parseExportParams([['_type', 'Patient'], ['_typeFilter', 'Immunization?status=completed']], ctx()))[0]).toMatch(/not in _type/);
  });

  it('splits _typeFilter values on commas only where a new query starts', () => {
    expect(splitTypeFilters('Immunization?vaccine-code=08,20,Patient?gender=female')).toEqual(['Immunization?vaccine-code=08,20', 'Patient?gender=female']);
    expect(splitTypeFilters('Immunization?a=1')).toEqual(['Immunization?a=1']);
  });

  it('_since must be an instant with a time zone', () => {
    expect(parseInstant('2024-01-31T00:00:00Z')).toBe('2024-01-31T00:00:00.000Z');
    expect(parseInstant('2024-01-31T00:00:00-05:00')).toBe('2024-01-31T05:00:00.000Z');
    for (const bad of ['2024-01-31', '2024-01-31T00:00:00', '2024-02-30T00:00:00Z', 'now']) expect(parseInstant(bad), bad).toBeUndefined();
  });
});
