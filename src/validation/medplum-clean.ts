// A fast answer to one question: would the @medplum/core validator find nothing at all in this
// resource? When the answer is yes, validate-resource.ts skips that validator (it returns no issue);
// when it is "not sure", the validator runs as before and gives the issues. So the issues of every
// request are the ones the validator gives; only the time differs.
//
// Why: the validator crawls every element of every type's definition, present or not (for each it
// resolves the property through the schema, builds typed values with paths, splits keys on
// capitals to spot choice types...): ~150–250 µs per Immunization, the largest single cost of a
// write. Here only the properties present are visited, through the same helpers the validator
// uses (property resolution, data types, FHIRPath for invariants, the primitive formats), and
// anything this walk does not handle exactly (primitive extensions `_x`, contained resources,
// unknown or repeated-choice properties, nulls, empty values, slicing, fixed values and patterns,
// a failed invariant, a reference to a type the element does not allow) answers "not sure".
// medplum-clean.test.ts checks the claim on generated valid and invalid resources.
import {
  evalFhirPathTyped,
  getDataType,
  getTypedPropertyValueWithSchema,
  HTTP_HL7_ORG,
  isPrimitiveType,
  isReference,
  LRUCache,
  toTypedValue,
  UCUM,
  validationRegexes,
} from '@medplum/core';
import type { FhirPathAtom, InternalSchemaElement, InternalTypeSchema, TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { PRIMITIVE_JS_TYPES } from './primitive-types.js';


/** Invariants the validator does not evaluate (its skippedConstraintKeys). */
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);

/** Resource invariants that only look at `contained`: true when there is none. */
const CONTAINED_ONLY = new Set([
  'contained.contained.empty()',
  'contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()',
  'contained.meta.security.empty()',
]);

const HL7_BASE = HTTP_HL7_ORG + '/fhir/StructureDefinition/';
const MEDPLUM_BASE = 'https://medplum.com/fhir/StructureDefinition/';
const MAX_STRING = 1024 * 1024;

const fhirPathCache = new LRUCache<FhirPathAtom>(1000);

/** ext-1, on every extension of a resource: FHIRPath resolves `value` through every type of value[x] (~10 µs). */
const EXT_1 = 'extension.exists() != value.exists()';

let extensionValueKeys: Set<string> | undefined;

/**
 * ext-1 without FHIRPath, where its answer is plainly true: an Extension object with exactly one
 * `value<Type>` key of a type value[x] takes (a string of text, a finite number, a boolean, or an
 * object with a key) and no `extension` key — or a non-empty `extension` array of objects with a
 * `url` each and no
 * `value…` key; no key starting with `_value` or `_extension` (primitive extensions) either way.
 * False means "not sure": FHIRPath decides (medplum-clean.test.ts checks the true answers against
 * it).
 */
export function extensionPlainlyHolds(typed: TypedValue): boolean {
  const value = typed.value as Record<string, unknown>;
  if (typed.type !== 'Extension' || typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  extensionValueKeys ??= new Set(
    (getDataType('Extension').elements['value[x]']?.type ?? []).map((t) => 'value' + t.code.charAt(0).toUpperCase() + t.code.slice(1))
  );
  let values = 0;
  let extension = false;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    const v = value[key];
    if (key === 'extension') {
      if (!Array.isArray(v) || v.length === 0) return false;
      for (const e of v) if (typeof e !== 'object' || e === null || typeof (e as { url?: unknown }).url !== 'string' || (e as { url: string }).url === '') return false;
      extension = true;
    } else if (key.startsWith('value')) {
      if (!extensionValueKeys.has(key) || !plainlyPresent(v)) return false;
      values++;
    } else if (key.startsWith('_')) return false;
  }
  return extension ? values === 0 : values === 1;
}

/** A JSON value FHIRPath's exists() plainly sees: text, a finite number, a boolean, an object with a key. */
function plainlyPresent(v: unknown): boolean {
  if (typeof v === 'string') return v.trim() !== '';
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v === 'boolean') return true;
  return typeof v === 'object' && v !== null && !Array.isArray(v) && hasOwnKey(v);
}
const ucum = toTypedValue(UCUM);

/** What a JSON key of an object of some type means, computed once per type. */
interface KeyInfo {
  /** The JSON key itself (a KeyInfo is per type and key). */
  key: string;
  /** The element key in the schema (`occurrence[x]` for `occurrenceDateTime`). */
  element: string;
  /**
   * The choice element the validator's additional-property check files this key under (it splits
   * keys on capitals and takes the first prefix P with an element `P[x]`), if any: two present
   * keys under one choice element make it warn.
   */
  choice: string | undefined;
  /**
   * The type the validator resolves this key to (getTypedPropertyValueWithSchema: the choice's
   * type, or the element's one type), when that resolution is a plain look-up of this key;
   * undefined: ask getTypedPropertyValueWithSchema.
   */
  type: string | undefined;
  /** What the walk needs of the element's definition (the same object for every key of the element). */
  plan: ElementPlan;
}

