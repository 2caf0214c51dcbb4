// FHIRPath Patch (FHIR R4 fhirpatch.html): a Parameters resource whose `operation` parameters
// add / insert / delete / replace / move elements named by FHIRPath. The paths are parsed and
// evaluated by @medplum/core; this file only finds, for the element a path names, the JSON
// object that holds it (its container), the property and the position, and edits the resource
// there. Every operation applies to a copy: a patch that cannot apply leaves the stored version
// as it was (patch.ts validates the result like any update).
import {
  AndAtom,
  ArithemticOperatorAtom,
  AsAtom,
  ConcatAtom,
  ContainsAtom,
  DotAtom,
  EmptySetAtom,
  EqualsAtom,
  EquivalentAtom,
  FhirPathAtom,
  FunctionAtom,
  ImpliesAtom,
  InAtom,
  IndexerAtom,
  IsAtom,
  LiteralAtom,
  NotEqualsAtom,
  NotEquivalentAtom,
  OrAtom,
  SymbolAtom,
  UnaryOperatorAtom,
  XorAtom,
  capitalize,
  evalFhirPathTyped,
  getElementDefinition,
  getTypedPropertyValue,
  isPrimitiveType,
  parseFhirPath,
  toTypedValue,
  type Atom,
  type AtomContext,
  type InternalSchemaElement,
  type TypedValue,
} from '@medplum/core';
import type { Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { failWith, makeIssue } from '../fhir/outcome.js';

const OPERATION_TYPES = ['add', 'insert', 'delete', 'replace', 'move'] as const;
type OperationType = (typeof OPERATION_TYPES)[number];

/** The parts each operation type takes (R4 fhirpatch.html, the operations table). */
const PARTS: Record<OperationType, string[]> = {
  add: ['path', 'name', 'value'],
  insert: ['path', 'value', 'index'],
  delete: ['path'],
  replace: ['path', 'value'],
  move: ['path', 'source', 'destination'],
};

/**
 * Functions a path may end with after the element it names: each keeps some of the elements it is
 * given, so the elements it answers are still elements of the resource (medplum's functions return
 * the same TypedValue objects they were given; `resolve()`, `select()` and the like would not).
 */
const SUBSETTING_FUNCTIONS = new Set(['where', 'first', 'last', 'tail', 'skip', 'take', 'single', 'ofType']);

/**
 * What a path may cost. A client's FHIRPath runs inside the server, so it is held to expressions
 * whose every collection is a set of the resource's own elements (navigation, filters, comparisons:
 * none of union, select(), repeat(), descendants(), combine(), which multiply collections, nor
 * matches(), whose regular expression is the client's), to MAX_PATH_LENGTH characters, and to
 * PATH_BUDGET units of work per operation (each step of the evaluation spends one unit plus the
 * sizes of the collections it takes and gives). `where(%resource.identifier.where(…))` over a long
 * list is refused after PATH_BUDGET units instead of running for minutes.
 */
export const MAX_PATH_LENGTH = 1_000;
export const PATH_BUDGET = 500_000;
const ALLOWED_FUNCTIONS = new Set([
  'where', 'exists', 'empty', 'not', 'all', 'first', 'last', 'tail', 'skip', 'take', 'single', 'ofType', 'extension',
  'count', 'hasValue', 'startsWith', 'endsWith', 'contains', 'lower', 'upper', 'length', 'toString', 'toInteger', 'is', 'as',
  'today', 'now',
]);
const ALLOWED_ATOMS = [
  FhirPathAtom, LiteralAtom, SymbolAtom, EmptySetAtom, DotAtom, IndexerAtom, FunctionAtom, UnaryOperatorAtom, ArithemticOperatorAtom,
  ConcatAtom, EqualsAtom, NotEqualsAtom, EquivalentAtom, NotEquivalentAtom, ContainsAtom, InAtom, IsAtom, AsAtom, AndAtom, OrAtom,
  XorAtom, ImpliesAtom,
];

/** Thrown inside an evaluation when it has spent its budget. */
class PathTooCostly extends Error {}

interface Budget {
  remaining: number;
}

export interface PatchOperation {
  /** Position among the Parameters' parameters, for the error's `Parameters.parameter[n]`. */
  index: number;
  type: OperationType;
  path: string;
  ast: FhirPathAtom;
  /** Spent by the path's evaluation; refilled before each application. */
  budget: Budget;
  name?: string;
  value?: ParametersParameter;
  position?: number;
  source?: number;
  destination?: number;
}

/** Is the body a FHIRPath Patch (a Parameters resource), as opposed to a JSON Patch array? */
export function isFhirPathPatch(body: unknown): body is Parameters {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && (body as Resource).resourceType === 'Parameters';
}

/**
 * The operations of a FHIRPath Patch, checked before the resource is read: a 400 naming the
 * operation (`Parameters.parameter[n]`) for missing or unknown parts or a path FHIRPath cannot parse.
 */
export function parseFhirPathPatch(body: Parameters): PatchOperation[] {
  return parseOperations(body);
}

/**
 * Applies the operations, in order, to a copy of the resource and returns the copy. Throws a 400
 * for an operation wrong whatever the resource (an unknown element, a value of the wrong type, a
 * path that leaves the resource) and a 422 for one that cannot apply to this resource (its path
 * finds no element, or several, an index out of range, an add to a single element already
 * present); each names the operation (`Parameters.parameter[n]`).
 */
export async function applyFhirPathPatch(resource: Resource, operations: PatchOperation[]): Promise<Resource> {
  const target = structuredClone(resource);
  // The resource's objects, so a container a path reaches outside it (resolve()) is told apart;
  // what the operations put in joins them as it goes in (one walk, not one per operation).
  const objects = new WeakSet<object>();
  addObjects(objects, target);
  for (const [i, operation] of operations.entries()) {
    // Each operation evaluates FHIRPath over the whole resource: a long patch lets other requests
    // run between its operations rather than holding the event loop for all of them.
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    applyOperation(target, operation, objects);
  }
  return target;
}

function parseOperations(body: Parameters): PatchOperation[] {
  const parameters: unknown = body.parameter ?? [];
  if (!Array.isArray(parameters)) throw malformed('Parameters.parameter must be an array of operations', 'Parameters.parameter');
  return parameters.map((parameter, index) => parseOperation(parameter, index));
}

function parseOperation(parameter: unknown, index: number): PatchOperation {
  const where = `Parameters.parameter[${index}]`;
  const refuse = (text: string): never => {
    throw malformed(`${where}: ${text}`, where);
  };
  if (typeof parameter !== 'object' || parameter === null || Array.isArray(parameter)) refuse('must be an object');
  const { name, part } = parameter as ParametersParameter;
  if (name !== 'operation') refuse(`every parameter of a FHIRPath Patch is named "operation", not ${JSON.stringify(name)}`);
  if (!Array.isArray(part)) refuse('an operation needs its parts (type, path, …)');
  const parts = new Map<string, ParametersParameter>();
  for (const p of part as unknown[]) {
    const partName = (p as ParametersParameter | null)?.name;
    if (typeof partName !== 'string') refuse('every part needs a name');
    if (parts.has(partName as string)) refuse(`the part "${partName}" appears twice`);
    parts.set(partName as string, p as ParametersParameter);
  }
  const type = parts.get('type')?.valueCode;
  if (!OPERATION_TYPES.includes(type as OperationType)) {
    refuse(`the part "type" must be a valueCode, one of ${OPERATION_TYPES.join(', ')}; got ${JSON.stringify(type ?? null)}`);
  }
  const opType = type as OperationType;
  const allowed = new Set(['type', ...PARTS[opType]]);
  for (const partName of parts.keys()) if (!allowed.has(partName)) refuse(`a ${opType} operation has no part "${partName}"`);
  for (const partName of PARTS[opType]) if (!parts.has(partName)) refuse(`a ${opType} operation needs the part "${partName}"`);

  const path = parts.get('path')?.valueString;
  if (typeof path !== 'string' || path.trim() === '') refuse('the part "path" must be a non-empty valueString');
  if ((path as string).length > MAX_PATH_LENGTH) refuse(`the path is ${(path as string).length} characters long, more than ${MAX_PATH_LENGTH}`);
  let ast: FhirPathAtom;
  try {
    ast = parseFhirPath(path as string);
  } catch (err) {
    return refuse(`the path ${JSON.stringify(path)} is not FHIRPath: ${(err as Error).message}`);
  }
  const budget: Budget = { remaining: PATH_BUDGET };
  const refused = metered(ast, budget);
  if (refused) refuse(`the path may not use ${refused} (a patch path names elements: navigation, indexes, where(), first(), comparisons…)`);
  const operation: PatchOperation = { index, type: opType, path: path as string, ast, budget };
  if (parts.has('name')) {
    const propertyName = parts.get('name')?.valueString;
    if (typeof propertyName !== 'string' || !/^[a-z][A-Za-z0-9]*$/.test(propertyName)) refuse('the part "name" must be a valueString naming an element');
    operation.name = propertyName;
  }
  if (parts.has('value')) operation.value = parts.get('value');
  for (const [partName, key] of [['index', 'position'], ['source', 'source'], ['destination', 'destination']] as const) {
    if (!parts.has(partName)) continue;
    const number = parts.get(partName)?.valueInteger;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < 0) refuse(`the part "${partName}" must be a valueInteger of 0 or more`);
    operation[key] = number;
  }
  return operation;
}

