// The Prefer header (RFC 7240) as every FHIR route reads it.
import { describe, expect, it } from 'vitest';
import { parsePrefer } from './app.js';

describe('parsePrefer', () => {
  it('reads return, handling and respond-async, case-insensitive names, quoted values', () => {
    expect(parsePrefer('return=minimal')).toEqual({ return: 'minimal' });
    expect(parsePrefer('RETURN="OperationOutcome", Handling=lenient, respond-async')).toEqual({ return: 'OperationOutcome', handling: 'lenient', respondAsync: true });
    expect(parsePrefer('return=bogus')).toEqual({});
    expect(parsePrefer(undefined)).toEqual({});
  });

  it('a preference named twice is read from its first instance (RFC 7240 §2), as two Prefer headers joined are', () => {
    expect(parsePrefer('return=minimal, return=representation')).toEqual({ return: 'minimal' });
    expect(parsePrefer('handling=strict, handling=lenient')).toEqual({ handling: 'strict' });
    // The first instance names a value this server does not know: the preference is not given.
    expect(parsePrefer('return=bogus, return=minimal')).toEqual({});
  });
});
