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
 * here). Each at most once; `_summary=count` is a search's, so a 400 here, as is any other bad value.
 */
export function parseReadSubset(query: ReadonlyArray<[string, string]>, interaction = 'read'): SubsetRequest {
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
      if (bad.length === 0 && list.length > 0) request.elements = list;
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
