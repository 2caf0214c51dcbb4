// Transaction processing beside the code: reference rewriting (bodies, conditions, conditional
// references), the checks only a transaction has, and all-or-nothing commits, through a real
// pipeline over the embedded store (validation without the IIS rules).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuditLog } from '../audit/audit-log.js';
import { parseScopes } from '../auth/scopes.js';
import { SharingIndex } from '../consent/sharing-index.js';
import { isFhirError } from '../fhir/outcome.js';
import type { Caller, FhirResponse } from '../fhir/request.js';
import type { HandlerContext } from '../interactions/types.js';
import { read } from '../interactions/read.js';
import { executeWrite } from '../interactions/write-path.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { HandlerRegistry } from '../pipeline/registry.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { RuleRegistry } from '../validation/business-rules.js';
import { StructuralValidationPool } from '../validation/structural-pool.js';
import { bundleHandler } from './bundle.js';
import { rewriteJsonPatchReferences, scanReferences, withReplacements } from './transaction.js';

// letOtherRequestsRun, switchable: the same transaction with and without yielding between entries.
const yielding = vi.hoisted(() => ({ on: true, calls: 0 }));
vi.mock('./entries.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./entries.js')>();
  return {
    ...actual,
    letOtherRequestsRun: () => {
      yielding.calls += 1;
      return yielding.on ? actual.letOtherRequestsRun() : Promise.resolve();
    },
  };
});

/** BUNDLE_MAX_ENTRIES's default. */
const MAX_ENTRIES = 1000;

const caller: Caller = { sub: 't', scope: 'system/*.cruds', scopes: parseScopes('system/*.cruds') };
const patient = (family: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:test', value: family }],
  name: [{ family, given: ['Ann'] }],
  birthDate: '2019-03-04',
  ...extra,
});

