// Byte layout of the LMDB databases of the embedded store (see README.md here for the whole picture).
// Keys are ordered-binary arrays (lmdb's default key encoding), values are raw bytes:
//   cur   [type, id]                 → u32 versionId · u8 deleted · 24 B lastUpdated · JSON of s
//   ver   [type, id, versionId]      → 24 B lastUpdated · JSON of the stamped resource (empty: delete)
//   hist  [lastUpdated, type, id, v] → empty   (system history, ascending)
//   thist [type, lastUpdated, id, v] → empty   (type history, ascending)
//   idx   [n, value, id]             → empty   (ordered index n: one entry per value per document)
//   stats [n, value]                 → count of idx entries with that value (planner estimates, counts)
//   meta  various                    → msgpack (index numbers, live counts, date spans, types)
import type { SearchIndex } from '../store.js';

/** Sorts after every id and type name (ids are ASCII, FHIR id syntax). */
export const MAX_KEY_STRING = '\uffff';

const INSTANT_BYTES = 24;
const CUR_HEADER = 4 + 1 + INSTANT_BYTES;

export interface CurrentHead {
  versionId: number;
  deleted: boolean;
  lastUpdated: string;
}

export interface Current extends CurrentHead {
  /** The search values as JSON text (parsed only when a filter needs them). */
  sJson: string;
}

export function encodeCurrent(versionId: number, deleted: boolean, lastUpdated: string, s: SearchIndex | string): Buffer {
  const json = typeof s === 'string' ? s : JSON.stringify(s);
  const body = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(CUR_HEADER + body);
  buf.writeUInt32LE(versionId, 0);
  buf.writeUInt8(deleted ? 1 : 0, 4);
  writeInstant(buf, 5, lastUpdated);
  buf.write(json, CUR_HEADER, 'utf8');
  return buf;
}

export function decodeCurrentHead(buf: Buffer): CurrentHead {
  return { versionId: buf.readUInt32LE(0), deleted: buf[4] === 1, lastUpdated: buf.toString('latin1', 5, CUR_HEADER) };
}

export function decodeCurrent(buf: Buffer): Current {
  return { ...decodeCurrentHead(buf), sJson: buf.toString('utf8', CUR_HEADER) };
}

export function encodeVersion(lastUpdated: string, json: string | null): Buffer {
  const body = json === null ? 0 : Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(INSTANT_BYTES + body);
  writeInstant(buf, 0, lastUpdated);
  if (json !== null) buf.write(json, INSTANT_BYTES, 'utf8');
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
