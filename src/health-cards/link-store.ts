// The state of SMART Health Links, kept in the data store as short-lived records (store/expiring.ts,
// like the sign-in server's sessions and codes): not resources, so no FHIR read, search, history or
// export reaches them; each expires with its link and is then never returned again; both stores
// (embedded LMDB, MongoDB) keep them durably (a create is on disk before its answer).
//   - namespace `health-links`: one record per link, keyed by its handle (SHA-256 of the id, see
//     shlink.ts), found by `patient` (its Patient id) to deactivate every link of a patient;
//   - namespace `health-link-files`: the single-use `location` URLs of a manifest's files, keyed
//     by the SHA-256 of their token, found by `link` and `patient` to remove them with the link.
// The passcode is kept as a salted scrypt hash, never in the clear. Wrong passcodes are counted
// under a store lock per link (Store.withLock: across every process sharing the store), and the
// check itself runs under it too, so parallel guesses are decided one by one and their total over
// the link's life never exceeds the limit; the last allowed wrong one removes the link.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Caller } from '../fhir/request.js';
import type { ExpiringRecords } from '../store/expiring.js';
import type { Store } from '../store/store.js';
import { linkHandle, randomToken } from './shlink.js';

/** Wrong passcodes a link survives over its whole life; the last one disables it. */
export const PASSCODE_ATTEMPTS = 10;
/** How long a manifest's `location` URL can be fetched (the spec allows at most one hour). */
export const FILE_URL_TTL_MS = 5 * 60_000;
/** Longest life of a link; a later `expiration` is cut to it. */
export const MAX_LINK_LIFETIME_MS = 365 * 24 * 3_600_000;
export const MAX_PASSCODE_LENGTH = 256;

/**
 * Who shared a long-term link: the card is re-issued as this caller at each manifest request (the
 * caller's identity fields, and the scope context the sharer read the patient under).
 */
export type LinkSharer = Pick<Caller, 'sub' | 'organization' | 'fhirUser' | 'patient' | 'clientId' | 'issuer'> & {
  context: 'patient' | 'user' | 'system';
};

export interface HealthLink {
  /** SHA-256 of the link id (base64url): the link's name in the store, the audit trail and revocation. */
  handle: string;
  /** The Patient id whose card the link shares. */
  patient: string;
  /** The files' encryption key (base64url, 32 bytes). */
  key: string;
  /** Flags in alphabetical order: L, P, U (never P with U), or ''. */
  flag: string;
  label?: string;
  /** `scrypt$N$r$p$salt$hash` when the link needs a passcode. */
  passcode?: string;
  /** Wrong passcodes left (links with a passcode). */
  attemptsLeft?: number;
  /** The card (JWS) of a snapshot link, signed when the link was made. */
  card?: string;
  /** Who a long-term link re-issues the card as. */
  sharer?: LinkSharer;
  created: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export type PasscodeCheck = { ok: true; link: HealthLink } | { ok: false; remainingAttempts: number; disabled: boolean };

const SCRYPT = { N: 2 ** 14, r: 8, p: 1 };

/** A file taken by its single-use URL, with what its AuditEvent names. */
export interface TakenFile {
  jwe: string;
  recipient: string;
  contentType: string;
  link: Pick<HealthLink, 'handle' | 'patient' | 'flag' | 'label'>;
}

export class HealthLinks {
  private readonly links: ExpiringRecords;
  private readonly files: ExpiringRecords;

  constructor(private readonly store: Store) {
    this.links = store.expiringRecords('health-links');
    this.files = store.expiringRecords('health-link-files');
  }

  /** Stores a new link (durably, before it is handed out). */
  async create(link: Omit<HealthLink, 'passcode' | 'attemptsLeft'>, passcode?: string): Promise<HealthLink> {
    const stored: HealthLink = { ...link, ...(passcode === undefined ? {} : { passcode: await hashPasscode(passcode), attemptsLeft: PASSCODE_ATTEMPTS }) };
    const { handle, expiresAt, ...value } = stored;
    await this.links.put({ key: handle, value: value as Record<string, unknown>, expiresAt, lookups: { patient: link.patient } });
    return stored;
  }

