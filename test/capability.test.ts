// capability-statement.json is true to the code: it equals what the code builds, and every
// interaction and search parameter it lists is actually routed.
import { readFileSync } from 'node:fs';
import { validateResource } from '@medplum/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCapabilityStatement, TYPE_OPERATIONS } from '../src/app/capability.js';
import { buildRegistry } from '../src/app/handlers.js';
import { DirectoryFileStore } from '../src/store/embedded/file-store.js';
import { DEFAULT_BULK_OPTIONS } from '../src/bulk/config.js';
import { EXPORT_PARAMETERS, parseExportParams } from '../src/bulk/params.js';
import { BulkExports } from '../src/bulk/service.js';
import { SharingIndex } from '../src/consent/sharing-index.js';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { HealthCardIssuer } from '../src/health-cards/issuer.js';
import type { FhirMethod } from '../src/fhir/request.js';
import { route as routeWith } from '../src/pipeline/router.js';
import { TestStore } from '../src/search/test-store.js';
import { CodeSets } from '../src/terminology/code-sets.js';
import { startTestServer, type TestServer } from './helpers/server.js';

// The registry the server composes (src/app/handlers.ts), with services that are never started.
const store = new TestStore();
const bulk = new BulkExports({
  store,
  files: new DirectoryFileStore('/nonexistent-never-written'),
  sharing: new SharingIndex(store),
  baseUrl: 'http://localhost/fhir',
  options: DEFAULT_BULK_OPTIONS,
});
const healthCards = new HealthCardIssuer({ dataDir: '/nonexistent-never-written', publicBaseUrl: 'http://localhost' }, store);
// The people of the sign-in server (Practitioner reads): none here, only the routing is looked at.
const registry = buildRegistry({ codeSets: new CodeSets(), bulk, healthCards, people: { users: { get: async () => undefined }, issuer: 'http://localhost/auth' } });
const route = (method: FhirMethod, segments: string[]) => routeWith(method, segments, registry);

