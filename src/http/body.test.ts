import { PassThrough, Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { deflateRawSync, deflateSync, Gunzip, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INFLATE_STEP_BYTES, inflateAsItComes, readBody } from './body.js';

function request(body: Buffer, headers: Record<string, string> = {}): IncomingMessage {
  const stream = Readable.from(body.length > 0 ? [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)] : []) as unknown as IncomingMessage;
  (stream as { headers: Record<string, string> }).headers = headers;
  return stream;
}

const LIMITS = { maxBytes: 1000, maxInflateRatio: 10 };

/** A request whose body is `sent` and then nothing more (it never ends), with `headers`. */
function unfinished(sent: Buffer, headers: Record<string, string>): IncomingMessage {
  const stream = new PassThrough();
  stream.write(sent);
  (stream as unknown as { headers: Record<string, string> }).headers = headers;
  return stream as unknown as IncomingMessage;
}
/** The headers of a body sent with its Content-Length (inflated as it arrives) or chunked (read whole first). */
const framings = (body: Buffer, encoding: string): Array<Record<string, string>> => [{ 'content-encoding': encoding, 'content-length': String(body.length) }, { 'content-encoding': encoding }];
const refusal = (p: Promise<unknown>) => p.then(() => undefined, (err: { status: number; outcome: { issue: Array<{ diagnostics: string }> } }) => ({ status: err.status, text: err.outcome.issue[0].diagnostics }));

