// Structural validation of a resource body: everything we can say about a submitted resource
// without looking at other resources. All issues are collected and returned together.
//
// Three passes, in this order:
//   1. request shape and a size guard (iterative, so pathological JSON cannot blow the stack);
//   2. our own schema-driven walk (element definitions from @medplum/core's type schemas) for what
//      the medplum validator does not check: empty strings / objects / arrays, nulls, JSON shape
//      (object where a string belongs, array where a single value belongs, ...), resource id
//      syntax and `required` terminology bindings, including those inside datatypes;
//   3. the @medplum/core validator (cardinality, primitive formats, invariants, unknown properties).
// Where pass 2 already explains a problem at some element, medplum's (usually vaguer) issues at
// or below that element are dropped, so each problem is reported once.
import {
  OperationOutcomeError,
  isResourceType,
  tryGetDataType,
  validateResource as medplumValidate,
} from '@medplum/core';
import type { InternalSchemaElement, InternalTypeSchema } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { loadDefinitions } from '../fhir/definitions.js';
import { makeIssue } from '../fhir/outcome.js';
import type { IssueType } from '../fhir/outcome.js';
import { ID_PATTERN } from '../fhir/resource-types.js';
import { CALENDAR_TYPES, calendarProblem, timeProblem } from './calendar.js';
import { medplumFindsNothing } from './medplum-clean.js';
import { PRIMITIVE_JS_TYPES, type JsType } from './primitive-types.js';
import { canonicalUrl, expandValueSet, loadTerminology } from './terminology.js';
import type { Expansion } from './terminology.js';

export interface ValidationExpectations {
  /** The resource type the request addresses (URL type); the body must carry the same. */
  resourceType?: string;
  /** The id in the URL (update): the body id must equal it. */
  id?: string;
  /** The body must carry an id (update). */
  requireId?: boolean;
  /** The body must not carry an id. */
  forbidId?: boolean;
}

/** Nesting deeper than this (objects and arrays) is rejected before any other check. */
export const MAX_DEPTH = 64;
/** More JSON values than this in one body is rejected before any other check. */
export const MAX_NODES = 100_000;

// ---------------------------------------------------------------------------------------------
// Malformed-request marking (400 vs 422 is decided in business-rules.ts from this).

const malformedIssues = new WeakSet<OperationOutcomeIssue>();

/**
 * True for issues that mean the body cannot be read as the resource the request addresses
 * (not a JSON object, resourceType missing / wrong / unknown, id missing or not the URL's id,
 * pathological size). These answer 400; all other errors answer 422. The mark is kept by object
 * identity, so it survives as long as the issue object is passed on as is.
 */
export function isMalformedRequestIssue(issue: OperationOutcomeIssue): boolean {
  return malformedIssues.has(issue);
}

function malformed(issue: OperationOutcomeIssue): OperationOutcomeIssue {
  malformedIssues.add(issue);
  return issue;
}

/** Marks an issue malformed again on this side of a thread boundary (structural-pool.ts). */
export function markMalformed(issue: OperationOutcomeIssue): void {
  malformedIssues.add(issue);
}

// ---------------------------------------------------------------------------------------------
// Entry point

let warmedUp = false;

/** Loads definitions and terminology now (otherwise done by the first validation). */
export function warmUpValidation(): void {
  if (warmedUp) return;
  loadDefinitions();
  loadTerminology();
  warmedUp = true;
}

/**
 * Validates a submitted resource body and returns every issue found (errors, warnings and
 * information), never only the first. An empty array means the resource is structurally valid.
 */