describe('capability-statement.json', () => {
  loadDefinitions();
  const file = JSON.parse(readFileSync(new URL('../capability-statement.json', import.meta.url), 'utf8'));
  const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

  it('equals the statement built from the code (run `npm run capability` after changing what the server supports)', () => {
    expect(file).toEqual(buildCapabilityStatement(version));
  });

  it('every listed interaction and operation is routed', () => {
    const methods: Record<string, [string, string[]]> = {
      read: ['GET', ['X', 'id']],
      vread: ['GET', ['X', 'id', '_history', '1']],
      update: ['PUT', ['X', 'id']],
      patch: ['PATCH', ['X', 'id']],
      delete: ['DELETE', ['X', 'id']],
      'history-instance': ['GET', ['X', 'id', '_history']],
      'history-type': ['GET', ['X', '_history']],
      create: ['POST', ['X']],
      'search-type': ['GET', ['X']],
    };
    for (const resource of file.rest[0].resource) {
      for (const { code } of resource.interaction) {
        const [method, segments] = methods[code];
        const routed = route(method as any, segments.map((s) => (s === 'X' ? resource.type : s)));
        expect(routed.interaction).toBe(code);
      }
      for (const op of resource.operation ?? []) {
        const instanceOnly = TYPE_OPERATIONS.find((o: { name: string }) => o.name === op.name)?.instanceOnly;
        const segments = instanceOnly ? [resource.type, 'some-id', `$${op.name}`] : [resource.type, `$${op.name}`];
        expect(route('POST', segments).operation).toBe(op.name);
      }
    }
    expect(route('POST', []).interaction).toBe('batch');
    expect(route('GET', ['_history']).interaction).toBe('history-system');
    expect(route('GET', []).interaction).toBe('search-system');
  });

  it('every routed operation is listed, at each level and type it is served on', () => {
    // Bulk Data's status and download URLs are addresses the manifest hands out, not operations a
    // client discovers.
    const unlisted = new Set(['export-poll-status', 'export-download']);
    const listedTypes = new Map<string, Set<string>>(
      file.rest[0].resource.map((r: { type: string; operation?: { name: string }[] }) => [r.type, new Set((r.operation ?? []).map((o) => o.name))])
    );
    const system = new Set((file.rest[0].operation ?? []).map((o: { name: string }) => o.name));
    const missing: string[] = [];
    for (const op of registry.registeredOperations()) {
      if (unlisted.has(op.name)) continue;
      if (op.levels.includes('system') && !system.has(op.name)) missing.push(`$${op.name} (system)`);
      if (op.levels.includes('type') || op.levels.includes('instance')) {
        for (const [type, names] of listedTypes) {
          if (op.types && !op.types.includes(type)) continue;
          // A directory type (Practitioner, the signed-in people) is read by id only: no operation is routed on it.
          if (registry.findDirectoryType(type)) continue;
          // The audit trail (read, vread, search only) routes no operation.
          if (type === 'AuditEvent') continue;
          if (!names.has(op.name)) missing.push(`${type}/$${op.name}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('routes the system-level interactions', () => {
    expect(route('POST', []).interaction).toBe('batch');
  });
});

// What an outside client (Inferno, a SMART app) reads in the statement before asking must be what
// the server answers: every listed _include / _revinclude value and every type it serves.
describe('the CapabilityStatement served at /metadata, as a client uses it', () => {
  let server: TestServer;
  let statement: any;
  beforeAll(async () => {
    server = await startTestServer('embedded');
    statement = (await server.fhir('GET', 'metadata')).body;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lists the _include and _revinclude values of every stored type, and each is accepted by its search', async () => {
    const refused: string[] = [];
    for (const resource of statement.rest[0].resource) {
      if (['Practitioner', 'AuditEvent', 'OperationDefinition'].includes(resource.type)) continue;
      expect(resource.searchInclude, resource.type).toContain('*');
      expect(resource.searchRevInclude?.length, resource.type).toBeGreaterThan(0);
      for (const [name, values] of [['_include', resource.searchInclude], ['_revinclude', resource.searchRevInclude]] as const) {
        for (const value of values) {
          const res = await server.fhir('GET', `${resource.type}?${name}=${encodeURIComponent(value)}&_count=1`);
          if (res.status !== 200) refused.push(`${resource.type}?${name}=${value}: ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    expect(refused).toEqual([]);
    const patient = statement.rest[0].resource.find((r: any) => r.type === 'Patient');
    expect(patient.searchRevInclude).toEqual(expect.arrayContaining(['Immunization:patient', 'Consent:patient', 'Condition:patient', 'Group:member']));
  });

  it('every operation definition it names is served at OperationDefinition/<id> and found by ?url=, valid, for the code, levels and types listed', async () => {
    loadDefinitions();
    const rest = statement.rest[0];
    const listed = [
      ...rest.resource.flatMap((r: any) => (r.operation ?? []).map((op: any) => ({ ...op, type: r.type }))),
      ...(rest.operation ?? []).map((op: any) => ({ ...op, type: undefined })),
    ];
    expect(listed.length).toBeGreaterThan(15);
    expect(listed.filter((op: any) => op.definition.startsWith('http://hl7.org/fhir/uv/bulkdata/'))).toHaveLength(3);
    const problems: string[] = [];
    for (const op of listed) {
      const id = op.definition.split('/').pop();
      const res = await server.fhir('GET', `OperationDefinition/${id}`);
      if (res.status !== 200) {
        problems.push(`${op.definition}: ${res.status}`);
        continue;
      }
      const definition = res.body;
      try {
        validateResource(definition);
      } catch (err) {
        problems.push(`${op.definition}: invalid ${JSON.stringify((err as any).outcome?.issue ?? String(err)).slice(0, 200)}`);
      }
      if (definition.url !== op.definition) problems.push(`${op.definition}: url ${definition.url}`);
      if (definition.code !== op.name) problems.push(`${op.definition}: code ${definition.code} for $${op.name}`);
      if (op.type === undefined && definition.system !== true) problems.push(`${op.definition}: listed at system level, system is ${definition.system}`);
      if (op.type !== undefined) {
        if (!(definition.resource ?? []).includes(op.type) && !(definition.resource ?? []).includes('Resource')) problems.push(`${op.definition}: listed on ${op.type}, resource ${definition.resource}`);
        const instanceOnly = TYPE_OPERATIONS.find((o) => o.name === op.name && o.definition === op.definition)?.instanceOnly;
        if (instanceOnly && definition.instance !== true) problems.push(`${op.definition}: instance is ${definition.instance}`);
        if (!instanceOnly && definition.type !== true) problems.push(`${op.definition}: type is ${definition.type}`);
      }
    }
    expect(problems).toEqual([]);
    expect((await server.fhir('GET', 'OperationDefinition/not-an-operation')).status).toBe(404);
    // Resolving a canonical by search, as validators do.
    for (const op of listed) {
      const found = await server.fhir('GET', `OperationDefinition?url=${encodeURIComponent(op.definition)}`);
      expect(found.status, found.text).toBe(200);
      expect(found.body.entry.map((e: any) => e.resource.url), op.definition).toEqual([op.definition]);
      expect(found.body.entry[0].fullUrl).toBe(`${server.baseUrl}/OperationDefinition/${op.definition.split('/').pop()}`);
    }
    const none = await server.fhir('GET', 'OperationDefinition?url=http%3A%2F%2Fexample.org%2Fnot-here');
    expect(none.body).toMatchObject({ type: 'searchset', total: 0 });
    expect(none.body).not.toHaveProperty('entry');
    expect((await server.fhir('GET', 'OperationDefinition?name=x')).status).toBe(400);
    expect((await server.fhir('GET', 'Practitioner')).status).toBe(404);
  });

  it('the Bulk Data definitions it serves list exactly the kick-off parameters the export accepts, at each level', async () => {
    for (const [id, level] of [
      ['export', 'system'],
      ['patient-export', 'patient'],
      ['group-export', 'group'],
    ] as const) {
      const res = await server.fhir('GET', `OperationDefinition/${id}`);
      expect(res.status, res.text).toBe(200);
      const inputs = res.body.parameter.filter((p: any) => p.use === 'in').map((p: any) => p.name);
      const accepted = EXPORT_PARAMETERS.filter((name) => level !== 'system' || name !== 'patient');
      expect([...inputs].sort(), id).toEqual([...accepted].sort());
      // What a definition lists, the kick-off takes; what it leaves out, the kick-off refuses.
      const ctx = { level, method: 'POST', lenient: false, baseUrl: server.baseUrl } as const;
      const sample: Record<string, string | { reference: string }> = {
        _outputFormat: 'application/fhir+ndjson',
        _since: '2020-01-01T00:00:00Z',
        _until: '2021-01-01T00:00:00Z',
        _type: 'Patient',
        _elements: 'id',
        patient: { reference: 'Patient/1' },
        includeAssociatedData: 'LatestProvenanceResources',
        _typeFilter: 'Patient?birthdate=2020',
        organizeOutputBy: 'Patient',
      };
      for (const name of inputs) expect(() => parseExportParams([[name, sample[name]]], ctx), `${id} ${name}`).not.toThrow();
      if (level === 'system') expect(() => parseExportParams([['patient', sample.patient]], ctx)).toThrow();
    }
  });

  it('lists AuditEvent (read, vread, history, search) with search parameters its search accepts, and nothing it refuses', async () => {
    const audit = statement.rest[0].resource.find((r: any) => r.type === 'AuditEvent');
    expect(audit?.interaction.map((i: any) => i.code)).toEqual(['read', 'vread', 'history-instance', 'history-type', 'search-type']);
    const names = audit.searchParam.map((p: any) => p.name);
    expect(names).toEqual(expect.arrayContaining(['patient', 'date', 'subtype', 'entity', 'agent', 'outcome']));
    const refused: string[] = [];
    for (const name of names) {
      const res = await server.fhir('GET', `AuditEvent?${name}:missing=true&_count=1`);
      if (res.status !== 200) refused.push(`${name}: ${res.status}`);
    }
    expect(refused).toEqual([]);
    expect((await server.fhir('GET', 'AuditEvent/_history?_count=1')).status).toBe(200);
    // Not listed, not served: no _include on the trail.
    expect(audit.searchInclude).toBeUndefined();
    expect((await server.fhir('GET', 'AuditEvent?_include=AuditEvent:patient')).status).toBe(400);
  });
});
