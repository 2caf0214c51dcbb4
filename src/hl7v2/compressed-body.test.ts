// POST /hl7v2 with gzip/deflate bodies against a running server (embedded store): inflated as they
// arrive (http.ts inflatedBody, src/http/body.ts inflateAsItComes), a single message within
// HL7V2_MAX_MESSAGE_BYTES as if sent uncompressed — an oversize one answered its AR before the rest
// of its body is sent —, a batch file within the body limit and BODY_MAX_INFLATE_RATIO.
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { controlId, hl7Date, order, pid, VIS_OBX, vxu, yearsAgo } from './test-messages.js';
import { firstAnswer } from './test-http.js';

/** HL7V2_MAX_MESSAGE_BYTES of the server (small, so an oversize message is quick to build). */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** What a single message may take, on the wire or inflated (hl7BodyLimit). */
const SINGLE_LIMIT = MAX_MESSAGE_BYTES + 64 * 1024;
const authority = 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/MYEHR';
let server: TestServer;
let token: string;
beforeAll(async () => {
  server = await startTestServer('embedded', { hl7v2MaxMessageBytes: MAX_MESSAGE_BYTES });
  token = server.token({ scope: 'user/*.cruds', organization: 'Organization/compressed-clinic' });
});
afterAll(async () => {
  await server?.close();
});

