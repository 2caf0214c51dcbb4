// The batch schedule (fast-check): every pair of messages that conflict runs in file order, one
// finished before the other starts; never more than `concurrency` at once nor more than `lookahead`
// taken in; each message runs once; concurrency 1 is file order; and messages that do not conflict
// do run side by side.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Footprint } from './batch-footprint.js';
import { runScheduled } from './batch-schedule.js';

function conflict(a: Footprint, b: Footprint): boolean {
  if (a.kind === 'none' || b.kind === 'none') return false;
  if (a.kind === 'alone' || b.kind === 'alone') return true;
  if (a.kind === 'query' && b.kind === 'query') return false;
  if (a.kind === 'query' || b.kind === 'query') return true;
  return a.keys.some((k) => b.keys.includes(k));
}

const footprintArb: fc.Arbitrary<Footprint> = fc.oneof(
  { weight: 6, arbitrary: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), { minLength: 0, maxLength: 3 }).map((keys): Footprint => ({ kind: 'record', keys })) },
  { weight: 1, arbitrary: fc.constant<Footprint>({ kind: 'query' }) },
  { weight: 1, arbitrary: fc.constant<Footprint>({ kind: 'none' }) },
  { weight: 1, arbitrary: fc.constant<Footprint>({ kind: 'alone' }) }
);

/** Resolves after `ticks` turns of the event loop (a message's work, of varied length). */
const after = (ticks: number) =>
  new Promise<void>((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
    step(ticks);
  });

interface Trace {
  started: number[];
  finished: number[];
  /** Per message: the events (starts and finishes) counted before it started / when it finished. */
  startAt: number[];
  finishAt: number[];
  maxRunning: number;
  maxTakenIn: number;
  footprintsAsked: number[];
}

async function trace(footprints: Footprint[], durations: number[], concurrency: number, lookahead: number): Promise<Trace> {
  const t: Trace = { started: [], finished: [], startAt: [], finishAt: [], maxRunning: 0, maxTakenIn: 0, footprintsAsked: [] };
  let clock = 0;
  let running = 0;
  await runScheduled(footprints.length, {
    concurrency,
    lookahead,
    footprint: (i) => {
      t.footprintsAsked.push(i);
      t.maxTakenIn = Math.max(t.maxTakenIn, t.footprintsAsked.length - t.finished.length);
      return footprints[i];
    },
    run: async (i) => {
      t.started.push(i);
      t.startAt[i] = clock++;
      running += 1;
      t.maxRunning = Math.max(t.maxRunning, running);
      await after(durations[i % durations.length]);
      running -= 1;
      t.finished.push(i);
      t.finishAt[i] = clock++;
    },
  });
  return t;
}

describe('batch schedule', () => {
  it('runs conflicting messages in file order, within the bounds, each once (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(footprintArb, { minLength: 0, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 12 }),
        async (footprints, durations, concurrency, lookahead) => {
          const t = await trace(footprints, durations, concurrency, lookahead);
          expect([...t.started].sort((a, b) => a - b)).toEqual(footprints.map((_, i) => i));
          expect(t.footprintsAsked).toEqual(footprints.map((_, i) => i));
          expect(t.maxRunning).toBeLessThanOrEqual(concurrency);
          expect(t.maxTakenIn).toBeLessThanOrEqual(Math.max(concurrency, lookahead));
          for (let j = 0; j < footprints.length; j++) {
            for (let i = 0; i < j; i++) {
              if (conflict(footprints[i], footprints[j])) expect(t.finishAt[i], `message ${i} must finish before ${j} starts`).toBeLessThan(t.startAt[j]);
            }
          }
        }
      ),
      { numRuns: 300 }
    );
  });

  it('at concurrency 1 runs the messages in file order, one at a time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(footprintArb, { maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 30 }), async (footprints, durations) => {
        const t = await trace(footprints, durations, 1, 16);
        expect(t.started).toEqual(footprints.map((_, i) => i));
        expect(t.maxRunning).toBeLessThanOrEqual(1);
      }),
      { numRuns: 100 }
    );
  });

  it('runs messages that share no key side by side, and a chain of one key one at a time', async () => {
    const distinct: Footprint[] = Array.from({ length: 12 }, (_, i) => ({ kind: 'record', keys: [`child ${i}`] }));
    expect((await trace(distinct, [3], 4, 16)).maxRunning).toBe(4);
    const sameChild: Footprint[] = Array.from({ length: 12 }, () => ({ kind: 'record', keys: ['child'] }));
    expect((await trace(sameChild, [3], 4, 16)).maxRunning).toBe(1);
    // A query waits for every earlier VXU and every later VXU waits for it; queries run together.
    const mixed: Footprint[] = [{ kind: 'record', keys: ['a'] }, { kind: 'record', keys: ['b'] }, { kind: 'query' }, { kind: 'query' }, { kind: 'record', keys: ['c'] }];
    const t = await trace(mixed, [3], 4, 16);
    expect(Math.max(t.finishAt[0], t.finishAt[1])).toBeLessThan(Math.min(t.startAt[2], t.startAt[3]));
    expect(Math.max(t.finishAt[2], t.finishAt[3])).toBeLessThan(t.startAt[4]);
    expect(t.startAt[3]).toBeLessThan(t.finishAt[2]);
  });

  it('keeps going when a message fails, and reports the failure once all have finished', async () => {
    const ran: number[] = [];
    const footprints: Footprint[] = [{ kind: 'record', keys: ['x'] }, { kind: 'record', keys: ['x'] }, { kind: 'record', keys: ['y'] }];
    await expect(
      runScheduled(3, {
        concurrency: 2,
        lookahead: 4,
        footprint: (i) => footprints[i],
        run: async (i) => {
          ran.push(i);
          if (i === 0) throw new Error('boom');
        },
      })
    ).rejects.toThrow('boom');
    expect(ran.sort()).toEqual([0, 1, 2]);
  });
});
