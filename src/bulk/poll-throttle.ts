// Status polls faster than the Retry-After the server gave (Bulk Data Access 2.0, "Bulk Data Status
// Request": the server SHOULD keep an accounting of status queries and answer a client polling too
// frequently with 429 Too Many Requests and Retry-After). One instance per server process: with
// several processes behind a balancer each keeps its own accounting (a client is throttled by the
// process it reaches), which is enough to slow a runaway client without a store write per poll.

/** A poll is on time when it comes at most this much before the instant the Retry-After named. */
export const POLL_SLACK_MS = 500;
/** Keys held at most; beyond, expired keys go first, then the oldest (a key evicted early only means one poll is not throttled). */
export const MAX_TRACKED_POLLS = 10_000;

export class StatusPollThrottle {
  /** key (job + caller) → instant (ms) the Retry-After told the caller to wait for. */
  private readonly dueAt = new Map<string, number>();

  constructor(
    private readonly options: { slackMs?: number; maxEntries?: number; now?: () => number } = {}
  ) {}

  /** Seconds the caller should still wait before polling this key again (0: on time; the key is then forgotten). */
  secondsEarly(key: string): number {
    const due = this.dueAt.get(key);
    if (due === undefined) return 0;
    const now = this.now();
    if (now >= due - (this.options.slackMs ?? POLL_SLACK_MS)) {
      this.dueAt.delete(key);
      return 0;
    }
    return Math.max(1, Math.ceil((due - now) / 1000));
  }

  /** Remembers the Retry-After given for this key. */
  record(key: string, retryAfterSeconds: number): void {
    const now = this.now();
    this.dueAt.delete(key); // re-inserted last: the map's order stays roughly that of the due instants
    this.dueAt.set(key, now + retryAfterSeconds * 1000);
    const max = this.options.maxEntries ?? MAX_TRACKED_POLLS;
    if (this.dueAt.size > max) this.prune(now, max);
  }

  forget(key: string): void {
    this.dueAt.delete(key);
  }

  get size(): number {
    return this.dueAt.size;
  }

  /** Drops expired keys, then the oldest, down to 90 % of the limit (so pruning is not done on every poll). */
  private prune(now: number, max: number): void {
    for (const [key, due] of this.dueAt) if (due <= now) this.dueAt.delete(key);
    const target = Math.floor(max * 0.9);
    for (const key of this.dueAt.keys()) {
      if (this.dueAt.size <= target) break;
      this.dueAt.delete(key);
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
