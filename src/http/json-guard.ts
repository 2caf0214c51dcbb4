// Parses a JSON request body within bounds. One linear pass over the text checks what JSON.parse
// cannot: nesting depth, the length of each string, the length of each array, the number of
// values, and repeated keys in an object (FHIR JSON forbids them; JSON.parse keeps the last).
// Only then is JSON.parse (native, fast) trusted with the text, so a hostile body costs one
// bounded scan and never a deep recursion, a huge array or a multi-megabyte string downstream.
import { FhirError, makeIssue, outcome } from '../fhir/outcome.js';

export interface JsonLimits {
  /** Objects and arrays nested deeper than this are refused. */
  maxDepth: number;
  /** Characters of one string (a key or a value, as written, escapes included). */
  maxStringLength: number;
  /** Elements of one array. */
  maxArrayLength: number;
  /** JSON values (objects, arrays, strings, numbers, literals) in the whole body. */
  maxValues: number;
}

/** A body that is not valid JSON (structure), or that breaks a limit (too-costly): both 400. */
function malformed(text: string): FhirError {
  return new FhirError(400, outcome([makeIssue('error', 'structure', text)]));
}
function tooCostly(text: string, path: string): FhirError {
  return new FhirError(400, outcome([makeIssue('error', 'too-costly', text, { expression: path })]));
}

/** Parses `text`, refusing duplicate keys, syntax errors and bodies past a limit (all 400). */
export function parseJsonWithin(text: string, limits: JsonLimits): unknown {
  scanJson(text, limits);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw malformed(`The body is not valid JSON: ${(err as Error).message}`);
  }
}

interface Frame {
  isArray: boolean;
  count: number;
  keys?: Set<string>;
  /** Last key seen (objects) for error paths. */
  key?: string;
}

const QUOTE = 34;
const BACKSLASH = 92;

/**
 * Walks the JSON text once. Syntax is checked only as far as the limits need (JSON.parse checks
 * the rest); structure limits and duplicate keys are exact.
 */
export function scanJson(text: string, limits: JsonLimits): void {
  const stack: Frame[] = [];
  let values = 0;
  let i = 0;
  const n = text.length;
  const path = (): string => {
    const parts: string[] = [];
    for (const f of stack) parts.push(f.isArray ? `[${f.count}]` : f.key !== undefined ? `.${f.key.slice(0, 40)}` : '');
    return `$${parts.join('')}`;
  };
  // Whether the next string in the current object is a key.
  let expectKey = false;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Find the closing quote, skipping escaped characters.
      const start = i + 1;
      let j = start;
      let escaped = false;
      for (;;) {
        j = text.indexOf('"', j);
        if (j === -1) throw malformed('The body is not valid JSON: a string is not terminated');
        // Count the backslashes right before the quote: odd means the quote is escaped.
        let k = j - 1;
        while (k >= start && text.charCodeAt(k) === BACKSLASH) k--;
        if ((j - 1 - k) % 2 === 0) break;
        escaped = true;
        j++;
      }
      const length = j - start;
      if (length > limits.maxStringLength) {
        throw tooCostly(
          `A string of ${length} characters is longer than the limit of ${limits.maxStringLength} (JSON_MAX_STRING_LENGTH)`,
          path()
        );
      }
      const frame = stack[stack.length - 1];
      if (expectKey && frame && !frame.isArray) {
        let key = text.slice(start, j);
        if (escaped || key.includes('\\')) {
          try {
            key = JSON.parse(`"${key}"`) as string;
          } catch {
            throw malformed(`The body is not valid JSON: bad escape in the key "${key.slice(0, 40)}"`);
          }
        }
        frame.keys ??= new Set();
        if (frame.keys.has(key)) {
          throw malformed(`The property "${key.slice(0, 80)}" appears twice in one object at ${path()}; FHIR JSON forbids repeated properties`);
        }
        frame.keys.add(key);
        frame.key = key;
        expectKey = false;
      } else {
        values++;
      }
      i = j + 1;
      continue;
    }
    switch (c) {
      case 123 /* { */:
      case 91 /* [ */: {
        values++;
        if (stack.length + 1 > limits.maxDepth) {
          throw tooCostly(`The body is nested deeper than the limit of ${limits.maxDepth} levels (JSON_MAX_DEPTH)`, path());
        }
        stack.push({ isArray: c === 91, count: 0 });
        expectKey = c === 123;
        break;
      }
      case 125 /* } */:
      case 93 /* ] */:
        stack.pop();
        expectKey = false;
        break;
      case 44 /* , */: {
        const frame = stack[stack.length - 1];
        if (frame && !frame.isArray) expectKey = true;
        else if (frame?.isArray) frame.count++;
        if (frame?.isArray && frame.count >= limits.maxArrayLength) {
          throw tooCostly(`An array has more than the limit of ${limits.maxArrayLength} elements (JSON_MAX_ARRAY_LENGTH)`, path());
        }
        break;
      }
      case 58 /* : */:
      case 32:
      case 9:
      case 10:
      case 13:
        break;
      default:
        // Numbers and literals: skip to the next delimiter.
        values++;
        while (i + 1 < n) {
          const d = text.charCodeAt(i + 1);
          if (d === 44 || d === 93 || d === 125 || d === 32 || d === 10 || d === 13 || d === 9 || d === 58 || d === QUOTE) break;
          i++;
        }
    }
    if (values > limits.maxValues) {
      throw tooCostly(`The body holds more than the limit of ${limits.maxValues} JSON values (JSON_MAX_VALUES)`, path());
    }
    i++;
  }
}
