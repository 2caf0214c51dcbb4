// Input parameters of the terminology operations, from the query string (GET) or a Parameters
// body (POST), read the same way: name → values.
import type { CodeableConcept, Coding, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { badRequest, methodNotAllowed, notFound } from '../fhir/outcome.js';
import type { FhirRequest } from '../fhir/request.js';

export class OperationInput {
  private readonly params: ParametersParameter[];

  constructor(req: FhirRequest, private readonly operation: string) {
    const params: ParametersParameter[] = [];
    for (const [name, value] of req.query) {
      if (name.startsWith('_')) continue; // _format, _pretty
      params.push({ name, valueString: value });
    }
    if (req.method === 'POST' && req.body !== undefined) {
      const body = req.body as Resource;
      if (!body || typeof body !== 'object' || body.resourceType !== 'Parameters') {
        throw badRequest(`$${operation} takes a Parameters resource in the body`);
      }
      params.push(...((body as Parameters).parameter ?? []));
    }
    this.params = params;
  }

  /** A primitive parameter as a string (uri, code, string, canonical, boolean…). */
  string(name: string): string | undefined {
    const p = this.params.find((x) => x.name === name);
    if (!p) return undefined;
    const v =
      p.valueString ?? p.valueUri ?? p.valueCode ?? p.valueCanonical ?? p.valueUrl ?? p.valueId ??
      (p.valueBoolean !== undefined ? String(p.valueBoolean) : undefined) ?? p.valueDateTime ?? p.valueDate;
    if (v === undefined) throw badRequest(`$${this.operation}: parameter "${name}" must have a primitive value`, { expression: name });
    return v;
  }

  strings(name: string): string[] {
    return this.params.filter((x) => x.name === name).map((p) => p.valueString ?? p.valueCode ?? p.valueUri ?? '').filter((v) => v !== '');
  }

  boolean(name: string): boolean {
    const v = this.string(name);
    if (v === undefined) return false;
    if (v !== 'true' && v !== 'false') throw badRequest(`$${this.operation}: "${name}" must be true or false`, { expression: name });
    return v === 'true';
  }

  coding(name: string): Coding | undefined {
    const p = this.params.find((x) => x.name === name);
    if (!p) return undefined;
    if (p.valueCoding) return p.valueCoding;
    // GET form: coding=system|code
    if (p.valueString !== undefined) {
      const bar = p.valueString.lastIndexOf('|');
      return bar === -1 ? { code: p.valueString } : { system: p.valueString.slice(0, bar), code: p.valueString.slice(bar + 1) };
    }
    throw badRequest(`$${this.operation}: "${name}" must be a Coding`, { expression: name });
  }

  codeableConcept(name: string): CodeableConcept | undefined {
    const p = this.params.find((x) => x.name === name);
    if (!p) return undefined;
    if (p.valueCodeableConcept) return p.valueCodeableConcept;
    throw badRequest(`$${this.operation}: "${name}" must be a CodeableConcept (POST a Parameters body)`, { expression: name });
  }

  resource(name: string): Resource | undefined {
    return this.params.find((x) => x.name === name)?.resource;
  }

  /** The codings to check: code+system, coding, or every coding of codeableConcept. */
  codings(): Coding[] {
    const code = this.string('code');
    if (code !== undefined) {
      const system = this.string('system');
      const display = this.string('display');
      return [{ ...(system ? { system } : {}), code, ...(display ? { display } : {}) }];
    }
    const coding = this.coding('coding');
    if (coding) return [coding];
    const cc = this.codeableConcept('codeableConcept');
    if (cc) return cc.coding ?? [];
    return [];
  }
}

/** Terminology operations answer only on their own resource type. */
export function requireType(req: FhirRequest, allowed: string[], operation: string): string {
  const type = req.resourceType ?? '';
  if (!allowed.includes(type)) throw notFound(`$${operation} is not supported on ${type || 'the system level'} (only on ${allowed.join(', ')})`);
  if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') throw methodNotAllowed(`$${operation} answers GET and POST`, ['GET', 'POST']);
  return type;
}