  /** The live link with this handle (not expired, revoked or disabled), or undefined. */
  async get(handle: string): Promise<HealthLink | undefined> {
    const record = await this.links.get(handle);
    return record ? ({ ...(record.value as Omit<HealthLink, 'handle' | 'expiresAt'>), handle: record.key, expiresAt: record.expiresAt } as HealthLink) : undefined;
  }

  /**
   * Checks a passcode against a link that needs one, one check at a time per link: a wrong one
   * costs an attempt, and the last attempt removes the link with its files; none at all is refused
   * without costing one (no guess was made). Undefined when the link is gone (expired, revoked,
   * disabled).
   */
  async checkPasscode(handle: string, passcode: string | undefined): Promise<PasscodeCheck | undefined> {
    return this.store.withLock(`health-link:${handle}`, async () => {
      const link = await this.get(handle);
      if (!link) return undefined;
      if (!link.passcode) return { ok: true, link };
      const left = link.attemptsLeft ?? 0;
      if (left <= 0) {
        await this.remove(handle);
        return undefined;
      }
      if (passcode === undefined) return { ok: false, remainingAttempts: left, disabled: false };
      if (await verifyPasscode(passcode, link.passcode)) return { ok: true, link };
      const remainingAttempts = left - 1;
      if (remainingAttempts <= 0) await this.remove(handle);
      else await this.links.update(handle, { attemptsLeft: remainingAttempts });
      return { ok: false, remainingAttempts, disabled: remainingAttempts <= 0 };
    });
  }

  /** Removes one link of a patient and its file URLs; false when there is no such live link. */
  async revoke(handle: string, patientId: string): Promise<boolean> {
    const link = await this.get(handle);
    if (!link || link.patient !== patientId) return false;
    await this.remove(handle);
    return true;
  }

  /** Removes every link of a patient (live or expired) and their file URLs; how many links there were. */
  async revokePatient(patientId: string): Promise<number> {
    const n = await this.links.removeBy('patient', patientId);
    await this.files.removeBy('patient', patientId);
    return n;
  }

  /** A single-use URL token for one encrypted file of a manifest; expires after FILE_URL_TTL_MS. */
  /**
   * A single-use file URL's token. The file keeps what its fetch's AuditEvent names: the link (its
   * handle, flag, label), the patient and the recipient of the manifest request that listed it.
   */
  async putFile(link: HealthLink, jwe: string, recipient: string, contentType: string, now = Date.now()): Promise<string> {
    const token = randomToken();
    const value: Record<string, unknown> = { jwe, recipient, contentType, flag: link.flag };
    if (link.label !== undefined) value.label = link.label;
    await this.files.put({ key: linkHandle(token), value, expiresAt: now + FILE_URL_TTL_MS, lookups: { link: link.handle, patient: link.patient } });
    return token;
  }

  /** The file behind a token, once: the first fetch removes it. */
  async takeFile(token: string): Promise<TakenFile | undefined> {
    const record = await this.files.take(linkHandle(token));
    const { jwe, recipient, contentType, flag, label } = record?.value ?? {};
    if (typeof jwe !== 'string') return undefined;
    return {
      jwe,
      recipient: typeof recipient === 'string' ? recipient : '(not recorded)',
      contentType: typeof contentType === 'string' ? contentType : 'unknown',
      link: {
        handle: record?.lookups?.link ?? '',
        patient: record?.lookups?.patient ?? '',
        flag: typeof flag === 'string' ? flag : '',
        ...(typeof label === 'string' ? { label } : {}),
      },
    };
  }

  /** Removes expired links and file URLs (a bounded number per call). */
  async sweep(): Promise<number> {
    return (await this.links.sweep()) + (await this.files.sweep());
  }

  private async remove(handle: string): Promise<void> {
    await this.links.remove(handle);
    await this.files.removeBy('link', handle);
  }
}

function derive(passcode: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(passcode.normalize('NFKC'), salt, 32, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash` (base64url): a salted, memory-hard hash of the passcode. */
export async function hashPasscode(passcode: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(passcode, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** True when the passcode matches the stored hash (constant-time comparison). */
export async function verifyPasscode(passcode: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt' || passcode.length > MAX_PASSCODE_LENGTH) return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return false;
  const expected = Buffer.from(parts[5], 'base64url');
  const key = await derive(passcode, Buffer.from(parts[4], 'base64url'), { N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
