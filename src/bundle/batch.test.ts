// Bundle entries whose store fails answer as the same request over HTTP: 503 while the store is
// unavailable (a MongoDB outage), 409 on a version conflict. Found probing a server on FerretDB
// stopped for a few seconds: every route answered 503 but a batch's entries said 500.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../audit/audit-log.js';
import { parseScopes } from '../auth/scopes.js';
import { SharingIndex } from '../consent/sharing-index.js';
import type { Caller } from '../fhir/request.js';
import { executeWrite } from '../interactions/write-path.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { HandlerRegistry } from '../pipeline/registry.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { StoreUnavailableError, VersionConflictError } from '../store/store.js';
import { RuleRegistry } from '../validation/business-rules.js';
import { bundleHandler } from './bundle.js';

const caller: Caller = { sub: 't', scope: 'system/*.cruds', scopes: parseScopes('system/*.cruds') };

describe('Bundle entries whose store fails', () => {
  let dir: string;
  let store: EmbeddedStore;
  let pipeline: Pipeline;
  /** What the read handler throws: the store's error for a read of Patient/broken. */
  let readFailure: unknown;
  const audited: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-batch-'));
    store = new EmbeddedStore({ dataDir: dir });
    await store.init();
    const registry = new HandlerRegistry()
      .interaction('read', async (req, ctx) => {
        if (req.id === 'broken') throw readFailure;
        const record = await ctx.store.read(req.resourceType as string, req.id as string);
        return { status: record ? 200 : 404, body: record?.resource };
      })
      .interaction('create', executeWrite)
      .interaction('batch', bundleHandler);
    pipeline = new Pipeline({
      store,
      config: { port: 0, publicBaseUrl: 'http://x', dataDir: dir, bodyLimitBytes: 1 << 20, logLevel: 'silent' },
      rules: new RuleRegistry(),
      baseUrl: 'http://x/fhir',
      sharing: new SharingIndex(store),
      audit: { recordAccess: (event: { outcome: number }) => audited.push(event.outcome) } as unknown as AuditLog,
      registry,
    });
  });
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = async (type: 'batch' | 'transaction', entry: unknown[]) => {
    const res = await pipeline.executeAs(caller, { method: 'POST', url: '', body: { resourceType: 'Bundle', type, entry } });
    return { status: res.status, entries: (res.body as Bundle).entry ?? [] };
  };
  const newPatient = (family: string) => ({
    resource: { resourceType: 'Patient', name: [{ family, given: ['Ann'] }], birthDate: '2019-03-04' },
    request: { method: 'POST', url: 'Patient' },
  });

  it('a batch entry answers 503 while the store is unavailable and 409 on a version conflict, as over HTTP; the other entries keep theirs', async () => {
    const cases: Array<[unknown, string, string]> = [
      [new StoreUnavailableError('MongoDB did not answer'), '503 Service Unavailable', 'transient'],
      [new VersionConflictError('Patient', 'broken', 1, 2), '409 Conflict', 'conflict'],
      [new Error('a bug'), '500 Internal Server Error', 'exception'],
    ];
    for (const [error, status, code] of cases) {
      readFailure = error;
      audited.length = 0;
      const res = await post('batch', [{ request: { method: 'GET', url: 'Patient/broken' } }, newPatient('Kept')]);
      expect(res.status).toBe(200);
      expect(res.entries[0].response?.status).toBe(status);
      expect(res.entries[0].response?.outcome?.issue?.[0]?.code).toBe(code);
      expect(res.entries[1].response?.status).toBe('201 Created');
      // The entry's AuditEvent says what its response says.
      expect(audited).toContain(Number(status.slice(0, 3)));
    }
  });

  it('a transaction whose writes committed answers a later read entry 503 in its own response, not the whole Bundle as failed', async () => {
    readFailure = new StoreUnavailableError('MongoDB did not answer');
    const before = await store.count('Patient', {});
    const res = await post('transaction', [newPatient('Committed'), { request: { method: 'GET', url: 'Patient/broken' } }]);
    expect(res.status).toBe(200);
    expect(res.entries.map((e) => e.response?.status)).toEqual(['201 Created', '503 Service Unavailable']);
    expect(await store.count('Patient', {})).toBe(before + 1);
  });
});
