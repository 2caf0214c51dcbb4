// The server's AuditLog: GET /metrics exposes its counters without a token, and events recorded
// through it land in the store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScopes } from '../src/auth/scopes.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer('embedded');
});
afterAll(() => server?.close());

describe('audit counters at GET /metrics', () => {
  it('counts recorded and written AuditEvents (Prometheus text, no token needed)', async () => {
    const before = await (await fetch(`${server.url}/metrics`)).text();
    expect(before).toMatch(/^iis_audit_write_failures_total 0$/m);
    const id = server.audit.recordAccess({
      caller: { sub: 'ph', scope: 'system/*.rs', scopes: parseScopes('system/*.rs') },
      interaction: 'search-type',
      resourceType: 'Immunization',
      query: 'patient=Patient/1',
      patientRefs: ['Patient/1'],
      outcome: 200,
      requestId: 'r-1',
    });
    expect(await server.audit.flush(5000)).toBe(true);
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^iis_audit_events_recorded_total 1$/m);
    expect(text).toMatch(/^iis_audit_events_written_total 1$/m);
    expect(text).toMatch(/^iis_audit_events_pending 0$/m);
    expect(text).toMatch(/^# TYPE iis_audit_write_failures_total counter$/m);
    expect((await server.store.read('AuditEvent', id))?.resource?.resourceType).toBe('AuditEvent');
  });
});
