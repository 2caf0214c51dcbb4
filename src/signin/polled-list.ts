// A list of refused tokens kept in memory (the token verifier asks it on every request) and read
// again from the store every few seconds, for what other server processes changed on a shared
// MongoDB. One read at a time: a refresh asked for during a read joins it. A failed read keeps what
// was known and says so; the next one catches up.
import type { Logger } from '../logger.js';

export abstract class PolledList {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  protected constructor(
    /** Said in the log when a read fails: what is not known until the next one. */
    private readonly readFailure: string,
    protected readonly logger?: Logger
  ) {}

  /** Reads the store and updates the list (throws when the store cannot be read). */
  protected abstract read(): Promise<void>;

  /** Reads the list again (at start and then every pollSeconds). */
  refresh(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = (async () => {
      try {
        await this.read();
      } catch (err) {
        this.logger?.warn(this.readFailure, { error: (err as Error).message });
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }

  start(pollSeconds: number): void {
    this.timer = setInterval(() => void this.refresh(), pollSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
