// FHIR URLs as the router and Bundle entries read them: path segments and ordered query pairs.
import { badRequest } from './outcome.js';

/** Splits a relative FHIR URL (`Patient/1/_history?_count=2`) into segments and ordered query pairs. */
export function splitUrl(url: string): { segments: string[]; query: Array<[string, string]> } {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      if (!s.includes('%')) return s; // nothing to decode: decodeURIComponent would return it as is
      try {
        return decodeURIComponent(s);
      } catch {
        throw badRequest(`The URL path segment "${s}" is not valid percent-encoding`);
      }
    });
  return { segments, query: q === -1 ? [] : parseQuery(url.slice(q + 1)) };
}

/**
 * Parses a query string into ordered string pairs (never objects, so no operator can be injected).
 * Form encoding turns `+` into a space; an unescaped `+` in a time-zone offset is restored.
 */
export function parseQuery(queryString: string): Array<[string, string]> {
  return parseQueryWith(queryString, decodeComponent, restoreOffsetPlus);
}

/** parseQuery without its shortcuts, the reference url.test.ts compares it with. */
export function parseQueryReference(queryString: string): Array<[string, string]> {
  return parseQueryWith(queryString, decodeComponentReference, restoreOffsetPlusReference);
}

function parseQueryWith(queryString: string, decode: (v: string) => string, restore: (v: string) => string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const part of queryString.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    pairs.push([decode(rawName), restore(decode(rawValue))]);
  }
  return pairs;
}

function decodeComponent(value: string): string {
  // Most names and values hold neither `+` nor `%`: decodeURIComponent would return them as they are.
  if (!value.includes('%')) return value.includes('+') ? value.replace(/\+/g, ' ') : value;
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw badRequest(`The query component "${value}" is not valid percent-encoding`);
  }
}

const OFFSET_WITH_SPACE = /^((?:eq|ne|gt|lt|ge|le|sa|eb|ap)?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})$/;

function restoreOffsetPlus(value: string): string {
  if (!value.includes(' ')) return value; // OFFSET_WITH_SPACE needs one
  return value
    .split(',')
    .map((v) => v.replace(OFFSET_WITH_SPACE, '$1+$2'))
    .join(',');
}

function decodeComponentReference(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw badRequest(`The query component "${value}" is not valid percent-encoding`);
  }
}

function restoreOffsetPlusReference(value: string): string {
  return value
    .split(',')
    .map((v) => v.replace(OFFSET_WITH_SPACE, '$1+$2'))
    .join(',');
}
