// Bulk export settings from the environment (README "Bulk export" lists them).

export interface BulkOptions {
  /** Jobs one client (token issuer + client + organization) may have queued or running; beyond: 429. */
  maxJobsPerClient: number;
  /** Jobs one server process runs at once. */
  workers: number;
  /** A running job's lease; its worker renews it every third of it. A crashed node's job is taken over after it. */
  leaseMs: number;
  /** How often idle workers look for queued jobs and expired leases. */
  pollMs: number;
  /** How long outputs stay after the job finished (Expires), then they are removed. */
  retentionMs: number;
  /** How often expired outputs are removed. */
  sweepMs: number;
  /** A file is closed and the next one started after this many resources... */
  fileMaxLines: number;
  /** ...or this many bytes of NDJSON (before compression). */
  fileMaxBytes: number;
  /** Files are stored gzip-compressed (and served as such to clients that accept gzip) or plain. */
  compression: 'gzip' | 'none';
  gzipLevel: number;
  /** gzip streams (thread-pool threads) a large type is compressed with at once; files of one type are written side by side. */
  gzipStreams: number;
  /** Resources read per store step. */
  batchSize: number;
  /** Pause after each batch, to bound an export's load on a busy store (0: none). */
  throttleMs: number;
  /** Attempts (leases taken) before a job that keeps failing is given up as failed. */
  maxAttempts: number;
  /** Status polls sooner than the Retry-After given are answered 429 (Bulk Data "Status Request"); off for test suites that poll fast. */
  throttleStatusPolls: boolean;
}

export const DEFAULT_BULK_OPTIONS: BulkOptions = {
  maxJobsPerClient: 3,
  workers: 2,
  leaseMs: 30_000,
  pollMs: 2_000,
  retentionMs: 24 * 3600_000,
  sweepMs: 60_000,
  fileMaxLines: 250_000,
  fileMaxBytes: 256 * 1024 * 1024,
  compression: 'gzip',
  gzipLevel: 1,
  gzipStreams: 2,
  batchSize: 1000,
  throttleMs: 0,
  maxAttempts: 3,
  // Off unless asked for: CONTRACT.md's polling (202 with X-Progress and Retry-After, then the
  // manifest) names no 429, and a client polling faster than Retry-After still works as it did.
  throttleStatusPolls: false,
};

export function loadBulkOptions(env: NodeJS.ProcessEnv = process.env): BulkOptions {
  const o = { ...DEFAULT_BULK_OPTIONS };
  o.maxJobsPerClient = int(env, 'BULK_MAX_JOBS_PER_CLIENT', o.maxJobsPerClient, 1);
  o.workers = int(env, 'BULK_WORKERS', o.workers, 1);
  o.leaseMs = seconds(env, 'BULK_LEASE_SECONDS', o.leaseMs);
  o.pollMs = seconds(env, 'BULK_POLL_SECONDS', o.pollMs);
  o.retentionMs = seconds(env, 'BULK_RETENTION_SECONDS', o.retentionMs);
  o.sweepMs = seconds(env, 'BULK_SWEEP_SECONDS', o.sweepMs);
  o.fileMaxLines = int(env, 'BULK_FILE_MAX_LINES', o.fileMaxLines, 1);
  o.fileMaxBytes = int(env, 'BULK_FILE_MAX_MB', o.fileMaxBytes / (1024 * 1024), 1) * 1024 * 1024;
  const compression = env.BULK_COMPRESSION ?? o.compression;
  if (compression !== 'gzip' && compression !== 'none') throw new Error(`BULK_COMPRESSION must be gzip or none, got "${compression}"`);
  o.compression = compression;
  o.gzipLevel = int(env, 'BULK_GZIP_LEVEL', o.gzipLevel, 1);
  if (o.gzipLevel > 9) throw new Error('BULK_GZIP_LEVEL must be 1..9');
  o.gzipStreams = int(env, 'BULK_GZIP_STREAMS', o.gzipStreams, 1);
  o.batchSize = int(env, 'BULK_BATCH_SIZE', o.batchSize, 1);
  o.throttleMs = int(env, 'BULK_THROTTLE_MS', o.throttleMs, 0);
  o.maxAttempts = int(env, 'BULK_MAX_ATTEMPTS', o.maxAttempts, 1);
  const pollLimit = env.BULK_STATUS_POLL_LIMIT ?? 'off';
  if (pollLimit !== 'on' && pollLimit !== 'off') throw new Error(`BULK_STATUS_POLL_LIMIT must be on or off, got "${pollLimit}"`);
  o.throttleStatusPolls = pollLimit === 'on';
  return o;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function seconds(env: NodeJS.ProcessEnv, name: string, fallbackMs: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackMs;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of seconds, got "${raw}"`);
  return Math.round(n * 1000);
}