/** An element the path names: where it sits in the resource's JSON. */
interface Located {
  container: Record<string, unknown>;
  /** The JSON key (a choice element's key carries its type: occurrenceDateTime). */
  key: string;
  /** Position in the container's array; undefined for a single element. */
  position?: number;
  definition: InternalSchemaElement;
  /** After a delete: drops a primitive's `_key` object left empty. */
  prune: () => void;
}

/**
 * The JSON object that holds a container's elements: a complex element is its own; a primitive's
 * `id` and `extension` live in its `_key` object beside it (`_birthDate`, or `_given[1]`), made
 * when something is first added and dropped when left empty.
 */
interface Holder {
  /** The container's FHIR type (`HumanName`, `Patient`, or a primitive's: `date`). */
  type: string;
  object: () => Record<string, unknown> | undefined;
  make: () => Record<string, unknown>;
  prune: () => void;
}

/** What a path names: the element list it ends in, and the elements its selectors keep. */
interface Selection {
  /** The containers of the element list, in document order. */
  holders: Holder[];
  property: string;
  selected: Located[];
  /** True when the path names the element list itself (no index, no function after it). */
  wholeList: boolean;
}

function applyOperation(resource: Resource, operation: PatchOperation, objects: WeakSet<object>): void {
  const root = toTypedValue(resource);
  operation.budget.remaining = PATH_BUDGET;
  const fail = (text: string): never => {
    throw cannotApply(operation, text);
  };
  switch (operation.type) {
    case 'add': {
      const holders = holdersOf(operation, operation.ast.child, root, objects);
      if (holders.length !== 1) fail(`the path must name one element to add to; it names ${holders.length}`);
      const definition = elementDefinition(operation, holders[0].type, operation.name as string);
      const container = holders[0].make();
      const { key, value } = typedValue(operation, operation.value as ParametersParameter, definition, 'value', operation.name);
      addObjects(objects, value);
      if (definition.isArray) {
        const list = ensureList(container, key, operation);
        list.push(value);
        const extensions = container[`_${key}`];
        if (Array.isArray(extensions)) extensions.push(null);
      } else {
        const present = choiceKeys(definition).filter((k) => container[k] !== undefined);
        if (present.length > 0) fail(`${holders[0].type}.${operation.name} is a single element and already present: use replace`);
        container[key] = value;
      }
      return;
    }
    case 'insert':
    case 'move': {
      const selection = select(operation, root, objects);
      if (!selection.wholeList) fail('the path must name the list itself (no index or function after the element)');
      if (selection.holders.length !== 1) fail(`the path must name the list of one element; it is the list of ${selection.holders.length}`);
      const holder = selection.holders[0];
      const definition = elementDefinition(operation, holder.type, selection.property);
      if (!definition.isArray) fail(`${holder.type}.${selection.property} is not a list`);
      const length = selection.selected.length;
      if (operation.type === 'insert') {
        const position = operation.position as number;
        if (position > length) fail(`index ${position} is past the end of the list (${length} elements)`);
        const { key, value } = typedValue(operation, operation.value as ParametersParameter, definition);
        addObjects(objects, value);
        const container = holder.make();
        const list = ensureList(container, key, operation);
        list.splice(position, 0, value);
        const extensions = container[`_${key}`];
        if (Array.isArray(extensions)) extensions.splice(position, 0, null);
        return;
      }
      const source = operation.source as number;
      const destination = operation.destination as number;
      if (source >= length) fail(`source ${source} is not in the list (${length} elements)`);
      if (destination >= length) fail(`destination ${destination} is not in the list (${length} elements)`);
      const { key, container } = selection.selected[0];
      moveWithin(container[key] as unknown[], source, destination);
      const extensions = container[`_${key}`];
      if (Array.isArray(extensions)) moveWithin(extensions, source, destination);
      return;
    }
    case 'delete': {
      const { selected } = select(operation, root, objects);
      // R4: only a single element can be deleted; deleting nothing is not an error.
      if (selected.length > 1) fail(`the path names ${selected.length} elements; only one can be deleted`);
      if (selected.length === 1) {
        remove(selected[0]);
        selected[0].prune();
      }
      return;
    }
    case 'replace': {
      const { selected, holders, property } = select(operation, root, objects);
      if (selected.length !== 1) fail(`the path must name one element to replace; it names ${selected.length}`);
      const located = selected[0];
      const { key, value } = typedValue(operation, operation.value as ParametersParameter, located.definition, 'value', property);
      addObjects(objects, value);
      if (located.position === undefined) {
        delete located.container[`_${located.key}`];
        // A choice element may change type (occurrenceDateTime → occurrenceString): one key remains.
        if (key !== located.key) delete located.container[located.key];
        located.container[key] = value;
      } else {
        if (key !== located.key) fail(`${holders[0]?.type}.${property} holds ${located.key}, not ${key}`);
        (located.container[key] as unknown[])[located.position] = value;
        clearExtension(located.container, key, located.position);
      }
      return;
    }
  }
}

