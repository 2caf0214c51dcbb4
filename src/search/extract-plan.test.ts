// Index extraction evaluates most SearchParameters with plain-path plans (params.ts planFor,
// extract.ts runPlan and member) instead of @medplum/core's FHIRPath; both must give the same index.
// Checked over generated Patients and Immunizations (every element the bench's and the IIS's
// writes carry, present or not, repeated or not, with odd texts): the index with the plans equals
// the index with every parameter evaluated by FHIRPath, byte for byte as stored (JSON text). And
// tokenEntries (both paths' token normalisation, its repeats dropped by a collector object since
// session 9) gives what its closure-based version gave, over generated values of every kind it reads.
import type { TypedValue } from '@medplum/core';
import type { Immunization, Patient, Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractSearchIndex, extractSearchIndexRunningEveryPlan, tokenEntries, tokenKey, type TokenEntry } from './extract.js';
import { paramDefs } from './params.js';
import { foldedWithWords } from './util.js';

type CodingLike = { system?: string; code?: string; display?: string };

/** tokenEntries as it was before session 9 (closures per call): the reference. */
function tokenEntriesReference(values: TypedValue[]): TokenEntry[] {
  const out: TokenEntry[] = [];
  const seen = new Set<string>();
  const add = (e: TokenEntry): void => {
    const key = tokenKey(e);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(e);
  };
  const addText = (text: unknown): void => {
    if (typeof text !== 'string') return;
    for (const t of foldedWithWords(text)) add({ t });
  };
  const addCoding = (c: CodingLike | undefined): void => {
    if (!c || typeof c !== 'object') return;
    if (c.code !== undefined || c.system !== undefined) {
      const e: { s?: string; c?: string } = {};
      if (c.system) e.s = c.system;
      if (c.code !== undefined && c.code !== '') e.c = String(c.code);
      if (e.s !== undefined || e.c !== undefined) add(e);
    }
    addText(c.display);
  };
  for (const tv of values) {
    const v = tv.value;
    if (v === undefined || v === null) continue;
    switch (tv.type) {
      case 'Coding':
        addCoding(v as CodingLike);
        break;
      case 'CodeableConcept': {
        const cc = v as { coding?: CodingLike[]; text?: string };
        for (const c of cc.coding ?? []) addCoding(c);
        addText(cc.text);
        break;
      }
      case 'Identifier': {
        const id = v as { system?: string; value?: string; type?: { coding?: CodingLike[]; text?: string } };
        const base: { s?: string; c?: string } = {};
        if (id.system) base.s = id.system;
        if (id.value !== undefined && id.value !== '') base.c = id.value;
        if (base.s === undefined && base.c === undefined) break;
        const typeCodings = (id.type?.coding ?? []).filter((c) => c && (c.code || c.system));
        if (typeCodings.length === 0) add(base);
        for (const tc of typeCodings) {
          // Built member by member (a spread followed by more members is V8's slow path): the same object as `{ ...base }`.
          const e: { s?: string; c?: string; ts?: string; tc?: string } = {};
          if (base.s !== undefined) e.s = base.s;
          if (base.c !== undefined) e.c = base.c;
          if (tc.system) e.ts = tc.system;
          if (tc.code) e.tc = tc.code;
          add(e);
        }
        addText(id.type?.text);
        break;
      }
      case 'ContactPoint': {
        const cp = v as { system?: string; value?: string };
        if (cp.value) add(cp.system ? { s: cp.system, c: cp.value } : { c: cp.value });
        break;
      }
      case 'boolean':
        add({ c: v ? 'true' : 'false' });
        break;
      default:
        if (typeof v === 'string' || typeof v === 'number') add({ c: String(v) });
        else if (typeof v === 'boolean') add({ c: v ? 'true' : 'false' });
        else if (typeof v === 'object' && typeof (v as CodingLike).code === 'string') addCoding(v as CodingLike);
    }
  }
  return out;
}


/** extractSearchIndex with every parameter of the type evaluated by FHIRPath (the plans set aside). */
function byFhirPath(resource: Resource): string {
  const defs = [...(paramDefs(resource.resourceType)?.values() ?? [])];
  const plans = defs.map((d) => d.plan);
  try {
    for (const d of defs) d.plan = undefined;
    return JSON.stringify(extractSearchIndex(resource));
  } finally {
    defs.forEach((d, i) => (d.plan = plans[i]));
  }
}

