// Revocation identifiers (SMART Health Cards "Revocation"): every card carries `vc.rid`, derived
// from the patient's logical id with the construction the spec recommends,
//   rid = base64url(hmac-sha-256(secret_key || kid, patient_id)[first 64 bits])   (11 characters),
// so a revocation list names patients without publishing their ids. The key is the secret's
// base64url text followed by the kid, both as UTF-8, as the spec's own example generator does it
// (rid.test.ts reproduces the spec's published example CRL with it). One secret serves every key
// (rid is per kid through the concatenation); it lives in DATA_DIR/health-cards-rid-secret.json
// (0600, never published) and never changes, so a rotation keeps every earlier rid computable.
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

export const RID_SECRET_FILE = 'health-cards-rid-secret.json';

/** What a rid may be (spec: base64url alphabet, at most 24 characters). */
export const RID_PATTERN = /^[A-Za-z0-9_-]{1,24}$/;

/** The spec's recommended rid of `userId` for cards signed with `kid`. */
export function revocationId(secret: string, kid: string, userId: string): string {
  return createHmac('sha256', Buffer.from(secret + kid, 'utf8')).update(userId, 'utf8').digest().subarray(0, 8).toString('base64url');
}

/**
 * The issuer's revocation secret (256 random bits as base64url text), created once per DATA_DIR.
 * Creation is exclusive across processes sharing the directory (a fully written temporary file is
 * hard-linked into place, which fails if another process got there first) and reaches the disk
 * before any rid is derived from it: a lost secret would make earlier cards unrevocable.
 */
export class RidSecret {
  private readonly file: string;
  private secret?: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, RID_SECRET_FILE);
  }

  value(): string {
    this.secret ??= this.readOrCreate();
    return this.secret;
  }

  /** The rid of a patient's cards signed with `kid`. */
  ridFor(kid: string, patientId: string): string {
    return revocationId(this.value(), kid, patientId);
  }

  private readOrCreate(): string {
    const existing = this.read();
    if (existing) return existing;
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const content = `${JSON.stringify({ secret: randomBytes(32).toString('base64url'), createdAt: new Date().toISOString() }, null, 2)}\n`;
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, this.file);
      syncDirectory(path.dirname(this.file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(temp, { force: true });
    }
    const created = this.read();
    if (!created) throw new Error(`${this.file} could not be created`);
    return created;
  }

  private read(): string | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const { secret } = JSON.parse(text) as { secret?: unknown };
    if (typeof secret !== 'string' || Buffer.from(secret, 'base64url').length < 32) {
      throw new Error(`${this.file}: "secret" must be at least 256 bits as base64url`);
    }
    return secret;
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
