// Byte layout of the LMDB databases of the embedded store (see README.md here for the whole picture).
// Keys are ordered-binary arrays (lmdb's default key encoding), values are raw bytes:
//   cur   [type, id]                 → the current version, whole (below); LZ4 with the dictionary
//   ver   [type, id, versionId]      → superseded versions only: 24 B lastUpdated · stamped JSON
//                                      (empty: a delete); LZ4 with the dictionary
//   thist [type, lastUpdated, id, v] → empty   (type history, ascending; system history merges
//                                      the types' walks)
//   idx   [n, value, id]             → empty   (ordered index n: one entry per value per document)
//   stats [n, value]                 → count of idx entries with that value (planner estimates,
//                                      counts), for each index not marked uncounted in meta
//   meta  various                    → msgpack (layout version, dictionary, index numbers, live
//                                      counts, date spans, which indexes hold several values,
//                                      which have no counts: ['uncounted', n])
// A current version is one record, compressed as a whole, so the search values (which repeat much
// of the resource's text) cost little next to the JSON, and reading a resource is one look-up:
//   u8 LAYOUT · u8 deleted · u32 versionId · 24 B lastUpdated · u32 bytes of resource JSON ·
//   stamped resource JSON (none for a delete) · JSON of the search values
import type { SearchIndex } from '../store.js';

/** Sorts after every id and type name (ids are ASCII, FHIR id syntax). */
export const MAX_KEY_STRING = '\uffff';

/** The first byte of every `cur` value (lmdb reads a first byte ≥ 250 as its compression flag). */
export const LAYOUT = 2;

/**
 * meta ['layout'] of a store: 3 since indexes may be uncounted (`['uncounted', n]` in meta: no
 * `stats` entries). A store of layout 2 (every index counted, no such marks) is one of layout 3
 * without marks: it is opened and its layout raised at once, before any counter is dropped, so
 * that a release reading layout 2 (which would take a missing counter for an empty value and
 * answer empty) refuses the directory instead.
 */
export const STORE_LAYOUT = 3;
/** The store layout before uncounted indexes, opened as STORE_LAYOUT. */
export const STORE_LAYOUT_ALL_COUNTED = LAYOUT;

const INSTANT_BYTES = 24;
const CUR_HEADER = 1 + 1 + 4 + INSTANT_BYTES + 4;
const RESOURCE_AT = CUR_HEADER;

export interface CurrentHead {
  versionId: number;
  deleted: boolean;
  lastUpdated: string;
}

export function encodeCurrent(versionId: number, lastUpdated: string, resourceJson: string | null, s: SearchIndex | string): Buffer {
  const sJson = typeof s === 'string' ? s : JSON.stringify(s);
  const resourceBytes = resourceJson === null ? 0 : Buffer.byteLength(resourceJson);
  const buf = Buffer.allocUnsafe(CUR_HEADER + resourceBytes + Buffer.byteLength(sJson));
  buf.writeUInt8(LAYOUT, 0);
  buf.writeUInt8(resourceJson === null ? 1 : 0, 1);
  buf.writeUInt32LE(versionId, 2);
  writeInstant(buf, 6, lastUpdated);
  buf.writeUInt32LE(resourceBytes, 30);
  if (resourceJson !== null) buf.write(resourceJson, RESOURCE_AT, 'utf8');
  buf.write(sJson, RESOURCE_AT + resourceBytes, 'utf8');
  return buf;
}

/**
 * encodeCurrent's bytes, written into one buffer kept between calls: the returned view is valid
 * until the next call (the write callback compresses it at once). Each string is written once
 * (encodeCurrent measures both first, then allocates, then writes). layout.test.ts checks that the
 * bytes equal encodeCurrent's.
 */
export class CurrentEncoder {
  private scratch = Buffer.allocUnsafe(64 * 1024);

  encode(versionId: number, lastUpdated: string, resourceJson: string | null, sJson: string): Buffer {
    // At most 3 UTF-8 bytes per UTF-16 code unit: room for both strings whatever they hold.
    const room = CUR_HEADER + 3 * ((resourceJson?.length ?? 0) + sJson.length);
    let buf = this.scratch;
    if (buf.length < room) {
      buf = Buffer.allocUnsafe(room);
      if (room <= SCRATCH_KEPT_BYTES) this.scratch = buf; // a rare huge record does not stay in memory
    }
    buf[0] = LAYOUT;
    buf[1] = resourceJson === null ? 1 : 0;
    buf.writeUInt32LE(versionId, 2);
    writeInstant(buf, 6, lastUpdated);
    const resourceBytes = resourceJson === null ? 0 : buf.write(resourceJson, RESOURCE_AT, 'utf8');
    buf.writeUInt32LE(resourceBytes, 30);
    const sBytes = buf.write(sJson, RESOURCE_AT + resourceBytes, 'utf8');
    return buf.subarray(0, RESOURCE_AT + resourceBytes + sBytes);
  }
}

/** The largest buffer CurrentEncoder keeps for the next record. */
const SCRATCH_KEPT_BYTES = 4 * 1024 * 1024;

export function decodeCurrentHead(buf: Buffer): CurrentHead {
  if (buf[0] !== LAYOUT) throw new Error(`Embedded store: a current version in an unknown layout (${buf[0]})`);
  return { versionId: buf.readUInt32LE(2), deleted: buf[1] === 1, lastUpdated: buf.toString('latin1', 6, 30) };
}

/** The stamped resource JSON of a current version, or null for a delete marker. */
export function currentResourceJson(buf: Buffer): string | null {
  const bytes = buf.readUInt32LE(30);
  return buf[1] === 1 ? null : buf.toString('utf8', RESOURCE_AT, RESOURCE_AT + bytes);
}

/** The stamped resource JSON of a current version as UTF-8 bytes (a view of `buf`), or null for a delete marker. */
export function currentResourceBytes(buf: Buffer): Buffer | null {
  return buf[1] === 1 ? null : buf.subarray(RESOURCE_AT, RESOURCE_AT + buf.readUInt32LE(30));
}

/** The search values of a current version as JSON text. */
export function currentSearchJson(buf: Buffer): string {
  return buf.toString('utf8', RESOURCE_AT + buf.readUInt32LE(30));
}

export function encodeVersion(lastUpdated: string, json: string | null): Buffer {
  const body = json === null ? 0 : Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(INSTANT_BYTES + body);
  writeInstant(buf, 0, lastUpdated);
  if (json !== null) buf.write(json, INSTANT_BYTES, 'utf8');
  return buf;
}

/** encodeVersion of a resource's stored JSON bytes (a superseded current version's, copied as they are). */
export function encodeVersionBytes(lastUpdated: string, json: Uint8Array | null): Buffer {
  const body = json === null ? 0 : json.length;
  const buf = Buffer.allocUnsafe(INSTANT_BYTES + body);
  writeInstant(buf, 0, lastUpdated);
  if (json !== null) buf.set(json, INSTANT_BYTES);
  return buf;
}

export function versionInstant(buf: Buffer): string {
  return buf.toString('latin1', 0, INSTANT_BYTES);
}

/** The stamped resource JSON, or null for a delete marker. */
export function versionJson(buf: Buffer): string | null {
  return buf.length === INSTANT_BYTES ? null : buf.toString('utf8', INSTANT_BYTES);
}

function writeInstant(buf: Buffer, offset: number, instant: string): void {
  if (instant.length !== INSTANT_BYTES) throw new Error(`Not a 24-character ISO instant: ${instant}`);
  buf.write(instant, offset, 'latin1');
}