async function post(body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; connection: string | null }> {
  const res = await fetch(`${server.url}/hl7v2`, {
    method: 'POST',
    headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${token}`, ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: res.status, text: await res.text(), connection: res.headers.get('connection') };
}

const requestHead = (headers: string) =>
  `POST /hl7v2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/hl7-v2\r\nContent-Encoding: gzip\r\nAuthorization: Bearer ${token}\r\n${headers}\r\n`;
const segments = (text: string) => text.split('\r');
const msa = (text: string) => segments(text).find((s) => s.startsWith('MSA|')) ?? '';
const err = (text: string) => segments(text).find((s) => s.startsWith('ERR|')) ?? '';
/** An answer without MSH-7 and MSH-10 (its time and control id). */
const withoutTimeAndId = (answer: string) =>
  segments(answer)
    .map((s) => (s.startsWith('MSH|') ? s.split('|').map((f, i) => (i === 6 || i === 9 ? '' : f)).join('|') : s))
    .join('\r');

function accepted(mrn: string, family: string): string {
  const given = hl7Date(10);
  return vxu({ controlId: controlId('GZ'), pid: pid({ mrn, family, given: 'Ana', birth: yearsAgo(1) }), orders: [order({ filler: `${mrn}-1`, cvx: '08', date: given, obx: VIS_OBX(given) })] });
}
/** NTE segments of varied text, `bytes` long or a little more: compresses about 3–5 times, like real notes. */
function notes(bytes: number): string {
  const lines: string[] = [];
  for (let i = 0, length = 0; length < bytes; i++, length += lines[lines.length - 1].length + 1) {
    lines.push(`NTE|${i}||note ${(i * 7919) % 100_003} lot ${(i * 104_729) % 99_991} site ${(i * 31_337) % 9973}`);
  }
  return lines.join('\r');
}
/** NTE segments of random base64: compresses hardly at all. */
function randomNotes(bytes: number): string {
  const lines: string[] = [];
  for (let i = 0; i * 80 < bytes; i++) lines.push(`NTE|${i}||${Buffer.from(Array.from({ length: 60 }, () => Math.floor(Math.random() * 256))).toString('base64')}`);
  return lines.join('\r');
}
async function patients(mrn: string): Promise<unknown[]> {
  const res = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(`${authority}|${mrn}`)}`);
  return res.body.entry ?? [];
}
const BHS = (id: string) => `BHS|^~\\&|Test EHR Application|X68|IIS|IIS Facility|${hl7Date(0)}0830-0500||||${id}`;

describe('POST /hl7v2 with a compressed body', () => {
  it('a gzip, deflate or raw-deflate message within the limit is answered as when sent uncompressed', async () => {
    for (const [encoding, compress] of [['gzip', gzipSync], ['deflate', deflateSync], ['deflate', deflateRawSync]] as const) {
      const mrn = `GZ-OK-${encoding}-${compress.name}`;
      const { status, text } = await post(compress(accepted(mrn, 'Gzipson')), { 'content-encoding': encoding });
      expect(status, text).toBe(200);
      expect(msa(text)).toMatch(/^MSA\|AA\|/);
      expect(await patients(mrn)).toHaveLength(1);
    }
    const identity = await post(accepted('GZ-OK-identity', 'Gzipson'), { 'content-encoding': 'identity' });
    expect(msa(identity.text), identity.text).toMatch(/^MSA\|AA\|/);
    expect((await post(Buffer.from('x'), { 'content-encoding': 'br' })).status).toBe(415);
    expect((await post(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' })).status).toBe(400);
  });

  it('a single message over HL7V2_MAX_MESSAGE_BYTES gets the AR of an uncompressed one, before the rest of its body is sent', async () => {
    const big = `${accepted('GZ-HUGE-1', 'Gzipson')}\r${notes(2 * SINGLE_LIMIT)}`;
    const uncompressed = await post(big);
    expect(uncompressed.status).toBe(413);
    expect(err(uncompressed.text)).toMatch(/\|207\^/);
    const compressed = gzipSync(big);
    expect(compressed.length).toBeLessThan(SINGLE_LIMIT); // over the limit only once inflated
    // Sent whole: the same AR, and the connection closed after it.
    const whole = await post(compressed, { 'content-encoding': 'gzip' });
    expect(whole.status).toBe(413);
    expect(whole.connection).toBe('close');
    expect(withoutTimeAndId(whole.text)).toBe(withoutTimeAndId(uncompressed.text));
    // Its Content-Length declared, and only the compressed bytes that inflate past the limit sent;
    // chunked, the same bytes in one chunk and no end: both answered now, not when the rest comes.
    const pastLimit = compressed.subarray(0, Math.ceil(compressed.length * 0.8));
    const declared = firstAnswer(Number(new URL(server.url).port), [requestHead(`Content-Length: ${compressed.length}\r\n`), pastLimit], 5000);
    const chunked = firstAnswer(Number(new URL(server.url).port), [requestHead('Transfer-Encoding: chunked\r\n'), Buffer.concat([Buffer.from(`${pastLimit.length.toString(16)}\r\n`), pastLimit, Buffer.from('\r\n')])], 5000);
    for (const answer of await Promise.all([declared, chunked])) {
      expect(answer.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer.head).toMatch(/\r\nconnection: close\r\n/i);
      expect(withoutTimeAndId(answer.body)).toBe(withoutTimeAndId(uncompressed.text));
    }
    // Compressed bytes over the limit themselves (notes that hardly compress), declared: answered
    // after the first bytes show a single message, not after the rest.
    const incompressible = gzipSync(`${accepted('GZ-HUGE-2', 'Gzipson')}\r${randomNotes(2 * SINGLE_LIMIT)}`);
    expect(incompressible.length).toBeGreaterThan(SINGLE_LIMIT);
    const early = await firstAnswer(Number(new URL(server.url).port), [requestHead(`Content-Length: ${incompressible.length}\r\n`), incompressible.subarray(0, 4096)], 5000);
    expect(early.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(withoutTimeAndId(early.body)).toBe(withoutTimeAndId(uncompressed.text));
    expect(await patients('GZ-HUGE-1')).toHaveLength(0);
    expect(await patients('GZ-HUGE-2')).toHaveLength(0);
  });

  it('a compressed batch file keeps the batch limits: larger than a single message may be, it is answered message by message', async () => {
    const padded = `${accepted('GZ-BAT-1', 'Batchson')}\r${notes(SINGLE_LIMIT + 10_000)}`;
    const body = [BHS('GZ'), padded, accepted('GZ-BAT-2', 'Batchson'), 'BTS|2'].join('\r');
    expect(Buffer.byteLength(body)).toBeGreaterThan(SINGLE_LIMIT);
    const { status, text } = await post(gzipSync(body), { 'content-encoding': 'gzip' });
    expect(status, text).toBe(200);
    // The padded message is over the single-message limit: its own AR in the batch; the other is stored.
    expect(segments(text).filter((s) => s.startsWith('MSA|')).map((s) => s.split('|')[1])).toEqual(['AR', 'AA']);
    expect(await patients('GZ-BAT-2')).toHaveLength(1);
  });

  it('a compressed batch bomb is refused at BODY_MAX_INFLATE_RATIO (413, an AR naming it), not inflated to the body limit', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from(`${BHS('BOMB')}\r`), Buffer.alloc(64 * 1024 * 1024, 0x20)]), { level: 9 });
    const { status, text, connection } = await post(bomb, { 'content-encoding': 'gzip' });
    expect(status).toBe(413);
    expect(connection).toBe('close');
    expect(err(text)).toMatch(/\|207\^/);
    expect(err(text)).toContain('BODY_MAX_INFLATE_RATIO');
  });
});
