// Generated and mutated messages through handleMessage (reading, mapping, answering) with a FHIR
// runner that accepts everything: whatever arrives, the answer is a readable HL7 message with an
// MSA, and nothing throws (an exception here would be a 500 at the edge).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Bundle } from '@medplum/fhirtypes';
import { parseMessage } from './er7.js';
import type { FhirRunner } from './fhir-runner.js';
import { handleMessage } from './messages.js';
import { hl7Date, order, pid, VIS_OBX, vxu, yearsAgo } from './test-messages.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** Searches find nothing; a transaction answers 200 with one entry per request entry. */
const acceptAll: FhirRunner = async (call) => {
  if (call.method === 'GET' || call.url.includes('$match')) return { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [] } };
  const bundle = call.body as Bundle;
  return {
    status: 200,
    body: { resourceType: 'Bundle', type: 'transaction-response', entry: (bundle.entry ?? []).map(() => ({ response: { status: '201 Created' } })) },
  };
};

const base = (): string =>
  vxu({
    pid: pid({ mrn: 'FZ-1', family: 'Fuzz', given: 'Ada', birth: yearsAgo(2) }),
    pd1: `PD1|||||||||||02^Reminder^HL70215|Y|${hl7Date(3)}|||A|${hl7Date(3)}`,
    nk1: ['NK1|1|Fuzz^Eve^^^^^L|MTH^Mother^HL70063'],
    orders: [order({ filler: 'FZ-1-A', cvx: '08', date: hl7Date(5), obx: VIS_OBX(hl7Date(5)) })],
  });

const QBP = `MSH|^~\\&|A|B|C|D|20240101||QBP^Q11^QBP_Q11|Q1|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\rQPD|Z34^Request Immunization History^CDCPHINVS|T1|FZ-1^^^MYEHR^MR|Fuzz^Ada|||F\rRCP|I|5^RD&records&HL70126`;

async function answer(text: string): Promise<void> {
  const result = await handleMessage(text, { run: acceptAll, maxBytes: 200_000 });
  const parsed = parseMessage(result.body, { maxBytes: 10_000_000 });
  expect(parsed.message.getSegment('MSA')).toBeDefined();
  expect(['AA', 'AE', 'AR']).toContain(result.code);
  expect(result.status).toBeLessThan(500);
}

describe('fuzz: messages never break the reader', () => {
  it('mutated VXU and QBP messages (characters inserted, replaced, deleted, segments shuffled)', async () => {
    const delimiters = fc.constantFrom('|', '^', '~', '\\', '&', '\r', '\n', '', ' ', 'Z', '9', '\u00e9', '\u0000', '<', '"');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(base(), QBP),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), delimiters), { maxLength: 12 }),
        fc.boolean(),
        async (message, edits, shuffle) => {
          let text = message;
          for (const [at, kind, ch] of edits) {
            const i = at % (text.length + 1);
            if (kind === 0) text = text.slice(0, i) + ch + text.slice(i);
            else if (kind === 1) text = text.slice(0, i) + ch + text.slice(i + 1);
            else text = text.slice(0, i) + text.slice(i + 1 + (kind === 3 ? 5 : 0));
          }
          if (shuffle) {
            const [head, ...rest] = text.split('\r');
            text = [head, ...rest.reverse()].join('\r');
          }
          await answer(text);
        }
      ),
      { numRuns: RUNS }
    );
  });

  it('segments of random fields after a valid header', async () => {
    const field = fc.string({ maxLength: 40 });
    const seg = fc.tuple(fc.constantFrom('PID', 'PD1', 'NK1', 'ORC', 'RXA', 'RXR', 'OBX', 'QPD', 'RCP', 'ZZZ'), fc.array(field, { maxLength: 30 }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('VXU^V04^VXU_V04', 'QBP^Q11^QBP_Q11'), fc.array(seg, { maxLength: 8 }), async (type, segments) => {
        const text = [`MSH|^~\\&|A|B|C|D|20240101||${type}|X1|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS`, ...segments.map(([name, fields]) => [name, ...fields].join('|'))].join('\r');
        await answer(text);
      }),
      { numRuns: RUNS }
    );
  });
});
