// LZ4 block compression with a fixed dictionary, in JavaScript, producing exactly the value format
// lmdb's own compression writes (a 254 byte, the length in 3 bytes big-endian, then one LZ4 block
// that may reference the dictionary), so lmdb's reader decompresses it unchanged: the on-disk
// layout does not change.
//
// Why not lmdb's compression for writes: its native code re-hashes the whole dictionary
// (LZ4_loadDict) before every value, ~115 µs of CPU per put with the store's 41 KB dictionary
// against ~5 µs for the compression itself. Here the dictionary is hashed once; each value only
// consults that table (read-only) and a table of its own positions (offset per value, so nothing
// is cleared between values).
//
// LZ4 block format (lz4 docs, "LZ4 Block Format Description"): sequences of token (literal length
// high nibble, match length − 4 low nibble), extra length bytes (255 …), literals, 2-byte
// little-endian offset, extra match length bytes; the last sequence holds literals only. End rules
// kept here: the last 5 bytes are literals, the last match starts at least 12 bytes before the end.
// Offsets reach back at most 65,535 bytes, across the end of the dictionary into the value's start
// as the decoder sees them (the dictionary placed just before the output).

const HASH_LOG = 13;
const HASH_SIZE = 1 << HASH_LOG;
const MIN_MATCH = 4;
/** A match may not start in the last 12 bytes. */
const MF_LIMIT = 12;
/** The last 5 bytes are always literals. */
const LAST_LITERALS = 5;
const MAX_OFFSET = 65535;
/** lmdb writes values from 16 MB on with an 8-byte header this code does not produce. */
const MAX_INPUT = 0xffffff;
/** lmdb's flag byte for a compressed value with a 3-byte length. */
const COMPRESSED_FLAG = 254;
/** The largest output buffer kept for the next value. */
const SCRATCH_KEPT_BYTES = 4 * 1024 * 1024;

function read32(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
}

/** Hash of the 5 bytes at i (4 read as `sequence`): fewer short candidates than 4 bytes, as lz4 does on 64-bit. */
function hash(sequence: number, fifth: number): number {
  return (Math.imul(sequence, 2654435761) ^ Math.imul(fifth + 1, 0x85ebca6b)) >>> (32 - HASH_LOG);
}

export class DictionaryCompressor {
  /** The dictionary as lmdb's decoder uses it: its length rounded down to a multiple of 8. */
  private readonly dict: Uint8Array;
  private readonly dictView: DataView;
  /** Only the dictionary's last 64 KB can be referenced: positions in dictTable count from here. */
  private readonly dictStart: number;
  /** hash of 5 bytes → 1 + the last dictionary position (from dictStart) holding them (0: none). */
  private readonly dictTable = new Uint16Array(HASH_SIZE);
  /**
   * hash → `base` + the last position in the value being compressed; entries below the current
   * `base` belong to earlier values (so nothing is cleared between values). Small tables on
   * purpose: they stay in the CPU's caches next to the server's own data.
   */
  private readonly table = new Int32Array(HASH_SIZE);
  private base = 1;
  /** The block is built here and copied out at its exact size (no buffer of the input's size per value). */
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(dictionary: Uint8Array) {
    const usable = (dictionary.length >> 3) << 3;
    this.dict = dictionary.subarray(0, usable);
    this.dictView = new DataView(this.dict.buffer, this.dict.byteOffset, usable);
    // Only the last 64 KB can be referenced; later positions overwrite earlier ones (nearer is better).
    this.dictStart = Math.max(0, usable - MAX_OFFSET);
    for (let i = this.dictStart; i + MIN_MATCH < usable; i++) this.dictTable[hash(read32(this.dict, i), this.dict[i + 4])] = i - this.dictStart + 1;
  }

  /** Whether `compress` takes a value of this size (larger ones need lmdb's 8-byte header). */
  accepts(length: number): boolean {
    return length <= MAX_INPUT;
  }

  /** The value as lmdb stores a compressed one: [254, length (3 bytes BE)] + LZ4 block. */
  compress(input: Uint8Array): Buffer {
    const n = input.length;
    if (n > MAX_INPUT) throw new RangeError('DictionaryCompressor: value too large');
    const room = 4 + n + Math.ceil(n / 255) + 16;
    if (this.scratch.length < room) {
      const grown = Buffer.allocUnsafe(room);
      if (room <= SCRATCH_KEPT_BYTES) this.scratch = grown;
      else return this.compressInto(input, grown);
    }
    return this.compressInto(input, this.scratch);
  }

