// The screen of rank.ts (a fast path: candidates certainly graded none are left out without their
// full comparison) and findMatches' look at a stored candidate's birth date before parsing it must
// never change an answer. Checked on every labelled AIRA/MIIS pair in both directions, on random
// families of records (fast-check: the screened ranking against the full one; findMatches over
// stored JSON against findMatches over parsed records), and on the twin rule, which needs the
// siblings the screen keeps aside. Likewise the features findMatches keeps of the records it met
// (knownCandidates): answers with them equal answers without, and what it hands out is never theirs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Identifier, Patient } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Filter, ResourceRecord, StoreReader } from '../store/store.js';
import { parsePairFile, TEST_MEDICAID_SYSTEM, toPatient } from './aira.js';
import { blockingStages, matchingIndex } from './blocking.js';
import { findMatches, knownCandidates, matchKeysOf, storedBirthDate } from './candidates.js';
import { features, MOTHERS_MAIDEN_NAME_URL } from './features.js';
import { markForReview, POSSIBLE_DUPLICATE_EXTENSION } from './ingest.js';
import { comparePatients } from './compare.js';
import { CandidateRanker, rankCandidates } from './rank.js';
import { HOUSEHOLD, patient, type PatientSpec } from './test-patients.js';

const DIR = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'patient-matching');

/** The ranking without the screen: every candidate compared in full, the grade-none ones dropped at the end. */
function fullRanking(input: Patient, candidates: Patient[]) {
  return rankCandidates(input, candidates, { includeNone: true }).filter((r) => r.decision.grade !== 'none');
}

/** The screen's verdict agrees with the full comparison of the pair. */
function expectScreenSound(a: Patient, b: Patient): 'kept' | 'screened' {
  const verdict = new CandidateRanker(a).screen(b);
  const full = comparePatients(a, b);
  if (typeof verdict !== 'string') {
    expect(verdict).toEqual(full);
    return 'kept';
  }
  expect(full.grade).toBe('none');
  const birth = full.reasons.find((r) => r.field === 'birthDate')?.outcome;
  expect(verdict).toBe(birth === 'agree' ? 'none-same-birth-date' : 'none');
  return 'screened';
}

describe('the screen on every labelled pair', () => {
  it('leaves out only pairs the full comparison grades none, both ways round', () => {
    const seen = new Set<string>();
    let screened = 0;
    let pairs = 0;
    for (const file of readdirSync(DIR).filter((f) => f.endsWith('.txt'))) {
      for (const p of parsePairFile(readFileSync(join(DIR, file), 'utf8'))) {
        const key = JSON.stringify([p.a, p.b]);
        if (seen.has(key)) continue;
        seen.add(key);
        for (const [x, y] of [[p.a, p.b], [p.b, p.a]]) {
          pairs++;
          if (expectScreenSound(toPatient(x, 'A'), toPatient(y, 'B')) === 'screened') screened++;
        }
      }
    }
    // The fast path is exercised, not only the full comparison.
    expect(pairs).toBeGreaterThan(5000);
    expect(screened).toBeGreaterThan(pairs / 20);
  });
});

