// Typed configuration from the environment (CONTRACT.md "Running it").
import os from 'node:os';
import path from 'node:path';

export interface Config {
  port: number;
  publicBaseUrl: string;
  /** MongoDB URL; absent selects the embedded store. */
  mongodbUrl?: string;
  dataDir: string;
  /** Request body limit in bytes (413 beyond). */
  bodyLimitBytes: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  authJwtSecret?: string;
  authJwksUrl?: string;
  authIssuer?: string;
  /** JSON file registering SMART Backend Services clients (src/auth/clients.ts). */
  authClientsFile?: string;
  /** JSON file of rule code → error | warning | information | off (src/quality/policy.ts). */
  rulePolicyFile?: string;
  /** Bounds on the work one request may ask for (absent: the defaults). */
  limits?: RequestLimits;
  /** The built clinic web app served at /app (default web/dist; src/http/web-app.ts). */
  webAppDir?: string;
  /** Sign-in for people (src/signin); unset fields take the defaults there. */
  signin?: SigninSettings;
  /**
   * TRUST_PROXY: which proxies in front of the server may name the client address in
   * X-Forwarded-For (express's 'trust proxy': true = any, a number = that many hops, or addresses
   * and subnets such as "loopback, 10.0.0.0/8"). Absent: the connection's address is the client's
   * (a client could otherwise pick its own address, e.g. to escape the sign-in's per-address limit).
   */
  trustProxy?: boolean | number | string;
  /** POPULATION_WORKERS: worker threads forecasting population runs (src/population); 0 or absent: the request thread. */
  populationWorkers?: number;
  /** VALIDATION_WORKERS: worker threads for structural validation of writes (src/validation); 0 or absent: the request thread. */
  validationWorkers?: number;
  /** HL7V2_MAX_MESSAGE_BYTES: largest HL7 v2 message at /hl7v2 and /soap (src/hl7v2; default 1 MiB). */
  hl7v2MaxMessageBytes?: number;
  /** HL7V2_MAX_CONCURRENT_MESSAGES: HL7 v2 messages processed at once, the rest waiting in order (src/hl7v2/gate.ts; default 16). */
  hl7v2MaxConcurrentMessages?: number;
  /** HL7V2_MAX_BATCH_MESSAGES: most messages (and batches) in one HL7 v2 batch file at POST /hl7v2 (src/hl7v2/batch.ts; default 1,000). */
  hl7v2MaxBatchMessages?: number;
  /** HL7V2_BATCH_CONCURRENCY: messages of one HL7 v2 batch file processed at once when they concern different patients (src/hl7v2/batch-schedule.ts; default 8; 1: one at a time). */
  hl7v2BatchConcurrency?: number;
  /**
   * false: FHIR GET requests go through express like every other request instead of the lane that
   * answers them without it (src/http/app.ts fhirGetLane; the same bytes either way, its test
   * compares both). Default on; no environment variable.
   */
  fhirGetLane?: boolean;
}

export interface SigninSettings {
  /** IIS_ADMIN_USERNAME / IIS_ADMIN_PASSWORD: the public-health administrator created on first start. */
  adminUsername?: string;
  adminPassword?: string;
  /** SIGNIN_IDLE_MINUTES (15): sessions and refresh tokens unused this long expire. */
  idleMinutes?: number;
  /** SIGNIN_MAX_SESSION_HOURS (12): a sign-in lasts at most this long, however active. */
  maxSessionHours?: number;
  /** SIGNIN_LOCKOUT_ATTEMPTS (5) failures in a row lock an account for SIGNIN_LOCKOUT_MINUTES (15). */
  lockoutAttempts?: number;
  lockoutMinutes?: number;
  /** SIGNIN_ACCESS_TOKEN_MINUTES (15): lifetime of access tokens issued to people's apps. */
  accessTokenMinutes?: number;
  /** SIGNIN_ADDRESS_ATTEMPTS (30) failed sign-ins from one client address within SIGNIN_ADDRESS_WINDOW_MINUTES (15) hold off its next ones. */
  addressAttempts?: number;
  addressWindowMinutes?: number;
}

