// The pipeline on its own: operations registered from outside, scopes, the caller-scoped store
// view handed to handlers, executeAs for other front doors, and the AuditEvent outcome equal to
// the HTTP status the client is answered (also for store errors the edge maps to 409 / 503).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../audit/audit-log.js';
import { PUBLIC_HEALTH } from '../consent/access.js';
import { ScopedStore } from '../consent/scoped-store.js';
import { SharingIndex } from '../consent/sharing-index.js';
import { FhirError, isFhirError, makeIssue, outcome } from '../fhir/outcome.js';
import type { Caller, FhirResponse } from '../fhir/request.js';
import { parseScopes } from '../auth/scopes.js';
import type { HandlerContext } from '../interactions/types.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { StoreUnavailableError, VersionConflictError } from '../store/store.js';
import { RuleRegistry } from '../validation/business-rules.js';
import { toFhirError } from './errors.js';
import { Pipeline } from './pipeline.js';
import { HandlerRegistry } from './registry.js';

type Recorded = Parameters<AuditLog['recordAccess']>[0];

const system = (scope = 'system/*.cruds', extra: Partial<Caller> = {}): Caller => ({ sub: 't', scope, scopes: parseScopes(scope), ...extra });

describe('Pipeline', () => {
  let dir: string;
  let store: EmbeddedStore;
  let pipeline: Pipeline;
  const audited: Recorded[] = [];
  const seen: HandlerContext[] = [];
  let failure: unknown;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-pipeline-'));
    store = new EmbeddedStore({ dataDir: dir });
    await store.init();
    const registry = new HandlerRegistry();
    registry.interaction('read', async (req, ctx) => {
      seen.push(ctx);
      const record = await ctx.store.read(req.resourceType as string, req.id as string);
      return { status: record ? 200 : 404, body: record?.resource };
    });
    registry.operation({
      name: 'fail',
      levels: ['type'],
      types: ['Patient'],
      methods: ['POST'],
      permissions: ['r'],
      handler: async () => {
        throw failure;
      },
    });
    registry.operation({
      name: 'echo',
      levels: ['system'],
      methods: ['GET'],
      permissions: ['r'],
      scopeTypes: ['Immunization'],
      handler: async (req): Promise<FhirResponse> => ({ status: 200, body: outcome([makeIssue('information', 'informational', req.query.map(([k, v]) => `${k}=${v}`).join('&'))]) }),
    });
    const audit = { recordAccess: (event: Recorded) => audited.push(event) } as unknown as AuditLog;
    pipeline = new Pipeline({
      store,
      config: { port: 0, publicBaseUrl: 'http://x', dataDir: dir, bodyLimitBytes: 1024, logLevel: 'silent' },
      rules: new RuleRegistry(),
      baseUrl: 'http://x/fhir',
      sharing: new SharingIndex(store),
      audit,
      registry,
    });
    await store.write({ resourceType: 'Patient', id: 'p1', resource: { resourceType: 'Patient', id: 'p1' }, ifVersion: 'any' });
  });
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the AuditEvent outcome is the status the client sees, for store errors too', async () => {
    const cases: Array<[unknown, number]> = [
      [new VersionConflictError('Patient', 'p1', 1, 2), 409],
      [new StoreUnavailableError('down'), 503],
      [new FhirError(422, outcome([makeIssue('error', 'processing', 'no')])), 422],
      [new Error('bug'), 500],
    ];
    for (const [error, status] of cases) {
      failure = error;
      audited.length = 0;
      const thrown = await pipeline.executeAs(system(), { method: 'POST', url: 'Patient/$fail', body: { resourceType: 'Parameters' } }).catch((e: unknown) => e);
      expect(thrown).toBe(error);
      expect(toFhirError(thrown).status).toBe(status);
      expect(audited.map((a) => a.outcome)).toEqual([status]);
    }
  });

  it('a request on Patient/<id> names that patient even when the answer holds none (a deleted record after a restart, an unknown id)', async () => {
    audited.length = 0;
    const res = await pipeline.executeAs(system(), { method: 'GET', url: 'Patient/p-gone' });
    expect(res.status).toBe(404);
    expect(audited.map((a) => a.patientRefs)).toEqual([['Patient/p-gone']]);
  });

  it('handlers get the caller-scoped store view: public health by an explicit policy', async () => {
    seen.length = 0;
    const res = await pipeline.executeAs(system(), { method: 'GET', url: 'Patient/p1' });
    expect(res.status).toBe(200);
    const ctx = seen[0];
    expect(ctx.store).toBeInstanceOf(ScopedStore);
    expect(ctx.access).toBe(PUBLIC_HEALTH);
    expect(Object.keys(ctx).sort()).toEqual(['access', 'auditDisclosed', 'baseUrl', 'caller', 'config', 'entries', 'requestId', 'rules', 'store']);
    await pipeline.executeAs(system('user/*.rs', { organization: 'Organization/C' }), { method: 'GET', url: 'Patient/p1' });
    expect(seen[1].access.kind).toBe('organization');
  });

  it('scopes are checked before a handler runs, with the registration’s permissions and scope types', async () => {
    audited.length = 0;
    const denied = await pipeline.executeAs(system('system/Patient.r'), { method: 'GET', url: '$echo?a=1' }).catch((e: unknown) => e);
    expect(isFhirError(denied) && denied.status).toBe(403);
    expect(audited.map((a) => a.outcome)).toEqual([403]);
    const allowed = await pipeline.executeAs(system('system/Immunization.r'), { method: 'GET', url: '$echo?a=1' });
    expect(allowed.status).toBe(200);
  });

  it('routes registered operations only: unknown 404, wrong method 405, a second registration refused', async () => {
    expect(toFhirError(await pipeline.executeAs(system(), { method: 'GET', url: '$nothing' }).catch((e: unknown) => e)).status).toBe(404);
    expect(toFhirError(await pipeline.executeAs(system(), { method: 'POST', url: '$echo' }).catch((e: unknown) => e)).status).toBe(405);
    expect(toFhirError(await pipeline.executeAs(system(), { method: 'POST', url: 'Immunization/$fail' }).catch((e: unknown) => e)).status).toBe(404);
    const registry = new HandlerRegistry();
    const handler = async (): Promise<FhirResponse> => ({ status: 200 });
    registry.operation({ name: 'x', levels: ['system'], methods: ['GET'], handler });
    expect(() => registry.operation({ name: 'x', levels: ['system'], methods: ['POST'], handler })).toThrow(/registered twice/);
    expect(() => registry.interaction('read', handler).interaction('read', handler)).toThrow(/registered twice/);
  });
});
