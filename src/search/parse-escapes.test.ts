// splitEscaped and unescape skip their character walk and regular expression for a value without
// a backslash: the same parts and text as the walk (the reference) for any value.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitEscaped, splitEscapedSlowly, unescape } from './parse.js';

const unescapeByRegex = (value: string) => value.replace(/\\([\\,|$])/g, '$1');
// Strings rich in separators, escapes and empty parts.
const value = fc.array(fc.constantFrom('a', 'Z', '9', ',', '|', '$', '\\', ' ', 'é', ''), { maxLength: 24 }).map((parts) => parts.join(''));

describe('search value escapes', () => {
  it('splitEscaped equals the character walk', () => {
    fc.assert(
      fc.property(fc.oneof(value, fc.string()), fc.constantFrom(',', '|'), (v, sep) => {
        expect(splitEscaped(v, sep)).toEqual(splitEscapedSlowly(v, sep));
      }),
      { numRuns: 5000 }
    );
    for (const v of ['', ',', 'a,,b', 'a,b,', 'urn:oid:1.2|MRN-1,urn:oid:3|x', 'a\\,b,c', '\\', 'a\\']) {
      expect(splitEscaped(v, ',')).toEqual(splitEscapedSlowly(v, ','));
      expect(splitEscaped(v, '|')).toEqual(splitEscapedSlowly(v, '|'));
    }
  });

  it('unescape equals the regular expression', () => {
    fc.assert(
      fc.property(fc.oneof(value, fc.string()), (v) => {
        expect(unescape(v)).toBe(unescapeByRegex(v));
      }),
      { numRuns: 5000 }
    );
  });
});
