// Every access to patient data leaves an AuditEvent (who, what patient, which interaction,
// outcome), and the audit trail never shows up in system history.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@medplum/fhirtypes';
import { immunization, patient, startTestServer, testMongoUrl, type StoreKind, type TestServer } from './helpers/server.js';

describe('audit trail', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  const eventsFor = async (patientId: string): Promise<AuditEvent[]> => {
    await server.audit.flush(5000);
    const history = await server.store.history({ resourceType: 'AuditEvent', count: 10_000 });
    return history
      .map((r) => r.resource as AuditEvent)
      .filter((e) => e.entity?.some((x) => x.what?.reference === `Patient/${patientId}`));
  };

  it('records reads, searches, writes and refusals with the patient, the caller and the outcome', async () => {
    const created = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Audited', given: ['Ann'] }] }) });
    const id = created.body.id as string;
    await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${id}`) });
    const orgToken = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-1', sub: 'nurse-7' });
    await server.fhir('GET', `Patient/${id}`, { headers: { authorization: `Bearer ${orgToken}`, 'x-request-id': 'req-audit-1' } });
    await server.fhir('GET', `Immunization?patient=Patient/${id}`);
    const events = await eventsFor(id);
    const subtypes = events.map((e) => e.subtype?.[0]?.code);
    expect(subtypes).toEqual(expect.arrayContaining(['create', 'read', 'search-type']));
    const read = events.find((e) => e.subtype?.[0]?.code === 'read') as AuditEvent;
    expect(read.outcome).toBe('0');
    expect(read.action).toBe('R');
    expect(read.agent?.[0].who?.identifier?.value).toBe('nurse-7');
    expect(read.agent?.some((a) => a.who?.reference === 'Organization/clinic-1')).toBe(true);
    expect(read.entity?.some((x) => x.what?.identifier?.value === 'req-audit-1')).toBe(true);
    const search = events.find((e) => e.subtype?.[0]?.code === 'search-type') as AuditEvent;
    const query = search.entity?.find((x) => x.query)?.query as string;
    expect(Buffer.from(query, 'base64').toString()).toContain(`patient=Patient%2F${id}`);
  });

  it('a search about a patient names the patient even when it finds nothing (Immunization?patient=, Condition?subject=, Consent?patient=)', async () => {
    const created = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Undosed', given: ['Una'] }] }) });
    const id = created.body.id as string;
    const queries = [`Immunization?patient=${id}`, `Condition?subject=Patient/${id}`, `Consent?patient=Patient/${id}&status=active`];
    for (const [i, query] of queries.entries()) {
      const res = await server.fhir('GET', query, { headers: { 'x-request-id': `empty-search-${i}` } });
      expect(res.status, res.text).toBe(200);
      expect(res.body.total ?? res.body.entry?.length ?? 0, query).toBe(0);
    }
    const events = await eventsFor(id);
    for (const [i, query] of queries.entries()) {
      const event = events.find((e) => e.entity?.some((x) => x.what?.identifier?.value === `empty-search-${i}`));
      expect(event?.subtype?.[0]?.code, query).toBe('search-type');
    }
    // An Immunization's own id is no patient: nothing named.
    await server.fhir('GET', `Immunization?_id=${id}`, { headers: { 'x-request-id': 'imm-id-search' } });
    expect((await eventsFor(id)).some((e) => e.entity?.some((x) => x.what?.identifier?.value === 'imm-id-search'))).toBe(false);
  });

  it('a $match that finds nobody records the demographics it searched for (the query), as a search would', async () => {
    const res = await server.fhir('POST', 'Patient/$match', {
      headers: { 'x-request-id': 'match-nobody' },
      body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient({ name: [{ family: 'Nowhere', given: ['Nell'] }], birthDate: '2011-11-11' }) }] },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.total ?? res.body.entry?.length ?? 0).toBe(0);
    await server.audit.flush(5000);
    const history = await server.store.history({ resourceType: 'AuditEvent', count: 10_000 });
    const event = history.map((r) => r.resource as AuditEvent).find((e) => e.entity?.some((x) => x.what?.identifier?.value === 'match-nobody'));
    expect(event?.subtype?.map((c) => c.code)).toEqual(['operation', '$match']);
    const query = Buffer.from(event?.entity?.find((x) => x.role?.code === '24')?.query ?? '', 'base64').toString();
    expect(query).toMatch(/^Patient\?/);
    const asked = new URLSearchParams(query.slice('Patient?'.length));
    expect([asked.get('family'), asked.get('given'), asked.get('birthdate')]).toEqual(['Nowhere', 'Nell', '2011-11-11']);
  });

  it('an asynchronous kick-off names its job, as the job\'s status and download events do', async () => {
    const res = await fetch(`${server.baseUrl}/Patient/$export`, { headers: { authorization: `Bearer ${server.token()}`, prefer: 'respond-async', 'x-request-id': 'export-kickoff' } });
    expect(res.status).toBe(202);
    const jobId = new URL(res.headers.get('content-location') as string).searchParams.get('_jobId');
    expect(jobId).toBeTruthy();
    await server.audit.flush(5000);
    const history = await server.store.history({ resourceType: 'AuditEvent', count: 10_000 });
    const event = history.map((r) => r.resource as AuditEvent).find((e) => e.entity?.some((x) => x.what?.identifier?.value === 'export-kickoff'));
    expect(event?.outcomeDesc).toBe(`HTTP 202, asynchronous job ${jobId}`);
  });

  it('a read of a deleted Patient (410) names that patient', async () => {
    const created = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Gone', given: ['Gail'] }] }) });
    const id = created.body.id as string;
    expect((await server.fhir('DELETE', `Patient/${id}`)).status).toBe(204);
    expect((await server.fhir('GET', `Patient/${id}`, { headers: { 'x-request-id': 'read-deleted' } })).status).toBe(410);
    const everything = await server.fhir('GET', `Patient/${id}/$everything`, { headers: { 'x-request-id': 'everything-deleted' } });
    const forecast = await server.fhir('GET', `Patient/${id}/$immds-forecast`, { headers: { 'x-request-id': 'forecast-deleted' } });
    const card = await server.fhir('POST', `Patient/${id}/$health-cards-issue`, { body: { resourceType: 'Parameters', parameter: [{ name: 'credentialType', valueUri: 'https://smarthealth.cards#immunization' }] }, headers: { 'x-request-id': 'card-deleted' } });
    expect([everything.status, forecast.status, card.status]).toEqual([410, 410, 410]);
    const events = await eventsFor(id);
    for (const requestId of ['read-deleted', 'everything-deleted', 'forecast-deleted', 'card-deleted']) {
      const event = events.find((e) => e.entity?.some((x) => x.what?.identifier?.value === requestId));
      expect(event?.outcome, requestId).toBe('4');
    }
  });

  it('a refused read is audited as a failure naming the patient', async () => {
    const created = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Refused', given: ['Ray'] }] }) });
    const id = created.body.id as string;
    await server.fhir('POST', 'Consent', {
      body: {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: `Patient/${id}` },
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
        provision: { type: 'deny' },
      },
    });
    const orgToken = server.token({ scope: 'user/*.rs', organization: 'Organization/other' });
    const res = await server.fhir('GET', `Patient/${id}`, { headers: { authorization: `Bearer ${orgToken}` } });
    expect(res.status).toBe(403);
    const refused = (await eventsFor(id)).find((e) => e.subtype?.[0]?.code === 'read');
    expect(refused?.outcome).toBe('4');
  });

  it('system history does not show the audit trail', async () => {
    await server.audit.flush(5000);
    expect((await server.store.historyCount({ resourceType: 'AuditEvent' })) > 0).toBe(true);
    const history = await server.fhir('GET', '_history?_count=1000');
    expect(history.body.entry.some((e: any) => e.resource?.resourceType === 'AuditEvent')).toBe(false);
    expect((await server.fhir('GET', 'AuditEvent?_count=1', { headers: { authorization: `Bearer ${server.token({ scope: 'user/*.rs', organization: 'Organization/x' })}` } })).status).not.toBe(200);
  });
});

describe('reading the audit trail', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
  });
  afterAll(async () => {
    await server?.close();
  });

  it('public health reads and searches AuditEvents; organizations, users and patients get 403; writes 405', async () => {
    const created = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Trail', given: ['Tess'] }] }) });
    await server.fhir('GET', `Patient/${created.body.id}`);
    await server.audit.flush(5000);
    const found = await server.fhir('GET', `AuditEvent?entity=Patient/${created.body.id}&_count=50`);
    expect(found.status, found.text).toBe(200);
    expect(found.body.entry.length).toBeGreaterThanOrEqual(2);
    const one = found.body.entry[0].resource;
    expect((await server.fhir('GET', `AuditEvent/${one.id}`)).body.id).toBe(one.id);
    for (const claims of [
      { scope: 'system/*.rs', organization: 'Organization/clinic' },
      { scope: 'user/*.rs' },
      { scope: 'patient/*.rs', patient: created.body.id },
    ]) {
      const res = await server.fhir('GET', `AuditEvent/${one.id}`, { headers: { authorization: `Bearer ${server.token(claims)}` } });
      expect(res.status, JSON.stringify(claims)).toBe(403);
    }
    expect((await server.fhir('DELETE', `AuditEvent/${one.id}`)).status).toBe(405);
    expect((await server.fhir('POST', 'AuditEvent', { body: one })).status).toBe(405);
    const rev = await server.fhir('GET', `Patient?_id=${created.body.id}&_revinclude=AuditEvent:patient`);
    expect(rev.status).toBe(400);
  });
});

const kinds: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];
if (!testMongoUrl()) console.info('audit trail history (mongodb): skipped, TEST_MONGODB_URL is not set');

for (const kind of kinds) {
  describe(`history of the audit trail (${kind})`, { timeout: kind === 'mongodb' ? 120_000 : 30_000 }, () => {
    let server: TestServer;
    let eventIds: string[] = [];
    beforeAll(async () => {
      server = await startTestServer(kind);
      const created = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Ledger', given: ['Lea'] }] }) });
      for (let i = 0; i < 3; i++) await server.fhir('GET', `Patient/${created.body.id}`);
      await server.audit.flush(5000);
      const found = await server.fhir('GET', `AuditEvent?entity=Patient/${created.body.id}&_count=50`);
      eventIds = found.body.entry.map((e: any) => e.resource.id);
      expect(eventIds.length).toBeGreaterThanOrEqual(4);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('an AuditEvent\'s instance history is its one version (events are never updated); unknown 404, bad id 400', async () => {
      const read = await server.fhir('GET', `AuditEvent/${eventIds[0]}`);
      const res = await server.fhir('GET', `AuditEvent/${eventIds[0]}/_history`);
      expect(res.status, res.text).toBe(200);
      expect(res.body.type).toBe('history');
      expect(res.body.total).toBe(1);
      expect(res.body.entry).toHaveLength(1);
      expect(res.body.entry[0].resource).toEqual(read.body);
      expect(res.body.entry[0].response.etag).toBe('W/"1"');
      expect(res.body.entry[0].request).toEqual({ method: 'POST', url: 'AuditEvent' });
      expect((await server.fhir('GET', 'AuditEvent/no-such-event/_history')).status).toBe(404);
      expect((await server.fhir('GET', 'AuditEvent/bad_id/_history')).status).toBe(400);
      expect((await server.fhir('POST', `AuditEvent/${eventIds[0]}/_history`, { body: {} })).status).toBe(405);
    });

    it('the type history lists every event newest first, paged, with _since; the rest of the history is not in it', async () => {
      await server.audit.flush(5000);
      const stored = await server.store.historyCount({ resourceType: 'AuditEvent' });
      const first = await server.fhir('GET', 'AuditEvent/_history?_count=2');
      expect(first.status, first.text).toBe(200);
      expect(first.body.type).toBe('history');
      expect(first.body.total).toBeGreaterThanOrEqual(stored);
      expect(first.body.entry).toHaveLength(2);
      const seen: string[] = [];
      let page = first;
      for (let n = 0; n < 100; n++) {
        for (const e of page.body.entry ?? []) {
          expect(e.resource.resourceType).toBe('AuditEvent');
          seen.push(e.resource.id);
        }
        const next = page.body.link.find((l: any) => l.relation === 'next')?.url;
        if (!next) break;
        page = await server.fhir('GET', next.slice(server.baseUrl.length + 1));
        expect(page.status, page.text).toBe(200);
      }
      expect(new Set(seen).size).toBe(seen.length);
      for (const id of eventIds) expect(seen).toContain(id);
      const lastModified = first.body.entry.map((e: any) => e.response.lastModified);
      expect(lastModified[0] >= lastModified[1]).toBe(true);
      const later = await server.fhir('GET', `AuditEvent/_history?_since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
      expect(later.status).toBe(200);
      expect(later.body.total).toBe(0);
      expect(later.body.entry).toBeUndefined();
      expect((await server.fhir('GET', 'AuditEvent/_history?colour=blue')).status).toBe(400);
      expect((await server.fhir('DELETE', 'AuditEvent/_history')).status).toBe(405);
    });

    it('history of the trail is public health\'s only, with the scopes of search (type) and read (instance)', async () => {
      const as = (claims: Record<string, unknown>) => ({ headers: { authorization: `Bearer ${server.token(claims)}` } });
      for (const claims of [
        { scope: 'system/*.rs', organization: 'Organization/clinic' },
        { scope: 'user/*.rs' },
        { scope: 'patient/*.rs', patient: 'someone' },
      ]) {
        expect((await server.fhir('GET', 'AuditEvent/_history', as(claims))).status, JSON.stringify(claims)).toBe(403);
        expect((await server.fhir('GET', `AuditEvent/${eventIds[0]}/_history`, as(claims))).status, JSON.stringify(claims)).toBe(403);
      }
      expect((await server.fhir('GET', 'AuditEvent/_history', as({ scope: 'system/AuditEvent.r' }))).status).toBe(403);
      expect((await server.fhir('GET', 'AuditEvent/_history', as({ scope: 'system/AuditEvent.s' }))).status).toBe(200);
      expect((await server.fhir('GET', `AuditEvent/${eventIds[0]}/_history`, as({ scope: 'system/AuditEvent.s' }))).status).toBe(403);
      expect((await server.fhir('GET', `AuditEvent/${eventIds[0]}/_history`, as({ scope: 'system/AuditEvent.r' }))).status).toBe(200);
    });
  });
}
