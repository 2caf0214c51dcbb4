// Checksummed record framing shared by the journal and snapshot files, plus fsync helpers.
// A file is MAGIC (8 bytes) followed by records: u32 LE payload length, u32 LE crc32(payload),
// payload (UTF-8 JSON). A record whose length runs past the end of the file or whose checksum does
// not match ends the readable prefix: everything from its offset on is a torn or corrupt tail.
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

export const HEADER_BYTES = 8;
export const JOURNAL_MAGIC = Buffer.from('IISJRN1\n', 'latin1');
export const SNAPSHOT_MAGIC = Buffer.from('IISSNP1\n', 'latin1');
/** Larger lengths are treated as corruption (a record is one write or one transaction). */
const MAX_RECORD_BYTES = 1024 * 1024 * 1024;
const READ_CHUNK = 4 * 1024 * 1024;

export function frame(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, 8);
  return out;
}

export interface ReadResult {
  /** Offset just past the last good record (== file size when the file is intact). */
  goodEnd: number;
  fileSize: number;
  /** False when the file is shorter than the magic or the magic differs. */
  headerOk: boolean;
  records: number;
}

/**
 * Streams the records of a framed file to onRecord, stopping at the first torn or corrupt record.
 * Reads in chunks so multi-gigabyte snapshots never sit in memory whole.
 */
export async function readFramed(
  path: string,
  magic: Buffer,
  onRecord: (payload: string) => void | Promise<void>
): Promise<ReadResult> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const head = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await fh.read(head, 0, HEADER_BYTES, 0);
    if (bytesRead < HEADER_BYTES || !head.equals(magic)) {
      return { goodEnd: 0, fileSize, headerOk: false, records: 0 };
    }
    let pos = HEADER_BYTES; // file offset of buf[0]
    let fileOffset = HEADER_BYTES; // next byte to read from the file
    let buf: Buffer = Buffer.alloc(0);
    let at = 0; // parse position in buf
    let goodEnd = HEADER_BYTES;
    let records = 0;
    let eof = false;
    for (;;) {
      const avail = buf.length - at;
      let need = 8;
      if (avail >= 8) {
        const len = buf.readUInt32LE(at);
        if (len > MAX_RECORD_BYTES) break;
        need = 8 + len;
      }
      if (avail < need) {
        if (eof) break;
        const want = Math.max(READ_CHUNK, need - avail);
        const next = Buffer.allocUnsafe(avail + want);
        buf.copy(next, 0, at);
        const { bytesRead } = await fh.read(next, avail, want, fileOffset);
        if (bytesRead === 0) eof = true;
        fileOffset += bytesRead;
        pos += at;
        at = 0;
        buf = next.subarray(0, avail + bytesRead);
        continue;
      }
      const body = buf.subarray(at + 8, at + need);
      if (crc32(body) !== buf.readUInt32LE(at + 4)) break;
      await onRecord(body.toString('utf8'));
      records++;
      at += need;
      goodEnd = pos + at;
    }
    return { goodEnd, fileSize, headerOk: true, records };
  } finally {
    await fh.close();
  }
}

/** fsync a directory so created, renamed or removed entries survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some platforms (Windows) cannot open or fsync directories; everywhere else it must work.
    if (process.platform !== 'win32') throw err;
  } finally {
    await fh?.close();
  }
}
