// Test fixtures and store factories shared by the search tests (not a test file itself).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { MongoClient } from 'mongodb';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { MongoStore } from '../store/mongo/mongo-store.js';
import type { Store } from '../store/store.js';
import { searchBundle, type SearchBundleRequest } from './execute.js';
import { extractSearchIndex } from './extract.js';
import { EMBEDDED_INDEXES, embeddedUncounted, MONGO_INDEXES } from './indexes.js';
import { TestStore } from './test-store.js';

export const BASE = 'http://localhost:8080/fhir';

export interface StoreFactory {
  name: string;
  open(): Promise<{ store: Store; dispose(): Promise<void> }>;
}

export const STORE_FACTORIES: StoreFactory[] = [
  {
    name: 'mingo test store',
    async open() {
      const store = new TestStore();
      return { store, dispose: async () => undefined };
    },
  },
  {
    name: 'embedded store',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'iis-search-test-'));
      const store = new EmbeddedStore({ dataDir: dir, indexes: EMBEDDED_INDEXES, uncounted: embeddedUncounted });
      await store.init();
      return {
        store,
        dispose: async () => {
          await store.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

// With TEST_MONGODB_URL set (e.g. FerretDB from scripts/ferretdb.sh), the same suites also run on
// the MongoDB store, in a fresh database dropped afterwards.
const TEST_MONGODB_URL = process.env.TEST_MONGODB_URL;
if (TEST_MONGODB_URL) {
  STORE_FACTORIES.push({
    name: 'MongoDB store',
    async open() {
      const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/i.exec(TEST_MONGODB_URL);
      if (!m) throw new Error(`cannot parse TEST_MONGODB_URL ${TEST_MONGODB_URL}`);
      const db = `iis_search_${randomUUID().slice(0, 8)}`;
      const store = new MongoStore({ url: `${m[1]}/${db}${m[2] ?? ''}`, indexes: MONGO_INDEXES });
      await store.init();
      return {
        store,
        dispose: async () => {
          await store.close();
          const client = new MongoClient(TEST_MONGODB_URL);
          try {
            await client.db(db).dropDatabase();
          } finally {
            await client.close();
          }
        },
      };
    },
  });
}

export async function put(store: Store, resource: Resource): Promise<void> {
  const id = resource.id as string;
  await store.write({ resourceType: resource.resourceType, id, resource, index: extractSearchIndex(resource) });
}

export async function del(store: Store, resourceType: string, id: string): Promise<void> {
  await store.write({ resourceType, id });
}

export function search(
  store: Store,
  resourceType: string | undefined,
  params: Array<[string, string]>,
  extra: Partial<SearchBundleRequest> = {}
): Promise<Bundle> {
  return searchBundle(store, { resourceType, params, baseUrl: BASE, ...extra });
}

/** Match ids (sorted unless keepOrder), `Type/id` for system searches. */
export function matchIds(bundle: Bundle, keepOrder = false, typed = false): string[] {
  const ids = (bundle.entry ?? [])
    .filter((e) => e.search?.mode === 'match')
    .map((e) => (typed ? `${e.resource?.resourceType}/${e.resource?.id}` : (e.resource?.id as string)));
  return keepOrder ? ids : ids.sort();
}

export function includeIds(bundle: Bundle): string[] {
  return (bundle.entry ?? [])
    .filter((e) => e.search?.mode === 'include')
    .map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)
    .sort();
}

export function linkOf(bundle: Bundle, relation: string): string | undefined {
  return bundle.link?.find((l) => l.relation === relation)?.url;
}

/** The params of a link URL, ready to send back to searchBundle. */
export function paramsOf(url: string): Array<[string, string]> {
  return [...new URL(url).searchParams.entries()] as Array<[string, string]>;
}

/** An accurate-as-can-be error check: the FhirError status and the diagnostics text. */
export async function expectFhirError(p: Promise<unknown>): Promise<{ status: number; text: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { status?: number; outcome?: { issue?: Array<{ diagnostics?: string }> } };
    return { status: e.status ?? -1, text: (e.outcome?.issue ?? []).map((i) => i.diagnostics ?? '').join(' | ') };
  }
  throw new Error('expected a FhirError, the call succeeded');
}

export const MR = 'http://terminology.hl7.org/CodeSystem/v2-0203';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const NDC = 'http://hl7.org/fhir/sid/ndc';

