// $health-cards-issue inputs that choose what goes on the card (SMART Health Cards and Links IG,
// "$health-cards-issue"): credentialValueSet (the SMART Health Cards terminology value sets; each
// given set must have a dose on the card, the card carries the doses of all of them; the COVID sets
// add `#covid19` to vc.type), credentialType (several = all of them), _since (only doses stored
// since; the IG's year-month form) and includeIdentityClaim. Cards are checked as a verifier reads
// them: key from the published JWKS by kid, ES256 signature, inflated payload. Embedded store, and
// MongoDB when TEST_MONGODB_URL is set.
import { inflateRawSync } from 'node:zlib';
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immunization, patient, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';

const VS = 'https://terminology.smarthealth.cards/ValueSet/';
const CVX = 'http://hl7.org/fhir/sid/cvx';
const COVID19 = 'https://smarthealth.cards#covid19';
const HEALTH_CARD = 'https://smarthealth.cards#health-card';
const IMMUNIZATION_CARD = 'https://smarthealth.cards#immunization';

const ask = (more: Array<Record<string, unknown>> = [], types: string[] = [IMMUNIZATION_CARD]) => ({
  resourceType: 'Parameters',
  parameter: [...types.map((valueUri) => ({ name: 'credentialType', valueUri })), ...more],
});
const valueSet = (...names: string[]) => names.map((n) => ({ name: 'credentialValueSet', valueUri: VS + n }));

if (!testMongoUrl()) console.warn('[health-cards issue selection] MongoDB tier SKIPPED: set TEST_MONGODB_URL (e.g. a FerretDB from scripts/ferretdb.sh) to run it');

