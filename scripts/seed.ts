// Seeds a registry with realistic synthetic data, written directly into the store (the Store API;
// batched inserts on MongoDB, see below), with search indexes and the matching engine's blocking
// keys exactly as the server writes them, for benchmarks and demos:
//   npm run seed -- --patients 100000 --immunizations 1000000 [--data-dir ./data | --mongodb-url URL]
//                   [--organizations 50] [--consents-percent 1.5] [--seed 42] [--batch 5000]
// Patients are children and adolescents (names, birth dates, MRNs, addresses); Immunizations follow
// the CDC childhood and adolescent schedule for each patient's age (real CVX codes, with the NDC,
// manufacturer and lot of a real product), topped up with yearly influenza doses to reach the
// requested count; a share of patients has a data-sharing Consent (No, or Unknown).
//
// The embedded store must not be open in a running server (DATA_DIR is locked). It is LMDB on disk:
// the seed process and a server opening the data set hold no per-resource state in memory.
// MONGODB_URL (or --mongodb-url) seeds MongoDB instead: resources are inserted in batches in the
// store's layout (see MongoLoader), as one Store API write per resource is far too slow for a million.
import { recordBackfillNotNeeded } from '../src/hl7v2/backfill-conditions.js';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { open as openLmdb } from 'lmdb';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Consent, Immunization, Organization, Patient, Resource } from '@medplum/fhirtypes';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { indexFor } from '../src/interactions/write-support.js';
import { embeddedIndexes, embeddedUncounted, mongoIndexes } from '../src/app/open-store.js';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.js';
import { MongoClient, type Document } from 'mongodb';
import { databaseNameFromUrl, MongoStore } from '../src/store/mongo/mongo-store.js';
import { nextInstant, stampMeta, type Store, type WriteOp } from '../src/store/store.js';
import { readCdcDirectory } from '../src/terminology/cdc-files.js';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '100000' },
    immunizations: { type: 'string', default: '1000000' },
    organizations: { type: 'string', default: '50' },
    'consents-percent': { type: 'string', default: '1.5' },
    'data-dir': { type: 'string' },
    'mongodb-url': { type: 'string' },
    seed: { type: 'string', default: '42' },
    batch: { type: 'string', default: '5000' },
    quiet: { type: 'boolean', default: false },
  },
});

const PATIENTS = positive('patients');
const IMMUNIZATIONS = positive('immunizations', true);
const ORGANIZATIONS = positive('organizations');
const CONSENT_SHARE = Number(values['consents-percent']) / 100;
const BATCH = positive('batch');
const TODAY = new Date();
const MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.3.72.5.9.1';
const IMM_SYSTEM = 'urn:oid:2.16.840.1.113883.3.72.5.9.2';
const CVX = 'http://hl7.org/fhir/sid/cvx';
const NDC = 'http://hl7.org/fhir/sid/ndc';

function positive(name: 'patients' | 'immunizations' | 'organizations' | 'batch', zeroOk = false): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1)) throw new Error(`--${name} must be a ${zeroOk ? 'non-negative' : 'positive'} integer`);
  return n;
}

// ---- deterministic randomness -------------------------------------------------------------------

