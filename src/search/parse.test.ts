// Strict vs lenient handling, injection attempts, malformed values, and findMatches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient } from '@medplum/fhirtypes';
import type { Store } from '../store/store.js';
import { findMatches } from './execute.js';
import { BASE, STORE_FACTORIES, expectFhirError, linkOf, loadFixtures, matchIds, search } from './fixtures.js';
import { compileParam } from './compile.js';
import { parseSearch } from './parse.js';
import { TestStore } from './test-store.js';

describe('parameter validation', () => {
  const store = new TestStore();
  beforeAll(async () => loadFixtures(store));

  const bad: Array<[string, Array<[string, string]>, string]> = [
    ['unknown parameter', [['shoe-size', '42']], 'shoe-size'],
    ['operator injection in the name', [['name[$ne]', 'x']], 'name[$ne]'],
    ['operator injection in the name, empty value', [['_id[$gt]', '']], '_id[$gt]'],
    ['unknown parameter with an empty value', [['shoe-size', '']], 'shoe-size'],
    ['dotted StoredDoc path as a name', [['s.family', 'x']], 's.family'],
    ['$where as a name', [['$where', '1']], '$where'],
    ['unknown modifier', [['family:fuzzy', 'x']], 'family:fuzzy'],
    ['modifier of another type', [['birthdate:exact', '2020']], 'birthdate:exact'],
    ['two modifiers', [['family:exact:contains', 'x']], 'family:exact:contains'],
    ['malformed date', [['birthdate', '2020-13-01']], 'birthdate'],
    ['date with junk', [['birthdate', 'gt2020x']], 'birthdate'],
    ['impossible day', [['birthdate', '2021-02-29']], 'birthdate'],
    [':missing with a non-boolean', [['gender:missing', 'yes']], 'gender:missing'],
    ['too many token parts', [['identifier', 'a|b|c']], 'identifier'],
    [':of-type without three parts', [['identifier:of-type', 'a|b']], 'identifier:of-type'],
    [':of-type on a non-identifier token', [['gender:of-type', 'a|b|c']], 'gender:of-type'],
    ['chain on a non-reference', [['birthdate.name', 'x']], 'birthdate.name'],
    ['chain to an unknown parameter', [['organization.shoe', 'x']], 'organization.shoe'],
    ['_has with an unknown reference', [['_has:Immunization:subject:status', 'x']], '_has:Immunization:subject:status'],
    ['_has of an unsupported type', [['_has:Observation:patient:code', 'x']], '_has:Observation:patient:code'],
    ['_count not a number', [['_count', 'ten']], '_count'],
    ['_count negative', [['_count', '-1']], '_count'],
    ['_count twice', [['_count', '1'], ['_count', '2']], '_count'],
    ['_total bad', [['_total', 'maybe']], '_total'],
    ['_summary bad', [['_summary', 'yes']], '_summary'],
    ['_elements bad', [['_elements', 'name,$where']], '_elements'],
    ['_elements naming no element of the type', [['_elements', 'gender,shoeSize']], '_elements'],
    ['_elements naming an element of another type', [['_elements', 'lotNumber']], '_elements'],
    ['_elements naming a type the search does not return', [['_elements', 'Immunization.status']], '_elements'],
    ['_include bad', [['_include', 'Patient']], '_include'],
    ['_include non-reference', [['_include', 'Patient:name']], '_include'],
    ['_revinclude unknown type', [['_revinclude', 'Foo:patient']], '_revinclude'],
    ['unsupported _filter', [['_filter', 'name eq x']], '_filter'],
    ['_type at type level', [['_type', 'Patient']], '_type'],
    ['reference target type not allowed', [['organization:Patient', 'x']], 'organization:Patient'],
  ];

  it.each(bad)('%s → 400 naming the parameter', async (_label, params, name) => {
    const err = await expectFhirError(search(store, 'Patient', params));
    expect(err.status).toBe(400);
    expect(err.text).toContain(`"${name}"`);
  });

  it('reports every bad parameter at once', async () => {
    try {
      await search(store, 'Patient', [['foo', '1'], ['bar', '2'], ['name', 'x']]);
      throw new Error('no error');
    } catch (err) {
      const issues = (err as { outcome: { issue: Array<{ diagnostics: string; expression?: string[] }> } }).outcome.issue;
      expect(issues.map((i) => i.expression?.[0])).toEqual(['foo', 'bar']);
    }
  });

  it('non-string values are a 400 even when lenient (qs-style objects and arrays)', async () => {
    for (const value of [{ $ne: 'x' }, ['a', 'b'], 42, null]) {
      const params = [['name', value]] as unknown as Array<[string, string]>;
      expect((await expectFhirError(search(store, 'Patient', params))).status).toBe(400);
      expect((await expectFhirError(search(store, 'Patient', params, { lenient: true }))).status).toBe(400);
    }
    expect((await expectFhirError(search(store, 'Patient', { name: 'x' } as unknown as Array<[string, string]>))).status).toBe(400);
  });

  it('operator-looking values are data, never operators', () => {
    const parsed = parseSearch([['family', '{"$gt":""}'], ['identifier', '$ne|$gt'], ['organization', '$where']], { resourceType: 'Patient' });
    const filters = parsed.criteria.get('Patient')!.map((c) => compileParam(c as never, { store }));
    const json = JSON.stringify(filters);
    expect(json).toContain('"c":"$gt"');
    expect(json).toContain('"s":"$ne"');
    // every key that starts with $ is one the compiler chose
    const keys = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (keys.add(k), walk(x));
    };
    walk(filters);
    for (const k of keys) if (k.startsWith('$')) expect(['$regex', '$elemMatch', '$in', '$exists', '$nor']).toContain(k);
  });

  it('_elements takes every element form of the type: name, choice name[x] and its typed names, Type.name', async () => {
    for (const value of ['gender,birthDate', 'deceased', 'deceased[x]', 'deceasedBoolean,multipleBirthInteger', 'Patient.gender', 'id,meta,extension']) {
      expect(parseSearch([['_elements', value]], { resourceType: 'Patient' }).elements, value).toEqual(value.split(','));
    }
    // At system level a name counts when one of the searched types has it.
    expect(parseSearch([['_type', 'Patient,Immunization'], ['_elements', 'gender,lotNumber']], {}).elements).toEqual(['gender', 'lotNumber']);
    expect(() => parseSearch([['_type', 'Patient'], ['_elements', 'lotNumber']], {})).toThrow();
  });

  it('lenient: _elements names that are no element are left out and each said in a warning; the others still cut', async () => {
    const b = await search(store, 'Patient', [['_id', 'pB'], ['_elements', 'gender,shoeSize,Immunization.status']], { lenient: true });
    const match = b.entry?.find((e) => e.search?.mode === 'match')?.resource as unknown as Record<string, unknown>;
    expect(Object.keys(match).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
    const issues = (b.entry?.find((e) => e.search?.mode === 'outcome')?.resource as { issue: Array<{ severity: string; diagnostics: string }> }).issue;
    expect(issues.map((i) => i.severity)).toEqual(['warning', 'warning']);
    expect(issues[0].diagnostics).toContain('"shoeSize" is not an element of Patient');
    expect(issues[1].diagnostics).toContain('"Immunization.status" names Immunization');
    expect(linkOf(b, 'self')).toContain('_elements=gender&');
    // None left: as if _elements had not been given.
    const none = await search(store, 'Patient', [['_id', 'pB'], ['_elements', 'shoeSize']], { lenient: true });
    expect((none.entry?.find((e) => e.search?.mode === 'match')?.resource as Patient).name).toBeDefined();
  });

  it('lenient: unknown and malformed parameters are ignored, reported, and left out of the self link', async () => {
    const b = await search(store, 'Patient', [['family', 'doe'], ['shoe-size', '42'], ['birthdate', 'soon']], { lenient: true });
    expect(matchIds(b)).toEqual(['pB']);
    const outcomeEntry = b.entry?.find((e) => e.search?.mode === 'outcome');
    expect(outcomeEntry?.resource?.resourceType).toBe('OperationOutcome');
    const issues = (outcomeEntry?.resource as { issue: Array<{ severity: string; diagnostics: string }> }).issue;
    expect(issues).toHaveLength(2);
    expect(issues.every((i) => i.severity === 'warning')).toBe(true);
    expect(issues[0].diagnostics).toContain('shoe-size');
    expect(issues[1].diagnostics).toContain('birthdate');
    expect(linkOf(b, 'self')).toBe(`${BASE}/Patient?family=doe&_count=20`);
  });

  it('empty values are ignored', async () => {
    const b = await search(store, 'Patient', [['family', '']]);
    expect(b.total).toBe(5);
    expect(linkOf(b, 'self')).toBe(`${BASE}/Patient?_count=20`);
  });

  it('escaped commas and pipes are literal', async () => {
    const b = await search(store, 'Patient', [['family', 'doe\\,x']]);
    expect(matchIds(b)).toEqual([]);
    const parsed = parseSearch([['identifier', 'urn:a\\|b|c']], { resourceType: 'Patient' });
    const f = compileParam(parsed.criteria.get('Patient')![0] as never, { store });
    expect(f).toEqual({ 's.identifier': { $elemMatch: { c: 'c', s: 'urn:a|b' } } });
  });

  it('unknown resource type is a 404', async () => {
    expect((await expectFhirError(search(store, 'Observation', []))).status).toBe(404);
  });
});

