// The batch envelope (batch.ts) with a stand-in for the single-message path: what is refused as a
// whole (and then never run), what goes to one message, the answer's shape and counts, order, the
// gate, messages about different children side by side, yielding between messages, and a batch
// that stops part-way. The real messages through the
// server: batch-http.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handleBatch, isBatch, readBatchFile, type BatchOptions } from './batch.js';
import { MessageGate } from './gate.js';
import type { MessageResult } from './messages.js';
import { StoreUnavailableError } from '../store/store.js';

const FHS = 'FHS|^~\\&|EHR|CLINIC-7|IIS|STATE|20261207083000||file.hl7||F-123';
const BHS = (id = 'B-1') => `BHS|^~\\&|EHR|CLINIC-7|IIS|STATE|20261207083000||||${id}`;
const MSG = (id: string, extra: string[] = ['PID|1||X']) => [`MSH|^~\\&|EHR|CLINIC-7|IIS|STATE|20261207083000||VXU^V04^VXU_V04|${id}|P|2.5.1`, ...extra].join('\r');

/** A stand-in for handleMessage: answers `ACK <MSH-10>` and records what it was given, in order. */
function fakeAnswer(log: string[] = [], delayMs = 0): BatchOptions['answer'] {
  return async (message) => {
    log.push(message);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    const id = message.split('|')[9];
    const result: MessageResult = { body: `MSH|^~\\&|IIS||EHR|CLINIC-7|x||ACK^V04^ACK|r-${id}|P|2.5.1\rMSA|AA|${id}`, code: 'AA', issues: [], status: 200, facility: 'CLINIC-7', messageType: 'VXU^V04' };
    return result;
  };
}

function options(overrides: Partial<BatchOptions> = {}): BatchOptions {
  return { maxMessages: 10, maxMessageBytes: 1 << 20, answer: fakeAnswer(), ...overrides };
}

const segments = (body: string) => body.split('\r');
const ids = (body: string) => segments(body).map((s) => s.slice(0, 3));