let state = Number(values.seed) >>> 0 || 42;
function rand(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
/** A UUID derived from a name, so the same seed yields the same ids. */
function uuidOf(name: string): string {
  const h = createHash('sha1').update(`${values.seed}:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
const day = (d: Date) => d.toISOString().slice(0, 10);
const addDays = (d: Date, n: number) => new Date(d.getTime() + n * 86_400_000);

// ---- vocabularies -------------------------------------------------------------------------------

const GIVEN_F = ['Olivia', 'Emma', 'Charlotte', 'Amelia', 'Sophia', 'Mia', 'Isabella', 'Ava', 'Evelyn', 'Luna', 'Harper', 'Sofia', 'Camila', 'Eleanor', 'Elizabeth', 'Violet', 'Scarlett', 'Emily', 'Hazel', 'Lily', 'Aaliyah', 'Zoe', 'Nora', 'Maya', 'Chloe', 'Priya', 'Mei', 'Fatima', 'Ximena', 'Leah'];
const GIVEN_M = ['Liam', 'Noah', 'Oliver', 'James', 'Elijah', 'Mateo', 'Theodore', 'Henry', 'Lucas', 'William', 'Benjamin', 'Levi', 'Sebastian', 'Jack', 'Ezra', 'Michael', 'Daniel', 'Leo', 'Owen', 'Samuel', 'Hudson', 'Alexander', 'Asher', 'Luca', 'Ethan', 'Arjun', 'Wei', 'Omar', 'Santiago', 'Kwame'];
const FAMILY = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts', 'Okafor', 'Patel', 'Kim', 'Chen', 'Haddad', 'Kowalski', 'Novak', 'Yamamoto', 'Mensah', 'Oconnor'];
const STREETS = ['Main St', 'Oak Ave', 'Maple Dr', 'Cedar Ln', 'Pine St', 'Elm St', 'Washington Ave', 'Lake Rd', 'Hill St', 'Park Ave', 'River Rd', 'Sunset Blvd'];
const CITIES: Array<[string, string]> = [['Springfield', '62701'], ['Riverton', '62702'], ['Franklin', '62703'], ['Greenville', '62704'], ['Clinton', '62705'], ['Madison', '62706'], ['Georgetown', '62707'], ['Salem', '62708']];
const SITES = [['LA', 'left arm'], ['RA', 'right arm'], ['LT', 'left thigh'], ['RT', 'right thigh']] as const;

/** CDC schedule: CVX candidates and the ages (days) doses are typically given. */
const SCHEDULE: Array<{ cvx: string[]; ages: number[]; route: string; maxAge?: number }> = [
  { cvx: ['08'], ages: [0, 45, 200], route: 'IM' }, // Hep B: birth, 1-2 mo, 6-18 mo
  { cvx: ['116', '119'], ages: [61, 122, 183], route: 'PO', maxAge: 240 }, // rotavirus
  { cvx: ['20', '106'], ages: [61, 122, 183, 470, 1640], route: 'IM' }, // DTaP
  { cvx: ['49', '48'], ages: [61, 122, 380], route: 'IM' }, // Hib
  { cvx: ['133', '215', '216'], ages: [61, 122, 183, 380], route: 'IM' }, // pneumococcal conjugate
  { cvx: ['10'], ages: [61, 122, 220, 1640], route: 'SC' }, // IPV
  { cvx: ['03'], ages: [380, 1640], route: 'SC' }, // MMR
  { cvx: ['21'], ages: [380, 1640], route: 'SC' }, // varicella
  { cvx: ['83'], ages: [380, 560], route: 'IM' }, // Hep A, pediatric
  { cvx: ['115'], ages: [4200], route: 'IM' }, // Tdap at 11-12 y
  { cvx: ['165'], ages: [4200, 4400], route: 'IM' }, // HPV
  { cvx: ['136', '114', '203'], ages: [4200, 5850], route: 'IM' }, // MenACWY
];
const FLU = ['150', '161', '141', '158', '171', '197'];

interface Product {
  cvx: string;
  display: string;
  ndc?: string;
  ndcDisplay?: string;
  mvx?: string;
  manufacturer?: string;
}

function loadProducts(): Map<string, Product> {
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'profiles', 'codesets', 'cdc');
  const release = readCdcDirectory(dir);
  const mvxName = new Map((release.mvx ?? []).map((m) => [m.code, m.name]));
  const products = new Map<string, Product>();
  for (const c of release.cvx ?? []) products.set(c.code, { cvx: c.code, display: c.shortDescription });
  for (const n of release.ndc ?? []) {
    for (const code of n.cvx) {
      const p = products.get(code);
      if (!p || p.ndc || n.cvx.length !== 1) continue;
      p.ndc = n.hyphenated;
      p.ndcDisplay = n.proprietaryName;
      p.mvx = n.mvx[0];
      p.manufacturer = n.mvx[0] ? mvxName.get(n.mvx[0]) : n.labelerName;
    }
  }
  return products;
}

// ---- resources ----------------------------------------------------------------------------------

function organization(i: number): Organization {
  const [city, zip] = pick(CITIES);
  return {
    resourceType: 'Organization',
    id: uuidOf(`org-${i}`),
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.10', value: `FAC${String(1000 + i)}` }],
    active: true,
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
    name: `${pick(['Riverside', 'Lakeview', 'Sunrise', 'Maple', 'Northgate', 'Valley', 'Harbor', 'Summit'])} ${pick(['Pediatrics', 'Family Medicine', 'Health Center', 'Clinic', 'Community Health'])} ${i + 1}`,
    address: [{ line: [`${int(1, 999)} ${pick(STREETS)}`], city, state: 'IL', postalCode: zip, country: 'US' }],
  };
}

function patient(i: number): { resource: Patient; birth: Date } {
  const female = rand() < 0.49;
  const ageDays = rand() < 0.08 ? int(0, 365) : int(0, 18 * 365);
  const birth = addDays(TODAY, -ageDays);
  const [city, zip] = pick(CITIES);
  const family = pick(FAMILY);
  const given = [pick(female ? GIVEN_F : GIVEN_M)];
  if (rand() < 0.6) given.push(pick(female ? GIVEN_F : GIVEN_M));
  const resource: Patient = {
    resourceType: 'Patient',
    id: uuidOf(`patient-${i}`),
    identifier: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
        system: MRN_SYSTEM,
        value: `MRN${String(10_000_000 + i)}`,
      },
    ],
    active: true,
    name: [{ use: 'official', family, given }],
    telecom: rand() < 0.7 ? [{ system: 'phone', value: `(217) 555-${String(int(0, 9999)).padStart(4, '0')}`, use: 'home' }] : undefined,
    gender: female ? 'female' : 'male',
    birthDate: day(birth),
    address: [{ use: 'home', line: [`${int(1, 9999)} ${pick(STREETS)}`], city, state: 'IL', postalCode: zip, country: 'US' }],
    contact: rand() < 0.5 ? [{ relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] }], name: { family, given: [pick(GIVEN_F)] } }] : undefined,
  };
  return { resource: JSON.parse(JSON.stringify(resource)) as Patient, birth };
}

let immunizationSeq = 0;
function immunization(products: Map<string, Product>, patientId: string, cvx: string, date: Date, route: string, dose: number, orgs: string[]): Immunization {
  const p = products.get(cvx) as Product;
  const coding = [{ system: CVX, code: p.cvx, display: p.display }];
  // About a third of the sources report the product's NDC next to the CVX code.
  if (p.ndc && rand() < 0.3) coding.push({ system: NDC, code: p.ndc, display: p.ndcDisplay ?? p.display });
  const site = pick(SITES);
  const occurrence = day(date);
  const recorded = addDays(date, int(0, 3));
  const imm: Immunization = {
    resourceType: 'Immunization',
    id: uuidOf(`imm-${immunizationSeq}`),
    identifier: [{ system: IMM_SYSTEM, value: `IMM${String(100_000_000 + immunizationSeq++)}` }],
    status: 'completed',
    vaccineCode: { coding },
    patient: { reference: `Patient/${patientId}` },
    occurrenceDateTime: occurrence,
    recorded: day(recorded > TODAY ? TODAY : recorded),
    primarySource: true,
    manufacturer: p.mvx ? { identifier: { system: 'http://hl7.org/fhir/sid/mvx', value: p.mvx }, display: p.manufacturer } : undefined,
    lotNumber: `${String.fromCharCode(65 + int(0, 25))}${String.fromCharCode(65 + int(0, 25))}${int(1000, 9999)}`,
    expirationDate: day(addDays(date, int(60, 700))),
    site: route === 'PO' ? undefined : { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActSite', code: site[0], display: site[1] }] },
    route: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration', code: route === 'PO' ? 'PO' : route === 'SC' ? 'SQ' : 'IM' }] },
    doseQuantity: { value: route === 'PO' ? 2 : 0.5, unit: 'mL', system: 'http://unitsofmeasure.org', code: 'mL' },
    performer: [{ function: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0443', code: 'AP' }] }, actor: { reference: `Organization/${pick(orgs)}` } }],
    protocolApplied: [{ doseNumberPositiveInt: dose }],
  };
  return JSON.parse(JSON.stringify(imm)) as Immunization;
}

function consent(patientId: string, i: number, orgs: string[]): Consent {
  const unknown = rand() < 0.25;
  return {
    resourceType: 'Consent',
    id: uuidOf(`consent-${i}`),
    status: unknown ? 'proposed' : 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: new Date(TODAY.getTime() - int(0, 3 * 365) * 86_400_000).toISOString(),
    organization: [{ reference: `Organization/${pick(orgs)}` }],
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
    provision: { type: 'deny' },
  };
}

// ---- writing ------------------------------------------------------------------------------------

const MONGO_URL = values['mongodb-url'] ?? (values['data-dir'] ? undefined : process.env.MONGODB_URL);

async function openStore(): Promise<{ store: Store; where: string }> {
  const mongoUrl = MONGO_URL;
  if (mongoUrl) return { store: new MongoStore({ url: mongoUrl, indexes: mongoIndexes() }), where: `MongoDB ${mongoUrl}` };
  const dir = path.resolve(values['data-dir'] ?? process.env.DATA_DIR ?? './data');
  return { store: new EmbeddedStore({ dataDir: dir, indexes: embeddedIndexes(), uncounted: embeddedUncounted }), where: `embedded store in ${dir}` };
}

class Writer {
  private ops: WriteOp[] = [];
  private inFlight = new Set<Promise<void>>();
  private readonly mongo: MongoLoader | undefined;
  written = 0;

  constructor(private readonly store: Store, mongoUrl: string | undefined) {
    this.mongo = mongoUrl ? new MongoLoader(store, mongoUrl) : undefined;
  }

  async add(resource: Resource): Promise<void> {
    this.ops.push({ resourceType: resource.resourceType, id: resource.id as string, resource, ifVersion: 'absent', index: indexFor(resource) });
    if (this.ops.length >= BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    const ops = this.ops;
    this.ops = [];
    if (ops.length === 0) return;
    const task = this.write(ops).then(() => {
      this.inFlight.delete(task);
      this.written += ops.length;
    });
    this.inFlight.add(task);
    // Two batches in flight: the next one is built while the store commits this one.
    while (this.inFlight.size >= 2) await Promise.race(this.inFlight);
  }

  async drain(): Promise<void> {
    await this.flush();
    await Promise.all(this.inFlight);
    await this.mongo?.close();
  }

  private async write(ops: WriteOp[]): Promise<void> {
    if (this.mongo) return this.mongo.load(ops);
    // Many small transactions in flight: the store group-commits them (one fsync for many), and
    // each gets its own instant (the versions of one transaction share one, which its history
    // log orders by id at a cost growing with the square of the transaction's size).
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < ops.length; i += 250) chunks.push(this.store.transact(ops.slice(i, i + 250)));
    await Promise.all(chunks);
  }
}

/**
 * MongoDB: the Store API writes one resource per round trip (and FerretDB slows down as
 * collections grow), far too slow for a million. New resources are therefore inserted in batches
 * in the store's documented layout (src/store/mongo/mongo-store.ts: the current document in the
 * type's collection, the version in `history` with _id "<type>/<id>/<version>"); the first
 * resource of each type goes through store.write so the store creates that type's indexes, and
 * main() reads samples back through the Store API to prove the layout.
 */
class MongoLoader {
  private readonly client: MongoClient;
  private readonly ensured = new Set<string>();

  constructor(
    private readonly store: Store,
    url: string
  ) {
    this.client = new MongoClient(url);
  }

  async load(ops: WriteOp[]): Promise<void> {
    const db = this.client.db(databaseNameFromUrl(MONGO_URL as string));
    const byType = new Map<string, WriteOp[]>();
    for (const op of ops) {
      if (!this.ensured.has(op.resourceType)) {
        this.ensured.add(op.resourceType);
        await this.store.write(op);
        continue;
      }
      const list = byType.get(op.resourceType) ?? [];
      list.push(op);
      byType.set(op.resourceType, list);
    }
    for (const [type, list] of byType) {
      const current: Document[] = [];
      const history: Document[] = [];
      for (const op of list) {
        const lastUpdated = nextInstant();
        const resource = stampMeta(op.resource as Resource, op.id, 1, lastUpdated);
        const s = op.index ?? {};
        current.push({ _id: op.id, versionId: 1, lastUpdated, deleted: false, resource, s });
        history.push({ _id: `${type}/${op.id}/1`, resourceType: type, id: op.id, versionId: 1, lastUpdated, deleted: false, resource, s });
      }
      await retryBusy(() => db.collection('history').insertMany(history, { ordered: false }));
      await retryBusy(() => db.collection(type).insertMany(current, { ordered: false }));
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** FerretDB on SQLite answers SQLITE_BUSY under concurrent writes: try again. */
async function retryBusy<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 20 || !/SQLITE_BUSY|database is locked/.test(String((err as Error).message))) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

async function main(): Promise<void> {
  loadDefinitions();
  const products = loadProducts();
  const missing = [...SCHEDULE.flatMap((s) => s.cvx), ...FLU].filter((c) => !products.has(c));
  for (const s of SCHEDULE) s.cvx = s.cvx.filter((c) => products.has(c));
  const flu = FLU.filter((c) => products.has(c));
  if (missing.length > 0 && !values.quiet) console.log(`(CVX codes not in profiles/codesets, skipped: ${missing.join(', ')})`);

  const { store, where } = await openStore();
  if (store.kind === 'embedded' && existsSync(path.join(path.resolve(values['data-dir'] ?? process.env.DATA_DIR ?? './data'), 'LOCK'))) {
    console.log('note: DATA_DIR has a LOCK file; if a server is running on it, stop it first');
  }
  await store.init();
  const started = performance.now();
  const log = (what: string) => {
    if (!values.quiet) console.log(what);
  };
  try {
    if ((await store.count('Patient', {})) > 0) {
      throw new Error(`${where} already holds Patients: seed an empty store (another --data-dir, or another database)`);
    }
    log(`seeding ${where}: ${PATIENTS} patients, ${IMMUNIZATIONS} immunizations, ${ORGANIZATIONS} organizations (batches of ${BATCH})`);
    const writer = new Writer(store, MONGO_URL);
    const orgs: string[] = [];
    for (let i = 0; i < ORGANIZATIONS; i++) {
      const o = organization(i);
      orgs.push(o.id as string);
      await writer.add(o);
    }

    // Each patient's schedule up to today, then trimmed or topped up to the requested total.
    const perPatient = IMMUNIZATIONS / PATIENTS;
    let immunizations = 0;
    let consents = 0;
    let lastReport = performance.now();
    const births: Date[] = [];
    const patientIds: string[] = [];
    for (let i = 0; i < PATIENTS; i++) {
      const { resource, birth } = patient(i);
      await writer.add(resource);
      births.push(birth);
      patientIds.push(resource.id as string);
      if (rand() < CONSENT_SHARE) await writer.add(consent(resource.id as string, consents++, orgs));
      // Quota so the total comes out evenly across patients (old and young alike).
      const quota = Math.round((i + 1) * perPatient) - Math.round(i * perPatient);
      let given = 0;
      for (const s of SCHEDULE) {
        if (s.cvx.length === 0) continue;
        const cvx = pick(s.cvx);
        for (let d = 0; d < s.ages.length && given < quota; d++) {
          const date = addDays(birth, s.ages[d] + int(0, 30));
          if (date > TODAY || (s.maxAge && s.ages[d] > s.maxAge)) break;
          await writer.add(immunization(products, resource.id as string, cvx, date, s.route, d + 1, orgs));
          given++;
        }
      }
      // Yearly influenza from 6 months to fill the quota.
      for (let year = 0; given < quota && flu.length > 0; year++) {
        let date = addDays(birth, 183 + year * 365 + int(0, 60));
        if (date > TODAY) date = addDays(TODAY, -int(0, 30));
        if (date < birth) date = birth;
        await writer.add(immunization(products, resource.id as string, pick(flu), date, 'IM', year + 1, orgs));
        given++;
      }
      immunizations += given;
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        const s = (performance.now() - started) / 1000;
        log(`  ${writer.written.toLocaleString('en-US')} resources written (${Math.round(writer.written / s).toLocaleString('en-US')}/s)`);
      }
    }
    await writer.drain();
    // The seed writes no dose observations (OBX 59784-9 / 30945-0): no Conditions to backfill.
    await recordBackfillNotNeeded(store);
    const seconds = (performance.now() - started) / 1000;
    if (MONGO_URL) await verifyLayout(store, patientIds[patientIds.length - 1]);
    const total = writer.written;
    log(`${total.toLocaleString('en-US')} resources (${PATIENTS} Patient, ${immunizations} Immunization, ${consents} Consent, ${ORGANIZATIONS} Organization) in ${seconds.toFixed(1)} s: ${Math.round(total / seconds).toLocaleString('en-US')} resources/s`);
    const heap = process.memoryUsage();
    log(`seed process: heap ${Math.round(heap.heapUsed / 1048576)} MB, RSS ${Math.round(heap.rss / 1048576)} MB`);
  } finally {
    await store.close();
  }
  if (store.kind === 'embedded') await compact(path.resolve(values['data-dir'] ?? process.env.DATA_DIR ?? './data'), log);
}

/**
 * Rewrites the seeded LMDB file without its free pages (copy-on-write left them behind: a third of
 * the file after a seed), so the data directory starts at the size of its data. Runs with the
 * store closed; the copy replaces the file only once complete.
 */
async function compact(dir: string, log: (what: string) => void): Promise<void> {
  const file = path.join(dir, 'store.mdb');
  const copy = `${file}.compact`;
  const before = statSync(file).size;
  await rm(copy, { force: true });
  const env = openLmdb({ path: file, maxDbs: 12 });
  try {
    await env.backup(copy, true);
  } finally {
    await env.close();
  }
  await rename(copy, file);
  log(`compacted ${file}: ${Math.round(before / 1048576)} MB → ${Math.round(statSync(file).size / 1048576)} MB`);
}

/** Documents inserted in batches read back through the Store API like written ones. */
async function verifyLayout(store: Store, id: string): Promise<void> {
  const read = await store.read('Patient', id);
  const history = await store.history({ resourceType: 'Patient', id, count: 5 });
  const scanned: string[] = [];
  for await (const r of store.scan('Patient', { _id: id })) scanned.push(r.id);
  if (!read?.resource || read.versionId !== 1 || history.length !== 1 || scanned[0] !== id) {
    throw new Error('MongoDB documents seeded in batches do not read back through the Store API: the store layout changed, update scripts/seed.ts');
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