describe('readBody', () => {
  it('reads plain, gzip, zlib-deflate and raw-deflate bodies', async () => {
    const text = Buffer.from('{"resourceType":"Patient"}');
    expect(await readBody(request(text), LIMITS)).toEqual(text);
    expect(await readBody(request(gzipSync(text), { 'content-encoding': 'gzip' }), LIMITS)).toEqual(text);
    expect(await readBody(request(deflateSync(text), { 'content-encoding': 'deflate' }), LIMITS)).toEqual(text);
    expect(await readBody(request(deflateRawSync(text), { 'content-encoding': 'deflate' }), LIMITS)).toEqual(text);
  });

  it('refuses bodies over the limit on the wire, declared or streamed (413)', async () => {
    expect(await refusal(readBody(request(Buffer.alloc(10), { 'content-length': '5000' }), LIMITS))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_LIMIT') });
    expect(await refusal(readBody(request(Buffer.alloc(1500)), LIMITS))).toMatchObject({ status: 413 });
  });

  it('stops inflating at the ratio or the limit (413), and names which', async () => {
    const bomb = gzipSync(Buffer.alloc(900, 0x20)); // about 30 bytes inflating to 900: over 10 times
    const big = gzipSync(Buffer.alloc(5000, 0x20));
    for (const [bombHeaders, bigHeaders] of [0, 1].map((i) => [framings(bomb, 'gzip')[i], framings(big, 'gzip')[i]])) {
      expect(await refusal(readBody(request(bomb, bombHeaders), LIMITS))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
      expect(await refusal(readBody(request(big, bigHeaders), { maxBytes: 1000, maxInflateRatio: 1000 }))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_LIMIT') });
    }
  });

  it('refuses unknown encodings (415) and corrupt compressed data (400)', async () => {
    expect(await refusal(readBody(request(Buffer.from('x'), { 'content-encoding': 'br' }), LIMITS))).toMatchObject({ status: 415 });
    expect(await refusal(readBody(request(Buffer.from('not gzip'), { 'content-encoding': 'gzip' }), LIMITS))).toMatchObject({ status: 400 });
  });

  describe('bombs are stopped as soon as a bound is passed', () => {
    // Every byte any zlib stream (gunzip, inflate, inflateRaw; stream or one-shot API) produces goes
    // through the common Zlib prototype's push: counted there, whatever readBody uses.
    const zlibPrototype = Object.getPrototypeOf(Gunzip.prototype) as { push(chunk: Buffer | null, encoding?: BufferEncoding): boolean };
    const push = zlibPrototype.push;
    let inflated = 0;
    beforeEach(() => {
      inflated = 0;
      zlibPrototype.push = function (this: unknown, chunk: Buffer | null, encoding?: BufferEncoding) {
        if (chunk) inflated += chunk.length;
        return push.call(this, chunk, encoding);
      };
    });
    afterEach(() => {
      zlibPrototype.push = push;
    });
    const PRODUCTION = { maxBytes: 16 * 1024 * 1024, maxInflateRatio: 100 };

    it('a gzip body inflating to 16 MB (about 16 KB compressed) is refused after inflating at most 4 steps, not 16 MB', async () => {
      const bomb = gzipSync(Buffer.alloc(PRODUCTION.maxBytes, 0x20), { level: 9 });
      expect(bomb.length).toBeLessThan(32 * 1024);
      // By the ratio of the whole body it is over 100 times as well, so the answer names the ratio.
      expect(await refusal(readBody(request(bomb, { 'content-encoding': 'gzip' }), PRODUCTION))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
      expect(inflated).toBeGreaterThan(0);
      expect(inflated).toBeLessThanOrEqual(4 * INFLATE_STEP_BYTES);
    });

    it('a raw-deflate bomb (64 MB of "[") is refused after inflating at most 4 steps', async () => {
      const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024, 0x5b));
      for (const headers of framings(bomb, 'deflate')) {
        inflated = 0;
        expect(await refusal(readBody(request(bomb, headers), PRODUCTION))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
        expect(inflated).toBeLessThanOrEqual(4 * INFLATE_STEP_BYTES);
      }
    });

    it('at a ratio no bomb reaches, BODY_LIMIT stops it one step past the limit', async () => {
      const limits = { maxBytes: 1024 * 1024, maxInflateRatio: 1_000_000 };
      const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 9 });
      expect(await refusal(readBody(request(bomb, { 'content-encoding': 'gzip' }), limits))).toMatchObject({ status: 413, text: expect.stringContaining('(BODY_LIMIT)') });
      expect(inflated).toBeLessThanOrEqual(limits.maxBytes + 2 * INFLATE_STEP_BYTES);
    });

    it('a genuine compressed body of several MB is read whole, in steps', async () => {
      // JSON-like text of varied values: compresses about 5–10 times, like FHIR JSON.
      const parts: string[] = [];
      for (let i = 0, length = 0; length < 3 * 1024 * 1024; i++, length += parts[parts.length - 1].length) parts.push(`{"resourceType":"Patient","id":"p${i}","name":[{"family":"F${(i * 7919) % 100_003}","given":["G${(i * 104_729) % 99_991}"]}],"birthDate":"19${10 + (i % 90)}-0${1 + (i % 9)}-1${i % 10}"},`);
      const text = Buffer.from(parts.join(''));
      for (const [encoding, body] of [['gzip', gzipSync(text)], ['deflate', deflateSync(text)], ['deflate', deflateRawSync(text)]] as const) {
        for (const headers of framings(body, encoding)) {
          expect((await readBody(request(body, headers), PRODUCTION)).equals(text), JSON.stringify(headers)).toBe(true);
        }
      }
    });

    it('a body of a declared length is inflated as it arrives: a bomb is refused before the rest is sent', async () => {
      const bomb = gzipSync(Buffer.alloc(PRODUCTION.maxBytes, 0x20), { level: 9 });
      const headers = { 'content-encoding': 'gzip', 'content-length': String(bomb.length) };
      expect(await refusal(readBody(unfinished(bomb.subarray(0, bomb.length >> 2), headers), PRODUCTION))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
      expect(inflated).toBeLessThanOrEqual(4 * INFLATE_STEP_BYTES);
    });

    /** A transaction Bundle of `identical` copies of one entry, then `varied` different ones. */
    function bundleText(identical: number, varied: number): Buffer {
      const entry = (i: number, family: string) =>
        JSON.stringify({ fullUrl: `urn:uuid:${i}`, resource: { resourceType: 'Patient', name: [{ family, given: ['Ann'] }], birthDate: '2020-01-01' }, request: { method: 'POST', url: 'Patient' } });
      const same = entry(0, 'Same');
      const entries = [...Array.from({ length: identical }, () => same), ...Array.from({ length: varied }, (_, i) => entry(i + 1, `F${(i * 7919) % 100_003}x${(i * 104_729) % 99_991}`))];
      return Buffer.from(`{"resourceType":"Bundle","type":"transaction","entry":[${entries.join(',')}]}`);
    }

    it('a body whose start inflates far more than the ratio is read whole when the whole body is within it', async () => {
      // 3,000 identical entries (~520 KB, inflating ~230 times) then 12,000 varied ones: the whole
      // body inflates ~10 times, its first steps far more than 100 times the bytes they consumed.
      const text = bundleText(3000, 12_000);
      for (const [encoding, body] of [['gzip', gzipSync(text)], ['gzip', gzipSync(text, { level: 9 })], ['deflate', deflateSync(text)], ['deflate', deflateRawSync(text)]] as const) {
        expect(text.length / body.length).toBeLessThan(PRODUCTION.maxInflateRatio);
        for (const headers of framings(body, encoding)) {
          expect((await readBody(request(body, headers), PRODUCTION)).equals(text), JSON.stringify(headers)).toBe(true);
        }
      }
      // The start alone, with as many varied entries as keep the first steps over the ratio: the
      // whole is over it, and refused.
      const startOnly = gzipSync(bundleText(3000, 10));
      expect(await refusal(readBody(request(startOnly, { 'content-encoding': 'gzip' }), PRODUCTION))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
    });

    it('a body repeating a longer unit, over the ratio, is stopped once it cannot end within it: after ratio × its compressed bytes', async () => {
      // 300-byte units inflate ~230 times, like identical entries: not plainly a bomb, so read until
      // the output passes 100 times the whole compressed body.
      const unit = Buffer.from(Array.from({ length: 300 }, (_, i) => 0x61 + ((i * 7) % 26)));
      const body = gzipSync(Buffer.concat(Array.from({ length: (8 * 1024 * 1024) / 300 }, () => unit)));
      for (const headers of framings(body, 'gzip')) {
        inflated = 0;
        expect(await refusal(readBody(request(body, headers), PRODUCTION))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
        expect(inflated).toBeGreaterThan(PRODUCTION.maxInflateRatio * body.length - INFLATE_STEP_BYTES);
        expect(inflated).toBeLessThanOrEqual(PRODUCTION.maxInflateRatio * body.length + 2 * INFLATE_STEP_BYTES);
      }
    });

    it('a gzip level-1 bomb (inflating ~230 times per step, as identical entries do) is refused after at most 4 steps', async () => {
      const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 1 });
      expect(await refusal(readBody(request(bomb, { 'content-encoding': 'gzip' }), PRODUCTION))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
      expect(inflated).toBeLessThanOrEqual(4 * INFLATE_STEP_BYTES);
    });

    it('a run of a short unit inside a body within the ratio so far (an attachment of zeros) is read', async () => {
      const varied = bundleText(0, 6000).subarray(0, -2); // without its closing ']}'
      const text = Buffer.concat([varied, Buffer.from(`,{"resource":{"resourceType":"Binary","contentType":"application/octet-stream","data":"${'A'.repeat(256 * 1024)}"}}]}`)]);
      const body = gzipSync(text);
      expect((await readBody(request(body, { 'content-encoding': 'gzip' }), PRODUCTION)).equals(text)).toBe(true);
    });

    it('truncated or corrupt gzip and deflate: 400', async () => {
      const text = Buffer.from(JSON.stringify({ resourceType: 'Patient', name: [{ family: 'x'.repeat(5000) }] }));
      const gz = gzipSync(text);
      for (const [encoding, body] of [
        ['gzip', gz.subarray(0, gz.length - 12)],
        ['gzip', Buffer.concat([gz.subarray(0, 20), Buffer.from('garbage garbage garbage'), gz.subarray(40)])],
        ['deflate', deflateSync(text).subarray(0, 30)],
        ['deflate', deflateRawSync(text).subarray(0, 30)],
      ] as const) {
        for (const headers of framings(body, encoding)) {
          expect(await refusal(readBody(request(body, headers), PRODUCTION)), JSON.stringify(headers)).toMatchObject({ status: 400, text: expect.stringContaining('could not be decompressed') });
        }
      }
    });
  });
});

describe('inflateAsItComes', () => {
  const LARGE = { maxBytes: 16 * 1024 * 1024, maxInflateRatio: 100 };
  /** ER7-like text: `lines` varied segments, compressing about 4–6 times. */
  const segmentsText = (lines: number, first = 'MSH') =>
    Buffer.from([`${first}|^~\\&|A|B`, ...Array.from({ length: lines }, (_, i) => `NTE|${i}||note ${(i * 7919) % 100_003} of ${(i * 104_729) % 99_991}`)].join('\r'));

  it('reads gzip, zlib-deflate and raw-deflate bodies as readBody does', async () => {
    const text = segmentsText(20_000);
    for (const [encoding, body] of [['gzip', gzipSync(text)], ['deflate', deflateSync(text)], ['deflate', deflateRawSync(text)]] as const) {
      expect((await inflateAsItComes(request(body, { 'content-encoding': encoding }), LARGE)).equals(text), encoding).toBe(true);
    }
    expect(await refusal(inflateAsItComes(request(Buffer.from('x'), { 'content-encoding': 'br' }), LARGE))).toMatchObject({ status: 415 });
    expect(await refusal(inflateAsItComes(request(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }), LARGE))).toMatchObject({ status: 400, text: expect.stringContaining('could not be decompressed') });
  });

  it('a lower limit once the start shows what the body is: refused as soon as the inflated bytes pass it, before the rest is sent', async () => {
    const limitsOnceKnown = (head: Buffer) => (head.subarray(0, 3).toString() === 'MSH' ? { maxBytes: 100_000, maxInflateRatio: 100 } : head.length >= 3 ? LARGE : undefined);
    const overLimit = (limit: number) => Object.assign(new Error(`over ${limit}`), { status: 413, outcome: { issue: [{ diagnostics: `over ${limit}` }] } });
    // ~1.1 MB of segments; only the first half of its compressed bytes are sent, and nothing more.
    const big = gzipSync(segmentsText(40_000));
    const answer = await refusal(inflateAsItComes(unfinished(big.subarray(0, big.length >> 1), { 'content-encoding': 'gzip' }), { ...LARGE, limitsOnceKnown, overLimit }));
    expect(answer).toEqual({ status: 413, text: 'over 100000' });
    // A Content-Length past the lower limit: refused once the first step shows the limit.
    const declared = await refusal(inflateAsItComes(unfinished(big.subarray(0, 1000), { 'content-encoding': 'gzip', 'content-length': String(big.length) }), { ...LARGE, limitsOnceKnown: () => ({ maxBytes: 100_000, maxInflateRatio: 100 }), overLimit }));
    expect(declared).toEqual({ status: 413, text: 'over 100000' });
    // Another start keeps the body's limit: read whole.
    const batch = segmentsText(40_000, 'BHS');
    expect((await inflateAsItComes(request(gzipSync(batch), { 'content-encoding': 'gzip' }), { ...LARGE, limitsOnceKnown, overLimit })).equals(batch)).toBe(true);
  });

  it('a bomb with a Content-Length is refused at the ratio before the rest is sent; without one, as plainly a bomb', async () => {
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 9 });
    const sent = bomb.subarray(0, bomb.length >> 1);
    for (const headers of [{ 'content-encoding': 'gzip', 'content-length': String(bomb.length) }, { 'content-encoding': 'gzip' }] as Array<Record<string, string>>) {
      expect(await refusal(inflateAsItComes(unfinished(sent, headers), LARGE))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
    }
    // A body that repeats a longer unit over the ratio, sent whole with its length: refused past ratio × its length.
    const unit = Buffer.from(Array.from({ length: 300 }, (_, i) => 0x61 + ((i * 7) % 26)));
    const crafted = gzipSync(Buffer.concat(Array.from({ length: 20_000 }, () => unit)));
    expect(await refusal(inflateAsItComes(unfinished(crafted, { 'content-encoding': 'gzip', 'content-length': String(crafted.length) }), LARGE))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
  });

  it('the wire bytes count against the limit too (a declared length at once, a streamed body as it comes)', async () => {
    const body = gzipSync(segmentsText(40_000));
    expect(await refusal(inflateAsItComes(unfinished(body.subarray(0, 10), { 'content-encoding': 'gzip', 'content-length': String(body.length) }), { maxBytes: 1000, maxInflateRatio: 100 }))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_LIMIT') });
    expect(await refusal(inflateAsItComes(unfinished(body, { 'content-encoding': 'gzip' }), { maxBytes: 1000, maxInflateRatio: 1_000_000 }))).toMatchObject({ status: 413 });
  });
});