export function validateResource(input: unknown, expect: ValidationExpectations = {}): OperationOutcomeIssue[] {
  warmUpValidation();
  const urlType = expect.resourceType;

  if (!isJsonObject(input)) {
    return [
      malformed(
        makeIssue(
          'error',
          'structure',
          `The body must be a JSON object holding a FHIR resource${urlType ? ` (${urlType})` : ''}, not ${describeJson(input)}`
        )
      ),
    ];
  }

  const guard = checkSize(input);
  if (guard) return [malformed(guard)];

  const issues: OperationOutcomeIssue[] = [];
  const bodyType = input.resourceType;
  const typeName = urlType ?? (typeof bodyType === 'string' && isResourceType(bodyType) ? bodyType : 'Resource');
  let typeUsable = false;

  if (bodyType === undefined) {
    issues.push(
      malformed(
        makeIssue('error', 'required', `The resource has no resourceType${urlType ? ` (expected "${urlType}")` : ''}`, {
          expression: `${typeName}.resourceType`,
        })
      )
    );
  } else if (typeof bodyType !== 'string') {
    issues.push(
      malformed(
        makeIssue('error', 'structure', `resourceType must be a string, not ${describeJson(bodyType)}`, {
          expression: `${typeName}.resourceType`,
        })
      )
    );
  } else if (urlType !== undefined && bodyType !== urlType) {
    issues.push(
      malformed(
        makeIssue(
          'error',
          'invalid',
          `The body's resourceType "${bodyType}" does not match the resource type "${urlType}" of the request URL`,
          { expression: `${urlType}.resourceType` }
        )
      )
    );
  } else if (!isResourceType(bodyType)) {
    issues.push(
      malformed(
        makeIssue('error', 'value', `"${bodyType}" is not a FHIR R4 resource type`, {
          expression: `${typeName}.resourceType`,
        })
      )
    );
  } else {
    typeUsable = true;
  }

  checkRequestId(input, expect, typeName, issues);

  // Without a usable resource type there is no schema to check the rest against.
  if (!typeUsable) return issues;

  const walker = new Walker();
  walker.walkResource(input, typeName, typeName);
  issues.push(...walker.issues);
  // Medplum aborts on a contained resource of unknown type; it gets a copy without them (their
  // slots become nulls, at paths we flagged, so its issues there are dropped). It reads the type
  // of an absolute reference as its scheme ("https:"), so it gets those as `Type/id`.
  const forMedplum =
    walker.unreadable.size > 0 || walker.absoluteReferences.size > 0
      ? copyForMedplum(input, walker.unreadable, walker.absoluteReferences)
      : input;
  issues.push(...medplumIssues(forMedplum as unknown as Resource, walker.flagged));
  return dedupe(issues);
}

