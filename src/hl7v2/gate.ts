// How many HL7 v2 messages are processed at once. A message being processed holds its parse, its
// FHIR resources, its transaction's state and its matching's candidates (~50 KB that outlive a
// young-generation GC); one waiting holds its raw body (~1 KB). Without a limit, every message of a
// burst is admitted as soon as it is read and all of them advance together, each slower: what is in
// flight grows with the queue, each scavenge copies all of it, and the GC per message grows with the
// backlog it should help drain (open loop: 111 µs per VXU of GC pauses at a 6 ms median latency,
// 496 µs at 781 ms). Messages beyond the limit wait, first come first served, as their bodies.
export const DEFAULT_MAX_CONCURRENT_MESSAGES = 16;

export class MessageGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`The number of messages processed at once must be a positive integer (got ${limit})`);
  }

  /** Messages being processed now, and waiting. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /**
   * Starts `process` now if fewer than `limit` started ones are unfinished, else when one finishes
   * (in the order they came); its promise is what `process` gives, fulfilled or rejected.
   */
  run<T>(process: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running += 1;
        let processing: Promise<T>;
        try {
          processing = process();
        } catch (err) {
          processing = Promise.reject(err);
        }
        processing.then(resolve, reject).finally(() => {
          this.running -= 1;
          this.waiting.shift()?.();
        });
      };
      if (this.running < this.limit) start();
      else this.waiting.push(start);
    });
  }
}
