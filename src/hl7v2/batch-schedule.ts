// The order a batch file's messages run in: side by side where that cannot change any answer or
// stored result, in file order where it could. Each message waits for every earlier, unfinished
// message it conflicts with (batch-footprint.ts):
// - two VXUs conflict when they share a key (an identifier, a matching key, a dose, a Consent);
// - a QBP conflicts with every VXU (it sees each earlier one, and no later one), not with other QBPs;
// - a message that runs alone conflicts with everything; one that touches nothing with nothing.
// Every pair that conflicts runs in file order, one finished before the other starts, so the
// outcome is the one of the file run one message at a time (conflict-serialisable in file order);
// pairs that do not conflict cannot tell which ran first.
//
// Bounded: at most `concurrency` messages run at once, and at most `lookahead` messages are taken
// in (their footprints known) and not finished — the messages after them are not read yet; at most
// TAKE_IN_PER_TURN footprints are read per turn of the event loop. The
// earliest unfinished message never waits for anything unfinished (all it could wait for comes
// before it), so the file always advances; ready messages start earliest first. At concurrency 1
// the messages run exactly in file order.
import type { Footprint } from './batch-footprint.js';

export interface ScheduleOptions {
  /** Messages running at once (HL7V2_BATCH_CONCURRENCY). */
  concurrency: number;
  /** Messages taken in and not finished, running or waiting (at least `concurrency`). */
  lookahead: number;
  /** The footprint of message i, asked once, in file order, when it is taken in. */
  footprint: (index: number) => Footprint;
  /** Runs message i; the schedule counts it finished when the promise settles. */
  run: (index: number) => Promise<void>;
}

/** Footprints read in one turn of the event loop, at most. */
const TAKE_IN_PER_TURN = 4;

interface Step {
  index: number;
  footprint: Footprint;
  /** Earlier steps not finished that this one waits for. */
  waitingFor: number;
  /** Later steps waiting for this one. */
  next: Step[];
  finished: boolean;
}

/** Runs messages 0..count-1 in an order equivalent to file order; settles when all have finished (rejects with a run's error, after all have). */
export function runScheduled(count: number, options: ScheduleOptions): Promise<void> {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const lookahead = Math.max(concurrency, Math.floor(options.lookahead));
  return new Promise<void>((resolve, reject) => {
    /** The last unfinished step holding each key. */
    const lastWithKey = new Map<string, Step>();
    const unfinished = new Set<Step>();
    const unfinishedRecords = new Set<Step>();
    const unfinishedQueries = new Set<Step>();
    let lastAlone: Step | undefined;
    /** Steps whose waits are over, by index (a short list: at most `lookahead`). */
    const ready: Step[] = [];
    let taken = 0;
    let running = 0;
    let failure: { error: unknown } | undefined;

    const becomeReady = (step: Step): void => {
      let at = ready.length;
      while (at > 0 && ready[at - 1].index > step.index) at -= 1;
      ready.splice(at, 0, step);
    };

    let continuation = false;
    const takeIn = (): void => {
      // A few footprints per turn of the event loop (each is a parse of the message): a file's
      // read-ahead never holds the loop for long; the rest is taken in on the next turns.
      let budget = TAKE_IN_PER_TURN;
      while (taken < count && unfinished.size < lookahead) {
        if (budget-- === 0) {
          if (!continuation) {
            continuation = true;
            setImmediate(() => {
              continuation = false;
              advance();
            });
          }
          return;
        }
        const index = taken++;
        let footprint: Footprint;
        try {
          footprint = options.footprint(index);
        } catch {
          footprint = { kind: 'alone' };
        }
        const step: Step = { index, footprint, waitingFor: 0, next: [], finished: false };
        const waitsFor = new Set<Step>();
        if (lastAlone && footprint.kind !== 'none') waitsFor.add(lastAlone);
        switch (footprint.kind) {
          case 'record':
            for (const key of footprint.keys) {
              const holder = lastWithKey.get(key);
              if (holder) waitsFor.add(holder);
              lastWithKey.set(key, step);
            }
            for (const query of unfinishedQueries) waitsFor.add(query);
            unfinishedRecords.add(step);
            break;
          case 'query':
            for (const record of unfinishedRecords) waitsFor.add(record);
            unfinishedQueries.add(step);
            break;
          case 'alone':
            for (const other of unfinished) waitsFor.add(other);
            lastAlone = step;
            break;
          case 'none':
            break;
        }
        for (const earlier of waitsFor) earlier.next.push(step);
        step.waitingFor = waitsFor.size;
        unfinished.add(step);
        if (step.waitingFor === 0) becomeReady(step);
      }
    };

    const finish = (step: Step): void => {
      running -= 1;
      step.finished = true;
      unfinished.delete(step);
      unfinishedRecords.delete(step);
      unfinishedQueries.delete(step);
      if (lastAlone === step) lastAlone = undefined;
      if (step.footprint.kind === 'record') for (const key of step.footprint.keys) if (lastWithKey.get(key) === step) lastWithKey.delete(key);
      for (const later of step.next) {
        later.waitingFor -= 1;
        if (later.waitingFor === 0) becomeReady(later);
      }
      step.next = [];
      advance();
    };

    const advance = (): void => {
      takeIn();
      while (running < concurrency && ready.length > 0) {
        const step = ready.shift() as Step;
        running += 1;
        let started: Promise<void>;
        try {
          started = options.run(step.index);
        } catch (err) {
          started = Promise.reject(err);
        }
        started.then(
          () => finish(step),
          (error: unknown) => {
            failure ??= { error };
            finish(step);
          }
        );
      }
      if (taken === count && unfinished.size === 0 && !continuation) {
        if (failure) reject(failure.error);
        else resolve();
      }
    };

    advance();
  });
}
