// The footprint of a batch's message: two messages that could reach the same record share a key
// (the same child by another identifier through matching, twins, a typo'd birth date, the same dose
// number), two unrelated children share none; a QBP is a query, what cannot be parsed touches
// nothing, anything else runs alone.
import { describe, expect, it } from 'vitest';
import { footprintOf, type Footprint } from './batch-footprint.js';
import { hl7Date, msh, order, vxu } from './test-messages.js';

const options = { maxBytes: 1024 * 1024, organization: 'Organization/clinic' };

/** A PID whose every matching field is given (test-messages' pid() shares one address and phone between all children). */
function child(p: { id: string; authority?: string; family: string; given: string; birth: string; phone?: string; street?: string; maiden?: string; ssn?: string }): string {
  const ids = `${p.id}^^^${p.authority ?? 'MYEHR'}^MR${p.ssn ? `~${p.ssn}^^^SSA^SS` : ''}`;
  return `PID|1||${ids}||${p.family}^${p.given}^^^^^L|${p.maiden ?? ''}|${p.birth}|M|||${p.street ?? ''}||${p.phone ? `^PRN^PH^^^617^${p.phone}` : ''}`;
}
const message = (pid: string, filler = `${Math.random()}`) => vxu({ pid, orders: [order({ filler, cvx: '08', date: hl7Date(3) })] });
const keysOf = (footprint: Footprint): string[] => (footprint.kind === 'record' ? footprint.keys : []);
const shared = (a: string, b: string): string[] => {
  const other = new Set(keysOf(footprintOf(b, options)));
  return keysOf(footprintOf(a, options)).filter((k) => other.has(k));
};

describe('batch message footprint', () => {
  const birth = hl7Date(40);

  it("the hospital's placeholder newborn and the clinic's legal name (no identifier in common) share a key", () => {
    const hospital = message(child({ id: 'H-1', authority: 'GENHOSP', family: 'Okafor', given: 'Baby Boy', birth }));
    const clinic = message(child({ id: 'C-1', authority: 'CLINICEHR', family: 'Okafor', given: 'Chidi', birth, phone: '5550101' }));
    expect(shared(hospital, clinic)).toContain(`match d:${birth}`);
  });

  it('twins, a birth date one day off or with the year mistyped, and a shared SSN share keys', () => {
    const a = message(child({ id: 'T-1', family: 'Lindqvist', given: 'Maja', birth: '20240310' }));
    expect(shared(a, message(child({ id: 'T-2', family: 'Lindqvist', given: 'Elsa', birth: '20240310' })))).not.toEqual([]);
    expect(shared(a, message(child({ id: 'T-3', family: 'Lindqvist', given: 'Maja', birth: '20240311' })))).not.toEqual([]);
    expect(shared(a, message(child({ id: 'T-4', family: 'Lindqvist', given: 'Maja', birth: '20230310' })))).not.toEqual([]);
    const withSsn = (id: string, family: string, b: string) => message(child({ id, family, given: 'Sam', birth: b, ssn: '401235567' }));
    expect(shared(withSsn('S-1', 'Abara', '20200101'), withSsn('S-2', 'Brandt', '20210707'))).not.toEqual([]);
  });

  it('a phone, an address or a dose number in common is a shared key', () => {
    const a = message(child({ id: 'P-1', family: 'Abara', given: 'Ada', birth: '20200101', phone: '5550199', street: '12 Oak St^^Boston^MA^02110' }));
    expect(shared(a, message(child({ id: 'P-2', family: 'Brandt', given: 'Bo', birth: '20210707', phone: '5550199' })))).toEqual(['match ph:6175550199']);
    expect(shared(a, message(child({ id: 'P-3', family: 'Brandt', given: 'Bo', birth: '20210707', street: '12 Oak St^^Boston^MA^02110' }))).length).toBeGreaterThan(0);
    const dose1 = message(child({ id: 'D-1', family: 'Abara', given: 'Ada', birth: '20200101' }), 'ORDER-77');
    const dose2 = message(child({ id: 'D-2', family: 'Brandt', given: 'Bo', birth: '20210707' }), 'ORDER-77');
    expect(shared(dose1, dose2).some((k) => k.startsWith('dose '))).toBe(true);
  });

  it('two unrelated children share nothing; the same child again shares its identifier', () => {
    const a = message(child({ id: 'U-1', family: 'Abara', given: 'Ada', birth: '20200101', phone: '5550101', street: '1 Elm St^^Boston^MA^02110' }));
    const b = message(child({ id: 'U-2', family: 'Brandt', given: 'Bo', birth: '20210707', phone: '5550202', street: '2 Pine Rd^^Lowell^MA^01850' }));
    expect(keysOf(footprintOf(a, options)).length).toBeGreaterThan(3);
    expect(shared(a, b)).toEqual([]);
    const again = message(child({ id: 'U-1', family: 'Abara', given: 'Ada', birth: '20200101' }));
    expect(shared(a, again)).toContain('pid https://iis-fhir-server.org/fhir/sid/hl7v2-authority/myehr|u-1');
    // Another spelling of the same record number (case) is the same key.
    expect(shared(a, message(child({ id: 'u-1', family: 'Zeller', given: 'Zoe', birth: '20190909' })))).toContain('pid https://iis-fhir-server.org/fhir/sid/hl7v2-authority/myehr|u-1');
  });

  it('a QBP is a query, what cannot be parsed touches nothing, another type or an unreadable VXU runs alone', () => {
    const qbp = [msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z34^CDCPHINVS' }), 'QPD|Z34^Request Immunization History^CDCPHINVS|Q1|U-1^^^MYEHR^MR|Abara^Ada^^^^^L||20200101', 'RCP|I|10^RD&Records&HL70126'].join('\r');
    expect(footprintOf(qbp, options)).toEqual({ kind: 'query' });
    expect(footprintOf('MSH|^~\\&|broken\rPID|1', { maxBytes: 10 })).toEqual({ kind: 'none' });
    expect(footprintOf('not a message', options)).toEqual({ kind: 'none' });
    expect(footprintOf([msh({ type: 'ADT^A04^ADT_A01' }), 'PID|1||X-1^^^MYEHR^MR||Abara^Ada||20200101'].join('\r'), options)).toEqual({ kind: 'alone' });
    expect(footprintOf(vxu({ pid: 'PID|1||||Abara^Ada^^^^^L||20200101|F', orders: [] }), options)).toEqual({ kind: 'alone' });
  });
});
