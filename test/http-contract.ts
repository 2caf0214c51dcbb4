// The HTTP contract suite (CONTRACT.md "Running it", "Errors", "Auth"; issue 2 interactions),
// run against both stores by http-embedded.test.ts and http-mongodb.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jwt from 'jsonwebtoken';
import { validateResource } from '@medplum/core';
import { loadDefinitions } from '../src/fhir/definitions.js';
import { immunization, mergeParameters, patient, startTestServer, TEST_SECRET, type StoreKind, type TestServer } from './helpers/server.js';

export function runHttpContract(kind: StoreKind): void {
  describe(`HTTP contract on the ${kind} store`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(kind);
    });
    afterAll(async () => {
      await server?.close();
    });

    const createPatient = async (overrides: Record<string, unknown> = {}) => {
      const res = await server.fhir('POST', 'Patient', { body: patient(overrides) });
      expect(res.status, res.text).toBe(201);
      return res.body as { id: string; meta: { versionId: string; lastUpdated: string } };
    };

    describe('create, read, vread', () => {
      it('creates with 201, Location with _history, ETag and Last-Modified', async () => {
        const res = await server.fhir('POST', 'Patient', { body: patient({ id: 'client-chosen' }) });
        expect(res.status).toBe(201);
        expect(res.body.id).not.toBe('client-chosen');
        expect(res.body.meta.versionId).toBe('1');
        expect(res.headers.get('location')).toBe(`${server.baseUrl}/Patient/${res.body.id}/_history/1`);
        expect(res.headers.get('etag')).toBe('W/"1"');
        expect(new Date(res.headers.get('last-modified') as string).getTime()).toBeGreaterThan(0);
        expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      });

      it('reads and vreads, with 404 for unknown ids and versions', async () => {
        const created = await createPatient();
        const read = await server.fhir('GET', `Patient/${created.id}`);
        expect(read.status).toBe(200);
        expect(read.body.name[0].family).toBe('Smith');
        expect(read.headers.get('etag')).toBe('W/"1"');
        const vread = await server.fhir('GET', `Patient/${created.id}/_history/1`);
        expect(vread.status).toBe(200);
        expect(vread.body.meta.versionId).toBe('1');
        expect((await server.fhir('GET', `Patient/${created.id}/_history/9`)).status).toBe(404);
        expect((await server.fhir('GET', `Patient/${created.id}/_history/abc`)).status).toBe(404);
        const missing = await server.fhir('GET', 'Patient/does-not-exist');
        expect(missing.status).toBe(404);
        expect(missing.body.resourceType).toBe('OperationOutcome');
        expect(missing.body.issue[0].code).toBe('not-found');
      });

      it('answers 404 for an unknown resource type and 400 for a bad id', async () => {
        const res = await server.fhir('GET', 'Observation/1');
        expect(res.status).toBe(404);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect((await server.fhir('GET', 'Patient/bad_id!')).status).toBe(400);
      });

      it('read, vread and history: _summary and _elements return the elements asked for (and the mandatory ones), tagged SUBSETTED; bad values 400', async () => {
        const created = await createPatient();
        const subsetted = (r: any) => r.meta.tag?.some((t: any) => t.code === 'SUBSETTED') === true;
        for (const path of [`Patient/${created.id}`, `Patient/${created.id}/_history/1`]) {
          const full = await server.fhir('GET', path);
          expect(full.body.name).toBeDefined();
          expect(subsetted(full.body)).toBe(false);
          const elements = await server.fhir('GET', `${path}?_elements=gender`);
          expect(elements.status, elements.text).toBe(200);
          expect(Object.keys(elements.body).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
          expect(elements.body.meta.versionId).toBe('1');
          expect(subsetted(elements.body)).toBe(true);
          expect(elements.headers.get('etag')).toBe('W/"1"');
          // Patient's summary elements include name, gender and birthDate; a narrative is not one.
          const summary = await server.fhir('GET', `${path}?_summary=true`);
          expect(summary.status, summary.text).toBe(200);
          expect(summary.body.name).toEqual(full.body.name);
          expect(subsetted(summary.body)).toBe(true);
          expect((await server.fhir('GET', `${path}?_summary=false`)).body).toEqual(full.body);
          for (const bad of ['_summary=bogus', '_summary=count', '_elements=9x', '_summary=true&_summary=data', '_elements=gender,shoeSize', '_elements=Immunization.status']) {
            const res = await server.fhir('GET', `${path}?${bad}`);
            expect(res.status, `${path}?${bad}`).toBe(400);
            expect(res.body.resourceType).toBe('OperationOutcome');
          }
          // Lenient: the unknown name is left out, the others still cut.
          const lenient = await server.fhir('GET', `${path}?_elements=gender,shoeSize`, { headers: { prefer: 'handling=lenient' } });
          expect(lenient.status, lenient.text).toBe(200);
          expect(Object.keys(lenient.body).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
        }
        // History: every version cut alike; the paging links keep the parameters.
        const updated = await server.fhir('PUT', `Patient/${created.id}`, { body: { ...patient(), id: created.id, gender: 'male' } });
        expect(updated.status, updated.text).toBe(200);
        for (const path of [`Patient/${created.id}/_history`, 'Patient/_history']) {
          const page = await server.fhir('GET', `${path}?_elements=gender&_count=1`);
          expect(page.status, page.text).toBe(200);
          expect(Object.keys(page.body.entry[0].resource).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
          expect(subsetted(page.body.entry[0].resource)).toBe(true);
          const next = page.body.link.find((l: any) => l.relation === 'next').url as string;
          expect(new URL(next).searchParams.get('_elements')).toBe('gender');
          const second = await server.fhir('GET', next.slice(server.baseUrl.length + 1));
          expect(Object.keys(second.body.entry[0].resource).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
          const summary = await server.fhir('GET', `${path}?_summary=true&_count=1`);
          expect(summary.body.entry[0].resource.name).toBeDefined();
          expect(subsetted(summary.body.entry[0].resource)).toBe(true);
          expect((await server.fhir('GET', `${path}?_summary=count`)).status).toBe(400);
          expect((await server.fhir('GET', `${path}?_elements=9x`)).status).toBe(400);
          expect((await server.fhir('GET', `${path}?_elements=shoeSize`)).status).toBe(400);
        }
        // What is stored is untouched.
        expect((await server.fhir('GET', `Patient/${created.id}`)).body.name).toBeDefined();
      });

      it('conditional read: If-None-Match answers 304', async () => {
        const created = await createPatient();
        const res = await server.fhir('GET', `Patient/${created.id}`, { headers: { 'if-none-match': 'W/"1"' } });
        expect(res.status).toBe(304);
        const changed = await server.fhir('GET', `Patient/${created.id}`, { headers: { 'if-none-match': 'W/"0"' } });
        expect(changed.status).toBe(200);
        // RFC 9110 §13.1.2: a list of entity tags, any of which may match.
        expect((await server.fhir('GET', `Patient/${created.id}`, { headers: { 'if-none-match': 'W/"7", W/"1"' } })).status).toBe(304);
        expect((await server.fhir('GET', `Patient/${created.id}`, { headers: { 'if-none-match': 'W/"7", W/"8"' } })).status).toBe(200);
        // A vread's version never changes: the client holding it gets 304 too.
        const vread = (headers: Record<string, string>) => server.fhir('GET', `Patient/${created.id}/_history/1`, { headers });
        const held = await vread({ 'if-none-match': 'W/"1"' });
        expect(held.status).toBe(304);
        expect(held.headers.get('etag')).toBe('W/"1"');
        expect(held.text).toBe('');
        expect((await vread({ 'if-none-match': 'W/"2"' })).status).toBe(200);
        expect((await vread({ 'if-modified-since': new Date(Date.now() + 3600_000).toUTCString() })).status).toBe(304);
        expect((await vread({ 'if-modified-since': 'Tue, 01 Jan 2019 00:00:00 GMT' })).status).toBe(200);
      });
    });

    describe('update, patch, delete', () => {
      it('updates with 200 and a new version; If-Match mismatch is 412', async () => {
        const created = await createPatient();
        const body = { ...patient(), id: created.id, gender: 'male' };
        const res = await server.fhir('PUT', `Patient/${created.id}`, { body, headers: { 'if-match': 'W/"1"' } });
        expect(res.status).toBe(200);
        expect(res.body.meta.versionId).toBe('2');
        expect(res.headers.get('etag')).toBe('W/"2"');
        const stale = await server.fhir('PUT', `Patient/${created.id}`, { body, headers: { 'if-match': 'W/"1"' } });
        expect(stale.status).toBe(412);
        expect(stale.body.resourceType).toBe('OperationOutcome');
        expect((await server.fhir('PUT', `Patient/${created.id}`, { body, headers: { 'if-match': 'nonsense' } })).status).toBe(400);
      });

      it('update-as-create to a client id answers 201', async () => {
        const id = `client-${Date.now()}`;
        const res = await server.fhir('PUT', `Patient/${id}`, { body: { ...patient(), id } });
        expect(res.status).toBe(201);
        expect(res.body.id).toBe(id);
        expect(res.headers.get('location')).toBe(`${server.baseUrl}/Patient/${id}/_history/1`);
      });

      it('rejects an update whose body id differs from the URL, or lacks one (400)', async () => {
        const created = await createPatient();
        const wrong = await server.fhir('PUT', `Patient/${created.id}`, { body: { ...patient(), id: 'other' } });
        expect(wrong.status).toBe(400);
        const none = await server.fhir('PUT', `Patient/${created.id}`, { body: patient() });
        expect(none.status).toBe(400);
      });

      it('rejects a body of another type than the URL (400)', async () => {
        const res = await server.fhir('POST', 'Patient', { body: { resourceType: 'Organization', name: 'x' } });
        expect(res.status).toBe(400);
        expect(res.body.resourceType).toBe('OperationOutcome');
      });

      it('applies a JSON Patch, honours If-Match, and refuses other content types', async () => {
        const created = await createPatient();
        const ops = [{ op: 'replace', path: '/gender', value: 'other' }];
        const res = await server.fhir('PATCH', `Patient/${created.id}`, {
          raw: JSON.stringify(ops),
          headers: { 'content-type': 'application/json-patch+json', 'if-match': 'W/"1"' },
        });
        expect(res.status, res.text).toBe(200);
        expect(res.body.gender).toBe('other');
        expect(res.body.meta.versionId).toBe('2');
        const stale = await server.fhir('PATCH', `Patient/${created.id}`, {
          raw: JSON.stringify(ops),
          headers: { 'content-type': 'application/json-patch+json', 'if-match': 'W/"1"' },
        });
        expect(stale.status).toBe(412);
        const failedTest = await server.fhir('PATCH', `Patient/${created.id}`, {
          raw: JSON.stringify([{ op: 'test', path: '/gender', value: 'male' }]),
          headers: { 'content-type': 'application/json-patch+json' },
        });
        expect(failedTest.status).toBe(422);
        const invalidResult = await server.fhir('PATCH', `Patient/${created.id}`, {
          raw: JSON.stringify([{ op: 'replace', path: '/gender', value: 'robot' }]),
          headers: { 'content-type': 'application/json-patch+json' },
        });
        expect(invalidResult.status).toBe(422);
        const wrongType = await server.fhir('PATCH', `Patient/${created.id}`, {
          raw: JSON.stringify(ops),
          headers: { 'content-type': 'text/plain' },
        });
        expect(wrongType.status).toBe(415);
        expect((await server.fhir('GET', `Patient/${created.id}`)).body.meta.versionId).toBe('2');
      });

      it('deletes with a new version; read is 410; history keeps every version', async () => {
        const created = await createPatient();
        const del = await server.fhir('DELETE', `Patient/${created.id}`);
        expect(del.status).toBe(204);
        expect(del.headers.get('etag')).toBe('W/"2"');
        const read = await server.fhir('GET', `Patient/${created.id}`);
        expect(read.status).toBe(410);
        expect(read.body.resourceType).toBe('OperationOutcome');
        expect((await server.fhir('GET', `Patient/${created.id}/_history/2`)).status).toBe(410);
        expect((await server.fhir('GET', `Patient/${created.id}/_history/1`)).status).toBe(200);
        expect((await server.fhir('DELETE', `Patient/${created.id}`)).status).toBe(204);
        const history = await server.fhir('GET', `Patient/${created.id}/_history`);
        expect(history.body.type).toBe('history');
        expect(history.body.total).toBe(2);
        expect(history.body.entry.map((e: any) => e.request.method)).toEqual(['DELETE', 'POST']);
        const recreated = await server.fhir('PUT', `Patient/${created.id}`, { body: { ...patient(), id: created.id } });
        expect(recreated.status).toBe(201);
        expect(recreated.body.meta.versionId).toBe('3');
      });

      it('Prefer: return=minimal and return=OperationOutcome', async () => {
        const minimal = await server.fhir('POST', 'Patient', { body: patient(), headers: { prefer: 'return=minimal' } });
        expect(minimal.status).toBe(201);
        expect(minimal.text).toBe('');
        expect(minimal.headers.get('location')).toMatch(/\/Patient\/[^/]+\/_history\/1$/);
        const oo = await server.fhir('POST', 'Patient', { body: patient(), headers: { prefer: 'return=OperationOutcome' } });
        expect(oo.status).toBe(201);
        expect(oo.body.resourceType).toBe('OperationOutcome');
      });
    });

    describe('Patient/$merge answers as Prefer: return asks', () => {
      it('Parameters by default and with representation; OperationOutcome alone; minimal: no body, the survivor\'s version in Location', async () => {
        const merge = async (prefer: string | undefined, preview?: boolean) => {
          const source = await createPatient({ name: [{ family: 'Mergesource', given: ['Ann'] }] });
          const target = await createPatient({ name: [{ family: 'Mergetarget', given: ['Ann'] }] });
          const res = await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(source.id, target.id, preview), headers: prefer ? { prefer } : {} });
          expect(res.status, res.text).toBe(200);
          return { res, source: source.id, target: target.id };
        };
        for (const prefer of [undefined, 'return=representation']) {
          const { res, target } = await merge(prefer);
          expect(res.body.resourceType, String(prefer)).toBe('Parameters');
          expect(res.body.parameter.map((p: any) => p.name)).toEqual(['input', 'outcome', 'result']);
          expect(res.body.parameter[2].resource.id).toBe(target);
        }
        const oo = await merge('return=OperationOutcome');
        expect(oo.res.body.resourceType).toBe('OperationOutcome');
        expect(oo.res.body.issue[0].diagnostics).toContain(`Merged Patient/${oo.source} into Patient/${oo.target}`);
        const minimal = await merge('return=minimal');
        expect(minimal.res.text).toBe('');
        expect(minimal.res.headers.get('location')).toBe(`${server.baseUrl}/Patient/${minimal.target}/_history/2`);
        expect((await server.fhir('GET', `Patient/${minimal.source}`)).body.active).toBe(false);
        // A preview writes nothing: no Location, and the outcome says what would happen.
        const preview = await merge('return=minimal', true);
        expect(preview.res.text).toBe('');
        expect(preview.res.headers.get('location')).toBeNull();
        expect((await server.fhir('GET', `Patient/${preview.source}`)).body.meta.versionId).toBe('1');
        const previewOutcome = await merge('return=OperationOutcome', true);
        expect(previewOutcome.res.body.issue[0].diagnostics).toContain('Would merge');
      });
    });

    describe('conditional interactions', () => {
      it('If-None-Exist: creates once, then answers 200 with the existing resource; several matches 412', async () => {
        const value = `mrn-${Date.now()}`;
        const body = patient({ identifier: [{ system: 'urn:mrn', value }] });
        const headers = { 'if-none-exist': `identifier=urn:mrn|${value}` };
        const first = await server.fhir('POST', 'Patient', { body, headers });
        expect(first.status).toBe(201);
        const second = await server.fhir('POST', 'Patient', { body, headers });
        expect(second.status).toBe(200);
        expect(second.body.id).toBe(first.body.id);
        // The whole search URL, as some clients send it, names the same condition.
        for (const condition of [`?identifier=urn:mrn|${value}`, `Patient?identifier=urn:mrn|${value}`]) {
          const again = await server.fhir('POST', 'Patient', { body, headers: { 'if-none-exist': condition } });
          expect(again.status, condition).toBe(200);
          expect(again.body.id, condition).toBe(first.body.id);
        }
        expect((await server.fhir('POST', 'Patient', { body, headers: { 'if-none-exist': `Immunization?identifier=urn:mrn|${value}` } })).status).toBe(400);
        // A second record with the same identifier (PUT to a client id: a POST would merge into the first).
        const dupId = `dup-${Date.now()}`;
        await server.fhir('PUT', `Patient/${dupId}`, { body: { ...patient({ identifier: [{ system: 'urn:mrn', value }] }), id: dupId } });
        const third = await server.fhir('POST', 'Patient', { body, headers });
        expect(third.status).toBe(412);
      });

      it('If-None-Exist is race-safe: 20 concurrent conditional creates store one resource', async () => {
        const value = `race-${Date.now()}`;
        const body = patient({ identifier: [{ system: 'urn:mrn', value }] });
        const results = await Promise.all(
          Array.from({ length: 20 }, () => server.fhir('POST', 'Patient', { body, headers: { 'if-none-exist': `identifier=urn:mrn|${value}` } }))
        );
        expect(results.filter((r) => r.status === 201)).toHaveLength(1);
        expect(results.filter((r) => r.status === 200)).toHaveLength(19);
        expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
      });

      it('conditional update creates, then updates the match; conditional delete removes it', async () => {
        const value = `cu-${Date.now()}`;
        const body = patient({ identifier: [{ system: 'urn:mrn', value }] });
        const created = await server.fhir('PUT', `Patient?identifier=urn:mrn|${value}`, { body });
        expect(created.status).toBe(201);
        const updated = await server.fhir('PUT', `Patient?identifier=urn:mrn|${value}`, { body: { ...body, gender: 'male' } });
        expect(updated.status).toBe(200);
        expect(updated.body.id).toBe(created.body.id);
        expect(updated.body.meta.versionId).toBe('2');
        const deleted = await server.fhir('DELETE', `Patient?identifier=urn:mrn|${value}`);
        expect(deleted.status).toBe(204);
        expect((await server.fhir('GET', `Patient/${created.body.id}`)).status).toBe(410);
      });
    });

    describe('history', () => {
      it('instance, type and system history with _since, _count and paging', async () => {
        const created = await createPatient();
        for (let i = 0; i < 4; i++) {
          await server.fhir('PUT', `Patient/${created.id}`, { body: { ...patient(), id: created.id, gender: i % 2 ? 'male' : 'female' } });
        }
        const page1 = await server.fhir('GET', `Patient/${created.id}/_history?_count=2`);
        expect(page1.body.total).toBe(5);
        expect(page1.body.entry.map((e: any) => e.resource.meta.versionId)).toEqual(['5', '4']);
        const next = page1.body.link.find((l: any) => l.relation === 'next').url as string;
        const page2 = await server.fhir('GET', next.slice(server.baseUrl.length));
        expect(page2.body.entry.map((e: any) => e.resource.meta.versionId)).toEqual(['3', '2']);
        const since = page1.body.entry[1].resource.meta.lastUpdated;
        const sinceRes = await server.fhir('GET', `Patient/${created.id}/_history?_since=${encodeURIComponent(since)}`);
        expect(sinceRes.body.entry.map((e: any) => e.resource.meta.versionId)).toEqual(['5', '4']);
        const type = await server.fhir('GET', 'Patient/_history?_count=3');
        expect(type.status).toBe(200);
        expect(type.body.entry).toHaveLength(3);
        const system = await server.fhir('GET', '_history?_count=1');
        expect(system.body.entry).toHaveLength(1);
        expect((await server.fhir('GET', 'Patient/_history?_since=yesterday')).status).toBe(400);
        expect((await server.fhir('GET', 'Patient/unknown-id/_history')).status).toBe(404);
      });

      it('_at: the versions current at some point during the period it names (R4)', async () => {
        const v1 = await createPatient();
        const pause = () => new Promise((resolve) => setTimeout(resolve, 15));
        await pause();
        const v2 = (await server.fhir('PUT', `Patient/${v1.id}`, { body: { ...patient(), id: v1.id, gender: 'male' } })).body;
        await pause();
        const v3 = (await server.fhir('PUT', `Patient/${v1.id}`, { body: { ...patient(), id: v1.id, gender: 'other' } })).body;
        const versionsAt = async (path: string, at: string, count = 100): Promise<string[]> => {
          let url: string | undefined = `${path}?_at=${encodeURIComponent(at)}&_count=${count}`;
          const seen: string[] = [];
          while (url) {
            const res = await server.fhir('GET', url);
            expect(res.status, url).toBe(200);
            for (const e of res.body.entry ?? []) if (e.fullUrl.endsWith(`/Patient/${v1.id}`)) seen.push(e.response.etag);
            url = res.body.link.find((l: any) => l.relation === 'next')?.url.slice(server.baseUrl.length + 1);
          }
          return seen;
        };
        const instance = `Patient/${v1.id}/_history`;
        const after = (instant: string) => new Date(Date.parse(instant) + 1).toISOString();
        expect(await versionsAt(instance, v2.meta.lastUpdated)).toEqual(['W/"2"']);
        expect(await versionsAt(instance, after(v1.meta.lastUpdated))).toEqual(['W/"1"']);
        expect(await versionsAt(instance, after(v3.meta.lastUpdated))).toEqual(['W/"3"']);
        expect(await versionsAt(instance, v1.meta.lastUpdated.slice(0, 10))).toEqual(['W/"3"', 'W/"2"', 'W/"1"']);
        expect(await versionsAt(instance, v1.meta.lastUpdated.slice(0, 10), 1)).toEqual(['W/"3"', 'W/"2"', 'W/"1"']);
        expect(await versionsAt(instance, '2000')).toEqual([]);
        expect(await versionsAt('Patient/_history', v2.meta.lastUpdated)).toEqual(['W/"2"']);
        expect(await versionsAt('_history', after(v3.meta.lastUpdated), 2)).toEqual(['W/"3"']);
        expect((await server.fhir('GET', `${instance}?_at=yesterday`)).status).toBe(400);
      }, 120_000); // type and system history walk the store's whole history: ~27 s on FerretDB under CI load

      it('_count=0 answers the total only, at every level', async () => {
        const created = await createPatient();
        await server.fhir('PUT', `Patient/${created.id}`, { body: { ...patient(), id: created.id, gender: 'male' } });
        for (const path of [`Patient/${created.id}/_history`, 'Patient/_history', '_history']) {
          const res = await server.fhir('GET', `${path}?_count=0`);
          expect(res.status, path).toBe(200);
          expect(res.body, path).not.toHaveProperty('entry');
          expect(res.body.link.map((l: any) => l.relation), path).toEqual(['self']);
          expect(res.body.total, path).toBeGreaterThanOrEqual(2);
        }
        expect((await server.fhir('GET', `Patient/${created.id}/_history?_count=0`)).body.total).toBe(2);
      });
    });

    describe('validation', () => {
      it('reports every issue at once with 422', async () => {
        const res = await server.fhir('POST', 'Immunization', {
          body: { resourceType: 'Immunization', status: 'bogus', vaccineCode: { text: '' }, patient: { reference: 'Patient/x' } },
        });
        expect(res.status).toBe(422);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(res.body.issue.length).toBeGreaterThanOrEqual(3);
        for (const issue of res.body.issue) {
          expect(issue.severity).toBeDefined();
          expect(issue.code).toBeDefined();
          expect(issue.diagnostics ?? issue.details?.text).toBeTruthy();
        }
      });

      it('$validate at type and instance level answers 200 with an OperationOutcome', async () => {
        const ok = await server.fhir('POST', 'Patient/$validate', { body: patient() });
        expect(ok.status).toBe(200);
        expect(ok.body.issue.every((i: any) => i.severity !== 'error')).toBe(true);
        const bad = await server.fhir('POST', 'Patient/$validate', { body: { ...patient(), gender: 'robot' } });
        expect(bad.status).toBe(200);
        expect(bad.body.issue.some((i: any) => i.severity === 'error')).toBe(true);
        const created = await createPatient();
        const asParams = await server.fhir('POST', `Patient/${created.id}/$validate`, {
          body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { ...patient(), id: created.id } }, { name: 'mode', valueCode: 'update' }] },
        });
        expect(asParams.status).toBe(200);
        expect(asParams.body.issue.every((i: any) => i.severity !== 'error')).toBe(true);
        expect((await server.fhir('GET', `Patient/${created.id}`)).body.meta.versionId).toBe('1');
      });
    });

    describe('bad input never causes a 500 or a write', () => {
      const count = async () => {
        const res = await server.fhir('GET', 'Patient/_history?_count=0');
        expect(res.status).toBe(200);
        return res.body.total as number;
      };

      it.each([
        ['malformed JSON', '{"resourceType": "Patient", ', 400],
        ['an array body', '[1,2,3]', 400],
        ['a string body', '"Patient"', 400],
        ['wrong resourceType', JSON.stringify({ resourceType: 'Banana' }), 400],
        ['objects where strings belong', JSON.stringify({ resourceType: 'Patient', name: [{ family: { $ne: 1 } }], birthDate: '2020-01-01' }), 422],
        ['arrays where strings belong', JSON.stringify({ resourceType: 'Patient', birthDate: ['2020'] }), 422],
        ['deeply nested JSON', `{"resourceType":"Patient","extension":${'['.repeat(5000)}${']'.repeat(5000)}}`, 400],
        ['empty strings', JSON.stringify({ resourceType: 'Patient', name: [{ family: '' }] }), 422],
      ])('%s', async (_name, raw, status) => {
        const before = await count();
        const res = await server.fhir('POST', 'Patient', { raw, headers: { 'content-type': 'application/fhir+json' } });
        expect(res.status).toBe(status);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(await count()).toBe(before);
      });

      it('a body over the limit is 413', async () => {
        const big = JSON.stringify({ ...patient(), text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(2 * 1024 * 1024)}</div>` } });
        const res = await server.fhir('POST', 'Patient', { raw: big, headers: { 'content-type': 'application/fhir+json' } });
        expect(res.status).toBe(413);
        expect(res.body.resourceType).toBe('OperationOutcome');
      });

      it('other content types are 415; XML output is 406', async () => {
        const res = await server.fhir('POST', 'Patient', { raw: '<Patient/>', headers: { 'content-type': 'application/fhir+xml' } });
        expect(res.status).toBe(415);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect((await server.fhir('GET', 'Patient?_format=xml')).status).toBe(406);
      });

      it('query operators cannot be injected', async () => {
        const res = await server.fhir('GET', 'Patient?name[$ne]=x');
        expect(res.status).toBe(400);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect((await server.fhir('GET', 'Patient?_id[$gt]=')).status).toBe(400);
      });

      it('unsupported methods are 405 with the Allow header naming the methods that are (RFC 9110 15.5.6)', async () => {
        const cases: Array<[string, string, string]> = [
          ['DELETE', 'metadata', 'GET, HEAD'],
          ['POST', 'Patient/x/_history', 'GET, HEAD'],
          ['POST', 'Patient/x', 'GET, PUT, PATCH, DELETE, HEAD'],
          ['DELETE', '', 'GET, POST, HEAD'],
          ['GET', 'Patient/_search', 'POST'],
          ['POST', 'AuditEvent', 'GET, HEAD'],
          ['POST', '$reminder-recall', 'GET, HEAD'],
        ];
        for (const [method, path, allow] of cases) {
          const res = await server.fhir(method, path, method === 'POST' ? { body: { resourceType: 'Parameters' } } : {});
          expect(res.status, `${method} ${path}`).toBe(405);
          expect(res.body.resourceType).toBe('OperationOutcome');
          expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
          // A browser app (CORS) may read it too.
          expect(res.headers.get('access-control-expose-headers')?.split(/,\s*/)).toContain('Allow');
        }
      });
    });

    describe('formats and HTTP facade', () => {
      it('_format and _pretty', async () => {
        const created = await createPatient();
        const json = await server.fhir('GET', `Patient/${created.id}?_format=json&_pretty=true`);
        expect(json.status).toBe(200);
        expect(json.text).toContain('\n  "resourceType"');
        const plain = await server.fhir('GET', `Patient/${created.id}?_format=application/json`);
        expect(plain.headers.get('content-type')).toMatch(/^application\/json/);
        const accepted = await server.fhir('POST', 'Patient', { raw: JSON.stringify(patient()), headers: { 'content-type': 'application/json; charset=utf-8' } });
        expect(accepted.status).toBe(201);
      });

      it('an Accept naming only an image or text is a 406 on a read or search (those formats are operations\' own)', async () => {
        const created = await createPatient();
        for (const accept of ['text/plain', 'image/png', 'application/smart-health-card']) {
          for (const path of [`Patient/${created.id}`, 'Patient?_count=1']) {
            const res = await server.fhir('GET', path, { headers: { accept } });
            expect(res.status, `${accept} ${path}`).toBe(406);
            expect(res.body.resourceType).toBe('OperationOutcome');
          }
        }
        expect((await server.fhir('GET', `Patient/${created.id}`, { headers: { accept: 'text/plain, application/fhir+json;q=0.5' } })).status).toBe(200);
        expect((await server.fhir('GET', `Patient/${created.id}`, { headers: { accept: 'application/json, text/plain, */*' } })).status).toBe(200);
      });

      it("FHIR's version parameter: R4 (4.0) is served, another version is 406 (Accept, _format) or 415 (Content-Type)", async () => {
        const created = await createPatient();
        for (const accept of ['application/fhir+json; fhirVersion=4.0', 'application/fhir+json;fhirVersion=4.0.1', 'application/fhir+json; fhirVersion=3.0, application/fhir+json; fhirVersion=4.0']) {
          const res = await server.fhir('GET', `Patient/${created.id}`, { headers: { accept } });
          expect(res.status, accept).toBe(200);
        }
        for (const accept of ['application/fhir+json; fhirVersion=3.0', 'application/fhir+json; fhirVersion=5.0', 'application/fhir+json; fhirVersion="1.0"']) {
          const res = await server.fhir('GET', `Patient/${created.id}`, { headers: { accept } });
          expect(res.status, accept).toBe(406);
          expect(res.body.resourceType).toBe('OperationOutcome');
          expect(res.body.issue[0].diagnostics).toContain('R4');
          expect((await server.fhir('GET', 'metadata', { headers: { accept, authorization: '' } })).status, `metadata ${accept}`).toBe(406);
        }
        expect((await server.fhir('GET', `Patient/${created.id}?_format=${encodeURIComponent('application/fhir+json; fhirVersion=4.0')}`)).status).toBe(200);
        expect((await server.fhir('GET', `Patient/${created.id}?_format=${encodeURIComponent('application/fhir+json;fhirVersion=3.0')}`)).status).toBe(406);
        const before = (await server.fhir('GET', 'Patient?_summary=count')).body.total;
        const stu3 = await server.fhir('POST', 'Patient', { raw: JSON.stringify(patient()), headers: { 'content-type': 'application/fhir+json; fhirVersion=3.0' } });
        expect(stu3.status).toBe(415);
        expect((await server.fhir('GET', 'Patient?_summary=count')).body.total).toBe(before);
        const r4 = await server.fhir('POST', 'Patient', { raw: JSON.stringify(patient()), headers: { 'content-type': 'application/fhir+json; fhirVersion=4.0; charset=utf-8' } });
        expect(r4.status).toBe(201);
      });

      it('$everything and $match answer searchsets a validator accepts: a self link, and no entry: [] when nothing is found', async () => {
        loadDefinitions();
        const created = await createPatient({ name: [{ family: 'Everythingless', given: ['Una'] }], birthDate: '2017-07-07' });
        const found = await server.fhir('GET', `Patient/${created.id}/$everything?_type=Patient,Immunization`);
        expect(found.status, found.text).toBe(200);
        expect(found.body.link).toEqual([{ relation: 'self', url: `${server.baseUrl}/Patient/${created.id}/$everything?_type=Patient%2CImmunization` }]);
        expect(found.body.entry.map((e: any) => e.resource.id)).toEqual([created.id]);
        const none = await server.fhir('GET', `Patient/${created.id}/$everything?_since=2099-01-01T00:00:00Z`);
        expect(none.status, none.text).toBe(200);
        expect(none.body.total).toBe(0);
        expect(none.body).not.toHaveProperty('entry');
        expect(() => validateResource(none.body)).not.toThrow();
        const match = await server.fhir('POST', 'Patient/$match', {
          body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient', name: [{ family: 'Everythingless', given: ['Una'] }], birthDate: '2017-07-07' } }] },
        });
        expect(match.status, match.text).toBe(200);
        expect(match.body.link).toEqual([{ relation: 'self', url: `${server.baseUrl}/Patient/$match` }]);
      });

      it('CORS preflight and request ids', async () => {
        const res = await fetch(`${server.baseUrl}/Patient`, {
          method: 'OPTIONS',
          headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
        });
        expect(res.status).toBe(204);
        expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
        expect(res.headers.get('access-control-allow-headers')).toContain('Authorization');
        const withId = await server.fhir('GET', 'metadata', { headers: { 'x-request-id': 'abc-123' } });
        expect(withId.headers.get('x-request-id')).toBe('abc-123');
        expect((await server.fhir('GET', 'metadata')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      });

      it('healthz and readyz', async () => {
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
        const ready = await fetch(`${server.url}/readyz`);
        expect(ready.status).toBe(200);
      });

      it('metadata needs no token and lists the resource types', async () => {
        const res = await server.fhir('GET', 'metadata', { headers: { authorization: '' } });
        expect(res.status).toBe(200);
        expect(res.body.resourceType).toBe('CapabilityStatement');
        expect(res.body.rest[0].resource.map((r: any) => r.type)).toEqual([
          'Patient',
          'Immunization',
          'Consent',
          'Condition',
          'Organization',
          'Group',
          'CodeSystem',
          'ValueSet',
          'ConceptMap',
          'Measure',
          // Read, vread and search, public-health system clients only: the audit trail (src/audit).
          'AuditEvent',
          // Read only: the signed-in user as fhirUser names it (src/signin/practitioner-read.ts).
          'Practitioner',
          // Read only: the definitions of the operations listed (src/conformance/).
          'OperationDefinition',
        ]);
      });
    });

    describe('auth', () => {
      const sign = (claims: Record<string, unknown>, secret = TEST_SECRET, options: jwt.SignOptions = {}) =>
        jwt.sign(claims, secret, { algorithm: 'HS256', ...options });

      it.each([
        ['no token', undefined],
        ['not a bearer token', 'Basic abc'],
        ['a malformed token', 'Bearer not.a.jwt!'],
        ['a wrong signature', `Bearer ${sign({ scope: 'system/*.cruds' }, 'other-secret', { expiresIn: 60 })}`],
        ['an expired token', `Bearer ${sign({ scope: 'system/*.cruds', exp: Math.floor(Date.now() / 1000) - 60 })}`],
        ['a token without exp', `Bearer ${sign({ scope: 'system/*.cruds' })}`],
        [
          'alg none',
          `Bearer ${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ scope: 'system/*.cruds', exp: 9999999999 })).toString('base64url')}.`,
        ],
        ['a wrong audience', `Bearer ${sign({ scope: 'system/*.cruds' }, TEST_SECRET, { expiresIn: 60, audience: 'https://elsewhere/fhir' })}`],
      ])('401 for %s', async (_name, authorization) => {
        const res = await server.fhir('GET', 'Patient/x', { headers: { authorization: authorization ?? '' } });
        expect(res.status).toBe(401);
        expect(res.body.resourceType).toBe('OperationOutcome');
      });

      it('403 when the scopes do not allow the interaction', async () => {
        const readOnly = server.token({ scope: 'system/Patient.rs' });
        const res = await server.fhir('POST', 'Patient', { body: patient(), headers: { authorization: `Bearer ${readOnly}` } });
        expect(res.status).toBe(403);
        const v1 = server.token({ scope: 'user/Patient.read' });
        expect((await server.fhir('POST', 'Patient', { body: patient(), headers: { authorization: `Bearer ${v1}` } })).status).toBe(403);
        const immOnly = server.token({ scope: 'system/Immunization.cruds' });
        expect((await server.fhir('GET', 'Patient/x', { headers: { authorization: `Bearer ${immOnly}` } })).status).toBe(403);
      });

      it('accepts a token whose aud is the FHIR base', async () => {
        const token = sign({ scope: 'user/*.*' }, TEST_SECRET, { expiresIn: 60, audience: server.baseUrl });
        const res = await server.fhir('POST', 'Patient', { body: patient(), headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(201);
      });

      it('checks every batch entry against the scopes', async () => {
        const token = server.token({ scope: 'system/Patient.cruds' });
        const res = await server.fhir('POST', '', {
          body: {
            resourceType: 'Bundle',
            type: 'batch',
            entry: [
              { resource: patient(), request: { method: 'POST', url: 'Patient' } },
              { resource: immunization('Patient/x'), request: { method: 'POST', url: 'Immunization' } },
            ],
          },
          headers: { authorization: `Bearer ${token}` },
        });
        expect(res.status).toBe(200);
        expect(res.body.entry[0].response.status).toBe('201 Created');
        expect(res.body.entry[1].response.status).toBe('403 Forbidden');
      });
    });

    describe('batch and transaction', () => {
      it('an empty batch or transaction answers a response Bundle without an entry element (FHIR JSON has no empty arrays)', async () => {
        for (const type of ['batch', 'transaction']) {
          const res = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type } });
          if (type === 'transaction' && res.status === 400) continue; // a store without transactions refuses them
          expect(res.status, res.text).toBe(200);
          expect(res.body).toEqual({ resourceType: 'Bundle', type: `${type}-response` });
        }
      });

      it('batch: good entries are stored, a bad one gets its own outcome', async () => {
        const res = await server.fhir('POST', '', {
          body: {
            resourceType: 'Bundle',
            type: 'batch',
            entry: [
              { resource: patient(), request: { method: 'POST', url: 'Patient' } },
              { resource: { ...patient(), gender: 'robot' }, request: { method: 'POST', url: 'Patient' } },
              { request: { method: 'GET', url: 'Patient/does-not-exist' } },
            ],
          },
        });
        expect(res.status).toBe(200);
        expect(res.body.type).toBe('batch-response');
        expect(res.body.entry[0].response.status).toBe('201 Created');
        expect(res.body.entry[0].response.location).toMatch(/Patient\/.+\/_history\/1$/);
        expect(res.body.entry[1].response.status).toBe('422 Unprocessable Entity');
        expect(res.body.entry[1].response.outcome.resourceType).toBe('OperationOutcome');
        expect(res.body.entry[2].response.status).toBe('404 Not Found');
        const stored = await server.fhir('GET', res.body.entry[0].response.location.slice(server.baseUrl.length));
        expect(stored.status).toBe(200);
      });

      it('batch: each entry\'s response.lastModified is its version\'s meta.lastUpdated, to the millisecond', async () => {
        const created = await createPatient();
        const res = await server.fhir('POST', '', {
          body: {
            resourceType: 'Bundle',
            type: 'batch',
            entry: [
              { resource: patient(), request: { method: 'POST', url: 'Patient' } },
              { resource: { ...patient(), id: created.id, gender: 'male' }, request: { method: 'PUT', url: `Patient/${created.id}` } },
              { request: { method: 'GET', url: `Patient/${created.id}/_history/1` } },
            ],
          },
        });
        expect(res.status).toBe(200);
        const [posted, put, vread] = res.body.entry;
        expect(posted.response.lastModified).toBe(posted.resource.meta.lastUpdated);
        expect(put.response.lastModified).toBe(put.resource.meta.lastUpdated);
        expect(vread.response.lastModified).toBe(created.meta.lastUpdated);
        const deleted = await server.fhir('POST', '', {
          body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: `Patient/${created.id}` } }] },
        });
        const history = await server.fhir('GET', `Patient/${created.id}/_history?_count=1`);
        expect(history.body.entry[0].request.method).toBe('DELETE');
        expect(deleted.body.entry[0].response.lastModified).toBe(history.body.entry[0].response.lastModified);
      });

      const transactionBundle = (entries: unknown[]) => ({ resourceType: 'Bundle', type: 'transaction', entry: entries });

      it('transaction: urn:uuid references rewritten, all entries committed (or refused without transactions)', async () => {
        const patientUrn = 'urn:uuid:5f1e1f0a-8c1d-4b5e-9a57-6a7f0f8e2d11';
        const bundle = transactionBundle([
          { fullUrl: 'urn:uuid:2b7c0e9e-1111-4c1a-9a2b-0c0d0e0f1a2b', resource: immunization(patientUrn), request: { method: 'POST', url: 'Immunization' } },
          { fullUrl: patientUrn, resource: patient(), request: { method: 'POST', url: 'Patient' } },
        ]);
        const res = await server.fhir('POST', '', { body: bundle });
        if (!server.store.supportsTransactions) {
          console.warn(`[${kind}] this deployment has no multi-document transactions: asserting the refusal instead of the commit`);
          expect(res.status).toBe(400);
          expect(res.body.issue[0].code).toBe('not-supported');
          expect(res.body.issue[0].diagnostics).toMatch(/batch/);
          return;
        }
        expect(res.status, res.text).toBe(200);
        expect(res.body.type).toBe('transaction-response');
        const [immEntry, patEntry] = res.body.entry;
        expect(immEntry.response.status).toBe('201 Created');
        expect(patEntry.response.status).toBe('201 Created');
        const patientId = patEntry.resource.id;
        expect(immEntry.resource.patient.reference).toBe(`Patient/${patientId}`);
        const stored = await server.fhir('GET', `Immunization/${immEntry.resource.id}`);
        expect(stored.body.patient.reference).toBe(`Patient/${patientId}`);
      });

      it('transaction: one bad entry stores nothing', async () => {
        if (!server.store.supportsTransactions) {
          console.warn(`[${kind}] skipping the all-or-nothing transaction test: this deployment has no multi-document transactions`);
          return;
        }
        const value = `tx-${Date.now()}`;
        const bundle = transactionBundle([
          { resource: patient({ identifier: [{ system: 'urn:mrn', value }] }), request: { method: 'POST', url: 'Patient' } },
          { resource: { ...patient(), gender: 'robot' }, request: { method: 'POST', url: 'Patient' } },
        ]);
        const res = await server.fhir('POST', '', { body: bundle });
        expect(res.status).toBe(422);
        expect(res.body.issue[0].diagnostics).toMatch(/Bundle\.entry\[1\]/);
        const search = await server.fhir('GET', `Patient?identifier=urn:mrn|${value}`);
        expect(search.body.entry ?? []).toHaveLength(0);
      });

      it('transaction: conditional create and conditional references resolve to existing resources', async () => {
        if (!server.store.supportsTransactions) {
          console.warn(`[${kind}] skipping the conditional transaction test: this deployment has no multi-document transactions`);
          return;
        }
        const value = `txc-${Date.now()}`;
        const existing = await createPatient({ identifier: [{ system: 'urn:mrn', value }] });
        const bundle = transactionBundle([
          {
            fullUrl: 'urn:uuid:0c6b7e9a-0000-4000-8000-000000000001',
            resource: patient({ identifier: [{ system: 'urn:mrn', value }] }),
            request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=urn:mrn|${value}` },
          },
          { resource: immunization('urn:uuid:0c6b7e9a-0000-4000-8000-000000000001'), request: { method: 'POST', url: 'Immunization' } },
          { resource: immunization(`Patient?identifier=urn:mrn|${value}`), request: { method: 'POST', url: 'Immunization' } },
          { request: { method: 'GET', url: `Patient/${existing.id}` } },
        ]);
        const res = await server.fhir('POST', '', { body: bundle });
        expect(res.status, res.text).toBe(200);
        expect(res.body.entry[0].response.status).toBe('200 OK');
        expect(res.body.entry[1].resource.patient.reference).toBe(`Patient/${existing.id}`);
        expect(res.body.entry[2].resource.patient.reference).toBe(`Patient/${existing.id}`);
        expect(res.body.entry[3].response.status).toBe('200 OK');
      });

      it('rejects a Bundle that is not batch or transaction', async () => {
        const res = await server.fhir('POST', '', { body: { resourceType: 'Bundle', type: 'collection' } });
        expect(res.status).toBe(400);
      });
    });
  });
}

