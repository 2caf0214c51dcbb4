import { describe, expect, it } from 'vitest';
import { acceptTotp, currentTotp, newTotpSecret, totpUri } from './totp.js';

describe('TOTP second factor', () => {
  it('accepts the current code once, refuses replay and wrong codes', () => {
    const secret = newTotpSecret();
    const now = Date.now();
    const code = currentTotp(secret, now);
    const step = acceptTotp(secret, code, undefined, now);
    expect(step).toBeTypeOf('number');
    expect(acceptTotp(secret, code, step, now)).toBeUndefined();
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    expect(acceptTotp(secret, wrong, undefined, now)).toBeUndefined();
    expect(acceptTotp(secret, 'abcdef', undefined, now)).toBeUndefined();
  });

  it('tolerates one step of clock drift, not more', () => {
    const secret = newTotpSecret();
    const now = Date.now();
    expect(acceptTotp(secret, currentTotp(secret, now - 30_000), undefined, now)).toBeTypeOf('number');
    expect(acceptTotp(secret, currentTotp(secret, now - 95_000), undefined, now)).toBeUndefined();
  });

  it('makes an otpauth URI for authenticator apps', () => {
    expect(totpUri(newTotpSecret(), 'nurse.joy', 'IIS')).toMatch(/^otpauth:\/\/totp\/IIS:nurse\.joy\?/);
  });
});
