import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readBody } from './body.js';

function request(body: Buffer, headers: Record<string, string> = {}): IncomingMessage {
  const stream = Readable.from(body.length > 0 ? [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)] : []) as unknown as IncomingMessage;
  (stream as { headers: Record<string, string> }).headers = headers;
  return stream;
}

const LIMITS = { maxBytes: 1000, maxInflateRatio: 10 };
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
    expect(await refusal(readBody(request(bomb, { 'content-encoding': 'gzip' }), LIMITS))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_MAX_INFLATE_RATIO') });
    const big = gzipSync(Buffer.alloc(5000, 0x20));
    expect(await refusal(readBody(request(big, { 'content-encoding': 'gzip' }), { maxBytes: 1000, maxInflateRatio: 1000 }))).toMatchObject({ status: 413, text: expect.stringContaining('BODY_LIMIT') });
  });

  it('refuses unknown encodings (415) and corrupt compressed data (400)', async () => {
    expect(await refusal(readBody(request(Buffer.from('x'), { 'content-encoding': 'br' }), LIMITS))).toMatchObject({ status: 415 });
    expect(await refusal(readBody(request(Buffer.from('not gzip'), { 'content-encoding': 'gzip' }), LIMITS))).toMatchObject({ status: 400 });
  });
});
