// The development signing secret: with no AUTH_JWT_SECRET and no JWKS issuer configured, the
// server creates one in DATA_DIR on first start so `npm run token` can mint tokens for it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';

export const SECRET_FILE = 'auth-secret';

export interface SigningSecret {
  secret: string;
  /** True when the secret was created now, in DATA_DIR. */
  created: boolean;
  source: 'AUTH_JWT_SECRET' | 'DATA_DIR';
}

/** AUTH_JWT_SECRET if set; else the DATA_DIR secret (created when missing). */
export function loadSigningSecret(config: Config, options: { create: boolean }): SigningSecret | undefined {
  if (config.authJwtSecret) return { secret: config.authJwtSecret, created: false, source: 'AUTH_JWT_SECRET' };
  const file = path.join(config.dataDir, SECRET_FILE);
  try {
    return { secret: readFileSync(file, 'utf8').trim(), created: false, source: 'DATA_DIR' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !options.create) return undefined;
  }
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return { secret, created: true, source: 'DATA_DIR' };
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      return { secret: readFileSync(file, 'utf8').trim(), created: false, source: 'DATA_DIR' };
    }
    throw err;
  }
}
