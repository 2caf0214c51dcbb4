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
    if (searchEntryParts(entry, bytes, parts)) return;
    objectParts(entry as unknown as Record<string, unknown>, parts, (key) => {
      if (key !== 'resource') return false;
      parts.push(bytes);
      return true;
    });
  });
  parts.push(']');
  return true;
}

/** JSON.stringify's text of a string that needs no escaping: the string itself between quotes. */
const PLAIN_JSON_STRING = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** The text after the resource of an entry whose search is `{ mode }` (the common modes, written once). */
const SEARCH_TAILS: Record<string, string> = {
  match: ',"search":{"mode":"match"}}',
  include: ',"search":{"mode":"include"}}',
};

/**
 * The common searchset entry, `{ fullUrl, resource, search: { mode } }` with exactly these own keys
 * in this order, appended without building any string per entry (its parts are constants, the URL
 * itself and the stored bytes); false for any other entry, which objectParts writes.
 */
function searchEntryParts(entry: BundleEntry, bytes: Uint8Array, parts: Array<string | Uint8Array>): boolean {
  const keys = Object.keys(entry);
  if (keys.length !== 3 || keys[0] !== 'fullUrl' || keys[1] !== 'resource' || keys[2] !== 'search') return false;
  const { fullUrl, search } = entry;
  if (typeof fullUrl !== 'string' || !PLAIN_JSON_STRING.test(fullUrl)) return false;
  if (search === null || typeof search !== 'object' || Array.isArray(search) || Object.getPrototypeOf(search) !== Object.prototype) return false;
  const searchKeys = Object.keys(search);
  const tail = searchKeys.length === 1 && searchKeys[0] === 'mode' && typeof search.mode === 'string' ? SEARCH_TAILS[search.mode] : undefined;
  if (tail === undefined || !Object.hasOwn(SEARCH_TAILS, search.mode as string)) return false;
  parts.push('{"fullUrl":"', fullUrl, '","resource":', bytes, tail);
  return true;
}
