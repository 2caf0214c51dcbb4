// Kick-off parameters of $export (Bulk Data Access 2.0), from the query (GET) or a Parameters
// body (POST). Everything is checked before a job is created: unknown or unsupported parameters
// and bad values are a 400 naming every problem, or, with `Prefer: handling=lenient`, dropped
// with a warning in the kick-off response.
import type { OperationOutcomeIssue, Parameters } from '@medplum/fhirtypes';
import { failWith, isFhirError, makeIssue } from '../fhir/outcome.js';
import { isSupportedType, PATIENT_COMPARTMENT_TYPES, SUPPORTED_TYPES } from '../fhir/resource-types.js';
import { parseQuery } from '../fhir/url.js';
import { parseCriteria } from '../search/parse.js';
import { unknownElements, unknownElementText } from '../search/subset.js';

export type ExportLevel = 'system' | 'patient' | 'group';

/** The Patient compartment types this server stores: what Patient- and Group-level exports cover. */
export const COMPARTMENT_TYPES = PATIENT_COMPARTMENT_TYPES;

/**
 * `_outputFormat` values meaning NDJSON. A `+` typed unencoded in a query string reads as a space
 * (form encoding), so `?_outputFormat=application/fhir+ndjson` arrives as `application/fhir ndjson`:
 * clients send it so (the ONC (g)(10) test kit did), and no other format is spelled that way.
 */
export const NDJSON_FORMATS = ['application/fhir+ndjson', 'application/fhir ndjson', 'application/ndjson', 'ndjson'];

/** includeAssociatedData values of the IG: accepted; this server stores no Provenance, so they add nothing. */
const ASSOCIATED_DATA = ['LatestProvenanceResources', 'RelevantProvenanceResources'];

/** Most patients one request may name (larger cohorts: a Group). */
export const MAX_PATIENTS = 10_000;

export interface TypeFilter {
  type: string;
  /** The search query after `?`, as received (still URL-encoded). */
  query: string;
}

export interface ExportParams {
  /** Requested types (`_type`), or undefined for the default set. */
  types?: string[];
  /** `_since` normalised to an ISO instant with milliseconds (UTC). */
  since?: string;
  /** `_until` normalised likewise: resources last updated at or before it. */
  until?: string;
  typeFilters: TypeFilter[];
  /** Patient ids of the `patient` parameter. */
  patients?: string[];
  elements?: string[];
  outputFormat: string;
  /** `organizeOutputBy`: files of patient blocks (header, Patient, their resources) instead of one type per file. */
  organizeOutputBy?: 'Patient';
  /** Warnings for what lenient handling dropped or what has no effect. */
  issues: OperationOutcomeIssue[];
}

export interface ParseContext {
  level: ExportLevel;
  method: string;
  lenient: boolean;
  baseUrl: string;
}

/**
 * The kick-off parameters this server accepts (`patient` not at system level): its served Bulk Data
 * OperationDefinitions (profiles/OperationDefinition-bulkdata-*.json) list exactly these.
 */
export const EXPORT_PARAMETERS = ['_outputFormat', '_since', '_until', '_type', '_elements', 'patient', 'includeAssociatedData', '_typeFilter', 'organizeOutputBy'] as const;
const KNOWN: ReadonlySet<string> = new Set(EXPORT_PARAMETERS);
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const ELEMENT = /^([A-Z][A-Za-z]+\.)?[a-z][A-Za-z0-9]*(\[x\])?$/;
const PATIENT_REF = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/;

/** Name/value pairs of the request: the query, plus the Parameters body of a POST. */
export function exportPairs(method: string, query: Array<[string, string]>, body: unknown): Array<[string, string | { reference?: string }]> {
  const pairs: Array<[string, string | { reference?: string }]> = [...query];
  if (method !== 'POST' || body === undefined) return pairs;
  const params = body as Parameters;
  if (!params || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw failWith(400, [makeIssue('error', 'invalid', 'A POST $export body must be a Parameters resource')]);
  }
  for (const p of params.parameter ?? []) {
    if (typeof p?.name !== 'string') throw failWith(400, [makeIssue('error', 'invalid', 'Every Parameters.parameter needs a name')]);
    const value =
      p.valueReference ?? p.valueString ?? p.valueCode ?? p.valueInstant ?? p.valueDateTime ?? p.valueUri ?? p.valueUrl ?? p.valueCanonical;
    if (value === undefined) {
      throw failWith(400, [makeIssue('error', 'invalid', `Parameter "${p.name}" has no supported value[x]`, { expression: `Parameters.parameter.where(name='${p.name}')` })]);
    }
    pairs.push([p.name, value as string | { reference?: string }]);
  }
  return pairs;
}

