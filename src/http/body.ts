// Reads a request body within bounds: at most BODY_LIMIT bytes on the wire, and after
// decompression at most BODY_LIMIT bytes and at most BODY_MAX_INFLATE_RATIO times the compressed
// bytes. Inflation streams on the zlib thread pool (a large body never holds the event loop), as
// the body arrives when its length is declared, and stops as soon as the body cannot end within a
// bound, or is plainly a bomb: a bomb is refused
// after inflating one step (measured in body.test.ts), not after inflating up to its cap, while a
// body whose start compresses far better than the rest is read whole when it ends within the ratio.
import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { createGunzip, createInflate, createInflateRaw, type Zlib, type ZlibOptions } from 'node:zlib';
import { FhirError, makeIssue, outcome, unsupportedMediaType } from '../fhir/outcome.js';

export interface BodyLimits {
  /** Bytes on the wire, and bytes after decompression. */
  maxBytes: number;
  /** Decompressed bytes per compressed byte. */
  maxInflateRatio: number;
}

/**
 * Output of one thread-pool step of inflation. 64 KB rather than zlib's 16 KB: a large genuine
 * body takes a quarter of the round trips; a bomb is stopped after two steps.
 */
export const INFLATE_STEP_BYTES = 64 * 1024;

/**
 * The longest unit whose repetition filling a whole step marks a bomb. Deflate encodes a repeat at
 * a distance of at most 32 bytes in so few bits that such a run inflates 400–1,000 times (230 times
 * at gzip level 1); nothing a client sends repeats so short a unit for 64 KB (the shortest Bundle
 * entry, `{"resource":{"resourceType":"Patient"}},`, is 42 bytes). Longer units (identical entries)
 * are read on: whether their body ends within the ratio shows only at its end.
 */
const BOMB_UNIT_MAX_BYTES = 32;

function tooLarge(text: string): FhirError {
  return new FhirError(413, outcome([makeIssue('error', 'too-costly', text)]), { Connection: 'close' });
}

/** The whole body, decompressed; an empty Buffer when there is none. */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (!['identity', 'gzip', 'x-gzip', 'deflate'].includes(encoding)) {
    throw unsupportedMediaType(`Content-Encoding ${encoding} is not supported; send identity, gzip or deflate`);
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    req.resume(); // drain quietly; the connection is closed after the answer
    throw tooLarge(`The request body (${declared} bytes) is larger than the limit of ${limits.maxBytes} bytes (BODY_LIMIT)`);
  }
  if (encoding !== 'identity' && Number.isFinite(declared)) {
    // Its length known, a compressed body is inflated as it arrives: refused as soon as a step
    // shows it cannot end within the bounds (the ratio against that length), before the rest is
    // read, and never held whole both compressed and inflated.
    return inflateAsItComes(req, limits);
  }
  // Chunked: read whole first, so the ratio is checked against its whole length while inflating.
  const wire = await collect(req, limits.maxBytes);
  if (encoding === 'identity' || wire.length === 0) return wire;
  try {
    if (encoding === 'deflate') {
      // HTTP "deflate" is zlib-wrapped; some clients send raw DEFLATE: accept both.
      return await inflateWithin(createInflate, wire, limits).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'Z_DATA_ERROR') return inflateWithin(createInflateRaw, wire, limits);
        throw err;
      });
    }
    return await inflateWithin(createGunzip, wire, limits);
  } catch (err) {
    if (err instanceof FhirError) throw err;
    throw new FhirError(400, outcome([makeIssue('error', 'invalid', `The ${encoding} request body could not be decompressed: ${(err as Error).message}`)]));
  }
}

/** What inflateAsItComes reads within, besides BodyLimits. */
export interface StreamedBodyLimits extends BodyLimits {
  /**
   * The limits from the step on which the body's start shows what it is (maxBytes for the wire
   * and the inflated bytes alike): called with the bytes inflated so far after each step (and at
   * the end, `ended`) until it answers. An HL7 v2 single message so gets its own limit, a batch
   * file the body's.
   */
  limitsOnceKnown?: (head: Buffer, ended: boolean) => BodyLimits | undefined;
  /** The 413 for a body over maxBytes (or the limit once known); default: the BODY_LIMIT OperationOutcome. */
  overLimit?: (limit: number) => Error;
}

/**
 * A gzip or deflate body, inflated as it arrives (the wire bytes go to zlib as they come), so a
 * body is refused as soon as its wire bytes, its inflated bytes or their ratio (inflatingBeyond)
 * pass a bound: before the rest of it is sent. With a Content-Length the ratio is checked against
 * it while inflating; without one (chunked), against the bytes consumed, and at the end.
 */