/**
 * Splits the path into the element list it ends in and the selectors after it: `Patient.name[0].given[1]`
 * is the list `given` of `Patient.name[0]`, then `[1]`. The containers are evaluated by FHIRPath;
 * the list's elements are each container's values of the property, in order, and the selectors
 * (indexers, subsetting functions) run on those same TypedValue objects, so each element they keep
 * is known by identity, with its container, key and position, primitives included.
 */
function select(operation: PatchOperation, root: TypedValue, objects: WeakSet<object>, path: Atom = operation.ast.child): Selection {
  const selectors: Atom[] = [];
  let atom: Atom = path;
  let extensionUrl: Atom | undefined;
  for (;;) {
    if (atom instanceof IndexerAtom) {
      selectors.unshift(atom);
      atom = atom.left;
    } else if (atom instanceof DotAtom && atom.right instanceof FunctionAtom && SUBSETTING_FUNCTIONS.has(atom.right.name)) {
      selectors.unshift(atom.right);
      atom = atom.left;
    } else break;
  }
  let containerAtom: Atom | undefined;
  let property: string;
  if (atom instanceof DotAtom && atom.right instanceof SymbolAtom) {
    containerAtom = atom.left;
    property = atom.right.name;
  } else if (atom instanceof DotAtom && atom.right instanceof FunctionAtom && atom.right.name === 'extension' && atom.right.args.length === 1) {
    // extension(url): the element's extensions with that url (FHIR's FHIRPath extension function).
    containerAtom = atom.left;
    property = 'extension';
    extensionUrl = atom.right.args[0];
  } else if (atom instanceof SymbolAtom && !atom.name.startsWith('%') && atom.name !== '$this' && atom.name !== root.type) {
    property = atom.name; // a path without the type in front: `birthDate`
  } else {
    throw cannotApply(operation, 'the path must end in an element of the resource (optionally with an index or where/first/last…)', 400);
  }
  const holders = containerAtom ? holdersOf(operation, containerAtom, root, objects) : [complexHolder(operation, root, objects)];
  const context: AtomContext = { variables: variablesFor(root) };
  const located = new Map<TypedValue, Located>();
  let list: TypedValue[] = [];
  for (const holder of holders) {
    const definition = elementDefinition(operation, holder.type, property);
    const object = holder.object();
    if (!object) continue;
    const values = getTypedPropertyValue({ type: holder.type, value: object }, property);
    const valueList = values === undefined ? [] : Array.isArray(values) ? values : [values];
    const keyOfType = (type: string): string => elementName(definition) + (definition.path.endsWith('[x]') ? capitalize(type) : '');
    valueList.forEach((value, position) => {
      const key = keyOfType(value.type);
      const inList = Array.isArray(object[key]) || Array.isArray(object[`_${key}`]);
      located.set(value, { container: object, key, position: inList ? position : undefined, definition, prune: holder.prune });
      list.push(value);
    });
  }
  try {
    if (extensionUrl) {
      const url = extensionUrl.eval(context, [root])[0]?.value;
      list = list.filter((value) => (value.value as { url?: unknown })?.url === url);
    }
    for (const selector of selectors) {
      if (selector instanceof IndexerAtom) {
        const index = selector.expr.eval(context, [root])[0]?.value;
        if (typeof index !== 'number') throw new Error('an index must be an integer');
        list = index in list ? [list[index]] : [];
      } else list = selector.eval(context, list);
    }
  } catch (err) {
    throw evaluationError(operation, err);
  }
  const selected = list.map((value) => {
    const found = located.get(value);
    if (!found) throw cannotApply(operation, 'the path names something that is not an element of the resource', 400);
    return found;
  });
  return { holders, property, selected, wholeList: selectors.length === 0 && !extensionUrl };
}

