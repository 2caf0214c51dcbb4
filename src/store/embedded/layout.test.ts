// The write callback encodes a current version with CurrentEncoder (one reused buffer, each string
// written once) and a superseded one from its stored bytes (encodeVersionBytes): both must give
// exactly the bytes of encodeCurrent / encodeVersion, for any text (non-ASCII, surrogate pairs, lone
// surrogates), deletes, and records larger than the encoder's buffer, one after another.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { currentResourceBytes, CurrentEncoder, encodeCurrent, encodeVersion, encodeVersionBytes } from './layout.js';

const text = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('', 'é', '😀', '\ud800', 'a\udc00b'),
  fc.integer({ min: 20_000, max: 90_000 }).map((n) => 'x😀é'.repeat(n))
);
const instant = fc
  .date({ min: new Date('0001-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true })
  .map((d) => d.toISOString());

describe('CurrentEncoder', () => {
  it('gives the bytes of encodeCurrent, record after record', () => {
    const encoder = new CurrentEncoder();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 2 ** 32 - 1 }), instant, fc.option(text, { nil: null }), text), { minLength: 1, maxLength: 4 }),
        (records) => {
          for (const [v, u, resourceJson, sJson] of records) {
            expect(Buffer.compare(encoder.encode(v, u, resourceJson, sJson), encodeCurrent(v, u, resourceJson, sJson))).toBe(0);
          }
        }
      ),
      { numRuns: 300 }
    );
  });

  it('encodeVersionBytes of a current version gives encodeVersion of its JSON', () => {
    fc.assert(
      fc.property(instant, fc.option(text, { nil: null }), (u, json) => {
        const current = encodeCurrent(1, u, json, '{}');
        const bytes = currentResourceBytes(current);
        expect(Buffer.compare(encodeVersionBytes(u, bytes), encodeVersion(u, bytes === null ? null : bytes.toString('utf8')))).toBe(0);
      }),
      { numRuns: 300 }
    );
  });
});
