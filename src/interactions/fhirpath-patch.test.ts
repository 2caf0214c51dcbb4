// FHIRPath Patch over HTTP, as an outside client sends it (R4 fhirpatch.html): PATCH [type]/[id]
// and PATCH [type]?query with a Parameters body (application/fhir+json), and PATCH entries of
// batches and transactions, on both stores.
import type { AuditEvent } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, sharingConsent, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';

const kinds: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];
if (!testMongoUrl()) console.warn('[FHIRPath Patch] MongoDB tier SKIPPED: set TEST_MONGODB_URL (e.g. a FerretDB from scripts/ferretdb.sh) to run it');

type Part = Record<string, unknown>;

/** One `operation` parameter: its type and path, then the other parts (name, value, index…). */
function operation(type: string, path: string, ...parts: Part[]): Part {
  return { name: 'operation', part: [{ name: 'type', valueCode: type }, { name: 'path', valueString: path }, ...parts] };
}

function fhirPathPatch(...operations: Part[]): Record<string, unknown> {
  return { resourceType: 'Parameters', parameter: operations };
}

const value = (typed: Record<string, unknown>): Part => ({ name: 'value', ...typed });

// Every child of this file is a different child to the server's matching (a create that matches a
// record updates it instead): its own surname and date of birth.
const SURNAMES = ['Abernathy', 'Bustamante', 'Castellano', 'Dzhugashvili', 'Eriksdottir', 'Fitzgerald', 'Gonzaga', 'Hakimi', 'Ishikawa', 'Jablonski', 'Kowalczyk', 'Lindqvist', 'Montgomery', 'Nakamura'];
let children = 0;
function child(overrides: Record<string, unknown> = {}, given = ['Anna']): Record<string, unknown> {
  const n = children++;
  const family = `${SURNAMES[n % SURNAMES.length]}${n >= SURNAMES.length ? n : ''}`;
  return patient({ name: [{ family, given }], birthDate: `2019-${String(1 + (n % 12)).padStart(2, '0')}-${String(1 + n).padStart(2, '0')}`, ...overrides });
}

