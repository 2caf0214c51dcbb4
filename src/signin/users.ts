// People who sign in: stored in the Store as documents of the internal type SigninUser (never
// served over REST: not a FHIR type, so no read, search, history or export reaches them, and the
// password hash and TOTP secret never leave this module). A user's id is derived from the
// username, so "one account per username" is enforced by the store's create precondition alone.
import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, conflict, notFound } from '../fhir/outcome.js';
import { VersionConflictError, type ResourceRecord, type Store } from '../store/store.js';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import { FACILITY_ROLES, isRole, type Role } from './roles.js';
import { acceptTotp } from './totp.js';

export const USER_TYPE = 'SigninUser';

export interface User {
  id: string;
  username: string;
  name?: string;
  /** `Organization/<id>`: the facility the user works for; absent for public-health admins. */
  organization?: string;
  role: Role;
  active: boolean;
  passwordHash: string;
  /** Consecutive failed sign-ins since the last success (lockout). */
  failedAttempts: number;
  /** Locked out until this instant (ISO). */
  lockedUntil?: string;
  /** TOTP second factor: base32 secret and the last time step accepted (no replay). */
  totp?: { secret: string; lastStep?: number };
  createdAt: string;
  updatedAt: string;
  lastSignInAt?: string;
}

/** What administrators and APIs may see of a user. */
export interface UserView {
  id: string;
  username: string;
  name?: string;
  organization?: string;
  role: Role;
  active: boolean;
  locked: boolean;
  totp: boolean;
  fhirUser: string;
  createdAt: string;
  updatedAt: string;
  lastSignInAt?: string;
}

export function viewOf(user: User, now = Date.now()): UserView {
  return {
    id: user.id,
    username: user.username,
    ...(user.name ? { name: user.name } : {}),
    ...(user.organization ? { organization: user.organization } : {}),
    role: user.role,
    active: user.active,
    locked: isLocked(user, now),
    totp: Boolean(user.totp),
    fhirUser: fhirUserOf(user),
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
    ...(user.lastSignInAt ? { lastSignInAt: user.lastSignInAt } : {}),
  };
}

/** The `fhirUser` of a user: the Practitioner it stands for (relative; absolute in tokens). */
export function fhirUserOf(user: { id: string }): string {
  return `Practitioner/${user.id}`;
}

const USERNAME = /^[a-z0-9][a-z0-9._@-]{1,63}$/;
const ORGANIZATION = /^Organization\/[A-Za-z0-9\-.]{1,64}$/;

export function normaliseUsername(username: string): string {
  return username.trim().toLowerCase();
}

export function userIdFor(username: string): string {
  return `u-${createHash('sha256').update(normaliseUsername(username)).digest('hex').slice(0, 32)}`;
}

export interface NewUser {
  username: string;
  password: string;
  role: string;
  organization?: string;
  name?: string;
}

export type SignInFailure = 'invalid-credentials' | 'locked' | 'disabled' | 'facility-suspended' | 'totp-required' | 'totp-invalid';

export type SignInResult = { ok: true; user: User } | { ok: false; reason: SignInFailure; user?: User };

export interface DirectoryOptions {
  /** Failed attempts in a row that lock the account (default 5). */
  lockoutAttempts?: number;
  /** How long a lockout lasts (default 15 minutes). */
  lockoutMinutes?: number;
  /** scrypt parameters for new hashes (tests use cheaper ones). */
  hashParams?: { N: number; r: number; p: number };
  /** Whether a facility may sign in (Organization.active not false). */
  facilityActive?: (organization: string) => Promise<boolean>;
  /** Called with every user this directory has just changed (revocations.ts: a disabled user's tokens stop at once). */
  onChange?: (user: User) => void;
}

/** Hash checked for unknown usernames, so a miss costs as much time as a wrong password. */
let decoyHash: Promise<string> | undefined;

