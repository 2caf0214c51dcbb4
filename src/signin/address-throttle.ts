// Failed sign-ins counted per client address, next to the per-account lockout (users.ts): the
// lockout alone let one address try a common password against every username (one guess per
// account never locks any). From one address, at most `attempts` failed sign-ins (wrong password
// or one-time code, or a try on a locked account) within `windowMinutes`; past that the form is
// refused (429 with Retry-After) before any password is checked, until the oldest failure in the
// window ages out. A success does not wipe the count (an attacker could sign in to their own account
// between guesses). Sign-ins in progress hold a place, so a burst sent at once gets no more than
// the limit either. An IPv6 client is counted by its /64 network (one host is routinely given a
// whole /64, so counting single addresses would let it try 2^64 times); an IPv4-mapped IPv6
// address (::ffff:a.b.c.d) counts as its IPv4 address. Kept in memory per process (at most MAX_ADDRESSES addresses, the least recently
// failing dropped first): each server process counts its own.
import { isIPv4, isIPv6 } from 'node:net';
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
  /** The attempt ended: a failure counts against the address; a success frees its place. */
  settle(failed: boolean): void;
}

export class FailedSignInsByAddress {
  readonly attempts: number;
  readonly windowMs: number;
  /** Address → the times (ms) of its failures in the window, oldest first (at most `attempts`). */
  private readonly failures = new Map<string, number[]>();
  /** Address → its sign-ins being checked now. */
  private readonly inProgress = new Map<string, number>();

  constructor(options: AddressThrottleOptions = {}, private readonly now: () => number = Date.now) {
    this.attempts = options.attempts ?? DEFAULT_ADDRESS_ATTEMPTS;
    this.windowMs = (options.windowMinutes ?? DEFAULT_ADDRESS_WINDOW_MINUTES) * 60_000;
  }

  /**
   * A place for a sign-in from `address`, or the seconds to wait (Retry-After) when the address
   * has used up its failures in the window (counting the sign-ins still in progress).
   */
  begin(clientAddress: string): AddressAttempt | { retryAfterSeconds: number } {
    const address = addressKey(clientAddress);
    const now = this.now();
    const recent = this.recentFailures(address, now);
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
      settle: (failed: boolean) => {
        if (settled) return;
        settled = true;
        const left = (this.inProgress.get(address) ?? 1) - 1;
        if (left > 0) this.inProgress.set(address, left);
        else this.inProgress.delete(address);
        if (failed) this.noteFailure(address);
      },
    };
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