  private compressInto(input: Uint8Array, out: Buffer): Buffer {
    const n = input.length;
    out[0] = COMPRESSED_FLAG;
    out[1] = (n >>> 16) & 255;
    out[2] = (n >>> 8) & 255;
    out[3] = n & 255;
    let op = 4;
    let anchor = 0;
    if (n >= MF_LIMIT + 1) {
      if (this.base + n >= 0x7fffffff) {
        this.table.fill(0);
        this.base = 1;
      }
      const base = this.base;
      this.base += n + 1;
      const table = this.table;
      const dictTable = this.dictTable;
      const dictStart = this.dictStart;
      const dict = this.dict;
      const d = dict.length;
      // 4-byte reads and match comparisons through DataViews (one machine load each in optimised
      // code) instead of four byte loads: the same sequences, ~20 % less CPU per value.
      const view = new DataView(input.buffer, input.byteOffset, n);
      const dictView = this.dictView;
      const lastMatchStart = n - MF_LIMIT;
      const matchLimit = n - LAST_LITERALS;
      let ip = 0;
      let misses = 0;
      while (ip <= lastMatchStart) {
        const sequence = view.getInt32(ip, true);
        const h = hash(sequence, input[ip + 4]);
        let length = 0;
        let offset = 0;
        let ref = -1; // match start: ≥ 0 in the value, < 0 as (position in dictionary − d)
        const seen = table[h] - base;
        if (seen >= 0) {
          const c = seen;
          if (ip - c <= MAX_OFFSET && view.getInt32(c, true) === sequence) {
            let k = MIN_MATCH;
            while (ip + k + 4 <= matchLimit && view.getInt32(c + k, true) === view.getInt32(ip + k, true)) k += 4;
            while (ip + k < matchLimit && input[c + k] === input[ip + k]) k++;
            length = k;
            offset = ip - c;
            ref = c;
          }
        }
        table[h] = base + ip;
        // The dictionary's candidate too: the longer match wins.
        const c = dictTable[h] - 1 + dictStart;
        if (c >= dictStart && d - c + ip <= MAX_OFFSET && dictView.getInt32(c, true) === sequence) {
          let k = MIN_MATCH;
          while (ip + k + 4 <= matchLimit && c + k + 4 <= d && dictView.getInt32(c + k, true) === view.getInt32(ip + k, true)) k += 4;
          while (ip + k < matchLimit && c + k < d && dict[c + k] === input[ip + k]) k++;
          if (k > length) {
            length = k;
            offset = d - c + ip;
            ref = c - d;
          }
        }
        if (length === 0) {
          misses++;
          ip += 1 + (misses >> 6);
          continue;
        }
        misses = 0;
        // Extend backwards over literals not yet emitted.
        while (ip > anchor && ref !== 0 && ref !== -d && byteAt(input, dict, ref - 1) === input[ip - 1]) {
          ip--;
          ref--;
          length++;
        }
        op = this.sequence(out, op, input, anchor, ip, offset, length);
        ip += length;
        anchor = ip;
        // Remember a position inside the match too (helps the next look-up of repetitive text).
        if (ip - 2 <= lastMatchStart && ip - 2 >= 0) {
          table[hash(view.getInt32(ip - 2, true), input[ip + 2])] = base + ip - 2;
        }
      }
    }
    // Last literals.
    const literals = n - anchor;
    op = literalLength(out, op, literals, 0);
    op = copyLiterals(out, op, input, anchor, n);
    const packed = Buffer.allocUnsafe(op);
    out.copy(packed, 0, 0, op);
    return packed;
  }

  private sequence(out: Buffer, op: number, input: Uint8Array, anchor: number, ip: number, offset: number, length: number): number {
    const literals = ip - anchor;
    const m = length - MIN_MATCH;
    op = literalLength(out, op, literals, m < 15 ? m : 15);
    op = copyLiterals(out, op, input, anchor, ip);
    out[op++] = offset & 255;
    out[op++] = offset >>> 8;
    if (m >= 15) {
      let rest = m - 15;
      while (rest >= 255) {
        out[op++] = 255;
        rest -= 255;
      }
      out[op++] = rest;
    }
    return op;
  }
}

/**
 * Copies input[from, to) to out at op; returns the new op. Short runs (most literals) byte by byte:
 * a `subarray` view per sequence was ~24 KB of garbage per AuditEvent written.
 */
function copyLiterals(out: Buffer, op: number, input: Uint8Array, from: number, to: number): number {
  if (to - from > 64) {
    out.set(input.subarray(from, to), op);
    return op + (to - from);
  }
  for (let i = from; i < to; i++) out[op++] = input[i];
  return op;
}

/** The byte at a match reference: ≥ 0 in the value, < 0 counted back from the dictionary's end. */
function byteAt(input: Uint8Array, dict: Uint8Array, ref: number): number {
  return ref >= 0 ? input[ref] : dict[dict.length + ref];
}

/** Writes the token (literal length nibble + the given match nibble) and the literal length's extra bytes. */
function literalLength(out: Buffer, op: number, literals: number, matchNibble: number): number {
  if (literals >= 15) {
    out[op++] = (15 << 4) | matchNibble;
    let rest = literals - 15;
    while (rest >= 255) {
      out[op++] = 255;
      rest -= 255;
    }
    out[op++] = rest;
  } else {
    out[op++] = (literals << 4) | matchNibble;
  }
  return op;
}