export class UserDirectory {
  private readonly lockoutAttempts: number;
  private readonly lockoutMs: number;
  /** Per user id: the end of the sign-in check running for that user in this process (see authenticate). */
  private readonly signInChecks = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly options: DirectoryOptions = {}
  ) {
    this.lockoutAttempts = options.lockoutAttempts ?? 5;
    this.lockoutMs = (options.lockoutMinutes ?? 15) * 60_000;
  }

  async get(id: string): Promise<User | undefined> {
    return userOf(await this.store.read(USER_TYPE, id));
  }

  async findByUsername(username: string): Promise<User | undefined> {
    return this.get(userIdFor(username));
  }

  async list(filter: { organization?: string } = {}): Promise<User[]> {
    const records = await this.store.search(USER_TYPE, {
      filter: filter.organization ? { 's.organization': filter.organization } : {},
      sort: [{ field: '_id', direction: 1 }],
      limit: 10_000,
    });
    return records.map(userOf).filter((u): u is User => u !== undefined);
  }

  /**
   * Creates a user; 400 for bad input, 409 when the username is taken. `allowCommonPassword`: the
   * operator's commands (passwords.ts, `passwordProblem`).
   */
  async create(input: NewUser, options: { allowCommonPassword?: boolean } = {}): Promise<User> {
    const username = normaliseUsername(input.username ?? '');
    const problems: string[] = [];
    if (!USERNAME.test(username)) problems.push('The username must be 2-64 characters: letters, digits, ".", "_", "@" or "-"');
    const weak = passwordProblem(input.password ?? '', { commonAllowed: options.allowCommonPassword });
    if (weak) problems.push(weak);
    if (!isRole(input.role)) problems.push(`The role must be one of admin, ${FACILITY_ROLES.join(', ')}`);
    else if (input.role === 'admin' && input.organization) problems.push('A public-health admin belongs to no facility: leave the organization out');
    else if (input.role !== 'admin' && !input.organization) problems.push(`A ${input.role} user needs an organization (Organization/<id>)`);
    if (input.organization && !ORGANIZATION.test(input.organization)) problems.push('The organization must look like Organization/<id>');
    if (problems.length > 0) throw badRequest(problems.join('; '));
    const now = new Date().toISOString();
    const user: User = {
      id: userIdFor(username),
      username,
      ...(input.name ? { name: input.name } : {}),
      ...(input.organization ? { organization: input.organization } : {}),
      role: input.role as Role,
      active: true,
      passwordHash: await hashPassword(input.password, this.options.hashParams),
      failedAttempts: 0,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.store.write({ resourceType: USER_TYPE, id: user.id, resource: toResource(user), ifVersion: 'absent', index: indexOf(user) });
    } catch (err) {
      if (err instanceof VersionConflictError) throw conflict(`The username "${username}" is taken`);
      throw err;
    }
    return user;
  }

  /** Read-modify-write with the version as precondition, retried on conflicts; 404 for no such user. */
  async update(id: string, change: (user: User) => User | Promise<User>): Promise<User> {
    for (let attempt = 0; ; attempt++) {
      const record = await this.store.read(USER_TYPE, id);
      const current = userOf(record);
      if (!record || !current) throw notFound(`No user ${id}`);
      const next = { ...(await change(current)), id, updatedAt: new Date().toISOString() };
      try {
        await this.store.write({ resourceType: USER_TYPE, id, resource: toResource(next), ifVersion: record.versionId, index: indexOf(next) });
        this.options.onChange?.(next);
        return next;
      } catch (err) {
        if (err instanceof VersionConflictError && attempt < 5) continue;
        throw err;
      }
    }
  }

  async setPassword(id: string, password: string, options: { allowCommonPassword?: boolean } = {}): Promise<User> {
    const weak = passwordProblem(password ?? '', { commonAllowed: options.allowCommonPassword });
    if (weak) throw badRequest(weak);
    const passwordHash = await hashPassword(password, this.options.hashParams);
    return this.update(id, (u) => ({ ...u, passwordHash, failedAttempts: 0, lockedUntil: undefined }));
  }

  /**
   * Checks a username and password (and the TOTP code when the user has a second factor).
   * Failures count towards the lockout; a locked, disabled or suspended-facility account is refused
   * even with the right password.
   */
  async authenticate(username: string, password: string, totpCode?: string): Promise<SignInResult> {
    const known = typeof username === 'string' && username.length <= 256 ? await this.findByUsername(username) : undefined;
    if (!known) {
      decoyHash ??= hashPassword('decoy password', this.options.hashParams);
      await verifyPassword(typeof password === 'string' ? password : '', await decoyHash);
      return { ok: false, reason: 'invalid-credentials' };
    }
    // One check at a time per user: guesses sent at once all read the account before any failure
    // was counted, so a burst of 20 got 20 guesses past a 5-attempt lockout (and version conflicts
    // on the counter answered 409 without counting the guess). Each check now reads the account as
    // the previous one left it; once locked, the rest are refused without a password check.
    return this.oneCheckAtATime(known.id, async () => {
      const user = await this.get(known.id);
      if (!user) return { ok: false, reason: 'invalid-credentials' };
      return this.checkCredentials(user, password, totpCode);
    });
  }

  private async oneCheckAtATime(userId: string, check: () => Promise<SignInResult>): Promise<SignInResult> {
    const previous = this.signInChecks.get(userId) ?? Promise.resolve();
    const result = previous.then(check);
    const done = result.then(
      () => undefined,
      () => undefined
    );
    this.signInChecks.set(userId, done);
    void done.then(() => {
      if (this.signInChecks.get(userId) === done) this.signInChecks.delete(userId);
    });
    return result;
  }

  private async checkCredentials(user: User, password: string, totpCode: string | undefined): Promise<SignInResult> {
    if (isLocked(user)) return { ok: false, reason: 'locked', user };
    const passwordOk = typeof password === 'string' && (await verifyPassword(password, user.passwordHash));
    if (!passwordOk) return this.failed(user, 'invalid-credentials');
    if (!user.active) return { ok: false, reason: 'disabled', user };
    if (user.organization && this.options.facilityActive && !(await this.options.facilityActive(user.organization))) {
      return { ok: false, reason: 'facility-suspended', user };
    }
    let step: number | undefined;
    if (user.totp) {
      if (!totpCode) return { ok: false, reason: 'totp-required', user };
      step = acceptTotp(user.totp.secret, totpCode, user.totp.lastStep);
      if (step === undefined) return this.failed(user, 'totp-invalid');
    }
    // Another server process on the same store may have locked the account while the password was
    // checked: the sign-in is written only over a version that is not locked.
    let lockedMeanwhile = false;
    const signedIn = await this.update(user.id, (u) => {
      lockedMeanwhile = isLocked(u);
      if (lockedMeanwhile) return u;
      return {
        ...u,
        failedAttempts: 0,
        lockedUntil: undefined,
        lastSignInAt: new Date().toISOString(),
        ...(u.totp && step !== undefined ? { totp: { ...u.totp, lastStep: step } } : {}),
      };
    });
    if (lockedMeanwhile) return { ok: false, reason: 'locked', user: signedIn };
    return { ok: true, user: signedIn };
  }

  private async failed(user: User, reason: SignInFailure): Promise<SignInResult> {
    const updated = await this.update(user.id, (u) => {
      const failedAttempts = u.failedAttempts + 1;
      return failedAttempts >= this.lockoutAttempts
        ? { ...u, failedAttempts: 0, lockedUntil: new Date(Date.now() + this.lockoutMs).toISOString() }
        : { ...u, failedAttempts };
    });
    return { ok: false, reason: isLocked(updated) ? 'locked' : reason, user: updated };
  }
}

export function isLocked(user: User, now = Date.now()): boolean {
  return user.lockedUntil !== undefined && Date.parse(user.lockedUntil) > now;
}

function toResource(user: User): Resource {
  const { id, ...rest } = user;
  return { resourceType: USER_TYPE, id, ...JSON.parse(JSON.stringify(rest)) } as unknown as Resource;
}

function userOf(record: ResourceRecord | undefined): User | undefined {
  if (!record || record.deleted || !record.resource) return undefined;
  const { resourceType: _type, meta: _meta, ...user } = record.resource as unknown as User & { resourceType: string; meta?: unknown };
  return user as User;
}

function indexOf(user: User): Record<string, unknown> {
  return { username: user.username, ...(user.organization ? { organization: user.organization } : {}), role: user.role };
}
