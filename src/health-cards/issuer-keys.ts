// The SMART Health Card issuer's signing keys: ES256 (P-256) keys kept in DATA_DIR/health-cards-keys.json
// (created on first use, mode 0600). The newest key signs; every key ever used stays published in
// the JWK Set, so cards signed before a rotation still verify. kid = RFC 7638 thumbprint.
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export const KEY_FILE = 'health-cards-keys.json';

interface StoredKey {
  kid: string;
  createdAt: string;
  /** The private JWK (d included). */
  jwk: JWK;
}

interface KeyFile {
  /** Oldest first; the last one signs. */
  keys: StoredKey[];
}

export interface SigningKey {
  kid: string;
  key: CryptoKey;
}

/** The public half, as published: kty, crv, x, y, kid, use, alg. */
function publicJwk(stored: StoredKey): JWK {
  const { kty, crv, x, y } = stored.jwk;
  return { kty, crv, x, y, kid: stored.kid, use: 'sig', alg: 'ES256' };
}

async function newKey(): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'sha256');
  return { kid, createdAt: new Date().toISOString(), jwk };
}

function writeKeyFile(file: string, content: KeyFile): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
}

function readKeyFile(file: string): KeyFile {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as KeyFile;
  if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error(`${file} holds no keys`);
  for (const k of parsed.keys) {
    if (k.jwk?.kty !== 'EC' || k.jwk.crv !== 'P-256' || !k.jwk.d || typeof k.kid !== 'string') {
      throw new Error(`${file}: every key must be a private P-256 EC JWK with a kid`);
    }
  }
  return parsed;
}

/**
 * Adds a new signing key to the key file (creating it if needed) and returns its kid; the older
 * keys stay published. A running server picks the new key up on its next issuance.
 */
export async function rotateIssuerKey(dataDir: string): Promise<string> {
  const file = path.join(dataDir, KEY_FILE);
  const current = existsSync(file) ? readKeyFile(file) : { keys: [] };
  const key = await newKey();
  writeKeyFile(file, { keys: [...current.keys, key] });
  return key.kid;
}

/** The key file of one DATA_DIR, re-read when it changes on disk (rotation by another process). */
export class IssuerKeys {
  private readonly file: string;
  private loaded?: { mtimeMs: number; size: number; keys: StoredKey[]; signing: Promise<SigningKey> };
  private creating?: Promise<void>;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, KEY_FILE);
  }

  /** The key that signs new cards. */
  async signingKey(): Promise<SigningKey> {
    return (await this.current()).signing;
  }

  /** The kid of every key, oldest first (each has its own revocation list). */
  async kids(): Promise<string[]> {
    return (await this.current()).keys.map((k) => k.kid);
  }

  /** The JWK Set to publish: every key, newest last. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: (await this.current()).keys.map(publicJwk) };
  }

  private async current(): Promise<NonNullable<IssuerKeys['loaded']>> {
    if (!existsSync(this.file)) {
      // Created once per process even when requests race; rename makes the file appear whole.
      this.creating ??= (async () => {
        if (!existsSync(this.file)) writeKeyFile(this.file, { keys: [await newKey()] });
      })();
      await this.creating;
    }
    const stat = statSync(this.file);
    if (!this.loaded || this.loaded.mtimeMs !== stat.mtimeMs || this.loaded.size !== stat.size) {
      const { keys } = readKeyFile(this.file);
      const newest = keys[keys.length - 1];
      const signing = importJWK({ ...newest.jwk, alg: 'ES256' }, 'ES256').then((key) => ({ kid: newest.kid, key: key as CryptoKey }));
      this.loaded = { mtimeMs: stat.mtimeMs, size: stat.size, keys, signing };
    }
    return this.loaded;
  }
}