function evaluate(operation: PatchOperation, ast: FhirPathAtom, root: TypedValue): TypedValue[] {
  try {
    return evalFhirPathTyped(ast, [root], variablesFor(root));
  } catch (err) {
    throw evaluationError(operation, err);
  }
}

/** A path that cannot be evaluated (400), or that spent its budget (400 too-costly). */
function evaluationError(operation: PatchOperation, err: unknown) {
  for (let cause: unknown = err; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof PathTooCostly) {
      const where = `Parameters.parameter[${operation.index}]`;
      return failWith(400, [
        makeIssue('error', 'too-costly', `${where} (${operation.type} ${operation.path}): the path needs more than ${PATH_BUDGET} steps to evaluate on this resource; name the element more directly`, {
          expression: [where],
        }),
      ]);
    }
  }
  return cannotApply(operation, `the path cannot be evaluated: ${(err as Error).message}`, 400);
}

/**
 * Checks that every step of the parsed path is one a patch path may use, and makes each step
 * spend from the budget when it runs (an own `eval` on each atom of this path's tree, calling the
 * class's). Returns what is not allowed, or undefined.
 */
function metered(atom: Atom, budget: Budget): string | undefined {
  if (!ALLOWED_ATOMS.some((type) => atom instanceof type)) return `the operator in ${JSON.stringify(atom.toString())}`;
  if (atom instanceof FunctionAtom && !ALLOWED_FUNCTIONS.has(atom.name)) return `${atom.name}()`;
  for (const child of childAtoms(atom)) {
    const refused = metered(child, budget);
    if (refused) return refused;
  }
  const evaluate = atom.eval.bind(atom);
  atom.eval = (context: AtomContext, input: TypedValue[]): TypedValue[] => {
    spend(budget, 1 + input.length);
    const output = evaluate(context, input);
    spend(budget, output.length);
    return output;
  };
  return undefined;
}

