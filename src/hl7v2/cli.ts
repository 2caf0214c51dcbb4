// `npm run backfill:conditions` (scripts/backfill-conditions.ts): the one-time backfill of the
// Conditions that records stored before HL7 v2 OBX 59784-9 / 30945-0 became Conditions lack
// (backfill-conditions.ts), from a shell:
//   npm run backfill:conditions              run it (or resume it) to the end, a line per 20 pages
//   npm run backfill:conditions -- --status  where it is, without running it
// The server runs the same backfill in the background at start until it has finished once, so this
// is for an operator who wants it done (and watched) before opening the registry, or on MongoDB
// beside running servers (safe there: conditional creates under the store's lock, the dose's version
// checked, the furthest saved point wins). The embedded store admits one process at a time: with
// the server running, the server is the one that runs it.
import { parseArgs } from 'node:util';
import { createStore } from '../app/open-store.js';
import { AuditLog } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import { createLogger } from '../logger.js';
import type { Store } from '../store/store.js';
import { backfillObservationConditions, readBackfillProgress, type BackfillProgress } from './backfill-conditions.js';

export const BACKFILL_USAGE = `usage:
  npm run backfill:conditions [-- --page-size N]
  npm run backfill:conditions -- --status
options: --data-dir DIR (default DATA_DIR); MONGODB_URL selects the MongoDB store as for the server`;

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

export async function runBackfillCli(argv: string[], config: Config, io: CliOutput, openStore: (c: Config) => Promise<Store> = createStore): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options: { status: { type: 'boolean' }, 'page-size': { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    io.err(`${(err as Error).message}\n${BACKFILL_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(BACKFILL_USAGE);
    return 0;
  }
  const pageSize = values['page-size'] === undefined ? 500 : Number(values['page-size']);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10_000) {
    io.err(`--page-size must be a whole number from 1 to 10000\n${BACKFILL_USAGE}`);
    return 2;
  }
  const cfg: Config = typeof values['data-dir'] === 'string' ? { ...config, dataDir: values['data-dir'] } : config;
  const store = await openStore(cfg);
  await store.init();
  const audit = new AuditLog({ store, logger: createLogger('warn'), serverUrl: `${cfg.publicBaseUrl}/fhir`, dataDir: cfg.dataDir });
  try {
    if (values.status) {
      io.out(describe(await readBackfillProgress(store)));
      return 0;
    }
    let progress: BackfillProgress;
    do {
      progress = await backfillObservationConditions({ store, audit: (event) => audit.recordAccess(event), clientId: 'iis-cli', pageSize, maxPages: 20 });
      if (!progress.done) io.out(`${progress.examined} doses examined, ${progress.made} Conditions made so far`);
    } while (!progress.done);
    io.out(describe(progress));
    return 0;
  } finally {
    await audit.close();
    await store.close();
  }
}

function describe(progress: BackfillProgress | undefined): string {
  if (!progress) return 'not started: the server (or this command) starts it';
  const state = progress.done ? `done at ${progress.finishedAt}` : `in progress, after dose id ${progress.after || '(none yet)'}`;
  return `${state}: ${progress.examined} doses examined (those last written up to ${progress.until}), ${progress.made} Conditions made`;
}