describe.each(STORE_FACTORIES)('findMatches on the $name', (factory) => {
  let store: Store;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dispose } = await factory.open());
    await loadFixtures(store);
  });
  afterAll(async () => dispose());

  it('matches by identifier and date, limited', async () => {
    expect((await findMatches(store, 'Patient', 'identifier=urn:mrn|A1', 2, { baseUrl: BASE })).map((r) => r.id)).toEqual(['pA']);
    expect((await findMatches(store, 'Patient', '?identifier=urn:mrn|A1&birthdate=2020', 2, { baseUrl: BASE })).map((r) => r.id)).toEqual(['pA']);
    expect((await findMatches(store, 'Patient', 'identifier=urn%3Amrn%7CA1', 2, { baseUrl: BASE })).map((r) => r.id)).toEqual(['pA']);
    expect((await findMatches(store, 'Patient', 'identifier=A1', 2, { baseUrl: BASE })).map((r) => r.id)).toEqual(['pA', 'pC']);
    expect(await findMatches(store, 'Patient', 'identifier=A1', 1, { baseUrl: BASE })).toHaveLength(1);
    expect(await findMatches(store, 'Patient', 'identifier=urn:mrn|none', 2, { baseUrl: BASE })).toEqual([]);
    expect((await findMatches(store, 'Immunization', 'patient.identifier=urn:mrn|A1&vaccine-code=20', 2, { baseUrl: BASE })).map((r) => r.id)).toEqual(['i2']);
    expect((await findMatches(store, 'Patient', 'family=smith&given=jose', 2, { baseUrl: BASE })).map((r) => r.id)).toEqual(['pA']);
  });

  it('is strict: unknown parameters, result parameters and empty queries are 400', async () => {
    expect((await expectFhirError(findMatches(store, 'Patient', 'foo=bar', 2, { baseUrl: BASE }))).status).toBe(400);
    expect((await expectFhirError(findMatches(store, 'Patient', 'identifier=x&_count=1', 2, { baseUrl: BASE }))).status).toBe(400);
    expect((await expectFhirError(findMatches(store, 'Patient', 'identifier=', 2, { baseUrl: BASE }))).status).toBe(400);
    expect((await expectFhirError(findMatches(store, 'Patient', '', 2, { baseUrl: BASE }))).status).toBe(400);
    expect((await expectFhirError(findMatches(store, 'Patient', 'name[$ne]=x', 2, { baseUrl: BASE }))).status).toBe(400);
  });

  it('honours an access filter', async () => {
    const found = await findMatches(store, 'Patient', 'identifier=A1', 5, { baseUrl: BASE, accessFilter: () => ({ _id: { $ne: 'pC' } }) });
    expect(found.map((r) => r.id)).toEqual(['pA']);
  });
});