// Run twice: validation in the request thread, and in a pool (entries validated side by side).
describe.each([
  ['validation in the request thread', 0],
  ['a validation pool', 1],
])('transaction Bundles (%s)', (_name, workers) => {
  let dir: string;
  let store: EmbeddedStore;
  let pipeline: Pipeline;
  const pool = new StructuralValidationPool(workers);

  beforeAll(async () => {
    await pool.warm();
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-transaction-'));
    store = new EmbeddedStore({ dataDir: dir });
    await store.init();
    const registry = new HandlerRegistry().interaction('read', read).interaction('search-type', async () => ({ status: 200 })).interaction('batch', bundleHandler);
    for (const w of ['create', 'update', 'conditional-update', 'patch', 'conditional-patch', 'delete', 'conditional-delete'] as const) registry.interaction(w, executeWrite);
    registry.operation({ name: 'noop', levels: ['type'], methods: ['POST'], permissions: ['r'], handler: async () => ({ status: 200 }) });
    pipeline = new Pipeline({
      store,
      config: { port: 0, publicBaseUrl: 'http://x', dataDir: dir, bodyLimitBytes: 1 << 20, logLevel: 'silent' },
      rules: new RuleRegistry({ structural: pool }),
      baseUrl: 'http://x/fhir',
      sharing: new SharingIndex(store),
      audit: { recordAccess: () => undefined } as unknown as AuditLog,
      registry,
    });
  }, 120_000);
  afterAll(async () => {
    await pool.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const transaction = (entry: unknown[]): Promise<FhirResponse> =>
    pipeline.executeAs(caller, { method: 'POST', url: '', body: { resourceType: 'Bundle', type: 'transaction', entry } });
  const failure = async (entry: unknown[]): Promise<{ status: number; text: string }> => {
    try {
      await transaction(entry);
    } catch (err) {
      if (isFhirError(err)) return { status: err.status, text: err.outcome.issue?.map((i) => i.diagnostics).join(' | ') ?? '' };
      throw err;
    }
    throw new Error('the transaction succeeded');
  };

  it('rewrites urn:uuid references in bodies and in conditions to the entry they name', async () => {
    const res = await transaction([
      { fullUrl: 'urn:uuid:a1', resource: patient('Rewrite'), request: { method: 'POST', url: 'Patient' } },
      {
        fullUrl: 'urn:uuid:a2',
        resource: patient('Linked', { link: [{ other: { reference: 'urn:uuid:a1' }, type: 'seealso' }] }),
        request: { method: 'PUT', url: 'Patient?link=urn:uuid:a1' },
      },
    ]);
    const [first, second] = (res.body as { entry: Array<{ resource: { id: string; link?: Array<{ other: { reference: string } }> } }> }).entry;
    expect(second.resource.link?.[0].other.reference).toBe(`Patient/${first.resource.id}`);
  });

  it('a conditional reference in a body becomes its one match; none or several is 412', async () => {
    await transaction([{ resource: patient('Target'), request: { method: 'POST', url: 'Patient' } }]);
    const ok = await transaction([
      { resource: patient('Pointing', { link: [{ other: { reference: 'Patient?identifier=urn:test|Target' }, type: 'seealso' }] }), request: { method: 'POST', url: 'Patient' } },
    ]);
    const link = (ok.body as { entry: Array<{ resource: { link: Array<{ other: { reference: string } }> } }> }).entry[0].resource.link[0].other.reference;
    expect(link).toMatch(/^Patient\/[0-9a-f-]{36}$/);
    const none = await failure([
      { resource: patient('Nowhere', { link: [{ other: { reference: 'Patient?identifier=urn:test|Nobody' }, type: 'seealso' }] }), request: { method: 'POST', url: 'Patient' } },
    ]);
    expect(none.status).toBe(412);
    expect(none.text).toMatch(/^Bundle\.entry\[0\]: .*matches nothing/);
  });

  it('refuses what only a transaction can get wrong (400, naming the entry)', async () => {
    const twice = await failure([
      { fullUrl: 'urn:uuid:d1', resource: patient('Dup1'), request: { method: 'POST', url: 'Patient' } },
      { fullUrl: 'urn:uuid:d1', resource: patient('Dup2'), request: { method: 'POST', url: 'Patient' } },
    ]);
    expect(twice).toMatchObject({ status: 400 });
    expect(twice.text).toMatch(/appears twice/);
    const sameTarget = await failure([
      { resource: patient('Same', { id: 'same-1' }), request: { method: 'PUT', url: 'Patient/same-1' } },
      { request: { method: 'DELETE', url: 'Patient/same-1' } },
    ]);
    expect(sameTarget.text).toMatch(/both write Patient\/same-1/);
    const unknownRef = await failure([{ resource: patient('Dangling', { link: [{ other: { reference: 'urn:uuid:zz' }, type: 'seealso' }] }), request: { method: 'POST', url: 'Patient' } }]);
    expect(unknownRef.text).toMatch(/names no entry/);
    const operation = await failure([{ resource: { resourceType: 'Parameters' }, request: { method: 'POST', url: 'Patient/$noop' } }]);
    expect(operation.text).toMatch(/cannot contain \$noop entries/);
    const cycle = await failure([
      { fullUrl: 'urn:uuid:c1', resource: patient('C1'), request: { method: 'PUT', url: 'Patient?link=urn:uuid:c2' } },
      { fullUrl: 'urn:uuid:c2', resource: patient('C2'), request: { method: 'PUT', url: 'Patient?link=urn:uuid:c1' } },
    ]);
    expect(cycle.text).toMatch(/name each other/);
  });

  /**
   * A transaction of MAX_ENTRIES entries: Patients written by PUT (ids from `prefix`), every second
   * one linking the one before it by its urn:uuid fullUrl (rewritten by the transaction).
   */
  const largeTransaction = (prefix: string) =>
    Array.from({ length: MAX_ENTRIES }, (_, i) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource: patient(`Large${i}`, {
        id: `${prefix}-${i}`,
        ...(i % 2 === 1 ? { link: [{ other: { reference: `urn:uuid:00000000-0000-4000-8000-${String(i - 1).padStart(12, '0')}` }, type: 'seealso' }] } : {}),
      }),
      request: { method: 'PUT', url: `Patient/${prefix}-${i}` },
    }));
  afterEach(() => {
    yielding.on = true;
  });

  it(`a transaction of ${MAX_ENTRIES} entries answers the same bytes with and without yielding between entries`, async () => {
    const answers: string[] = [];
    for (const [prefix, on] of [[`yield-on-${workers}`, true], [`yield-off-${workers}`, false]] as const) {
      yielding.on = on;
      yielding.calls = 0;
      const res = await transaction(largeTransaction(prefix));
      expect(res.status).toBe(200);
      // Each entry's steps (scopes, resolve, rewrite, prepare) let other requests run first.
      expect(yielding.calls).toBeGreaterThanOrEqual(4 * MAX_ENTRIES);
      // The same bytes but for the ids (each run its own) and the instants written.
      answers.push(JSON.stringify(res.body).replaceAll(prefix, '(prefix)').replace(/"\d{4}-\d{2}-\d{2}T[\d:.]+Z"/g, '"(instant)"'));
    }
    expect(answers[0]).toContain('"reference":"Patient/(prefix)-0"');
    expect(answers[1]).toBe(answers[0]);
  }, 120_000);

  it('reports the rule issues of every failing entry at once (422), and stores nothing', async () => {
    const before = await store.count('Patient', {});
    const failed = await failure([
      { resource: patient('Robot', { gender: 'robot' }), request: { method: 'POST', url: 'Patient' } },
      { resource: patient('Fine'), request: { method: 'POST', url: 'Patient' } },
      { resource: patient('Martian', { gender: 'martian' }), request: { method: 'PUT', url: 'Patient?identifier=urn:test|Martian' } },
    ]);
    expect(failed.status).toBe(422);
    expect(failed.text).toMatch(/^Bundle\.entry\[0\]: .*robot/);
    expect(failed.text).toMatch(/\| Bundle\.entry\[2\]: .*martian/);
    expect(failed.text).not.toContain('Bundle.entry[1]');
    expect(await store.count('Patient', {})).toBe(before);
  });

  it('the first refusal that is not a rule decides the status; rule issues before it are what is reported', async () => {
    const stale = await failure([
      { resource: patient('Stale2', { id: 'stale-2' }), request: { method: 'PUT', url: 'Patient/stale-2', ifMatch: 'W/"4"' } },
      { resource: patient('Robot2', { id: 'robot-2', gender: 'robot' }), request: { method: 'PUT', url: 'Patient/robot-2' } },
    ]);
    expect(stale.status).toBe(412);
    const robotFirst = await failure([
      { resource: patient('Robot3', { id: 'robot-3', gender: 'robot' }), request: { method: 'PUT', url: 'Patient/robot-3' } },
      { resource: patient('Stale3', { id: 'stale-3' }), request: { method: 'PUT', url: 'Patient/stale-3', ifMatch: 'W/"4"' } },
    ]);
    expect(robotFirst.status).toBe(422);
    expect(robotFirst.text).toMatch(/^Bundle\.entry\[0\]: .*robot/);
  });

  it('all or nothing: one failing entry leaves nothing stored', async () => {
    const before = await store.count('Patient', {});
    const failed = await failure([
      { resource: patient('Kept?'), request: { method: 'POST', url: 'Patient' } },
      { resource: patient('Stale', { id: 'stale-1' }), request: { method: 'PUT', url: 'Patient/stale-1', ifMatch: 'W/"4"' } },
    ]);
    expect(failed.status).toBe(412);
    expect(await store.count('Patient', {})).toBe(before);
  });
});