/** Patients pA..pE, Immunizations i1..i5, Organizations o1, o2, Consent c1. */
export function fixtureResources(): Resource[] {
  return [
    {
      resourceType: 'Organization',
      id: 'o1',
      name: 'Clinique Saint-Jérôme',
      identifier: [{ system: 'urn:org', value: 'ORG1' }],
    },
    { resourceType: 'Organization', id: 'o2', name: 'Annex', partOf: { reference: 'Organization/o1' } },
    {
      resourceType: 'Patient',
      id: 'pA',
      active: true,
      name: [{ use: 'official', family: 'Smith-Jones', given: ['José'] }],
      gender: 'male',
      birthDate: '2020-05-01',
      identifier: [{ system: 'urn:mrn', value: 'A1', type: { coding: [{ system: MR, code: 'MR' }], text: 'Medical record' } }],
      address: [{ line: ['1 Rue Principale'], city: 'Montréal', postalCode: 'H2X 1Y4', country: 'CA' }],
      telecom: [{ system: 'phone', value: '555-0001' }],
      managingOrganization: { reference: 'Organization/o1' },
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'fr' }] } }],
      meta: { profile: ['http://example.org/StructureDefinition/iis-patient'] },
    },
    {
      resourceType: 'Patient',
      id: 'pB',
      name: [{ family: 'Doe', given: ['Jose'] }],
      gender: 'female',
      birthDate: '2020',
      identifier: [
        { system: 'urn:mrn', value: 'B1' },
        { system: 'urn:ssn', value: '123' },
      ],
      meta: { tag: [{ system: 'http://example.org/tags', code: 'vip', display: 'Very important' }] },
    },
    {
      resourceType: 'Patient',
      id: 'pC',
      name: [{ family: "O'Brien", given: ['Anna'] }],
      gender: 'female',
      birthDate: '2019-12-31',
      identifier: [{ system: 'urn:other', value: 'A1' }],
      deceasedDateTime: '2021-01-01T00:30:00+01:00',
    },
    {
      resourceType: 'Patient',
      id: 'pD',
      name: [{ family: 'Müller', given: ['Zoë'] }],
      birthDate: '2020-05',
    },
    {
      resourceType: 'Patient',
      id: 'pE',
      name: [{ text: 'Baby Boy' }],
      identifier: [{ value: 'X9' }],
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Baby Boy</div>' },
    },
    {
      resourceType: 'Immunization',
      id: 'i1',
      status: 'completed',
      vaccineCode: { coding: [{ system: CVX, code: '08', display: 'Hep B, adolescent or pediatric' }] },
      patient: { reference: 'Patient/pA' },
      occurrenceDateTime: '2021-03-01T00:30:00+01:00',
      lotNumber: 'AB-12',
      reaction: [{ date: '2021-03-02' }, { date: '2021-03-05' }],
    },
    {
      resourceType: 'Immunization',
      id: 'i2',
      status: 'completed',
      vaccineCode: {
        coding: [
          { system: CVX, code: '20', display: 'DTaP' },
          { system: NDC, code: '58160-0811-52' },
        ],
      },
      patient: { reference: 'Patient/pA' },
      occurrenceDateTime: '2021-03-01',
      performer: [{ actor: { reference: 'Organization/o1' } }],
    },
    {
      resourceType: 'Immunization',
      id: 'i3',
      status: 'entered-in-error',
      vaccineCode: { coding: [{ system: CVX, code: '08' }] },
      patient: { reference: `${BASE}/Patient/pB` },
      occurrenceDateTime: '2021-06-15T10:00:00Z',
    },
    {
      resourceType: 'Immunization',
      id: 'i4',
      status: 'completed',
      vaccineCode: { coding: [{ system: CVX, code: '03' }], text: 'MMR' },
      patient: { reference: 'Patient/pC' },
      occurrenceDateTime: '2020',
    },
    {
      resourceType: 'Immunization',
      id: 'i5',
      status: 'completed',
      vaccineCode: { coding: [{ system: CVX, code: '03' }] },
      patient: { reference: 'http://other.example.org/fhir/Patient/zz' },
      occurrenceDateTime: '2022-01-10T08:00:00-05:00',
    },
    {
      resourceType: 'Consent',
      id: 'c1',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: 'Patient/pA' },
      organization: [{ reference: 'Organization/o1' }],
      dateTime: '2021-01-01',
      provision: { type: 'deny' },
    },
  ] as Resource[];
}

export async function loadFixtures(store: Store): Promise<void> {
  for (const r of fixtureResources()) await put(store, r);
}
