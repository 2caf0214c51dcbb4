// Submitter report: per facility and day, received / accepted / accepted with errors / rejected and
// the top error codes, as JSON and CSV, each organization seeing its own submissions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import type { MessageResult } from './messages.js';
import { SubmitterReport } from './report.js';
import { hl7Date, order, pid, vxu, yearsAgo } from './test-messages.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer('embedded');
});
afterAll(async () => {
  await server?.close();
});

const clinic = () => server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-r' });

async function post(message: string, token: string): Promise<string> {
  const res = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${token}` }, body: message });
  return res.text();
}

describe('GET /hl7v2/report', () => {
  it('counts messages per facility and day with the top error codes, as JSON and CSV', async () => {
    const token = clinic();
    const good = (mrn: string) => vxu({ facility: 'CLINIC-R', pid: pid({ mrn, family: 'Alder', given: 'Finn', birth: yearsAgo(2) }), orders: [order({ filler: `${mrn}-1`, cvx: '08', date: hl7Date(20) })] });
    await post(good('REP-1'), token); // AA
    await post(vxu({ facility: 'CLINIC-R', pid: pid({ mrn: 'REP-2', family: 'Alder', given: 'Ivy', birth: yearsAgo(3) }), orders: [order({ filler: 'REP-2-1', cvx: '08', date: hl7Date(20), lot: '' })] }), token); // AE lot missing
    await post(vxu({ facility: 'CLINIC-R', pid: pid({ mrn: 'REP-3', family: 'Alder', given: 'Max', birth: '' }), orders: [] }), token); // AR birth date
    await post(good('REP-4').replace('|2.5.1|', '|2.4|'), token); // AR version
    await post(good('REP-5'), server.token()); // public health, not this clinic's row

    const today = new Date().toISOString().slice(0, 10);
    const res = await fetch(`${server.url}/hl7v2/report?date=${today}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.rows).toHaveLength(1);
    expect(body.rows[0]).toMatchObject({ day: today, facility: 'CLINIC-R', organization: 'Organization/clinic-r', received: 4, accepted: 1, acceptedWithErrors: 1, rejected: 2 });
    const codes = body.rows[0].topErrors.map((e: { code: string }) => e.code);
    expect(codes).toEqual(expect.arrayContaining(['lot-number-missing', 'birthdate-missing', 'HL7-0357:203']));

    const all = await (await fetch(`${server.url}/hl7v2/report?date=${today}`, { headers: { authorization: `Bearer ${server.token()}` } })).json();
    expect(all.rows.map((r: { organization: string }) => r.organization).sort()).toEqual(['', 'Organization/clinic-r']);

    const csv = await fetch(`${server.url}/hl7v2/report?date=${today}&_format=csv`, { headers: { authorization: `Bearer ${token}` } });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('day,facility,organization,received,accepted,accepted_with_errors,rejected,top_error_codes');
    expect(lines[1]).toMatch(new RegExp(`^${today},CLINIC-R,Organization/clinic-r,4,1,1,2,`));
  });

  it('counts are stored: two reports flushing into one store add up, and a reopened store keeps them', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-hl7-report-'));
    try {
      const store = new EmbeddedStore({ dataDir });
      await store.init();
      const a = new SubmitterReport(store);
      const b = new SubmitterReport(store);
      const result = (code: 'AA' | 'AE' | 'AR'): MessageResult => ({
        body: '',
        code,
        issues: code === 'AA' ? [] : [{ severity: code === 'AE' ? 'W' : 'E', hl7Code: '101', appCode: '7', text: 'x', ruleCode: code === 'AE' ? 'lot-number-missing' : undefined }],
        status: 200,
        facility: 'F1',
        messageType: 'VXU^V04',
      });
      const day = new Date('2026-03-04T10:00:00Z');
      for (let i = 0; i < 3; i++) a.record(result('AA'), 'Organization/o', day);
      b.record(result('AE'), 'Organization/o', day);
      b.record(result('AR'), 'Organization/o', day);
      await Promise.all([a.close(), b.close()]);
      await store.close();

      const reopened = new EmbeddedStore({ dataDir });
      await reopened.init();
      const rows = await new SubmitterReport(reopened).rows({ from: '2026-03-04', to: '2026-03-04' });
      expect(rows).toEqual([
        {
          day: '2026-03-04',
          facility: 'F1',
          organization: 'Organization/o',
          received: 5,
          accepted: 3,
          acceptedWithErrors: 1,
          rejected: 1,
          topErrors: [
            { code: 'HL7-0357:101', count: 1 },
            { code: 'lot-number-missing', count: 1 },
          ],
        },
      ]);
      await reopened.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('needs a token, a valid date and a user/ or system/ scope', async () => {
    expect((await fetch(`${server.url}/hl7v2/report`)).status).toBe(401);
    const bad = await fetch(`${server.url}/hl7v2/report?date=2024-13-45`, { headers: { authorization: `Bearer ${server.token()}` } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).resourceType).toBe('OperationOutcome');
    const patientToken = server.token({ scope: 'patient/*.rs', patient: 'p1' });
    expect((await fetch(`${server.url}/hl7v2/report`, { headers: { authorization: `Bearer ${patientToken}` } })).status).toBe(403);
  });
});