function suite(kind: StoreKind): void {
  describe(`$health-cards-issue content selection (${kind} store)`, () => {
    let server: TestServer;
    let childId: string;
    let covidOnlyId: string;
    /** Dose ids by what they are. */
    const dose: Record<string, string> = {};

    beforeAll(async () => {
      server = await startTestServer(kind);
      childId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Selma', given: ['Ines'] }], birthDate: '2015-06-07', gender: 'female' }) })).body.id;
      const doses: Record<string, Record<string, unknown>> = {
        // "08": CVX written with its leading zero, as many registries send it; immunization-all-cvx lists "8".
        hepB: { vaccineCode: { coding: [{ system: CVX, code: '08' }] }, occurrenceDateTime: '2015-06-08' },
        covidCvx: { vaccineCode: { coding: [{ system: CVX, code: '208' }] }, occurrenceDateTime: '2021-05-01' },
        // CVX 213 (COVID-19, unspecified) is not in immunization-covid-cvx; its SNOMED CT code is in immunization-covid-all.
        covidSnomed: { vaccineCode: { coding: [{ system: CVX, code: '213' }, { system: 'http://snomed.info/sct', code: '28581000087106' }] }, occurrenceDateTime: '2021-06-01' },
        mpox: { vaccineCode: { coding: [{ system: CVX, code: '206' }] }, occurrenceDateTime: '2022-08-01' },
        // CVX 320 (2024) is newer than immunization-all-cvx (2023-09-20); the ICD-11 code is in immunization-all-icd11.
        fluIcd11: { vaccineCode: { coding: [{ system: CVX, code: '320' }, { system: 'http://id.who.int/icd11/mms', code: 'XM1LR5' }] }, occurrenceDateTime: '2022-10-01' },
        covidNotDone: { vaccineCode: { coding: [{ system: CVX, code: '207' }] }, occurrenceDateTime: '2022-01-01', status: 'not-done', statusReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'PATOBJ' }] } },
      };
      for (const [name, fields] of Object.entries(doses)) {
        const res = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${childId}`, fields) });
        expect(res.status, res.text).toBe(201);
        dose[name] = res.body.id;
      }
      covidOnlyId = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Quill', given: ['Oda'] }], birthDate: '1990-01-02' }) })).body.id;
      await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${covidOnlyId}`, { vaccineCode: { coding: [{ system: CVX, code: '312' }] }, occurrenceDateTime: '2024-10-01' }) });
    });
    afterAll(async () => {
      await server?.close();
    });

    async function issue(id: string, body: unknown) {
      return server.fhir('POST', `Patient/${id}/$health-cards-issue`, { body });
    }

    /** The card's payload as a verifier reads it, and which stored doses it came from (resourceLink). */
    async function card(id: string, body: unknown): Promise<{ payload: any; doseIds: string[] }> {
      const res = await issue(id, body);
      expect(res.status, res.text).toBe(200);
      const jws = res.body.parameter?.find((p: any) => p.name === 'verifiableCredential')?.valueString;
      expect(jws, JSON.stringify(res.body)).toEqual(expect.any(String));
      const { kid } = decodeProtectedHeader(jws);
      const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
      const jwk = jwks.keys.find((k) => k.kid === kid) as JWK;
      const { payload } = await compactVerify(jws, await importJWK(jwk, 'ES256'));
      const decoded = JSON.parse(inflateRawSync(payload).toString('utf8'));
      const doseIds = res.body.parameter
        .filter((p: any) => p.name === 'resourceLink')
        .map((p: any) => p.part.find((q: any) => q.name === 'hostedResource').valueUri as string)
        .filter((uri: string) => uri.includes('/Immunization/'))
        .map((uri: string) => uri.split('/Immunization/')[1]);
      expect(decoded.vc.credentialSubject.fhirBundle.entry).toHaveLength(doseIds.length + 1);
      return { payload: decoded, doseIds };
    }

    it('without credentialValueSet the card holds every completed dose and the two base types', async () => {
      const { payload, doseIds } = await card(childId, ask());
      expect(doseIds.sort()).toEqual([dose.hepB, dose.covidCvx, dose.covidSnomed, dose.mpox, dose.fluIcd11].sort());
      expect(payload.vc.type).toEqual([HEALTH_CARD, IMMUNIZATION_CARD]);
    });

    it('immunization-covid-all keeps the COVID-19 doses by CVX and SNOMED CT code and adds #covid19', async () => {
      const { payload, doseIds } = await card(childId, ask(valueSet('immunization-covid-all')));
      expect(doseIds.sort()).toEqual([dose.covidCvx, dose.covidSnomed].sort());
      expect(payload.vc.type).toEqual([HEALTH_CARD, IMMUNIZATION_CARD, COVID19]);
      const codes = payload.vc.credentialSubject.fhirBundle.entry.slice(1).map((e: any) => e.resource.vaccineCode.coding.map((c: any) => c.code).join('+'));
      expect(codes).toEqual(['208', '213+28581000087106']);
      // The single-system sets: CVX leaves the SNOMED-coded dose out (its CVX 213 is not in it), SNOMED CT keeps only it.
      expect((await card(childId, ask(valueSet('immunization-covid-snomed')))).doseIds).toEqual([dose.covidSnomed]);
      expect((await issue(childId, ask(valueSet('immunization-covid-icd11')))).body).toEqual({ resourceType: 'Parameters' });
      // The HL7 IG's canonical of a set names the same set.
      const hl7 = await card(childId, ask([{ name: 'credentialValueSet', valueUri: 'http://hl7.org/fhir/uv/smart-health-cards-and-links/ValueSet/immunization-covid-all' }]));
      expect(hl7.doseIds.sort()).toEqual([dose.covidCvx, dose.covidSnomed].sort());
      // A 2024-25 code (312) is in the CVX set.
      expect((await card(childId, ask(valueSet('immunization-covid-cvx')))).doseIds).toEqual([dose.covidCvx]);
      expect((await card(covidOnlyId, ask(valueSet('immunization-covid-cvx')))).doseIds).toHaveLength(1);
    });

    it('immunization-orthopoxvirus-all keeps the mpox dose, without the COVID-19 type', async () => {
      const { payload, doseIds } = await card(childId, ask(valueSet('immunization-orthopoxvirus-all')));
      expect(doseIds).toEqual([dose.mpox]);
      expect(payload.vc.type).toEqual([HEALTH_CARD, IMMUNIZATION_CARD]);
      expect((await card(childId, ask(valueSet('immunization-orthopoxvirus-cvx')))).doseIds).toEqual([dose.mpox]);
    });

    it('the "all" sets keep the doses coded in their system: CVX with or without a leading zero, ICD-11', async () => {
      expect((await card(childId, ask(valueSet('immunization-all-cvx')))).doseIds.sort()).toEqual([dose.hepB, dose.covidCvx, dose.covidSnomed, dose.mpox].sort());
      expect((await card(childId, ask(valueSet('immunization-all-icd11')))).doseIds).toEqual([dose.fluIcd11]);
    });

    it('several credentialValueSets: the doses of every set, issued only when each set has a dose', async () => {
      const { payload, doseIds } = await card(childId, ask(valueSet('immunization-covid-all', 'immunization-orthopoxvirus-all')));
      expect(doseIds.sort()).toEqual([dose.covidCvx, dose.covidSnomed, dose.mpox].sort());
      expect(payload.vc.type).toEqual([HEALTH_CARD, IMMUNIZATION_CARD, COVID19]);
      const noMpox = await issue(covidOnlyId, ask(valueSet('immunization-covid-all', 'immunization-orthopoxvirus-all')));
      expect(noMpox.status).toBe(200);
      expect(noMpox.body).toEqual({ resourceType: 'Parameters' });
      // No dose in the set at all: nothing to issue (empty Parameters; 404 for the QR and file forms).
      expect((await issue(covidOnlyId, ask(valueSet('immunization-orthopoxvirus-all')))).body).toEqual({ resourceType: 'Parameters' });
      const qr = await server.fhir('POST', `Patient/${covidOnlyId}/$health-cards-issue`, { body: ask(valueSet('immunization-orthopoxvirus-all')), headers: { accept: 'text/plain' } });
      expect(qr.status).toBe(404);
    });

    it('credentialType #covid19 asks for the COVID-19 doses; a type the card cannot hold (logical AND) gives none', async () => {
      const { payload, doseIds } = await card(childId, ask([], [COVID19]));
      expect(doseIds.sort()).toEqual([dose.covidCvx, dose.covidSnomed].sort());
      expect(payload.vc.type).toContain(COVID19);
      expect((await issue(childId, ask([], ['Immunization', 'Observation']))).body).toEqual({ resourceType: 'Parameters' });
      expect((await card(childId, ask([], ['Immunization', HEALTH_CARD]))).doseIds).toHaveLength(5);
    });

    it('a dose recorded by NDC alone carries the CVX of its NDC on the card and counts for the CVX sets; ICD-11 under the IG\'s release URI', async () => {
      const id = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Nadir', given: ['Ned'] }], birthDate: '1985-05-05' }) })).body.id;
      // 59267-1000-01: Pfizer-BioNTech COVID-19 vaccine, CVX 208 in the CDC's NDC files.
      const ndcOnly = await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${id}`, { vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '59267-1000-01' }] }, occurrenceDateTime: '2021-04-01' }) });
      expect(ndcOnly.status, ndcOnly.text).toBe(201);
      const { payload, doseIds } = await card(id, ask(valueSet('immunization-covid-cvx')));
      expect(doseIds).toEqual([ndcOnly.body.id]);
      expect(payload.vc.credentialSubject.fhirBundle.entry[1].resource.vaccineCode.coding).toContainEqual({ system: CVX, code: '208' });
      const plain = await card(id, ask());
      expect(plain.payload.vc.credentialSubject.fhirBundle.entry[1].resource.vaccineCode.coding).toContainEqual({ system: CVX, code: '208' });
      // The stored record is not changed.
      expect((await server.fhir('GET', `Immunization/${ndcOnly.body.id}`)).body.vaccineCode.coding).toEqual([{ system: 'http://hl7.org/fhir/sid/ndc', code: '59267-1000-01' }]);
      const icd = await server.fhir('POST', 'Immunization', {
        body: immunization(`Patient/${id}`, { vaccineCode: { coding: [{ system: CVX, code: '213' }, { system: 'http://id.who.int/icd/release/11/mms', code: 'XM8NQ0' }] }, occurrenceDateTime: '2021-05-01' }),
      });
      expect(icd.status, icd.text).toBe(201);
      expect((await card(id, ask(valueSet('immunization-covid-icd11')))).doseIds).toEqual([icd.body.id]);
    });

    it('a card carries only the vaccine codings verifiers read (data minimization), CVX under its URI', async () => {
      const id = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Minima', given: ['Mia'] }], birthDate: '2019-07-07' }) })).body.id;
      const mixed = await server.fhir('POST', 'Immunization', {
        body: immunization(`Patient/${id}`, {
          vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '49281-0286-10' }, { system: CVX, code: '106', display: 'DTaP, 5 pertussis antigens' }, { system: 'urn:local:vaccines', code: 'DTAP-1' }], text: 'DTaP' },
          occurrenceDateTime: '2019-09-07',
        }),
      });
      expect(mixed.status, mixed.text).toBe(201);
      const oid = await server.fhir('POST', 'Immunization', {
        body: immunization(`Patient/${id}`, { vaccineCode: { coding: [{ system: 'urn:oid:2.16.840.1.113883.12.292', code: '10' }] }, occurrenceDateTime: '2019-11-07' }),
      });
      expect(oid.status, oid.text).toBe(201);
      const entries = (await card(id, ask())).payload.vc.credentialSubject.fhirBundle.entry;
      expect(entries[1].resource.vaccineCode).toEqual({ coding: [{ system: CVX, code: '106' }] });
      expect(entries[2].resource.vaccineCode).toEqual({ coding: [{ system: CVX, code: '10' }] });
    });

    it('an unknown or unusable credentialValueSet is a 400 that names it', async () => {
      const unknown = await issue(childId, ask([{ name: 'credentialValueSet', valueUri: `${VS}immunization-all` }]));
      expect(unknown.status).toBe(400);
      expect(unknown.body.resourceType).toBe('OperationOutcome');
      expect(unknown.body.issue[0].diagnostics).toContain(`${VS}immunization-all is not a value set this server knows`);
      const snomed = await issue(childId, ask(valueSet('immunization-all-snomed')));
      expect(snomed.status).toBe(400);
      expect(snomed.body.issue[0].diagnostics).toContain('SNOMED CT');
      expect((await issue(childId, ask([{ name: 'credentialValueSet', valueString: `${VS}immunization-covid-all` }]))).status).toBe(400);
      // A version suffix names the same set.
      expect((await card(childId, ask([{ name: 'credentialValueSet', valueUri: `${VS}immunization-orthopoxvirus-all|20230601` }]))).doseIds).toEqual([dose.mpox]);
    });

    it('_since keeps the doses stored since then; a year-month counts from its first day; bad forms are a 400', async () => {
      const id = (await server.fhir('POST', 'Patient', { body: patient({ name: [{ family: 'Ardent', given: ['Tova'] }], birthDate: '2019-09-09' }) })).body.id;
      const old = (await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${id}`, { occurrenceDateTime: '2019-09-10' }) })).body.id;
      await new Promise((resolve) => setTimeout(resolve, 20));
      const between = new Date().toISOString();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const recent = (await server.fhir('POST', 'Immunization', { body: immunization(`Patient/${id}`, { vaccineCode: { coding: [{ system: CVX, code: '20' }] }, occurrenceDateTime: '2019-11-10' }) })).body.id;
      const since = (value: string) => ask([{ name: '_since', valueDateTime: value }]);
      expect((await card(id, since(between))).doseIds).toEqual([recent]);
      expect((await card(id, since('2023-03'))).doseIds.sort()).toEqual([old, recent].sort());
      expect((await card(id, since('2020'))).doseIds).toHaveLength(2);
      const later = new Date(Date.now() + 3_600_000).toISOString();
      expect((await issue(id, since(later))).body).toEqual({ resourceType: 'Parameters' });
      // With a value set: the recent doses in it (the DTaP is not a COVID-19 vaccine).
      expect((await issue(id, ask([{ name: '_since', valueDateTime: between }, ...valueSet('immunization-covid-all')]))).body).toEqual({ resourceType: 'Parameters' });
      for (const bad of ['2021-03-01T10:00:00', '2021-02-30', '2021-13', 'yesterday', '2021-03-01T25:00:00Z']) {
        const res = await issue(id, since(bad));
        expect(res.status, bad).toBe(400);
        expect(res.body.issue[0].diagnostics).toContain('_since');
      }
      expect((await issue(id, ask([{ name: '_since', valueDateTime: '2020' }, { name: '_since', valueDateTime: '2021' }]))).status).toBe(400);
    });

    it('includeIdentityClaim lists the Patient elements on the card; never gender', async () => {
      const only = async (...claims: string[]) =>
        (await card(childId, ask(claims.map((valueString) => ({ name: 'includeIdentityClaim', valueString }))))).payload.vc.credentialSubject.fhirBundle.entry[0].resource;
      expect(await only('Patient.name')).toEqual({ resourceType: 'Patient', name: [{ family: 'Selma', given: ['Ines'] }] });
      expect(await only('Patient.birthDate')).toEqual({ resourceType: 'Patient', birthDate: '2015-06-07' });
      // Never gender, even when stored (the vaccination IG's Patient profiles: 0..0); asking for it is a 400 that says why.
      const gender = await issue(childId, ask([{ name: 'includeIdentityClaim', valueString: 'Patient.name' }, { name: 'includeIdentityClaim', valueString: 'Patient.gender' }]));
      expect(gender.status).toBe(400);
      expect(gender.body.issue[0].diagnostics).toContain('Patient.gender is never put on a card');
      expect(await only()).toEqual({ resourceType: 'Patient', name: [{ family: 'Selma', given: ['Ines'] }], birthDate: '2015-06-07' });
    });
  });
}

suite('embedded');
if (testMongoUrl()) suite('mongodb');
