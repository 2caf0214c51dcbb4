// The JSON text of a response body. A searchset Bundle whose entries carry their resources' stored
// JSON (src/fhir/stored-json.ts) is written as one buffer with those bytes copied in: the same
// bytes JSON.stringify would produce (the stored text is JSON.stringify's own output, and a
// stringified value parses and stringifies back to the same text), without serialising every
// resource again and encoding the whole text to UTF-8 a second time. Pretty output and every other
// body go through JSON.stringify.
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { concatUtf8, storedJsonOf } from '../fhir/stored-json.js';

/** The body as JSON: a string from JSON.stringify, or a Buffer assembled around stored resource bytes. */
export function jsonBody(body: Resource, pretty: boolean): string | Buffer {
  if (pretty || typeof (body as { toJSON?: unknown }).toJSON === 'function') return pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body);
  const entries = body.resourceType === 'Bundle' ? (body as Bundle).entry : undefined;
  if (!Array.isArray(entries) || !entries.some((e) => e !== null && typeof e === 'object' && storedJsonOf(e) !== undefined)) {
    return JSON.stringify(body);
  }
  const parts: Array<string | Uint8Array> = [];
  objectParts(body as unknown as Record<string, unknown>, parts, (key, value) => (key === 'entry' && value === entries ? entryListParts(entries, parts) : false));
  return concatUtf8(parts);
}

/**
 * Appends an object's JSON like JSON.stringify (own enumerable string keys in order; undefined,
 * functions and symbols left out), letting `custom` write a member's value itself (returns true).
 */
function objectParts(object: Record<string, unknown>, parts: Array<string | Uint8Array>, custom: (key: string, value: unknown) => boolean): void {
  parts.push('{');
  let first = true;
  for (const key of Object.keys(object)) {
    const value = object[key];
    const start = parts.length;
    parts.push(`${first ? '' : ','}${JSON.stringify(key)}:`);
    if (custom(key, value)) {
      first = false;
      continue;
    }
    const text = JSON.stringify(value);
    if (text === undefined) {
      parts.length = start; // left out, as JSON.stringify leaves it out
      continue;
    }
    parts.push(text);
    first = false;
  }
  parts.push('}');
}

function entryListParts(entries: BundleEntry[], parts: Array<string | Uint8Array>): true {
  parts.push('[');
  entries.forEach((entry, i) => {
    if (i > 0) parts.push(',');
    const bytes = entry !== null && typeof entry === 'object' && typeof (entry as { toJSON?: unknown }).toJSON !== 'function' ? storedJsonOf(entry) : undefined;
    if (!bytes) {
      // Array members JSON.stringify cannot write become null.
      parts.push(JSON.stringify(entry) ?? 'null');
      return;
    }
    objectParts(entry as unknown as Record<string, unknown>, parts, (key) => {
      if (key !== 'resource') return false;
      parts.push(bytes);
      return true;
    });
  });
  parts.push(']');
  return true;
}