function checkRequestId(
  input: Record<string, unknown>,
  expect: ValidationExpectations,
  typeName: string,
  issues: OperationOutcomeIssue[]
): void {
  const id = input.id;
  const expression = `${typeName}.id`;
  if (id === undefined) {
    if (expect.requireId || expect.id !== undefined) {
      issues.push(
        malformed(
          makeIssue(
            'error',
            'required',
            `The resource has no id; an update must carry the id of the request URL${expect.id !== undefined ? ` ("${expect.id}")` : ''}`,
            { expression }
          )
        )
      );
    }
    return;
  }
  if (expect.forbidId) {
    issues.push(malformed(makeIssue('error', 'invalid', 'The resource must not carry an id here', { expression })));
  }
  if (expect.id !== undefined && id !== expect.id) {
    issues.push(
      malformed(
        makeIssue(
          'error',
          'invalid',
          `The body's id ${typeof id === 'string' ? `"${id}"` : describeJson(id)} does not match the id "${expect.id}" of the request URL`,
          { expression }
        )
      )
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Pass 1: size guard

function checkSize(input: Record<string, unknown>): OperationOutcomeIssue | undefined {
  // Iterative depth-first walk: no recursion, so 10,000 levels cannot overflow the stack.
  const values: unknown[] = [input];
  const depths: number[] = [1];
  let nodes = 0;
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop() as number;
    nodes++;
    if (nodes + values.length > MAX_NODES) {
      return makeIssue(
        'error',
        'structure',
        `The resource is too large: more than ${MAX_NODES} JSON values are not accepted`
      );
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_DEPTH) {
      return makeIssue(
        'error',
        'structure',
        `The resource is nested too deeply: more than ${MAX_DEPTH} levels of objects and arrays are not accepted`
      );
    }
    const children = Array.isArray(value) ? value : Object.values(value);
    for (const child of children) {
      values.push(child);
      depths.push(depth + 1);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Pass 2: our own walk


/** One JSON property of a type, as our walk needs it (choice elements get one per type). */
interface Property {
  /** FHIRPath name of the element (`occurrence` for `occurrenceDateTime`). */
  readonly name: string;
  readonly element: InternalSchemaElement;
  readonly type: string;
  readonly isArray: boolean;
  readonly jsType: JsType | undefined;
  /** Canonical URL of the value set of a `required` binding. */
  readonly valueSet: string | undefined;
  /** Expansion of valueSet: computed on first use; null when it cannot be enumerated. */
  expansion?: Expansion | null;
}

const propertyCache = new WeakMap<InternalTypeSchema, Map<string, Property>>();
const schemaCache = new Map<string, InternalTypeSchema | undefined>();

function schemaFor(type: string): InternalTypeSchema | undefined {
  if (schemaCache.has(type)) return schemaCache.get(type);
  const schema = tryGetDataType(type);
  schemaCache.set(type, schema);
  return schema;
}

function propertiesOf(schema: InternalTypeSchema): Map<string, Property> {
  let props = propertyCache.get(schema);
  if (props) return props;
  props = new Map();
  for (const [key, element] of Object.entries(schema.elements)) {
    const binding = element.binding;
    const valueSet = binding?.strength === 'required' && binding.valueSet ? canonicalUrl(binding.valueSet) : undefined;
    const isArray = !!element.isArray || element.max > 1;
    if (key.endsWith('[x]')) {
      const name = key.slice(0, -3);
      for (const t of element.type) {
        const jsonKey = name + t.code.charAt(0).toUpperCase() + t.code.slice(1);
        props.set(jsonKey, { name, element, type: t.code, isArray, jsType: PRIMITIVE_JS_TYPES[t.code], valueSet });
      }
    } else {
      const type = element.type[0]?.code ?? 'Element';
      props.set(key, { name: key, element, type, isArray, jsType: PRIMITIVE_JS_TYPES[type], valueSet });
    }
  }
  propertyCache.set(schema, props);
  return props;
}

function expansionOf(prop: Property): Expansion | undefined {
  if (prop.expansion === undefined) prop.expansion = (prop.valueSet && expandValueSet(prop.valueSet)) || null;
  return prop.expansion ?? undefined;
}

class Walker {
  readonly issues: OperationOutcomeIssue[] = [];
  /** Paths (FHIRPath and raw JSON-key forms) whose medplum issues our own issues supersede. */
  readonly flagged = new Set<string>();
  /** Embedded resources without a usable resourceType (kept from the medplum validator). */
  readonly unreadable = new Set<object>();
  /** References by absolute URL (`http://host/fhir/Patient/1`), with the `Type/id` they name. */
  readonly absoluteReferences = new Map<object, string>();

  private error(code: IssueType, text: string, path: string): void {
    this.issues.push(makeIssue('error', code, text, { expression: path }));
  }

  /** A JSON-shape problem at `path`: reported once, medplum's issues at or below it dropped. */
  private shape(code: IssueType, text: string, path: string, rawPath?: string): void {
    this.error(code, text, path);
    this.flagged.add(path);
    if (rawPath) this.flagged.add(rawPath);
  }

  walkResource(obj: Record<string, unknown>, type: string, path: string): void {
    const id = obj.id;
    if (typeof id === 'string' && id.trim() !== '' && !ID_PATTERN.test(id)) {
      this.error(
        'value',
        `Invalid resource id "${truncate(id)}": an id is 1 to 64 characters of A-Z, a-z, 0-9, "-" and "."`,
        `${path}.id`
      );
    }
    const schema = schemaFor(type);
    if (schema) this.walkObject(obj, schema, path, true);
  }

  // Paths are built only where they are used: for an issue, or as the path of an object walked
  // into. Most elements are valid primitives, and building two path strings for each was a fifth
  // of this walk's time in the server (valuePath/rawPath give the same text the issue would carry).
  private walkObject(obj: Record<string, unknown>, schema: InternalTypeSchema, path: string, isResource: boolean): void {
    const props = propertiesOf(schema);
    for (const key of Object.keys(obj)) {
      if (isResource && key === 'resourceType') continue;
      const value = obj[key];
      const isExtension = key.charCodeAt(0) === 95; /* '_' */
      const prop = props.get(isExtension ? key.slice(1) : key);
      if (!prop) continue; // unknown property: medplum reports it

      if (isExtension && !prop.jsType) {
        this.shape('structure', `"${key}" is not allowed: "_" properties only extend primitive elements`, valuePath(path, prop.name), rawPath(path, key));
        continue;
      }
      if (value === null) {
        this.shape('structure', `"${key}" is null; omit an element that has no value`, valuePath(path, prop.name), rawPath(path, key));
        continue;
      }

      if (prop.isArray) {
        if (!Array.isArray(value)) {
          this.shape(
            'structure',
            `"${key}" must be an array (${prop.element.path} repeats), not ${describeJson(value)}`,
            valuePath(path, prop.name),
            rawPath(path, key)
          );
          continue;
        }
        if (value.length === 0) {
          this.shape('structure', `"${key}" is an empty array; omit an element that has no value`, valuePath(path, prop.name), rawPath(path, key));
          continue;
        }
        const partnerKey = prop.jsType ? (isExtension ? key.slice(1) : '_' + key) : undefined;
        const partner = partnerKey !== undefined ? obj[partnerKey] : undefined;
        if (isExtension && Array.isArray(partner) && partner.length > 0 && partner.length !== value.length) {
          this.shape(
            'structure',
            `"${key}" must have as many entries as "${partnerKey}" (${value.length} vs ${partner.length})`,
            valuePath(path, prop.name),
            rawPath(path, key)
          );
          continue;
        }
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === null || item === undefined) {
            // The one legitimate null in FHIR JSON: a primitive array aligned with its "_" twin,
            // where the twin carries the entry at this position. When both are null, the
            // value side reports it (once).
            const twin = Array.isArray(partner) ? (partner[i] as unknown) : undefined;
            if (!prop.jsType || twin === undefined || (twin === null && !isExtension)) {
              this.shape('structure', `"${key}[${i}]" is null; arrays must not contain nulls`, valuePath(path, prop.name, i), rawPath(path, key, i));
              if (Array.isArray(partner)) this.flagged.add(`${path}.${partnerKey}[${i}]`);
            }
            continue;
          }
          this.walkValue(item, prop, isExtension, path, key, i);
        }
      } else {
        if (Array.isArray(value)) {
          this.shape(
            'structure',
            `"${key}" must be a single value (${prop.element.path} does not repeat), not an array`,
            valuePath(path, prop.name),
            rawPath(path, key)
          );
          continue;
        }
        this.walkValue(value, prop, isExtension, path, key, -1);
      }
    }
  }

  /** The value of `key` (item `index` of it; -1: not an array) of the object at `parent`. */
  private walkValue(value: unknown, prop: Property, isExtension: boolean, parent: string, key: string, index: number): void {
    if (isExtension) {
      // "_x": the id/extension of a primitive element.
      const path = valuePath(parent, prop.name, index);
      if (!isJsonObject(value)) {
        this.shape('structure', `The primitive extension at ${path} must be an object, not ${describeJson(value)}`, path, rawPath(parent, key, index));
      } else if (isEmptyObject(value)) {
        this.shape('structure', `The primitive extension at ${path} is an empty object`, path, rawPath(parent, key, index));
      } else {
        const element = schemaFor('Element');
        if (element) this.walkObject(value, element, path, false);
      }
      return;
    }

    if (prop.jsType) {
      if (typeof value === 'object') {
        const path = valuePath(parent, prop.name, index);
        this.shape(
          'structure',
          `${path} must be a ${prop.type} (JSON ${prop.jsType}), not ${describeJson(value)}`,
          path,
          rawPath(parent, key, index)
        );
        return;
      }
      if (typeof value === 'string') {
        if (value === '') {
          const path = valuePath(parent, prop.name, index);
          this.shape('value', `${path} is an empty string; omit an element that has no value`, path, rawPath(parent, key, index));
          return;
        }
        if (value.trim() === '') {
          const path = valuePath(parent, prop.name, index);
          this.shape('value', `${path} holds only whitespace`, path, rawPath(parent, key, index));
          return;
        }
        if (prop.valueSet) this.checkCode(value, prop, parent, index);
        if (CALENDAR_TYPES.has(prop.type)) {
          const problem = calendarProblem(value) ?? (prop.type === 'date' ? undefined : timeProblem(value));
          if (problem) {
            const path = valuePath(parent, prop.name, index);
            this.shape('value', `${path} "${truncate(value)}" is not a valid ${prop.type}: ${problem}`, path, rawPath(parent, key, index));
          }
        }
      }
      return; // wrong scalar type, formats, lengths: medplum
    }

    const path = valuePath(parent, prop.name, index);
    if (!isJsonObject(value)) {
      this.shape('structure', `${path} must be an object (${prop.type}), not ${describeJson(value)}`, path, rawPath(parent, key, index));
      return;
    }
    if (isEmptyObject(value)) {
      this.shape('structure', `${path} is an empty object; omit an element that has no value`, path, rawPath(parent, key, index));
      return;
    }
    if (prop.type === 'Resource') {
      this.walkContained(value, path, rawPath(parent, key, index));
      return;
    }
    const schema = schemaFor(prop.type);
    if (schema) this.walkObject(value, schema, path, false);
    if (prop.type === 'Reference' && typeof value.reference === 'string') {
      const relative = ABSOLUTE_REFERENCE.exec(value.reference);
      if (relative) this.absoluteReferences.set(value, relative[1]);
    }
    if (prop.valueSet) {
      if (prop.type === 'CodeableConcept') this.checkCodeableConcept(value, prop, path);
      else if (prop.type === 'Coding') this.checkCoding(value, prop, path);
    }
  }

  private walkContained(value: Record<string, unknown>, path: string, rawPath: string): void {
    const type = value.resourceType;
    if (typeof type !== 'string' || !isResourceType(type)) this.unreadable.add(value);
    if (type === undefined) {
      this.shape('required', `The resource at ${path} has no resourceType`, path, rawPath);
    } else if (typeof type !== 'string' || !isResourceType(type)) {
      this.shape('value', `The resource at ${path} has an unknown resourceType ${JSON.stringify(type)}`, path, rawPath);
    } else {
      this.walkResource(value, type, path);
    }
  }

  // --- required bindings ----------------------------------------------------------------------

  private checkCode(code: string, prop: Property, parent: string, index: number): void {
    const expansion = expansionOf(prop);
    if (!expansion || expansion.codes.has(code)) return;
    this.error(
      'code-invalid',
      `"${truncate(code)}" is not a valid ${prop.element.path} code: the binding to ${expansion.url} is required (${allowedCodes(expansion, false)})`,
      valuePath(parent, prop.name, index)
    );
  }

  private checkCoding(coding: Record<string, unknown>, prop: Property, path: string): void {
    const expansion = expansionOf(prop);
    if (!expansion || inExpansion(expansion, coding)) return;
    this.error(
      'code-invalid',
      `${describeCoding(coding)} is not a valid ${prop.element.path} coding: the binding to ${expansion.url} is required (${allowedCodes(expansion, true)})`,
      path
    );
  }

  /**
   * R4 required binding on a CodeableConcept: at least one coding must be a (system, code) of the
   * value set; further codings (translations, other systems) are allowed. Text alone does not
   * satisfy a required binding.
   */
  private checkCodeableConcept(cc: Record<string, unknown>, prop: Property, path: string): void {
    const expansion = expansionOf(prop);
    if (!expansion) return;
    const codings = Array.isArray(cc.coding) ? cc.coding.filter(isJsonObject) : [];
    if (codings.some((c) => inExpansion(expansion, c))) return;
    if (codings.length === 0) {
      this.error(
        'code-invalid',
        `${prop.element.path} needs a coding from ${expansion.url} (the binding is required; text alone is not enough): ${allowedCodes(expansion, true)}`,
        path
      );
      return;
    }
    // Point at the first coding that uses a system of the value set, if any: that is the bad code.
    const index = codings.findIndex((c) => typeof c.system === 'string' && expansion.bySystem.has(c.system));
    const where = index === -1 ? path : `${path}.coding[${(cc.coding as unknown[]).indexOf(codings[index])}]`;
    this.error(
      'code-invalid',
      `None of the codings of ${prop.element.path} (${codings.map(describeCoding).join(', ')}) is in ${expansion.url}; the binding is required (${allowedCodes(expansion, true)})`,
      where
    );
  }
}

function inExpansion(expansion: Expansion, coding: Record<string, unknown>): boolean {
  const { system, code } = coding;
  return typeof system === 'string' && typeof code === 'string' && !!expansion.bySystem.get(system)?.has(code);
}

function describeCoding(coding: Record<string, unknown>): string {
  const system = typeof coding.system === 'string' ? coding.system : '(no system)';
  const code = typeof coding.code === 'string' ? truncate(coding.code) : '(no code)';
  return `${system}|${code}`;
}

const MAX_LISTED_CODES = 12;

function allowedCodes(expansion: Expansion, withSystem: boolean): string {
  const parts: string[] = [];
  for (const [system, codes] of expansion.bySystem) {
    for (const code of codes) parts.push(withSystem ? `${system}|${code}` : code);
  }
  const shown = parts.slice(0, MAX_LISTED_CODES).join(', ');
  return parts.length > MAX_LISTED_CODES ? `one of ${shown}, … (${parts.length} codes)` : `one of ${shown}`;
}

/** FHIRPath of element `name` (item `index`; -1: the element itself) of the object at `parent`. */
function valuePath(parent: string, name: string, index = -1): string {
  return index < 0 ? `${parent}.${name}` : `${parent}.${name}[${index}]`;
}

/** The same with the JSON key (`_birthDate`, `valueString`), as medplum's issues may name it. */
function rawPath(parent: string, key: string, index = -1): string {
  return index < 0 ? `${parent}.${key}` : `${parent}.${key}[${index}]`;
}

// ---------------------------------------------------------------------------------------------
// Pass 3: the medplum validator

function medplumIssues(resource: Resource, flagged: ReadonlySet<string>): OperationOutcomeIssue[] {
  let raw: OperationOutcomeIssue[];
  try {
    // Most bodies are clean: a walk of the properties present says so (and never says so wrongly)
    // at a fraction of the validator's cost; otherwise the validator gives the issues.
    raw = medplumFindsNothing(resource) ? [] : medplumValidate(resource);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      raw = err.outcome.issue ?? [];
    } else {
      // The medplum validator tripped over the input; report it rather than fail the request.
      const message = err instanceof Error ? err.message : String(err);
      return [makeIssue('error', 'structure', `The resource could not be validated: ${message}`)];
    }
  }
  const issues: OperationOutcomeIssue[] = [];
  for (const issue of raw) {
    const expression = issue.expression?.map((e) => e.replaceAll('[x]', ''));
    if (expression?.some((e) => isAtOrBelow(e, flagged))) continue;
    issues.push(normalizeIssue(issue, expression));
  }
  return issues;
}

/** Medplum issues carry their text in details.text; put it in diagnostics too (CONTRACT). */
function normalizeIssue(issue: OperationOutcomeIssue, expression: string[] | undefined): OperationOutcomeIssue {
  let text = issue.details?.text ?? issue.diagnostics ?? 'Invalid resource';
  const fhirpath = extractFhirPath(issue.diagnostics);
  if (fhirpath) text = `${text} (${fhirpath})`;
  // Medplum's texts do not say where ("Missing required property"): add the element.
  if (expression?.[0] && !text.includes(expression[0])) text = `${text} at ${expression[0]}`;
  return makeIssue(issue.severity, issue.code, text, { expression });
}

function extractFhirPath(diagnostics: string | undefined): string | undefined {
  if (!diagnostics?.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(diagnostics) as { fhirpath?: unknown };
    return typeof parsed.fhirpath === 'string' ? parsed.fhirpath : undefined;
  } catch {
    return undefined;
  }
}

function isAtOrBelow(expression: string, flagged: ReadonlySet<string>): boolean {
  if (flagged.size === 0) return false;
  if (flagged.has(expression)) return true;
  for (let i = 1; i < expression.length; i++) {
    const ch = expression.charCodeAt(i);
    if ((ch === 46 /* . */ || ch === 91) /* [ */ && flagged.has(expression.slice(0, i))) return true;
  }
  return false;
}

/** An absolute URL naming a resource (`…/Type/id`, optionally `/_history/n`): group 1 is the `Type/id[/_history/n]`. */
const ABSOLUTE_REFERENCE = /^https?:\/\/[^?#]*?\/([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?)$/;

/** A copy without the `drop` objects, and with each mapped Reference's reference replaced. */
function copyForMedplum(input: Record<string, unknown>, drop: ReadonlySet<object>, references: ReadonlyMap<object, string>): unknown {
  return JSON.parse(
    JSON.stringify(input, (_key, value: unknown) => {
      if (drop.has(value as object)) return undefined;
      const relative = references.get(value as object);
      return relative === undefined ? value : { ...(value as object), reference: relative };
    })
  );
}

function dedupe(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.severity}|${issue.code}|${issue.expression?.join(',') ?? ''}|${issue.diagnostics ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEmptyObject(value: Record<string, unknown>): boolean {
  for (const _ in value) return false;
  return true;
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'object':
      return 'an object';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return typeof value;
  }
}

function truncate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
