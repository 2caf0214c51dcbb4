// Starts a listening server on a free loopback port for a test file, on the embedded store (fresh
// temp dir) or on MongoDB when a URL is given (fresh database per run).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Config } from '../../src/config.js';
import { createStore } from '../../src/app/open-store.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { Store } from '../../src/store/store.js';

export const TEST_SECRET = 'test-secret-for-hs256-tokens-only';

export type StoreKind = 'embedded' | 'mongodb';

export interface TestServer extends RunningServer {
  token(claims?: Record<string, unknown>): string;
  /** fetch under the FHIR base with a system/*.cruds token unless headers say otherwise. */
  fhir(method: string, path: string, options?: { body?: unknown; headers?: Record<string, string>; raw?: string }): Promise<TestResponse>;
  dataDir: string;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** The MongoDB URL for the MongoDB tier, or undefined (then that tier is skipped with a printed reason). */
export function testMongoUrl(): string | undefined {
  return process.env.TEST_MONGODB_URL || undefined;
}

export async function startTestServer(
  kind: StoreKind,
  overrides: Partial<Config> = {},
  options: { /** Wraps the server's store (a test that must act between two of the server's store calls). */ wrapStore?: (store: Store) => Store } = {}
): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-test-'));
  let mongodbUrl: string | undefined;
  if (kind === 'mongodb') {
    const base = testMongoUrl();
    if (!base) throw new Error('TEST_MONGODB_URL is not set');
    const url = new URL(base);
    url.pathname = `/iis_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    mongodbUrl = url.toString();
  }
  const config: Config = {
    port: 0,
    publicBaseUrl: 'http://127.0.0.1:0',
    mongodbUrl,
    dataDir,
    bodyLimitBytes: 1024 * 1024,
    logLevel: 'silent',
    authJwtSecret: TEST_SECRET,
    ...overrides,
  };
  // The public base must carry the real port: start once to learn it is not possible, so use the
  // loopback URL the server reports and rewrite PUBLIC_BASE_URL to it before listening.
  const port = overrides.port ?? (await freePort());
  config.port = port;
  config.publicBaseUrl = overrides.publicBaseUrl ?? `http://127.0.0.1:${port}`;
  const running = await startServer(config, options.wrapStore ? { store: options.wrapStore(await createStore(config)) } : {});
  const token = (claims: Record<string, unknown> = {}): string =>
    jwt.sign({ scope: 'system/*.cruds', sub: 'test', ...claims }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
  const defaultToken = token();
  const fhir: TestServer['fhir'] = async (method, urlPath, options = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${defaultToken}`, ...options.headers };
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/fhir+json';
    }
    for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k];
    const res = await fetch(`${running.baseUrl}/${urlPath.replace(/^\//, '')}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
  const close = async (): Promise<void> => {
    await running.close();
    if (kind === 'mongodb' && mongodbUrl) await dropDatabase(mongodbUrl);
    await rm(dataDir, { recursive: true, force: true });
  };
  return { ...running, close, token, fhir, dataDir };
}

/** Drops a test MongoDB database (the URL's database). */
export async function dropDatabase(url: string): Promise<void> {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.db().dropDatabase();
  } finally {
    await client.close();
  }
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export const patient = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: randomUUID() }],
  name: [{ family: 'Smith', given: ['Anna'] }],
  gender: 'female',
  birthDate: '2020-05-17',
  ...overrides,
});

export const immunization = (patientRef: string, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  resourceType: 'Immunization',
  status: 'completed',
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08', display: 'Hep B, adolescent or pediatric' }] },
  patient: { reference: patientRef },
  occurrenceDateTime: '2020-05-18',
  primarySource: true,
  lotNumber: 'LOT123',
  ...overrides,
});

/** A data-sharing Consent (CONTRACT.md "Data sharing") for a patient; fields override the defaults. */
export function sharingConsent(patientId: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: '2024-01-01T00:00:00Z',
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    ...fields,
  };
}

/** The R5-style Parameters of Patient/$merge (ids of the two records; `preview` only when given). */
export function mergeParameters(sourceId: string, targetId: string, preview?: boolean) {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'source-patient', valueReference: { reference: `Patient/${sourceId}` } },
      { name: 'target-patient', valueReference: { reference: `Patient/${targetId}` } },
      ...(preview === undefined ? [] : [{ name: 'preview', valueBoolean: preview }]),
    ],
  };
}
