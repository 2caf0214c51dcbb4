// Failed sign-ins counted per client address, next to the per-account lockout (users.ts): the
// lockout alone let one address try a common password against every username (one guess per
// account never locks any). From one address, at most `attempts` failed sign-ins (wrong password
// or one-time code, or a try on a locked account) within `windowMinutes`; past that the form is
// refused (429 with Retry-After) before any password is checked, until the oldest failure in the
// window ages out. A success does not wipe the count (an attacker could sign in to their own account
// between guesses). Sign-ins in progress hold a place, so a burst sent at once gets no more than
// the limit either. An IPv6 client is counted by its /64 network (one host is routinely given a
// whole /64, so counting single addresses would let it try 2^64 times); an IPv4-mapped IPv6
// address (::ffff:a.b.c.d) counts as its IPv4 address.
//
// One count per address for every door that checks a user's password (the sign-in form and the
// SOAP credentials of /soap): they check the same passwords, so separate counts let one address
// guess twice as often, and each new door would add a budget. Where the failures are kept, the
// store decides (`Store.sharedByProcesses`): on MongoDB, several server processes share the
// database, so each failure is a short-lived record of the store (namespace `signin`, lookup
// `addressFailure`, expiring when it leaves the window) and every process counts them all; on the
// embedded store one process owns the data, so its memory holds them (at most MAX_ADDRESSES
// addresses, the least recently failing dropped first). `failedSignInsFor` gives the one counter
// of a store. The places held by sign-ins in progress are each process's own.
import { randomUUID } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { ExpiringRecords } from '../store/expiring.js';
import type { Store } from '../store/store.js';
import { ARTIFACTS_NAMESPACE } from './provider-adapter.js';
import type { SignInFailure } from './users.js';

export const DEFAULT_ADDRESS_ATTEMPTS = 30;
export const DEFAULT_ADDRESS_WINDOW_MINUTES = 15;
const MAX_ADDRESSES = 100_000;

/** The failures that count against the client address: guesses (a disabled or suspended account's right password does not). */
export const ADDRESS_COUNTED: ReadonlySet<SignInFailure> = new Set<SignInFailure>(['invalid-credentials', 'locked', 'totp-invalid']);

export interface AddressThrottleOptions {
  attempts?: number;
  windowMinutes?: number;
}

/** A sign-in attempt that holds a place for its address until it is settled. */
export interface AddressAttempt {
  /** The attempt ended: a failure counts against the address (recorded before this resolves); a success frees its place. */
  settle(failed: boolean): Promise<void>;
}

/** The lookup of the store records of failures (their value: the address key). */
const FAILURE_LOOKUP = 'addressFailure';

export class FailedSignInsByAddress {
  readonly attempts: number;
  readonly windowMs: number;
  /** Address → the times (ms) of its failures in the window, oldest first (at most `attempts`). */
  private readonly failures = new Map<string, number[]>();
  /** Address → its sign-ins being checked now. */
  private readonly inProgress = new Map<string, number>();

  constructor(
    options: AddressThrottleOptions = {},
    private readonly now: () => number = Date.now,
    /** Where the failures are kept when several processes count them (a shared store); absent: this process's memory. */
    private readonly records?: ExpiringRecords
  ) {
    this.attempts = options.attempts ?? DEFAULT_ADDRESS_ATTEMPTS;
    this.windowMs = (options.windowMinutes ?? DEFAULT_ADDRESS_WINDOW_MINUTES) * 60_000;
  }

  /**
   * A place for a sign-in from `address`, or the seconds to wait (Retry-After) when the address
   * has used up its failures in the window (counting the sign-ins still in progress).
   */
  async begin(clientAddress: string): Promise<AddressAttempt | { retryAfterSeconds: number }> {
    const address = addressKey(clientAddress);
    const recent = this.records ? await this.storedFailures(address) : this.recentFailures(address, this.now());
    const now = this.now();
    const busy = this.inProgress.get(address) ?? 0;
    if (recent.length + busy >= this.attempts) {
      // Full with failures: until the oldest leaves the window; full only with sign-ins in
      // progress: they settle within a second or two.
      const waitMs = recent.length >= this.attempts ? recent[recent.length - this.attempts] + this.windowMs - now : 1000;
      return { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    }
    this.inProgress.set(address, busy + 1);
    let settled = false;
    return {
      settle: async (failed: boolean) => {
        if (settled) return;
        settled = true;
        const left = (this.inProgress.get(address) ?? 1) - 1;
        if (left > 0) this.inProgress.set(address, left);
        else this.inProgress.delete(address);
        if (!failed) return;
        if (this.records) await this.records.put({ key: `address-failure-${randomUUID()}`, value: {}, expiresAt: this.now() + this.windowMs, lookups: { [FAILURE_LOOKUP]: address } });
        else this.noteFailure(address);
      },
    };
  }

  /** The times (ms) of the address's failures in the window, oldest first, as every process recorded them. */
  private async storedFailures(address: string): Promise<number[]> {
    // Failures past the limit are never recorded (refused before a password check) but for sign-ins
    // that were in progress at once: twice the limit is more than can be there.
    const records = await this.records!.listBy(FAILURE_LOOKUP, address, this.attempts * 2);
    return records.map((r) => r.expiresAt - this.windowMs).sort((a, b) => a - b);
  }

  private noteFailure(address: string): void {
    const now = this.now();
    const recent = [...this.recentFailures(address, now), now].slice(-this.attempts);
    // Re-inserted: the Map's order is then the order of the latest failures (oldest first dropped).
    this.failures.delete(address);
    this.failures.set(address, recent);
    if (this.failures.size > MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value as string);
  }

  private recentFailures(address: string, now: number): number[] {
    const times = this.failures.get(address);
    if (!times) return [];
    const recent = times.filter((t) => t > now - this.windowMs);
    if (recent.length === 0) this.failures.delete(address);
    else if (recent.length !== times.length) this.failures.set(address, recent);
    return recent;
  }
}

const counters = new WeakMap<Store, FailedSignInsByAddress>();

/**
 * The one counter of failed sign-ins per address for the doors checking passwords against `store`
 * (the sign-in form, the SOAP credentials): in the store when it is shared by processes, else in
 * memory. The first caller's options set it (both doors read them from the same configuration).
 */
export function failedSignInsFor(store: Store, options: AddressThrottleOptions = {}): FailedSignInsByAddress {
  let counter = counters.get(store);
  if (!counter) {
    counter = new FailedSignInsByAddress(options, Date.now, store.sharedByProcesses ? store.expiringRecords(ARTIFACTS_NAMESPACE) : undefined);
    counters.set(store, counter);
  }
  return counter;
}

/** What failures are counted by: an IPv4 address, or an IPv6 address's /64 network (`2001:db8:0:1::/64`). */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  const bare = address.split('%')[0];
  if (!isIPv6(bare)) return address;
  const [head, tail = ''] = bare.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = bare.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  // An embedded IPv4 tail (::1.2.3.4) is in the last 32 bits: it never reaches the first 64.
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