/**
 * What the walk reads of an element definition, read from it once per type. The definitions'
 * objects come in many shapes (each property only where the StructureDefinition has it), so every
 * read of one is a slow, megamorphic look-up: in the server's profile, the checks for slicing,
 * fixed values and contained resources were half of this walk's own time.
 */
interface ElementPlan {
  element: InternalSchemaElement;
  /** Slicing, a pattern or fixed value, or contained resources: the walk answers "not sure". */
  refused: boolean;
  isArray: boolean;
  min: number;
  max: number;
  /** The constraints to evaluate (severity error, not skipped by the validator). */
  constraints: Constraint[];
  /**
   * targetProfile of the element's Reference type (undefined: none, or no Reference type); null:
   * the element lists no types at all (referenceAllowed then answers "not sure").
   */
  referenceTargets: string[] | undefined | null;
}

interface Constraint {
  key: string;
  expression: string;
  /** Looks only at `contained`: holds when the resource has none. */
  containedOnly: boolean;
}

/** The constraints of a definition the walk evaluates, in their order. */
function evaluatedConstraints(constraints: InternalSchemaElement['constraints']): Constraint[] {
  const out: Constraint[] = [];
  for (const c of constraints ?? []) {
    if (c.severity !== 'error' || SKIPPED_CONSTRAINTS.has(c.key)) continue;
    out.push({ key: c.key, expression: c.expression, containedOnly: CONTAINED_ONLY.has(c.expression) });
  }
  return out;
}

function elementPlan(element: InternalSchemaElement): ElementPlan {
  return {
    element,
    refused: !!(element.slicing || element.pattern || element.fixed) || !!element.type?.some((t) => t.code === 'Resource'),
    isArray: !!element.isArray,
    min: element.min,
    max: element.max,
    constraints: evaluatedConstraints(element.constraints),
    referenceTargets: element.type ? element.type.find((t) => t.code === 'Reference')?.targetProfile : null,
  };
}

interface TypeInfo {
  keys: Map<string, KeyInfo>;
  /** Element keys with min > 0. */
  required: string[];
  /** The type's own constraints the walk evaluates (on a resource: at its root). */
  constraints: Constraint[];
}

const typeInfos = new WeakMap<InternalTypeSchema, TypeInfo>();

function typeInfo(schema: InternalTypeSchema): TypeInfo {
  let info = typeInfos.get(schema);
  if (info) return info;
  const keys = new Map<string, KeyInfo>();
  const required: string[] = [];
  const choiceOf = (key: string): string | undefined => {
    let prefix = '';
    for (const part of key.split(/(?=[A-Z])/g)) {
      prefix += part;
      if (schema.elements[prefix + '[x]']) return prefix + '[x]';
    }
    return undefined;
  };
  for (const [name, element] of Object.entries(schema.elements)) {
    if (element.min > 0) required.push(name);
    const plan = elementPlan(element);
    // The validator looks the value up under the last segment of the element's path.
    const plain = element.path.slice(element.path.lastIndexOf('.') + 1) === name;
    if (name.endsWith('[x]')) {
      const base = name.slice(0, -3);
      for (const t of element.type ?? []) {
        const key = base + t.code.charAt(0).toUpperCase() + t.code.slice(1);
        if (!keys.has(key)) keys.set(key, { key, element: name, choice: choiceOf(key), type: plain ? t.code : undefined, plan });
      }
    } else {
      const type = plain && element.type?.length === 1 ? element.type[0].code : undefined;
      keys.set(name, { key: name, element: name, choice: choiceOf(name), type, plan });
    }
  }
  info = { keys, required, constraints: evaluatedConstraints(schema.constraints) };
  typeInfos.set(schema, info);
  return info;
}

class CleanCheck {
  private readonly rootTyped: TypedValue;

  constructor(private readonly resource: Resource) {
    this.rootTyped = toTypedValue(resource);
  }

  run(): boolean {
    const schema = getDataType(this.resource.resourceType);
    if (!this.invariantsHold(this.rootTyped, typeInfo(schema).constraints)) return false;
    return this.object(this.rootTyped, schema);
  }

  private object(typed: TypedValue, schema: InternalTypeSchema): boolean {
    const value = typed.value as Record<string, unknown>;
    const info = typeInfo(schema);
    // The KeyInfo of each key present, in key order (it names the key and its element). An object
    // has a few keys: one array scanned is cheaper than a Map and a Set per object, or an array per
    // question (the walk's largest garbage).
    const infos: KeyInfo[] = [];
    let choices: string[] | undefined;
    for (const key of Object.keys(value)) {
      if (key === 'resourceType') continue; // the validator skips it in every object
      const v = value[key];
      if (v === null || v === undefined) return false;
      const k = info.keys.get(key);
      if (!k) return false; // `_x`, unknown, or a choice key of a type the element does not take
      if (k.choice !== undefined) {
        if (choices?.includes(k.choice)) return false;
        (choices ??= []).push(k.choice);
      }
      if (hasElement(infos, k.element)) return false; // two keys of one choice element
      infos.push(k);
    }
    for (const name of info.required) if (!hasElement(infos, name)) return false;
    for (let i = 0; i < infos.length; i++) if (!this.property(typed, infos[i], infos[i].key)) return false;
    return true;
  }

