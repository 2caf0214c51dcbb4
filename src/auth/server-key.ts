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

export interface ServerKey {
  alg: typeof SERVER_KEY_ALG;
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

/** Loads DATA_DIR/auth-signing-key.json, creating it (mode 0600) when missing. */
export async function loadServerKey(dataDir: string): Promise<LoadedServerKey> {
  const file = path.join(dataDir, SERVER_KEY_FILE);
  const existing = readKeyFile(file);
  if (existing) return { key: await importKey(existing, file), created: false, file };
  const { privateKey } = await generateKeyPair(SERVER_KEY_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk, 'sha256');
  jwk.alg = SERVER_KEY_ALG;
  jwk.use = 'sig';
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(file, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' });
    return { key: await importKey(jwk, file), created: true, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process created it first: use theirs.
    return { key: await importKey(readKeyFile(file) as JWK, file), created: false, file };
  }
}

/** The public JWK Set served at /auth/jwks.json. */
export function publicJwks(key: ServerKey): { keys: JWK[] } {
  return { keys: [key.publicJwk] };
}

function readKeyFile(file: string): JWK | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file} is not a readable JSON Web Key: ${(err as Error).message}`);
  }
}

async function importKey(jwk: JWK, file: string): Promise<ServerKey> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-384' || typeof jwk.d !== 'string') {
    throw new Error(`${file} must hold a private EC P-384 JWK (ES384)`);
  }
  const { d: _d, ...publicMembers } = jwk;
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicMembers, 'sha256'));
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: SERVER_KEY_ALG, use: 'sig' };
  const privateKey = (await importJWK({ ...jwk, kid }, SERVER_KEY_ALG)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, SERVER_KEY_ALG)) as CryptoKey;
  const privateJwk: JWK = { ...publicJwk, d: jwk.d };
  return { alg: SERVER_KEY_ALG, kid, privateKey, publicKey, publicJwk, privateJwk };
}