/** Bounds on one request (README "Configuration"): each refused with a 4xx OperationOutcome. */
export interface RequestLimits {
  /** Decompressed body bytes per compressed byte (BODY_MAX_INFLATE_RATIO). */
  bodyMaxInflateRatio: number;
  /** Nesting of JSON objects and arrays (JSON_MAX_DEPTH). */
  jsonMaxDepth: number;
  /** Characters of one JSON string (JSON_MAX_STRING_LENGTH). */
  jsonMaxStringLength: number;
  /** Elements of one JSON array (JSON_MAX_ARRAY_LENGTH). */
  jsonMaxArrayLength: number;
  /** JSON values in one body (JSON_MAX_VALUES). */
  jsonMaxValues: number;
  /** Query parameters of one request, URL and form together (QUERY_MAX_PARAMS). */
  queryMaxParams: number;
  /** Characters of the query, names and values together (QUERY_MAX_LENGTH). */
  queryMaxLength: number;
  /** Largest `_count` accepted (SEARCH_MAX_COUNT). */
  searchMaxCount: number;
  /** `_include` and `_revinclude` parameters in one search (SEARCH_MAX_INCLUDES). */
  searchMaxIncludes: number;
  /** Links of one chain or `_has` nesting (SEARCH_MAX_CHAIN_DEPTH). */
  searchMaxChainDepth: number;
  /** Chained and `_has` parameters in one search (SEARCH_MAX_CHAINS). */
  searchMaxChains: number;
  /** Entries of one batch or transaction Bundle (BUNDLE_MAX_ENTRIES). */
  bundleMaxEntries: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  bodyMaxInflateRatio: 100,
  jsonMaxDepth: 64,
  jsonMaxStringLength: 32_768,
  jsonMaxArrayLength: 10_000,
  jsonMaxValues: 25_000,
  queryMaxParams: 100,
  queryMaxLength: 16_384,
  searchMaxCount: 1000,
  searchMaxIncludes: 10,
  searchMaxChainDepth: 3,
  searchMaxChains: 5,
  bundleMaxEntries: 1000,
};

/** The request limits of a configuration (defaults where it has none). */
export function limitsOf(config: Pick<Config, 'limits'>): RequestLimits {
  return config.limits ?? DEFAULT_LIMITS;
}

const LIMIT_ENV: Record<keyof RequestLimits, string> = {
  bodyMaxInflateRatio: 'BODY_MAX_INFLATE_RATIO',
  jsonMaxDepth: 'JSON_MAX_DEPTH',
  jsonMaxStringLength: 'JSON_MAX_STRING_LENGTH',
  jsonMaxArrayLength: 'JSON_MAX_ARRAY_LENGTH',
  jsonMaxValues: 'JSON_MAX_VALUES',
  queryMaxParams: 'QUERY_MAX_PARAMS',
  queryMaxLength: 'QUERY_MAX_LENGTH',
  searchMaxCount: 'SEARCH_MAX_COUNT',
  searchMaxIncludes: 'SEARCH_MAX_INCLUDES',
  searchMaxChainDepth: 'SEARCH_MAX_CHAIN_DEPTH',
  searchMaxChains: 'SEARCH_MAX_CHAINS',
  bundleMaxEntries: 'BUNDLE_MAX_ENTRIES',
};

