// Results in order; the first one before the second item is read; at most `depth` in flight; a
// failure reaches the consumer; stopping early leaves nothing running.
import { expect, it } from 'vitest';
import { pipelined } from './pipelined.js';

const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('keeps order, yields the first result before reading on, and bounds the work in flight', async () => {
  const events: string[] = [];
  let running = 0;
  let most = 0;
  async function* source() {
    for (let i = 0; i < 5; i++) {
      events.push(`read ${i}`);
      yield i;
    }
  }
  const out: number[] = [];
  for await (const r of pipelined(source(), async (i) => {
    running++;
    most = Math.max(most, running);
    await later(5 * (5 - i)); // later items finish sooner
    running--;
    return i * 10;
  })) {
    events.push(`got ${r}`);
    out.push(r);
  }
  expect(out).toEqual([0, 10, 20, 30, 40]);
  expect(events.indexOf('got 0')).toBeLessThan(events.indexOf('read 1'));
  expect(most).toBeLessThanOrEqual(2);
});

it('passes a failure on, and a consumer that stops early waits for the work in flight', async () => {
  async function* source() {
    yield* [1, 2, 3];
  }
  await expect(async () => {
    for await (const _ of pipelined(source(), async (i) => {
      if (i === 2) throw new Error('boom');
      return i;
    }));
  }).rejects.toThrow('boom');
  let finished = 0;
  for await (const r of pipelined(source(), async (i) => {
    await later(10);
    finished++;
    return i;
  })) {
    if (r === 2) break; // item 3 was already being worked on
  }
  expect(finished).toBe(3);
});