function spend(budget: Budget, units: number): void {
  budget.remaining -= units;
  if (budget.remaining < 0) throw new PathTooCostly();
}

/** The atoms an atom evaluates: operands, a function's arguments, an indexer's list and index. */
function childAtoms(atom: Atom): Atom[] {
  const children: Atom[] = [];
  for (const value of Object.values(atom) as unknown[]) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item === 'object' && item !== null && typeof (item as Atom).eval === 'function') children.push(item as Atom);
    }
  }
  return children;
}

function variablesFor(root: TypedValue): Record<string, TypedValue> {
  return { '%resource': root, '%rootResource': root, '%context': root };
}

/**
 * The holders of the elements the path names, in document order. A primitive's holder is found
 * through the primitive's own place (the same path, located as an element list of its container).
 */
function holdersOf(operation: PatchOperation, path: Atom, root: TypedValue, objects: WeakSet<object>): Holder[] {
  const containers = evaluate(operation, new FhirPathAtom(operation.path, path), root);
  if (!containers.some((container) => isPrimitiveType(container.type))) {
    return containers.map((container) => complexHolder(operation, container, objects));
  }
  const places = select(operation, root, objects, path).selected;
  if (places.length !== containers.length) throw cannotApply(operation, 'the path must name elements of the resource', 400);
  return containers.map((container, i) => (isPrimitiveType(container.type) ? primitiveHolder(container.type, places[i]) : complexHolder(operation, container, objects)));
}

