// QBP^Q11 Z34/Z44 → RSP^K11 Z31/Z32/Z33/Z42 over POST /hl7v2, and the round trip of the CDC
// guide's core data elements (Table A-2): VXU → FHIR → RSP Z32 gives back what was sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hl7Message, type Hl7Segment } from '@medplum/core';
import { Message } from 'node-hl7-client';
import { mergeParameters, startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { components, parseMessage, repetitions } from './er7.js';
import { controlId, hl7Date, msh, order, pid, vxu, yearsAgo } from './test-messages.js';
import { postHl7v2 } from './test-http.js';
import { doseSegments } from './fhir-to-v2.js';
import { EXT, PERFORMER_FUNCTION } from './vxu-to-fhir.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer('embedded');
});
afterAll(async () => {
  await server?.close();
});

const post = (message: string, token?: string) => postHl7v2(server, message, token);

function qbp(qpd: string, profile = 'Z34', limit = '10'): string {
  return [msh({ type: 'QBP^Q11^QBP_Q11', profile: `${profile}^CDCPHINVS`, controlId: controlId('Q') }), qpd, `RCP|I|${limit}^RD&Records&HL70126`].join('\r');
}
function qpd(fields: { tag?: string; id?: string; family: string; given: string; birth: string; sex?: string; maiden?: string }, profile = 'Z34'): string {
  const name = profile === 'Z44' ? 'Request Evaluated History and Forecast' : 'Request Immunization History';
  return `QPD|${profile}^${name}^CDCPHINVS|${fields.tag ?? 'TAG1'}|${fields.id ?? ''}|${fields.family}^${fields.given}^^^^^L|${fields.maiden ?? ''}|${fields.birth}|${fields.sex ?? ''}`;
}
const profileOf = (msg: Hl7Message) => msg.getSegment('MSH')?.getComponent(21, 1);
const qakStatus = (msg: Hl7Message) => msg.getSegment('QAK')?.getField(2).toString();

/** A VXU carrying every core data element of Table A-2 the registry stores. */
function fullVxu(): string {
  const given = hl7Date(20);
  const birth = yearsAgo(0, 200);
  return vxu({
    pid: [
      'PID|1||RT-7001^^^MYEHR^MR~123456789^^^SSA^SS||Whitaker^Noah^James^Jr^^^L|Ferreira^Ana^^^^^M|' + birth,
      'M||2106-3^White^CDCREC|14 Elm St^Apt 2^Lowell^MA^01850^USA^L||^PRN^PH^^^978^5551234|||||||||2186-5^not Hispanic or Latino^CDCREC||Y|2|||||',
    ].join('|'),
    pd1: `PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|${hl7Date(30)}|||A|${hl7Date(30)}|${hl7Date(30)}`,
    nk1: ['NK1|1|Whitaker^Ana^^^^^L|MTH^Mother^HL70063|14 Elm St^Apt 2^Lowell^MA^01850^USA^L|^PRN^PH^^^978^5551234'],
    orders: [
      [
        'ORC|RE|PL-881^EHR|RT-7001-1^NDA^2.16.840.1.113883.3.72.5.9.1^ISO|||||||7824^Jackson^Lily^Suzanne^^^^^NIST-PI-1^L^^^PRN||654^Thomas^Wilma^Elizabeth^^^^^NIST-PI-1^L^^^MD',
        `RXA|0|1|${given}||08^Hep B, adolescent or pediatric^CVX|0.5|mL^mL^UCUM||00^New immunization record^NIP001|7832-1^Lemon^Mike^A^^^^^NIST-AA-1^^^^PRN|^^^X68||||Z0860BB|${hl7Date(-300)}|SKB^GlaxoSmithKline^MVX|||CP|A`,
        'RXR|C28161^Intramuscular^NCIT|LT^Left Thigh^HL70163',
        `OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F|||${given}`,
        `OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC50^Public^CDCPHINVS||||||F|||${given}`,
        `OBX|3|CE|69764-9^Document type^LN|3|253088698300012711120420^^cdcgs1vis||||||F|||${given}`,
        `OBX|4|TS|29768-9^Date Vis Published^LN|3|20200815||||||F|||${given}`,
        `OBX|5|TS|29769-7^Date Vis Presented^LN|3|${given}||||||F|||${given}`,
        `OBX|6|CE|31044-1^Reaction^LN|4|39579001^Anaphylaxis^SCT||||||F|||${given}`,
      ],
      [
        'ORC|RE||RT-7001-2^NDA^2.16.840.1.113883.3.72.5.9.1^ISO',
        `RXA|0|1|${hl7Date(15)}||03^MMR^CVX|999|||00^New immunization record^NIP001|||||||||00^Parental decision^NIP002||RE|A`,
        `OBX|1|CE|30945-0^Vaccination contraindication^LN|1|91930004^Allergy to eggs^SCT||||||F|||${hl7Date(15)}`,
      ],
    ],
  });
}

