// Index extraction: layout, normalisation, date precision, and speed; plus number/quantity/uri
// parameters (not used by the stored IIS types, proven here on Observation/RiskAssessment).
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileCriteria } from './compile.js';
import { extractSearchIndex, tokenKey, type TokenEntry } from './extract.js';
import { fixtureResources, put } from './fixtures.js';
import { parseCriteria } from './parse.js';
import { TestStore } from './test-store.js';
import { dateRange, fold, numberSortKey, soundex } from './util.js';

const byId = (id: string) => fixtureResources().find((r) => r.id === id) as Resource;

describe('fold', () => {
  it.each([
    ['José', 'jose'],
    ['MÜLLER', 'muller'],
    ['Zoë', 'zoe'],
    ['Smith-Jones', 'smith jones'],
    ['  Anne   Marie ', 'anne marie'],
    ["O'Brien", 'obrien'],
    ['O’Brien', 'obrien'],
    ['Straße', 'strasse'],
    ['Łukasz', 'lukasz'],
    ['Ærø', 'aero'],
    ['Nguyễn', 'nguyen'],
  ])('%s → %s', (input, out) => expect(fold(input)).toBe(out));
});

describe('dateRange (UTC, inclusive, by precision)', () => {
  it.each([
    ['2020', '2020-01-01T00:00:00.000Z', '2020-12-31T23:59:59.999Z'],
    ['2020-02', '2020-02-01T00:00:00.000Z', '2020-02-29T23:59:59.999Z'],
    ['2021-02', '2021-02-01T00:00:00.000Z', '2021-02-28T23:59:59.999Z'],
    ['2020-12-31', '2020-12-31T00:00:00.000Z', '2020-12-31T23:59:59.999Z'],
    ['2020-05-01T10:00', '2020-05-01T10:00:00.000Z', '2020-05-01T10:00:59.999Z'],
    ['2020-05-01T10:00:00Z', '2020-05-01T10:00:00.000Z', '2020-05-01T10:00:00.999Z'],
    ['2020-05-01T10:00:00+01:00', '2020-05-01T09:00:00.000Z', '2020-05-01T09:00:00.999Z'],
    ['2020-05-01T00:30:00+01:00', '2020-04-30T23:30:00.000Z', '2020-04-30T23:30:00.999Z'],
    ['2020-05-01T10:00:00-05:30', '2020-05-01T15:30:00.000Z', '2020-05-01T15:30:00.999Z'],
    ['2020-05-01T10:00:00.5Z', '2020-05-01T10:00:00.500Z', '2020-05-01T10:00:00.599Z'],
    ['2020-05-01T10:00:00.123456Z', '2020-05-01T10:00:00.123Z', '2020-05-01T10:00:00.123Z'],
    ['0050', '0050-01-01T00:00:00.000Z', '0050-12-31T23:59:59.999Z'],
  ])('%s → [%s, %s]', (value, lo, hi) => expect(dateRange(value)).toEqual({ lo, hi }));

  it.each(['2020-13', '2020-02-30', '2020-1-1', '20200101', '2020-05-01T25:00:00Z', '2020-05-01T10:00:00+15:00', 'soon', ''])(
    'rejects %s',
    (value) => expect(dateRange(value)).toBeUndefined()
  );
});

describe('numberSortKey orders like numbers', () => {
  it('sorts negatives, zero, fractions and large values', () => {
    const nums = [-1e9, -5.5, -1, -0.001, 0, 0.001, 1, 2, 10, 1e9];
    const keys = nums.map(numberSortKey);
    expect([...keys].sort()).toEqual(keys);
  });
});

describe('soundex', () => {
  it.each([
    ['Robert', 'R163'],
    ['Rupert', 'R163'],
    ['Smith', 'S530'],
    ['Smyth', 'S530'],
    ['Tymczak', 'T522'],
    ['Ashcraft', 'A261'],
  ])('%s → %s', (w, code) => expect(soundex(w)).toBe(code));
});

