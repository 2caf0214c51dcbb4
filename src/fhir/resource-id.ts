// The id the server gives a resource it creates (a create, a conditional update that creates, an
// AuditEvent): an RFC 9562 UUID version 7, the same 36-character form as the random version 4 ids
// it gave before (and still a FHIR id: [A-Za-z0-9\-\.]{1,64}), so ids written before stay valid.
//
// Why time-ordered: the stores key records and index entries by id (the embedded store's `cur`
// [type, id] and `idx` [n, value, id]). Random ids put each new record and each new index entry on
// a random leaf page of a big B-tree, so a 100-entry transaction dirtied (and LMDB copied, and the
// kernel wrote back) about one leaf per entry; ids that grow with time append at the right edge of
// their runs and a Bundle's entries share a few pages.
//
// Layout (RFC 9562 §5.7, with the "fixed bit-length dedicated counter" of §6.2 method 1):
//   48 bits  unix_ts_ms           the creation millisecond (also in the resource's meta.lastUpdated)
//    4 bits  version = 7
//   12 bits  rand_a: a counter    starts at a random value below 2,048 in each new millisecond and
//                                 goes up by one per id in the same millisecond, so ids of one process
//                                 sort in creation order; when it runs out (2,048+ ids in one ms) the
//                                 timestamp moves on by one ms; a clock that steps back is ignored
//                                 (the last timestamp is kept) so the order holds
//    2 bits  variant = 0b10
//   62 bits  rand_b               fresh random bits from node:crypto for every id, so ids cannot be
//                                 guessed from one another (the counter is not a secret)
import { randomFillSync } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const TWO_POW_32 = 2 ** 32;
const COUNTER_MAX = 0xfff;

/** A source of version 7 UUIDs that only ever go up (as strings and as bytes). */
export type ResourceIdSource = () => string;

/**
 * A new id source reading the time from `now` (milliseconds since the epoch). One per process is
 * what the server uses (`newResourceId`); tests pass a clock of their own.
 */
export function resourceIdSource(now: () => number = Date.now): ResourceIdSource {
  // Random bytes are drawn in blocks (one system call per 256 ids), as node's randomUUID does.
  const pool = Buffer.allocUnsafe(10 * 256);
  let poolAt = pool.length;
  let lastMs = -1;
  let counter = 0;
  const bytes = new Uint8Array(16);

  return () => {
    if (poolAt === pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    const random = poolAt;
    poolAt += 10;
    const clock = Math.floor(now());
    if (clock > lastMs) {
      lastMs = clock;
      counter = ((pool[random] & 0x07) << 8) | pool[random + 1];
    } else if (counter < COUNTER_MAX) {
      counter++;
    } else {
      lastMs++;
      counter = ((pool[random] & 0x07) << 8) | pool[random + 1];
    }
    const high = Math.floor(lastMs / TWO_POW_32);
    const low = lastMs - high * TWO_POW_32;
    bytes[0] = (high >>> 8) & 0xff;
    bytes[1] = high & 0xff;
    bytes[2] = (low >>> 24) & 0xff;
    bytes[3] = (low >>> 16) & 0xff;
    bytes[4] = (low >>> 8) & 0xff;
    bytes[5] = low & 0xff;
    bytes[6] = 0x70 | (counter >>> 8);
    bytes[7] = counter & 0xff;
    bytes[8] = 0x80 | (pool[random + 2] & 0x3f);
    for (let i = 9; i < 16; i++) bytes[i] = pool[random + i - 6];
    return (
      HEX[bytes[0]] + HEX[bytes[1]] + HEX[bytes[2]] + HEX[bytes[3]] + '-' +
      HEX[bytes[4]] + HEX[bytes[5]] + '-' + HEX[bytes[6]] + HEX[bytes[7]] + '-' +
      HEX[bytes[8]] + HEX[bytes[9]] + '-' +
      HEX[bytes[10]] + HEX[bytes[11]] + HEX[bytes[12]] + HEX[bytes[13]] + HEX[bytes[14]] + HEX[bytes[15]]
    );
  };
}

/** A new server-assigned resource id (UUID version 7, time-ordered; see the top of this file). */
export const newResourceId: ResourceIdSource = resourceIdSource();