export function parseExportParams(pairs: Array<[string, string | { reference?: string }]>, ctx: ParseContext): ExportParams {
  const errors: OperationOutcomeIssue[] = [];
  const issues: OperationOutcomeIssue[] = [];
  const problem = (param: string, text: string): void => {
    if (ctx.lenient) issues.push(makeIssue('warning', 'not-supported', `Parameter "${param}" ignored: ${text}`, { expression: param }));
    else errors.push(makeIssue('error', 'invalid', `Parameter "${param}": ${text}`, { expression: param }));
  };
  const out: ExportParams = { typeFilters: [], outputFormat: 'application/fhir+ndjson', issues };
  const single = new Set<string>();
  const rawFilters: string[] = [];

  for (const [name, value] of pairs) {
    if (!KNOWN.has(name)) {
      problem(name, 'unknown $export parameter');
      continue;
    }
    if (name === 'patient') {
      if (ctx.level === 'system') {
        problem(name, 'is not allowed in a system-level export (use Patient/$export or Group/[id]/$export)');
        continue;
      }
      if (ctx.method !== 'POST') {
        problem(name, 'is only accepted in the Parameters body of a POST kick-off');
        continue;
      }
      const ref = typeof value === 'string' ? value : value?.reference;
      const m = typeof ref === 'string' ? PATIENT_REF.exec(ref) : null;
      if (!m) {
        problem(name, `"${typeof ref === 'string' ? ref : JSON.stringify(value)}" is not a Patient reference`);
        continue;
      }
      out.patients ??= [];
      if (!out.patients.includes(m[1])) out.patients.push(m[1]);
      continue;
    }
    if (typeof value !== 'string') {
      problem(name, 'must be a string');
      continue;
    }
    if (['_outputFormat', '_since', '_until', '_elements', 'organizeOutputBy'].includes(name)) {
      if (single.has(name)) {
        problem(name, 'may appear only once');
        continue;
      }
      single.add(name);
    }
    switch (name) {
      case '_outputFormat':
        if (!NDJSON_FORMATS.includes(value.trim().toLowerCase())) problem(name, `"${value}" is not supported; use application/fhir+ndjson`);
        else out.outputFormat = 'application/fhir+ndjson';
        break;
      case '_since': {
        const since = parseInstant(value.trim());
        if (!since) problem(name, `"${value}" is not an instant (e.g. 2024-01-31T00:00:00Z)`);
        else out.since = since;
        break;
      }
      case '_until': {
        const until = parseInstant(value.trim());
        if (!until) problem(name, `"${value}" is not an instant (e.g. 2024-01-31T00:00:00Z)`);
        else out.until = until;
        break;
      }
      case '_type': {
        const list = value.split(',').map((t) => t.trim()).filter(Boolean);
        if (list.length === 0) problem(name, 'needs at least one resource type');
        for (const t of list) {
          if (!isSupportedType(t)) problem(name, `"${t}" is not a resource type this server exports`);
          else if (ctx.level !== 'system' && !(COMPARTMENT_TYPES as readonly string[]).includes(t)) {
            problem(name, `${t} is not in the Patient compartment (a ${ctx.level}-level export covers ${COMPARTMENT_TYPES.join(', ')})`);
          } else {
            out.types ??= [];
            if (!out.types.includes(t)) out.types.push(t);
          }
        }
        break;
      }
      case '_typeFilter':
        rawFilters.push(...splitTypeFilters(value));
        break;
      case '_elements': {
        const list = value.split(',').map((e) => e.trim()).filter(Boolean);
        const bad = list.filter((e) => !ELEMENT.test(e));
        // `Type.element` applies to that type only: a type this server does not export is a typo.
        const foreign = list.filter((e) => ELEMENT.test(e) && e.includes('.') && !isSupportedType(e.split('.')[0]));
        if (bad.length > 0 || list.length === 0) problem(name, bad.length > 0 ? `"${bad[0]}" is not an element name` : 'needs an element name');
        else if (foreign.length > 0) problem(name, `"${foreign[0]}" names ${foreign[0].split('.')[0]}, which is not a resource type this server exports`);
        else out.elements = list;
        break;
      }
      case 'organizeOutputBy':
        // Patient is the only resource type here with a compartment: blocks of other types would
        // hold nothing but themselves.
        if (value.trim() !== 'Patient') problem(name, `"${value}" is not supported; output can be organized by Patient only`);
        else out.organizeOutputBy = 'Patient';
        break;
      case 'includeAssociatedData':
        for (const v of value.split(',').map((x) => x.trim()).filter(Boolean)) {
          if (ASSOCIATED_DATA.includes(v)) {
            issues.push(makeIssue('information', 'informational', `includeAssociatedData=${v}: this server stores no Provenance resources, so nothing is added`, { expression: name }));
          } else problem(name, `"${v}" is not supported`);
        }
        break;
    }
  }

  if (out.organizeOutputBy && out.types) {
    // A patient block holds the patient's compartment; other types have no place in it.
    for (const t of out.types.filter((x) => !(COMPARTMENT_TYPES as readonly string[]).includes(x))) {
      problem('_type', `${t} is not in the Patient compartment, which is what organizeOutputBy=Patient files hold (${COMPARTMENT_TYPES.join(', ')})`);
    }
    out.types = out.types.filter((x) => (COMPARTMENT_TYPES as readonly string[]).includes(x));
    if (out.types.length === 0) delete out.types;
  }
  if (out.elements) {
    // As a search's _elements: a name no exported type has would cut nothing (a typo).
    const exported = out.types ?? (ctx.level === 'system' && !out.organizeOutputBy ? SUPPORTED_TYPES : COMPARTMENT_TYPES);
    const unknown = unknownElements(out.elements, exported);
    for (const e of unknown) problem('_elements', unknownElementText(e, exported));
    out.elements = out.elements.filter((e) => !unknown.includes(e));
    if (out.elements.length === 0) delete out.elements;
  }
  if (out.since !== undefined && out.until !== undefined && out.until <= out.since) {
    problem('_until', `${out.until} is not after _since (${out.since}): the window would be empty`);
    delete out.until;
  }

  for (const raw of rawFilters) {
    const q = raw.indexOf('?');
    const type = q >= 0 ? raw.slice(0, q) : raw;
    const query = q >= 0 ? raw.slice(q + 1) : '';
    if (!isSupportedType(type) || query === '') {
      problem('_typeFilter', `"${raw}" is not of the form [type]?[search parameters]`);
      continue;
    }
    if (out.types && !out.types.includes(type)) {
      problem('_typeFilter', `"${raw}" names ${type}, which is not in _type`);
      continue;
    }
    if ((ctx.level !== 'system' || out.organizeOutputBy) && !(COMPARTMENT_TYPES as readonly string[]).includes(type)) {
      problem('_typeFilter', `${type} is not in the Patient compartment`);
      continue;
    }
    try {
      parseCriteria(type, parseQuery(query), ctx.baseUrl);
      out.typeFilters.push({ type, query });
    } catch (err) {
      if (!isFhirError(err)) throw err;
      const why = err.outcome.issue?.map((i) => i.diagnostics ?? i.details?.text).join('; ') ?? err.message;
      problem('_typeFilter', `"${raw}": ${why}`);
    }
  }
  if (out.patients && out.patients.length > MAX_PATIENTS) {
    errors.push(makeIssue('error', 'too-costly', `Parameter "patient": at most ${MAX_PATIENTS} patients per request; export a Group instead`, { expression: 'patient' }));
  }
  if (errors.length > 0) throw failWith(400, errors);
  return out;
}

/**
 * Splits a `_typeFilter` value into queries. Queries are separated by commas, but a query's own
 * values may hold commas too (clients do not always encode them twice), so a comma splits only
 * where a new `Type?` starts.
 */
export function splitTypeFilters(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    if (out.length === 0 || /^\s*[A-Z][A-Za-z]+\?/.test(part)) out.push(part.trim());
    else out[out.length - 1] += `,${part}`;
  }
  return out.filter(Boolean);
}

/** A FHIR instant normalised to UTC milliseconds (rounded down), or undefined. */
export function parseInstant(value: string): string | undefined {
  if (!INSTANT.test(value)) return undefined;
  const [y, mo, d, h, mi, se] = value.split(/[-T:.Z+]/).map(Number);
  const calendar = new Date(Date.UTC(y, mo - 1, d));
  if (calendar.getUTCMonth() !== mo - 1 || calendar.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) return undefined;
  return new Date(ms).toISOString();
}
