// Password hashing with Node's memory-hard scrypt. A stored hash names its own parameters
// (`scrypt$N$r$p$salt$hash`, base64url), so they can be raised later without breaking older hashes.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { createRequire } from 'node:module';

/** 2^15 × 8 × 128 B = 32 MiB of memory per hash, about 50–100 ms on one core. */
const DEFAULT_PARAMS = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
/** Passwords longer than this are refused before hashing: no one types them, and they cost time. */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 8;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, params = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** True when password matches the stored hash (constant-time comparison). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return false;
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  const expected = Buffer.from(parts[5], 'base64url');
  const key = await derive(password, Buffer.from(parts[4], 'base64url'), { N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/**
 * A reason the password cannot be used, or undefined when it is acceptable. `commonAllowed`: the
 * operator's own commands (`npm run users`, `IIS_ADMIN_PASSWORD`), which CONTRACT.md lets take any
 * password of the length rules; they warn instead (see `COMMON_PASSWORD_WARNING`).
 */
export function passwordProblem(password: string, options: { commonAllowed?: boolean } = {}): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `The password must have at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `The password must have at most ${MAX_PASSWORD_LENGTH} characters`;
  if (!options.commonAllowed && isCommonPassword(password)) return 'The password is one of the most commonly used (found in lists of breached passwords): choose another, e.g. a few unrelated words';
  return undefined;
}

/** What the operator's commands print when they set a commonly used password. */
export const COMMON_PASSWORD_WARNING =
  'warning: this password is one of the most commonly used (found in lists of breached passwords); it is set because an operator command sets it, but people choosing their own (the admin API, the web app) are refused it: change it soon';

let commonPasswords: Set<string> | undefined;

/**
 * NIST SP 800-63B 5.1.1.2: a new password is compared against values known to be commonly used or
 * compromised. The list is zxcvbn-ts's `passwords-common` (@zxcvbn-ts/language-common, MIT: about
 * 49,000 passwords ranked by frequency in breached-password corpora), lower case, so the comparison
 * ignores case ("Password1" is "password1"). Loaded on the first password set (about 0.2 s, some
 * 10 MB kept), not at start: signing in never needs it.
 */
export function isCommonPassword(password: string): boolean {
  commonPasswords ??= new Set(loadCommonPasswords());
  return commonPasswords.has(password.normalize('NFKC').toLowerCase());
}

function loadCommonPasswords(): string[] {
  // The package's CommonJS build, so the check stays synchronous (passwordProblem is).
  const { dictionary } = createRequire(import.meta.url)('@zxcvbn-ts/language-common') as { dictionary: Record<string, string[]> };
  const list = dictionary['passwords-common'];
  if (!Array.isArray(list) || list.length < 10_000) throw new Error('@zxcvbn-ts/language-common: the passwords-common list is missing');
  return list;
}