describe('reference rewriting of a body (scanReferences, withReplacements)', () => {
  // The reference: a JSON round trip with every mapped `reference` replaced (a whole new body).
  const referenceRewrite = (body: unknown, map: Map<string, string>): unknown =>
    JSON.parse(JSON.stringify(body), (key, value: unknown) => (key === 'reference' && typeof value === 'string' ? (map.get(value) ?? value) : value));
  const fullUrls = ['urn:uuid:a', 'urn:uuid:b', 'http://x/fhir/Patient/7'];
  const map = new Map([
    ['urn:uuid:a', 'Patient/1'],
    ['urn:uuid:b', 'Immunization/2'],
    ['http://x/fhir/Patient/7', 'Patient/7'],
  ]);
  const reference = fc.constantFrom(...fullUrls, 'Patient/9', 'Patient?identifier=urn:test|x', 'Patient?name=y', '#contained');
  const body = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.constantFrom('a', 'b', 'subject', 'other', 'display'), tie('node'), { maxKeys: 4 }),
      fc.record({ reference, display: fc.string() }, { requiredKeys: ['reference'] })
    ),
  })).node;

  it('replaces exactly the mapped references, copies only what holds one, and finds conditionals and unknown urns in order', () => {
    fc.assert(
      fc.property(body, (input) => {
        const before = JSON.stringify(input);
        const found = { references: map, replacements: new Map<string, string>(), conditionals: [] as string[] };
        if (input !== null && typeof input === 'object') scanReferences(input, found);
        const texts: string[] = [];
        JSON.stringify(input, (key, value: unknown) => {
          if (key === 'reference' && typeof value === 'string') texts.push(value);
          return value;
        });
        expect([...found.replacements.keys()].sort()).toEqual([...new Set(texts.filter((t) => map.has(t)))].sort());
        expect(found.conditionals).toEqual([...new Set(texts.filter((t) => /^[A-Z][A-Za-z]+\?.+$/.test(t)))]);
        const output = withReplacements(input, found.replacements);
        expect(output).toEqual(referenceRewrite(input, found.replacements));
        expect(JSON.stringify(input)).toBe(before); // the input is not changed
        if (found.replacements.size === 0) expect(output).toBe(input);
      })
    );
  });

  it('refuses a urn that names no entry', () => {
    const found = { references: map, replacements: new Map<string, string>(), conditionals: [] as string[] };
    expect(() => scanReferences({ a: [{ b: { reference: 'urn:uuid:zz' } }] }, found)).toThrow(/names no entry/);
  });
});