// Random records from small pools, so that relations of every kind occur: nicknames, typos,
// compound and placeholder names, birth date variants (swap, day, year, digit, month, precision),
// other sex, identifiers that agree, differ by a digit or conflict, households, twins.
const given = fc.constantFrom(['Liam'], ['William'], ['Will'], ['Wiliam'], ['Liam', 'James'], ['James', 'Liam'], ['Ada'], ['Adda'], ['Ngozi'], ['Mary Ann'], ['Mary'], ['A'], ['Baby', 'Boy'], ['Baby', 'Girl', 'B'], ['Ada', 'J']).map((g) => [...g]);
const family = fc.constantFrom('Okafor', 'Okafer', 'Okafor-Smith', 'Smith', 'Garcia', 'Lopez', 'Smyth');
const birthDate = fc.constantFrom('2019-11-02', '2019-02-11', '2019-11-03', '2019-11-01', '2018-11-02', '2019-11-12', '2019-11-24', '2019-11', '2019', '2001-05-05', undefined);
const gender = fc.constantFrom<Patient['gender'] | undefined>('female', 'male', 'unknown', undefined);
const medicaid = (value: string): Identifier => ({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MA' }] }, system: TEST_MEDICAID_SYSTEM, value });

const spec: fc.Arbitrary<PatientSpec> = fc.record(
  {
    given,
    family,
    names: fc.constantFrom(undefined, [{ use: 'old' as const, given: ['Baby', 'Girl'], family: 'Garcia' }], [{ use: 'nickname' as const, given: ['Billy'] }], [{ text: 'Baby Boy Okafor' }]),
    birthDate,
    gender,
    hospitalMrn: fc.constantFrom(undefined, 'H1', 'H2'),
    clinicMrn: fc.constantFrom(undefined, 'C1'),
    ssn: fc.constantFrom(undefined, '123-45-6780', '123-45-6708', '555-12-3456'),
    identifiers: fc.constantFrom(undefined, [medicaid('MA1000')], [medicaid('MA1001')], [{ system: 'urn:other', value: 'X9' }]),
    phone: fc.constantFrom(undefined, HOUSEHOLD.phone, '(616) 555-0134', '(517) 555-9999'),
    line: fc.constantFrom(undefined, HOUSEHOLD.line, '12 Oak St', '14 Oak Street', '9 Elm Road'),
    city: fc.constantFrom(undefined, HOUSEHOLD.city, 'Detroit'),
    zip: fc.constantFrom(undefined, HOUSEHOLD.zip, '48910', '49503'),
    mothersMaidenName: fc.constantFrom(undefined, 'Garcia', 'Lopez', 'Okafor'),
    order: fc.constantFrom(undefined, 1, 2),
    multiple: fc.constantFrom(undefined, true, false),
  },
  { requiredKeys: [] }
);
const withGuardian = (p: Patient, guardian: string | undefined): Patient =>
  guardian === undefined ? p : { ...p, contact: [{ relationship: [{ coding: [{ code: 'MTH' }] }], name: { family: guardian, given: ['Rosa'], ...(guardian === 'Garcia' ? { use: 'maiden' as const } : {}) } }] };
const record = fc.tuple(spec, fc.constantFrom(undefined, 'Garcia', 'Okafor')).map(([s, guardian]) => withGuardian(patient(s), guardian));

describe('the screened ranking equals the full one', () => {
  it('for random inputs and candidate lists (fast-check)', () => {
    fc.assert(
      fc.property(record, fc.array(record, { minLength: 1, maxLength: 8 }), (input, candidates) => {
        const stored = candidates.map((c, i) => ({ ...c, id: `c${i}` }));
        for (const c of stored) expectScreenSound(input, c);
        // Fresh objects for each ranking: no features or decisions carried over between the two.
        const copy = (ps: Patient[]) => ps.map((p) => structuredClone(p));
        expect(rankCandidates(structuredClone(input), copy(stored))).toEqual(fullRanking(structuredClone(input), copy(stored)));
      }),
      { numRuns: 1500, seed: 20261206 }
    );
  });

  it('a twin the screen kept aside still stops a placeholder merge resting on household facts only', () => {
    // The legal record of a newborn: its placeholder is certain on household facts alone, and a
    // sibling is registered (same birth date, another first name, the father's surname, nothing
    // else recorded: graded none, kept aside by the screen) who could be the placeholder's child.
    const family = { family: 'Okafor', birthDate: '2019-11-02', gender: 'female' as const, ...HOUSEHOLD };
    const input = patient({ given: ['Ada'], ...family });
    const placeholder = patient({ id: 'ph', given: ['Baby', 'Girl'], ...family });
    const sibling = patient({ id: 'sib', given: ['Ngozi'], family: 'Nwosu', birthDate: '2019-11-02' });
    expect(new CandidateRanker(input).screen(sibling)).toBe('none-same-birth-date');
    const ranked = rankCandidates(input, [placeholder, sibling]);
    expect(ranked.map((r) => [r.patient.id, r.decision.grade])).toEqual([['ph', 'probable']]);
    expect(ranked[0].decision.reasons.at(-1)?.detail).toMatch(/a twin with the same birth date is registered \(sib\)/);
    expect(ranked).toEqual(fullRanking(input, [placeholder, sibling]));
  });
});

/** A StoreReader over an array answering `s._m` equality / `$in`; raw searches get the JSON as text or as UTF-8 bytes. */
function arrayStore(patients: Patient[], raw: 'text' | 'bytes' | false): StoreReader {
  const keys = new Map(patients.map((p) => [p.id as string, new Set(matchKeysOf(p))]));
  return {
    kind: 'embedded',
    async search(_type: string, query: { filter: Filter; limit: number; raw?: boolean }): Promise<ResourceRecord[]> {
      const want = (query.filter as Record<string, unknown>)['s._m'];
      const wanted = typeof want === 'string' ? [want] : ((want as { $in: string[] }).$in ?? []);
      return patients
        .filter((p) => wanted.some((k) => keys.get(p.id as string)!.has(k)))
        .slice(0, query.limit)
        .map((p) => {
          const head = { resourceType: 'Patient', id: p.id as string, versionId: 1, lastUpdated: '2026-01-01T00:00:00.000Z', deleted: false };
          // A fresh object per search, as a store gives.
          if (!raw || !query.raw) return { ...head, resource: structuredClone(p) };
          return raw === 'text' ? { ...head, json: JSON.stringify(p) } : { ...head, jsonBytes: new TextEncoder().encode(JSON.stringify(p)) };
        });
    },
  } as unknown as StoreReader;
}

describe('findMatches over stored JSON (birth dates looked at before parsing)', () => {
  it('answers as over parsed records (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(record, fc.array(record, { minLength: 1, maxLength: 10 }), async (input, candidates) => {
        const stored = candidates.map((c, i) => ({ ...c, id: `c${i}` }));
        const overParsed = await findMatches(arrayStore(stored, false), structuredClone(input));
        expect(await findMatches(arrayStore(stored, 'text'), structuredClone(input))).toEqual(overParsed);
        expect(await findMatches(arrayStore(stored, 'bytes'), structuredClone(input))).toEqual(overParsed);
      }),
      { numRuns: 1000, seed: 20261206 }
    );
  });

  it('reads the birth date from the text only when the text tells it for certain', () => {
    const p = (extra: Record<string, unknown>) => JSON.stringify({ resourceType: 'Patient', id: 'x', name: [{ family: 'Okafor' }], ...extra });
    expect(storedBirthDate(p({ birthDate: '2019-11-02', gender: 'female' }))).toEqual({ birthDate: '2019-11-02' });
    expect(storedBirthDate(p({ gender: 'female' }))).toEqual({ birthDate: undefined });
    expect(storedBirthDate(p({ birthDate: '2019-11' }))).toEqual({ birthDate: '2019-11' });
    // Not for certain: a contained resource (its own birthDate), the word as a string value, an
    // escape in the value, a value that is not a string, the key below the top level.
    expect(storedBirthDate(p({ birthDate: '2019-11-02', contained: [{ resourceType: 'RelatedPerson', birthDate: '1990-01-01' }] }))).toBeUndefined();
    // Text inside a string value is escaped, so it is never taken for the key.
    expect(storedBirthDate(p({ extension: [{ url: 'urn:x', valueString: '"birthDate":"2000-01-01"' }], birthDate: '2019-11-02' }))).toEqual({ birthDate: '2019-11-02' });
    expect(storedBirthDate(p({ extension: [{ url: 'urn:x', valueString: 'birthDate' }] }))).toBeUndefined();
    expect(storedBirthDate(p({ birthDate: '2019-11-0"2' }))).toBeUndefined();
    expect(storedBirthDate(p({ birthDate: null }))).toBeUndefined();
    expect(storedBirthDate(p({ contact: [{ birthDate: '1990-01-01' }] }))).toBeUndefined();
  });

  it('looks for birth dates in the text only when one can leave a candidate out', () => {
    // Name, birth date and sex only: a candidate born on another date is certainly none.
    expect(new CandidateRanker(patient({ given: ['Ada'], family: 'Okafor', birthDate: '2019-11-02', gender: 'female' })).screensByBirthDate).toBe(true);
    // A full registration record: the same name and household could still make another birth date possible.
    const full = patient({ given: ['Ada', 'Grace'], family: 'Okafor', birthDate: '2019-11-02', gender: 'female', hospitalMrn: 'H1', ...HOUSEHOLD });
    expect(new CandidateRanker(full).screensByBirthDate).toBe(false);
  });

  it('agrees with the parsed resource on random records (fast-check)', () => {
    fc.assert(
      fc.property(record, (p) => {
        const seen = storedBirthDate(JSON.stringify(p));
        if (seen !== undefined) expect(seen.birthDate).toBe(p.birthDate);
      }),
      { numRuns: 500, seed: 20261206 }
    );
  });
});

