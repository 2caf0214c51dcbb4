// HL7 v2 batch files over POST /hl7v2 against running servers (embedded store): each message answered
// and stored as when it is sent alone, the batch answer's shape and counts, what a refusal stores
// (nothing), and — fast-check — that any split of messages into a batch gives the same answers as
// sending them one by one.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { controlId, hl7Date, msh, order, pid, VIS_OBX, vxu, yearsAgo } from './test-messages.js';
import { firstAnswer } from './test-http.js';

const MAX_BATCH_MESSAGES = 6;
/** HL7V2_MAX_MESSAGE_BYTES of the servers that test size limits (small, so an oversize body is quick to build). */
const MAX_MESSAGE_BYTES_SMALL = 64 * 1024;
let server: TestServer;
/** Two more servers for the property, which see only its messages: one by one there, as batches here. */
let singles: TestServer;
let batches: TestServer;
beforeAll(async () => {
  server = await startTestServer('embedded', { hl7v2MaxBatchMessages: MAX_BATCH_MESSAGES });
  singles = await startTestServer('embedded', { hl7v2MaxBatchMessages: MAX_BATCH_MESSAGES });
  batches = await startTestServer('embedded', { hl7v2MaxBatchMessages: MAX_BATCH_MESSAGES });
});
afterAll(async () => {
  await server?.close();
  await singles?.close();
  await batches?.close();
});