/** The Table A-2 fields compared between the VXU and the Z32 (segment, field, components to compare). */
const CORE_FIELDS: Array<[string, number, number?]> = [
  ['PID', 3],
  ['PID', 5],
  ['PID', 6, 1],
  ['PID', 7],
  ['PID', 8],
  ['PID', 10],
  ['PID', 11],
  ['PID', 13],
  ['PID', 22],
  ['PID', 24],
  ['PID', 25],
  ['PD1', 11],
  ['PD1', 12],
  ['PD1', 13],
  ['PD1', 16],
  ['PD1', 17],
  ['NK1', 2],
  ['NK1', 3],
  ['NK1', 4],
  ['NK1', 5],
  ['ORC', 2],
  ['ORC', 3],
  ['ORC', 10],
  ['ORC', 12],
  ['RXA', 3],
  ['RXA', 5],
  ['RXA', 6],
  ['RXA', 7],
  ['RXA', 9],
  ['RXA', 10],
  ['RXA', 11],
  ['RXA', 15],
  ['RXA', 16],
  ['RXA', 17],
  ['RXA', 18],
  ['RXA', 20],
  ['RXA', 21],
  ['RXR', 1],
  ['RXR', 2],
];

function fieldText(seg: Hl7Segment | undefined, field: number, comp?: number): string {
  if (!seg) return '(no segment)';
  if (comp) return components(seg, field)[comp - 1] ?? '';
  return repetitions(seg, field).map((r) => r.join('^').replace(/\^+$/, '')).join('~');
}

