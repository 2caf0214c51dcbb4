// The registry's own id in PID-3 (CDC guide release 1.5: PID-3 usage R, 1..*; the IIS returns its
// id as type SR): every PID of an RSP Z31/Z32/Z42 carries `<Patient id>^^^IIS^SR`, a QBP whose
// QPD-3 sends it back finds that record, and a VXU whose PID-3 sends it back updates that record.
// Both stores for the queries; the VXU needs transactions (a MongoDB without them answers AR).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hl7Message, Hl7Segment } from '@medplum/core';
import { sharingConsent, startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { repetitions } from './er7.js';
import { controlId, hl7Date, msh, order, vxu, yearsAgo } from './test-messages.js';
import { postHl7v2 } from './test-http.js';
import { AUTHORITY_BASE } from './identifiers.js';

function qbp(qpd3: string, family: string, given: string, birth: string, profile = 'Z34', more = ''): string {
  const name = profile === 'Z44' ? 'Request Evaluated History and Forecast' : 'Request Immunization History';
  return [
    msh({ type: 'QBP^Q11^QBP_Q11', profile: `${profile}^CDCPHINVS`, controlId: controlId('Q') }),
    `QPD|${profile}^${name}^CDCPHINVS|TAG-SR|${qpd3}|${family ? `${family}^${given}^^^^^L` : ''}|${more ? 'Eze^^^^^^M' : ''}|${birth}${more}`,
    'RCP|I|10^RD&Records&HL70126',
  ].join('\r');
}
const profileOf = (msg: Hl7Message) => msg.getSegment('MSH')?.getComponent(21, 1);
const pid3 = (seg: Hl7Segment | undefined) => (seg ? repetitions(seg, 3).map((r) => r.join('^').replace(/\^+$/, '')) : []);
const iso = (hl7: string) => `${hl7.slice(0, 4)}-${hl7.slice(4, 6)}-${hl7.slice(6, 8)}`;

for (const kind of ['embedded', 'mongodb'] as const) {
  describe.skipIf(kind === 'mongodb' && !testMongoUrl())(`the registry's own id (SR) in PID-3, ${kind} store`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(kind);
    });
    afterAll(async () => {
      await server?.close();
    });
    const post = (message: string, token?: string) => postHl7v2(server, message, token);

    /** A child registered over FHIR without identifiers, as the clinic web app may. */
    async function child(family: string, given: string, birth: string, extra: Record<string, unknown> = {}): Promise<string> {
      const created = await server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family, given: [given] }], birthDate: iso(birth), gender: 'female', ...extra } });
      expect(created.status, created.text).toBe(201);
      return created.body.id as string;
    }

    it('a child without identifiers: the Z32 and Z42 PID-3 carry the record id as SR of the IIS; each Z31 candidate its own', async () => {
      const birth = yearsAgo(2, 11);
      const maiden = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Eze' }] };
      const id = await child('Okonkwo', 'Adaeze', birth, maiden);
      for (const profile of ['Z34', 'Z44']) {
        // Name, mother's maiden name, birth date and sex: a certain match.
        const { msg, text } = await post(qbp('', 'Okonkwo', 'Adaeze', birth, profile, '|F'));
        expect(profileOf(msg), text).toBe(profile === 'Z34' ? 'Z32' : 'Z42');
        expect(pid3(msg.getSegment('PID')), text).toEqual([`${id}^^^IIS^SR`]);
      }
      // The record's own identifiers come first, as before; the registry id after them.
      const withMrn = await child('Okonkwo', 'Adaeze', birth, { identifier: [{ system: `${AUTHORITY_BASE}MYEHR`, value: 'SR-MRN-1', type: { coding: [{ code: 'MR' }] } }], gender: 'male', name: [{ family: 'Okonkwo', given: ['Chidi'] }] });
      const both = await post(qbp('', 'Okonkwo', '', birth));
      expect(profileOf(both.msg), both.text).toBe('Z31');
      expect(both.msg.getAllSegments('PID').map(pid3).sort(), both.text).toEqual([[`${id}^^^IIS^SR`], ['SR-MRN-1^^^MYEHR^MR', `${withMrn}^^^IIS^SR`]].sort());
    });

    it('a QBP whose QPD-3 is that id finds the record (Z32), without demographics and among twins the demographics cannot tell apart', async () => {
      const birth = yearsAgo(1, 40);
      const first = await child('Haddad', 'Lina', birth);
      const second = await child('Haddad', 'Lina', birth, { multipleBirthInteger: 2 });
      const twins = await post(qbp('', 'Haddad', 'Lina', birth));
      expect(profileOf(twins.msg), twins.text).toBe('Z31');
      for (const id of [first, second]) {
        const named = await post(qbp(`${id}^^^IIS^SR`, 'Haddad', 'Lina', birth));
        expect(profileOf(named.msg), named.text).toBe('Z32');
        expect(pid3(named.msg.getSegment('PID'))).toEqual([`${id}^^^IIS^SR`]);
        const bare = await post(qbp(`${id}^^^IIS^SR`, '', '', ''));
        expect(profileOf(bare.msg), bare.text).toBe('Z32');
        expect(pid3(bare.msg.getSegment('PID'))).toEqual([`${id}^^^IIS^SR`]);
      }
      // Held to the demographics sent like any identifier: another birth date is not this child.
      const contradicted = await post(qbp(`${first}^^^IIS^SR`, 'Haddad', 'Lina', yearsAgo(5)));
      expect(profileOf(contradicted.msg), contradicted.text).toBe('Z33');
    });

    it("an SR id of another authority, or the IIS authority with another type, is not this registry's id", async () => {
      const birth = yearsAgo(3, 5);
      const id = await child('Brennan', 'Maeve', birth);
      for (const qpd3 of [`${id}^^^OTHERIIS^SR`, `${id}^^^IIS^MR`, `${id}^^^IIS&2.16.840.1.113883.3.1&ISO^SR`]) {
        const { msg, text } = await post(qbp(qpd3, '', '', ''));
        expect(profileOf(msg), `${qpd3}: ${text}`).toBe('Z33');
        expect(msg.getSegment('QAK')?.getField(2).toString()).toBe('NF');
      }
    });

    it('a child hidden from the caller by data sharing is not found by its id (Z33 NF, no PID)', async () => {
      const birth = yearsAgo(2, 77);
      const id = await child('Sorensen', 'Freja', birth);
      const consent = await server.fhir('POST', 'Consent', {
        body: sharingConsent(id, {
          dateTime: new Date().toISOString(),
          organization: [{ reference: 'Organization/clinic-a' }],
          policyRule: undefined,
          provision: { type: 'deny' },
        }),
      });
      expect(consent.status, consent.text).toBe(201);
      const clinicB = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-b' });
      const hidden = await post(qbp(`${id}^^^IIS^SR`, 'Sorensen', 'Freja', birth), clinicB);
      expect(profileOf(hidden.msg), hidden.text).toBe('Z33');
      expect(hidden.msg.getAllSegments('PID')).toHaveLength(0);
      const clinicA = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-a' });
      const owner = await post(qbp(`${id}^^^IIS^SR`, 'Sorensen', 'Freja', birth), clinicA);
      expect(profileOf(owner.msg), owner.text).toBe('Z32');
    });

    it('a VXU whose PID-3 is that id updates the record it names (not stored as an identifier); of another authority it does not', async (ctx) => {
      if (!server.store.supportsTransactions) {
        console.log(`${kind} store without multi-document transactions: a VXU is refused (AR) there (vxu.test.ts), so the VXU side of the registry id is not run`);
        ctx.skip();
      }
      const birth = yearsAgo(1, 222);
      const id = await child('Lindgren', 'Tove', birth);
      // A surname changed since (Lindgren → Lindgren-Berg): demographics alone would not name the record for certain.
      const message = (pid3Value: string, filler: string, given = 'Tove') =>
        vxu({ pid: `PID|1||${pid3Value}||Lindgren-Berg^${given}^^^^^L||${birth}|F`, orders: [order({ filler, cvx: '08', date: hl7Date(20) })] });
      const ack = await post(message(`${id}^^^IIS^SR`, 'SR-DOSE-1'));
      expect(ack.msg.getSegment('MSA')?.getField(1).toString(), ack.text).toBe('AA');
      const doses = await server.fhir('GET', `Immunization?patient=Patient/${id}`);
      expect(doses.body.entry ?? [], JSON.stringify(doses.body)).toHaveLength(1);
      const record = await server.fhir('GET', `Patient/${id}`);
      expect(record.body.identifier ?? []).toEqual([]);
      expect(record.body.name.map((n: { family: string }) => n.family)).toContain('Lindgren-Berg');
      // Sent again with a record number of the submitter too: the same record, which now keeps that number.
      const again = await post(message(`SR-MRN-7^^^MYEHR^MR~${id}^^^IIS^SR`, 'SR-DOSE-2'));
      expect(again.msg.getSegment('MSA')?.getField(1).toString(), again.text).toBe('AA');
      expect((await server.fhir('GET', `Immunization?patient=Patient/${id}`)).body.entry).toHaveLength(2);
      expect((await server.fhir('GET', `Patient/${id}`)).body.identifier.map((i: { value: string }) => i.value)).toEqual(['SR-MRN-7']);
      const rsp = await post(qbp(`SR-MRN-7^^^MYEHR^MR`, 'Lindgren-Berg', 'Tove', birth));
      expect(pid3(rsp.msg.getSegment('PID')), rsp.text).toEqual(['SR-MRN-7^^^MYEHR^MR', `${id}^^^IIS^SR`]);

      // Another registry's SR id with the same value names nothing here (a sibling, say): not this record's dose.
      const foreign = await post(message(`${id}^^^OTHERIIS^SR`, 'SR-DOSE-3', 'Signe'));
      expect(foreign.msg.getSegment('MSA')?.getField(1).toString(), foreign.text).toMatch(/^A[AE]$/);
      expect((await server.fhir('GET', `Immunization?patient=Patient/${id}`)).body.entry).toHaveLength(2);
    });
  });
}
