// Data sharing on every read path (CONTRACT.md "Data sharing"), run on both stores by
// http-embedded.test.ts and http-mongodb.test.ts: an organization caller never sees, matches,
// changes or learns of a patient whose data sharing is No or Unknown, whichever path it takes:
// read, vread, history, search (chains, _has, _include, counts), $everything, $match, conditional
// create / update / patch / delete, batch and transaction entries. Public health sees everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download, exportAll } from '../src/bulk/test-helpers.js';
import { immunization, mergeParameters, patient, sharingConsent, startTestServer, type StoreKind, type TestServer } from './helpers/server.js';

const MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.3.72.5.9.1';

export function runDataSharingContract(kind: StoreKind): void {
  describe(`data sharing on every read path (${kind} store)`, () => {
    let server: TestServer;
    const hidden: Record<'no' | 'unknown', { id: string; mrn: string; imm: string; code: string; family: string }> = {} as never;
    const orgC = () => ({ authorization: `Bearer ${server.token({ scope: 'user/*.cruds', organization: 'Organization/C' })}` });

    beforeAll(async () => {
      server = await startTestServer(kind);
      for (const [status, code] of [
        ['no', 'data-sharing-restricted'],
        ['unknown', 'data-sharing-unknown'],
      ] as const) {
        const mrn = `${status}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
        const family = `Hidden${status}${Math.random().toString(36).slice(2, 8)}`;
        const p = await server.fhir('POST', 'Patient', {
          body: patient({ identifier: [{ system: MRN_SYSTEM, value: mrn }], name: [{ family, given: ['Kim'] }], birthDate: '2021-03-04' }),
        });
        expect(p.status, p.text).toBe(201);
        const i = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${p.body.id}`, { occurrenceDateTime: '2021-04-01' }) });
        expect(i.status, i.text).toBe(201);
        const consent =
          status === 'no'
            ? sharingConsent(p.body.id, { provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] })
            : sharingConsent(p.body.id, { status: 'proposed', provision: { type: 'deny' } });
        expect((await server.fhir('POST', 'Consent', { body: consent })).status).toBe(201);
        hidden[status] = { id: p.body.id, mrn, imm: i.body.id, code, family };
      }
    });
    afterAll(async () => {
      await server?.close();
    });

    /** Public health still sees the hidden record exactly as it was stored (version 1). */
    const expectUnchanged = async (id: string) => {
      const res = await server.fhir('GET', `Patient/${id}`);
      expect(res.status).toBe(200);
      expect(res.body.meta.versionId).toBe('1');
    };
    const ids = (bundle: any): string[] => (bundle.entry ?? []).map((e: any) => `${e.resource?.resourceType}/${e.resource?.id}`);

    describe('a child with merged records: the newest choice on any of its records decides for all of them', () => {
      const twoRecordsUnmerged = async () => {
        const family = `Order${Math.random().toString(36).slice(2, 8)}`;
        const make = async (given: string) => {
          const p = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family, given: [given] }], birthDate: '2022-06-08', gender: 'male' }) });
          expect(p.status, p.text).toBe(201);
          return p.body.id as string;
        };
        return { source: await make('Olle'), target: await make('Olof') };
      };
      const twoRecords = async () => {
        const mrn = `merged-${Date.now()}-${Math.random().toString(36).slice(2)}`;
        const family = `Merged${Math.random().toString(36).slice(2, 8)}`;
        const make = async (given: string, value: string) => {
          const p = await server.fhir('POST', 'Patient', {
            body: patient({ identifier: [{ system: MRN_SYSTEM, value }], name: [{ family, given: [given] }], birthDate: '2022-06-07', gender: 'female' }),
          });
          expect(p.status, p.text).toBe(201);
          return p.body.id as string;
        };
        const source = await make('Ebba', `${mrn}-s`);
        const target = await make('Ebbe', `${mrn}-t`);
        // A dose recorded on the record that is merged away (the merge moves it to the survivor; a
        // dose sent for the merged-away id after the merge is refused, patient-merged).
        const dose = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${source}`, { occurrenceDateTime: '2022-08-01' }) });
        expect(dose.status, dose.text).toBe(201);
        const merged = await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(source, target) });
        expect(merged.status, merged.text).toBe(200);
        return { source, target, mrn, family, dose: dose.body.id as string };
      };
      const expectHidden = async (c: Awaited<ReturnType<typeof twoRecords>>) => {
        for (const path of [`Patient/${c.source}`, `Patient/${c.source}/_history/1`, `Patient/${c.source}/_history`, `Patient/${c.source}/$everything`, `Immunization/${c.dose}`, `Patient/${c.target}`]) {
          const res = await server.fhir('GET', path, { headers: orgC() });
          expect(res.status, path).toBe(403);
          expect(res.body.issue[0].details.coding[0].code, path).toBe('data-sharing-restricted');
        }
        for (const query of [
          `Patient?identifier=${MRN_SYSTEM}|${c.mrn}-s`,
          `Patient?family=${c.family}`,
          `Patient?_id=${c.source}`,
          `Immunization?patient.identifier=${MRN_SYSTEM}|${c.mrn}-s`,
          `Immunization?patient=Patient/${c.source}`,
          `Patient?_has:Immunization:patient:_id=${c.dose}`,
          `Immunization?_id=${c.dose}&_include=Immunization:patient`,
        ]) {
          const res = await server.fhir('GET', query, { headers: orgC() });
          expect(res.status, query).toBe(200);
          expect(ids(res.body), query).toEqual([]);
        }
        const match = await server.fhir('POST', 'Patient/$match', {
          body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient({ name: [{ family: c.family, given: ['Ebba'] }], birthDate: '2022-06-07', gender: 'female' }) }] },
          headers: orgC(),
        });
        expect(match.status, match.text).toBe(200);
        expect(ids(match.body)).toEqual([]);
        // Public health still sees both records.
        expect(ids((await server.fhir('GET', `Patient?family=${c.family}`)).body).sort()).toEqual([`Patient/${c.source}`, `Patient/${c.target}`].sort());
      };

      it('a No recorded on the survivor after the merge hides the merged-away record and its doses too', async () => {
        const c = await twoRecords();
        expect((await server.fhir('GET', `Patient/${c.source}`, { headers: orgC() })).status).toBe(200);
        const no = await server.fhir('POST', 'Consent', {
          body: sharingConsent(c.target, { dateTime: new Date().toISOString(), provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }),
        });
        expect(no.status, no.text).toBe(201);
        await expectHidden(c);
        // The organization the family shares with still sees both.
        const orgA = { authorization: `Bearer ${server.token({ scope: 'user/*.cruds', organization: 'Organization/A' })}` };
        expect((await server.fhir('GET', `Patient/${c.source}`, { headers: orgA })).status).toBe(200);
      }, 120_000);

      it('a No recorded on the merged-away record hides the survivor, and a newer Yes on the survivor shows both again', async () => {
        const c = await twoRecords();
        const no = await server.fhir('POST', 'Consent', {
          body: sharingConsent(c.source, { dateTime: new Date(Date.now() - 60_000).toISOString(), provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }),
        });
        expect(no.status, no.text).toBe(201);
        await expectHidden(c);
        const yes = await server.fhir('POST', 'Consent', { body: sharingConsent(c.target, { dateTime: new Date().toISOString(), provision: { type: 'permit' } }) });
        expect(yes.status, yes.text).toBe(201);
        for (const path of [`Patient/${c.source}`, `Patient/${c.target}`, `Immunization/${c.dose}`]) {
          expect((await server.fhir('GET', path, { headers: orgC() })).status, path).toBe(200);
        }
      }, 120_000);

      it('a merge keeps the order of the two records\' choices: a newer No (no dateTime, or the same one) is not outranked by an older Yes moved over', async () => {
        for (const dateTime of [undefined, '2024-05-06']) {
          for (const [older, newer] of [
            ['source', 'target'],
            ['target', 'source'],
          ] as const) {
            const c = await twoRecordsUnmerged();
            const yes = await server.fhir('POST', 'Consent', { body: sharingConsent(c[older], { dateTime, provision: { type: 'permit' } }) });
            expect(yes.status, yes.text).toBe(201);
            const no = await server.fhir('POST', 'Consent', { body: sharingConsent(c[newer], { dateTime, provision: { type: 'deny' }, organization: [{ reference: 'Organization/A' }] }) });
            expect(no.status, no.text).toBe(201);
            const merged = await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(c.source, c.target) });
            expect(merged.status, merged.text).toBe(200);
            for (const id of [c.source, c.target]) expect((await server.fhir('GET', `Patient/${id}`, { headers: orgC() })).status, `${dateTime} Yes on ${older}`).toBe(403);
          }
        }
      }, 120_000);
    });

    for (const status of ['no', 'unknown'] as const) {
      describe(`a patient whose data sharing is ${status}`, () => {
        it('read, vread, instance history, the Immunization and $everything answer 403 with the rule code', async () => {
          const { id, imm, code } = hidden[status];
          for (const path of [`Patient/${id}`, `Patient/${id}/_history/1`, `Patient/${id}/_history`, `Immunization/${imm}`, `Patient/${id}/$everything`]) {
            const res = await server.fhir('GET', path, { headers: orgC() });
            expect(res.status, path).toBe(403);
            expect(res.body.issue[0].details.coding[0].code, path).toBe(code);
          }
        });

        it('searches leave it out: identifier, count, chain, _has, _include, _revinclude', async () => {
          const { id, mrn, imm } = hidden[status];
          const byId = await server.fhir('GET', `Patient?identifier=${MRN_SYSTEM}|${mrn}`, { headers: orgC() });
          expect(byId.status).toBe(200);
          expect(ids(byId.body)).toEqual([]);
          const count = await server.fhir('GET', `Patient?identifier=${MRN_SYSTEM}|${mrn}&_summary=count`, { headers: orgC() });
          expect(count.body.total).toBe(0);
          const chained = await server.fhir('GET', `Immunization?patient.identifier=${MRN_SYSTEM}|${mrn}`, { headers: orgC() });
          expect(ids(chained.body)).toEqual([]);
          const has = await server.fhir('GET', `Patient?_has:Immunization:patient:_id=${imm}`, { headers: orgC() });
          expect(ids(has.body)).toEqual([]);
          const included = await server.fhir('GET', `Immunization?_id=${imm}&_include=Immunization:patient`, { headers: orgC() });
          expect(ids(included.body)).toEqual([]);
          const revincluded = await server.fhir('GET', `Patient?_id=${id}&_revinclude=Immunization:patient`, { headers: orgC() });
          expect(ids(revincluded.body)).toEqual([]);
          // …while public health finds it by every one of those.
          expect(ids((await server.fhir('GET', `Immunization?patient.identifier=${MRN_SYSTEM}|${mrn}`)).body)).toEqual([`Immunization/${imm}`]);
        });

        it('an app launched for it by a clinician of another organization (patient/ scopes, that organization) sees nothing of it', async () => {
          const { id, imm, code } = hidden[status];
          const app = { authorization: `Bearer ${server.token({ scope: 'patient/*.rs', organization: 'Organization/C', patient: id, fhirUser: 'Practitioner/clinician-c' })}` };
          for (const path of [`Patient/${id}`, `Immunization/${imm}`, `Patient/${id}/$everything`]) {
            const res = await server.fhir('GET', path, { headers: app });
            expect(res.status, path).toBe(403);
            expect(res.body.issue[0].details.coding[0].code, path).toBe(code);
          }
          for (const path of [`Immunization?patient=Patient/${id}`, `Patient?_id=${id}`, 'Immunization?_summary=count', 'Consent?_summary=count']) {
            const res = await server.fhir('GET', path, { headers: app });
            expect(res.status, path).toBe(200);
            expect(ids(res.body), path).toEqual([]);
            expect(res.body.total ?? 0, path).toBe(0);
          }
          // The organization the family shares with keeps its app's view of the child.
          if (status === 'no') {
            const owner = { authorization: `Bearer ${server.token({ scope: 'patient/*.rs', organization: 'Organization/A', patient: id })}` };
            expect((await server.fhir('GET', `Immunization?patient=Patient/${id}`, { headers: owner })).body.total).toBe(1);
          }
        }, 120_000);

        it("a visible record matching flagged as its possible duplicate does not name it, and keeps the flag when written back", async () => {
          const { id, family } = hidden[status];
          const ext = 'https://iis-fhir-server.org/fhir/StructureDefinition/possible-duplicate-of';
          // Registered by public health, whose matching sees the hidden child: a probable duplicate of it.
          const created = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family, given: ['Kimm'] }], birthDate: '2021-03-04' }) });
          expect(created.status, created.text).toBe(201);
          const other = created.body.id as string;
          expect(JSON.stringify(created.body.extension), 'precondition: flagged as a duplicate of the hidden child').toContain(`Patient/${id}`);
          for (const path of [`Patient/${other}`, `Patient/${other}/_history/1`, `Patient?_id=${other}`, `Patient/${other}/_history`, `Patient/${other}/$everything`]) {
            const res = await server.fhir('GET', path, { headers: orgC() });
            expect(res.status, path).toBe(200);
            expect(res.text, path).not.toContain(id);
          }
          // Nor does an app a clinician of that organization launched for the visible record.
          const app = { authorization: `Bearer ${server.token({ scope: 'patient/*.rs', organization: 'Organization/C', patient: other })}` };
          for (const path of [`Patient/${other}`, `Patient/${other}/$everything`, `Patient?_id=${other}`]) {
            const res = await server.fhir('GET', path, { headers: app });
            expect(res.status, path).toBe(200);
            expect(res.text, path).toContain(other);
            expect(res.text, path).not.toContain(id);
          }
          // Nor does an export of the organization's patients (one file per type, and patient blocks).
          const exportToken = server.token({ scope: 'user/*.rs', organization: 'Organization/C' });
          for (const path of ['Patient/$export?_type=Patient', 'Patient/$export?organizeOutputBy=Patient']) {
            const { manifest } = await exportAll(server.baseUrl, path, { token: exportToken });
            const files = await Promise.all(manifest.output.map((f: { url: string }) => download(f.url, exportToken)));
            const text = files.map((f) => f.text).join('\n');
            expect(text, path).toContain(`"id":"${other}"`);
            expect(text, path).not.toContain(id);
          }
          const seen = (await server.fhir('GET', `Patient/${other}`, { headers: orgC() })).body;
          expect(seen.extension?.some((e: any) => e.url === ext) ?? false).toBe(false);
          // Written back as seen (a phone number added): the registry's review of the pair stays.
          const put = await server.fhir('PUT', `Patient/${other}`, { body: { ...seen, telecom: [{ system: 'phone', value: '555-0100' }] }, headers: orgC() });
          expect(put.status, put.text).toBe(200);
          expect(put.text).not.toContain(id);
          const stored = (await server.fhir('GET', `Patient/${other}`)).body;
          expect(stored.telecom[0].value).toBe('555-0100');
          expect(stored.extension.filter((e: any) => e.url === ext).map((e: any) => e.valueReference.reference)).toEqual([`Patient/${id}`]);
          expect(stored.meta.tag.map((t: any) => t.code)).toContain('possible-duplicate');
          expect((await server.fhir('DELETE', `Patient/${other}`)).status).toBe(204);
        }, 120_000);

        it('type and system history leave its versions out and give no total', async () => {
          const { id, imm } = hidden[status];
          for (const path of ['Patient/_history?_count=1000', '_history?_count=1000', 'Immunization/_history?_count=1000']) {
            const res = await server.fhir('GET', path, { headers: orgC() });
            expect(res.status, path).toBe(200);
            expect(ids(res.body), path).not.toContain(`Patient/${id}`);
            expect(ids(res.body), path).not.toContain(`Immunization/${imm}`);
            expect(res.body.total, path).toBeUndefined();
          }
        });

        it('$match never offers it as a candidate', async () => {
          const { id, mrn, family } = hidden[status];
          const candidate = patient({ identifier: [{ system: MRN_SYSTEM, value: mrn }], name: [{ family, given: ['Kim'] }], birthDate: '2021-03-04' });
          const res = await server.fhir('POST', 'Patient/$match', {
            body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: candidate }] },
            headers: orgC(),
          });
          expect(res.status, res.text).toBe(200);
          expect(ids(res.body)).not.toContain(`Patient/${id}`);
          const publicHealth = await server.fhir('POST', 'Patient/$match', { body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: candidate }] } });
          expect(ids(publicHealth.body)).toContain(`Patient/${id}`);
        });

        it('conditional create (If-None-Exist) neither returns nor touches it', async () => {
          const { id, mrn } = hidden[status];
          const res = await server.fhir('POST', 'Patient', {
            body: patient({ identifier: [{ system: MRN_SYSTEM, value: mrn }], name: [{ family: 'Other', given: ['Sam'] }], birthDate: '2019-01-01' }),
            headers: { ...orgC(), 'if-none-exist': `identifier=${MRN_SYSTEM}|${mrn}` },
          });
          expect(res.status, res.text).toBe(201);
          expect(res.body.id).not.toBe(id);
          expect(JSON.stringify(res.body)).not.toContain(id);
          await expectUnchanged(id);
          // (The clinic's new record carries the same MRN: removed so later paths meet only the hidden one.)
          expect((await server.fhir('DELETE', `Patient/${res.body.id}`)).status).toBe(204);
        });

        it('conditional update, patch and delete by its identifier do not reach it', async () => {
          const { id, mrn } = hidden[status];
          const query = `Patient?identifier=${MRN_SYSTEM}|${encodeURIComponent(mrn)}`;
          const patchRes = await server.fhir('PATCH', query, {
            raw: JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }]),
            headers: { ...orgC(), 'content-type': 'application/json-patch+json' },
          });
          expect(patchRes.status, patchRes.text).toBe(404);
          const del = await server.fhir('DELETE', query, { headers: orgC() });
          expect([200, 204]).toContain(del.status);
          await expectUnchanged(id);
          const put = await server.fhir('PUT', query, {
            body: patient({ identifier: [{ system: MRN_SYSTEM, value: mrn }], name: [{ family: 'Overwritten', given: ['X'] }] }),
            headers: orgC(),
          });
          expect(put.status, put.text).toBe(201);
          expect(put.body.id).not.toBe(id);
          await expectUnchanged(id);
          expect((await server.fhir('DELETE', `Patient/${put.body.id}`)).status).toBe(204);
        });

        it('nothing can be recorded about it: a Condition or a dose by POST, PUT, conditional create, batch or transaction is the same 403; its data-sharing Consent is accepted', async () => {
          const { id, code } = hidden[status];
          const condition = (subject: string) => ({
            resourceType: 'Condition',
            subject: { reference: subject },
            code: { coding: [{ system: 'http://snomed.info/sct', code: '38907003' }] },
          });
          const refusedWith = (res: { status: number; text: string; body: any }, what: string) => {
            expect(res.status, `${what}: ${res.text}`).toBe(403);
            expect(res.body.issue[0].details.coding[0].code, what).toBe(code);
            expect(res.text, what).not.toContain('Kim');
          };
          for (const subject of [`Patient/${id}`, `${server.baseUrl}/Patient/${id}`, `Patient/${id}/_history/1`]) {
            const res = await server.fhir('POST', 'Condition', { body: condition(subject), headers: orgC() });
            refusedWith(res, `POST Condition ${subject}`);
            // It names the patient the caller sent, not the id a create would have had.
            expect(res.body.issue[0].diagnostics).toContain(`Patient/${id}`);
            expect(res.body.issue[0].diagnostics).not.toContain('Condition/');
          }
          refusedWith(await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${id}`), headers: orgC() }), 'POST Immunization');
          const putId = `hidden-cond-${status}-${Date.now()}`;
          refusedWith(await server.fhir('PUT', `Condition/${putId}`, { body: { ...condition(`Patient/${id}`), id: putId }, headers: orgC() }), 'PUT Condition');
          refusedWith(
            await server.fhir('POST', 'Condition', { body: condition(`Patient/${id}`), headers: { ...orgC(), 'if-none-exist': `subject=Patient/${id}` } }),
            'conditional create'
          );
          // A Condition of a child the caller sees cannot be moved onto the hidden one either.
          const visible = await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Seen', given: ['Ada'] }], birthDate: '2020-01-02' }), headers: orgC() });
          expect(visible.status, visible.text).toBe(201);
          const own = await server.fhir('POST', 'Condition', { body: condition(`Patient/${visible.body.id}`), headers: orgC() });
          expect(own.status, own.text).toBe(201);
          refusedWith(
            await server.fhir('PATCH', `Condition/${own.body.id}`, {
              body: [{ op: 'replace', path: '/subject/reference', value: `Patient/${id}` }],
              headers: { ...orgC(), 'content-type': 'application/json-patch+json' },
            }),
            'PATCH Condition onto it'
          );
          const batch = await server.fhir('POST', '', {
            body: { resourceType: 'Bundle', type: 'batch', entry: [{ resource: condition(`Patient/${id}`), request: { method: 'POST', url: 'Condition' } }] },
            headers: orgC(),
          });
          expect(batch.status, batch.text).toBe(200);
          expect(batch.body.entry[0].response.status).toBe('403 Forbidden');
          expect(batch.body.entry[0].response.outcome.issue[0].details.coding[0].code).toBe(code);
          const transaction = await server.fhir('POST', '', {
            body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: condition(`Patient/${id}`), request: { method: 'POST', url: 'Condition' } }] },
            headers: orgC(),
          });
          if (!(transaction.status === 400 && transaction.body.issue[0].code === 'not-supported')) refusedWith(transaction, 'transaction');
          const stored = await server.fhir('GET', `Condition?subject=Patient/${id}`);
          expect(stored.body.entry ?? [], 'nothing was stored for the hidden child').toEqual([]);
          // The family's choice may always be recorded, and public health records as before.
          const yes = await server.fhir('POST', 'Consent', { body: sharingConsent(id, { status: 'proposed', provision: { type: 'deny' } }), headers: orgC() });
          expect(yes.status, yes.text).toBe(201);
          const byPublicHealth = await server.fhir('POST', 'Condition', { body: condition(`Patient/${id}`) });
          expect(byPublicHealth.status, byPublicHealth.text).toBe(201);
          for (const cleanup of [`Condition/${byPublicHealth.body.id}`, `Consent/${yes.body.id}`, `Condition/${own.body.id}`, `Patient/${visible.body.id}`]) {
            expect((await server.fhir('DELETE', cleanup)).status, cleanup).toBe(204);
          }
        }, 120_000);

        it('batch and transaction entries are refused or left out like requests', async () => {
          const { id, mrn, code } = hidden[status];
          const batch = await server.fhir('POST', '', {
            body: {
              resourceType: 'Bundle',
              type: 'batch',
              entry: [
                { request: { method: 'GET', url: `Patient/${id}` } },
                { request: { method: 'GET', url: `Patient?identifier=${MRN_SYSTEM}|${mrn}` } },
              ],
            },
            headers: orgC(),
          });
          expect(batch.status).toBe(200);
          expect(batch.body.entry[0].response.status).toBe('403 Forbidden');
          expect(batch.body.entry[0].response.outcome.issue[0].details.coding[0].code).toBe(code);
          expect(batch.body.entry[1].resource.entry ?? []).toEqual([]);
          const transaction = await server.fhir('POST', '', {
            body: {
              resourceType: 'Bundle',
              type: 'transaction',
              entry: [
                {
                  fullUrl: 'urn:uuid:6b3d0a4e-8a0c-4c0e-9a55-0c1f1f6f2b01',
                  resource: patient({ identifier: [{ system: MRN_SYSTEM, value: mrn }], name: [{ family: 'Tx', given: ['Lee'] }], birthDate: '2018-02-02' }),
                  request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN_SYSTEM}|${mrn}` },
                },
              ],
            },
            headers: orgC(),
          });
          if (transaction.status === 400 && transaction.body.issue[0].code === 'not-supported') return; // MongoDB without a replica set
          expect(transaction.status, transaction.text).toBe(200);
          expect(transaction.body.entry[0].response.status).toMatch(/^201/);
          expect(JSON.stringify(transaction.body)).not.toContain(id);
          await expectUnchanged(id);
        });
      });
    }
  });
}