export function inflateAsItComes(req: IncomingMessage, limits: StreamedBodyLimits): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (!['gzip', 'x-gzip', 'deflate'].includes(encoding)) {
    req.resume();
    return Promise.reject(unsupportedMediaType(`Content-Encoding ${encoding} is not supported here; send gzip or deflate`));
  }
  const overLimit = limits.overLimit ?? ((limit: number) => tooLarge(`The request body is larger than the limit of ${limit} bytes (BODY_LIMIT)`));
  const declaredHeader = req.headers['content-length'];
  const declared = declaredHeader !== undefined && /^\d+$/.test(declaredHeader) ? Number(declaredHeader) : undefined;
  let { maxBytes, maxInflateRatio } = limits;
  if (declared !== undefined && declared > maxBytes) {
    req.resume();
    return Promise.reject(overLimit(maxBytes));
  }
  return new Promise((resolve, reject) => {
    let inflater: (Transform & Zlib) | undefined;
    let firstBytes: Buffer[] = []; // wire bytes before a deflate body's first two show its wrapping
    const chunks: Buffer[] = [];
    let received = 0;
    let inflated = 0;
    let known = limits.limitsOnceKnown === undefined;
    let done = false;
    const finish = (err: unknown, body?: Buffer) => {
      if (done) return;
      done = true;
      chunks.length = 0;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      inflater?.destroy(); // no further step is queued on the thread pool
      if (err) {
        req.resume(); // what is still coming is dropped; the connection is closed after the answer
        reject(err);
      } else resolve(body!);
    };
    const decideLimit = (ended: boolean) => {
      if (known) return;
      const once = limits.limitsOnceKnown!(Buffer.concat(chunks, inflated), ended);
      if (once === undefined) return;
      known = true;
      ({ maxBytes, maxInflateRatio } = once);
    };
    const startInflater = (head: Buffer) => {
      // HTTP "deflate" is zlib-wrapped (RFC 1950: CMF/FLG, a multiple of 31); some clients send raw DEFLATE.
      const zlibWrapped = head.length >= 2 && (head[0] & 0x0f) === 8 && ((head[0] << 8) | head[1]) % 31 === 0;
      const create = encoding === 'deflate' ? (zlibWrapped ? createInflate : createInflateRaw) : createGunzip;
      const started = create({ chunkSize: INFLATE_STEP_BYTES });
      started.on('data', (step: Buffer) => {
        if (done) return;
        inflated += step.length;
        chunks.push(step);
        decideLimit(false);
        if (received > maxBytes || (declared !== undefined && declared > maxBytes) || inflated > maxBytes) {
          finish(overLimit(maxBytes));
          return;
        }
        const beyond = inflatingBeyond({ maxBytes, maxInflateRatio }, { wireBytes: declared, consumed: started.bytesWritten, inflated, step });
        if (beyond) finish(beyond);
      });
      started.on('drain', () => req.resume());
      started.on('end', () => {
        if (done) return;
        decideLimit(true);
        if (received > maxBytes || inflated > maxBytes) finish(overLimit(maxBytes));
        else if (inflated > maxInflateRatio * received) finish(tooLargeRatio({ maxBytes, maxInflateRatio }));
        else finish(undefined, Buffer.concat(chunks, inflated));
      });
      started.on('error', (err: Error) => {
        finish(new FhirError(400, outcome([makeIssue('error', 'invalid', `The ${encoding} request body could not be decompressed: ${err.message}`)])));
      });
      inflater = started;
      return started;
    };
    const feed = (bytes: Buffer) => {
      if (!inflater) {
        firstBytes.push(bytes);
        const head = Buffer.concat(firstBytes);
        if (head.length < 2) return;
        firstBytes = [];
        bytes = head;
        startInflater(head);
      }
      // Paused while zlib is behind (a slow step on a busy thread pool); resumed on its 'drain'.
      if (!inflater!.write(bytes)) req.pause();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        finish(overLimit(maxBytes));
        return;
      }
      feed(chunk);
    };
    const onEnd = () => {
      if (done) return;
      if (received === 0) return finish(undefined, Buffer.alloc(0));
      if (!inflater) startInflater(Buffer.concat(firstBytes)).write(Buffer.concat(firstBytes));
      inflater!.end();
    };
    const onError = (err: Error) => finish(unreadable(err));
    const onAborted = () => finish(incomplete());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * wire inflated, step by step on the thread pool; a 413 as soon as a step shows the body cannot
 * end within the bounds (inflatingBeyond), and no further step is taken. Truncated or corrupt data
 * rejects with zlib's error.
 */
function inflateWithin(create: (options: ZlibOptions) => Transform & Zlib, wire: Buffer, limits: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const inflater = create({ chunkSize: INFLATE_STEP_BYTES });
    const chunks: Buffer[] = [];
    let inflated = 0;
    let done = false;
    const stop = (err: unknown) => {
      if (done) return;
      done = true;
      chunks.length = 0;
      inflater.destroy(); // no further step is queued on the thread pool
      reject(err);
    };
    inflater.on('data', (chunk: Buffer) => {
      if (done) return;
      inflated += chunk.length;
      const beyond = inflatingBeyond(limits, { wireBytes: wire.length, consumed: inflater.bytesWritten, inflated, step: chunk });
      if (beyond) stop(beyond);
      else chunks.push(chunk);
    });
    inflater.on('end', () => {
      if (done) return;
      done = true;
      if (inflated > limits.maxInflateRatio * wire.length) reject(tooLargeRatio(limits));
      else resolve(Buffer.concat(chunks, inflated));
    });
    inflater.on('error', stop);
    inflater.end(wire);
  });
}

