// _summary and _elements (R4 search.html#summary, #elements): a resource cut down to the elements
// asked for, plus its mandatory ones, tagged SUBSETTED. Searches apply it to their matches (and
// _summary to their includes); read and vread apply it to the resource they return.
import { getDataType } from '@medplum/core';
import type { Coding, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { FhirError, makeIssue, outcome } from '../fhir/outcome.js';

export const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

export type SummaryMode = 'true' | 'false' | 'text' | 'data' | 'count';
export const SUMMARY_MODES: readonly SummaryMode[] = ['true', 'false', 'text', 'data', 'count'];
/** An `_elements` entry: `name`, `name[x]` or `Type.name`. */
export const ELEMENT_NAME = /^([A-Z][A-Za-z]+\.)?[a-z][A-Za-z0-9]*(\[x\])?$/;

/** The names `_elements` may give for each element of a type: `name`, `name[x]` and each `nameType` of a choice. */
const elementNamesByType = new Map<string, ReadonlySet<string>>();

function elementNamesOf(resourceType: string): ReadonlySet<string> {
  let names = elementNamesByType.get(resourceType);
  if (names) return names;
  const found = new Set<string>();
  let elements: ReturnType<typeof getDataType>['elements'];
  try {
    elements = getDataType(resourceType).elements;
  } catch {
    return found; // not a FHIR resource type: it has no elements to name
  }
  for (const [key, element] of Object.entries(elements)) {
    found.add(key);
    if (!key.endsWith('[x]')) continue;
    const base = key.slice(0, -3);
    found.add(base);
    for (const t of element.type ?? []) found.add(base + t.code.charAt(0).toUpperCase() + t.code.slice(1));
  }
  names = found;
  elementNamesByType.set(resourceType, names);
  return names;
}

/**
 * The `_elements` entries that name no element of the resources they would cut: a plain name no
 * element of any of `types`, `Type.name` a type not among them or no element of it. They would
 * cut nothing (a typo, or another version's element), so a client must be told (R4 search.html:
 * an unknown or unsupported parameter value is an error under strict handling).
 */
export function unknownElements(elements: readonly string[], types: readonly string[]): string[] {
  return elements.filter((e) => {
    const dot = e.indexOf('.');
    if (dot < 0) return !types.some((t) => elementNamesOf(t).has(e));
    const type = e.slice(0, dot);
    return !types.includes(type) || !elementNamesOf(type).has(e.slice(dot + 1));
  });
}

/** Why an `_elements` entry is refused or ignored. */
export function unknownElementText(element: string, types: readonly string[]): string {
  const dot = element.indexOf('.');
  if (dot >= 0 && !types.includes(element.slice(0, dot))) return `"${element}" names ${element.slice(0, dot)}, which this request does not return (${types.join(', ')})`;
  return `"${element}" is not an element of ${dot >= 0 ? element.slice(0, dot) : types.join(' or ')}`;
}

export interface SubsetRequest {
  summary?: SummaryMode;
  elements?: string[];
}

/** The resource as _summary / _elements ask (the resource itself when neither cuts anything). */
export function subsetResource(resource: Resource, request: SubsetRequest): Resource {
  const { summary, elements } = request;
  if ((!summary || summary === 'false' || summary === 'count') && !elements) return resource;
  const source = resource as unknown as Record<string, unknown>;
  const schema = getDataType(resource.resourceType);
  const mandatory = new Set<string>();
  for (const [key, el] of Object.entries(schema.elements)) if (el.min > 0) mandatory.add(key.replace('[x]', ''));
  const keep = (name: string, wanted: Set<string>): boolean => {
    if (name === 'resourceType' || name === 'id' || name === 'meta') return true;
    for (const w of wanted) {
      if (name === w) return true;
      if (name.startsWith(w) && /^[A-Z]/.test(name.slice(w.length))) return true; // choice type: deceased → deceasedBoolean
    }
    return false;
  };
  let out: Record<string, unknown>;
  if (elements) {
    const wanted = new Set<string>(mandatory);
    for (const e of elements) {
      const dot = e.indexOf('.');
      if (dot >= 0) {
        if (e.slice(0, dot) === resource.resourceType) wanted.add(e.slice(dot + 1).replace('[x]', ''));
      } else wanted.add(e.replace('[x]', ''));
    }
    out = pick(source, (k) => keep(k, wanted));
  } else if (summary === 'true') {
    const wanted = new Set<string>([...(schema.summaryProperties ?? []), ...mandatory]);
    out = pick(source, (k) => keep(k, wanted));
  } else if (summary === 'text') {
    out = pick(source, (k) => keep(k, new Set(['text', ...mandatory])));
  } else {
    out = pick(source, (k) => k !== 'text');
  }
  const meta = { ...((source.meta as Record<string, unknown>) ?? {}) };
  const tags = Array.isArray(meta.tag) ? [...(meta.tag as Coding[])] : [];
  if (!tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code)) tags.push(SUBSETTED);
  meta.tag = tags;
  out.meta = meta;
  return out as unknown as Resource;
}

/**
 * `_summary` and `_elements` of a read, vread or history (other query parameters are not read
 * here) of resources of `types`. Each at most once; `_summary=count` is a search's, so a 400 here,
 * as is any other bad value. An `_elements` name that is no element of those types is a 400 too,
 * or, with `Prefer: handling=lenient`, left out (a read or history has no place for a warning; the
 * history interaction ignores unknown parameters as silently).
 */
export function parseReadSubset(
  query: ReadonlyArray<[string, string]>,
  options: { interaction?: string; types: readonly string[]; lenient?: boolean }
): SubsetRequest {
  const interaction = options.interaction ?? 'read';
  const request: SubsetRequest = {};
  const issues: OperationOutcomeIssue[] = [];
  const seen = new Set<string>();
  for (const [name, value] of query) {
    if (name !== '_summary' && name !== '_elements') continue;
    if (seen.has(name)) {
      issues.push(makeIssue('error', 'invalid', `Parameter "${name}" may be given once`, { expression: name }));
      continue;
    }
    seen.add(name);
    if (name === '_summary') {
      if (value === 'count' || !(SUMMARY_MODES as readonly string[]).includes(value)) {
        issues.push(makeIssue('error', 'invalid', `Parameter "_summary" of a ${interaction} must be true, false, text or data, got "${value}"`, { expression: name }));
      } else request.summary = value as SummaryMode;
    } else {
      const list = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
      const bad = list.filter((e) => !ELEMENT_NAME.test(e));
      for (const e of bad) issues.push(makeIssue('error', 'invalid', `Parameter "_elements": "${e}" is not an element name`, { expression: name }));
      if (bad.length > 0 || list.length === 0) continue;
      const unknown = unknownElements(list, options.types);
      if (options.lenient) {
        const known = list.filter((e) => !unknown.includes(e));
        if (known.length > 0) request.elements = known;
        continue;
      }
      for (const e of unknown) issues.push(makeIssue('error', 'invalid', `Parameter "_elements": ${unknownElementText(e, options.types)}`, { expression: name }));
      if (unknown.length === 0) request.elements = list;
    }
  }
  if (issues.length > 0) throw new FhirError(400, outcome(issues));
  return request;
}

function pick(source: Record<string, unknown>, keep: (key: string) => boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(source)) if (keep(k)) out[k] = v;
  return out;
}