describe('QBP^Q11 Z34 → RSP^K11', () => {
  it('Table A-2 core data elements round-trip VXU → FHIR → RSP Z32', async () => {
    const message = fullVxu();
    const stored = await post(message);
    expect(stored.msg.getSegment('MSA')?.getField(1).toString(), stored.text).toMatch(/^A[AE]$/);
    const sent = parseMessage(message, { maxBytes: 1e7 }).message;

    const { msg, text } = await post(qbp(qpd({ id: 'RT-7001^^^MYEHR^MR', family: 'Whitaker', given: 'Noah', birth: components(sent.getSegment('PID') as Hl7Segment, 7)[0] })));
    expect(profileOf(msg), text).toBe('Z32');
    expect(qakStatus(msg)).toBe('OK');
    expect(msg.getSegment('MSH')?.getField(9).toString()).toBe('RSP^K11^RSP_K11');
    const pairs = (name: string) => [sent.getAllSegments(name), msg.getAllSegments(name)] as const;
    const id = (await server.fhir('GET', `Patient?identifier=${encodeURIComponent('https://iis-fhir-server.org/fhir/sid/hl7v2-authority/MYEHR|RT-7001')}`)).body.entry[0].resource.id;
    for (const [name, field, comp] of CORE_FIELDS) {
      const [a, b] = pairs(name);
      expect(b.length, `${name} count`).toBe(a.length);
      // PID-3 as sent, then the registry's own id for the record (SR).
      const expected = (seg: Hl7Segment) => fieldText(seg, field, comp) + (name === 'PID' && field === 3 ? `~${id}^^^IIS^SR` : '');
      a.forEach((seg, i) => expect(fieldText(b[i], field, comp), `${name}-${field}[${i}]`).toBe(expected(seg)));
    }
    // Observations: every OBX-3 / OBX-5 sent comes back under its dose.
    const obx = (m: Hl7Message) => m.getAllSegments('OBX').map((s) => `${components(s, 3)[0]}=${fieldText(s, 5)}`).sort();
    expect(obx(msg)).toEqual(obx(sent));
    // 64994-7 needs OBX-17 (CDC guide release 1.5): the eligibility is the dose's, VXC40.
    const eligibility = msg.getAllSegments('OBX').find((s) => components(s, 3)[0] === '64994-7');
    expect(eligibility && components(eligibility, 17)[0], text).toBe('VXC40');
  });

  it('phones with a country code or an extension come back in XTN-5 / XTN-8 (with area code and local number), never in XTN-1', async () => {
    const birth = yearsAgo(3);
    const child = pid({ mrn: 'XTN-1', family: 'Virtanen', given: 'Aapo', birth }).split('|');
    child[13] = '^PRN^PH^^1^617^5551234^12~^PRN^CP^^^617^5559876';
    child[14] = '^WPN^PH^^^617^5550000^99';
    const sent = await post(vxu({ pid: child.join('|'), orders: [order({ filler: 'XTN-1-A', cvx: '08', date: hl7Date(20) })] }));
    expect(['AA', 'AE'], sent.text).toContain(sent.msg.getSegment('MSA')?.getField(1).toString());
    const { msg, text } = await post(qbp(qpd({ id: 'XTN-1^^^MYEHR^MR', family: 'Virtanen', given: 'Aapo', birth })));
    expect(profileOf(msg), text).toBe('Z32');
    const pidSegment = msg.getSegment('PID') as Hl7Segment;
    expect(repetitions(pidSegment, 13), text).toEqual([
      ['', 'PRN', 'PH', '', '1', '617', '5551234', '12'],
      ['', 'PRN', 'CP', '', '', '617', '5559876'],
    ]);
    expect(repetitions(pidSegment, 14), text).toEqual([['', 'WPN', 'PH', '', '', '617', '5550000', '99']]);
  });

  it('providers (RXA-10, ORC-10/12 XCN) come back as sent: subcomponents (FN surname, HD namespace & OID) stay subcomponents and an escaped & stays text', async () => {
    const birth = yearsAgo(3, 9);
    const administering = '7832-1^Lemon&van^Mike^A^^^^^NIST-AA-1&2.16.840.1.113883.3.72.5.40.9&ISO^^^^PRN';
    const enteredBy = '7824^Jackson\\T\\Co^Lily^Suzanne^^^^^NIST-PI-1^L^^^PRN';
    const dose = order({ filler: 'XCN-1-A', cvx: '08', date: hl7Date(20) }).map((s) =>
      s.startsWith('RXA') ? s.replace('7832-1^Lemon^Mike^A^^^^^NIST-AA-1^^^^PRN', administering) : s.startsWith('ORC') ? s.replace('7824^Jackson^Lily^Suzanne^^^^^NIST-PI-1^L^^^PRN', enteredBy) : s
    );
    expect(dose.join('\r')).toContain(administering);
    expect(dose.join('\r')).toContain(enteredBy);
    const sent = await post(vxu({ pid: pid({ mrn: 'XCN-1', family: 'Aho', given: 'Eino', birth }), orders: [dose] }));
    expect(['AA', 'AE'], sent.text).toContain(sent.msg.getSegment('MSA')?.getField(1).toString());
    const { text } = await post(qbp(qpd({ id: 'XCN-1^^^MYEHR^MR', family: 'Aho', given: 'Eino', birth })));
    const lines = text.split('\r');
    expect(lines.find((l) => l.startsWith('RXA|'))?.split('|')[10], text).toBe(administering);
    expect(lines.find((l) => l.startsWith('ORC|'))?.split('|')[10], text).toBe(enteredBy);
    const stored = await server.fhir('GET', 'Immunization?identifier=XCN-1-A');
    expect(stored.body.entry[0].resource.performer[0].actor.display).toBe('Mike Lemon');
  });

  it('RXA-11 (administered-at location) comes back as sent: an escaped & in the facility name is text, not the separator before an OID', async () => {
    for (const [mrn, family, location, display, oid] of [
      ['LOC-1', 'Aalto', '^^^Clinic\\T\\Co', 'Clinic&Co', undefined],
      ['LOC-2', 'Berglund', '^^^Clinic\\T\\Co&2.16.840.1.113883.19&ISO', 'Clinic&Co', 'urn:oid:2.16.840.1.113883.19'],
    ] as const) {
      const birth = yearsAgo(2, 11);
      const dose = order({ filler: `${mrn}-A`, cvx: '08', date: hl7Date(20) }).map((s) => (s.startsWith('RXA') ? s.replace('|^^^X68|', `|${location}|`) : s));
      expect(dose.join('\r')).toContain(location);
      const sent = await post(vxu({ pid: pid({ mrn, family, given: 'Eino', birth }), orders: [dose] }));
      expect(['AA', 'AE'], sent.text).toContain(sent.msg.getSegment('MSA')?.getField(1).toString());
      const { text } = await post(qbp(qpd({ id: `${mrn}^^^MYEHR^MR`, family, given: 'Eino', birth })));
      expect(text.split('\r').find((l) => l.startsWith('RXA|'))?.split('|')[11], text).toBe(location);
      const stored = (await server.fhir('GET', `Immunization?identifier=${mrn}-A`)).body.entry[0].resource;
      expect(stored.location.display).toBe(display);
      expect(stored.location.identifier?.value).toBe(oid);
    }
  });

  it('a provider stored before subcomponents were kept apart (its XCN components as raw text) comes back with its subcomponents, not \\T\\-escaped', () => {
    const legacy = JSON.stringify(['7832-1', 'Lemon&van', 'Mike', 'A', '', '', '', '', 'NIST-AA-1&2.16.840.1.113883.3.72.5.40.9&ISO']);
    const segments = doseSegments({
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] },
      patient: { reference: 'Patient/x' },
      occurrenceDateTime: '2024-01-02',
      performer: [{ function: { coding: [{ system: PERFORMER_FUNCTION, code: 'AP' }] }, actor: { display: 'Mike Lemon&van' }, extension: [{ url: EXT.xcn, valueString: legacy }] }],
    });
    const rxa = segments.find((seg) => seg.name === 'RXA') as Hl7Segment;
    expect(rxa.toString().split('|')[10]).toBe('7832-1^Lemon&van^Mike^A^^^^^NIST-AA-1&2.16.840.1.113883.3.72.5.40.9&ISO');
  });

  it('a query by name and birth date only finds the child through $match (Z32)', async () => {
    const { msg, text } = await post(qbp(qpd({ family: 'Whitaker', given: 'Noah', birth: yearsAgo(0, 200), sex: 'M', maiden: 'Ferreira' })));
    expect(profileOf(msg), text).toBe('Z32');
    expect(msg.getAllSegments('RXA').length).toBe(2);
  });

  it("a query by a twin's SSN and birth date with the co-twin's first name does not answer the registered twin's history", async () => {
    const birth = yearsAgo(1, 3);
    const registered = vxu({
      pid: pid({ mrn: 'TW-1', family: 'Okonkwo', given: 'Noah', birth }).replace(/^(PID\|1\|\|)([^|]*)/, (_m, head: string) => `${head}TW-1^^^MYEHR^MR~401235567^^^SSA^SS`),
      orders: [order({ filler: 'TW-1-HEPB', cvx: '08', date: hl7Date(10) })],
    });
    expect((await post(registered)).msg.getSegment('MSA')?.getField(1).toString()).toMatch(/^A[AE]$/);
    // the same SSN (a parent's, on both twins' records) and birth date, another first name
    const coTwin = await post(qbp(qpd({ id: '401235567^^^SSA^SS', family: 'Okonkwo', given: 'Liam', birth, sex: 'M' })));
    expect(profileOf(coTwin.msg), coTwin.text).not.toBe('Z32');
    expect(coTwin.msg.getAllSegments('RXA')).toHaveLength(0);
    // … the registered twin's own name with that SSN still finds his history
    const own = await post(qbp(qpd({ id: '401235567^^^SSA^SS', family: 'Okonkwo', given: 'Noah', birth, sex: 'M' })));
    expect(profileOf(own.msg), own.text).toBe('Z32');
    expect(own.msg.getAllSegments('RXA')).toHaveLength(1);
  });

  it('several candidates: Z31 with one PID each; more than RCP-2: Z33 with QAK TM; none: Z33 NF', async () => {
    const birth = yearsAgo(4);
    for (const [mrn, phone, street] of [
      ['TW-1', '6175550101', '1 Main St'],
      ['TW-2', '5085550199', '99 Oak Ave'],
    ]) {
      await post(
        vxu({
          pid: `PID|1||${mrn}^^^OTHER^MR||Garcia^Maria^^^^^L||${birth}|F|||${street}^^Springfield^MA^01101^USA^L||^PRN^PH^^^${phone.slice(0, 3)}^${phone.slice(3)}`,
          orders: [order({ filler: `${mrn}-A`, cvx: '08', date: hl7Date(30) })],
        })
      );
    }
    const many = await post(qbp(qpd({ family: 'Garcia', given: 'Maria', birth })));
    expect(profileOf(many.msg), many.text).toBe('Z31');
    expect(many.msg.getAllSegments('PID').length).toBe(2);
    expect(many.msg.getAllSegments('RXA').length).toBe(0);

    const tooMany = await post(qbp(qpd({ family: 'Garcia', given: 'Maria', birth }), 'Z34', '1'));
    expect(profileOf(tooMany.msg), tooMany.text).toBe('Z33');
    expect(qakStatus(tooMany.msg)).toBe('TM');
    expect(tooMany.msg.getAllSegments('PID').length).toBe(0);

    const none = await post(qbp(qpd({ family: 'Nobody', given: 'Known', birth: '20010101' })));
    expect(profileOf(none.msg)).toBe('Z33');
    expect(qakStatus(none.msg)).toBe('NF');
    expect(none.msg.getSegment('MSA')?.getField(1).toString()).toBe('AA');
  });

  it('a patient whose data sharing is No is answered as not found to another organization', async () => {
    const clinicA = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-a' });
    const clinicB = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-b' });
    const birth = yearsAgo(2);
    await post(
      vxu({
        pid: pid({ mrn: 'PRIV-1', authority: 'CLINICA', family: 'Moreau', given: 'Elise', birth, sex: 'F' }),
        pd1: `PD1|||||||||||01^No reminder/recall^HL70215|Y|${hl7Date(5)}`,
        orders: [order({ filler: 'PRIV-1-A', cvx: '08', date: hl7Date(30) })],
      }),
      clinicA
    );
    const query = qbp(qpd({ id: 'PRIV-1^^^CLINICA^MR', family: 'Moreau', given: 'Elise', birth }));
    const other = await post(query, clinicB);
    expect(profileOf(other.msg), other.text).toBe('Z33');
    expect(qakStatus(other.msg)).toBe('NF');
    const owner = await post(query, clinicA);
    expect(profileOf(owner.msg), owner.text).toBe('Z32');
    expect(owner.msg.getSegment('PD1')?.getField(12).toString()).toBe('Y');
    const publicHealth = await post(query);
    expect(profileOf(publicHealth.msg)).toBe('Z32');
  });

  it('a No recorded on a record later merged away still shows in the survivor\'s PD1-12, and hides the survivor from another organization', async () => {
    const clinicA = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-a' });
    const clinicB = server.token({ scope: 'user/*.cruds', organization: 'Organization/clinic-b' });
    const birth = yearsAgo(1, 100);
    const ids: string[] = [];
    for (const [mrn, given, pd1] of [
      ['PRIVM-S', 'Hedda', `PD1|||||||||||01^No reminder/recall^HL70215|Y|${hl7Date(5)}`],
      ['PRIVM-T', 'Hedvig', undefined],
    ] as const) {
      const ack = await post(vxu({ pid: pid({ mrn, authority: 'CLINICA', family: 'Lindqvist', given, birth, sex: 'F' }), ...(pd1 ? { pd1 } : {}), orders: [order({ filler: `${mrn}-1`, cvx: '08', date: hl7Date(30) })] }), clinicA);
      expect(ack.msg.getSegment('MSA')?.getField(1).toString(), ack.text).toMatch(/^A[AE]$/);
      const found = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(`https://iis-fhir-server.org/fhir/sid/hl7v2-authority/CLINICA|${mrn}`)}`);
      ids.push(found.body.entry[0].resource.id);
    }
    expect((await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(ids[0], ids[1]) })).status).toBe(200);
    const query = qbp(qpd({ id: 'PRIVM-T^^^CLINICA^MR', family: 'Lindqvist', given: 'Hedvig', birth, sex: 'F' }));
    const owner = await post(query, clinicA);
    expect(profileOf(owner.msg), owner.text).toBe('Z32');
    expect(owner.msg.getSegment('PD1')?.getField(12).toString(), owner.text).toBe('Y');
    const other = await post(query, clinicB);
    expect(profileOf(other.msg), other.text).toBe('Z33');
  });

  it('a record merged away twice (a → b → c): a query by its first record number and demographics answers the surviving record, every dose (Z32, Z42)', async () => {
    const birth = yearsAgo(1, 40);
    const records = [
      { mrn: 'MRG-A', given: 'Siri', maiden: 'Dahl', cvx: '08', date: hl7Date(90) },
      { mrn: 'MRG-B', given: 'Sigrid', maiden: 'Berg', cvx: '20', date: hl7Date(60) },
      { mrn: 'MRG-C', given: 'Sara', maiden: 'Lund', cvx: '10', date: hl7Date(30) },
    ];
    const ids: string[] = [];
    for (const r of records) {
      const pidText = pid({ mrn: r.mrn, family: 'Vikstrom', given: r.given, birth, sex: 'F' }).replace('Lam^Morgan^^^^^M', `${r.maiden}^Anna^^^^^M`);
      expect((await post(vxu({ pid: pidText, orders: [order({ filler: `${r.mrn}-1`, cvx: r.cvx, date: r.date })] }))).msg.getSegment('MSA')?.getField(1).toString()).toMatch(/^A[AE]$/);
      const found = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(`https://iis-fhir-server.org/fhir/sid/hl7v2-authority/MYEHR|${r.mrn}`)}`);
      ids.push(found.body.entry[0].resource.id);
    }
    expect(new Set(ids).size).toBe(3);
    for (const [source, target] of [
      [ids[0], ids[1]],
      [ids[1], ids[2]],
    ]) {
      expect((await server.fhir('POST', 'Patient/$merge', { body: mergeParameters(source, target) })).status).toBe(200);
    }
    // The submitter still knows the child by its first record: the two records merged away carry
    // that number too, and must not hide the survivor that carries it.
    for (const profile of ['Z34', 'Z44']) {
      const res = await post(qbp(qpd({ id: 'MRG-A^^^MYEHR^MR', family: 'Vikstrom', given: 'Siri', maiden: 'Dahl^Anna', birth, sex: 'F' }, profile), profile));
      expect(profileOf(res.msg), res.text).toBe(profile === 'Z34' ? 'Z32' : 'Z42');
      expect(res.msg.getAllSegments('PID')).toHaveLength(1);
      expect(repetitions(res.msg.getSegment('PID') as Hl7Segment, 3).map((r) => r[0])).toContain('MRG-C');
      const cvx = res.msg.getAllSegments('RXA').map((rxa) => rxa.getComponent(5, 1));
      expect(cvx.filter((c) => c !== '998').sort()).toEqual(['08', '10', '20']);
    }
  });

  it('a query by surname and birth date without a given name is run through $match (Z31), not refused AR for an empty given name', async () => {
    const birth = yearsAgo(5, 33);
    for (const [mrn, given] of [
      ['SN-1', 'Ilse'],
      ['SN-2', 'Oskar'],
    ]) {
      await post(vxu({ pid: pid({ mrn, family: 'Vanderpoel', given, birth }), orders: [order({ filler: `${mrn}-A`, cvx: '08', date: hl7Date(30) })] }));
    }
    const { msg, text } = await post(qbp(qpd({ family: 'Vanderpoel', given: '', birth })));
    expect(msg.getSegment('MSA')?.getField(1).toString(), text).toBe('AA');
    expect(profileOf(msg), text).toBe('Z31');
    expect(msg.getAllSegments('PID')).toHaveLength(2);
  });

  it('a query without identifier or name and birth date: Z33 with QAK AE and an ERR', async () => {
    const { msg, status } = await post(qbp('QPD|Z34^Request Immunization History^CDCPHINVS|TAG9||Smith'));
    expect(status).toBe(400);
    expect(profileOf(msg)).toBe('Z33');
    expect(qakStatus(msg)).toBe('AE');
    expect(msg.getSegment('ERR')?.getComponent(3, 1)).toBe('101');
  });

  it('a query built by node-hl7-client (a real HL7 client library) is answered', async () => {
    const message = new Message({
      messageHeader: {
        msh_9_1: 'QBP',
        msh_9_2: 'Q11',
        msh_9_3: 'QBP_Q11',
        msh_10: controlId('NHC'),
        msh_11_1: 'P',
      },
    });
    message.set('MSH.12', '2.5.1');
    message.set('MSH.21.1', 'Z34');
    message.set('MSH.21.3', 'CDCPHINVS');
    const q = message.addSegment('QPD');
    q.set('1.1', 'Z34');
    q.set('1.3', 'CDCPHINVS');
    q.set('2', 'NHC-TAG');
    q.set('3.1', 'RT-7001');
    q.set('3.4', 'MYEHR');
    q.set('3.5', 'MR');
    q.set('4.1', 'Whitaker');
    q.set('4.2', 'Noah');
    q.set('6', yearsAgo(0, 200));
    const rcp = message.addSegment('RCP');
    rcp.set('1', 'I');
    rcp.set('2.1', '5');
    rcp.set('2.2', 'RD');
    const { msg, text } = await post(message.toString());
    expect(profileOf(msg), text).toBe('Z32');
    expect(msg.getSegment('QAK')?.getField(1).toString()).toBe('NHC-TAG');
  });
});

