import { describe, expect, it } from 'vitest';
import { hashPassword, isCommonPassword, passwordProblem, verifyPassword } from './passwords.js';

const FAST = { N: 1024, r: 8, p: 1 };

describe('passwords', () => {
  it('verifies the right password and refuses others', async () => {
    const stored = await hashPassword('correct horse battery', FAST);
    expect(stored).toMatch(/^scrypt\$1024\$8\$1\$[\w-]+\$[\w-]+$/);
    expect(await verifyPassword('correct horse battery', stored)).toBe(true);
    expect(await verifyPassword('correct horse batterY', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same password', FAST)).not.toBe(await hashPassword('same password', FAST));
  });

  it('uses the parameters stored with the hash (default parameters are memory-hard)', async () => {
    const strong = await hashPassword('long enough');
    expect(strong.startsWith('scrypt$32768$8$1$')).toBe(true);
    expect(await verifyPassword('long enough', strong)).toBe(true);
  });

  it('refuses malformed stored hashes instead of throwing', async () => {
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
    expect(await verifyPassword('x', 'scrypt$a$b$c$d$e')).toBe(false);
  });

  it('names password problems', () => {
    expect(passwordProblem('short')).toMatch(/at least 8/);
    expect(passwordProblem('long enough')).toBeUndefined();
  });

  it('refuses commonly used and breached passwords, whatever their case (NIST SP 800-63B 5.1.1.2)', () => {
    for (const common of ['password', 'Password1', '12345678', 'qwertyuiop', 'iloveyou', 'LETMEIN123', 'trustno1', 'sunshine']) {
      expect(isCommonPassword(common)).toBe(true);
      expect(passwordProblem(common)).toMatch(/most commonly used/);
    }
    for (const fine of ['correct horse battery', 'lot 4471 measles clinic', 'soon disabled 1']) expect(passwordProblem(fine)).toBeUndefined();
  });
});