/** A complex element holds its own elements: the JSON object it is in the resource. */
function complexHolder(operation: PatchOperation, container: TypedValue, objects: WeakSet<object>): Holder {
  const value = container.value as unknown;
  if (typeof value !== 'object' || value === null) {
    throw cannotApply(operation, `the element the path names is a ${container.type}, which has no elements to patch`, 400);
  }
  // A path through resolve() or the like would reach an object that is not the resource's.
  if (!objects.has(value)) throw cannotApply(operation, 'the path must stay inside the resource being patched', 400);
  const object = value as Record<string, unknown>;
  return { type: container.type, object: () => object, make: () => object, prune: () => undefined };
}

/** A primitive's `id` and `extension` are in `_key` (a single element) or `_key[position]` (in a list). */
function primitiveHolder(type: string, place: Located): Holder {
  const { container, key, position } = place;
  const extensionKey = `_${key}`;
  const object = (): Record<string, unknown> | undefined => {
    const holder = container[extensionKey] as unknown;
    const found = position === undefined ? holder : Array.isArray(holder) ? holder[position] : undefined;
    return typeof found === 'object' && found !== null && !Array.isArray(found) ? (found as Record<string, unknown>) : undefined;
  };
  const make = (): Record<string, unknown> => {
    const existing = object();
    if (existing) return existing;
    const made: Record<string, unknown> = {};
    if (position === undefined) container[extensionKey] = made;
    else {
      const values = container[key] as unknown[];
      const list = Array.isArray(container[extensionKey]) ? (container[extensionKey] as unknown[]) : values.map(() => null);
      list[position] = made;
      container[extensionKey] = list;
    }
    return made;
  };
  const prune = (): void => {
    const holder = object();
    if (!holder || Object.keys(holder).length > 0) return;
    if (position === undefined) delete container[extensionKey];
    else clearExtension(container, key, position);
  };
  return { type, object, make, prune };
}

