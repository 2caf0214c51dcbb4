import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/store.js';
import { FAST_HASH, tempStore } from './test-helpers.js';
import { currentTotp, newTotpSecret } from './totp.js';
import { UserDirectory, USER_TYPE, viewOf } from './users.js';

let store: Store;
let dispose: () => Promise<void>;
let users: UserDirectory;
const suspended = new Set<string>();

beforeEach(async () => {
  ({ store, dispose } = await tempStore());
  users = new UserDirectory(store, { hashParams: FAST_HASH, lockoutAttempts: 3, facilityActive: async (org) => !suspended.has(org) });
});
afterEach(async () => {
  suspended.clear();
  await dispose();
});

const nurse = { username: 'Nurse.Joy', password: 'pallet town 1', role: 'clinician', organization: 'Organization/clinic-a' };

describe('UserDirectory', () => {
  it('creates a user once per username (case-insensitive) and never exposes the hash', async () => {
    const user = await users.create(nurse);
    expect(user.username).toBe('nurse.joy');
    await expect(users.create({ ...nurse, username: 'NURSE.JOY' })).rejects.toMatchObject({ status: 409 });
    const view = viewOf(user) as unknown as Record<string, unknown>;
    expect(view.passwordHash).toBeUndefined();
    expect(JSON.stringify(view)).not.toContain('scrypt');
    expect((await store.read(USER_TYPE, user.id))?.resource).toBeTruthy();
  });

  it('refuses bad input with every problem at once', async () => {
    const err = await users.create({ username: '!', password: 'short', role: 'nurse' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    const text = JSON.stringify((err as { outcome: unknown }).outcome);
    expect(text).toMatch(/username/);
    expect(text).toMatch(/at least 8/);
    expect(text).toMatch(/role must be one of/);
    await expect(users.create({ ...nurse, organization: undefined })).rejects.toMatchObject({ status: 400 });
    await expect(users.create({ ...nurse, role: 'admin' })).rejects.toMatchObject({ status: 400 });
  });

  it('refuses a commonly used password at creation and at every change (NIST SP 800-63B 5.1.1.2)', async () => {
    const err = await users.create({ ...nurse, username: 'nurse.common', password: 'Password123' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    expect(JSON.stringify((err as { outcome: unknown }).outcome)).toMatch(/most commonly used/);
    expect(await users.findByUsername('nurse.common')).toBeUndefined();
    const created = await users.create({ ...nurse, username: 'nurse.changes', password: 'a fine first one' });
    await expect(users.setPassword(created.id, 'iloveyou1')).rejects.toMatchObject({ status: 400 });
    expect(await users.authenticate('nurse.changes', 'a fine first one')).toMatchObject({ ok: true });
    // The operator's commands (npm run users, IIS_ADMIN_PASSWORD) may set one; the length rules still hold.
    await users.create({ ...nurse, username: 'nurse.operator', password: 'Password123' }, { allowCommonPassword: true });
    expect(await users.authenticate('nurse.operator', 'Password123')).toMatchObject({ ok: true });
    await expect(users.create({ ...nurse, username: 'nurse.short', password: 'pass' }, { allowCommonPassword: true })).rejects.toMatchObject({ status: 400 });
  });

  it('signs in with the right password only', async () => {
    await users.create(nurse);
    expect(await users.authenticate('nurse.joy', 'pallet town 1')).toMatchObject({ ok: true, user: { username: 'nurse.joy' } });
    expect(await users.authenticate('nurse.joy', 'wrong password')).toMatchObject({ ok: false, reason: 'invalid-credentials' });
    expect(await users.authenticate('nobody', 'pallet town 1')).toMatchObject({ ok: false, reason: 'invalid-credentials' });
  });

  it('locks the account after repeated failures, even for the right password', async () => {
    await users.create(nurse);
    await users.authenticate('nurse.joy', 'bad 1');
    await users.authenticate('nurse.joy', 'bad 2');
    expect(await users.authenticate('nurse.joy', 'bad 3')).toMatchObject({ ok: false, reason: 'locked' });
    expect(await users.authenticate('nurse.joy', 'pallet town 1')).toMatchObject({ ok: false, reason: 'locked' });
    const user = await users.findByUsername('nurse.joy');
    await users.update(user!.id, (u) => ({ ...u, lockedUntil: undefined }));
    expect(await users.authenticate('nurse.joy', 'pallet town 1')).toMatchObject({ ok: true });
  });

  it('counts guesses sent at once one by one: a burst gets no more than the lockout allows, the right password in it included', async () => {
    await users.create(nurse);
    // Twelve guesses at once, the right password last (lockout after 3 in this directory).
    const guesses = [...Array.from({ length: 11 }, (_, i) => `bad ${i}`), 'pallet town 1'];
    const results = await Promise.all(guesses.map((password) => users.authenticate('nurse.joy', password)));
    expect(results.map((r) => r.ok ? 'ok' : r.reason)).toEqual([
      'invalid-credentials',
      'invalid-credentials',
      ...Array.from({ length: 10 }, () => 'locked'),
    ]);
    // The account stays locked: the right password did not clear the lockout.
    expect(await users.authenticate('nurse.joy', 'pallet town 1')).toMatchObject({ ok: false, reason: 'locked' });
  });

  it('does not sign in over a lockout another process wrote while the password was checked', async () => {
    const created = await users.create(nurse);
    const elsewhere = new UserDirectory(store, { hashParams: FAST_HASH, lockoutAttempts: 3 });
    const checking = users.authenticate('nurse.joy', 'pallet town 1');
    // The other process's lockout lands while this one's password check (scrypt) runs.
    await elsewhere.update(created.id, (u) => ({ ...u, lockedUntil: new Date(Date.now() + 60_000).toISOString() }));
    expect(await checking).toMatchObject({ ok: false, reason: 'locked' });
  });

  it('refuses disabled users and users of suspended facilities', async () => {
    const user = await users.create(nurse);
    await users.update(user.id, (u) => ({ ...u, active: false }));
    expect(await users.authenticate('nurse.joy', 'pallet town 1')).toMatchObject({ ok: false, reason: 'disabled' });
    await users.update(user.id, (u) => ({ ...u, active: true }));
    suspended.add('Organization/clinic-a');
    expect(await users.authenticate('nurse.joy', 'pallet town 1')).toMatchObject({ ok: false, reason: 'facility-suspended' });
  });

  it('asks for the TOTP code when the user has a second factor', async () => {
    const user = await users.create(nurse);
    const secret = newTotpSecret();
    await users.update(user.id, (u) => ({ ...u, totp: { secret } }));
    expect(await users.authenticate('nurse.joy', 'pallet town 1')).toMatchObject({ ok: false, reason: 'totp-required' });
    expect(await users.authenticate('nurse.joy', 'pallet town 1', '000000')).toMatchObject({ ok: false });
    const code = currentTotp(secret);
    expect(await users.authenticate('nurse.joy', 'pallet town 1', code)).toMatchObject({ ok: true });
    // The same code is not accepted twice.
    expect(await users.authenticate('nurse.joy', 'pallet town 1', code)).toMatchObject({ ok: false, reason: 'totp-invalid' });
  });

  it('lists users of one facility', async () => {
    await users.create(nurse);
    await users.create({ ...nurse, username: 'other', organization: 'Organization/clinic-b' });
    expect((await users.list({ organization: 'Organization/clinic-a' })).map((u) => u.username)).toEqual(['nurse.joy']);
    expect(await users.list()).toHaveLength(2);
  });
});