function loadLimits(env: NodeJS.ProcessEnv): RequestLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, name] of Object.entries(LIMIT_ENV) as Array<[keyof RequestLimits, string]>) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
    limits[key] = value;
  }
  return limits;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = parsePort(env.PORT ?? '8080');
  return {
    port,
    publicBaseUrl: (env.PUBLIC_BASE_URL ?? `http://localhost:${port}`).replace(/\/+$/, ''),
    mongodbUrl: env.MONGODB_URL || undefined,
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    bodyLimitBytes: parseSize(env.BODY_LIMIT ?? '16mb'),
    logLevel: parseLogLevel(env.LOG_LEVEL ?? 'info'),
    authJwtSecret: env.AUTH_JWT_SECRET || undefined,
    authJwksUrl: env.AUTH_JWKS_URL || undefined,
    authIssuer: env.AUTH_ISSUER || undefined,
    authClientsFile: env.AUTH_CLIENTS_FILE ? path.resolve(env.AUTH_CLIENTS_FILE) : undefined,
    rulePolicyFile: env.IIS_RULE_POLICY ? path.resolve(env.IIS_RULE_POLICY) : undefined,
    limits: loadLimits(env),
    webAppDir: env.WEB_APP_DIR ? path.resolve(env.WEB_APP_DIR) : undefined,
    populationWorkers: populationWorkers(env),
    validationWorkers: validationWorkers(env),
    hl7v2MaxMessageBytes: positive(env, 'HL7V2_MAX_MESSAGE_BYTES'),
    hl7v2MaxConcurrentMessages: positive(env, 'HL7V2_MAX_CONCURRENT_MESSAGES'),
    hl7v2MaxBatchMessages: positive(env, 'HL7V2_MAX_BATCH_MESSAGES'),
    hl7v2BatchConcurrency: positive(env, 'HL7V2_BATCH_CONCURRENCY'),
    signin: {
      adminUsername: env.IIS_ADMIN_USERNAME || undefined,
      adminPassword: env.IIS_ADMIN_PASSWORD || undefined,
      idleMinutes: positive(env, 'SIGNIN_IDLE_MINUTES'),
      maxSessionHours: positive(env, 'SIGNIN_MAX_SESSION_HOURS'),
      lockoutAttempts: positive(env, 'SIGNIN_LOCKOUT_ATTEMPTS'),
      lockoutMinutes: positive(env, 'SIGNIN_LOCKOUT_MINUTES'),
      accessTokenMinutes: positive(env, 'SIGNIN_ACCESS_TOKEN_MINUTES'),
      addressAttempts: positive(env, 'SIGNIN_ADDRESS_ATTEMPTS'),
      addressWindowMinutes: positive(env, 'SIGNIN_ADDRESS_WINDOW_MINUTES'),
    },
    ...(trustProxy(env.TRUST_PROXY) !== undefined ? { trustProxy: trustProxy(env.TRUST_PROXY) } : {}),
  };
}

/** TRUST_PROXY: "true"/"false", a number of hops, or addresses and subnets for express's 'trust proxy'. */
function trustProxy(value: string | undefined): boolean | number | string | undefined {
  const text = value?.trim();
  if (!text || text === 'false') return undefined;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) return Number(text) > 0 ? Number(text) : undefined;
  return text;
}

function positive(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${value}"`);
  return n;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer 0..65535, got "${value}"`);
  }
  return port;
}

function parseSize(value: string): number {
  const match = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(value.trim());
  if (!match) throw new Error(`BODY_LIMIT must look like 16mb, got "${value}"`);
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[unit] ?? 1;
  return Number(match[1]) * factor;
}

function parseLogLevel(value: string): Config['logLevel'] {
  const levels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
  const level = levels.find((l) => l === value.toLowerCase());
  if (!level) throw new Error(`LOG_LEVEL must be one of ${levels.join(', ')}, got "${value}"`);
  return level;
}

/**
 * VALIDATION_WORKERS; default 1 with 4 or more cores, else 0. On 2 cores the worker took a third of
 * the request thread's CPU per write but added ~30 % to the process's (cloning, and the other core
 * is already half busy with LMDB's commits and GC), and the measured rates stayed the same
 * (bench/run.ts transaction, both ways, same minutes); it also holds its own FHIR definitions
 * (+82 MB RSS compiled, +260 MB through tsx). It starts with the first write.
 */
function validationWorkers(env: NodeJS.ProcessEnv): number {
  const raw = env.VALIDATION_WORKERS;
  if (raw === undefined || raw === '') return os.availableParallelism() >= 4 ? 1 : 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new Error(`VALIDATION_WORKERS must be an integer from 0 to 64, got "${raw}"`);
  return n;
}

/**
 * POPULATION_WORKERS; default: one per core but one (at most 4), none below 4 cores: on the shared
 * 2-core machine a worker cost more CPU than it saved (10k-practice CSV, bench:population: server
 * CPU 10.1 s in the request thread, 14.1 s with one worker; whole CSV 32 s vs 38 s under load 12–14).
 */
function populationWorkers(env: NodeJS.ProcessEnv): number {
  const raw = env.POPULATION_WORKERS;
  if (raw === undefined || raw === '') {
    const cores = os.availableParallelism();
    return cores >= 4 ? Math.min(4, cores - 1) : 0;
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new Error(`POPULATION_WORKERS must be an integer from 0 to 64, got "${raw}"`);
  return n;
}
