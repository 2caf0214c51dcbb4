// Helpers for the bulk export tests: a Bulk Data client (kick-off → poll → manifest → download)
// over real HTTP, and distinct test patients (distinct names and birth dates, so the matching on
// ingest never merges them).
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import jwt from 'jsonwebtoken';
import { TEST_SECRET } from '../../test/helpers/server.js';

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: Array<{ type: string; url: string; count: number }>;
  deleted?: Array<{ type: string; url: string; count: number }>;
  error: Array<{ type: string; url: string; count: number }>;
}

export interface Poll {
  status: number;
  progress: string | null;
  retryAfter: string | null;
}

/** A token for any subject (the test server's helper always signs `sub: test`). */
export function tokenFor(claims: Record<string, unknown>): string {
  return jwt.sign({ sub: 'test', scope: 'system/*.rs', ...claims }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
}

export async function kickoff(
  baseUrl: string,
  path: string,
  options: { token: string; method?: string; body?: unknown; headers?: Record<string, string> }
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.token}`,
    accept: 'application/fhir+json',
    prefer: 'respond-async',
    ...options.headers,
  };
  for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k];
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/fhir+json';
  }
  const res = await fetch(`${baseUrl}/${path}`, { method: options.method ?? (body ? 'POST' : 'GET'), headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Polls the status URL until it stops answering 202; returns the last response and every poll. */
export async function poll(statusUrl: string, token: string, timeoutMs = 25_000): Promise<{ status: number; headers: Headers; body: any; polls: Poll[] }> {
  const polls: Poll[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    polls.push({ status: res.status, progress: res.headers.get('x-progress'), retryAfter: res.headers.get('retry-after') });
    // 429 (BULK_STATUS_POLL_LIMIT on): polled before the Retry-After; wait what it names.
    const throttled = res.status === 429;
    if (res.status !== 202 && !throttled) return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined, polls };
    if (Date.now() > deadline) throw new Error(`export still running after ${timeoutMs} ms: ${JSON.stringify(polls.slice(-3))}`);
    await new Promise((r) => setTimeout(r, throttled ? Number(res.headers.get('retry-after')) * 1000 : 50));
  }
}

/** Kick-off, poll, and the manifest (throws unless the export completed). */
export async function exportAll(baseUrl: string, path: string, options: { token: string; method?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ manifest: Manifest; headers: Headers; polls: Poll[] }> {
  const k = await kickoff(baseUrl, path, options);
  if (k.status !== 202) throw new Error(`kick-off answered ${k.status}: ${JSON.stringify(k.body)}`);
  const done = await poll(k.headers.get('content-location') as string, options.token);
  if (done.status !== 200) throw new Error(`export ended with ${done.status}: ${JSON.stringify(done.body)}`);
  return { manifest: done.body as Manifest, headers: done.headers, polls: done.polls };
}

/** Downloads one file with fetch (which negotiates gzip and inflates it) and parses its lines. */
export async function download(url: string, token: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; lines: any[]; text: string }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const text = await res.text();
  const lines = res.status === 200 ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  return { status: res.status, headers: res.headers, lines, text };
}

/** Every resource of every output file of one type. */
export async function resourcesOf(manifest: Manifest, type: string, token: string, section: 'output' | 'deleted' | 'error' = 'output'): Promise<any[]> {
  const out: any[] = [];
  for (const f of manifest[section] ?? []) {
    if (f.type !== type) continue;
    const d = await download(f.url, token);
    if (d.status !== 200) throw new Error(`download of ${f.url} answered ${d.status}: ${d.text}`);
    out.push(...d.lines);
  }
  return out;
}

/** The raw bytes of a download (no automatic inflation), for Content-Encoding checks. */
export function rawDownload(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; inflated: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const inflated = res.headers['content-encoding'] === 'gzip' ? gunzipSync(body).toString('utf8') : body.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, inflated });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const FAMILIES = ['Okafor', 'Lindqvist', 'Tanaka', 'Moreau', 'Kowalski', 'Haddad', 'Ferreira', 'Novak', 'Achterberg', 'Quispe', 'Mbeki', 'Rasmussen'];
const GIVEN = ['Amara', 'Bjorn', 'Chiyo', 'Dario', 'Elif', 'Femi', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Kaia', 'Luca'];

/** A Patient that matches no other patient made by this helper (i varies name, gender, birth date). */
export function distinctPatient(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const year = 2005 + (i % 17);
  const month = String(1 + (i % 12)).padStart(2, '0');
  const day = String(1 + ((i * 7) % 28)).padStart(2, '0');
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: `bulk-${i}-${Math.random().toString(36).slice(2)}` }],
    name: [{ family: `${FAMILIES[i % FAMILIES.length]}${String.fromCharCode(97 + (Math.floor(i / 12) % 26))}${i}`, given: [GIVEN[(i * 5) % GIVEN.length]] }],
    gender: i % 2 === 0 ? 'female' : 'male',
    birthDate: `${year}-${month}-${day}`,
    ...extra,
  };
}

export function vaccination(patientId: string, cvx: string, date = '2024-03-05'): Record<string, unknown> {
  return {
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
    patient: { reference: `Patient/${patientId}` },
    occurrenceDateTime: date,
    primarySource: true,
    lotNumber: `LOT${cvx}`,
  };
}

export { sharingConsent } from '../../test/helpers/server.js';

/** Sets environment variables for the duration of fn (bulk options are read when a server starts). */
export async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