const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const text = fc.constantFrom('Smith', 'smith', 'José', "O'Brien", 'Smith-Jones', '  Mary  Ann ', 'ß', '', '2901 Miller St', 'Ávila Ñuñez', 'x', 'B-28188-2901');
const system = fc.constantFrom('http://hl7.org/fhir/sid/us-ssn', 'urn:oid:2.16.840.1.113883.4.1', 'https://iis.example/mrn', 'phone', 'email');
const code = fc.constantFrom('08', '20', 'MR', 'SS', 'home', 'work', 'C28161', 'LA', '');
const coding = fc.record({ system: opt(system), code: opt(code), display: opt(text) }, { requiredKeys: [], noNullPrototype: true });
const concept = fc.record({ coding: opt(fc.array(coding, { maxLength: 3 })), text: opt(text) }, { requiredKeys: [], noNullPrototype: true });
const date = fc.constantFrom('2019-11-02', '2019-11', '2019', '2024-05-01T10:20:30.456Z', '2024-05-01T10:20:30-05:00', '2024-13-01', 'nonsense');
const reference = fc.constantFrom('Patient/p1', 'Patient/p2/_history/3', 'Organization/o1', 'http://other.example/fhir/Practitioner/x', '#contained', 'urn:uuid:0b0f', 'Practitioner/pr1');
const identifier = fc.record({ system: opt(system), value: opt(text), type: opt(concept), use: opt(fc.constantFrom('usual', 'official') as fc.Arbitrary<'usual' | 'official'>) }, { requiredKeys: [], noNullPrototype: true });
const humanName = fc.record(
  { use: opt(fc.constantFrom('official', 'nickname', 'old') as fc.Arbitrary<'official' | 'nickname' | 'old'>), family: opt(text), given: opt(fc.array(text, { maxLength: 3 })), prefix: opt(fc.array(text, { maxLength: 1 })), suffix: opt(fc.array(text, { maxLength: 1 })), text: opt(text) },
  { requiredKeys: [], noNullPrototype: true }
);
const address = fc.record(
  { use: opt(fc.constantFrom('home', 'work') as fc.Arbitrary<'home' | 'work'>), line: opt(fc.array(text, { maxLength: 2 })), city: opt(text), district: opt(text), state: opt(text), postalCode: opt(text), country: opt(text), text: opt(text) },
  { requiredKeys: [], noNullPrototype: true }
);
const contact = fc.record({ system: opt(fc.constantFrom('phone', 'email', 'fax') as fc.Arbitrary<'phone' | 'email' | 'fax'>), value: opt(text), use: opt(fc.constantFrom('home', 'mobile') as fc.Arbitrary<'home' | 'mobile'>) }, { requiredKeys: [], noNullPrototype: true });

const patient: fc.Arbitrary<Patient> = fc
  .record(
    {
      identifier: opt(fc.array(identifier, { maxLength: 3 })),
      active: opt(fc.boolean()),
      name: opt(fc.array(humanName, { maxLength: 3 })),
      telecom: opt(fc.array(contact, { maxLength: 3 })),
      gender: opt(fc.constantFrom('male', 'female', 'unknown') as fc.Arbitrary<'male' | 'female' | 'unknown'>),
      birthDate: opt(date),
      deceasedBoolean: opt(fc.boolean()),
      address: opt(fc.array(address, { maxLength: 2 })),
      generalPractitioner: opt(fc.array(reference.map((r) => ({ reference: r })), { maxLength: 2 })),
      managingOrganization: opt(reference.map((r) => ({ reference: r }))),
      link: opt(fc.array(reference.map((r) => ({ other: { reference: r }, type: 'seealso' as const })), { maxLength: 2 })),
      communication: opt(fc.array(fc.record({ language: concept }, { noNullPrototype: true }), { maxLength: 1 })),
    },
    { requiredKeys: [], noNullPrototype: true }
  )
  .map((p) => ({ resourceType: 'Patient', id: 'p1', ...p }) as Patient);

