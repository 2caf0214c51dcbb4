// MessageGate: at most `limit` messages processed at once, the others started in the order they
// came as earlier ones finish, each answered with what its processing gave (value or error) — the
// same answers as running every message at once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageGate } from './gate.js';

describe('MessageGate', () => {
  it('never runs more than its limit, starts in arrival order, and answers what each processing gave', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ turns: fc.nat(4), fails: fc.boolean(), throwsAtStart: fc.boolean(), arrivesAfter: fc.nat(3) }), { minLength: 1, maxLength: 25 }),
        async (limit, messages) => {
          const gate = new MessageGate(limit);
          let running = 0;
          let most = 0;
          const started: number[] = [];
          const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
          const answers: Array<Promise<unknown>> = [];
          for (const [i, m] of messages.entries()) {
            for (let t = 0; t < m.arrivesAfter; t++) await turn();
            answers.push(
              gate
                .run(async () => {
                  started.push(i);
                  if (m.throwsAtStart) throw new Error(`start ${i}`);
                  running += 1;
                  most = Math.max(most, running);
                  for (let t = 0; t < m.turns; t++) await turn();
                  running -= 1;
                  if (m.fails) throw new Error(`failed ${i}`);
                  return i;
                })
                .then(
                  (value) => ({ value }),
                  (err: Error) => ({ error: err.message })
                )
            );
          }
          const got = await Promise.all(answers);
          expect(got).toEqual(messages.map((m, i) => (m.throwsAtStart ? { error: `start ${i}` } : m.fails ? { error: `failed ${i}` } : { value: i })));
          expect(most).toBeLessThanOrEqual(limit);
          expect(started).toEqual(messages.map((_, i) => i));
          expect(gate.load).toEqual({ running: 0, waiting: 0 });
        }
      ),
      { numRuns: 200 }
    );
  });

  it('holds the messages past its limit until one finishes', async () => {
    const gate = new MessageGate(2);
    const release: Array<() => void> = [];
    const hold = () => new Promise<void>((resolve) => release.push(resolve));
    const order: string[] = [];
    const runs = ['a', 'b', 'c', 'd'].map((name) =>
      gate.run(async () => {
        order.push(name);
        await hold();
        return name;
      })
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['a', 'b']);
    expect(gate.load).toEqual({ running: 2, waiting: 2 });
    release[1]();
    await runs[1];
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['a', 'b', 'c']);
    release[0]();
    release[2]();
    await new Promise((resolve) => setImmediate(resolve));
    release[3]();
    expect(await Promise.all(runs)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new MessageGate(0)).toThrow();
    expect(() => new MessageGate(1.5)).toThrow();
  });
});

describe('HL7V2_MAX_CONCURRENT_MESSAGES', () => {
  it('is read as the gate limit, and refused when not positive', async () => {
    const { loadConfig } = await import('../config.js');
    expect(loadConfig({ HL7V2_MAX_CONCURRENT_MESSAGES: '8' }).hl7v2MaxConcurrentMessages).toBe(8);
    expect(loadConfig({}).hl7v2MaxConcurrentMessages).toBeUndefined();
    expect(() => loadConfig({ HL7V2_MAX_CONCURRENT_MESSAGES: '0' })).toThrow(/HL7V2_MAX_CONCURRENT_MESSAGES/);
  });
});