describe('extractSearchIndex', () => {
  it('Patient: strings folded with parts, exact values, tokens, dates, references, sort keys', () => {
    const s = extractSearchIndex(byId('pA')) as Record<string, unknown>;
    expect(s.family).toEqual(['smith jones', 'jones', 'smithjones']);
    expect(s.given).toEqual(['jose']);
    expect(s.name).toEqual(expect.arrayContaining(['smith jones', 'jones', 'smithjones', 'jose', 'jose smith jones']));
    expect((s._exact as Record<string, string[]>).family).toEqual(['Smith-Jones']);
    expect(s.birthdate).toEqual({ lo: '2020-05-01T00:00:00.000Z', hi: '2020-05-01T23:59:59.999Z' });
    expect(s.gender).toEqual([{ c: 'male' }]);
    expect(s.active).toEqual([{ c: 'true' }]);
    expect(s.identifier).toEqual([
      { s: 'urn:mrn', c: 'A1', ts: 'http://terminology.hl7.org/CodeSystem/v2-0203', tc: 'MR' },
      { t: 'medical record' },
      { t: 'record' },
      { t: 'medicalrecord' },
    ]);
    expect(s.organization).toEqual(['Organization/o1']);
    expect(s._profile).toEqual(['http://example.org/StructureDefinition/iis-patient']);
    expect(s['address-city']).toEqual(['montreal']);
    expect(s.phonetic).toEqual(expect.arrayContaining(['S530', 'J520', 'J200']));
    expect(s._sort).toMatchObject({ birthdate: '2020-05-01T00:00:00.000Z', family: 'smith jones', name: 'smith jones jose', gender: 'male' });
    expect(s).not.toHaveProperty('_id');
    expect(s).not.toHaveProperty('_compartment');
    expect(s).not.toHaveProperty('deceased'.padEnd(9, 'x'));
  });

  it('Patient: deceased boolean token and death-date with an offset', () => {
    const s = extractSearchIndex(byId('pC')) as Record<string, unknown>;
    expect(s.deceased).toEqual([{ c: 'true' }]);
    expect(s['death-date']).toEqual({ lo: '2020-12-31T23:30:00.000Z', hi: '2020-12-31T23:30:00.999Z' });
    expect(s.family).toEqual(['obrien']);
    expect((extractSearchIndex(byId('pB')) as Record<string, unknown>).deceased).toEqual([{ c: 'false' }]);
  });

  it('Immunization: code + text tokens, references (absolute kept), repeating dates as arrays', () => {
    const s1 = extractSearchIndex(byId('i1')) as Record<string, unknown>;
    expect(s1['vaccine-code']).toEqual(
      expect.arrayContaining([{ s: 'http://hl7.org/fhir/sid/cvx', c: '08' }, { t: 'hep b adolescent or pediatric' }])
    );
    expect(s1.patient).toEqual(['Patient/pA']);
    expect(s1.date).toEqual({ lo: '2021-02-28T23:30:00.000Z', hi: '2021-02-28T23:30:00.999Z' });
    expect(s1['reaction-date']).toEqual([
      { lo: '2021-03-02T00:00:00.000Z', hi: '2021-03-02T23:59:59.999Z' },
      { lo: '2021-03-05T00:00:00.000Z', hi: '2021-03-05T23:59:59.999Z' },
    ]);
    expect(s1['lot-number']).toEqual(['ab 12', '12', 'ab12']);
    const s3 = extractSearchIndex(byId('i3')) as Record<string, unknown>;
    expect(s3.patient).toEqual(['Patient/pB', 'http://localhost:8080/fhir/Patient/pB']);
  });

  it('versioned and contained references', () => {
    const s = extractSearchIndex({
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: { text: 'x' },
      patient: { reference: 'Patient/p1/_history/3' },
      occurrenceDateTime: '2020',
      performer: [{ actor: { reference: '#contained' } }, { actor: { display: 'no reference' } }],
    } as Resource) as Record<string, unknown>;
    expect(s.patient).toEqual(['Patient/p1']);
    expect(s).not.toHaveProperty('performer');
  });

  it('Consent: period as a range with open ends, organization array', () => {
    const s = extractSearchIndex({
      resourceType: 'Consent',
      status: 'active',
      scope: { text: 'x' },
      category: [{ text: 'y' }],
      organization: [{ reference: 'Organization/o1' }],
      provision: { period: { start: '2021-01' } },
    } as Resource) as Record<string, unknown>;
    expect(s.period).toEqual({ lo: '2021-01-01T00:00:00.000Z', hi: '9999-12-31T23:59:59.999Z' });
    expect(s.organization).toEqual(['Organization/o1']);
  });

  it('a resource without values gets an (almost) empty index; unknown types an empty one', () => {
    expect(extractSearchIndex({ resourceType: 'Group', type: 'person', actual: true } as Resource)).toMatchObject({
      actual: [{ c: 'true' }],
      type: [{ c: 'person' }],
    });
    expect(extractSearchIndex({ resourceType: 'NotAType' } as unknown as Resource)).toEqual({});
  });

  it('is fast (cached FHIRPath): per-resource figure', () => {
    const samples = ['pA', 'i1', 'c1', 'o1'].map(byId);
    for (let i = 0; i < 300; i++) for (const r of samples) extractSearchIndex(r);
    const figures: Record<string, number> = {};
    for (const r of samples) {
      const n = 2000;
      const t = performance.now();
      for (let i = 0; i < n; i++) extractSearchIndex(r);
      figures[r.resourceType] = ((performance.now() - t) / n) * 1000;
    }
    console.log(
      `[search] extractSearchIndex µs/resource: ${Object.entries(figures)
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(', ')}`
    );
    for (const v of Object.values(figures)) expect(v).toBeLessThan(2000); // generous: CI machines vary
  });
});

