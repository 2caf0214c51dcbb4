// SMART Health Links (HL7 SMART Health Cards and Links IG, "SMART Health Links"): the pure parts.
// A link is `shlink:/` + base64url(minified JSON payload {url, key, exp?, flag?, label?}); `url` is
// the manifest URL, whose last path segment is the link id (32 random bytes, base64url: 256 bits of
// entropy, the capability itself); `key` (32 other random bytes) encrypts every file the manifest
// lists, as a compact JWE with alg `dir`, enc `A256GCM` and `cty` = the file's content type.
// The store never keys a link by its id: it keys it by the id's SHA-256 (`handle`), which is also
// the name audit events and the family use for the link. So a look-up's timing depends on a hash
// the caller cannot steer, not on how many leading characters of a guessed id were right, and
// neither the store nor the audit trail holds a usable link.
import { createHash, randomBytes } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import QRCode from 'qrcode';

export const SHLINK_PREFIX = 'shlink:/';
/** Path of the manifest URL under PUBLIC_BASE_URL: `/shl/{id}`; single-use file URLs: `/shl/file/{token}`. */
export const MANIFEST_PATH = '/shl';
/** A link id or file token: 32 bytes, base64url without padding. */
export const LINK_ID = /^[A-Za-z0-9_-]{43}$/;
/** The spec's limits: manifest URL at most 128 characters, label at most 80. */
export const MAX_MANIFEST_URL = 128;
export const MAX_LABEL = 80;

export interface ShlinkPayload {
  url: string;
  key: string;
  /** Expiry in seconds since the epoch (a hint for the receiving app; the server enforces it). */
  exp?: number;
  /** Single-letter flags in alphabetical order: L long-term, P passcode, U direct file (GET, no manifest). */
  flag?: string;
  label?: string;
}

/** 32 random bytes, base64url: a link id, a file token or an encryption key. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The name a link is stored and audited under: base64url(SHA-256(id)). */
export function linkHandle(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('base64url');
}

/** `shlink:/…` for a payload (minified JSON, base64url; properties in the spec's order). */
export function encodeShlink(payload: ShlinkPayload): string {
  const ordered: ShlinkPayload = { url: payload.url, key: payload.key };
  if (payload.exp !== undefined) ordered.exp = payload.exp;
  if (payload.flag) ordered.flag = payload.flag;
  if (payload.label !== undefined) ordered.label = payload.label;
  return SHLINK_PREFIX + Buffer.from(JSON.stringify(ordered), 'utf8').toString('base64url');
}

/**
 * The payload of a `shlink:/…` URI, with or without a viewer prefix (`https://viewer…#shlink:/…`),
 * or undefined when it is not one.
 */
export function decodeShlink(uri: string): ShlinkPayload | undefined {
  const at = uri.indexOf(SHLINK_PREFIX);
  if (at < 0 || uri.length > 4096) return undefined;
  const encoded = uri.slice(at + SHLINK_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as ShlinkPayload;
    return payload && typeof payload.url === 'string' && typeof payload.key === 'string' ? payload : undefined;
  } catch {
    return undefined;
  }
}

/** The link id: the last path segment of a manifest URL, when it has the id's form. */
export function linkIdOf(manifestUrl: string): string | undefined {
  const last = manifestUrl.split(/[?#]/)[0].split('/').pop() ?? '';
  return LINK_ID.test(last) ? last : undefined;
}

/**
 * A file of the manifest encrypted for the link: compact JWE, `dir` + `A256GCM`, `cty` its content
 * type. jose draws a fresh 96-bit IV for every call, as the spec requires when one key encrypts
 * every version of a file. No `zip`: optional in the spec, and a card's JWS is already deflated.
 */
export function encryptFile(key: string, contentType: string, content: string): Promise<string> {
  return new CompactEncrypt(Buffer.from(content, 'utf8'))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: contentType })
    .encrypt(Buffer.from(key, 'base64url'));
}

/**
 * The link's QR code: the whole `shlink:/…` URI in one byte segment at error correction M (the
 * spec's recommendation; base64url is mixed-case, so neither numeric nor alphanumeric mode fits).
 */
export function shlinkQrPng(shlink: string): Promise<Buffer> {
  return QRCode.toBuffer([{ data: Buffer.from(shlink, 'latin1'), mode: 'byte' }], { errorCorrectionLevel: 'M', type: 'png', margin: 4, scale: 4 });
}

export function shlinkQrSvg(shlink: string): Promise<string> {
  return QRCode.toString([{ data: Buffer.from(shlink, 'latin1'), mode: 'byte' }], { errorCorrectionLevel: 'M', type: 'svg', margin: 4 });
}
