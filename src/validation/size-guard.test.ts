// The size guard's walk without allocation (checkSize) answers exactly as its reference
// (checkSizeFully): nothing within both limits, and the same issue for a body past one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSize, checkSizeFully, MAX_DEPTH, MAX_NODES } from './validate-resource.js';

/** A body whose bottom value sits `levels` deep (the input is level 1), a primitive or an object at the bottom. */
function nested(levels: number, bottom: unknown, viaArrays = false): Record<string, unknown> {
  let value: unknown = bottom;
  for (let i = 2; i < levels; i++) value = viaArrays && i % 2 ? [value] : { a: value };
  return { resourceType: 'Basic', x: value };
}

function wide(values: number): Record<string, unknown> {
  // The input object counts as one value, its resourceType and `x` as two more.
  return { resourceType: 'Basic', x: Array.from({ length: values - 3 }, (_, i) => i) };
}

describe('size guard', () => {
  it('equals the reference on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 6 })), (body) => {
        expect(checkSize(body)).toEqual(checkSizeFully(body));
      }),
      { numRuns: 500 }
    );
  });

  it('equals the reference at and around both limits', () => {
    for (const levels of [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2, 10_000]) {
      for (const bottom of [1, null, 'x', {}, []]) {
        for (const viaArrays of [false, true]) {
          const body = nested(levels, bottom, viaArrays);
          expect(checkSize(body)).toEqual(checkSizeFully(body));
        }
      }
    }
    for (const values of [MAX_NODES - 1, MAX_NODES, MAX_NODES + 1, MAX_NODES + 2]) {
      const body = wide(values);
      expect(checkSize(body)).toEqual(checkSizeFully(body));
    }
    expect(checkSizeFully(wide(MAX_NODES))).toBeUndefined();
    expect(checkSizeFully(wide(MAX_NODES + 1))?.diagnostics).toContain('too large');
    // Too deep and too large at once: the reference says which it met first.
    const both = { ...wide(MAX_NODES + 10), deep: nested(MAX_DEPTH + 5, 1).x };
    expect(checkSize(both)).toEqual(checkSizeFully(both));
    expect(checkSizeFully(nested(MAX_DEPTH + 1, {}))?.diagnostics).toContain('nested too deeply');
    expect(checkSizeFully(nested(MAX_DEPTH, {}))).toBeUndefined();
  });
});
