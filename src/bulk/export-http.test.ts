// Bulk Data export over real HTTP, on each store: every level, parameters, scopes, data sharing,
// downloads, cancel, throttling and expiry. (Restarts mid-export: export-restart.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import {
  distinctPatient,
  download,
  exportAll,
  kickoff,
  poll,
  rawDownload,
  resourcesOf,
  sharingConsent,
  tokenFor,
  vaccination,
  withEnv,
  type Manifest,
} from './test-helpers.js';

const kinds: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];
if (!testMongoUrl()) console.warn('[bulk export] MongoDB tier SKIPPED: set TEST_MONGODB_URL (e.g. a FerretDB from scripts/ferretdb.sh) to run it');

const PUBLIC_HEALTH = tokenFor({ scope: 'system/*.rs' });
const ids = (list: any[]) => list.map((r) => r.id).sort();
const typesIn = (m: Manifest) => [...new Set(m.output.map((o) => o.type))].sort();
const countOf = (m: Manifest, type: string) => m.output.filter((o) => o.type === type).reduce((n, o) => n + o.count, 0);

for (const kind of kinds) {
  // FerretDB answers every query by scanning: give its tier more time.
  describe(`bulk export (${kind})`, { timeout: kind === 'mongodb' ? 120_000 : 30_000 }, () => {
    let server: TestServer;
    const P: string[] = [];
    const I: Record<string, string[]> = {};
    const C: Record<string, string> = {};
    let groupId = '';
    let orgId = '';

    const create = async (body: Record<string, unknown>) => {
      const res = await server.fhir('POST', body.resourceType as string, { body });
      expect(res.status, res.text).toBe(201);
      return res.body.id as string;
    };

    beforeAll(async () => {
      server = await withEnv({ BULK_FILE_MAX_LINES: '2', BULK_POLL_SECONDS: '0.2' }, () => startTestServer(kind));
      orgId = await create({ resourceType: 'Organization', name: 'Clinic Nord' });
      for (let i = 0; i < 5; i++) P.push(await create(distinctPatient(i)));
      const cvx = [['08', '20'], ['08'], ['10'], ['08'], ['20']];
      for (let i = 0; i < 5; i++) {
        I[P[i]] = [];
        for (const code of cvx[i]) I[P[i]].push(await create(vaccination(P[i], code)));
      }
      // P3 objects (No, except for Organization/A); P4's status is Unknown.
      C.no = await create(sharingConsent(P[3], { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }));
      C.unknown = await create(sharingConsent(P[4], { status: 'proposed', provision: { type: 'deny' } }));
      groupId = await create({
        resourceType: 'Group',
        type: 'person',
        actual: true,
        member: [{ entity: { reference: `Patient/${P[0]}` } }, { entity: { reference: `Patient/${P[1]}` } }, { entity: { reference: `Patient/${P[2]}` }, inactive: true }],
      });
    });
    afterAll(async () => {
      await server?.close();
    });

    it('system level: 202 + Content-Location, manifest with counts, every file downloadable as NDJSON', async () => {
      const k = await kickoff(server.baseUrl, '$export', { token: PUBLIC_HEALTH });
      expect(k.status).toBe(202);
      const location = k.headers.get('content-location') as string;
      expect(location.startsWith(server.baseUrl)).toBe(true);
      const done = await poll(location, PUBLIC_HEALTH);
      expect(done.status).toBe(200);
      expect(done.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Date.parse(done.headers.get('expires') as string)).toBeGreaterThan(Date.now());
      for (const p of done.polls.slice(0, -1)) {
        expect(p.status).toBe(202);
        expect(p.progress).toBeTruthy();
        expect(Number(p.retryAfter)).toBeGreaterThanOrEqual(1);
      }
      const m = done.body as Manifest;
      expect(m.requiresAccessToken).toBe(true);
      expect(m.request).toBe(`${server.baseUrl}/$export`);
      expect(Date.parse(m.transactionTime)).toBeLessThanOrEqual(Date.now());
      expect(m.error).toEqual([]);
      expect(m.deleted).toBeUndefined();
      expect(typesIn(m)).toEqual(['CodeSystem', 'ConceptMap', 'Consent', 'Group', 'Immunization', 'Measure', 'Organization', 'Patient', 'ValueSet']);
      // files rotate every 2 resources (BULK_FILE_MAX_LINES=2)
      expect(m.output.filter((o) => o.type === 'Immunization').map((o) => o.count)).toEqual([2, 2, 2]);
      expect(countOf(m, 'Patient')).toBe(5);
      for (const o of m.output) {
        const d = await download(o.url, PUBLIC_HEALTH);
        expect(d.status).toBe(200);
        expect(d.headers.get('content-type')).toBe('application/fhir+ndjson');
        expect(d.lines.length).toBe(o.count);
        expect(d.lines.every((r) => r.resourceType === o.type)).toBe(true);
        expect(d.text.endsWith('\n')).toBe(true);
      }
      expect(ids(await resourcesOf(m, 'Patient', PUBLIC_HEALTH))).toEqual([...P].sort());
      expect(ids(await resourcesOf(m, 'Immunization', PUBLIC_HEALTH))).toEqual(Object.values(I).flat().sort());
      expect(ids(await resourcesOf(m, 'Organization', PUBLIC_HEALTH))).toEqual([orgId]);
    });

    it('the CapabilityStatement lists $export at system, Patient and Group level', async () => {
      const cs = (await server.fhir('GET', 'metadata')).body;
      expect(cs.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
      expect(cs.rest[0].operation).toContainEqual({ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' });
      const ops = (type: string) => cs.rest[0].resource.find((r: any) => r.type === type).operation.map((o: any) => o.definition);
      expect(ops('Patient')).toContain('http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export');
      expect(ops('Group')).toContain('http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export');
    });

    it('never exports AuditEvents or job documents; _type naming them is a 400', async () => {
      // The requests above were audited: AuditEvents exist, but no export carries them.
      const { manifest } = await exportAll(server.baseUrl, '$export', { token: PUBLIC_HEALTH });
      expect(typesIn(manifest)).not.toContain('AuditEvent');
      expect(typesIn(manifest)).not.toContain('BulkExportJob');
      for (const t of ['AuditEvent', 'BulkExportJob', 'Observation']) {
        const k = await kickoff(server.baseUrl, `$export?_type=${t}`, { token: PUBLIC_HEALTH });
        expect(k.status, t).toBe(400);
        expect(k.body.resourceType).toBe('OperationOutcome');
      }
    });

    it('Patient level: Patient, Immunization and Consent of every patient, nothing else', async () => {
      const { manifest } = await exportAll(server.baseUrl, 'Patient/$export', { token: PUBLIC_HEALTH });
      expect(manifest.request).toBe(`${server.baseUrl}/Patient/$export`);
      expect(typesIn(manifest)).toEqual(['Consent', 'Immunization', 'Patient']);
      expect(ids(await resourcesOf(manifest, 'Consent', PUBLIC_HEALTH))).toEqual([C.no, C.unknown].sort());
      const only = await exportAll(server.baseUrl, 'Patient/$export?_type=Immunization', { token: PUBLIC_HEALTH });
      expect(typesIn(only.manifest)).toEqual(['Immunization']);
      const org = await kickoff(server.baseUrl, 'Patient/$export?_type=Organization', { token: PUBLIC_HEALTH });
      expect(org.status).toBe(400);
    });

    it('Group level: the data of the active members only; unknown Group 404', async () => {
      const { manifest } = await exportAll(server.baseUrl, `Group/${groupId}/$export`, { token: PUBLIC_HEALTH });
      expect(manifest.request).toBe(`${server.baseUrl}/Group/${groupId}/$export`);
      expect(ids(await resourcesOf(manifest, 'Patient', PUBLIC_HEALTH))).toEqual([P[0], P[1]].sort());
      expect(ids(await resourcesOf(manifest, 'Immunization', PUBLIC_HEALTH))).toEqual([...I[P[0]], ...I[P[1]]].sort());
      expect(typesIn(manifest)).not.toContain('Consent');
      expect((await kickoff(server.baseUrl, 'Group/nope/$export', { token: PUBLIC_HEALTH })).status).toBe(404);
      expect((await kickoff(server.baseUrl, `Organization/${orgId}/$export`, { token: PUBLIC_HEALTH })).status).toBe(404);
      // Members named by versioned or absolute references are members all the same.
      const otherForms = await create({
        resourceType: 'Group',
        type: 'person',
        actual: true,
        member: [{ entity: { reference: `Patient/${P[0]}/_history/1` } }, { entity: { reference: `${server.baseUrl}/Patient/${P[1]}` } }],
      });
      const forms = await exportAll(server.baseUrl, `Group/${otherForms}/$export?_type=Patient`, { token: PUBLIC_HEALTH });
      expect(ids(await resourcesOf(forms.manifest, 'Patient', PUBLIC_HEALTH))).toEqual([P[0], P[1]].sort());
    });

    it('POST with Parameters: patient limits the cohort; unknown patients are reported in error[]', async () => {
      const body = {
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Patient,Immunization' },
          { name: 'patient', valueReference: { reference: `Patient/${P[1]}` } },
          { name: 'patient', valueReference: { reference: `${server.baseUrl}/Patient/${P[2]}` } },
          { name: 'patient', valueReference: { reference: 'Patient/does-not-exist' } },
        ],
      };
      const { manifest } = await exportAll(server.baseUrl, 'Patient/$export', { token: PUBLIC_HEALTH, body });
      expect(ids(await resourcesOf(manifest, 'Patient', PUBLIC_HEALTH))).toEqual([P[1], P[2]].sort());
      expect(ids(await resourcesOf(manifest, 'Immunization', PUBLIC_HEALTH))).toEqual([...I[P[1]], ...I[P[2]]].sort());
      expect(manifest.error).toHaveLength(1);
      const problems = await resourcesOf(manifest, 'OperationOutcome', PUBLIC_HEALTH, 'error');
      expect(problems).toHaveLength(1);
      expect(problems[0].issue[0].diagnostics).toContain('Patient/does-not-exist');
      // Group + patient: the intersection
      const g = await exportAll(server.baseUrl, `Group/${groupId}/$export`, {
        token: PUBLIC_HEALTH,
        body: { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: `Patient/${P[1]}` } }] },
      });
      expect(ids(await resourcesOf(g.manifest, 'Patient', PUBLIC_HEALTH))).toEqual([P[1]]);
      // patient is POST-only and not for system level
      expect((await kickoff(server.baseUrl, `Patient/$export?patient=Patient/${P[1]}`, { token: PUBLIC_HEALTH })).status).toBe(400);
      const sys = await kickoff(server.baseUrl, '$export', { token: PUBLIC_HEALTH, body: { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: `Patient/${P[1]}` } }] } });
      expect(sys.status).toBe(400);
    });

    it('_since: only resources changed after it, and deleted[] lists deletions as DELETE Bundle entries', async () => {
      const a = await create(distinctPatient(40));
      const b = await create(distinctPatient(41));
      const immB = await create(vaccination(b, '08'));
      const keep = await create(vaccination(a, '20'));
      await new Promise((r) => setTimeout(r, 20));
      const since = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 20));
      const updated = await server.fhir('PUT', `Patient/${a}`, { body: { ...distinctPatient(40), id: a, gender: 'other' } });
      expect(updated.status, updated.text).toBe(200);
      expect([200, 204]).toContain((await server.fhir('DELETE', `Immunization/${immB}`)).status);
      const c = await create(distinctPatient(42));

      const { manifest } = await exportAll(server.baseUrl, `$export?_type=Patient,Immunization&_since=${encodeURIComponent(since)}`, { token: PUBLIC_HEALTH });
      expect(ids(await resourcesOf(manifest, 'Patient', PUBLIC_HEALTH))).toEqual([a, c].sort());
      expect(await resourcesOf(manifest, 'Immunization', PUBLIC_HEALTH)).toEqual([]);
      expect(manifest.deleted).toBeDefined();
      expect(manifest.deleted?.every((d) => d.type === 'Bundle')).toBe(true);
      const deleted = await resourcesOf(manifest, 'Bundle', PUBLIC_HEALTH, 'deleted');
      expect(deleted).toHaveLength(1);
      expect(deleted[0].resourceType).toBe('Bundle');
      expect(deleted[0].type).toBe('transaction');
      expect(deleted[0].entry).toEqual([{ request: { method: 'DELETE', url: `Immunization/${immB}` } }]);
      expect(keep).toBeTruthy();
      // A deletion outside the export's cohort is not listed
      const g = await exportAll(server.baseUrl, `Group/${groupId}/$export?_since=${encodeURIComponent(since)}`, { token: PUBLIC_HEALTH });
      expect(await resourcesOf(g.manifest, 'Bundle', PUBLIC_HEALTH, 'deleted')).toEqual([]);
      // With _since in the future: nothing, and an empty deleted[]
      const later = await exportAll(server.baseUrl, `Patient/$export?_since=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`, { token: PUBLIC_HEALTH });
      expect(later.manifest.output).toEqual([]);
      expect(later.manifest.deleted).toEqual([]);
    });

    it('_until: resources last updated at or before it; with _since a window, deleted[] included; a later value is capped at transactionTime', async () => {
      const pause = () => new Promise((r) => setTimeout(r, 25));
      const t0 = new Date().toISOString();
      await pause();
      const a = await create(distinctPatient(50));
      const gone = await create(vaccination(a, '08'));
      await pause();
      const t1 = new Date().toISOString();
      await pause();
      const b = await create(distinctPatient(51));
      expect([200, 204]).toContain((await server.fhir('DELETE', `Immunization/${gone}`)).status);
      await pause();
      const t2 = new Date().toISOString();
      await pause();
      const c = await create(distinctPatient(52));
      const q = (params: Record<string, string>) => Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');

      const upToT1 = await exportAll(server.baseUrl, `$export?${q({ _type: 'Patient', _until: t1 })}`, { token: PUBLIC_HEALTH });
      const before = ids(await resourcesOf(upToT1.manifest, 'Patient', PUBLIC_HEALTH));
      expect(before).toContain(a);
      expect(before).not.toContain(b);
      expect(before).not.toContain(c);
      expect(upToT1.manifest.deleted).toBeUndefined(); // deleted[] comes with _since

      // [t0, t2]: a and b; the deletion inside the window is listed
      const wide = await exportAll(server.baseUrl, `$export?${q({ _type: 'Patient,Immunization', _since: t0, _until: t2 })}`, { token: PUBLIC_HEALTH });
      expect(ids(await resourcesOf(wide.manifest, 'Patient', PUBLIC_HEALTH))).toEqual([a, b].sort());
      expect((await resourcesOf(wide.manifest, 'Bundle', PUBLIC_HEALTH, 'deleted')).map((d) => d.entry[0].request.url)).toEqual([`Immunization/${gone}`]);
      // [t0, t1]: a only; the immunization still existed at t1, so no deletion is listed
      const narrow = await exportAll(server.baseUrl, `$export?${q({ _type: 'Patient,Immunization', _since: t0, _until: t1 })}`, { token: PUBLIC_HEALTH });
      expect(ids(await resourcesOf(narrow.manifest, 'Patient', PUBLIC_HEALTH))).toEqual([a]);
      expect(await resourcesOf(narrow.manifest, 'Bundle', PUBLIC_HEALTH, 'deleted')).toEqual([]);

      // after the kick-off: accepted with a note, bounded by transactionTime
      const future = new Date(Date.now() + 3600_000).toISOString();
      const k = await kickoff(server.baseUrl, `$export?${q({ _type: 'Patient', _since: t0, _until: future })}`, { token: PUBLIC_HEALTH });
      expect(k.status).toBe(202);
      expect(k.body.issue.some((i: any) => i.severity === 'information' && i.expression?.[0] === '_until' && /transactionTime/.test(i.diagnostics))).toBe(true);
      const done = await poll(k.headers.get('content-location') as string, PUBLIC_HEALTH);
      expect(done.status).toBe(200);
      expect(done.body.transactionTime < future).toBe(true);
      expect(ids(await resourcesOf(done.body, 'Patient', PUBLIC_HEALTH))).toEqual([a, b, c].sort());

      // bad values: 400 naming _until, or dropped with a warning under handling=lenient
      for (const bad of [q({ _until: 'yesterday' }), q({ _until: '2024-01-01' }), q({ _since: t1, _until: t0 }), q({ _until: t0, x: '1' }).replace('x=1', `_until=${encodeURIComponent(t1)}`)]) {
        const r = await kickoff(server.baseUrl, `$export?_type=Patient&${bad}`, { token: PUBLIC_HEALTH });
        expect(r.status, bad).toBe(400);
        expect(r.body.issue.some((i: any) => i.severity === 'error' && i.expression?.[0] === '_until'), bad).toBe(true);
      }
      const lenient = await kickoff(server.baseUrl, `$export?_type=Patient&${q({ _since: t1, _until: t0 })}`, { token: PUBLIC_HEALTH, headers: { prefer: 'respond-async, handling=lenient' } });
      expect(lenient.status).toBe(202);
      expect(lenient.body.issue.filter((i: any) => i.severity === 'warning').map((i: any) => i.expression[0])).toEqual(['_until']);
      const dropped = await poll(lenient.headers.get('content-location') as string, PUBLIC_HEALTH);
      expect(ids(await resourcesOf(dropped.body, 'Patient', PUBLIC_HEALTH))).toEqual([b, c].sort());
    });

    it('_typeFilter: search semantics, several per type ORed, other types unfiltered', async () => {
      const cvx = (code: string) => encodeURIComponent(`Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|${code}`);
      const hep = await exportAll(server.baseUrl, `$export?_type=Immunization,Patient&_typeFilter=${cvx('08')}`, { token: PUBLIC_HEALTH });
      const hepB = (await resourcesOf(hep.manifest, 'Immunization', PUBLIC_HEALTH)).filter((r) => r.patient.reference !== undefined);
      expect(hepB.length).toBeGreaterThanOrEqual(3);
      expect(hepB.every((r) => r.vaccineCode.coding[0].code === '08')).toBe(true);
      expect((await resourcesOf(hep.manifest, 'Patient', PUBLIC_HEALTH)).length).toBeGreaterThanOrEqual(5);
      // two queries (repeated parameter and comma-separated): ORed
      const both = await exportAll(server.baseUrl, `$export?_type=Immunization&_typeFilter=${cvx('10')}&_typeFilter=${cvx('20')}`, { token: PUBLIC_HEALTH });
      const codes = new Set((await resourcesOf(both.manifest, 'Immunization', PUBLIC_HEALTH)).map((r) => r.vaccineCode.coding[0].code));
      expect([...codes].sort()).toEqual(['10', '20']);
      const comma = await exportAll(server.baseUrl, `$export?_type=Immunization&_typeFilter=${cvx('10')},${cvx('20')}`, { token: PUBLIC_HEALTH });
      expect(countOf(comma.manifest, 'Immunization')).toBe(countOf(both.manifest, 'Immunization'));
      // a search-compiler query (chain): Immunizations of one patient by family name
      const fam = (distinctPatient(0).name as Array<{ family: string }>)[0].family;
      const chained = await exportAll(server.baseUrl, `Patient/$export?_type=Immunization&_typeFilter=${encodeURIComponent(`Immunization?patient.family=${fam}`)}`, { token: PUBLIC_HEALTH });
      expect(ids(await resourcesOf(chained.manifest, 'Immunization', PUBLIC_HEALTH))).toEqual([...I[P[0]]].sort());
      // bad queries
      for (const bad of ['Immunization?nonsense=1', 'Immunization', 'Bogus?x=1', 'Immunization?_sort=date']) {
        const k = await kickoff(server.baseUrl, `$export?_typeFilter=${encodeURIComponent(bad)}`, { token: PUBLIC_HEALTH });
        expect(k.status, bad).toBe(400);
      }
      expect((await kickoff(server.baseUrl, `$export?_type=Patient&_typeFilter=${cvx('08')}`, { token: PUBLIC_HEALTH })).status).toBe(400);
    });

    it('_elements keeps the listed and mandatory elements and marks resources SUBSETTED', async () => {
      const { manifest } = await exportAll(server.baseUrl, 'Patient/$export?_type=Patient,Immunization&_elements=Patient.birthDate,lotNumber', { token: PUBLIC_HEALTH });
      const patients = await resourcesOf(manifest, 'Patient', PUBLIC_HEALTH);
      expect(patients.length).toBeGreaterThan(0);
      for (const p of patients) {
        expect(Object.keys(p).sort()).toEqual(['birthDate', 'id', 'meta', 'resourceType']);
        expect(p.meta.tag.some((t: any) => t.code === 'SUBSETTED')).toBe(true);
      }
      const imm = (await resourcesOf(manifest, 'Immunization', PUBLIC_HEALTH))[0];
      expect(imm.lotNumber).toBeDefined();
      expect(imm.status).toBeDefined(); // mandatory
      expect(imm.primarySource).toBeUndefined();
    });

    it('parameters: Prefer respond-async required, aliases accepted, bad values 400, lenient handling 202 with warnings', async () => {
      expect((await kickoff(server.baseUrl, '$export', { token: PUBLIC_HEALTH, headers: { prefer: '' } })).status).toBe(400);
      for (const f of ['application/fhir+ndjson', 'application/ndjson', 'ndjson']) {
        const k = await kickoff(server.baseUrl, `Patient/$export?_outputFormat=${encodeURIComponent(f)}&_type=Consent`, { token: PUBLIC_HEALTH });
        expect(k.status, f).toBe(202);
        expect((await poll(k.headers.get('content-location') as string, PUBLIC_HEALTH)).status).toBe(200);
      }
      // The + left unencoded, as clients type it: the query string decodes it to a space.
      const unencoded = await kickoff(server.baseUrl, 'Patient/$export?_outputFormat=application/fhir+ndjson&_type=Consent', { token: PUBLIC_HEALTH });
      expect(unencoded.status).toBe(202);
      expect((await poll(unencoded.headers.get('content-location') as string, PUBLIC_HEALTH)).status).toBe(200);
      const bad = [
        '_outputFormat=text/csv',
        '_since=yesterday',
        '_since=2024-01-01T00:00:00',
        '_type=Nothing',
        '_elements=1bad',
        'includeAssociatedData=_custom',
        'organizeOutputBy=Immunization',
        'unknownParam=1',
      ];
      for (const q of bad) {
        const k = await kickoff(server.baseUrl, `$export?${q}`, { token: PUBLIC_HEALTH });
        expect(k.status, q).toBe(400);
        expect(k.body.issue[0].severity).toBe('error');
      }
      const lenient = await kickoff(server.baseUrl, '$export?_type=Consent&unknownParam=1&_outputFormat=text/csv', {
        token: PUBLIC_HEALTH,
        headers: { prefer: 'respond-async, handling=lenient' },
      });
      expect(lenient.status).toBe(202);
      expect(lenient.body.issue.filter((i: any) => i.severity === 'warning').map((i: any) => i.expression[0]).sort()).toEqual(['_outputFormat', 'unknownParam']);
      await poll(lenient.headers.get('content-location') as string, PUBLIC_HEALTH);
      const assoc = await kickoff(server.baseUrl, '$export?_type=Consent&includeAssociatedData=LatestProvenanceResources', { token: PUBLIC_HEALTH });
      expect(assoc.status).toBe(202);
      await poll(assoc.headers.get('content-location') as string, PUBLIC_HEALTH);
      const offset = await kickoff(server.baseUrl, `$export?_type=Consent&_since=${encodeURIComponent('2024-01-01T00:00:00+02:00')}`, { token: PUBLIC_HEALTH });
      expect(offset.status).toBe(202);
      await poll(offset.headers.get('content-location') as string, PUBLIC_HEALTH);
      expect((await kickoff(server.baseUrl, '$export', { token: PUBLIC_HEALTH, method: 'PUT' })).status).toBe(405);
    });

    it('scopes: only types the token may read and search; patient/ tokens, missing or foreign tokens refused', async () => {
      const patientsOnly = tokenFor({ scope: 'system/Patient.rs' });
      const { manifest } = await exportAll(server.baseUrl, '$export', { token: patientsOnly });
      expect(typesIn(manifest)).toEqual(['Patient']);
      expect((await kickoff(server.baseUrl, '$export?_type=Immunization', { token: patientsOnly })).status).toBe(403);
      expect((await kickoff(server.baseUrl, `$export?_type=Patient&_typeFilter=${encodeURIComponent('Immunization?status=completed')}`, { token: patientsOnly })).status).toBe(400);
      expect((await kickoff(server.baseUrl, '$export', { token: tokenFor({ scope: 'system/*.r' }) })).status).toBe(403);
      expect((await kickoff(server.baseUrl, '$export', { token: tokenFor({ scope: 'system/*.cud' }) })).status).toBe(403);
      expect((await kickoff(server.baseUrl, 'Patient/$export', { token: tokenFor({ scope: 'patient/*.rs', patient: P[0] }) })).status).toBe(403);
      expect((await kickoff(server.baseUrl, `Group/${groupId}/$export`, { token: tokenFor({ scope: 'system/Patient.rs system/Immunization.rs' }) })).status).toBe(403);
      expect((await kickoff(server.baseUrl, '$export', { token: '' , headers: { authorization: '' } })).status).toBe(401);
      // v1 scopes work too
      const v1 = await exportAll(server.baseUrl, 'Patient/$export', { token: tokenFor({ scope: 'user/Patient.read user/Immunization.read' }) });
      expect(typesIn(v1.manifest)).toEqual(['Immunization', 'Patient']);

      // Status and files belong to the client that started the export.
      const k = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      const location = k.headers.get('content-location') as string;
      const done = await poll(location, PUBLIC_HEALTH);
      const other = tokenFor({ sub: 'someone-else', scope: 'system/*.rs' });
      expect((await fetch(location, { headers: { authorization: `Bearer ${other}` } })).status).toBe(403);
      expect((await download(done.body.output[0].url, other)).status).toBe(403);
      expect((await fetch(location)).status).toBe(401);
      expect((await fetch(done.body.output[0].url)).status).toBe(401);
      // the same client with a narrower token may not read the file's type any more
      expect((await download(done.body.output[0].url, tokenFor({ scope: 'system/Immunization.rs' }))).status).toBe(403);

      // People signed in to one app at one facility: a job is the person's, not the app's.
      const person = (user: string) =>
        tokenFor({ sub: user, client_id: 'clinic-app', fhirUser: `${server.baseUrl}/Practitioner/${user}`, organization: 'Organization/A', scope: 'user/*.rs' });
      const mine = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: person('nurse-1') });
      const mineAt = mine.headers.get('content-location') as string;
      const finished = await poll(mineAt, person('nurse-1'));
      expect((await fetch(mineAt, { headers: { authorization: `Bearer ${person('clerk-2')}` } })).status).toBe(403);
      expect((await download(finished.body.output[0].url, person('clerk-2'))).status).toBe(403);
      expect((await fetch(mineAt, { method: 'DELETE', headers: { authorization: `Bearer ${person('clerk-2')}` } })).status).toBe(403);
      expect((await download(finished.body.output[0].url, person('nurse-1'))).status).toBe(200);
    });

    it('data sharing: organization callers never get No/Unknown patients; exempt organizations and public health do', async () => {
      const orgC = tokenFor({ sub: 'clinic-c', scope: 'user/*.rs', organization: 'Organization/C' });
      for (const path of ['$export', 'Patient/$export', `Group/${groupId}/$export`]) {
        const { manifest } = await exportAll(server.baseUrl, path, { token: orgC });
        const patients = ids(await resourcesOf(manifest, 'Patient', orgC));
        const imms = (await resourcesOf(manifest, 'Immunization', orgC)).map((r) => r.patient.reference);
        const consents = await resourcesOf(manifest, 'Consent', orgC);
        expect(patients, path).not.toContain(P[3]);
        expect(patients, path).not.toContain(P[4]);
        expect(imms).not.toContain(`Patient/${P[3]}`);
        expect(imms).not.toContain(`Patient/${P[4]}`);
        expect(consents.map((c) => c.patient.reference)).not.toContain(`Patient/${P[3]}`);
        if (path !== `Group/${groupId}/$export`) expect(patients).toContain(P[0]);
      }
      // POST naming a hidden patient: reported like an unknown one, nothing of theirs exported
      const named = await exportAll(server.baseUrl, 'Patient/$export', {
        token: orgC,
        body: { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: `Patient/${P[3]}` } }] },
      });
      expect(named.manifest.output).toEqual([]);
      expect(named.manifest.error).toHaveLength(1);
      const orgA = tokenFor({ sub: 'clinic-a', scope: 'user/*.rs', organization: 'Organization/A' });
      const a = await exportAll(server.baseUrl, 'Patient/$export?_type=Patient', { token: orgA });
      const seenByA = ids(await resourcesOf(a.manifest, 'Patient', orgA));
      expect(seenByA).toContain(P[3]);
      expect(seenByA).not.toContain(P[4]);
      const ph = await exportAll(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      expect(ids(await resourcesOf(ph.manifest, 'Patient', PUBLIC_HEALTH))).toEqual(expect.arrayContaining([P[3], P[4]]));
    });

    it('downloads: gzip when accepted, plain otherwise, HEAD, unknown files 404, every download audited', async () => {
      const { manifest } = await exportAll(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      const url = manifest.output[0].url;
      const auth = { authorization: `Bearer ${PUBLIC_HEALTH}` };
      const audited = server.audit.stats().recorded;
      expect((await download(url, PUBLIC_HEALTH)).status).toBe(200);
      expect(server.audit.stats().recorded).toBe(audited + 1);
      const gz = await rawDownload(url, { ...auth, 'accept-encoding': 'gzip, deflate' });
      expect(gz.status).toBe(200);
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gz.headers['content-type']).toBe('application/fhir+ndjson');
      const plain = await rawDownload(url, { ...auth, 'accept-encoding': 'identity' });
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.body.toString('utf8')).toBe(gz.inflated);
      expect(plain.inflated.split('\n').filter(Boolean)).toHaveLength(manifest.output[0].count);
      const none = await rawDownload(url, auth);
      expect(none.headers['content-encoding']).toBeUndefined();
      const refused = await rawDownload(url, { ...auth, 'accept-encoding': 'gzip;q=0, identity' });
      expect(refused.headers['content-encoding']).toBeUndefined();
      const head = await fetch(url, { method: 'HEAD', headers: { ...auth, 'accept-encoding': 'gzip' } });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toBe('application/fhir+ndjson');
      const jobId = new URL(url).searchParams.get('_jobId');
      expect((await download(`${server.baseUrl}/$export-download?_jobId=${jobId}&_file=Nope-1.ndjson`, PUBLIC_HEALTH)).status).toBe(404);
      expect((await download(`${server.baseUrl}/$export-download?_jobId=${jobId}&_file=../../etc`, PUBLIC_HEALTH)).status).toBe(404);
      expect((await fetch(`${server.baseUrl}/$export-poll-status?_jobId=00000000-0000-0000-0000-000000000000`, { headers: auth })).status).toBe(404);
      expect((await fetch(`${server.baseUrl}/$export-poll-status`, { headers: auth })).status).toBe(400);
    });
  });

  describe(`bulk export jobs (${kind}): progress, cancel, too many jobs, expiry`, { timeout: kind === 'mongodb' ? 120_000 : 30_000 }, () => {
    let server: TestServer;

    beforeAll(async () => {
      // Slow exports (2 resources per batch, 150 ms pause) so a job can be watched running.
      server = await withEnv(
        { BULK_BATCH_SIZE: '2', BULK_THROTTLE_MS: '150', BULK_MAX_JOBS_PER_CLIENT: '1', BULK_POLL_SECONDS: '0.2', BULK_RETENTION_SECONDS: '2', BULK_SWEEP_SECONDS: '0.5' },
        () => startTestServer(kind)
      );
      const bundle = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: Array.from({ length: 16 }, (_, i) => ({ resource: distinctPatient(100 + i), request: { method: 'POST', url: 'Patient' } })),
      };
      const res = await server.fhir('POST', '', { body: bundle });
      expect(res.status, res.text).toBe(200);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('polling answers 202 with X-Progress and Retry-After while the export runs', async () => {
      const k = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      expect(k.status).toBe(202);
      const done = await poll(k.headers.get('content-location') as string, PUBLIC_HEALTH);
      expect(done.status).toBe(200);
      const running = done.polls.filter((p) => p.status === 202);
      expect(running.length).toBeGreaterThan(3);
      expect(running.some((p) => /exporting Patient \(type 1 of 1\): \d+/.test(p.progress ?? ''))).toBe(true);
      expect(running.every((p) => Number(p.retryAfter) >= 1)).toBe(true);
      expect(done.body.output.reduce((n: number, o: any) => n + o.count, 0)).toBe(16);
    });

    it('concurrent kick-offs by one client never exceed BULK_MAX_JOBS_PER_CLIENT (count and insert are atomic)', async () => {
      const racer = tokenFor({ sub: 'racing-client', scope: 'system/*.rs' });
      const answers = await Promise.all(
        Array.from({ length: 6 }, () => kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: racer }))
      );
      expect(answers.map((a) => a.status).sort()).toEqual([202, 429, 429, 429, 429, 429]);
      const accepted = answers.find((a) => a.status === 202);
      const cancel = await fetch(accepted?.headers.get('content-location') as string, { method: 'DELETE', headers: { authorization: `Bearer ${racer}` } });
      expect(cancel.status).toBe(202);
    });

    it('a client with too many jobs running gets 429 with Retry-After; DELETE cancels, then 404 and no files', async () => {
      const first = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      expect(first.status).toBe(202);
      const second = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      expect(second.status).toBe(429);
      expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(second.body.issue[0].code).toBe('throttled');
      // another client is not limited by this one's jobs
      const other = tokenFor({ sub: 'other-client', scope: 'system/*.rs' });
      const third = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: other });
      expect(third.status).toBe(202);

      const location = first.headers.get('content-location') as string;
      const jobId = new URL(location).searchParams.get('_jobId') as string;
      await new Promise((r) => setTimeout(r, 400));
      expect((await fetch(location, { method: 'DELETE', headers: { authorization: `Bearer ${other}` } })).status).toBe(403);
      const del = await fetch(location, { method: 'DELETE', headers: { authorization: `Bearer ${PUBLIC_HEALTH}` } });
      expect(del.status).toBe(202);
      expect((await fetch(location, { headers: { authorization: `Bearer ${PUBLIC_HEALTH}` } })).status).toBe(404);
      // the files it had written are removed, and the client may start a new export at once
      for (let i = 0; i < 50 && (await server.bulk.files.list(`${jobId}/`)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await server.bulk.files.list(`${jobId}/`)).toEqual([]);
      const again = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      expect(again.status).toBe(202);
      await poll(again.headers.get('content-location') as string, PUBLIC_HEALTH);
      await poll(third.headers.get('content-location') as string, other);
    });

    it('DELETE after completion removes the files; expired outputs are removed by themselves', async () => {
      const k = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      const location = k.headers.get('content-location') as string;
      const done = await poll(location, PUBLIC_HEALTH);
      const jobId = new URL(location).searchParams.get('_jobId') as string;
      expect((await server.bulk.files.list(`${jobId}/`)).length).toBeGreaterThan(0);
      expect((await fetch(location, { method: 'DELETE', headers: { authorization: `Bearer ${PUBLIC_HEALTH}` } })).status).toBe(202);
      expect(await server.bulk.files.list(`${jobId}/`)).toEqual([]);
      expect((await download(done.body.output[0].url, PUBLIC_HEALTH)).status).toBe(404);

      // retention 2 s: the job and its files go away without a DELETE
      const k2 = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      const loc2 = k2.headers.get('content-location') as string;
      const done2 = await poll(loc2, PUBLIC_HEALTH);
      expect(done2.status).toBe(200);
      const id2 = new URL(loc2).searchParams.get('_jobId') as string;
      await new Promise((r) => setTimeout(r, 3500));
      expect((await fetch(loc2, { headers: { authorization: `Bearer ${PUBLIC_HEALTH}` } })).status).toBe(404);
      expect((await download(done2.body.output[0].url, PUBLIC_HEALTH)).status).toBe(404);
      expect(await server.bulk.files.list(`${id2}/`)).toEqual([]);
      expect(await server.bulk.repo.get(id2)).toBeUndefined();
    });
  });
  describe(`bulk export status polls (${kind}): faster than Retry-After is a 429`, { timeout: kind === 'mongodb' ? 120_000 : 30_000 }, () => {
    let server: TestServer;

    beforeAll(async () => {
      // The suite switches the limit off (vitest.config.ts); on here, with an export slow enough
      // (15 batches of 2 patients, 250 ms apart) to be polled several times while it runs.
      server = await withEnv({ BULK_STATUS_POLL_LIMIT: 'on', BULK_BATCH_SIZE: '2', BULK_THROTTLE_MS: '250', BULK_POLL_SECONDS: '0.2' }, () => startTestServer(kind));
      const bundle = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: Array.from({ length: 30 }, (_, i) => ({ resource: distinctPatient(300 + i), request: { method: 'POST', url: 'Patient' } })),
      };
      const res = await server.fhir('POST', '', { body: bundle });
      expect(res.status, res.text).toBe(200);
    });
    afterAll(async () => {
      await server?.close();
    });

    const get = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });

    it('a poll before the Retry-After is answered 429 throttled with the seconds left; on time it is answered; per job and caller; DELETE is never throttled', async () => {
      const k = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      expect(k.status).toBe(202);
      const location = k.headers.get('content-location') as string;
      const first = await get(location, PUBLIC_HEALTH);
      expect(first.status).toBe(202);
      expect(first.headers.get('retry-after')).toBe('1');
      const tooSoon = await get(location, PUBLIC_HEALTH);
      expect(tooSoon.status).toBe(429);
      expect(tooSoon.headers.get('retry-after')).toBe('1');
      const body = await tooSoon.json();
      expect(body.resourceType).toBe('OperationOutcome');
      expect(body.issue[0].code).toBe('throttled');
      // Another client has no accounting on this job: its poll is refused for ownership, not rate.
      const other = tokenFor({ sub: 'other-poller', scope: 'system/*.rs' });
      expect((await get(location, other)).status).toBe(403);
      // The same client's other job is not throttled by this one.
      const k2 = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      expect(k2.status).toBe(202);
      expect((await get(k2.headers.get('content-location') as string, PUBLIC_HEALTH)).status).toBe(202);
      // A 429 does not push the due instant back: at the Retry-After first given, the poll is answered.
      await new Promise((r) => setTimeout(r, 1000));
      expect([200, 202]).toContain((await get(location, PUBLIC_HEALTH)).status);
      // Cancelling right after a poll is allowed.
      for (const l of [location, k2.headers.get('content-location') as string]) {
        expect((await fetch(l, { method: 'DELETE', headers: { authorization: `Bearer ${PUBLIC_HEALTH}` } })).status).toBe(202);
      }
    });

    it('a client that waits exactly the Retry-After it is given is never throttled', async () => {
      const k = await kickoff(server.baseUrl, 'Patient/$export?_type=Patient', { token: PUBLIC_HEALTH });
      expect(k.status).toBe(202);
      const location = k.headers.get('content-location') as string;
      const statuses: number[] = [];
      for (;;) {
        const res = await get(location, PUBLIC_HEALTH);
        await res.arrayBuffer();
        statuses.push(res.status);
        if (res.status !== 202) break;
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after')) * 1000));
      }
      expect(statuses.at(-1)).toBe(200);
      expect(statuses.filter((s) => s === 202).length).toBeGreaterThan(1);
      expect(statuses.filter((s) => s !== 202 && s !== 200)).toEqual([]);
    });
  });
}
