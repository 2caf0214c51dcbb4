// Reconnects a MongoClient whose driver is stuck after an outage, for the store and the GridFS file
// store alike (each has its own client).
import { MongoClient } from 'mongodb';

export interface ClientRecoveryOptions {
  client: MongoClient;
  url: string;
  dbName: string;
  /** How long a ping (of this client or a new one) may take. */
  pingTimeoutMs: number;
  /** Time between checks while operations fail. */
  checkMs: number;
  /** A ping through the client being watched; rejects while it cannot reach the server. */
  ping: () => Promise<void>;
}

/**
 * The driver recovers from an outage by itself, except when its server monitor hangs: a socket
 * closed while the monitor's hello was being written leaves it waiting for a 'drain' that never
 * comes (mongodb 7.8 / 7.9 Connection.writeCommand, no timeout), so the server stays Unknown and
 * every operation fails with the old error for as long as the process runs (seen after several
 * FerretDB restarts in a row: 17 minutes of 503 while a new client connected at once). While
 * operations fail, this checks every `checkMs`; when the client cannot ping and a new one can, twice
 * in a row, the client is closed and connected again (its Db and collection objects stay valid;
 * operations in flight at that moment fail as 503).
 */
export class ClientRecovery {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  /** Checks in a row that found the server answering a new client but not this one. */
  private wedgedChecks = 0;

  constructor(private readonly options: ClientRecoveryOptions) {}

  /** An operation found the server unreachable: start the checks (once at a time). */
  noticeUnavailable(): void {
    if (this.stopped || this.timer) return;
    this.wedgedChecks = 0;
    this.timer = setInterval(() => void this.check(), this.options.checkMs);
    this.timer.unref();
  }

  /** The client is being closed for good. */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      try {
        await this.options.ping();
        this.clearTimer();
        return;
      } catch {
        // Still unreachable through this client: does the server answer a new one?
      }
      if (!(await this.answersNewClient())) {
        this.wedgedChecks = 0;
        return;
      }
      this.wedgedChecks += 1;
      if (this.wedgedChecks < 2 || this.stopped) return;
      this.wedgedChecks = 0;
      await this.options.client.close().catch(() => undefined);
      if (!this.stopped) await this.options.client.connect().catch(() => undefined);
    } finally {
      this.running = false;
    }
  }

  /** Whether a new client of the same URL reaches the server and gets a ping answered. */
  private async answersNewClient(): Promise<boolean> {
    const { url, dbName, pingTimeoutMs } = this.options;
    const probe = new MongoClient(url, { serverSelectionTimeoutMS: pingTimeoutMs, connectTimeoutMS: pingTimeoutMs });
    try {
      await probe.connect();
      await probe.db(dbName).command({ ping: 1 }, { timeoutMS: pingTimeoutMs });
      return true;
    } catch {
      return false;
    } finally {
      await probe.close().catch(() => undefined);
    }
  }
}