describe('number, quantity and uri parameters (any R4 type)', () => {
  const store = new TestStore();
  const run = async (type: string, query: string): Promise<string[]> => {
    const criteria = parseCriteria(type, [...new URLSearchParams(query).entries()] as Array<[string, string]>);
    const filter = await compileCriteria(type, criteria, { store });
    return (await store.search(type, { filter, limit: 100, sort: [{ field: '_id', direction: 1 }] })).map((r) => r.id);
  };

  it('number with implicit precision and prefixes', async () => {
    for (const [id, p] of [['r1', 0.5], ['r2', 0.55], ['r3', 0.9], ['r4', 100]] as const) {
      await put(store, { resourceType: 'RiskAssessment', id, status: 'final', subject: { reference: 'Patient/x' }, prediction: [{ probabilityDecimal: p }] } as Resource);
    }
    expect(await run('RiskAssessment', 'probability=0.5')).toEqual(['r1']); // [0.45, 0.55)
    expect(await run('RiskAssessment', 'probability=0.55')).toEqual(['r2']);
    expect(await run('RiskAssessment', 'probability=1')).toEqual(['r1', 'r2', 'r3']); // [0.5, 1.5)
    expect(await run('RiskAssessment', 'probability=gt0.5')).toEqual(['r2', 'r3', 'r4']);
    expect(await run('RiskAssessment', 'probability=le0.55')).toEqual(['r1', 'r2']);
    expect(await run('RiskAssessment', 'probability=ne0.5')).toEqual(['r2', 'r3', 'r4']);
    expect(await run('RiskAssessment', 'probability=1e2')).toEqual(['r4']);
    expect(await run('RiskAssessment', 'probability=ap100')).toEqual(['r4']);
  });

  it('quantity with system and code', async () => {
    for (const [id, v, code] of [['q1', 5.4, 'mmol/L'], ['q2', 6, 'mmol/L'], ['q3', 5.4, 'mg/dL']] as const) {
      await put(store, {
        resourceType: 'Observation',
        id,
        status: 'final',
        code: { text: 'glucose' },
        valueQuantity: { value: v, system: 'http://unitsofmeasure.org', code },
      } as Resource);
    }
    expect(await run('Observation', 'value-quantity=5.4')).toEqual(['q1', 'q3']);
    expect(await run('Observation', 'value-quantity=5.4|http://unitsofmeasure.org|mmol/L')).toEqual(['q1']);
    expect(await run('Observation', 'value-quantity=gt5.4||mmol/L')).toEqual(['q2']);
    expect(await run('Observation', 'value-quantity=lt6')).toEqual(['q1', 'q3']);
  });

  it('uri with :below and :above', async () => {
    await put(store, { resourceType: 'ValueSet', id: 'v1', status: 'active', url: 'http://acme.org/fhir/ValueSet/123' } as Resource);
    await put(store, { resourceType: 'ValueSet', id: 'v2', status: 'active', url: 'http://acme.org/fhir/ValueSet/123-x' } as Resource);
    expect(await run('ValueSet', 'url=http://acme.org/fhir/ValueSet/123')).toEqual(['v1']);
    expect(await run('ValueSet', 'url:below=http://acme.org/fhir/')).toEqual(['v1', 'v2']);
    expect(await run('ValueSet', 'url:below=http://acme.org/fhir/ValueSet/123')).toEqual(['v1', 'v2']);
    expect(await run('ValueSet', 'url:above=http://acme.org/fhir/ValueSet/123/_history/5')).toEqual(['v1']);
  });
});

describe('tokenKey (the name tokenEntries drops repeats by)', () => {
  // Entries as tokenEntries builds them (members in the order s, c, ts, tc; or t alone), with strings
  // that look like the names' own separators, and odd members (numbers, objects) a resource could carry.
  const text = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('', '-', '1:a', '\u0001', '{"c":"x"}', '0:'));
  const odd = fc.oneof(text, fc.integer({ min: -3, max: 3 }), fc.constantFrom({ a: 1 }, { b: 2 }, [1]), fc.constant(undefined));
  const entry = fc.oneof(
    fc.record({ t: text }),
    fc.tuple(fc.option(odd, { nil: undefined }), fc.option(odd, { nil: undefined }), fc.option(odd, { nil: undefined }), fc.option(odd, { nil: undefined })).map(([s, c, ts, tc]) => {
      const e: Record<string, unknown> = {};
      if (s !== undefined) e.s = s;
      if (c !== undefined) e.c = c;
      if (ts !== undefined) e.ts = ts;
      if (tc !== undefined) e.tc = tc;
      return e as TokenEntry;
    })
  );

  it('names two entries alike exactly when their JSON texts are alike', () => {
    fc.assert(
      fc.property(entry, entry, (a, b) => {
        expect(tokenKey(a) === tokenKey(b)).toBe(JSON.stringify(a) === JSON.stringify(b));
      }),
      { numRuns: 5000 }
    );
  });

  it('names an entry like its copy', () => {
    fc.assert(
      fc.property(entry, (a) => {
        expect(tokenKey(a)).toBe(tokenKey(JSON.parse(JSON.stringify(a)) as TokenEntry));
      }),
      { numRuns: 1000 }
    );
  });
});