describe('findMatches with the records of earlier calls known (knownCandidates)', () => {
  /** Each input's answer with nothing known: the reference. */
  async function cold(store: StoreReader, inputs: Patient[]) {
    const answers = [];
    for (const input of inputs) {
      knownCandidates.clear();
      answers.push(await findMatches(store, structuredClone(input)));
    }
    return answers;
  }

  it('answers as with nothing known, call after call (fast-check)', async () => {
    let known = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 4 }), fc.array(record, { minLength: 1, maxLength: 10 }), async (inputs, candidates) => {
        const stored = candidates.map((c, i) => ({ ...c, id: `c${i}` }));
        const store = arrayStore(stored, 'text');
        const reference = await cold(store, inputs);
        knownCandidates.clear();
        // Twice over, the cache warm from the earlier calls (and from this input's own earlier call).
        for (let round = 0; round < 2; round++) {
          for (let i = 0; i < inputs.length; i++) {
            const counts = { read: 0, parsed: 0, known: 0 };
            const answer = await findMatches(store, structuredClone(inputs[i]), { counts });
            known += counts.known;
            expect(answer).toEqual(reference[i]);
          }
        }
      }),
      { numRuns: 400, seed: 20261207 }
    );
    expect(known).toBeGreaterThan(500);
  });

  it('uses what it knows of a record only for the same stored text (a new version, or another store)', async () => {
    await fc.assert(
      fc.asyncProperty(record, fc.array(record, { minLength: 1, maxLength: 6 }), fc.array(record, { minLength: 1, maxLength: 6 }), async (input, before, after) => {
        // The same ids with other contents: another version of each record, or another store's records.
        const first = arrayStore(before.map((c, i) => ({ ...c, id: `c${i}` })), 'text');
        const second = arrayStore(after.map((c, i) => ({ ...c, id: `c${i}` })), 'text');
        const [reference] = await cold(second, [input]);
        knownCandidates.clear();
        await findMatches(first, structuredClone(input));
        expect(await findMatches(second, structuredClone(input))).toEqual(reference);
      }),
      { numRuns: 300, seed: 20261207 }
    );
  });

  it('hands out its own copies: changing the records of an answer changes no later answer', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 3 }), fc.array(record, { minLength: 1, maxLength: 8 }), async (inputs, candidates) => {
        const store = arrayStore(candidates.map((c, i) => ({ ...c, id: `c${i}` })), 'text');
        const reference = await cold(store, inputs);
        knownCandidates.clear();
        for (let round = 0; round < 3; round++) {
          for (let i = 0; i < inputs.length; i++) {
            const answer = await findMatches(store, structuredClone(inputs[i]));
            expect(answer).toEqual(reference[i]);
            // A caller scribbling on what it got (as it may: the records are its own).
            for (const r of answer) {
              r.patient.birthDate = '1900-01-01';
              r.patient.name = [{ family: 'Scribbled', given: ['Over'] }];
              r.patient.link = [{ type: 'replaced-by', other: { reference: 'Patient/x' } }];
            }
          }
        }
      }),
      { numRuns: 300, seed: 20261207 }
    );
  });
});

