// systemFor remembers each coding-system name's URI: the same URI as working it out afresh
// (systemNamed), for names as senders write them (case, spaces, tables, unknown names), repeated.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { systemFor, systemNamed } from './codes.js';

describe('coding-system names', () => {
  it('systemFor equals systemNamed, asked again and again', () => {
    const name = fc.oneof(
      fc.constantFrom('CVX', 'cvx', ' CVX ', 'NDC', 'MVX', 'LN', 'SCT', 'UCUM', 'CDCREC', 'CDCPHINVS', 'NCIT', 'HL70163', 'hl70064', 'HL7163', 'NIP001', 'NIP002', '99TPG', 'a b/c', '', '  '),
      fc.string({ maxLength: 12 })
    );
    fc.assert(
      fc.property(fc.array(name, { maxLength: 40 }), (names) => {
        for (const n of [...names, ...names]) expect(systemFor(n)).toBe(systemNamed(n));
      }),
      { numRuns: 500 }
    );
    expect(systemFor('HL70163')).toBe('http://terminology.hl7.org/CodeSystem/v2-0163');
    expect(systemFor('  ')).toBeUndefined();
  });
});