describe('QBP^Q11 Z44 → RSP^K11 Z42', () => {
  it('answers the evaluated history and forecast from the forecasting engine', async () => {
    const { msg, text } = await post(qbp(qpd({ id: 'RT-7001^^^MYEHR^MR', family: 'Whitaker', given: 'Noah', birth: yearsAgo(0, 200) }, 'Z44'), 'Z44'));
    expect(profileOf(msg), text).toBe('Z42');
    expect(msg.getSegment('QAK')?.getComponent(3, 1)).toBe('Z44');
    const rxa = msg.getAllSegments('RXA');
    expect(rxa.some((s) => s.getComponent(5, 1) === '998')).toBe(true);
    const obx = msg.getAllSegments('OBX').map((s) => `${s.getComponent(3, 1)}=${s.getField(5).toString()}`);
    expect(obx).toContain('59781-5=Y');
    expect(obx.some((o) => o.startsWith('30956-7=45^HepB^CVX'))).toBe(true);
    expect(obx.some((o) => o.startsWith('30980-7='))).toBe(true);
  });

  it('OBX-1 runs 1, 2, 3… within each RXA group: the evaluation continues after the dose\'s own OBX (never a second OBX|1 under one dose)', async () => {
    const { msg, text } = await post(qbp(qpd({ id: 'RT-7001^^^MYEHR^MR', family: 'Whitaker', given: 'Noah', birth: yearsAgo(0, 200) }, 'Z44'), 'Z44'));
    expect(profileOf(msg), text).toBe('Z42');
    const groups: string[][] = [];
    for (const s of msg.segments) {
      if (s.name === 'RXA') groups.push([]);
      else if (s.name === 'OBX' && groups.length > 0) groups[groups.length - 1].push(s.getField(1).toString());
    }
    expect(groups.length, text).toBeGreaterThanOrEqual(3);
    // The first dose carries six OBX of its own (funding, VIS, reaction) before its evaluation.
    expect(groups[0].length, text).toBeGreaterThan(6);
    for (const ids of groups) expect(ids, text).toEqual(ids.map((_, i) => String(i + 1)));
  });

  it('each history RXA carries RXA-4 (end of administration) the same as RXA-3, as the forecast\'s RXA 998 does', async () => {
    const { msg, text } = await post(qbp(qpd({ id: 'RT-7001^^^MYEHR^MR', family: 'Whitaker', given: 'Noah', birth: yearsAgo(0, 200) }, 'Z44'), 'Z44'));
    const rxa = msg.getAllSegments('RXA');
    expect(rxa.length, text).toBeGreaterThanOrEqual(3);
    for (const s of rxa) {
      expect(s.getField(3).toString(), text).toMatch(/^\d{8}/);
      expect(s.getField(4).toString(), text).toBe(s.getField(3).toString());
    }
  });

  it('names each evaluated and forecast vaccine group by its CVX code: one OBX group per vaccine group of a dose (DTaP, not its three antigens)', async () => {
    const birth = yearsAgo(0, 100);
    const sent = await post(vxu({ pid: pid({ mrn: 'Z42-GRP-1', family: 'Lindqvist', given: 'Elsa', birth, sex: 'F' }), orders: [order({ filler: 'Z42-GRP-1-A', cvx: '20', date: hl7Date(30) })] }));
    expect(['AA', 'AE'], sent.text).toContain(sent.msg.getSegment('MSA')?.getField(1).toString());
    const { msg, text } = await post(qbp(qpd({ id: 'Z42-GRP-1^^^MYEHR^MR', family: 'Lindqvist', given: 'Elsa', birth }, 'Z44'), 'Z44'));
    expect(profileOf(msg), text).toBe('Z42');
    // The OBX under the DTaP dose (before the forecast's RXA 998).
    const segments = msg.segments;
    const dose = segments.findIndex((s) => s.name === 'RXA' && s.getComponent(5, 1) === '20');
    const forecast = segments.findIndex((s) => s.name === 'RXA' && s.getComponent(5, 1) === '998');
    const evaluated = segments.slice(dose + 1, forecast).filter((s) => s.name === 'OBX');
    const types = evaluated.filter((s) => s.getComponent(3, 1) === '30956-7').map((s) => s.getField(5).toString());
    expect(types, text).toEqual(['107^DTaP/Tdap/Td^CVX']);
    expect(evaluated.map((s) => `${s.getComponent(3, 1)}=${s.getField(5).toString()}`)).toEqual(expect.arrayContaining(['30973-2=1', '59781-5=Y']));
    // Every forecast group but Chikungunya (no "unspecified" CVX) carries a code; RSV is 304 "RSV, unspecified".
    const forecastTypes = segments.slice(forecast + 1).filter((s) => s.name === 'OBX' && s.getComponent(3, 1) === '30956-7');
    expect(forecastTypes.filter((s) => !s.getComponent(5, 1)).map((s) => s.getComponent(5, 2))).toEqual(['Chikungunya']);
    expect(forecastTypes.map((s) => s.getField(5).toString())).toContain('304^RSV^CVX');
  });
});