describe('findMatches handing out the cache\'s own records to a caller that only reads them (shared)', () => {
  it('answers as with fresh copies and as with nothing known, shared and fresh calls mixed (fast-check)', async () => {
    let shared = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { minLength: 1, maxLength: 4 }),
        fc.array(record, { minLength: 1, maxLength: 10 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        async (inputs, candidates, sharedCalls) => {
          const store = arrayStore(candidates.map((c, i) => ({ ...c, id: `c${i}` })), 'text');
          const reference: unknown[] = [];
          for (const input of inputs) {
            knownCandidates.clear();
            reference.push(await findMatches(store, structuredClone(input)));
          }
          knownCandidates.clear();
          let call = 0;
          for (let round = 0; round < 3; round++) {
            for (let i = 0; i < inputs.length; i++) {
              const asShared = sharedCalls[call++ % sharedCalls.length];
              const answer = await findMatches(store, structuredClone(inputs[i]), asShared ? { shared: true } : {});
              expect(answer).toEqual(reference[i]);
              if (asShared) shared += answer.length;
              // A fresh answer is the caller's own: scribbling on it changes no later answer.
              if (!asShared) for (const r of answer) r.patient.birthDate = '1900-01-01';
            }
          }
        }
      ),
      { numRuns: 300, seed: 20261207 }
    );
    expect(shared).toBeGreaterThan(100);
  });
});

describe("markForReview's copy shares the incoming record's features", () => {
  const extension = fc.constantFrom(
    { url: MOTHERS_MAIDEN_NAME_URL, valueString: 'Okafor' },
    { url: MOTHERS_MAIDEN_NAME_URL, valueString: 'Garcia-Lopez' },
    { url: POSSIBLE_DUPLICATE_EXTENSION, valueReference: { reference: 'Patient/old' } },
    { url: 'http://example.org/other', valueString: 'x' }
  );
  it('its features and blocking keys are those computed afresh (fast-check)', () => {
    fc.assert(
      fc.property(record, fc.array(extension, { maxLength: 4 }), fc.integer({ min: 1, max: 3 }), (base, extra, n) => {
        const incoming: Patient = { ...base, extension: [...(base.extension ?? []), ...extra] };
        // As findMatches does first: the incoming record's features and keys computed.
        const stages = blockingStages(incoming);
        expect(stages).toEqual(blockingStages(structuredClone(incoming)));
        const probable = Array.from({ length: n }, (_, i) => ({
          patient: { resourceType: 'Patient', id: `p${i}` } as Patient,
          decision: { grade: 'probable' as const, score: 0.6, weight: 10, reasons: [] },
        }));
        const marked = markForReview(incoming, probable);
        const fresh = structuredClone(marked);
        expect(features(marked)).toEqual(features(fresh));
        expect(matchingIndex(marked)).toEqual(matchingIndex(fresh));
        expect(matchKeysOf(marked)).toEqual(matchKeysOf(structuredClone(marked)));
      }),
      { numRuns: 1000, seed: 20261207 }
    );
  });
});