function addObjects(objects: WeakSet<object>, value: unknown): void {
  if (typeof value !== 'object' || value === null || objects.has(value)) return;
  objects.add(value);
  for (const child of Array.isArray(value) ? value : Object.values(value)) addObjects(objects, child);
}

function elementDefinition(operation: PatchOperation, type: string, property: string, where?: string): InternalSchemaElement {
  const definition = schemaElement(type, property);
  if (!definition) throw cannotApply(operation, `${where ? `${where}: ` : ''}${type} has no element "${property}"`, 400);
  return definition;
}

/**
 * The schema's definition of the element, or undefined: FHIR element names are lowerCamelCase,
 * and the schema's index is a plain object (`constructor`, `__proto__` would answer its prototype).
 */
function schemaElement(type: string, property: string): InternalSchemaElement | undefined {
  if (!/^[a-z][A-Za-z0-9]*$/.test(property)) return undefined;
  const definition = getElementDefinition(type, property);
  return definition && Array.isArray(definition.type) ? definition : undefined;
}

/** The element's name as its definition has it, without a choice element's [x] (`occurrence`). */
function elementName(definition: InternalSchemaElement): string {
  return definition.path.slice(definition.path.lastIndexOf('.') + 1).replace('[x]', '');
}

/** The JSON keys an element may have: one, or one per type of a choice element. */
function choiceKeys(definition: InternalSchemaElement): string[] {
  const name = elementName(definition);
  if (!definition.path.endsWith('[x]')) return [name];
  return definition.type.map((t) => name + capitalize(t.code));
}

/**
 * The value part as JSON for an element of the given definition, and the key it goes under: a
 * `value[x]` whose type is one of the element's types, or nested parts (one per property) for a
 * complex element such as a BackboneElement. A wrong type is refused (R4: "Servers SHALL return
 * an error if the type is wrong").
 */
function typedValue(
  operation: PatchOperation,
  part: ParametersParameter,
  definition: InternalSchemaElement,
  where = 'value',
  /** The name the client gave the element: a choice element named with its type (deceasedBoolean) takes only that type. */
  givenName?: string
): { key: string; value: unknown } {
  const typed = typedValueOf(operation, part, definition, where);
  if (givenName !== undefined && givenName !== elementName(definition) && typed.key !== givenName) {
    throw cannotApply(operation, `${where}: ${givenName} cannot hold this value (it would be ${typed.key})`, 400);
  }
  return typed;
}

