// Typed configuration from the environment (CONTRACT.md "Running it").
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
  };
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
