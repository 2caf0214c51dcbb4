// Reads a request body within bounds: at most BODY_LIMIT bytes on the wire, and after
// decompression at most BODY_LIMIT bytes and at most BODY_MAX_INFLATE_RATIO times the compressed
// bytes. Inflation streams on the zlib thread pool (a large body never holds the event loop) and
// stops as soon as a bound is passed: a bomb is refused after inflating little more than one step
// (measured in body.test.ts), not after inflating up to its cap.
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
 * Inflated bytes never refused by the ratio while inflating: deflate's first blocks may inflate
 * more than the whole body does on average (a run of spaces, a repeated entry). The ratio is
 * checked on the whole body at the end as well.
 */
const RATIO_GRACE_BYTES = INFLATE_STEP_BYTES;

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

/**
 * wire inflated, step by step on the thread pool; a 413 as soon as the output passes BODY_LIMIT or
 * BODY_MAX_INFLATE_RATIO times the compressed bytes inflated so far (zlib's bytesWritten: the input
 * it has consumed), and no further step is taken. Truncated or corrupt data rejects with zlib's error.
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
      if (inflated > limits.maxBytes) {
        stop(tooLarge(`The decompressed request body is larger than the limit of ${limits.maxBytes} bytes (BODY_LIMIT)`));
      } else if (inflated > RATIO_GRACE_BYTES && inflated > limits.maxInflateRatio * inflater.bytesWritten) {
        stop(tooLargeRatio(limits));
      } else chunks.push(chunk);
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

function tooLargeRatio(limits: BodyLimits): FhirError {
  return tooLarge(`The request body inflates more than ${limits.maxInflateRatio} times its compressed size (BODY_MAX_INFLATE_RATIO)`);
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
    const onError = (err: Error) => finish(new FhirError(400, outcome([makeIssue('error', 'invalid', `The request body could not be read: ${err.message}`)])));
    const onAborted = () => finish(new FhirError(400, outcome([makeIssue('error', 'invalid', 'The request body was incomplete')])));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
