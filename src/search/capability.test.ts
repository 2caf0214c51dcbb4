// capability.ts advertises exactly what the parser/compiler accept.
import { getSearchParameters } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_TYPES } from '../fhir/resource-types.js';
import { supportedIncludes, supportedModifiers, supportedRevIncludes, supportedSearchParams } from './capability.js';
import { compileCriteria } from './compile.js';
import { parseSearch } from './parse.js';
import { TestStore } from './test-store.js';

function supportedTypeTarget(type: string, code: string): string {
  return getSearchParameters(type)?.[code]?.target?.[0] ?? 'Patient';
}

const SAMPLE: Record<string, string> = {
  string: 'abc',
  token: 'http://x|y',
  date: 'ge2020-01-01',
  reference: 'Patient/1',
  uri: 'http://x/y',
  number: '1',
  quantity: '1||mg',
};

describe.each(SUPPORTED_TYPES)('%s search parameters', (type) => {
  const advertised = supportedSearchParams(type);

  it('every advertised parameter and modifier parses and compiles', async () => {
    expect(advertised.length).toBeGreaterThan(5);
    const store = new TestStore();
    for (const p of advertised) {
      expect(p.definition).toMatch(/^http:\/\/hl7\.org\/fhir\/SearchParameter\//);
      expect(p.documentation.length).toBeGreaterThan(0);
      const params: Array<[string, string]> = [[p.name, SAMPLE[p.type]]];
      for (const mod of supportedModifiers(type, p.name)) {
        const m = mod === '[type]' ? `:${supportedTypeTarget(type, p.name)}` : `:${mod}`;
        expect(p.documentation).toContain(`:${mod}`);
        params.push([`${p.name}${m}`, m === ':missing' ? 'true' : m === ':of-type' ? 'a|b|c' : SAMPLE[p.type]]);
      }
      if (p.name === '_id') params.splice(0, params.length, ['_id', 'x'], ['_id:not', 'y']);
      const parsed = parseSearch(params, { resourceType: type });
      await compileCriteria(type, parsed.criteria.get(type) ?? [], { store });
    }
  });

  it('every R4 parameter not advertised is rejected', () => {
    const names = new Set(advertised.map((p) => p.name));
    const all = Object.keys(getSearchParameters(type) ?? {});
    const missing = all.filter((n) => !names.has(n));
    for (const n of missing) {
      expect(() => parseSearch([[n, 'x']], { resourceType: type })).toThrow();
    }
    expect(missing.every((n) => n === '_compartment' || getSearchParameters(type)?.[n]?.type === 'composite')).toBe(true);
  });

  it('includes and revincludes parse', () => {
    for (const inc of supportedIncludes(type)) parseSearch([['_include', inc]], { resourceType: type });
    for (const rev of supportedRevIncludes(type)) parseSearch([['_revinclude', rev]], { resourceType: type });
  });
});

it('Immunization advertises the IIS essentials', () => {
  const names = supportedSearchParams('Immunization').map((p) => p.name);
  for (const n of ['_id', '_lastUpdated', 'patient', 'vaccine-code', 'date', 'identifier', 'status', 'lot-number']) {
    expect(names).toContain(n);
  }
  expect(supportedRevIncludes('Patient')).toEqual(expect.arrayContaining(['Immunization:patient', 'Consent:patient']));
});
