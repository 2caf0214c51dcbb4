// Process start: configuration, definitions, store, HTTP server, graceful shutdown.
import { markDuplicatesHiddenFromCreator } from './consent/hidden-duplicates.js';
import { createServer, type RequestListener, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { AuditLog } from './audit/audit-log.js';
import { metricsRouter } from './audit/metrics.js';
import { createAuth } from './auth/setup.js';
import { loadConfig, type Config } from './config.js';
import { loadDefinitions } from './fhir/definitions.js';
import { createApp, fhirGetLane, withFastLanes } from './http/app.js';
import { createLogger, type Logger } from './logger.js';
import { answerClientError } from './http/protocol.js';
import { SharingIndex } from './consent/sharing-index.js';
import { FRONT_DOORS } from './app/front-doors.js';
import { buildRegistry } from './app/handlers.js';
import { tokenIssuer } from './auth/smart-config.js';
import { userDirectoryFor } from './signin/index.js';
import { buildSecurityEvent } from './signin/audit.js';
import { ForecastPool } from './population/worker-pool.js';
import { populationJobTasks } from './population/async-jobs.js';
import { withCvxForNdcDoses } from './population/forecast-runner.js';
import { syncShippedMeasures } from './population/shipped-measures.js';
import { HealthCardIssuer } from './health-cards/issuer.js';
import { assertDataDirUsable, DataDirUnusableError } from './app/data-dir.js';
import { createFileStore, createStore } from './app/open-store.js';
import type { FastLane } from './pipeline/front-door.js';
import { Pipeline } from './pipeline/pipeline.js';
import type { FileStore } from './store/files.js';
import { loadBulkOptions, type BulkOptions } from './bulk/config.js';
import { BulkExports } from './bulk/service.js';
import { StoreUnavailableError, type Store } from './store/store.js';
import { startingHandler } from './http/starting.js';
import { checkConsentFutureDate } from './consent/future-date-rule.js';
import { checkConsentPatient } from './consent/patient-rule.js';
import { completePolicyRule } from './consent/policy-rule.js';
import { registerIisRules } from './quality/register.js';
import { retireWithdrawnObservationConditions } from './hl7v2/observation-conditions.js';
import { backfillObservationConditions } from './hl7v2/backfill-conditions.js';
import { repairMergedEmptyLists } from './operations/merge-repair.js';
import { loadSeverityPolicy } from './quality/policy.js';
import { CodeSets } from './terminology/code-sets.js';
import { syncCdsiObservations } from './terminology/cdsi-observations.js';
import { syncRuleCodeSystem } from './terminology/rule-code-system.js';
import { TerminologySync } from './terminology/store-sync.js';
import { RuleRegistry } from './validation/business-rules.js';
import { StructuralValidationPool } from './validation/structural-pool.js';
import { warmUpValidation } from './validation/validate-resource.js';

export interface RunningServer {
  url: string;
  baseUrl: string;
  store: Store;
  /** Runs FHIR requests as a given caller (pipeline.executeAs), like every front door does. */
  pipeline: Pipeline;
  server: Server;
  /** The AuditEvent writer (counters at GET /metrics). */
  audit: AuditLog;
  /** Bulk export jobs and worker of this process. */
  bulk: BulkExports;
  /** Stops accepting, finishes requests in flight, flushes the store. */
  close(): Promise<void>;
}

export async function startServer(
  config: Config,
  options: {
    logger?: Logger;
    store?: Store;
    files?: FileStore;
    bulk?: Partial<BulkOptions>;
    /** Aborts a start still waiting for its store (SIGTERM before the server was ready). */
    signal?: AbortSignal;
  } = {}
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  // The port is bound first and answers 503 (alive, not ready) until everything below is ready, so a
  // MongoDB that is not reachable yet is waited for instead of ending the process (src/http/starting.ts).
  let notReadyReason = config.mongodbUrl && !options.store ? 'connecting to MongoDB' : 'starting';
  let handle: RequestListener = startingHandler({
    storeKind: options.store?.kind ?? (config.mongodbUrl ? 'mongodb' : 'embedded'),
    reason: () => notReadyReason,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer((req, res) => handle(req, res));
    s.once('error', reject);
    s.listen(config.port, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
  server.on('clientError', answerClientError);
  try {
    const ready = await assemble(config, options, logger, server, (reason) => (notReadyReason = reason));
    handle = ready.handler;
    return ready.running;
  } catch (err) {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    throw err;
  }
}

/**
 * Opens the store and the file store. While MongoDB is unreachable (StoreUnavailableError) it tries
 * again, 1 s after the first failure and up to 15 s apart, until it answers or the start is aborted;
 * any other failure (a locked or unusable DATA_DIR, a bad URL) ends the start at once.
 */
async function openStores(
  config: Config,
  options: { store?: Store; files?: FileStore; signal?: AbortSignal },
  logger: Logger,
  waiting: (reason: string) => void
): Promise<{ store: Store; files: FileStore }> {
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    const store = options.store ?? (await createStore(config));
    let files: FileStore | undefined;
    // An abort closes the store being opened, so that a SIGTERM does not wait out the driver's
    // server selection (5 s).
    const closeOnAbort = () => void store.close().catch(() => undefined);
    if (!options.store) options.signal?.addEventListener('abort', closeOnAbort, { once: true });
    try {
      await store.init();
      files = options.files ?? (await createFileStore(config));
      await files.init();
      return { store, files };
    } catch (err) {
      options.signal?.throwIfAborted();
      if (!(err instanceof StoreUnavailableError) || options.store) throw err;
      await store.close().catch(() => undefined);
      if (files && !options.files) await files.close().catch(() => undefined);
      const retryInMs = Math.min(1000 * 2 ** (attempt - 1), 15_000);
      waiting(err.message);
      logger.warn('store unavailable at start; trying again', { error: err.message, attempt, retryInMs });
      await sleep(retryInMs, undefined, { signal: options.signal });
    } finally {
      options.signal?.removeEventListener('abort', closeOnAbort);
    }
  }
}

async function assemble(
  config: Config,
  options: { store?: Store; files?: FileStore; bulk?: Partial<BulkOptions>; signal?: AbortSignal },
  logger: Logger,
  server: Server,
  waiting: (reason: string) => void
): Promise<{ handler: RequestListener; running: RunningServer }> {
  loadDefinitions();
  warmUpValidation();
  const baseUrl = `${config.publicBaseUrl}/fhir`;
  const auth = await createAuth(config, baseUrl, logger);
  const policy = loadSeverityPolicy(config.rulePolicyFile);
  const { store: baseStore, files } = await openStores(config, options, logger, waiting);
  // Vaccine code sets live in the store (seeded when absent); committed writes to them reload the
  // rules' in-memory view at once (src/terminology/store-sync.ts).
  const store = baseStore;
  // CDSi's observation codes (what a Condition carries for the forecast) as CodeSystem/cdsi-observation,
  // rewritten when the supporting data changed, before the code sets load (src/terminology/cdsi-observations.ts).
  await syncCdsiObservations(store);
  // The rule codes of OperationOutcomes as CodeSystem/iis-rule, from profiles/ (src/terminology/rule-code-system.ts).
  await syncRuleCodeSystem(store);
  // The shipped coverage Measures, readable and searchable like any Measure (src/population/shipped-measures.ts).
  await syncShippedMeasures(store);
  const terminology = new TerminologySync(store, new CodeSets(), { logger });
  await terminology.start();
  const validationPool = new StructuralValidationPool(config.validationWorkers ?? 0);
  const rules = new RuleRegistry({ structural: validationPool });
  registerIisRules(rules, { codeSets: terminology.codeSets, policy });
  rules.registerCompletion('Consent', completePolicyRule);
  rules.register('Consent', checkConsentPatient);
  rules.register('Consent', checkConsentFutureDate);
  // A Condition made from a dose's HL7 v2 OBX follows that dose (src/hl7v2/observation-conditions.ts).
  rules.registerFollowUp('Immunization', retireWithdrawnObservationConditions);
  // A child hidden from the creating organization gets the review mark instead (src/consent/hidden-duplicates.ts).
  rules.registerFollowUp('Patient', markDuplicatesHiddenFromCreator);
  const audit = new AuditLog({ store, logger, serverUrl: baseUrl, dataDir: config.dataDir, searchIndexOf: validationPool.searchIndexOf });
  await audit.start();
  // Backend services' client_credentials requests, issued or refused (people's codes and refresh
  // tokens are audited by src/signin): IHE BALP IUA.71 Get Access Token.
  auth.tokenAudit.listener = (outcome) => audit.recordEvent(buildSecurityEvent({ kind: 'token', ...outcome }, baseUrl));
  const sharing = new SharingIndex(store);
  // Bulk export: jobs in the store, outputs in the file store next to it (src/bulk).
  // Population runs forecast on worker threads (src/population/worker-pool.ts; 0: request thread).
  const forecastPool = new ForecastPool(config.populationWorkers ?? 0);
  // Asynchronous population runs are jobs of the bulk worker (src/population/async-jobs.ts).
  const bulk = new BulkExports({ store, files, sharing, baseUrl, logger, options: { ...loadBulkOptions(), ...options.bulk }, tasks: populationJobTasks(withCvxForNdcDoses(forecastPool.runner, terminology.codeSets), audit) });
  const registry = buildRegistry({
    codeSets: terminology.codeSets,
    bulk,
    healthCards: new HealthCardIssuer(config, store, terminology.codeSets),
    forecasts: forecastPool.runner,
    // Practitioner/[id]: the signed-in person a sign-in token's fhirUser names (read from the store's user directory).
    people: { users: userDirectoryFor(store, config), issuer: tokenIssuer(config.publicBaseUrl) },
  });
  // The request pipeline holds the unscoped store; handlers get the caller-scoped view it builds.
  // Committed writes of code sets reload the rules' in-memory view at once (src/terminology/store-sync.ts).
  const pipeline = new Pipeline({ store, config, rules, baseUrl, sharing, audit, registry, onCommitted: terminology.onCommitted });
  const frontDoors = [];
  const lanes: FastLane[] = [];
  const closeHooks: Array<() => Promise<void>> = [];
  for (const door of FRONT_DOORS) {
    const parts = await door({ config, logger, baseUrl, verifier: auth.verifier, pipeline, systemStore: store, audit, onClose: (fn) => closeHooks.push(fn) });
    if ('lanes' in parts) {
      frontDoors.push(parts.router);
      lanes.push(...parts.lanes);
    } else frontDoors.push(parts);
  }
  const app = createApp({
    pipeline,
    store,
    config,
    verifier: auth.verifier,
    logger,
    routers: [auth.router, metricsRouter(audit), ...frontDoors],
  });
  // FHIR GETs (reads, searches) skip express too, unless the config turns that lane off (tests compare both).
  if (config.fhirGetLane !== false) lanes.push(fhirGetLane({ pipeline, config, verifier: auth.verifier, logger }));
  const handler = withFastLanes(app, lanes, logger, config.publicBaseUrl);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info('listening', { port, store: store.kind, fhirBase: baseUrl });
  bulk.start();
  // Records stored before HL7 v2 OBX also became Conditions get theirs, in the background, once
  // (src/hl7v2/backfill-conditions.ts: a done run costs one read at start; stopped by close()).
  let stoppingBackgroundWork = false;
  // Small pages and a pause between them: a page's read holds the event loop (~1–2 ms per 100 doses).
  const backfill = backfillObservationConditions({ store, audit: (event) => audit.recordAccess(event), logger, pageSize: 100, pauseMs: 10, stopped: () => stoppingBackgroundWork }).catch((err: unknown) =>
    logger.error('observation Conditions backfill failed; it resumes at the next start', { error: String(err) })
  );

  // $merge survivors stored with an empty list before 38c99bf get a version without it
  // (src/operations/merge-repair.ts: with nothing to repair, one indexed walk over the merged records).
  const mergeRepair = repairMergedEmptyLists({ store, audit: (event) => audit.recordAccess(event), logger, stopped: () => stoppingBackgroundWork }).catch((err: unknown) =>
    logger.error('repairing merged Patients with empty lists failed; it runs again at the next start', { error: String(err) })
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await bulk.stop();
      stoppingBackgroundWork = true;
      await backfill;
      await mergeRepair;
      await forecastPool.close();
      await validationPool.close();
      for (const hook of closeHooks) await hook();
      await audit.close();
      terminology.stop();
      await store.close();
      await files.close();
    })();
    return closing;
  };
  return { handler, running: { url: `http://127.0.0.1:${port}`, baseUrl, store, pipeline, server, audit, bulk, close } };
}

async function main(): Promise<void> {
  const config = loadConfig();
  assertDataDirUsable(config.dataDir);
  const logger = createLogger(config.logLevel);
  // SIGTERM while the server still waits for its store ends the wait: nothing was accepted yet.
  const starting = new AbortController();
  let running: RunningServer | undefined;
  let stopping = false;
  const exitAfterClose = (server: RunningServer) => {
    server.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        process.exit(1);
      }
    );
  };
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    if (running) exitAfterClose(running);
    else starting.abort();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    running = await startServer(config, { logger, signal: starting.signal });
  } catch (err) {
    if (!stopping) throw err;
    logger.info('stopped before the store was reachable');
    process.exit(0);
  }
  if (stopping) exitAfterClose(running);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    // A DATA_DIR the server cannot use is the operator's to fix: its sentence says all, no stack.
    if (err instanceof DataDirUnusableError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
