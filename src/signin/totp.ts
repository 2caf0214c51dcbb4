// Optional second factor: RFC 6238 time-based one-time codes (otpauth), 6 digits, 30 s, SHA-1 (what
// authenticator apps support). A code is accepted once: the step it matched is remembered, so a
// code seen over a shoulder cannot be replayed within its window.
import { Secret, TOTP } from 'otpauth';

const PERIOD_S = 30;

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totp(secret: string, label = 'user', issuer = 'IIS'): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: 6, period: PERIOD_S, secret: Secret.fromBase32(secret) });
}

/** The otpauth:// URI an authenticator app enrols from (often shown as a QR code). */
export function totpUri(secret: string, username: string, issuer: string): string {
  return totp(secret, username, issuer).toString();
}

/** The current code (tests and the CLI's self-check). */
export function currentTotp(secret: string, timestamp = Date.now()): string {
  return totp(secret).generate({ timestamp });
}

/**
 * The time step the code matches (one step of clock drift either way), or undefined when it does
 * not match or that step (or a later one) was already used.
 */
export function acceptTotp(secret: string, code: string, lastStep: number | undefined, timestamp = Date.now()): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totp(secret).validate({ token: code, timestamp, window: 1 });
  if (delta === null) return undefined;
  const step = Math.floor(timestamp / 1000 / PERIOD_S) + delta;
  if (lastStep !== undefined && step <= lastStep) return undefined;
  return step;
}