export function runConcurrencyContract(kind: StoreKind): void {
  describe(`concurrency on the ${kind} store`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(kind);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('50 concurrent updates with the same If-Match: exactly one 200, the rest 412, no history gap', async () => {
      const created = await server.fhir('POST', 'Patient', { body: patient() });
      const id = created.body.id as string;
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          server.fhir('PUT', `Patient/${id}`, {
            body: { ...patient(), id, name: [{ family: `Writer${i}`, given: ['A'] }] },
            headers: { 'if-match': 'W/"1"' },
          })
        )
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 412)).toHaveLength(49);
      const history = await server.fhir('GET', `Patient/${id}/_history`);
      expect(history.body.entry.map((e: any) => e.resource.meta.versionId)).toEqual(['2', '1']);
      const winner = results.find((r) => r.status === 200)?.body.name[0].family;
      expect((await server.fhir('GET', `Patient/${id}`)).body.name[0].family).toBe(winner);
    });

    it('50 concurrent updates without If-Match all land, as versions 2..51 without gaps', async () => {
      const created = await server.fhir('POST', 'Patient', { body: patient() });
      const id = created.body.id as string;
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          server.fhir('PUT', `Patient/${id}`, { body: { ...patient(), id, name: [{ family: `W${i}`, given: ['A'] }] } })
        )
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      const versions = results.map((r) => Number(r.body.meta.versionId)).sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    });
  });
}
