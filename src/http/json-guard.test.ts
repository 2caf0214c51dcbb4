import { describe, expect, it } from 'vitest';
import { parseJsonWithin, type JsonLimits } from './json-guard.js';

const LIMITS: JsonLimits = { maxDepth: 8, maxStringLength: 50, maxArrayLength: 5, maxValues: 100 };

function refusal(text: string): { status: number; text: string } | undefined {
  try {
    parseJsonWithin(text, LIMITS);
    return undefined;
  } catch (err) {
    const e = err as { status: number; outcome: { issue: Array<{ diagnostics: string }> } };
    return { status: e.status, text: e.outcome.issue[0].diagnostics };
  }
}

describe('parseJsonWithin', () => {
  it('parses what JSON.parse parses when it is within the limits', () => {
    const text = '{"resourceType":"Patient","name":[{"given":["A","B"],"family":"C \\"q\\" \\\\"}],"active":true,"n":-1.5e3,"x":null}';
    expect(parseJsonWithin(text, LIMITS)).toEqual(JSON.parse(text));
    expect(parseJsonWithin('[]', LIMITS)).toEqual([]);
    expect(parseJsonWithin(' 42 ', LIMITS)).toBe(42);
  });

  it('refuses a repeated key, also when written with escapes, but not the same key in sibling objects', () => {
    expect(refusal('{"id":"a","id":"b"}')).toMatchObject({ status: 400, text: expect.stringContaining('"id" appears twice') });
    expect(refusal('{"id":"a","\\u0069d":"b"}')).toMatchObject({ status: 400 });
    expect(refusal('{"a":{"b":1,"c":{"b":2,"b":3}}}')?.text).toContain('$.a.c');
    expect(refusal('[{"id":"a"},{"id":"b"}]')).toBeUndefined();
    expect(refusal('{"a":{"id":1},"id":2}')).toBeUndefined();
  });

  it('refuses nesting, long strings, long arrays and too many values with a 400 naming the limit', () => {
    expect(refusal('['.repeat(9) + ']'.repeat(9))?.text).toContain('JSON_MAX_DEPTH');
    expect(refusal('['.repeat(8) + ']'.repeat(8))).toBeUndefined();
    expect(refusal(`{"a":"${'x'.repeat(51)}"}`)?.text).toContain('JSON_MAX_STRING_LENGTH');
    expect(refusal(`{"${'k'.repeat(51)}":1}`)?.text).toContain('JSON_MAX_STRING_LENGTH');
    expect(refusal(`{"a":"${'x'.repeat(50)}"}`)).toBeUndefined();
    expect(refusal('[1,2,3,4,5,6]')?.text).toContain('JSON_MAX_ARRAY_LENGTH');
    expect(refusal('[1,2,3,4,5]')).toBeUndefined();
    expect(refusal(`[${Array(5).fill(`[${Array(5).fill('[1,1,1,1,1]').join(',')}]`).join(',')}]`)?.text).toContain('JSON_MAX_VALUES');
    for (const r of [refusal('['.repeat(9) + ']'.repeat(9)), refusal('[1,2,3,4,5,6]')]) expect(r?.status).toBe(400);
  });

  it('refuses malformed JSON with a 400', () => {
    for (const bad of ['{', '{"a":1', '{"a" 1}', "{'a':1}", '[1,]', '"open', '{"a":NaN}', '']) {
      expect(refusal(bad)?.status, bad).toBe(400);
    }
  });

  it('scans a large body in linear time (no quadratic key or escape handling)', () => {
    const wide: JsonLimits = { maxDepth: 64, maxStringLength: 100_000, maxArrayLength: 1_000_000, maxValues: 10_000_000 };
    const body = `{"resourceType":"Bundle","entry":[${Array(20_000).fill('{"resource":{"resourceType":"Patient","name":[{"family":"a\\\\\\"b","given":["x","y"]}]}}').join(',')}]}`;
    const started = performance.now();
    parseJsonWithin(body, wide);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
