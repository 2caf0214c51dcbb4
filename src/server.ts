// Process start: configuration, definitions, store, HTTP server, graceful shutdown.
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { loadSigningSecret } from './auth/secret.js';
import { hs256Verifier, type TokenVerifier } from './auth/verify-token.js';
import { loadConfig, type Config } from './config.js';
import { loadDefinitions } from './fhir/definitions.js';
import { createApp } from './http/app.js';
import { createLogger, type Logger } from './http/logger.js';
import type { ServerContext } from './interactions/types.js';
import { SharingIndex } from './consent/sharing-index.js';
import { createStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { RuleRegistry } from './validation/business-rules.js';
import { warmUpValidation } from './validation/validate-resource.js';

export interface RunningServer {
  url: string;
  baseUrl: string;
  store: Store;
  server: Server;
  /** Stops accepting, finishes requests in flight, flushes the store. */
  close(): Promise<void>;
}

export async function startServer(config: Config, options: { logger?: Logger; store?: Store } = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  loadDefinitions();
  warmUpValidation();
  const store = options.store ?? createStore(config);
  await store.init();
  const baseUrl = `${config.publicBaseUrl}/fhir`;
  const ctx: ServerContext = { store, config, rules: new RuleRegistry(), baseUrl, sharing: new SharingIndex(store) };
  const verifier = createVerifier(config, baseUrl, logger);
  const app = createApp({ ctx, verifier, logger });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info('listening', { port, store: store.kind, fhirBase: baseUrl });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await store.close();
    })();
    return closing;
  };
  return { url: `http://127.0.0.1:${port}`, baseUrl, store, server, close };
}

function createVerifier(config: Config, baseUrl: string, logger: Logger): TokenVerifier {
  if (config.authJwksUrl || config.authIssuer) {
    logger.warn('AUTH_JWKS_URL / AUTH_ISSUER are not supported yet; only HS256 tokens are accepted');
  }
  const secret = loadSigningSecret(config, { create: true });
  if (!secret) throw new Error('No token signing secret could be loaded or created');
  if (secret.source === 'DATA_DIR') {
    logger.info(secret.created ? 'created a development token secret' : 'using the development token secret', {
      file: `${config.dataDir}/auth-secret`,
      mintToken: 'npm run token -- --scope "system/*.cruds"',
    });
  }
  return hs256Verifier(secret.secret, baseUrl);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const running = await startServer(config, { logger });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    running.close().then(
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
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
