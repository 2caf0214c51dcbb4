import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newResourceId, resourceIdSource } from './resource-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The 48-bit millisecond timestamp an id carries. */
function timestampOf(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** The 12-bit counter (rand_a) an id carries. */
function counterOf(id: string): number {
  return parseInt(id.slice(15, 18), 16);
}

describe('newResourceId', () => {
  it('is an RFC 9562 version 7 UUID (variant 10) and a FHIR id, stamped with the current millisecond', () => {
    const before = Date.now();
    const id = newResourceId();
    const after = Date.now();
    expect(id).toMatch(UUID_V7);
    expect(id).toMatch(FHIR_ID);
    expect(timestampOf(id)).toBeGreaterThanOrEqual(before);
    expect(timestampOf(id)).toBeLessThanOrEqual(after + 1);
  });

  it('gives ids that sort in creation order and never repeat (100,000 in a row)', () => {
    const ids = Array.from({ length: 100_000 }, () => newResourceId());
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('goes up within one millisecond through its counter, with fresh random bits in every id', () => {
    const next = resourceIdSource(() => 1_765_000_000_000);
    const ids = Array.from({ length: 1_000 }, () => next());
    expect(ids.every((id) => timestampOf(id) === 1_765_000_000_000)).toBe(true);
    for (let i = 1; i < ids.length; i++) {
      expect(counterOf(ids[i])).toBe(counterOf(ids[i - 1]) + 1);
      expect(ids[i] > ids[i - 1]).toBe(true);
    }
    // the 62 random bits differ between ids (a repeat in 1,000 draws would mean they are not random)
    expect(new Set(ids.map((id) => id.slice(19))).size).toBe(ids.length);
  });

  it('moves on to the next millisecond when one millisecond runs out of counter values', () => {
    const next = resourceIdSource(() => 5_000);
    const ids = Array.from({ length: 5_000 }, () => next());
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    expect(timestampOf(ids[0])).toBe(5_000);
    expect(timestampOf(ids[ids.length - 1])).toBeGreaterThan(5_000);
    expect(counterOf(ids[0])).toBeLessThan(2_048);
  });

  it('stays increasing, unique and well-formed whatever the clock does (steps back, stands still, jumps)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 48 - 10_000_000 }),
        fc.array(fc.integer({ min: -5_000, max: 5_000 }), { minLength: 1, maxLength: 300 }),
        (start, steps) => {
          let clock = start;
          const next = resourceIdSource(() => clock);
          const ids: string[] = [];
          let latest = -1;
          for (const step of steps) {
            clock = Math.max(0, clock + (step % 3 === 0 ? 0 : step));
            latest = Math.max(latest, clock);
            const id = next();
            expect(id).toMatch(UUID_V7);
            // the timestamp is the newest clock reading seen (or a little past it when a counter ran out)
            expect(timestampOf(id)).toBeGreaterThanOrEqual(latest);
            expect(timestampOf(id)).toBeLessThanOrEqual(latest + steps.length);
            ids.push(id);
          }
          for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
          expect(new Set(ids).size).toBe(ids.length);
        }
      )
    );
  });

  it('sorts the same as text and as UTF-8 bytes (how the stores order keys)', () => {
    const ids = Array.from({ length: 2_000 }, () => newResourceId());
    const byBytes = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(byBytes).toEqual(ids);
  });
});