function typedValueOf(
  operation: PatchOperation,
  part: ParametersParameter,
  definition: InternalSchemaElement,
  where: string
): { key: string; value: unknown } {
  const refuse = (text: string): never => {
    throw cannotApply(operation, `${where}: ${text}`, 400);
  };
  const types = definition.type.map((t) => t.code);
  const choice = definition.path.endsWith('[x]');
  const base = elementName(definition);
  const valueKeys = Object.keys(part).filter((k) => k.startsWith('value') && k.length > 'value'.length);
  const hasParts = Array.isArray(part.part);
  const hasResource = part.resource !== undefined;
  if (valueKeys.length + (hasParts ? 1 : 0) + (hasResource ? 1 : 0) !== 1) {
    refuse('give the value as one value[x], as nested parts, or as a resource');
  }
  if (valueKeys.length === 1) {
    const suffix = valueKeys[0].slice('value'.length);
    const type = types.find((t) => capitalize(t) === suffix || capitalize(SPECIALIZES[uncapitalize(suffix)] ?? '') === capitalize(t));
    if (!type) refuse(`${valueKeys[0]} does not fit ${definition.path}, which takes ${types.join(' | ')}`);
    return { key: choice ? base + capitalize(type as string) : base, value: (part as unknown as Record<string, unknown>)[valueKeys[0]] };
  }
  if (hasResource) {
    const resource = part.resource as Resource;
    if (!types.includes('Resource')) refuse(`${definition.path} does not take a resource`);
    return { key: base, value: resource };
  }
  const complex = types.filter((t) => !isPrimitiveType(t));
  if (complex.length !== 1) refuse(`${definition.path} needs a value[x] naming its type (${types.join(' | ')})`);
  const type = complex[0];
  const value: Record<string, unknown> = {};
  (part.part as ParametersParameter[]).forEach((child, i) => {
    const at = `${where}.part[${i}]`;
    if (typeof child?.name !== 'string') throw cannotApply(operation, `${at}: every part needs a name`, 400);
    const childDefinition = elementDefinition(operation, type, child.name, at);
    const typed = typedValue(operation, child, childDefinition, at, child.name);
    if (childDefinition.isArray) ((value[typed.key] ??= []) as unknown[]).push(typed.value);
    else if (choiceKeys(childDefinition).some((k) => value[k] !== undefined)) {
      throw cannotApply(operation, `${at}: ${type}.${child.name} is a single element and given twice`, 400);
    } else value[typed.key] = typed.value;
  });
  return { key: choice ? base + capitalize(type) : base, value };
}

function ensureList(container: Record<string, unknown>, key: string, operation: PatchOperation): unknown[] {
  const current = container[key];
  if (current === undefined) {
    const list: unknown[] = [];
    container[key] = list;
    return list;
  }
  if (!Array.isArray(current)) throw cannotApply(operation, `${key} is stored as a single value, not a list`);
  return current;
}

function remove(located: Located): void {
  const { container, key, position } = located;
  const extensionKey = `_${key}`;
  if (position === undefined) {
    delete container[key];
    delete container[extensionKey];
    return;
  }
  const list = container[key];
  if (Array.isArray(list)) {
    list.splice(position, 1);
    if (list.length === 0 || list.every((v) => v === null)) delete container[key];
  }
  const extensions = container[extensionKey];
  if (Array.isArray(extensions)) {
    extensions.splice(position, 1);
    if (extensions.every((e) => e === null)) delete container[extensionKey];
  }
}

/** A primitive list element replaced by a bare value loses the id and extensions it had. */
function clearExtension(container: Record<string, unknown>, key: string, position: number): void {
  const extensions = container[`_${key}`];
  if (!Array.isArray(extensions)) return;
  extensions[position] = null;
  if (extensions.every((e) => e === null)) delete container[`_${key}`];
}

function moveWithin(list: unknown[], source: number, destination: number): void {
  const [moved] = list.splice(source, 1);
  list.splice(destination, 0, moved);
}

/**
 * Primitive types that are specializations of another (R4 datatypes.html): a value of the
 * specialization fits an element of the general type (a valueId in a string element), never the
 * other way round (a valueString is not a code).
 */
const SPECIALIZES: Record<string, string> = {
  code: 'string',
  id: 'string',
  markdown: 'string',
  url: 'uri',
  canonical: 'uri',
  oid: 'uri',
  uuid: 'uri',
  positiveInt: 'integer',
  unsignedInt: 'integer',
};

function uncapitalize(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function malformed(text: string, expression: string) {
  return failWith(400, [makeIssue('error', 'invalid', text, { expression: [expression] })]);
}

/** An operation that cannot apply: 422 (the resource's content) or 400 (the operation itself). */
function cannotApply(operation: PatchOperation, text: string, status: 400 | 422 = 422) {
  const where = `Parameters.parameter[${operation.index}]`;
  return failWith(status, [
    makeIssue('error', status === 400 ? 'invalid' : 'processing', `${where} (${operation.type} ${operation.path}): ${text}`, { expression: [where] }),
  ]);
}