describe('batch files (batch.ts)', () => {
  it('tells a batch from a message by its first segment', () => {
    expect(isBatch(FHS)).toBe(true);
    expect(isBatch(`\uFEFF\r\n ${BHS()}`)).toBe(true);
    expect(isBatch(`\x0b${BHS()}`)).toBe(true);
    expect(isBatch(MSG('1'))).toBe(false);
    expect(isBatch('')).toBe(false);
    expect(isBatch('hello')).toBe(false);
  });

  it('answers each message in order, in a batch answering the file: FHS-12/BHS-12, BTS-1, FTS-1', async () => {
    const log: string[] = [];
    const body = [FHS, BHS('B-1'), MSG('M1'), MSG('M2'), 'BTS|2', BHS('B-2'), MSG('M3'), 'BTS|1', 'FTS|2'].join('\n');
    const answer = await handleBatch(body, options({ answer: fakeAnswer(log) }));
    expect(answer.status).toBe(200);
    expect(log).toEqual([MSG('M1'), MSG('M2'), MSG('M3')]);
    const seg = segments(answer.body);
    expect(ids(answer.body)).toEqual(['FHS', 'BHS', 'MSH', 'MSA', 'MSH', 'MSA', 'BTS', 'BHS', 'MSH', 'MSA', 'BTS', 'FTS']);
    expect(seg.filter((s) => s.startsWith('MSA')).map((s) => s.split('|')[2])).toEqual(['M1', 'M2', 'M3']);
    const fhs = seg[0].split('|');
    // Sender and receiver swapped, as in a response MSH; -11 a new id, -12 the file's -11.
    expect(fhs.slice(2, 6)).toEqual(['IIS', 'STATE', 'EHR', 'CLINIC-7']);
    expect(fhs[10]).toMatch(/^[0-9a-f]{20}$/);
    expect(fhs[11]).toBe('F-123');
    expect(seg[1].split('|')[11]).toBe('B-1');
    expect(seg[7].split('|')[11]).toBe('B-2');
    expect(seg[6]).toBe('BTS|2');
    expect(seg[10]).toBe('BTS|1');
    expect(seg[11]).toBe('FTS|2');
  });

  it('a batch without FHS is answered without FHS/FTS; a missing BTS is said in BHS-10, not refused', async () => {
    const answer = await handleBatch([BHS('ONLY'), MSG('M1'), MSG('M2')].join('\r'), options());
    expect(answer.status).toBe(200);
    expect(ids(answer.body)).toEqual(['BHS', 'MSH', 'MSA', 'MSH', 'MSA', 'BTS']);
    const bhs = segments(answer.body)[0].split('|');
    expect(bhs[9]).toMatch(/No BTS/);
    expect(bhs[11]).toBe('ONLY');
    expect(segments(answer.body).at(-1)).toBe('BTS|2');
  });

  it('an empty batch is answered with an empty batch (BTS|0)', async () => {
    const log: string[] = [];
    const answer = await handleBatch([FHS, BHS(), 'BTS|0', 'FTS|1'].join('\r'), options({ answer: fakeAnswer(log) }));
    expect(answer.status).toBe(200);
    expect(ids(answer.body)).toEqual(['FHS', 'BHS', 'BTS', 'FTS']);
    expect(segments(answer.body).slice(2)).toEqual(['BTS|0', 'FTS|1']);
    expect(log).toEqual([]);
  });

  const refused: Array<[string, string, number, RegExp]> = [
    ['BTS-1 more than the messages', [BHS(), MSG('M1'), 'BTS|2'].join('\r'), 400, /BTS-1 of batch 1 says 2 messages but the batch holds 1/],
    ['BTS-1 fewer than the messages', [BHS(), MSG('M1'), MSG('M2'), 'BTS|1'].join('\r'), 400, /says 1 messages but the batch holds 2/],
    ['BTS-1 not a number', [BHS(), MSG('M1'), 'BTS|two'].join('\r'), 400, /BTS-1 .* is not a count/],
    ['FTS-1 not the batches', [FHS, BHS(), MSG('M1'), 'BTS|1', 'FTS|2'].join('\r'), 400, /FTS-1 says 2 batches but the file holds 1/],
    ['a segment between BHS and the first MSH (a lost MSH)', [BHS(), 'PID|1||X', MSG('M1'), 'BTS|1'].join('\r'), 400, /outside any message, between BHS/],
    ['a segment after BTS', [FHS, BHS(), MSG('M1'), 'BTS|1', 'RXA|0|1', 'FTS|1'].join('\r'), 400, /outside any message, after a BTS/],
    ['text that is not a segment outside a message', [BHS(), MSG('M1'), 'BTS|1', 'hello world'].join('\r'), 400, /is not a segment and lies outside any message/],
    ['anything after FTS', [FHS, BHS(), MSG('M1'), 'BTS|1', 'FTS|1', MSG('M2')].join('\r'), 400, /Nothing may follow FTS/],
    ['FHS not first', [BHS(), FHS, MSG('M1')].join('\r'), 400, /FHS must be the first segment/],
    ['FTS without FHS', [BHS(), MSG('M1'), 'BTS|1', 'FTS|1'].join('\r'), 400, /FTS .* ends a file that has no FHS/],
    ['BTS closing nothing', [FHS, 'BTS|0', 'FTS|0'].join('\r'), 400, /closes no batch/],
    ['other delimiters in BHS', ['BHS|^~\\#|EHR', MSG('M1')].join('\r'), 400, /BHS-1 and BHS-2 must be/],
    ['other delimiters in FHS', ['FHS#^~\\&#EHR', BHS(), MSG('M1')].join('\r'), 400, /FHS-1 and FHS-2 must be/],
    ['more messages than the limit', [BHS(), ...Array.from({ length: 11 }, (_, i) => MSG(`M${i}`))].join('\r'), 413, /more than 10 messages, the limit/],
    ['more batches than the limit', Array.from({ length: 11 }, (_, i) => `${BHS(`B${i}`)}\rBTS|0`).join('\r'), 413, /more than 10 batches/],
  ];
  for (const [name, body, status, reason] of refused) {
    it(`refuses as a whole, running nothing: ${name}`, async () => {
      const log: string[] = [];
      const answer = await handleBatch(body, options({ answer: fakeAnswer(log) }));
      expect(log).toEqual([]);
      expect(answer.status).toBe(status);
      // One AR with an empty MSA-2 (no message acknowledged) in a batch of one: never an empty batch,
      // which would read as "all accepted".
      const seg = segments(answer.body);
      expect(seg.filter((s) => s.startsWith('MSA'))).toEqual(['MSA|AR']);
      expect(seg.filter((s) => s.startsWith('BTS'))).toEqual(['BTS|1']);
      expect(seg.find((s) => s.startsWith('BHS'))?.split('|')[9]).toBe('Rejected as a whole: nothing was processed');
      const err = seg.find((s) => s.startsWith('ERR'))?.split('|') ?? [];
      expect(err[4]).toBe('E');
      expect(err[8]).toMatch(reason);
      expect(err[8]).toMatch(/nothing was processed/);
    });
  }

  it('any sequence of envelope segments, messages and junk: answered 200/400/413, never thrown; refused runs nothing, else one answer per MSH in order (fast-check)', async () => {
    const line = fc.oneof(
      fc.constant(FHS),
      fc.constant(BHS()),
      fc.constant('BHS|^~\\#|X'),
      fc.nat(4).map((n) => `BTS|${n}`),
      fc.constant('BTS'),
      fc.nat(3).map((n) => `FTS|${n}`),
      fc.constant('FTS'),
      fc.constant('PID|1||X'),
      fc.constant(''),
      fc.constant(' \x1c'),
      fc.string({ maxLength: 8 }),
      fc.nat(99).map((n) => MSG(`M${n}`))
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 14 }), fc.constantFrom('\r', '\n', '\r\n'), async (lines, eol) => {
        const body = [lines[0].startsWith('FHS') || lines[0].startsWith('BHS') ? '' : BHS('FIRST'), ...lines].filter((l, i) => i > 0 || l !== '').join(eol);
        const log: string[] = [];
        const answer = await handleBatch(body, options({ maxMessages: 4, answer: fakeAnswer(log) }));
        expect([200, 400, 413]).toContain(answer.status);
        const msa = segments(answer.body).filter((s) => s.startsWith('MSA'));
        if (answer.status !== 200) {
          expect(log).toEqual([]);
          expect(msa).toEqual(['MSA|AR']);
          return;
        }
        const sent = body.split(/\r\n|\r|\n/).filter((l) => l.startsWith('MSH|')).map((l) => l.split('|')[9]);
        // Every message runs once; side by side (HL7V2_BATCH_CONCURRENCY), one that cannot be read
        // touches nothing and may start before an earlier one, so only the answers keep file order.
        expect(log.map((m) => m.split('|')[9]).sort()).toEqual([...sent].sort());
        expect(msa.map((s) => s.split('|')[2])).toEqual(sent);
        const counts = segments(answer.body).filter((s) => s.startsWith('BTS')).map((s) => Number(s.split('|')[1]));
        expect(counts.reduce((a, b) => a + b, 0)).toBe(sent.length);
      }),
      { numRuns: 500 }
    );
  });

  it('what is wrong inside a message goes to that message (read by the single-message path), not the batch', async () => {
    const log: string[] = [];
    const broken = [MSG('M2', ['PID|1||X', 'not a segment', 'RXA|0|1'])].join('\r');
    const answer = await handleBatch([BHS(), MSG('M1'), broken, MSG('M3'), 'BTS|3'].join('\r'), options({ answer: fakeAnswer(log) }));
    expect(answer.status).toBe(200);
    expect(log).toEqual([MSG('M1'), broken, MSG('M3')]);
  });

  it('reads the envelope in one pass without parsing messages: offsets of each message', () => {
    const body = [FHS, BHS(), MSG('M1'), '', MSG('M2'), 'BTS|2', 'FTS|1', ''].join('\r\n');
    const { file, problem } = readBatchFile(body, 10);
    expect(problem).toBeUndefined();
    expect(file.batches).toHaveLength(1);
    expect(file.batches[0].messages.map(([s, e]) => body.slice(s, e))).toEqual([MSG('M1'), MSG('M2')]);
  });

  it('runs one message at a time through the gate, and other messages take their turn between two of the batch', async () => {
    const gate = new MessageGate(1);
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const answer: BatchOptions['answer'] = async (message) => {
      running += 1;
      most = Math.max(most, running);
      order.push(message.split('|')[9]);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      return fakeAnswer()(message);
    };
    const batch = handleBatch([BHS(), MSG('B1'), MSG('B2'), MSG('B3'), 'BTS|3'].join('\r'), options({ gate, answer }));
    // A single message arriving while the batch runs waits at the gate like any other, and gets in
    // before the batch's next message: the batch does not hold the gate between its messages.
    await new Promise((r) => setTimeout(r, 2));
    const single = gate.run(() => answer(MSG('S1')));
    await Promise.all([batch, single]);
    expect(most).toBe(1);
    expect(order.indexOf('S1')).toBeGreaterThan(0);
    expect(order.indexOf('S1')).toBeLessThan(order.indexOf('B3'));
    expect(order.filter((id) => id.startsWith('B'))).toEqual(['B1', 'B2', 'B3']);
  });

  it('runs messages about different children side by side, at most `concurrency` at once, and single messages still get their turn at the gate', async () => {
    const gate = new MessageGate(3);
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const answer: BatchOptions['answer'] = async (message) => {
      running += 1;
      most = Math.max(most, running);
      order.push(message.split('|')[9]);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      return fakeAnswer()(message);
    };
    // Each message names another child (PID-3), but C2 and C4 the same one: C4 waits for C2.
    const child = (id: string, pid: string) => MSG(id, [`PID|1||${pid}`]);
    const messages = [child('C1', 'P1'), child('C2', 'P2'), child('C3', 'P3'), child('C4', 'P2'), child('C5', 'P5'), child('C6', 'P6')];
    const batch = handleBatch([BHS(), ...messages, 'BTS|6'].join('\r'), options({ gate, answer, concurrency: 2 }));
    await new Promise((r) => setTimeout(r, 2));
    const single = gate.run(() => answer(MSG('S1')));
    const result = await batch;
    await single;
    // Two of the batch's at once (the gate allows three): the third slot is the single message's.
    expect(most).toBe(3);
    expect(order.indexOf('S1')).toBeLessThan(order.indexOf('C4'));
    expect(order.indexOf('C2')).toBeLessThan(order.indexOf('C4'));
    expect(segments(result.body).filter((s) => s.startsWith('MSA')).map((s) => s.split('|')[2])).toEqual(['C1', 'C2', 'C3', 'C4', 'C5', 'C6']);
  });

  it('one child under two identifiers (placeholder newborn, then the legal name) keeps its order; another child runs beside', async () => {
    const events: string[] = [];
    const answer: BatchOptions['answer'] = async (message) => {
      const id = message.split('|')[9];
      events.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, 5));
      events.push(`end ${id}`);
      return fakeAnswer()(message);
    };
    // No identifier in common: only matching's keys (the same birth date, surname, mother) tie them.
    const hospital = MSG('H', ['PID|1||H-1^^^GENHOSP^MR||Okafor^Baby Boy^^^^^L|Adeyemi^Ngozi^^^^^M|20261001|M']);
    const clinic = MSG('C', ['PID|1||C-7^^^CLINICEHR^MR||Okafor^Chidi^^^^^L|Adeyemi^Ngozi^^^^^M|20261001|M']);
    const other = MSG('O', ['PID|1||O-3^^^CLINICEHR^MR||Lindqvist^Maja^^^^^L||20190505|F']);
    await handleBatch([BHS(), hospital, clinic, other, 'BTS|3'].join('\r'), options({ answer, concurrency: 4 }));
    expect(events.indexOf('start C')).toBeGreaterThan(events.indexOf('end H'));
    expect(events.indexOf('start O')).toBeLessThan(events.indexOf('end H'));
  });

  it('a store that goes away while others run: those already running keep their answers, the rest are AR, 503', async () => {
    const answer: BatchOptions['answer'] = async (message) => {
      await new Promise((r) => setTimeout(r, message.includes('|M2|') ? 1 : 10));
      if (message.includes('|M2|')) throw new StoreUnavailableError('down');
      return fakeAnswer()(message);
    };
    const child = (id: string) => MSG(id, [`PID|1||${id}`]);
    const result = await handleBatch([BHS(), child('M1'), child('M2'), child('M3'), child('M4'), 'BTS|4'].join('\r'), options({ answer, concurrency: 3 }));
    expect(result.status).toBe(503);
    // M1 and M3 were running with M2 (different children): stored, and answered so; M4 never started.
    expect(segments(result.body).filter((s) => s.startsWith('MSA'))).toEqual(['MSA|AA|M1', 'MSA|AR|M2', 'MSA|AA|M3', 'MSA|AR|M4']);
    expect(segments(result.body).filter((s) => s.startsWith('ERR'))[1]).toMatch(/Not processed: the data store became unavailable at message 2/);
  });

  it('yields to other work between two messages', async () => {
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 0);
    const seen: number[] = [];
    const answer: BatchOptions['answer'] = async (message) => {
      seen.push(ticks);
      // Work that never waits: without a yield between messages the timer would not run.
      const until = Date.now() + 3;
      while (Date.now() < until);
      return fakeAnswer()(message);
    };
    await handleBatch([BHS(), MSG('1'), MSG('2'), MSG('3'), MSG('4'), 'BTS|4'].join('\r'), options({ answer }));
    clearInterval(timer);
    expect(new Set(seen).size).toBe(4);
  });

  it('a store that goes away part-way: the failed and the rest are AR saying so, 503, the ones before kept', async () => {
    const log: string[] = [];
    const answer: BatchOptions['answer'] = async (message) => {
      if (message.includes('|M2|')) throw new StoreUnavailableError('down');
      return fakeAnswer(log)(message);
    };
    const result = await handleBatch([BHS(), MSG('M1'), MSG('M2'), MSG('M3'), 'BTS|3'].join('\r'), options({ answer }));
    expect(result.status).toBe(503);
    expect(log).toHaveLength(1);
    const msa = segments(result.body).filter((s) => s.startsWith('MSA'));
    expect(msa).toEqual(['MSA|AA|M1', 'MSA|AR|M2', 'MSA|AR|M3']);
    const errs = segments(result.body).filter((s) => s.startsWith('ERR'));
    expect(errs[0]).toMatch(/data store is unavailable/);
    expect(errs[1]).toMatch(/Not processed: the data store became unavailable at message 2/);
    expect(segments(result.body).at(-1)).toBe('BTS|3');
  });

  it('an unexpected failure of one message is its AR; the batch goes on', async () => {
    const answer: BatchOptions['answer'] = async (message) => {
      if (message.includes('|M1|')) throw new Error('a bug');
      return fakeAnswer()(message);
    };
    const result = await handleBatch([BHS(), MSG('M1'), MSG('M2'), 'BTS|2'].join('\r'), options({ answer }));
    expect(result.status).toBe(200);
    expect(segments(result.body).filter((s) => s.startsWith('MSA'))).toEqual(['MSA|AR|M1', 'MSA|AA|M2']);
  });

  it('a client that went away: the messages not yet run are not run', async () => {
    const log: string[] = [];
    let gone = false;
    const answer: BatchOptions['answer'] = async (message) => {
      gone = true;
      return fakeAnswer(log)(message);
    };
    const result = await handleBatch([BHS(), MSG('M1'), MSG('M2'), 'BTS|2'].join('\r'), options({ answer, clientGone: () => gone }));
    expect(log).toHaveLength(1);
    expect(segments(result.body).filter((s) => s.startsWith('MSA'))).toEqual(['MSA|AA|M1', 'MSA|AR|M2']);
  });
});