const immunization: fc.Arbitrary<Immunization> = fc
  .record(
    {
      identifier: opt(fc.array(identifier, { maxLength: 2 })),
      status: fc.constantFrom('completed', 'not-done', 'entered-in-error') as fc.Arbitrary<'completed' | 'not-done' | 'entered-in-error'>,
      statusReason: opt(concept),
      vaccineCode: concept,
      patient: reference.map((r) => ({ reference: r })),
      occurrenceDateTime: opt(date),
      occurrenceString: opt(text),
      recorded: opt(date),
      primarySource: opt(fc.boolean()),
      reportOrigin: opt(concept),
      location: opt(reference.map((r) => ({ reference: r }))),
      manufacturer: opt(reference.map((r) => ({ reference: r }))),
      lotNumber: opt(text),
      expirationDate: opt(date),
      site: opt(concept),
      route: opt(concept),
      performer: opt(fc.array(fc.record({ function: opt(concept), actor: reference.map((r) => ({ reference: r })) }, { requiredKeys: ['actor'], noNullPrototype: true }), { maxLength: 2 })),
      reasonCode: opt(fc.array(concept, { maxLength: 2 })),
      reaction: opt(fc.array(fc.record({ date: opt(date), detail: opt(reference.map((r) => ({ reference: r }))) }, { requiredKeys: [], noNullPrototype: true }), { maxLength: 1 })),
      protocolApplied: opt(fc.array(fc.record({ series: opt(text), doseNumberPositiveInt: opt(fc.integer({ min: 1, max: 5 })), targetDisease: opt(fc.array(concept, { maxLength: 1 })) }, { requiredKeys: [], noNullPrototype: true }), { maxLength: 2 })),
    },
    { requiredKeys: ['status', 'vaccineCode', 'patient'], noNullPrototype: true }
  )
  .map((i) => ({ resourceType: 'Immunization', id: 'i1', ...i }) as Immunization);

describe('index extraction with plans', () => {
  it('gives what FHIRPath gives for generated Patients and Immunizations', () => {
    fc.assert(
      fc.property(fc.oneof(patient, immunization), (resource) => {
        expect(JSON.stringify(extractSearchIndex(resource))).toBe(byFhirPath(resource));
      }),
      { numRuns: 1500 }
    );
  });
});

describe('parameters whose members are absent', () => {
  // extractSearchIndex skips a plan whose first members the resource lacks (mayHaveValues): the
  // same index as running every plan, also with members null or empty, and `deceased` (notFalse).
  const blanks = fc.dictionary(
    fc.constantFrom('identifier', 'name', 'telecom', 'address', 'deceasedBoolean', 'deceasedDateTime', 'meta', 'active', 'link', 'occurrenceDateTime', 'lotNumber', 'manufacturer', 'performer', 'protocolApplied', 'reaction'),
    fc.constantFrom(null, [], {}, [null], false) as fc.Arbitrary<unknown>
  );
  it('gives the index of running every plan', () => {
    fc.assert(
      fc.property(fc.oneof(patient, immunization), blanks, (resource, extra) => {
        const withBlanks = { ...resource, ...extra } as Resource;
        for (const r of [resource, withBlanks]) expect(JSON.stringify(extractSearchIndex(r))).toBe(JSON.stringify(extractSearchIndexRunningEveryPlan(r)));
      }),
      { numRuns: 1500 }
    );
  });
});

describe('tokenEntries', () => {
  it('gives what its closure-based version gave', () => {
    const typed: fc.Arbitrary<TypedValue> = fc.oneof(
      coding.map((value) => ({ type: 'Coding', value })),
      concept.map((value) => ({ type: 'CodeableConcept', value })),
      identifier.map((value) => ({ type: 'Identifier', value })),
      contact.map((value) => ({ type: 'ContactPoint', value })),
      fc.boolean().map((value) => ({ type: 'boolean', value })),
      fc.oneof(text, code, fc.integer()).map((value) => ({ type: 'code', value })),
      coding.map((value) => ({ type: 'Quantity', value })),
      fc.constantFrom(null, undefined, {}).map((value) => ({ type: 'Coding', value }))
    );
    fc.assert(
      fc.property(fc.array(typed, { maxLength: 8 }), (values) => {
        expect(JSON.stringify(tokenEntries(values))).toBe(JSON.stringify(tokenEntriesReference(values)));
      }),
      { numRuns: 3000 }
    );
  });
});