async function post(target: TestServer, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; contentType: string | null }> {
  const res = await fetch(`${target.url}/hl7v2`, {
    method: 'POST',
    headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${target.token({ scope: 'user/*.cruds', organization: 'Organization/batch-clinic' })}`, ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') };
}

const segments = (text: string) => text.split('\r');
const field = (segment: string | undefined, n: number) => (segment ?? '').split('|')[n] ?? '';

/** The messages of a batch answer (FHS/BHS/BTS/FTS left out), each as its segments joined by CR. */
function answersIn(text: string): string[] {
  const answers: string[][] = [];
  for (const s of segments(text)) {
    if (/^(FHS|BHS|BTS|FTS)(\||$)/.test(s)) continue;
    if (s.startsWith('MSH|')) answers.push([]);
    answers.at(-1)?.push(s);
  }
  return answers.map((a) => a.join('\r'));
}

/**
 * An answer without what differs by nature between two answers to the same message on two servers:
 * MSH-7 and MSH-10, and the ids each server gave its records (named in matching's notes).
 */
function withoutTimeAndId(answer: string): string {
  return segments(answer)
    .map((s) => (s.startsWith('MSH|') ? s.split('|').map((f, i) => (i === 6 || i === 9 ? '' : f)).join('|') : s))
    .join('\r')
    .replace(/(Patient\/)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '$1(id)');
}

const FHS = (id: string) => `FHS|^~\\&|Test EHR Application|X68|IIS|IIS Facility|${hl7Date(0)}0830-0500||batch.hl7||${id}`;
const BHS = (id: string) => `BHS|^~\\&|Test EHR Application|X68|IIS|IIS Facility|${hl7Date(0)}0830-0500||||${id}`;
const authority = 'https://iis-fhir-server.org/fhir/sid/hl7v2-authority/MYEHR';

async function patients(target: TestServer, mrn: string): Promise<any[]> {
  const res = await target.fhir('GET', `Patient?identifier=${encodeURIComponent(`${authority}|${mrn}`)}`);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}
async function doses(target: TestServer, patientId: string): Promise<any[]> {
  const res = await target.fhir('GET', `Immunization?patient=Patient/${patientId}`);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}

/** A new child with a complete dose (AA). */
function accepted(mrn: string, family: string): string {
  const given = hl7Date(10);
  return vxu({ controlId: controlId('BA'), pid: pid({ mrn, family, given: 'Ana', birth: yearsAgo(1) }), orders: [order({ filler: `${mrn}-1`, cvx: '08', date: given, obx: VIS_OBX(given) })] });
}
/** A new child whose dose has no lot number: stored with a warning (AE). */
function warned(mrn: string, family: string): string {
  return vxu({ controlId: controlId('BW'), pid: pid({ mrn, family, given: 'Ben', birth: yearsAgo(2) }), orders: [order({ filler: `${mrn}-1`, cvx: '20', date: hl7Date(20), lot: '' })] });
}
/** A child without a birth date: rejected (AR), nothing stored. */
function rejected(mrn: string, family: string): string {
  return vxu({ controlId: controlId('BR'), pid: pid({ mrn, family, given: 'Cai', birth: '' }), orders: [order({ filler: `${mrn}-1`, cvx: '08', date: hl7Date(30) })] });
}
function query(family: string, given: string, birth: string, mrn = ''): string {
  const identifier = mrn ? `${mrn}^^^MYEHR^MR` : '';
  return [msh({ type: 'QBP^Q11^QBP_Q11', profile: 'Z34^CDCPHINVS', controlId: controlId('BQ') }), `QPD|Z34^Request Immunization History^CDCPHINVS|QT-1|${identifier}|${family}^${given}^^^^^L||${birth}|M`, 'RCP|I|5^RD&Records&HL70126'].join('\r');
}

describe('HL7 v2 batch files at POST /hl7v2', () => {
  it('three VXUs (AA, AE with a warning, AR): three ACKs in order, BTS|3, FTS|1; stored what the AA and AE say', async () => {
    const messages = [accepted('BAT-1', 'Okonkwo'), warned('BAT-2', 'Lindqvist'), rejected('BAT-3', 'Moreau')];
    const body = [FHS('FILE-1'), BHS('BATCH-1'), ...messages, 'BTS|3', 'FTS|1'].join('\r');
    const { status, text, contentType } = await post(server, body);
    expect(status, text).toBe(200);
    expect(contentType).toBe('application/hl7-v2; charset=utf-8');
    const seg = segments(text);
    expect(seg[0]).toMatch(/^FHS\|\^~\\&\|IIS\|IIS Facility\|Test EHR Application\|X68\|/);
    expect(field(seg[0], 11)).toBe('FILE-1');
    expect(seg[1]).toMatch(/^BHS\|/);
    expect(field(seg[1], 11)).toBe('BATCH-1');
    expect(seg.slice(-2)).toEqual(['BTS|3', 'FTS|1']);
    const acks = answersIn(text);
    expect(acks).toHaveLength(3);
    const msa = acks.map((a) => segments(a).find((s) => s.startsWith('MSA|')));
    expect(msa.map((s) => field(s, 1))).toEqual(['AA', 'AE', 'AR']);
    expect(msa.map((s) => field(s, 2))).toEqual(messages.map((m) => field(m.split('\r')[0], 9)));
    expect(segments(acks[1]).filter((s) => s.startsWith('ERR|')).map((s) => field(s, 4))).toContain('W');
    // Stored exactly what the AA and AE say: both children with their dose; the AR's child not at all.
    const [first] = await patients(server, 'BAT-1');
    const [second] = await patients(server, 'BAT-2');
    expect(await doses(server, first.id)).toHaveLength(1);
    expect(await doses(server, second.id)).toHaveLength(1);
    expect(await patients(server, 'BAT-3')).toHaveLength(0);
    // Each message is counted in the submitter report as when sent alone.
    const report = await server.fhir('GET', `../hl7v2/report?date=${new Date().toISOString().slice(0, 10)}&facility=X68`);
    expect(report.body.rows.find((r: any) => r.facility === 'X68')).toMatchObject({ received: 3, accepted: 1, acceptedWithErrors: 1, rejected: 1 });
  });

  it('a QBP inside a batch sees the VXU before it: RSP Z32 with the dose', async () => {
    const birth = yearsAgo(1);
    const given = hl7Date(12);
    const message = vxu({ controlId: controlId('BV'), pid: pid({ mrn: 'BAT-Q1', family: 'Vasquez', given: 'Dora', birth }), orders: [order({ filler: 'BAT-Q1-1', cvx: '10', date: given, obx: VIS_OBX(given) })] });
    const { status, text } = await post(server, [BHS('BQ'), message, query('Vasquez', 'Dora', birth, 'BAT-Q1'), 'BTS|2'].join('\r'));
    expect(status, text).toBe(200);
    const [ack, rsp] = answersIn(text);
    expect(field(segments(ack).find((s) => s.startsWith('MSA|')), 1)).toBe('AA');
    const rspSegments = segments(rsp);
    expect(field(rspSegments[0], 8)).toBe('RSP^K11^RSP_K11');
    expect(field(rspSegments[0], 20)).toMatch(/^Z32/);
    expect(field(rspSegments.find((s) => s.startsWith('QAK|')), 2)).toBe('OK');
    expect(rspSegments.find((s) => s.startsWith('RXA|'))).toContain('10^');
  });

  it('a batch without FHS (BHS only) is answered without FHS/FTS', async () => {
    const { status, text } = await post(server, [BHS('ONLY-BHS'), accepted('BAT-B1', 'Haddad'), 'BTS|1'].join('\r'));
    expect(status, text).toBe(200);
    const seg = segments(text);
    expect(seg[0]).toMatch(/^BHS\|/);
    expect(field(seg[0], 11)).toBe('ONLY-BHS');
    expect(seg.at(-1)).toBe('BTS|1');
    expect(seg.some((s) => /^F[HT]S/.test(s))).toBe(false);
    expect(await patients(server, 'BAT-B1')).toHaveLength(1);
  });

  it('an empty batch is answered with an empty batch', async () => {
    const { status, text } = await post(server, [FHS('EMPTY'), BHS('EMPTY-1'), 'BTS|0', 'FTS|1'].join('\r'));
    expect(status, text).toBe(200);
    expect(segments(text).map((s) => s.slice(0, 3))).toEqual(['FHS', 'BHS', 'BTS', 'FTS']);
    expect(segments(text).slice(2)).toEqual(['BTS|0', 'FTS|1']);
  });

  it('counts that disagree with the messages: refused as a whole (400), nothing stored', async () => {
    const body = [FHS('BAD-COUNT'), BHS('BAD-COUNT-1'), accepted('BAT-C1', 'Nakamura'), accepted('BAT-C2', 'Nakamura'), 'BTS|3', 'FTS|1'].join('\r');
    const { status, text } = await post(server, body);
    expect(status).toBe(400);
    expect(segments(text).filter((s) => s.startsWith('MSA|'))).toEqual(['MSA|AR']);
    expect(segments(text).find((s) => s.startsWith('ERR|'))).toMatch(/BTS-1 of batch 1 says 3 messages but the batch holds 2/);
    expect(field(segments(text)[0], 11)).toBe('BAD-COUNT');
    expect(await patients(server, 'BAT-C1')).toHaveLength(0);
    expect(await patients(server, 'BAT-C2')).toHaveLength(0);
  });

  it('a batch over the cap (HL7V2_MAX_BATCH_MESSAGES): refused as a whole (413), nothing stored', async () => {
    const messages = Array.from({ length: MAX_BATCH_MESSAGES + 1 }, (_, i) => accepted(`BAT-CAP-${i}`, 'Abara'));
    const { status, text } = await post(server, [BHS('CAP'), ...messages, `BTS|${messages.length}`].join('\r'));
    expect(status).toBe(413);
    expect(segments(text).find((s) => s.startsWith('ERR|'))).toMatch(/more than 6 messages, the limit \(HL7V2_MAX_BATCH_MESSAGES\)/);
    expect(await patients(server, 'BAT-CAP-0')).toHaveLength(0);
    // At the cap it is taken.
    const atCap = await post(server, [BHS('CAP-OK'), ...messages.slice(1), `BTS|${MAX_BATCH_MESSAGES}`].join('\r'));
    expect(atCap.status, atCap.text).toBe(200);
    expect(answersIn(atCap.text)).toHaveLength(MAX_BATCH_MESSAGES);
  });

  it('a batch larger than a single message may be (over the lane) goes through; credentials and media type as for one message', async () => {
    // Each message is ~1 KB; with NTE padding the batch is past HL7V2_MAX_MESSAGE_BYTES + 64 KiB of
    // the single-message path, so express's route reads it (the lane takes only single-message sizes).
    const pad = Array.from({ length: 600 }, (_, i) => `NTE|${i}||${'n'.repeat(300)}`).join('\r');
    const big = `${accepted('BAT-BIG-1', 'Ferreira')}\r${pad}`;
    const small = accepted('BAT-BIG-2', 'Ferreira');
    const body = [BHS('BIG'), big, small, 'BTS|2'].join('\r');
    expect(Buffer.byteLength(body)).toBeGreaterThan(150_000);
    const withSmallLimit = await startTestServer('embedded', { hl7v2MaxMessageBytes: 64 * 1024 });
    try {
      const { status, text } = await post(withSmallLimit, body);
      expect(status, text).toBe(200);
      const acks = answersIn(text);
      // The padded message is over the single-message limit: its own AR (207), as when sent alone; the other is stored.
      expect(acks.map((a) => field(segments(a).find((s) => s.startsWith('MSA|')), 1))).toEqual(['AR', 'AA']);
      expect(segments(acks[0]).find((s) => s.startsWith('ERR|'))).toMatch(/\|207\^/);
      expect(await patients(withSmallLimit, 'BAT-BIG-2')).toHaveLength(1);
      // The same padded message alone: 413, as before batches.
      expect((await post(withSmallLimit, big)).status).toBe(413);
    } finally {
      await withSmallLimit.close();
    }
    const noToken = await fetch(`${server.url}/hl7v2`, { method: 'POST', headers: { 'content-type': 'application/hl7-v2' }, body: [BHS('NT'), small, 'BTS|1'].join('\r') });
    expect(noToken.status).toBe(401);
    expect((await post(server, [BHS('CT'), small, 'BTS|1'].join('\r'), { 'content-type': 'text/plain' })).status).toBe(415);
    expect(await patients(server, 'BAT-BIG-2')).toHaveLength(0);
  });

  it('a single message over HL7V2_MAX_MESSAGE_BYTES is refused (413, the same AR) before the rest of its body is sent', async () => {
    const limit = MAX_MESSAGE_BYTES_SMALL + 64 * 1024; // what a single message may take on the wire
    const withSmallLimit = await startTestServer('embedded', { hl7v2MaxMessageBytes: MAX_MESSAGE_BYTES_SMALL });
    try {
      const token = withSmallLimit.token({ scope: 'user/*.cruds', organization: 'Organization/batch-clinic' });
      const big = `${accepted('BAT-HUGE-1', 'Ferreira')}\r${'NTE|1||'.padEnd(limit + 1, 'n')}`;
      // Sent whole and gzipped (read whole, then measured): the AR every oversize message gets.
      const whole = await post(withSmallLimit, gzipSync(big), { 'content-encoding': 'gzip' });
      expect(whole.status).toBe(413);
      const { port } = new URL(withSmallLimit.url);
      const head = (length: string) =>
        `POST /hl7v2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/hl7-v2\r\nAuthorization: Bearer ${token}\r\n${length}\r\n`;
      // A Content-Length of 16 MB of which only the first 64 KiB are sent, and a chunked body that
      // stops just past the limit and never ends: both answered now, not when (if ever) the rest comes.
      const declared = head('Content-Length: 16000000\r\n') + big.slice(0, 64 * 1024);
      const chunk = big.slice(0, limit + 1);
      const chunked = head('Transfer-Encoding: chunked\r\n') + `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`;
      for (const [name, request] of [['declared length', declared], ['chunked', chunked]]) {
        const answer = await firstAnswer(Number(port), [request], 5000);
        expect(answer.head, name).toMatch(/^HTTP\/1\.1 413 /);
        expect(answer.head, name).toMatch(/\r\nconnection: close\r\n/i);
        expect(withoutTimeAndId(answer.body), name).toBe(withoutTimeAndId(whole.text));
        expect(answer.body, name).toMatch(/\|207\^/);
      }
      expect(await patients(withSmallLimit, 'BAT-HUGE-1')).toHaveLength(0);
    } finally {
      await withSmallLimit.close();
    }
  });

  it('any split of messages into a batch gives the same answers as sending them one by one (fast-check)', async () => {
    let run = 0;
    const kinds = ['accepted', 'warned', 'rejected', 'old version', 'unknown child query', 'malformed'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(5), { maxLength: 3 }),
        fc.boolean(),
        fc.boolean(),
        async (chosen, cuts, withFile, withCounts) => {
          run += 1;
          // Names and numbers of this run only, so matching sees the same registry on both servers.
          const runFamily = `Prop${String.fromCharCode(65 + (run % 26))}${String.fromCharCode(65 + Math.floor(run / 26) % 26)}son`;
          const messages = chosen.map((kind, i) => {
            const mrn = `PROP-${run}-${i}`;
            // A surname per message too: no two children of a run look alike to matching.
            const family = `${runFamily}${'abcdef'.charAt(i)}`;
            switch (kind) {
              case 'accepted':
                return accepted(mrn, family);
              case 'warned':
                return warned(mrn, family);
              case 'rejected':
                return rejected(mrn, family);
              case 'old version':
                return accepted(mrn, family).replace('|2.5.1|', '|2.3.1|');
              case 'unknown child query':
                return query(`Nobody${runFamily}`, 'Zed', yearsAgo(3));
              case 'malformed':
                return `${accepted(mrn, family)}\rthis is not a segment`;
            }
          });
          const one = [];
          for (const m of messages) one.push(withoutTimeAndId((await post(singles, m)).text));
          // The messages cut into batches at the chosen places (some batches may be empty).
          const bounds = [...new Set(cuts.map((c) => c % (messages.length + 1)))].sort((a, b) => a - b);
          const groups: string[][] = [];
          let from = 0;
          for (const b of [...bounds, messages.length]) {
            groups.push(messages.slice(from, Math.max(from, b)));
            from = Math.max(from, b);
          }
          const lines: string[] = withFile ? [FHS(`P-${run}`)] : [];
          groups.forEach((g, i) => lines.push(BHS(`P-${run}-${i}`), ...g, withCounts ? `BTS|${g.length}` : 'BTS'));
          if (withFile) lines.push(withCounts ? `FTS|${groups.length}` : 'FTS');
          const { status, text } = await post(batches, lines.join('\r'));
          expect(status, text).toBe(200);
          expect(segments(text).filter((s) => s.startsWith('BTS')).map((s) => field(s, 1))).toEqual(groups.map((g) => String(g.length)));
          expect(answersIn(text).map(withoutTimeAndId)).toEqual(one);
        }
      ),
      { numRuns: 40 }
    );
  }, 120_000);
});

// The same on MongoDB: each message stored whole or answered AR (without multi-document
// transactions every VXU is AR, as when sent alone), never half stored, the batch answered 200.
describe.skipIf(!testMongoUrl())('HL7 v2 batch files on MongoDB', () => {
  let mongo: TestServer;
  beforeAll(async () => {
    mongo = await startTestServer('mongodb');
  });
  afterAll(async () => {
    await mongo?.close();
  });

  it('answers each message as when sent alone and stores what the ACKs say', async () => {
    const body = [BHS('MG'), accepted('MG-B1', 'Castillo'), rejected('MG-B2', 'Castillo'), 'BTS|2'].join('\r');
    const { status, text } = await post(mongo, body);
    expect(status, text).toBe(200);
    const codes = answersIn(text).map((a) => field(segments(a).find((s) => s.startsWith('MSA|')), 1));
    expect(codes[1]).toBe('AR');
    expect(await patients(mongo, 'MG-B2')).toHaveLength(0);
    if (mongo.store.supportsTransactions) {
      expect(codes[0]).toBe('AA');
      expect(await patients(mongo, 'MG-B1')).toHaveLength(1);
    } else {
      expect(codes[0]).toBe('AR');
      expect(await patients(mongo, 'MG-B1')).toHaveLength(0);
    }
  });
});
