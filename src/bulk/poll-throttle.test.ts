import { describe, expect, it } from 'vitest';
import { loadBulkOptions } from './config.js';
import { POLL_SLACK_MS, StatusPollThrottle } from './poll-throttle.js';

describe('BULK_STATUS_POLL_LIMIT', () => {
  it('is off unless set on: CONTRACT.md\'s polling (202 with Retry-After, then the manifest) names no 429', () => {
    expect(loadBulkOptions({}).throttleStatusPolls).toBe(false);
    expect(loadBulkOptions({ BULK_STATUS_POLL_LIMIT: 'on' }).throttleStatusPolls).toBe(true);
    expect(() => loadBulkOptions({ BULK_STATUS_POLL_LIMIT: 'yes' })).toThrow(/on or off/);
  });
});

describe('StatusPollThrottle', () => {
  const clock = () => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('a key never given a Retry-After is on time', () => {
    expect(new StatusPollThrottle().secondsEarly('job|caller')).toBe(0);
  });

  it('early polls get the whole seconds left (at least 1); within the slack, or later, the poll is on time and the key forgotten', () => {
    const c = clock();
    const throttle = new StatusPollThrottle({ now: c.now });
    throttle.record('a', 3);
    expect(throttle.secondsEarly('a')).toBe(3);
    c.advance(1200);
    expect(throttle.secondsEarly('a')).toBe(2);
    expect(throttle.secondsEarly('b')).toBe(0);
    c.advance(1800 - POLL_SLACK_MS - 1);
    expect(throttle.secondsEarly('a')).toBe(1);
    c.advance(1);
    expect(throttle.secondsEarly('a')).toBe(0);
    expect(throttle.size).toBe(0);
  });

  it('forget drops the key (a cancelled job)', () => {
    const throttle = new StatusPollThrottle();
    throttle.record('a', 10);
    throttle.forget('a');
    expect(throttle.secondsEarly('a')).toBe(0);
  });

  it('holds at most maxEntries keys: expired ones go first, then the oldest', () => {
    const c = clock();
    const throttle = new StatusPollThrottle({ now: c.now, maxEntries: 100 });
    for (let i = 0; i < 50; i++) throttle.record(`old-${i}`, 1);
    c.advance(2000);
    for (let i = 0; i < 50; i++) throttle.record(`live-${i}`, 10);
    throttle.record('one-more', 10);
    expect(throttle.size).toBe(51); // the 50 expired keys pruned, no live one
    expect(throttle.secondsEarly('live-0')).toBe(10);
    for (let i = 0; i < 1000; i++) throttle.record(`flood-${i}`, 10);
    expect(throttle.size).toBeLessThanOrEqual(100);
    expect(throttle.secondsEarly('flood-999')).toBe(10); // the newest are kept
  });
});