describe('reference rewriting of a JSON Patch (rewriteJsonPatchReferences)', () => {
  const map = new Map([
    ['urn:uuid:org', 'Organization/o1'],
    ['urn:uuid:pat', 'Patient/p1'],
  ]);
  // No conditional reference below: the context (searched only for those) is never used.
  const ctx = {} as HandlerContext;

  it('rewrites References in values and reference strings at …/reference paths; leaves the rest as written', async () => {
    const ops = [
      { op: 'add', path: '/performer', value: [{ actor: { reference: 'urn:uuid:org', display: 'Clinic' } }] },
      { op: 'replace', path: '/patient/reference', value: 'urn:uuid:pat' },
      { op: 'test', path: '/performer/0/actor/reference', value: 'urn:uuid:org' },
      { op: 'replace', path: '/note/0/text', value: 'urn:uuid:pat' },
      { op: 'replace', path: '/lotNumber', value: 'L1' },
      { op: 'copy', from: '/performer/0', path: '/performer/-' },
    ];
    const before = JSON.stringify(ops);
    const out = await rewriteJsonPatchReferences(ops, map, ctx);
    expect(out).toEqual([
      { op: 'add', path: '/performer', value: [{ actor: { reference: 'Organization/o1', display: 'Clinic' } }] },
      { op: 'replace', path: '/patient/reference', value: 'Patient/p1' },
      { op: 'test', path: '/performer/0/actor/reference', value: 'Organization/o1' },
      { op: 'replace', path: '/note/0/text', value: 'urn:uuid:pat' },
      { op: 'replace', path: '/lotNumber', value: 'L1' },
      { op: 'copy', from: '/performer/0', path: '/performer/-' },
    ]);
    expect(JSON.stringify(ops)).toBe(before);
    expect(out[4]).toBe(ops[4]);
  });

  it('returns the patch itself when nothing names an entry; a urn naming no entry is refused; non-operations are left alone', async () => {
    const plain = [{ op: 'replace', path: '/patient/reference', value: 'Patient/9' }, 'not an operation', null];
    expect(await rewriteJsonPatchReferences(plain, map, ctx)).toBe(plain);
    await expect(rewriteJsonPatchReferences([{ op: 'replace', path: '/patient/reference', value: 'urn:uuid:nobody' }], map, ctx)).rejects.toThrow(/names no entry/);
    await expect(rewriteJsonPatchReferences([{ op: 'add', path: '/performer/-', value: { actor: { reference: 'urn:uuid:nobody' } } }], map, ctx)).rejects.toThrow(/names no entry/);
  });
});
