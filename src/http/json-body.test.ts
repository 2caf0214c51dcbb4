// The response body with stored resource bytes spliced in must be byte for byte what
// JSON.stringify writes: over arbitrary resources and Bundles (fast-check), and over real
// searchsets of the embedded store (matches, includes, _summary/_elements shaping, outcome entries).
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../fhir/definitions.js';
import { markStoredJson } from '../fhir/stored-json.js';
import { put, search, STORE_FACTORIES } from '../search/fixtures.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import type { Store } from '../store/store.js';
import { jsonBody } from './json-body.js';

const text = (body: Resource, pretty = false): string => {
  const out = jsonBody(body, pretty);
  return typeof out === 'string' ? out : out.toString('utf8');
};

/** A resource as a store keeps it: JSON.stringify's bytes, and the object parsed from them. */
function stored(resource: Record<string, unknown>): { resource: Resource; bytes: Buffer } {
  const bytes = Buffer.from(JSON.stringify(resource), 'utf8');
  return { resource: JSON.parse(bytes.toString('utf8')) as Resource, bytes };
}

const strings = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }));
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    strings,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(strings, tie('value'), { maxKeys: 4 })
  ),
}));
const resourceArb = fc.dictionary(strings, json.value, { maxKeys: 6 }).map((r) => ({ ...r, resourceType: 'Immunization', id: 'x' }));

describe('jsonBody', () => {
  it('writes what JSON.stringify writes, with stored bytes spliced in (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ resource: resourceArb, marked: fc.boolean(), replaced: fc.boolean(), extra: fc.option(strings) }), { maxLength: 6 }),
        fc.option(fc.nat()),
        fc.option(strings),
        (specs, total, note) => {
          const entry: BundleEntry[] = specs.map(({ resource, marked, replaced, extra }) => {
            const s = stored(resource);
            const e: BundleEntry & { note?: string } = { fullUrl: `http://x/fhir/Immunization/${extra ?? ''}`, resource: s.resource, search: { mode: 'match' } };
            if (extra !== null) e.note = extra; // not a FHIR field: any own key is written like JSON.stringify does
            if (marked) markStoredJson(e, s.resource, s.bytes);
            if (replaced) e.resource = { ...s.resource, id: 'other' } as Resource; // the bytes no longer apply
            return e;
          });
          const bundle = { resourceType: 'Bundle', id: 'b', type: 'searchset', total: total ?? undefined, meta: { tag: note === null ? undefined : [{ code: note }] }, link: [{ relation: 'self', url: 'u' }], entry } as Bundle;
          expect(text(bundle)).toBe(JSON.stringify(bundle));
          expect(text(bundle, true)).toBe(JSON.stringify(bundle, null, 2));
        }
      ),
      { numRuns: 300 }
    );
  });

  it('writes the common entry shape { fullUrl, resource, search: { mode } } like JSON.stringify (property)', () => {
    const modes = fc.oneof(fc.constantFrom('match', 'include', 'outcome', 'constructor', '__proto__', 'toString'), strings);
    const urls = fc.oneof(fc.webUrl(), strings, fc.constant('http://x/fhir/Immunization/a"b\\c\u2028\ud83d'));
    const searches = fc.oneof(
      modes.map((mode) => ({ mode })),
      fc.record({ mode: modes, score: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
      fc.constant({}),
      fc.constant(null),
      fc.constant({ mode: 1 }),
      fc.constant(Object.create({ inherited: true }, { mode: { value: 'match', enumerable: true } }))
    );
    fc.assert(
      fc.property(fc.array(fc.record({ resource: resourceArb, fullUrl: fc.option(urls), search: searches, order: fc.boolean() }), { maxLength: 5 }), (specs) => {
        const entry = specs.map(({ resource, fullUrl, search, order }) => {
          const s = stored(resource);
          const e = (order ? { fullUrl: fullUrl ?? undefined, resource: s.resource, search } : { resource: s.resource, fullUrl: fullUrl ?? undefined, search }) as BundleEntry;
          markStoredJson(e, s.resource, s.bytes);
          return e;
        });
        const bundle = { resourceType: 'Bundle', type: 'searchset', entry } as Bundle;
        expect(text(bundle)).toBe(JSON.stringify(bundle));
      }),
      { numRuns: 500 }
    );
  });

  it('uses the stored bytes only while the entry holds the resource they were parsed into', () => {
    const s = stored({ resourceType: 'Patient', id: 'p', name: [{ family: 'Ünïcode 😀' }] });
    const entry: BundleEntry = { resource: s.resource };
    markStoredJson(entry, s.resource, Buffer.from('{"resourceType":"Patient","id":"from-bytes"}'));
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', entry: [entry] };
    expect(text(bundle)).toContain('from-bytes'); // the bytes are what is written…
    entry.resource = { resourceType: 'Patient', id: 'replaced' };
    expect(text(bundle)).toBe(JSON.stringify(bundle)); // …until the resource is replaced
    expect(typeof jsonBody(bundle, false)).toBe('string');
  });
});

describe.each(STORE_FACTORIES)('jsonBody over searchsets of the $name', ({ open }) => {
  let store: Store;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    loadDefinitions();
    ({ store, dispose } = await open());
    await put(store, { resourceType: 'Patient', id: 'p1', name: [{ family: 'Ølsen', given: ['Zoë'] }], birthDate: '2020-01-02', gender: 'female', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Zoë \u2028</div>' } });
    for (let i = 0; i < 5; i++) {
      await put(store, {
        resourceType: 'Immunization',
        id: `i${i}`,
        status: 'completed',
        patient: { reference: 'Patient/p1' },
        vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08', display: `Hep B \u00e9 ${i} "quoted" \\ back` }] },
        occurrenceDateTime: `2021-0${i + 1}-01`,
        lotNumber: i % 2 ? 'A1' : undefined,
        note: [{ text: 'line\nbreak\ttab \ud83d\ude00' }],
      } as Resource);
    }
  });
  afterAll(async () => dispose());

  const queries: Array<[string, Array<[string, string]>]> = [
    ['Immunization', [['patient', 'Patient/p1']]],
    ['Immunization', [['patient', 'Patient/p1'], ['_include', 'Immunization:patient']]],
    ['Immunization', [['patient', 'Patient/p1'], ['_count', '2']]],
    ['Immunization', [['patient', 'Patient/p1'], ['_sort', '-date']]],
    ['Immunization', [['patient', 'Patient/p1'], ['_summary', 'true']]],
    ['Immunization', [['patient', 'Patient/p1'], ['_elements', 'status'], ['_include', 'Immunization:patient']]],
    ['Patient', [['name', 'Ølsen'], ['_revinclude', 'Immunization:patient'], ['_summary', 'data']]],
    ['Patient', [['family', 'Ølsen'], ['unknown-param', 'x']]],
  ];
  it.each(queries)('%s %j', async (type, params) => {
    const bundle = await search(store, type, params, { lenient: true });
    expect(bundle.entry?.length).toBeGreaterThan(0);
    expect(text(bundle)).toBe(JSON.stringify(bundle));
  });

  it('splices stored bytes where the store has them (the embedded store)', async () => {
    const bundle = await search(store, 'Immunization', [['patient', 'Patient/p1']]);
    const out = jsonBody(bundle, false);
    expect(typeof out === 'string').toBe(!(store instanceof EmbeddedStore));
  });
});
