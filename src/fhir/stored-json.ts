// A searchset entry may carry the stored JSON of its resource (UTF-8 bytes, exactly
// `JSON.stringify(resource)`: the embedded store keeps resources that way), so the HTTP edge copies
// those bytes into the response instead of serialising the parsed resource again (src/http/json-body.ts).
// The bytes are tied to the resource object they were parsed into: an entry whose resource was
// replaced (shaped by _summary/_elements, or by anyone later) is serialised as usual.
import type { BundleEntry, Resource } from '@medplum/fhirtypes';

const STORED_JSON = Symbol('storedJson');

interface StoredJson {
  resource: Resource;
  bytes: Uint8Array;
}

type Marked = BundleEntry & { [STORED_JSON]?: StoredJson };

/** Marks an entry whose `resource` is the object parsed from `bytes` (a symbol key: not part of its JSON). */
export function markStoredJson(entry: BundleEntry, resource: Resource, bytes: Uint8Array): void {
  (entry as Marked)[STORED_JSON] = { resource, bytes };
}

/** The stored bytes of the entry's resource, when the entry still holds the resource they were parsed into. */
export function storedJsonOf(entry: BundleEntry): Uint8Array | undefined {
  const stored = (entry as Marked)[STORED_JSON];
  return stored && stored.resource === entry.resource ? stored.bytes : undefined;
}

/**
 * Strings and stored JSON bytes as one UTF-8 buffer, the bytes copied as they are (never decoded
 * and encoded again); `after`, when given, is a byte written after every part (NDJSON's newline).
 */
export function concatUtf8(parts: ReadonlyArray<string | Uint8Array>, after?: number): Buffer {
  const extra = after === undefined ? 0 : 1;
  let length = 0;
  for (const p of parts) length += (typeof p === 'string' ? Buffer.byteLength(p) : p.length) + extra;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (const p of parts) {
    if (typeof p === 'string') at += out.write(p, at, 'utf8');
    else {
      out.set(p, at);
      at += p.length;
    }
    if (after !== undefined) out[at++] = after;
  }
  return out;
}