describe('QAK', () => {
  it('QAK-3 echoes QPD-1 as sent, also for a query this registry does not answer (QAK-2 AE)', async () => {
    const unknown = [msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z99^CDCPHINVS', controlId: controlId('Q') }), 'QPD|Z99^Some Other Query^CDCPHINVS|TAG-Z99|X-1^^^MYEHR^MR', 'RCP|I|5^RD&Records&HL70126'].join('\r');
    const { msg, text } = await post(unknown);
    expect(qakStatus(msg), text).toBe('AE');
    expect(msg.getSegment('QAK')?.getField(3).toString(), text).toBe('Z99^Some Other Query^CDCPHINVS');
  });
});

describe('RXA-18 in a Z32', () => {
  it('a refusal stored without a NIP002 reason (RE sent without RXA-18) comes back as NIP002 02 "Other", never as PATOBJ', async () => {
    const birth = yearsAgo(1);
    const refusal = order({ filler: 'RXA18-1-MMR', cvx: '03', date: hl7Date(3), completion: 'RE', amount: '999' });
    const sent = await post(vxu({ pid: pid({ mrn: 'RXA18-1', family: 'Saarinen', given: 'Eero', birth }), orders: [refusal] }));
    expect(['AA', 'AE'], sent.text).toContain(sent.msg.getSegment('MSA')?.getField(1).toString());
    const { msg, text } = await post(qbp(qpd({ id: 'RXA18-1^^^MYEHR^MR', family: 'Saarinen', given: 'Eero', birth })));
    const rxa = msg.getAllSegments('RXA').find((s) => s.getComponent(20, 1) === 'RE');
    expect(rxa && components(rxa, 18), text).toEqual(['02', 'patient objection', 'NIP002']);
  });
});

// The MongoDB tier (TEST_MONGODB_URL): the records made over FHIR (a VXU needs transactions), merged
// a → b → c, the query by a's record number answers c as on the embedded store.
describe.skipIf(!testMongoUrl())('a record merged away twice, on MongoDB', () => {
  let mongo: TestServer;
  beforeAll(async () => {
    mongo = await startTestServer('mongodb');
  });
  afterAll(async () => {
    await mongo?.close();
  });

  it('a query by its first record number answers the surviving record with every dose (Z32)', async () => {
    const birth = yearsAgo(1, 50);
    const iso = `${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6, 8)}`;
    const ids: string[] = [];
    for (const [i, given] of ['Siri', 'Sigrid', 'Sara'].entries()) {
      const created = await mongo.fhir('POST', 'Patient', {
        body: {
          resourceType: 'Patient',
          identifier: [{ system: 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/MYEHR', value: `MGM-${i}` }],
          name: [{ family: 'Vikstrom', given: [given] }],
          birthDate: iso,
          gender: 'female',
          extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: ['Dahl', 'Berg', 'Lund'][i] }],
        },
      });
      expect(created.status, created.text).toBe(201);
      ids.push(created.body.id);
      const dose = { resourceType: 'Immunization', status: 'completed', vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: ['08', '20', '10'][i] }] }, patient: { reference: `Patient/${created.body.id}` }, occurrenceDateTime: new Date(Date.now() - (90 - i * 30) * 86_400_000).toISOString().slice(0, 10), primarySource: false };
      expect((await mongo.fhir('POST', 'Immunization', { body: dose })).status).toBe(201);
    }
    expect((await mongo.fhir('POST', 'Patient/$merge', { body: mergeParameters(ids[0], ids[1]) })).status).toBe(200);
    expect((await mongo.fhir('POST', 'Patient/$merge', { body: mergeParameters(ids[1], ids[2]) })).status).toBe(200);
    // The record number, family name and birth date (no given name: demographics alone name no one certainly).
    const { msg, text } = await postHl7v2(mongo, qbp(qpd({ id: 'MGM-0^^^MYEHR^MR', family: 'Vikstrom', given: '', birth, sex: 'F' })));
    expect(profileOf(msg), text).toBe('Z32');
    expect(repetitions(msg.getSegment('PID') as Hl7Segment, 3).map((r) => r[0])).toContain('MGM-2');
    expect(msg.getAllSegments('RXA').map((rxa) => rxa.getComponent(5, 1)).sort()).toEqual(['08', '10', '20']);
  });
});