/** Where an inflation stands after a step: its output `step`, and the totals including it. */
export interface InflationStep {
  /** The compressed body's length, when known (all of it read, or its Content-Length). */
  wireBytes: number | undefined;
  /** Compressed bytes zlib has consumed so far (its bytesWritten). */
  consumed: number;
  /** Bytes inflated so far. */
  inflated: number;
  step: Buffer;
}

/**
 * The 413 for a body that cannot end within the limits, known after this step: its output is past
 * BODY_LIMIT; or past BODY_MAX_INFLATE_RATIO times the whole compressed body (however the rest
 * inflates, the whole body's ratio is over); or it is plainly a bomb: past the ratio of the bytes
 * consumed so far, and the step is a repetition of a unit of at most BOMB_UNIT_MAX_BYTES. Anything
 * else is inflated on, so a body whose start inflates far more than its rest (a Bundle of many
 * identical entries followed by varied ones) is read whole when it ends within the ratio; a body
 * that repeats a longer unit is stopped once it cannot, after at most ratio times its compressed
 * bytes: as much as an accepted body of its size inflates.
 */
export function inflatingBeyond(limits: BodyLimits, at: InflationStep): FhirError | undefined {
  if (at.inflated > limits.maxBytes) {
    return tooLarge(`The decompressed request body is larger than the limit of ${limits.maxBytes} bytes (BODY_LIMIT)`);
  }
  if (at.wireBytes !== undefined && at.inflated > limits.maxInflateRatio * at.wireBytes) return tooLargeRatio(limits);
  if (at.inflated > limits.maxInflateRatio * at.consumed && at.step.length >= INFLATE_STEP_BYTES && repeatsShortUnit(at.step)) {
    return tooLargeRatio(limits);
  }
  return undefined;
}

/** Whether bytes are one unit of at most BOMB_UNIT_MAX_BYTES repeated (a run of spaces, `[[[[`, `{"a":1},{"a":1},`). */
function repeatsShortUnit(bytes: Buffer): boolean {
  for (let unit = 1; unit <= BOMB_UNIT_MAX_BYTES && unit < bytes.length; unit++) {
    // bytes[i] === bytes[i + unit] for every i: memcmp, which stops at the first difference.
    if (bytes.compare(bytes, unit, bytes.length, 0, bytes.length - unit) === 0) return true;
  }
  return false;
}

function tooLargeRatio(limits: BodyLimits): FhirError {
  return tooLarge(`The request body inflates more than ${limits.maxInflateRatio} times its compressed size (BODY_MAX_INFLATE_RATIO)`);
}

/** The connection failed while the body was read (400: the request never arrived whole). */
function unreadable(err: Error): FhirError {
  return new FhirError(400, outcome([makeIssue('error', 'invalid', `The request body could not be read: ${err.message}`)]));
}

/** The client went away before the body's end (400). */
function incomplete(): FhirError {
  return new FhirError(400, outcome([makeIssue('error', 'invalid', 'The request body was incomplete')]));
}

function collect(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        chunks.length = 0;
        req.resume();
        finish(tooLarge(`The request body is larger than the limit of ${maxBytes} bytes (BODY_LIMIT)`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onError = (err: Error) => finish(unreadable(err));
    const onAborted = () => finish(incomplete());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