for (const kind of kinds) {
  describe(`FHIRPath Patch on the ${kind} store`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(kind);
    });
    afterAll(async () => {
      await server?.close();
    });

    const create = async (body: Record<string, unknown>) => {
      const res = await server.fhir('POST', body.resourceType as string, { body });
      expect(res.status, res.text).toBe(201);
      return res.body as Record<string, any> & { id: string };
    };
    const patch = (path: string, body: unknown, headers: Record<string, string> = {}) => server.fhir('PATCH', path, { body, headers });
    const read = async (path: string) => (await server.fhir('GET', path)).body;

    it('the CapabilityStatement lists FHIRPath Patch (application/fhir+json) beside JSON Patch', async () => {
      const metadata = await server.fhir('GET', 'metadata');
      expect(metadata.body.patchFormat).toEqual(expect.arrayContaining(['application/json-patch+json', 'application/fhir+json']));
    });

    it('replace: a single element gets the value, in a new version with history', async () => {
      const created = await create(child());
      const res = await patch(`Patient/${created.id}`, fhirPathPatch(operation('replace', 'Patient.birthDate', value({ valueDate: '2020-06-01' }))));
      expect(res.status, res.text).toBe(200);
      expect(res.body.birthDate).toBe('2020-06-01');
      expect(res.body.meta.versionId).toBe('2');
      expect(res.headers.get('etag')).toBe('W/"2"');
      expect((await read(`Patient/${created.id}`)).birthDate).toBe('2020-06-01');
      const history = await server.fhir('GET', `Patient/${created.id}/_history`);
      expect(history.body.entry.map((e: { resource: { birthDate: string } }) => e.resource.birthDate)).toEqual(['2020-06-01', created.birthDate]);
    });

    it('is audited as an update: an AuditEvent with subtype patch, action U, the patient and the outcome', async () => {
      const p = await create(child());
      await patch(`Patient/${p.id}`, fhirPathPatch(operation('replace', 'Patient.gender', value({ valueCode: 'male' }))));
      await patch(`Patient/${p.id}`, fhirPathPatch(operation('replace', 'Patient.deceased', value({ valueBoolean: true }))));
      await server.audit.flush(5000);
      const events = (await server.store.history({ resourceType: 'AuditEvent', count: 10_000 }))
        .map((r) => r.resource as AuditEvent)
        .filter((e) => e.subtype?.[0]?.code === 'patch' && e.entity?.some((x) => x.what?.reference === `Patient/${p.id}`));
      expect(events.map((e) => [e.action, e.outcome]).sort()).toEqual([
        ['U', '0'],
        ['U', '4'],
      ]);
    });

    it('replace: a choice element may change type (occurrenceDateTime → occurrenceString)', async () => {
      const p = await create(child());
      const imm = await create(immunization(`Patient/${p.id}`));
      const res = await patch(`Immunization/${imm.id}`, fhirPathPatch(operation('replace', 'Immunization.occurrence', value({ valueString: 'spring 2020, per parent' }))));
      expect(res.status, res.text).toBe(200);
      expect(res.body.occurrenceString).toBe('spring 2020, per parent');
      expect(res.body).not.toHaveProperty('occurrenceDateTime');
    });

    it('add: appends to a list, sets an absent single element, and builds a backbone element from parts', async () => {
      const p = await create(child());
      const named = await patch(
        `Patient/${p.id}`,
        fhirPathPatch(
          operation('add', 'Patient.name[0]', { name: 'name', valueString: 'given' }, value({ valueString: 'Marie' })),
          operation('add', 'Patient', { name: 'name', valueString: 'telecom' }, value({ valueContactPoint: { system: 'phone', value: '555-0100' } })),
          operation('add', 'Patient', { name: 'name', valueString: 'contact' }, {
            name: 'value',
            part: [
              { name: 'relationship', valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] } },
              { name: 'name', valueHumanName: { family: 'Smith', given: ['Mary'] } },
            ],
          })
        )
      );
      expect(named.status, named.text).toBe(200);
      const stored = await read(`Patient/${p.id}`);
      expect(stored.name[0].given).toEqual(['Anna', 'Marie']);
      expect(stored.telecom).toEqual([{ system: 'phone', value: '555-0100' }]);
      expect(stored.contact).toEqual([
        { relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] }], name: { family: 'Smith', given: ['Mary'] } },
      ]);

      const imm = await create(immunization(`Patient/${p.id}`, { lotNumber: undefined }));
      const lot = await patch(`Immunization/${imm.id}`, fhirPathPatch(operation('add', 'Immunization', { name: 'name', valueString: 'lotNumber' }, value({ valueString: 'LOT-9' }))));
      expect(lot.status, lot.text).toBe(200);
      expect(lot.body.lotNumber).toBe('LOT-9');
      // A single element already present is replaced, never added twice.
      const again = await patch(`Immunization/${imm.id}`, fhirPathPatch(operation('add', 'Immunization', { name: 'name', valueString: 'lotNumber' }, value({ valueString: 'LOT-10' }))));
      expect(again.status, again.text).toBe(422);
      expect(again.body.issue[0].expression).toEqual(['Parameters.parameter[0]']);
      expect((await read(`Immunization/${imm.id}`)).lotNumber).toBe('LOT-9');
    });

    it("a primitive's extensions: added, replaced and deleted beside the value (`_birthDate`, `_given[n]`)", async () => {
      const birthTime = 'http://hl7.org/fhir/StructureDefinition/patient-birthTime';
      const p = await create(child({}, ['Anna', 'Beth']));
      const added = await patch(
        `Patient/${p.id}`,
        fhirPathPatch(
          operation('add', 'Patient.birthDate', { name: 'name', valueString: 'extension' }, value({ valueExtension: { url: birthTime, valueDateTime: `${p.birthDate}T08:15:00-05:00` } })),
          operation('add', 'Patient.name[0].given[1]', { name: 'name', valueString: 'id' }, value({ valueString: 'second-given' }))
        )
      );
      expect(added.status, added.text).toBe(200);
      let stored = await read(`Patient/${p.id}`);
      expect(stored._birthDate).toEqual({ extension: [{ url: birthTime, valueDateTime: `${p.birthDate}T08:15:00-05:00` }] });
      expect(stored.name[0]._given).toEqual([null, { id: 'second-given' }]);

      const replaced = await patch(
        `Patient/${p.id}`,
        fhirPathPatch(operation('replace', `Patient.birthDate.extension('${birthTime}').value`, value({ valueDateTime: `${p.birthDate}T09:30:00-05:00` })))
      );
      expect(replaced.status, replaced.text).toBe(200);
      expect((await read(`Patient/${p.id}`))._birthDate.extension[0].valueDateTime).toBe(`${p.birthDate}T09:30:00-05:00`);

      // Deleting the last extension or id drops the `_` object; deleting the value takes its extensions along.
      const deleted = await patch(
        `Patient/${p.id}`,
        fhirPathPatch(operation('delete', `Patient.birthDate.extension('${birthTime}')`), operation('delete', 'Patient.name[0].given[1].id'))
      );
      expect(deleted.status, deleted.text).toBe(200);
      stored = await read(`Patient/${p.id}`);
      expect(stored).not.toHaveProperty('_birthDate');
      expect(stored.name[0]).not.toHaveProperty('_given');
      expect(stored.birthDate).toBe(p.birthDate);
    });

    it('insert: puts the value at the index of the list (0 to its length)', async () => {
      const p = await create(child({ identifier: [{ system: 'urn:a', value: '1' }, { system: 'urn:c', value: '3' }] }));
      const res = await patch(
        `Patient/${p.id}`,
        fhirPathPatch(
          operation('insert', 'Patient.identifier', value({ valueIdentifier: { system: 'urn:b', value: '2' } }), { name: 'index', valueInteger: 1 }),
          operation('insert', 'Patient.identifier', value({ valueIdentifier: { system: 'urn:d', value: '4' } }), { name: 'index', valueInteger: 3 })
        )
      );
      expect(res.status, res.text).toBe(200);
      expect((await read(`Patient/${p.id}`)).identifier.map((i: { value: string }) => i.value)).toEqual(['1', '2', '3', '4']);
      const past = await patch(`Patient/${p.id}`, fhirPathPatch(operation('insert', 'Patient.identifier', value({ valueIdentifier: { value: 'x' } }), { name: 'index', valueInteger: 5 })));
      expect(past.status, past.text).toBe(422);
      expect(past.body.issue[0].diagnostics).toMatch(/Parameters\.parameter\[0\].*index 5/);
    });

    it('delete: removes the one element the path names (a where() or an index); deleting nothing is not an error', async () => {
      const p = await create(
        child({ identifier: [{ system: 'urn:a', value: '1' }, { system: 'urn:b', value: '2' }] }, ['Anna', 'Beth', 'Cara'])
      );
      const res = await patch(
        `Patient/${p.id}`,
        fhirPathPatch(
          operation('delete', "Patient.identifier.where(system = 'urn:a')"),
          operation('delete', 'Patient.name[0].given[1]'),
          operation('delete', 'Patient.deceased'),
          operation('delete', 'Patient.gender')
        )
      );
      expect(res.status, res.text).toBe(200);
      const stored = await read(`Patient/${p.id}`);
      expect(stored.identifier).toEqual([{ system: 'urn:b', value: '2' }]);
      expect(stored.name[0].given).toEqual(['Anna', 'Cara']);
      expect(stored).not.toHaveProperty('gender');
      expect(stored.meta.versionId).toBe('2');
      // Only a single element can be deleted.
      const many = await patch(`Patient/${p.id}`, fhirPathPatch(operation('delete', 'Patient.name.given')));
      expect(many.status, many.text).toBe(422);
      expect((await read(`Patient/${p.id}`)).name[0].given).toEqual(['Anna', 'Cara']);
    });

    it('move: moves an element within its list', async () => {
      const p = await create(child({}, ['Anna', 'Beth', 'Cara']));
      const res = await patch(`Patient/${p.id}`, fhirPathPatch(operation('move', 'Patient.name[0].given', { name: 'source', valueInteger: 2 }, { name: 'destination', valueInteger: 0 })));
      expect(res.status, res.text).toBe(200);
      expect((await read(`Patient/${p.id}`)).name[0].given).toEqual(['Cara', 'Anna', 'Beth']);
      const outside = await patch(`Patient/${p.id}`, fhirPathPatch(operation('move', 'Patient.name[0].given', { name: 'source', valueInteger: 3 }, { name: 'destination', valueInteger: 0 })));
      expect(outside.status, outside.text).toBe(422);
    });

    it('an operation that cannot apply is refused naming it, and nothing of the patch is stored', async () => {
      const p = await create(child({ gender: 'female' }));
      const before = await read(`Patient/${p.id}`);
      const cases: Array<[unknown, number, RegExp]> = [
        // The first operation applies, the second does not: neither is stored.
        [fhirPathPatch(operation('replace', 'Patient.gender', value({ valueCode: 'male' })), operation('replace', 'Patient.deceased', value({ valueBoolean: true }))), 422, /parameter\[1\]/],
        [fhirPathPatch(operation('replace', 'Patient.birthDate', value({ valueString: '2020-01-01' }))), 400, /valueString does not fit Patient\.birthDate/],
        [fhirPathPatch(operation('replace', 'Patient.nickname', value({ valueString: 'x' }))), 400, /Patient has no element "nickname"/],
        // A choice element named with its type takes only that type.
        [fhirPathPatch(operation('add', 'Patient', { name: 'name', valueString: 'deceasedBoolean' }, value({ valueDateTime: '2021-01-01' }))), 400, /deceasedBoolean cannot hold this value/],
        [fhirPathPatch(operation('replace', 'Patient.name[', value({ valueString: 'x' }))), 400, /not FHIRPath/],
        [fhirPathPatch(operation('rename', 'Patient.gender')), 400, /"type"/],
        [fhirPathPatch(operation('replace', 'Patient.gender')), 400, /needs the part "value"/],
        [fhirPathPatch(operation('delete', 'Patient.gender', value({ valueCode: 'male' }))), 400, /has no part "value"/],
        [fhirPathPatch(operation('replace', 'Patient.name.select(family)', value({ valueString: 'x' }))), 400, /may not use select\(\)/],
        [fhirPathPatch(operation('replace', 'Patient.name.family.exists()', value({ valueString: 'x' }))), 400, /must end in an element/],
        [{ resourceType: 'Parameters', parameter: [{ name: 'op' }] }, 400, /"operation"/],
        // Names the schema's index would answer from Object.prototype are no elements (not a 500).
        [fhirPathPatch(operation('add', 'Patient', { name: 'name', valueString: 'constructor' }, value({ valueString: 'x' }))), 400, /no element "constructor"/],
        [fhirPathPatch(operation('add', 'Patient', { name: 'name', valueString: 'contact' }, { name: 'value', part: [{ name: '__proto__', valueString: 'x' }] })), 400, /no element "__proto__"/],
        [{ resourceType: 'Patient' }, 400, /Parameters resource/],
      ];
      for (const [body, status, text] of cases) {
        const res = await patch(`Patient/${p.id}`, body);
        expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(status);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(res.body.issue[0].diagnostics).toMatch(text);
      }
      // Refused: a patch that changes the id, and a result that breaks the IIS rules (422 with the rule code).
      const id = await patch(`Patient/${p.id}`, fhirPathPatch(operation('replace', 'Patient.id', value({ valueId: 'someone-else' }))));
      expect(id.status, id.text).toBe(422);
      const future = await patch(`Patient/${p.id}`, fhirPathPatch(operation('replace', 'Patient.birthDate', value({ valueDate: '2999-01-01' }))));
      expect(future.status, future.text).toBe(422);
      expect(future.body.issue[0].details.coding[0].code).toBe('birthdate-in-future');
      expect(await read(`Patient/${p.id}`)).toEqual(before);
    });

    it('a path is held to what names elements, and to a budget: a costly one is refused at once (400 too-costly)', async () => {
      const identifiers = Array.from({ length: 400 }, (_, i) => ({ system: 'urn:many', value: String(i) }));
      const p = await create(child({ identifier: identifiers }));
      // Evaluated naively this is 400 × 400 × 400 steps (seconds of the event loop, minutes with more identifiers).
      const nested = 'Patient.identifier.where(%resource.identifier.where(%resource.identifier.count() > 0).count() > 0).first()';
      const started = Date.now();
      const costly = await patch(`Patient/${p.id}`, fhirPathPatch(operation('delete', nested)));
      expect(costly.status, costly.text).toBe(400);
      expect(costly.body.issue[0].code).toBe('too-costly');
      expect(costly.body.issue[0].expression).toEqual(['Parameters.parameter[0]']);
      expect(Date.now() - started).toBeLessThan(5_000);
      for (const [path, text] of [
        ['Patient.descendants().descendants().descendants()', /descendants\(\)/],
        ['(Patient.identifier | Patient.identifier).first()', /operator/],
        ["Patient.name.given.where($this.matches('(a+)+$'))", /matches\(\)/],
        [`Patient${'.name'.repeat(300)}`, /characters long/],
      ] as const) {
        const refused = await patch(`Patient/${p.id}`, fhirPathPatch(operation('delete', path)));
        expect(refused.status, refused.text).toBe(400);
        expect(refused.body.issue[0].diagnostics).toMatch(text);
      }
      // A where() over the same list, naming one element, is well within the budget.
      const direct = await patch(`Patient/${p.id}`, fhirPathPatch(operation('delete', "Patient.identifier.where(system = 'urn:many' and value = '399')")));
      expect(direct.status, direct.text).toBe(200);
      expect(direct.body.identifier).toHaveLength(399);
      expect(direct.body.identifier.at(-1).value).toBe('398');
    });

    it('honours If-Match and needs the u scope', async () => {
      const p = await create(child({ gender: 'female' }));
      const body = fhirPathPatch(operation('replace', 'Patient.gender', value({ valueCode: 'male' })));
      const stale = await patch(`Patient/${p.id}`, body, { 'if-match': 'W/"2"' });
      expect(stale.status, stale.text).toBe(412);
      const readOnly = await patch(`Patient/${p.id}`, body, { authorization: `Bearer ${server.token({ scope: 'system/Patient.rs' })}` });
      expect(readOnly.status, readOnly.text).toBe(403);
      expect((await read(`Patient/${p.id}`)).gender).toBe('female');
      const current = await patch(`Patient/${p.id}`, body, { 'if-match': 'W/"1"', authorization: `Bearer ${server.token({ scope: 'system/Patient.u' })}` });
      expect(current.status, current.text).toBe(200);
      expect(current.body.gender).toBe('male');
    });

    it('data sharing: another organization cannot patch a No child; patching the Consent to permit opens the record', async () => {
      const p = await create(child({ gender: 'female' }));
      const optOut = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] };
      const consent = await create(sharingConsent(p.id, { provision: { type: 'deny' }, policyRule: optOut }));
      const clinic = { authorization: `Bearer ${server.token({ scope: 'user/*.cruds', organization: 'Organization/elsewhere' })}` };
      const body = fhirPathPatch(operation('replace', 'Patient.gender', value({ valueCode: 'male' })));
      const refused = await patch(`Patient/${p.id}`, body, clinic);
      expect(refused.status, refused.text).toBe(403);
      expect((await read(`Patient/${p.id}`)).gender).toBe('female');
      const opened = await patch(
        `Consent/${consent.id}`,
        fhirPathPatch(
          operation('replace', 'Consent.provision.type', value({ valueCode: 'permit' })),
          operation('replace', 'Consent.policyRule.coding[0].code', value({ valueCode: 'OPTIN' }))
        )
      );
      expect(opened.status, opened.text).toBe(200);
      const allowed = await patch(`Patient/${p.id}`, body, clinic);
      expect(allowed.status, allowed.text).toBe(200);
      expect(allowed.body.gender).toBe('male');
    });

    it('conditional patch: PATCH [type]?query patches the one match (404 for none)', async () => {
      const mrn = `fp-${Date.now()}`;
      const p = await create(child({ identifier: [{ system: 'urn:mrn', value: mrn }], gender: 'female' }));
      const body = fhirPathPatch(operation('replace', 'Patient.gender', value({ valueCode: 'male' })));
      const res = await patch(`Patient?identifier=urn:mrn|${mrn}`, body);
      expect(res.status, res.text).toBe(200);
      expect(res.body.id).toBe(p.id);
      expect((await read(`Patient/${p.id}`)).gender).toBe('male');
      expect((await patch(`Patient?identifier=urn:mrn|${mrn}-none`, body)).status).toBe(404);
    });

    it('batch: a PATCH entry carries the Parameters as its resource', async () => {
      const p = await create(child({ gender: 'female' }));
      const res = await server.fhir('POST', '', {
        body: {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { resource: fhirPathPatch(operation('replace', 'Patient.gender', value({ valueCode: 'male' }))), request: { method: 'PATCH', url: `Patient/${p.id}` } },
            { resource: fhirPathPatch(operation('replace', 'Patient.nickname', value({ valueString: 'x' }))), request: { method: 'PATCH', url: `Patient/${p.id}` } },
          ],
        },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(['200 OK', '400 Bad Request']);
      expect(res.body.entry[0].resource.gender).toBe('male');
      expect((await read(`Patient/${p.id}`)).meta.versionId).toBe('2');
    });

    it('transaction: a PATCH entry, its references to other entries rewritten, all or nothing', async (context) => {
      if (!server.store.supportsTransactions) {
        console.warn(`[${kind}] skipping the FHIRPath Patch transaction test: this deployment has no multi-document transactions`);
        context.skip();
      }
      const p = await create(child());
      const imm = await create(immunization(`Patient/${p.id}`));
      const organizationUrn = 'urn:uuid:6d0b8f4e-2a51-4c2e-9a39-0c5b1f0e7a11';
      const res = await server.fhir('POST', '', {
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: fhirPathPatch(
                operation('add', 'Immunization', { name: 'name', valueString: 'performer' }, { name: 'value', part: [{ name: 'actor', valueReference: { reference: organizationUrn } }] }),
                operation('replace', 'Immunization.lotNumber', value({ valueString: 'LOT-TX' }))
              ),
              request: { method: 'PATCH', url: `Immunization/${imm.id}` },
            },
            { fullUrl: organizationUrn, resource: { resourceType: 'Organization', name: 'Clinic on the bundle' }, request: { method: 'POST', url: 'Organization' } },
          ],
        },
      });
      expect(res.status, res.text).toBe(200);
      const organizationId = res.body.entry[1].resource.id;
      const stored = await read(`Immunization/${imm.id}`);
      expect(stored.lotNumber).toBe('LOT-TX');
      expect(stored.performer).toEqual([{ actor: { reference: `Organization/${organizationId}` } }]);

      const refused = await server.fhir('POST', '', {
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: fhirPathPatch(operation('replace', 'Immunization.lotNumber', value({ valueString: 'LOT-NOT' }))), request: { method: 'PATCH', url: `Immunization/${imm.id}` } },
            { resource: fhirPathPatch(operation('replace', 'Patient.deceased', value({ valueBoolean: true }))), request: { method: 'PATCH', url: `Patient/${p.id}` } },
          ],
        },
      });
      expect(refused.status, refused.text).toBe(422);
      expect(refused.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\]: Parameters\.parameter\[0\]/);
      expect((await read(`Immunization/${imm.id}`)).lotNumber).toBe('LOT-TX');
    });
  });
}