  private property(parent: TypedValue, k: KeyInfo, key: string): boolean {
    const plan = k.plan;
    // Slicing, patterns, fixed values; contained resources: the validator's own walk.
    if (plan.refused) return false;
    // undefined when the value is empty (medplum's isEmpty): the validator reports that.
    const resolved = k.type === undefined ? getTypedPropertyValueWithSchema(parent, k.element, plan.element) : lookUp(parent, key, k.type);
    if (resolved === undefined) return false;
    if (!plan.isArray) {
      if (Array.isArray(resolved)) return false;
      return 1 >= plan.min && 1 <= plan.max && this.item(resolved, plan);
    }
    if (!Array.isArray(resolved)) return false;
    if (resolved.length < plan.min || resolved.length > plan.max) return false;
    for (const item of resolved) if (!this.item(item, plan)) return false;
    return true;
  }

  private item(item: TypedValue, plan: ElementPlan): boolean {
    if (item.value === null || item.value === undefined) return false;
    if (plan.constraints.length > 0 && !this.invariantsHold(item, plan.constraints)) return false;
    if (!referenceAllowed(item, plan.referenceTargets)) return false;
    if (isPrimitiveType(item.type)) return primitiveValid(item);
    if (typeof item.value !== 'object' || Array.isArray(item.value) || !hasOwnKey(item.value)) return false;
    return this.object(item, getDataType(item.type));
  }

  private invariantsHold(typed: TypedValue, constraints: Constraint[]): boolean {
    for (const constraint of constraints) {
      if (constraint.containedOnly && (this.resource as { contained?: unknown }).contained === undefined) continue;
      if (constraint.expression === EXT_1 && extensionPlainlyHolds(typed)) continue;
      const variables: Record<string, TypedValue> = { '%context': typed, '%ucum': ucum, '%resource': this.rootTyped, '%rootResource': this.rootTyped };
      try {
        const result = evalFhirPathTyped(constraint.expression, [typed], variables, fhirPathCache);
        if (result.length !== 1 || result[0].value !== true) return false;
      } catch {
        return false;
      }
    }
    return true;
  }
}

/** Whether one of the keys present is of the element `element`. */
function hasElement(infos: KeyInfo[], element: string): boolean {
  for (let i = 0; i < infos.length; i++) if (infos[i].element === element) return true;
  return false;
}

/**
 * What getTypedPropertyValueWithSchema gives for a key whose type is known and that has no `_`
 * twin (the walk refuses those): the value typed, item by item for an array; undefined when
 * medplum's isEmpty holds (null, '', [], {}).
 */
function lookUp(parent: TypedValue, key: string, type: string): TypedValue | TypedValue[] | undefined {
  const value = (parent.value as Record<string, unknown>)[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map((v: unknown) => ({ type, value: v }));
  if (typeof value === 'object' && !hasOwnKey(value)) return undefined;
  return { type, value };
}

/** A JSON object with at least one property (medplum's isEmpty is false), without listing its keys. */
function hasOwnKey(value: object): boolean {
  for (const key in value) if (Object.prototype.hasOwnProperty.call(value, key)) return true;
  return false;
}

/** The validator's primitive checks (JSON type, whitespace, size, format, numeric ranges). */
function primitiveValid(item: TypedValue): boolean {
  const expected = PRIMITIVE_JS_TYPES[item.type];
  if (!expected) return false;
  const value = item.value as unknown;
  if (typeof value !== expected) return false;
  if (expected === 'string') {
    const s = value as string;
    if (!s.trim() || s.length > MAX_STRING) return false;
    const regex = validationRegexes[item.type];
    return !regex || regex.test(s); // test, not exec: the same answer without a match array
  }
  if (expected === 'number') {
    const n = value as number;
    if (!Number.isFinite(n)) return false;
    const integer = item.type === 'integer' || item.type === 'positiveInt' || item.type === 'unsignedInt';
    if (integer && !Number.isInteger(n)) return false;
    if (item.type === 'positiveInt' && n <= 0) return false;
    if (item.type === 'unsignedInt' && n < 0) return false;
  }
  return true;
}

/** False where the validator would warn that a reference points to a type the element does not allow. */
function referenceAllowed(item: TypedValue, targets: string[] | undefined | null): boolean {
  if (item.type !== 'Reference' || !isReference(item.value)) return true;
  const reference = item.value.reference;
  if (reference.startsWith('#')) return true;
  const type = reference.includes('?') ? reference.split('?')[0] : reference.split('/')[0];
  if (!type) return true;
  if (targets === null) return false;
  if (!targets) return true;
  for (const target of targets) {
    if (target === HL7_BASE + 'Resource' || target === HL7_BASE + type || target === MEDPLUM_BASE + type) return true;
    if (!target.startsWith(HL7_BASE) && !target.startsWith(MEDPLUM_BASE)) return true;
  }
  return false;
}

/**
 * True only when the @medplum/core validator (without a profile) would return no issue at all
 * for this resource; false means "not sure" (run the validator).
 */
export function medplumFindsNothing(resource: Resource): boolean {
  try {
    return new CleanCheck(resource).run();
  } catch {
    return false;
  }
}
