// Property-based fuzzing over HTTP (fast-check): generated FHIR-shaped JSON (valid and broken,
// truncated, with repeated keys, odd dates and odd ids) to every write interaction, and generated
// query strings to search and history. Bounded in runs and seconds so CI stays fast; a failure
// prints the seed and the shrunk request (FUZZ_SEED=… reproduces a run).
// Asserted for every request: an answer, never a 5xx; afterwards the process still answers and
// the seeded records are exactly as they were.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, startTestServer, type TestServer } from './helpers/server.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? '120');
const SECONDS = Number(process.env.FUZZ_SECONDS ?? '10');
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

let server: TestServer;
const seeded: string[] = [];
let snapshot = '';

async function readSeeded(): Promise<string> {
  const parts: string[] = [];
  for (const ref of seeded) {
    const res = await server.fhir('GET', ref);
    parts.push(`${res.status} ${res.text}`);
  }
  return parts.join('\n');
}

beforeAll(async () => {
  server = await startTestServer('embedded');
  for (let i = 0; i < 3; i++) {
    const p = await server.fhir('POST', 'Patient', { body: patient({ birthDate: `2021-0${i + 1}-15` }) });
    seeded.push(`Patient/${p.body.id}`);
    const imm = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${p.body.id}`) });
    seeded.push(`Immunization/${imm.body.id}`);
  }
  snapshot = await readSeeded();
});
afterAll(async () => {
  await server?.close();
});

// --- generators --------------------------------------------------------------------------------

const digits = (n: number) => fc.integer({ min: 0, max: 10 ** n - 1 }).map((v) => String(v).padStart(n, '0'));
/** Date-like strings, calendar-valid or not, at every precision, with odd offsets. */
const dateLike = fc.oneof(
  fc.tuple(digits(4), digits(2), digits(2)).map(([y, m, d]) => `${y}-${m}-${d}`),
  fc.tuple(digits(4), digits(2), digits(2), digits(2), digits(2), fc.constantFrom('Z', '+14:00', '-15:30', '+05:00', '')).map(
    ([y, m, d, h, mi, z]) => `${y}-${m}-${d}T${h}:${mi}:00${z}`
  ),
  fc.constantFrom('2020-02-30', '2019-02-29', '2020-02-29', '2021', '2021-13', '', ' ', '2021-01-01T00:00:00.000000000001Z'),
  fc.string({ maxLength: 30 })
);
const oddString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '__proto__', 'constructor', '$where', '{"$gt":""}', '../..', '\ud800', 'a'.repeat(300))
);
const idLike = fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9.-]{1,70}$/), oddString);
const scalar = fc.oneof(oddString, dateLike, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const extension: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  ext: fc.record(
    {
      url: fc.oneof(fc.constant('http://example.org/x'), oddString),
      valueDateTime: dateLike,
      valueString: oddString,
      valueInstant: dateLike,
      extension: fc.array(tie('ext'), { maxLength: 2 }),
    },
    { requiredKeys: [] }
  ),
})).ext;

const fhirish = fc.record(
  {
    resourceType: fc.oneof(fc.constantFrom('Patient', 'Immunization', 'Consent', 'Organization', 'Bundle', 'Parameters', 'AuditEvent'), oddString),
    id: idLike,
    meta: fc.record({ versionId: oddString, lastUpdated: dateLike }, { requiredKeys: [] }),
    birthDate: dateLike,
    deceasedDateTime: dateLike,
    gender: fc.oneof(fc.constantFrom('male', 'female', 'other', 'unknown'), oddString),
    name: fc.array(fc.record({ family: oddString, given: fc.array(oddString, { maxLength: 3 }) }, { requiredKeys: [] }), { maxLength: 3 }),
    status: fc.oneof(fc.constantFrom('completed', 'entered-in-error', 'not-done', 'active'), oddString),
    vaccineCode: fc.record({ coding: fc.array(fc.record({ system: oddString, code: oddString }), { maxLength: 2 }) }),
    patient: fc.record({ reference: fc.oneof(fc.constant(seededRef()), idLike.map((i) => `Patient/${i}`), oddString) }),
    occurrenceDateTime: dateLike,
    recorded: dateLike,
    expirationDate: dateLike,
    extension: fc.array(extension, { maxLength: 3 }),
    entry: fc.array(fc.record({ request: fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'X'), url: oddString }), resource: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }), { maxLength: 4 }),
    type: fc.constantFrom('batch', 'transaction', 'searchset', 'x'),
    junk: fc.jsonValue({ maxDepth: 4 }),
  },
  { requiredKeys: [] }
);

function seededRef(): string {
  return seeded[0] ?? 'Patient/none';
}

/** The JSON text of a generated body, sometimes broken: truncated, a key repeated, garbage appended. */
const bodyText = fc.tuple(fhirish, fc.nat(), fc.constantFrom('as-is', 'as-is', 'truncate', 'repeat-key', 'append', 'deep')).map(([value, at, how]) => {
  const text = JSON.stringify(value);
  switch (how) {
    case 'truncate':
      return text.slice(0, at % (text.length + 1));
    case 'repeat-key':
      return text.length > 2 ? `{"resourceType":"Patient",${text.slice(1)}` : text;
    case 'append':
      return `${text}${['}', ',', 'x', '\u0000', ']'][at % 5]}`;
    case 'deep':
      return `{"resourceType":"Patient","extension":${'['.repeat(50 + (at % 200))}${']'.repeat(50 + (at % 200))}}`;
    default:
      return text;
  }
});

/** A FHIRPath Patch operation (R4 fhirpatch.html), well-formed or not. */
const fhirPathOperation = fc.record(
  {
    type: fc.oneof(fc.constantFrom('add', 'insert', 'delete', 'replace', 'move'), oddString),
    path: fc.oneof(
      fc.constantFrom(
        'Patient', 'Patient.name', 'Patient.name[0].given', 'Patient.name.given[1]', "Patient.identifier.where(system = 'x')", 'Patient.birthDate',
        'Patient.birthDate.extension', 'Immunization', 'Immunization.occurrence', 'Immunization.vaccineCode.coding.first()', 'Immunization.performer.actor',
        "Patient.extension('http://example.org/x')", 'Patient.managingOrganization.resolve().name', 'Patient.name.select(family)', 'name[-1]', '%resource.id',
        'Patient.constructor', 'Patient.__proto__', 'Patient.name.skip(1).take(2)', 'Patient.name.single()', 'Patient.contact.name.family'
      ),
      oddString
    ),
    name: fc.oneof(fc.constantFrom('given', 'name', 'extension', 'performer', 'deceased', 'contact', 'constructor', '__proto__'), oddString),
    value: fc.oneof(
      fc.record({ valueString: scalar }),
      fc.record({ valueCode: scalar }),
      fc.record({ valueDate: dateLike }),
      fc.record({ valueHumanName: fc.jsonValue({ maxDepth: 2 }) }),
      fc.record({ part: fc.array(fc.record({ name: oddString, valueString: scalar }, { requiredKeys: [] }), { maxLength: 3 }) }),
      fc.record({ part: fc.jsonValue({ maxDepth: 2 }) }),
      fc.record({ resource: fc.jsonValue({ maxDepth: 2 }) })
    ),
    index: fc.oneof(fc.integer({ min: -2, max: 5 }), scalar),
    source: fc.integer({ min: -1, max: 5 }),
    destination: fc.integer({ min: -1, max: 5 }),
  },
  { requiredKeys: ['type', 'path'] }
).map(({ type, path, name, value, index, source, destination }) => ({
  name: 'operation',
  part: [
    { name: 'type', valueCode: type },
    { name: 'path', valueString: path },
    ...(name === undefined ? [] : [{ name: 'name', valueString: name }]),
    ...(value === undefined ? [] : [{ name: 'value', ...value }]),
    ...(index === undefined ? [] : [{ name: 'index', valueInteger: index }]),
    ...(source === undefined ? [] : [{ name: 'source', valueInteger: source }]),
    ...(destination === undefined ? [] : [{ name: 'destination', valueInteger: destination }]),
  ],
}));

/** A write: create, update or patch (seeded targets only with bodies that must be refused). */
const write = fc.oneof(
  fc.tuple(fc.constantFrom('Patient', 'Immunization', 'Consent', 'Organization', 'Group', ''), bodyText).map(([type, body]) => ({ method: 'POST', path: type, body })),
  fc.tuple(fc.constantFrom('Patient', 'Immunization'), idLike, bodyText).map(([type, id, body]) => ({ method: 'PUT', path: `${type}/${percent(id)}-fuzz`, body })),
  // A patch of a seeded record whose last operation fails: JSON Patch is all or nothing.
  fc.tuple(fc.nat(), fc.array(fc.record({ op: fc.constantFrom('add', 'replace', 'remove', 'move', 'copy', 'test'), path: oddString, value: scalar }), { maxLength: 4 })).map(([i, ops]) => ({
    method: 'PATCH',
    path: () => seeded[i % seeded.length],
    body: JSON.stringify([...ops, { op: 'test', path: '/id', value: 'not-this-id' }]),
    contentType: 'application/json-patch+json',
  })),
  // A FHIRPath Patch of a seeded record whose last operation changes the id (refused, or its path
  // names nothing once an earlier one deleted it): the patch as a whole must be refused.
  fc.tuple(fc.nat(), fc.array(fhirPathOperation, { maxLength: 4 })).map(([i, ops]) => ({
    method: 'PATCH',
    path: () => seeded[i % seeded.length],
    body: JSON.stringify({
      resourceType: 'Parameters',
      parameter: [...ops, { name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'id' }, { name: 'value', valueString: 'not-this-id' }] }],
    }),
    contentType: 'application/fhir+json',
  }))
);

const paramName = fc.oneof(
  fc.constantFrom('name', 'family', 'birthdate', 'identifier', 'patient', 'date', 'status', 'vaccine-code', '_id', '_lastUpdated', '_count', '_sort', '_include', '_revinclude', '_elements', '_summary', '_total', '_has:Immunization:patient:status', 'patient.name', 'patient:Patient.birthdate', 'name:exact', 'name:contains', 'identifier:of-type', 'date:missing', '_since', '_at', '_type', '_page_token'),
  oddString
);
const paramValue = fc.oneof(dateLike, oddString, fc.constantFrom('ge2020-01-01', 'lt2019-02-29', 'ap2020', 'eq', '1000000', '-1', '*', 'Immunization:patient', 'Patient:link', 'urn:oid:1|x', '|', ',', 'a,b,c', 'count', 'true'));
const query = fc.tuple(
  fc.constantFrom('Patient', 'Immunization', 'Consent', 'Organization', '', '_history', 'Patient/_history', 'AuditEvent', 'Nope'),
  fc.array(fc.tuple(paramName, paramValue), { maxLength: 8 }),
  fc.boolean()
).map(([type, pairs, raw]) => {
  const q = pairs.map(([n, v]) => (raw ? `${n}=${v}` : `${percent(n)}=${percent(v)}`)).join('&');
  return `${type}?${q}`;
});

/** Percent-encodes every UTF-8 byte (lone surrogates become U+FFFD, as any client would send). */
function percent(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

// --- properties --------------------------------------------------------------------------------

async function send(method: string, path: string, body?: string, contentType = 'application/fhir+json') {
  const res = await fetch(`${server.baseUrl}/${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token()}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    body,
  });
  const text = await res.text();
  return { status: res.status, text };
}

const options = (): fc.Parameters<unknown> => ({ numRuns: RUNS, interruptAfterTimeLimit: SECONDS * 1000, seed: SEED });

describe('fuzzing over HTTP (fast-check)', { timeout: (SECONDS * 3 + 30) * 1000 }, () => {
  it('generated writes never get a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(write, async (w) => {
        const path = typeof w.path === 'function' ? w.path() : w.path;
        const res = await send(w.method, path, w.body, 'contentType' in w ? w.contentType : undefined);
        expect(res.status, `${w.method} ${path} ${w.body.slice(0, 300)} → ${res.text.slice(0, 300)}`).toBeLessThan(500);
      }),
      options()
    );
  });

  it('generated queries never get a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(query, fc.constantFrom('GET', 'POST'), async (url, method) => {
        let res;
        if (method === 'POST' && !url.startsWith('_history') && !url.includes('/_history')) {
          const [type, form] = url.split('?');
          res = await send('POST', `${type ? `${type}/` : ''}_search`, form, 'application/x-www-form-urlencoded');
        } else {
          res = await send('GET', url);
        }
        expect(res.status, `${method} ${url} → ${res.text.slice(0, 300)}`).toBeLessThan(500);
      }),
      options()
    );
  });

  it('afterwards the process answers and the seeded records are unchanged', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await readSeeded()).toBe(snapshot);
  });
});
