// The server's own token-signing key (SMART Backend Services access tokens): an ES384 key pair
// created in DATA_DIR on first start, like the HS256 development secret (secret.ts). Its public
// half is published at /auth/jwks.json. Rotation: delete the file and restart (issued tokens live
// 5 minutes, so tokens signed with the old key die quickly). Every server node needs its own copy
// of the file (or a shared DATA_DIR) for tokens issued by one node to be accepted by the others.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export const SERVER_KEY_FILE = 'auth-signing-key.json';
export const SERVER_KEY_ALG = 'ES384';
/**
 * The sign-in authorization server's key (src/signin): access and id tokens of people's apps. P-256
 * because those tokens are signed at every code exchange and checked at first sight by the FHIR
 * endpoint, and P-256 signatures cost a fraction of P-384 ones (OpenSSL's optimised curve).
 */
export const SIGNIN_KEY_FILE = 'auth-signin-key.json';
export const SIGNIN_KEY_ALG = 'ES256';

export type ServerKeyAlg = typeof SERVER_KEY_ALG | typeof SIGNIN_KEY_ALG;
const CURVES: Record<ServerKeyAlg, string> = { ES384: 'P-384', ES256: 'P-256' };

export interface ServerKey {
  alg: ServerKeyAlg;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public JWK (kty, crv, x, y, kid, alg, use). */
  publicJwk: JWK;
  /** The private JWK, for the sign-in authorization server (src/signin) that signs with the same key. */
  privateJwk: JWK;
}

export interface LoadedServerKey {
  key: ServerKey;
  /** True when the key was created now. */
  created: boolean;
  file: string;
}

/**
 * Loads DATA_DIR/auth-signing-key.json (ES384, backend-services tokens) or, for `signin`,
 * DATA_DIR/auth-signin-key.json (ES256), creating it (mode 0600) when missing.
 */
export async function loadServerKey(dataDir: string, which: 'backend' | 'signin' = 'backend'): Promise<LoadedServerKey> {
  const alg: ServerKeyAlg = which === 'signin' ? SIGNIN_KEY_ALG : SERVER_KEY_ALG;
  const file = path.join(dataDir, which === 'signin' ? SIGNIN_KEY_FILE : SERVER_KEY_FILE);
  const existing = readKeyFile(file);
  if (existing) return { key: await importKey(existing, file, alg), created: false, file };
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk, 'sha256');
  jwk.alg = alg;
  jwk.use = 'sig';
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(file, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' });
    return { key: await importKey(jwk, file, alg), created: true, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process created it first: use theirs.
    return { key: await importKey(readKeyFile(file) as JWK, file, alg), created: false, file };
  }
}

/** The public JWK Set served at /auth/jwks.json. */
export function publicJwks(...keys: ServerKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

function readKeyFile(file: string): JWK | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file} is not a readable JSON Web Key: ${(err as Error).message}`);
  }
}

async function importKey(jwk: JWK, file: string, alg: ServerKeyAlg): Promise<ServerKey> {
  if (jwk.kty !== 'EC' || jwk.crv !== CURVES[alg] || typeof jwk.d !== 'string') {
    throw new Error(`${file} must hold a private EC ${CURVES[alg]} JWK (${alg})`);
  }
  const { d: _d, ...publicMembers } = jwk;
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicMembers, 'sha256'));
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: alg, use: 'sig' };
  const privateKey = (await importJWK({ ...jwk, kid }, alg)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, alg)) as CryptoKey;
  const privateJwk: JWK = { ...publicJwk, d: jwk.d };
  return { alg, kid, privateKey, publicKey, publicJwk, privateJwk };
}
